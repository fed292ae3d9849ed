"""Run an install in the live guest and follow it on the serial console.

The live stand-in runs ``kldload-tui --headless`` on ttyS0; the engine prints one
plain line per event there (kldload_tui/event_render.py): ``[i/n] phase`` when a
phase starts, ``[i] phase: done in Ns`` when it is verified, ``FAILED in phase
...`` on failure. The per-phase timings in the verdict line are the engine's own.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.liveconf import IO_SERIAL
from tests.e2e.qemu import MARKER, Disk, Guest, GuestError, blank

# Under TCG: debootstrap and the package transactions take minutes each.
INSTALL_TIMEOUT = 60 * 60.0
# Each line is matched from the newline before it and leaves its own newline in the
# buffer, so a phase that prints nothing between its two lines is still seen.
PHASE_STARTED = r"\n\[(\d+)/(\d+)\] ([a-z-]+)(?=\r*\n)"
PHASE_DONE = r"\n\[(\d+)\] ([a-z-]+): done in ([\d.]+)s(?=\r*\n)"
FAILED = r"\nFAILED in phase ([a-z-]+): ([^\r\n]*)"
DONE = rf"{MARKER} autoinstall-done rc=(\d+) (\d+(?:\.\d+)?)\r*\n"
IO_SIZE = "64M"


@dataclass
class InstallRun:
    """What the console said about one install."""

    rc: int | None = None
    phases: dict[str, float] = field(default_factory=dict)
    failed: str = ""
    started_epoch: float = 0.0
    done_epoch: float = 0.0

    @property
    def guest_seconds(self) -> float:
        """Wall time of the command in the guest (from its own clock)."""
        return self.done_epoch - self.started_epoch


def io_disk(run_dir: Path, name: str, log: Path) -> Disk:
    """The exchange disk the live stand-in writes its logs to (a raw tar archive)."""
    return Disk(blank(run_dir / f"{name}-io.raw", IO_SIZE, log), IO_SERIAL, fmt="raw")


def follow(guest: Guest, started_epoch: float, timeout: float = INSTALL_TIMEOUT) -> InstallRun:
    """After the autoinstall's start marker: follow the phases to its end."""
    out = InstallRun(started_epoch=started_epoch)
    patterns = [PHASE_STARTED, PHASE_DONE, FAILED, DONE]
    while True:
        index, match = guest.expect_any(patterns, timeout, "the install's next event")
        if index == 1:
            out.phases[match.group(2)] = float(match.group(3))
        elif index == 2:
            out.failed = f"{match.group(1)}: {match.group(2)}"
        elif index == 3:
            out.rc = int(match.group(1))
            out.done_epoch = float(match.group(2))
            return out


def extract_logs(io_image: Path, dest: Path) -> Path:
    """Unpack what the guest saved on the exchange disk; returns dest."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(io_image, "r:") as archive:
            archive.extractall(dest, filter="data")
    except tarfile.ReadError as err:
        raise GuestError(f"{io_image}: the guest saved no logs ({err})") from None
    return dest

