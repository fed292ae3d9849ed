"""The e2e layouts. Each boots guests and returns a Result with per-step timings.

``smoke`` checks what every install layout stands on: the live system boots (the
product's ISO through GRUB's serial entry and a root login with the one-time
password it shows; or the stand-in, whose autoinstall unit runs a command on the
console), ZFS loads from the prebuilt modules, a pool can be made on a blank virtual
disk, the darksite is mounted and apt resolves the target's packages from it, and
kldload-tui runs.
``firmware`` checks that OVMF (the UEFI boot check of installed disks) starts here.
The install layouts (``single``, ``mirror``, ``raidz1``, ``encrypted`` and the
failure case ``missing-disk``) are in installs.py; the boot layouts (``mirror-degraded``,
``raidz1-degraded``, ``esp-sync``, ``bios``: every disk boots, on UEFI and BIOS) in
boot_layouts.py.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from kldload_tui.backend.engine.live_medium import DARKSITE_KEYRING
from kldload_tui.backend.iso.inputs import VENV
from kldload_tui.backend.phases.preflight import live_tools
from tests.e2e.boot_layouts import BOOT_LAYOUTS
from tests.e2e.bootcheck import CheckFailed
from tests.e2e.darksite import GUEST_PATH
from tests.e2e.golden import golden
from tests.e2e.installs import BOOT_TIMEOUT, ISO_BOOT_TIMEOUT, SPECS, TARGET_SIZE, install_layout
from tests.e2e.iso import (
    LOGIN_ENTRY,
    MEDIUM_DARKSITE,
    LiveIso,
    cd_guest,
    choose_entry,
    log_in_with_one_time_password,
)
from tests.e2e.live import StandIn
from tests.e2e.overhead import overhead
from tests.e2e.packages import TARGET_PACKAGES
from tests.e2e.pxe import pxe_layout
from tests.e2e.qemu import Disk, Firmware, Guest, GuestError, blank, overlay
from tests.e2e.remote import remote
from tests.e2e.sh import CommandFailed
from tests.e2e.ssh_live import ssh_live
from tests.e2e.tui_layouts import tui_serial, tui_ssh

COMMAND_TIMEOUT = 180.0
LIVE_KINDS = ("iso", "standin")
# Their kernel-command-line modes (liveconf.py) exist only in the stand-in.
STANDIN_ONLY = ("golden", "overhead")
# The live ISO's own services (its web UI), which the stand-in does not have.
ISO_ONLY = ("remote", "tui-serial", "tui-ssh", "ssh-live", "pxe")
NEEDS_NO_LIVE = ("firmware",)


def live_needed(layout: str, live: str) -> str | None:
    """What `layout` boots when the install layouts boot `live`: iso, standin or nothing."""
    if layout in NEEDS_NO_LIVE:
        return None
    if layout in ISO_ONLY:
        return "iso"
    return "standin" if layout in STANDIN_ONLY else live


@dataclass
class Run:
    """What a layout gets: built artefacts and a run directory for logs and disks.
    `live` is what the install layouts boot ("iso" or "standin"); only what the
    chosen layouts need is built."""

    run_dir: Path
    log: Path
    live: str = "iso"
    iso: LiveIso | None = None
    standin: StandIn | None = None

    def need_iso(self) -> LiveIso:
        if self.iso is None:
            raise CheckFailed("the live ISO was not built for this run")
        return self.iso

    def need_standin(self) -> StandIn:
        if self.standin is None:
            raise CheckFailed("the live stand-in was not built for this run")
        return self.standin

    @property
    def suite(self) -> str:
        """The Debian suite of the live system, and so of the installs."""
        if self.iso is not None:
            return self.iso.suite
        return self.need_standin().darksite.suite


@dataclass
class Result:
    """A layout's verdict with step timings (seconds, in order); for installs also the
    engine's phase timings, the guest's own wall time of the install command, and the
    checks that passed on the installed system."""

    layout: str
    ok: bool = False
    steps: dict[str, float] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    guest_seconds: float = 0.0
    checks: list[str] = field(default_factory=list)
    report: list[str] = field(default_factory=list)  # lines printed under the verdict
    detail: str = ""
    console_tail: str = ""

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time a step; the timing is kept even when the step fails."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.steps[name] = time.monotonic() - started


def _check(guest: Guest, command: str, expect: str = "", timeout: float = COMMAND_TIMEOUT) -> str:
    rc, output = guest.shell(command, timeout)
    if rc != 0 or expect not in output:
        raise CheckFailed(f"`{command}` exited {rc}" + (f", no {expect!r} in output" if expect
                                                          else "") + f":\n{output[-2000:]}")
    return output


def live_guest(ctx: Run, name: str, extra: list[Disk], *cmdline: str,
               firmware: Firmware | None = None) -> Guest:
    """The live stand-in with the given disks between its root and the darksite.

    With `firmware` (OVMF), QEMU hands the kernel to the firmware, so the live
    system runs on UEFI with EFI variables, as a live ISO does on a server: the
    installer then writes its EFI boot entry into that NVRAM, and the installed
    disks are later booted with the same one."""
    standin = ctx.need_standin()
    root = overlay(standin.live.rootfs, ctx.run_dir / f"{name}-live.qcow2", ctx.log)
    disks = [Disk(root, "kldload-live"), *extra,
             Disk(standin.darksite.image, "kldload-darksite", fmt="raw", readonly=True)]
    return Guest(name, ctx.run_dir, disks=disks, kernel=standin.live.kernel,
                 initrd=standin.live.initrd, append=standin.live.cmdline(*cmdline),
                 firmware=firmware)


def _zfs_and_pool(guest: Guest, result: Result, module: str, target: Disk) -> None:
    with result.step("modprobe"):
        _check(guest, "modprobe zfs && cat /sys/module/zfs/version && "
               f"modinfo -F filename zfs | grep -c /updates/dkms/ && dpkg -s {module} "
               "| grep -i '^status'", "install ok installed")
    with result.step("zpool"):
        _check(guest, "zpool create -f -o ashift=12 -O mountpoint=none -O compression=lz4 "
               f"e2esmoke {target.guest_path} && zpool list -H -o name,health e2esmoke",
               "ONLINE")
        _check(guest, "zpool export e2esmoke && zpool import -d /dev/disk/by-id "
               "e2esmoke && zpool destroy e2esmoke")


def _apt_resolves_targets(guest: Guest, module: str) -> None:
    # Resolution of everything an install puts into a target, from the darksite
    # only, with and without recommends; -s simulates, installing nothing.
    wanted = f"{' '.join(TARGET_PACKAGES)} {module}"
    _check(guest, f"apt-get -s -q install {wanted} | grep -c '^Inst' && "
           f"apt-get -s -q install --no-install-recommends {wanted} | grep -c '^Inst'")


def _version_and_poweroff(guest: Guest, result: Result) -> None:
    with result.step("version"):
        _check(guest, "kldload-tui --version", "kldload-tui ")
    with result.step("poweroff"):
        guest.sendline("systemctl poweroff")
        guest.wait_exit(120)


def smoke(ctx: Run, result: Result) -> None:
    """Boot the live system with a blank target; check what every install stands on."""
    if ctx.live == "iso":
        _smoke_iso(ctx, result)
    else:
        _smoke_standin(ctx, result)


def _smoke_iso(ctx: Run, result: Result) -> None:
    """The ISO as a CD under OVMF, its serial entry without the autoinstall (no seed:
    the autoinstall would start the TUI); root logs in with the one-time password."""
    iso = ctx.need_iso()
    target = Disk(blank(ctx.run_dir / "target0.raw", TARGET_SIZE, ctx.log), "target0", fmt="raw")
    firmware = Firmware.uefi(ctx.run_dir, "smoke-ovmf-vars.fd")
    with cd_guest("smoke", ctx.run_dir, iso, [target], firmware) as guest:
        try:
            with result.step("boot"):
                choose_entry(guest, LOGIN_ENTRY)
            with result.step("login"):
                log_in_with_one_time_password(guest, ISO_BOOT_TIMEOUT)
            _zfs_and_pool(guest, result, iso.module_package, target)
            with result.step("tools"):
                # What preflight asks of the live system, for every distribution served.
                out = _check(guest, "for t in " + " ".join(live_tools()) + "; do command -v "
                             '"$t" >/dev/null || echo "missing-tool $t"; done; echo tools-done',
                             "tools-done")
                missing = re.findall(r"^missing-tool (\S+)", out, re.MULTILINE)
                if missing:
                    raise CheckFailed("the live system lacks tools preflight needs: "
                                      + " ".join(missing))
            with result.step("keyrings"):
                # Ubuntu's archive keyring (from bookworm-backports on a bookworm ISO),
                # judged by the installer's own check, as its preflight does.
                _check(guest, f"{VENV}/bin/python3 -c 'from kldload_tui.backend.distros "
                       "import openpgp_keys as k, ubuntu as u; "
                       "print(k.keyring_problem(u.KEYRING, u.ARCHIVE_KEYS) "
                       "or \"keyring-\" + \"ok\")'",
                       "keyring-ok")
            with result.step("darksite"):
                _check(guest, "findmnt -n -o FSTYPE /run/live/medium", "iso9660")
                # The live root's own sources name the mirror, out of reach here:
                # only the medium's darksite, as an install uses it, checked against
                # the key the live root carries (an unverified one would warn).
                _check(guest, "rm -f /etc/apt/sources.list.d/* && printf '%s\\n' "
                       f"'deb [signed-by={DARKSITE_KEYRING}] file:{MEDIUM_DARKSITE} "
                       f"{iso.suite} main contrib' > /etc/apt/sources.list && "
                       "apt-get -q update 2>&1 | grep -v unsandboxed; "
                       f"gpgv --keyring {DARKSITE_KEYRING} {MEDIUM_DARKSITE}/dists/{iso.suite}"
                       "/InRelease && echo darksite-verified", "darksite-verified")
                _apt_resolves_targets(guest, iso.module_package)
            _version_and_poweroff(guest, result)
            result.ok = True
        finally:
            result.console_tail = guest.tail()


def _smoke_standin(ctx: Run, result: Result) -> None:
    """The stand-in with the darksite disk; its autoinstall runs kldload-tui --version."""
    target = Disk(blank(ctx.run_dir / "target0.raw", TARGET_SIZE, ctx.log), "target0", fmt="raw")
    module = ctx.need_standin().darksite.kernel.module_package
    with live_guest(ctx, "smoke", [target], "kldload.e2e=smoke") as guest:
        try:
            with result.step("boot"):
                guest.wait_marker("autoinstall-start", BOOT_TIMEOUT)
            with result.step("autoinstall"):
                guest.expect(r"kldload-tui \d+\.\d+", 120, "kldload-tui --version output")
                done = guest.wait_marker("autoinstall-done", 120)
                if done.get("rc") != "0":
                    raise CheckFailed(f"autoinstall command exited {done.get('rc')}")
            with result.step("login"):
                guest.login_shell(r"root@kldload-live:~# ", 120)
            _zfs_and_pool(guest, result, module, target)
            with result.step("darksite"):
                _check(guest, f"findmnt -n -o FSTYPE,OPTIONS {GUEST_PATH}", "ext4")
                _check(guest, "apt-get -q update", "file:/darksite")
                _apt_resolves_targets(guest, module)
            _version_and_poweroff(guest, result)
            result.ok = True
        finally:
            result.console_tail = guest.tail()


def firmware(ctx: Run, result: Result) -> None:
    """OVMF from Debian's ovmf package starts and its boot manager tries boot options
    (there are none bootable): the pflash setup the installed-disk checks use works."""
    fw = Firmware.uefi(ctx.run_dir)
    with Guest("firmware", ctx.run_dir, firmware=fw) as guest:
        try:
            with result.step("uefi"):
                guest.expect(r"BdsDxe: (failed to load|loading|starting) Boot[0-9A-F]{4}", 240,
                             "OVMF's boot manager")
            result.ok = True
        finally:
            result.console_tail = guest.tail()


LAYOUTS: dict[str, Callable[[Run, Result], None]] = {
    "smoke": smoke, "firmware": firmware,
    **{name: install_layout(spec) for name, spec in SPECS.items()},
    **BOOT_LAYOUTS,
    "golden": golden,
    "remote": remote,
    "tui-serial": tui_serial,
    "tui-ssh": tui_ssh,
    "ssh-live": ssh_live,
    "pxe": pxe_layout,
    "overhead": overhead,
}
# `--layout all`: everything but the overhead measurement (two installs, run on demand).
ALL = [name for name in LAYOUTS if name != "overhead"]


def run_layout(name: str, ctx: Run) -> Result:
    """Run one layout; failures become a failed Result with the reason."""
    result = Result(name)
    try:
        LAYOUTS[name](ctx, result)
    except (GuestError, CheckFailed, CommandFailed) as err:
        result.detail = str(err)
    return result
