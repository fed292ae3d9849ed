"""Install layouts: a seed made by ``kldload-tui seed make``, blank virtual disks, the
product's live ISO (or, with ``--live standin``, the live stand-in) installing through
the real engine from its darksite, then the installed disks booted alone under OVMF
and checked (bootcheck.py).

The failure layout names a disk that does not exist: the guest must say so on
the console, exit non-zero, and leave every disk as it was (all zeros, no
partition table; the seed byte for byte).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kldload_tui.backend.export.formats import sha256_file
from tests.e2e.answers import SEED_SERIAL, InstallSpec, make_seed
from tests.e2e.bootcheck import (
    BOOTLOADER_ID,
    CheckFailed,
    boot_to_login,
    check_system,
    log_in,
    power_off,
)
from tests.e2e.install import (
    ISO_ENDS,
    ISO_START,
    InstallRun,
    extract_logs,
    follow,
    io_disk,
    save_logs_from_shell,
)
from tests.e2e.iso import ROOT_PROMPT, SERIAL_ENTRY, cd_guest, choose_entry
from tests.e2e.qemu import Disk, Firmware, Guest, blank
from tests.e2e.sh import run

if TYPE_CHECKING:
    from tests.e2e.layouts import Result, Run

BOOT_TIMEOUT = 300.0
# From GRUB's menu to the live ISO's autoinstall: live-boot finds the medium and
# mounts the squashfs, then systemd starts (about 100 s alone under emulation).
ISO_BOOT_TIMEOUT = 600.0
# Sparse, so free on the host; above the installer's minimum for the server
# profile (16 GiB, backend/machine/disks.py).
TARGET_SIZE = "20G"
MISSING_DISK_MESSAGE = "does not exist on this machine"

SPECS: dict[str, InstallSpec] = {spec.name: spec for spec in (
    InstallSpec("single"),
    InstallSpec("mirror", disks=2, topology="mirror", profile="core",
                password="e2e-mirror-Passw0rd", iso_seed=True),
    InstallSpec("raidz1", disks=3, topology="raidz1", profile="core", live_medium="usb"),
    InstallSpec("encrypted", profile="core", passphrase="e2e correct horse battery"),
    InstallSpec("missing-disk", missing_disk=True),
)}


def written_regions(path: Path) -> list[tuple[int, int]]:
    """(offset, length) of the non-zero data in a sparse image: holes are skipped by
    SEEK_DATA/SEEK_HOLE, allocated blocks are read and checked for zeros."""
    found: list[tuple[int, int]] = []
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        offset = 0
        while offset < size:
            try:
                start = os.lseek(fd, offset, os.SEEK_DATA)
            except OSError:  # ENXIO: only a hole is left
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            os.lseek(fd, start, os.SEEK_SET)
            pos = start
            while pos < end:
                block = os.read(fd, min(1 << 20, end - pos))
                if block.strip(b"\0"):
                    found.append((pos, len(block)))
                pos += len(block)
            offset = end
    finally:
        os.close(fd)
    return found


def target_disk(ctx: Run, spec: InstallSpec, serial: str) -> Disk:
    """A blank sparse target disk of the layout, like a new drive."""
    path = blank(ctx.run_dir / f"{spec.name}-{serial}.raw", TARGET_SIZE, ctx.log)
    return Disk(path, serial, fmt="raw")


def live_firmware(ctx: Run, spec: InstallSpec) -> Firmware | None:
    """The live system's firmware for `spec`: OVMF with the layout's own NVRAM (the
    installed disks later boot with the same one), or None for SeaBIOS."""
    if spec.live_firmware == "bios":
        return None
    return Firmware.uefi(ctx.run_dir, f"{spec.name}-ovmf-vars.fd")


def finish_action(live: str) -> str:
    """The answers' KLDLOAD_FINISH_ACTION for an install from `live`: from the ISO the
    engine powers the machine off, as on a server; the stand-in does it itself."""
    return "poweroff" if live == "iso" else "none"


def install_in_guest(ctx: Run, result: Result, spec: InstallSpec, targets: list[Disk],
                     seed: Path, firmware: Firmware | None, *, extra: Sequence[Disk] = (),
                     cmdline: Sequence[str] = (), live: str | None = None) -> InstallRun:
    """Boot the live system (`live`, default the run's) with the seed and the targets;
    follow the install. `firmware`: OVMF, or None for QEMU's default SeaBIOS.
    `extra`: more disks; `cmdline`: more kernel options (the stand-in's modes)."""
    if (live or ctx.live) == "iso":
        if cmdline:
            raise ValueError(f"kernel options {list(cmdline)} are the stand-in's modes")
        return _install_from_iso(ctx, result, spec, [*targets, *extra], seed, firmware)
    return _install_from_standin(ctx, result, spec, targets, seed, firmware, extra, cmdline)


def follow_live_install(guest: Guest, result: Result, started: float) -> InstallRun:
    """From the live ISO's autoinstall start (from a medium or over the network): the
    install to its end, then the finish action's power off, or the logs saved from
    the root shell a failed install leaves."""
    with result.step("install"):
        outcome = follow(guest, started, ISO_ENDS)
    result.phases = outcome.phases
    if outcome.rc == 0:
        with result.step("live-poweroff"):
            guest.wait_exit(300)
    else:
        with result.step("save-logs"):
            save_logs_from_shell(guest, ROOT_PROMPT)
    return outcome


def _install_from_iso(ctx: Run, result: Result, spec: InstallSpec, targets: list[Disk],
                      seed: Path, firmware: Firmware | None) -> InstallRun:
    """The ISO as a CD (or a USB stick), its serial entry: the autoinstall finds the
    seed and installs from the medium's darksite; the answers' finish action powers
    off. A failed install leaves a root shell: the logs go onto the exchange disk
    from there."""
    io = io_disk(ctx.run_dir, spec.name, ctx.log)
    disks = [*targets, Disk(seed, SEED_SERIAL, fmt="raw"), io]
    with cd_guest(f"{spec.name}-install", ctx.run_dir, ctx.need_iso(), disks,
                  firmware, spec.live_medium) as guest:
        try:
            with result.step("live-boot"):
                choose_entry(guest, SERIAL_ENTRY)
                started = float(guest.expect(ISO_START, ISO_BOOT_TIMEOUT,
                                             "the autoinstall's start").group(1))
            outcome = follow_live_install(guest, result, started)
        finally:
            result.console_tail = guest.tail()
    if outcome.rc != 0:
        extract_logs(io.path, ctx.run_dir / f"{spec.name}-logs")
    return outcome


def _install_from_standin(ctx: Run, result: Result, spec: InstallSpec, targets: list[Disk],
                          seed: Path, firmware: Firmware | None, extra: Sequence[Disk],
                          cmdline: Sequence[str]) -> InstallRun:
    from tests.e2e.layouts import live_guest

    io = io_disk(ctx.run_dir, spec.name, ctx.log)
    disks = [*targets, Disk(seed, SEED_SERIAL, fmt="raw"), io, *extra]
    with live_guest(ctx, f"{spec.name}-install", disks, *cmdline,
                    firmware=firmware) as guest:
        try:
            with result.step("live-boot"):
                started = float(guest.wait_marker("autoinstall-start", BOOT_TIMEOUT)["epoch"])
            with result.step("install"):
                outcome = follow(guest, started)
            result.phases = outcome.phases
            with result.step("live-poweroff"):
                guest.wait_marker("poweroff", 300)
                guest.wait_exit(300)
        finally:
            result.console_tail = guest.tail()
    extract_logs(io.path, ctx.run_dir / f"{spec.name}-logs")
    return outcome


def _check_refused(ctx: Run, spec: InstallSpec, outcome: InstallRun, targets: list[Disk],
                   seed: Path, seed_sha: str) -> None:
    console = (ctx.run_dir / f"{spec.name}-install-console.log").read_text(errors="replace")
    if outcome.rc in (None, 0):
        raise CheckFailed(f"the install of a missing disk exited {outcome.rc}, not an error")
    if MISSING_DISK_MESSAGE not in console:
        raise CheckFailed(f"the console does not say the disk {MISSING_DISK_MESSAGE!r}")
    # The fix offers the blank target by its stable name, and never the live medium.
    flat = " ".join(console.split())
    offered = re.search(r"installable disks here: (.*?) \(kldload-tui disks", flat)
    if offered is None:
        raise CheckFailed("the refusal does not name the installable disks")
    names = offered.group(1).split(", ")
    if [t.guest_path for t in targets] != names:
        raise CheckFailed(f"the refusal offers {names}, not the blank targets")
    for disk in targets:
        regions = written_regions(disk.path)
        if regions:
            raise CheckFailed(f"{disk.path.name} was written at {regions[:5]}")
        probe = run(["blkid", "-p", "-o", "export", str(disk.path)], log=ctx.log,
                    capture=True, check=False)
        if probe.strip():
            raise CheckFailed(f"{disk.path.name} has signatures: {probe.strip()}")
    if sha256_file(seed) != seed_sha:
        raise CheckFailed("the seed image changed during the refused install")


def boot_and_check(ctx: Run, result: Result, spec: InstallSpec, targets: list[Disk],
                    firmware: Firmware | None) -> None:
    with Guest(f"{spec.name}-boot", ctx.run_dir, disks=targets, firmware=firmware,
               network=True) as guest:
        try:
            with result.step("uefi-boot" if firmware else "bios-boot"):
                boot_to_login(guest, spec, BOOTLOADER_ID if firmware else None)
            with result.step("login"):
                expired = log_in(guest, spec)
            with result.step("checks"):
                result.checks = check_system(guest, spec, expired, ctx.suite,
                                             finish_action(ctx.live))
            with result.step("target-poweroff"):
                power_off(guest)
        finally:
            result.console_tail = guest.tail()


def install_layout(spec: InstallSpec) -> Callable[[Run, Result], None]:
    """The layout function for one spec."""

    def layout(ctx: Run, result: Result) -> None:
        seed = make_seed(spec, ctx.suite, ctx.run_dir, ctx.log, finish_action(ctx.live))
        seed_sha = sha256_file(seed)
        # One machine: the NVRAM the installer writes its boot entry into is the
        # one the installed disks then boot with.
        firmware = live_firmware(ctx, spec)
        targets = [target_disk(ctx, spec, serial) for serial in spec.serials]
        outcome = install_in_guest(ctx, result, spec, targets, seed, firmware)
        result.guest_seconds = outcome.guest_seconds
        if spec.missing_disk:
            _check_refused(ctx, spec, outcome, targets, seed, seed_sha)
            result.checks = ["refused-on-console", "exit-non-zero", "disks-untouched"]
            result.ok = True
            return
        if outcome.rc != 0:
            raise CheckFailed(f"the install exited {outcome.rc}: {outcome.failed or 'see console'}")
        boot_and_check(ctx, result, spec, targets, firmware)
        result.ok = True

    layout.__doc__ = f"Install layout {spec.name}: {spec}"
    return layout
