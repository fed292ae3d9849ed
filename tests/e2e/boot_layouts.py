"""Boot layouts (GitHub issue "Every disk boots"): every disk of the root pool boots
alone, on UEFI and on legacy BIOS, and its ESP follows the installed kernels.

- ``mirror-degraded``: a two-disk mirror boots from its second disk alone (OVMF fails
  the first disk's entry and starts ``KLDload (disk 2)``); ``kldload-boot replace``
  puts a new blank disk in the missing one's place; that new disk then boots alone.
- ``raidz1-degraded``: raidz1 of three disks boots without its first disk.
- ``esp-sync``: ``update-initramfs -u`` (through kldload-boot's hook) leaves both ESPs
  of a mirror identical, with the new initrd and kernel command line; the second disk
  boots alone with it.
- ``bios``: installed from a live system on SeaBIOS, the disk boots with SeaBIOS
  (GRUB) and then with OVMF and empty NVRAM (the fallback EFI/BOOT/BOOTX64.EFI).

Each installs like the install layouts (installs.py: seed, blank disks, the live
stand-in, the real engine), then boots subsets of the disks (bootsteps.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tests.e2e.answers import InstallSpec, make_seed
from tests.e2e.bootcheck import (
    BOOTLOADER_ID,
    POOL,
    CheckFailed,
    check_system,
    entry_label,
    ok,
)
from tests.e2e.bootparse import (
    esp_expected,
    esp_stable,
    find_path,
    listing_differences,
)
from tests.e2e.bootsteps import (
    boot_tool,
    booted,
    check_boot_entries,
    check_disks,
    check_esps_unmounted,
    check_pool,
    check_root,
    check_units,
    esp_files,
    file_sha,
    note,
    on_esp,
)
from tests.e2e.installs import finish_action, install_in_guest, live_firmware, target_disk
from tests.e2e.qemu import Disk, Firmware

if TYPE_CHECKING:
    from tests.e2e.layouts import Result, Run

RESILVER_TIMEOUT = 1800.0
INITRAMFS_TIMEOUT = 1200.0
TOOL_TIMEOUT = 900.0
CMDLINE_OPTION = "kldload.e2e=esp-sync"

BOOT_SPECS: dict[str, InstallSpec] = {spec.name: spec for spec in (
    InstallSpec("mirror-degraded", disks=2, topology="mirror", profile="core",
                password="e2e-degraded-Passw0rd"),
    # Encrypted: the passphrase prompt must come whichever disk booted.
    InstallSpec("raidz1-degraded", disks=3, topology="raidz1", profile="core",
                password="e2e-degraded-Passw0rd", passphrase="e2e raidz1 degraded phrase"),
    InstallSpec("esp-sync", disks=2, topology="mirror", profile="core",
                password="e2e-esp-sync-Passw0rd"),
    # Encrypted: the passphrase prompt must come on BIOS (GRUB) and UEFI alike.
    InstallSpec("bios", profile="core", password="e2e-bios-Passw0rd", live_firmware="bios",
                passphrase="e2e bios correct horse"),
)}


def install(ctx: Run, result: Result, spec: InstallSpec) -> tuple[list[Disk], Firmware | None]:
    """Install `spec` onto new blank disks; (the disks, the live system's firmware: the
    OVMF whose NVRAM got the boot entries, or None for SeaBIOS)."""
    seed = make_seed(spec, ctx.suite, ctx.run_dir, ctx.log, finish_action(ctx.live))
    firmware = live_firmware(ctx, spec)
    targets = [target_disk(ctx, spec, serial) for serial in spec.serials]
    outcome = install_in_guest(ctx, result, spec, targets, seed, firmware)
    result.guest_seconds = outcome.guest_seconds
    if outcome.rc != 0:
        raise CheckFailed(f"the install exited {outcome.rc}: {outcome.failed or 'see console'}")
    return targets, firmware


def _status_names_missing(status: tuple[int, str], missing: bool) -> None:
    """`kldload-boot status` says `missing` exactly when an ESP is gone."""
    rc, output = status
    if ("missing" in output.lower()) != missing:
        raise CheckFailed(f"kldload-boot status (exit {rc}) "
                          f"{'does not name' if missing else 'still names'} a missing ESP:\n"
                          f"{output}")


def _passes(tool_run: tuple[int, str], what: str) -> None:
    rc, output = tool_run
    if rc != 0:
        raise CheckFailed(f"kldload-boot {what} exited {rc}:\n{output[-2000:]}")


def _sha_of(files: dict[str, str], path: str) -> str:
    found = find_path(files, path)
    if found is None:
        raise CheckFailed(f"no {path} on the ESP: {sorted(files)}")
    return files[found]


def mirror_degraded(ctx: Run, result: Result) -> None:
    """Boot without the first disk, replace it with a new one, boot the new one alone."""
    spec = BOOT_SPECS["mirror-degraded"]
    (first, second), nvram = install(ctx, result, spec)
    with booted(ctx, result, spec, "degraded", [second], nvram, entry_label(2),
                firstboot=True) as guest, result.step("degraded-checks"):
        check_root(guest, uefi=True)
        check_pool(guest, "DEGRADED", [second.serial], [first.serial], "mirror-0")
        result.checks.append("degraded-boot-from-disk-2")
        tolerated = check_units(guest, strict=False)
        if tolerated:
            result.report.append("degraded: failed units (none about the ESP): "
                                 + "; ".join(tolerated))
        result.checks.append("no-failed-esp-unit")
        _status_names_missing(boot_tool(ctx, guest, "status"), True)
        _passes(boot_tool(ctx, guest, "check"), "check")
        result.checks.append("boot-tool-degraded")
    new = target_disk(ctx, spec, "target2")
    with booted(ctx, result, spec, "replace", [second, new], nvram, entry_label(2)) as guest:
        with result.step("replace"):
            _passes(boot_tool(ctx, guest, f"replace {new.guest_path}", TOOL_TIMEOUT), "replace")
        with result.step("resilver"):
            ok(guest, f"sudo -n zpool wait -t resilver {POOL}", RESILVER_TIMEOUT)
            # The old device is detached once the resilver is done, asynchronously.
            ok(guest, f"sudo -n zpool wait -t replace {POOL}", RESILVER_TIMEOUT)
        with result.step("replace-checks"):
            check_pool(guest, "ONLINE", [second.serial, new.serial], group="mirror-0")
            result.checks.append("replaced-and-resilvered")
            check_disks(guest, [second.serial, new.serial])
            result.checks.append("new-disk-partitioned-alike")
            _status_names_missing(boot_tool(ctx, guest, "status"), False)
            _passes(boot_tool(ctx, guest, "check"), "check")
            result.checks.append("boot-tool-check")
            labels = check_boot_entries(guest, [second.serial, new.serial])
            result.checks.append("efi-entries-rewritten")
    with booted(ctx, result, spec, "new-disk", [new], nvram, labels[new.serial]) as guest, \
            result.step("new-disk-checks"):
        check_root(guest, uefi=True)
        check_pool(guest, "DEGRADED", [new.serial], [second.serial], "mirror-0")
        result.checks.append("new-disk-boots-alone")
    result.ok = True


def raidz1_degraded(ctx: Run, result: Result) -> None:
    """raidz1 of three boots without its first disk, from the second one's entry."""
    spec = BOOT_SPECS["raidz1-degraded"]
    targets, nvram = install(ctx, result, spec)
    rest = targets[1:]
    with booted(ctx, result, spec, "degraded", rest, nvram, entry_label(2),
                firstboot=True) as guest, result.step("degraded-checks"):
        check_root(guest, uefi=True)
        check_pool(guest, "DEGRADED", [d.serial for d in rest], [targets[0].serial],
                   "raidz1-0")
        result.checks.append("degraded-boot-from-disk-2")
        check_units(guest, strict=True)
        result.checks.append("no-failed-units")
        _passes(boot_tool(ctx, guest, "check"), "check")
        result.checks.append("boot-tool-degraded")
    result.ok = True


def _esp_listings(guest_files: list[dict[str, str]], serials: list[str], kver: str,
                  when: str) -> dict[str, str]:
    """The ESPs hold every expected file and are identical (but for the files that
    differ per disk by design, bootparse.ESP_PER_DISK); returns the first one's listing
    without those."""
    for serial, files in zip(serials, guest_files, strict=True):
        absent = [p for p in esp_expected(kver) if find_path(files, p) is None]
        if absent:
            raise CheckFailed(f"{when}: the ESP of {serial} lacks {absent}: {sorted(files)}")
    first = esp_stable(guest_files[0])
    for serial, files in zip(serials[1:], guest_files[1:], strict=True):
        diff = listing_differences(first, esp_stable(files))
        if diff:
            raise CheckFailed(f"{when}: the ESPs of {serials[0]} and {serial} differ: {diff}")
    return first


def esp_sync(ctx: Run, result: Result) -> None:
    """update-initramfs refreshes every ESP alike; the second disk boots the result."""
    spec = BOOT_SPECS["esp-sync"]
    targets, nvram = install(ctx, result, spec)
    serials = [d.serial for d in targets]
    with booted(ctx, result, spec, "both", targets, nvram, BOOTLOADER_ID,
                firstboot=True) as guest:
        with result.step("both-checks"):
            result.checks += check_system(guest, spec, False, ctx.suite, finish_action(ctx.live))
            check_disks(guest, serials)
            check_esps_unmounted(guest)
            result.checks.append("disks-and-esps")
            if check_boot_entries(guest, serials) != {s: entry_label(n + 1)
                                                      for n, s in enumerate(serials)}:
                raise CheckFailed("the EFI entries are not in the disks' order")
            result.checks.append("efi-entries")
            kver = ok(guest, "uname -r")
            before = _esp_listings([esp_files(guest, s) for s in serials], serials, kver,
                                   "after the install")
            result.checks.append("esps-identical")
            # For the ESP size: what one kernel, its initramfs and the loaders take.
            # One du per path: du counts a file once, so after `.` the rest print nothing.
            usage = on_esp(guest, serials[0], "for p in . kldload/* EFI grub loader; do "
                           "du -sk \"$p\"; done 2>/dev/null")
            result.report.append("ESP usage (KiB): " + ", ".join(
                f"{where} {kib}" for kib, where in (line.split(maxsplit=1)
                                                    for line in usage.splitlines())))
            ok(guest, f"sudo -n sed -i '1s/$/ {CMDLINE_OPTION}/' /etc/kernel/cmdline")
            cmdline = ok(guest, "cat /etc/kernel/cmdline")
            if CMDLINE_OPTION not in cmdline:
                raise CheckFailed(f"/etc/kernel/cmdline: {cmdline!r}")
        with result.step("update-initramfs"):
            output = ok(guest, "sudo -n update-initramfs -u -k all 2>&1", INITRAMFS_TIMEOUT)
            note(ctx, f"{guest.name}: update-initramfs -u -k all", output)
        with result.step("sync-checks"):
            after = _esp_listings([esp_files(guest, s) for s in serials], serials, kver,
                                  "after update-initramfs")
            initrd = _sha_of(after, f"kldload/{kver}/initrd.img")
            if initrd != file_sha(guest, f"/boot/initrd.img-{kver}"):
                raise CheckFailed("the ESPs' initrd is not /boot's after update-initramfs")
            if initrd == _sha_of(before, f"kldload/{kver}/initrd.img"):
                raise CheckFailed("the ESPs' initrd did not change with update-initramfs")
            if _sha_of(after, f"kldload/{kver}/vmlinuz") != file_sha(guest,
                                                                     f"/boot/vmlinuz-{kver}"):
                raise CheckFailed("the ESPs' kernel is not /boot's")
            for serial in serials:
                found = on_esp(guest, serial, f"grep -l -- {CMDLINE_OPTION} "
                                              f"loader/entries/kldload-{kver}.conf grub/grub.cfg")
                if len(found.split()) != 2:
                    raise CheckFailed(f"the ESP of {serial}: only {found.split()} have "
                                      f"{CMDLINE_OPTION}")
            _passes(boot_tool(ctx, guest, "check"), "check")
            result.checks.append("hook-synced-esps")
        with result.step("refresh"):
            _passes(boot_tool(ctx, guest, "refresh", TOOL_TIMEOUT), "refresh")
        with result.step("refresh-checks"):
            again = _esp_listings([esp_files(guest, s) for s in serials], serials, kver,
                                  "after kldload-boot refresh")
            diff = listing_differences(after, again)
            if diff:
                raise CheckFailed(f"a second refresh changed the ESPs: {diff}")
            result.checks.append("refresh-idempotent")
    result.report.append(
        f"update-initramfs -u -k all {result.steps['update-initramfs']:.0f}s (with the hook's "
        f"sync of {len(serials)} ESPs); kldload-boot refresh alone "
        f"{result.steps['refresh']:.0f}s")
    with booted(ctx, result, spec, "disk-2", targets[1:], nvram, entry_label(2)) as guest, \
            result.step("disk-2-checks"):
        cmdline = ok(guest, "cat /proc/cmdline")
        if CMDLINE_OPTION not in cmdline.split():
            raise CheckFailed(f"/proc/cmdline booted from disk 2: {cmdline!r}")
        check_root(guest, uefi=True)
        result.checks.append("disk-2-boots-new-cmdline")
    result.ok = True


def bios(ctx: Run, result: Result) -> None:
    """Installed from a SeaBIOS live system: the disk boots with SeaBIOS, then with OVMF
    and empty NVRAM."""
    spec = BOOT_SPECS["bios"]
    targets, live = install(ctx, result, spec)
    if live is not None:
        raise CheckFailed("the bios layout's live system must run on SeaBIOS")
    with booted(ctx, result, spec, "seabios", targets, None, None, firstboot=True) as guest, \
            result.step("seabios-checks"):
        result.checks += check_system(guest, spec, False, ctx.suite, finish_action(ctx.live))
        check_root(guest, uefi=False)
        cmdline = ok(guest, "cat /proc/cmdline")
        if "BOOT_IMAGE=" not in cmdline:  # GRUB's linux command puts it first
            raise CheckFailed(f"the kernel was not started by GRUB: {cmdline!r}")
        result.checks.append("grub-on-seabios")
        check_disks(guest, [d.serial for d in targets])
        check_esps_unmounted(guest)
        result.checks.append("disks-and-esps")
    console = (ctx.run_dir / f"{spec.name}-seabios-console.log").read_text(errors="replace")
    result.report.append("seabios: GRUB " + ("seen" if "GRUB" in console else "not seen")
                         + " on the console")
    fresh = Firmware.uefi(ctx.run_dir, f"{spec.name}-fresh-ovmf-vars.fd")
    with booted(ctx, result, spec, "uefi-fallback", targets, fresh, None) as guest, \
            result.step("uefi-fallback-checks"):
        check_root(guest, uefi=True)
        result.checks.append("uefi-fallback-loader")
    result.ok = True


BOOT_LAYOUTS: dict[str, Callable[[Run, Result], None]] = {
    "mirror-degraded": mirror_degraded, "raidz1-degraded": raidz1_degraded,
    "esp-sync": esp_sync, "bios": bios,
}
