"""Steps of the boot layouts (boot_layouts.py) on an installed system, over its serial
console as the admin user: boot some of its disks to a shell, and check the pool, the
units, the disks' partitions, the ESPs (mounted read-only here, independently of
``kldload-boot``) and the EFI boot entries. Parsing is in bootparse.py.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from tests.e2e.answers import InstallSpec, by_id
from tests.e2e.bootcheck import (
    BE,
    BOOT_DEAD_ENDS,
    POOL,
    CheckFailed,
    boot_to_login,
    entry_label,
    log_in,
    ok,
    power_off,
)
from tests.e2e.bootparse import (
    MISSING_STATES,
    efi_entries,
    firmware_story,
    gpt_partitions,
    leaf_vdevs,
    missing_vdevs,
    online_serials,
    sha256_listing,
)
from tests.e2e.qemu import Disk, Firmware, Guest

if TYPE_CHECKING:
    from tests.e2e.layouts import Result, Run

CHECK_TIMEOUT = 180.0
TOOL = "/usr/sbin/kldload-boot"
# Failed units that would say the ESPs are (still) mounted or checked at boot.
ESP_UNIT = re.compile(r"(?i)efi|\besp\b|boot\.mount|systemd-boot|vfat|fsck|kldload-boot|"
                      r"by\\x2duuid")
MIB = 1 << 20
BIOS_BOOT_MIN = 512 << 10


def note(ctx: Run, title: str, text: str) -> None:
    """Keep a command's output in the run's build.log, under a heading."""
    with ctx.log.open("a") as out:
        out.write(f"\n== {title}\n{text.rstrip()}\n")


def boot_tool(ctx: Run, guest: Guest, args: str, timeout: float = CHECK_TIMEOUT
              ) -> tuple[int, str]:
    """`sudo -n kldload-boot ARGS`, stderr included; (status, output), output logged."""
    rc, output = guest.shell(f"sudo -n {TOOL} {args} 2>&1", timeout)
    note(ctx, f"{guest.name}: kldload-boot {args} (exit {rc})", output)
    return rc, output


@contextmanager
def booted(ctx: Run, result: Result, spec: InstallSpec, name: str, disks: list[Disk],
           firmware: Firmware | None, entry: str | None, *, firstboot: bool = False
           ) -> Iterator[Guest]:
    """Boot `disks` alone (OVMF with `firmware`'s NVRAM, or SeaBIOS when None) to the
    admin's shell, yield it, then power off. Steps NAME-boot, NAME-login and
    NAME-poweroff; what the firmware did goes into the report. `entry`, `firstboot`:
    as for bootcheck.boot_to_login."""
    with Guest(f"{spec.name}-{name}", ctx.run_dir, disks=disks, firmware=firmware,
               network=True) as guest:
        try:
            with result.step(f"{name}-boot"):
                if firmware is None:
                    index, match = guest.expect_any([r"Booting from Hard Disk",
                                                     *BOOT_DEAD_ENDS], 120, "SeaBIOS booting")
                    if index:
                        raise CheckFailed(f"SeaBIOS: {match.group(0)}")
                boot_to_login(guest, spec, entry, firstboot=firstboot)
            console = guest.console_log.read_text(errors="replace")
            story = firmware_story(console) if firmware else ["SeaBIOS booted the hard disk"]
            result.report.append(f"{name}: {', '.join(story) or 'no OVMF boot line'}")
            with result.step(f"{name}-login"):
                if log_in(guest, spec):
                    raise CheckFailed("the answered password was expired")
                ok(guest, "sudo -n dmesg -n 1")  # no kernel messages amid the output
            yield guest
            with result.step(f"{name}-poweroff"):
                power_off(guest)
        finally:
            result.console_tail = guest.tail()


def check_root(guest: Guest, uefi: bool) -> None:
    """/ is the boot environment on ZFS; the system runs on UEFI or legacy BIOS."""
    root = ok(guest, "findmnt -n -o SOURCE,FSTYPE /")
    if root.split() != [BE, "zfs"]:
        raise CheckFailed(f"root filesystem: {root!r}")
    test = "test -d /sys/firmware/efi" if uefi else "test ! -d /sys/firmware/efi"
    if guest.shell(test, 30)[0] != 0:
        raise CheckFailed(f"{test} failed: the system did not boot on "
                          f"{'UEFI' if uefi else 'legacy BIOS'}")


def check_pool(guest: Guest, health: str, online: Sequence[str], missing: Sequence[str] = (),
               group: str = "") -> str:
    """The pool's health; its ONLINE devices are the by-id partitions of `online`
    (serials), the missing ones (UNAVAIL, FAULTED, REMOVED) those of `missing`, named
    in `zpool status` by the path they had; no device in another state; `group`
    (mirror-0...) in the config. Returns the status."""
    got = ok(guest, f"zpool list -H -o health {POOL}")
    status = ok(guest, f"sudo -n zpool status -P {POOL}")
    gone = sorted(v.serial or v.path for v in missing_vdevs(status))
    other = [v for v in leaf_vdevs(status) if v.state not in ("ONLINE", *MISSING_STATES)]
    if (got != health or online_serials(status) != sorted(online) or gone != sorted(missing)
            or other or (group and not re.search(rf"\b{re.escape(group)}\b", status))):
        raise CheckFailed(f"pool {got}, wanted {health} with {list(online)} ONLINE and "
                          f"{list(missing)} missing{f' in {group}' if group else ''}:\n{status}")
    return status


def system_state(guest: Guest) -> tuple[str, list[str]]:
    """(`systemctl is-system-running --wait`, the failed units)."""
    lines = guest.shell("systemctl is-system-running --wait", 300)[1].strip().splitlines()
    failed = ok(guest, "systemctl --failed --no-legend --plain").splitlines()
    return (lines[-1].strip() if lines else ""), [u.strip() for u in failed if u.strip()]


def check_units(guest: Guest, *, strict: bool) -> list[str]:
    """No failed unit about the ESPs (`strict`: none at all, the system `running`);
    returns the failed units tolerated."""
    state, failed = system_state(guest)
    esp = [u for u in failed if ESP_UNIT.search(u.split()[0])]
    if (strict and (failed or state != "running")) or esp or state not in ("running",
                                                                           "degraded"):
        raise CheckFailed(f"system state {state!r}; failed units:\n" + "\n".join(failed))
    return failed


def check_disks(guest: Guest, serials: list[str]) -> None:
    """Each disk: partition 1 the ESP (EF00, FAT32 labelled EFI), 2 the pool's, 3 a BIOS
    boot partition (EF02) of about 1 MiB before the ESP; all laid out alike."""
    layouts = []
    for serial in serials:
        disk = by_id(serial)
        sector, parts = gpt_partitions(ok(guest, f"sudo -n sgdisk -p {disk}"))
        table = {p.number: p for p in parts}
        esp, bios = table.get(1), table.get(3)
        # About 1 MiB: the gap before the ESP, less the GPT (the backend's 24K-1023K).
        if (2 not in table or esp is None or bios is None or esp.code != "EF00" or
                bios.code != "EF02" or not BIOS_BOOT_MIN <= bios.sectors * sector <= MIB
                or bios.end >= esp.start):
            raise CheckFailed(f"{disk}: not ESP 1 (EF00), pool 2, BIOS boot 3 (EF02, "
                              f"{BIOS_BOOT_MIN // 1024}-1024 KiB, before the ESP): {parts}")
        probe = ok(guest, f"sudo -n blkid -p -o export {disk}-part1").splitlines()
        if not {"TYPE=vfat", "VERSION=FAT32", "LABEL=EFI"} <= set(probe):
            raise CheckFailed(f"{disk}-part1 is not FAT32 labelled EFI: {probe}")
        layouts.append([(p.number, p.start, p.end, p.code) for p in parts])
    if any(layout != layouts[0] for layout in layouts):
        raise CheckFailed(f"the disks {serials} are not partitioned alike: {layouts}")


def check_esps_unmounted(guest: Guest) -> None:
    """No ESP in /etc/fstab, none mounted (nothing mounts them at boot)."""
    found = ok(guest, "findmnt -rn -o TARGET,FSTYPE | grep -E ' vfat$|^/(boot/)?efi ' || :; "
                      "grep -v '^[[:space:]]*#' /etc/fstab | grep -Ei 'vfat|/efi' || :")
    if found:
        raise CheckFailed(f"an ESP is mounted or in /etc/fstab:\n{found}")


def on_esp(guest: Guest, serial: str, script: str, timeout: float = CHECK_TIMEOUT) -> str:
    """Run `script` (sh, as root) in the ESP of disk `serial`, mounted read-only here for
    the time of it."""
    point = f"/mnt/e2e-{serial}"
    inner = (f"mkdir -p {point} && mount -o ro {by_id(serial)}-part1 {point} && cd {point} "
             f"&& {{ {script}; }}; rc=$?; cd /; umount {point} 2>/dev/null; exit $rc")
    return ok(guest, f"sudo -n sh -c {shlex.quote(inner)}", timeout)


def esp_files(guest: Guest, serial: str) -> dict[str, str]:
    """sha256 of every file on the ESP of disk `serial`: {path: hash}."""
    return sha256_listing(on_esp(guest, serial, "find . -type f -print0 | sort -z | "
                                                "xargs -0 -r sha256sum"))


def file_sha(guest: Guest, path: str) -> str:
    """sha256 of a file on the installed system (read as root)."""
    return ok(guest, f"sudo -n sha256sum {path}").split()[0]


def check_boot_entries(guest: Guest, serials: list[str]) -> dict[str, str]:
    """One EFI boot entry per disk, labelled `KLDload`, `KLDload (disk 2)`... at the
    front of BootOrder in that order, each on the ESP of one of `serials` (by the ESP's
    partition GUID). Returns {serial: label}."""
    listing = ok(guest, "sudo -n efibootmgr -v")
    entries, order = efi_entries(listing)
    labels = [entry_label(n + 1) for n in range(len(serials))]
    ours = [e for e in entries if re.fullmatch(rf"{re.escape(entry_label(1))}( \(disk \d+\))?",
                                               e.label)]
    by_label = {e.label: e for e in ours}
    guids = {ok(guest, f"sudo -n blkid -s PARTUUID -o value {by_id(s)}-part1").lower(): s
             for s in serials}
    disks = {e.label: guids.get(e.partuuid, "") for e in ours}
    if (len(ours) != len(serials) or sorted(by_label) != sorted(labels)
            or sorted(disks.values()) != sorted(serials)
            or order[:len(labels)] != [by_label[label].number for label in labels]):
        raise CheckFailed(f"EFI boot entries: wanted {labels} first in BootOrder, on the ESPs "
                          f"of {serials} ({guids}):\n{listing}")
    return {disk: label for label, disk in disks.items()}
