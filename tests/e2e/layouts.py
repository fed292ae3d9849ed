"""The e2e layouts. Each boots guests and returns a Result with per-step timings.

``smoke`` checks what every install layout stands on: the live environment boots and
its autoinstall unit runs a command on the console, ZFS loads from the prebuilt
modules, a pool can be made on a blank virtual disk, the darksite disk is mounted
and apt resolves the target's packages from it, and kldload-tui runs.
``firmware`` checks that OVMF (the UEFI boot check of installed disks) starts here.
The install layouts (``single``, ``mirror``, ``raidz1``, ``encrypted`` and the
failure case ``missing-disk``) are in installs.py; the boot layouts (``mirror-degraded``,
``raidz1-degraded``, ``esp-sync``, ``bios``: every disk boots, on UEFI and BIOS) in
boot_layouts.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.boot_layouts import BOOT_LAYOUTS
from tests.e2e.bootcheck import CheckFailed
from tests.e2e.darksite import GUEST_PATH, Darksite
from tests.e2e.golden import golden
from tests.e2e.installs import BOOT_TIMEOUT, SPECS, TARGET_SIZE, install_layout
from tests.e2e.live import Live
from tests.e2e.overhead import overhead
from tests.e2e.packages import TARGET_PACKAGES
from tests.e2e.qemu import Disk, Firmware, Guest, GuestError, blank, overlay
from tests.e2e.sh import CommandFailed

COMMAND_TIMEOUT = 180.0


@dataclass
class Run:
    """What a layout gets: built artefacts and a run directory for logs and disks."""

    darksite: Darksite
    live: Live
    run_dir: Path
    log: Path


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
    root = overlay(ctx.live.rootfs, ctx.run_dir / f"{name}-live.qcow2", ctx.log)
    disks = [Disk(root, "kldload-live"), *extra,
             Disk(ctx.darksite.image, "kldload-darksite", fmt="raw", readonly=True)]
    return Guest(name, ctx.run_dir, disks=disks, kernel=ctx.live.kernel,
                 initrd=ctx.live.initrd, append=ctx.live.cmdline(*cmdline), firmware=firmware)


def smoke(ctx: Run, result: Result) -> None:
    """Boot the live environment with a blank target and the darksite; check the basics."""
    target = Disk(blank(ctx.run_dir / "target0.raw", TARGET_SIZE, ctx.log), "target0", fmt="raw")
    module = ctx.darksite.kernel.module_package
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
            with result.step("darksite"):
                _check(guest, f"findmnt -n -o FSTYPE,OPTIONS {GUEST_PATH}", "ext4")
                _check(guest, "apt-get -q update", "file:/darksite")
                # Resolution of everything an install puts into a target, from the disk
                # only, with and without recommends; -s simulates, installing nothing.
                wanted = f"{' '.join(TARGET_PACKAGES)} {module}"
                _check(guest, f"apt-get -s -q install {wanted} | grep -c '^Inst' && "
                       f"apt-get -s -q install --no-install-recommends {wanted} | grep -c '^Inst'")
            with result.step("version"):
                _check(guest, "kldload-tui --version", "kldload-tui ")
            with result.step("poweroff"):
                guest.sendline("systemctl poweroff")
                guest.wait_exit(120)
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
