"""Run an install in the live guest and follow it on the serial console.

The live ISO's autoinstall (and the stand-in's) runs ``kldload-tui --headless``
with its output on ttyS0; the engine prints one plain line per event there
(kldload_tui/event_render.py): ``[i/n] phase`` when a phase starts, ``[i] phase:
done in Ns`` when it is verified, ``FAILED in phase ...`` on failure, ``kldload:
complete: ...`` at the end. The per-phase timings in the verdict line are the
engine's own.
"""

from __future__ import annotations

import re
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.liveconf import IO_DEVICE, IO_SERIAL
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
# The live ISO's autoinstall (backend/iso/templates/kldload-autoinstall): its start,
# with the guest's clock, and how it ends. On success the answers' finish action
# powers the machine off right after the engine's last line, so that line is the end.
ISO_START = r"kldload-autoinstall: start (\d+)\r*\n"
ISO_COMPLETE = r"\nkldload: complete: [^\r\n]*"
ISO_FAILED = r"kldload-autoinstall: INSTALL FAILED \(exit (\d+)\)"
# `kldload-tui seed find` exits 1 for answers that do not validate; nothing runs.
ISO_INVALID = r"kldload-autoinstall: the answers found are not valid"
INVALID_RC = 1

# How an install ends on the console: a pattern, and the exit status and the guest's
# epoch at the end that a match of it means.
End = tuple[str, Callable[[re.Match[str]], tuple[int, float]]]
STANDIN_ENDS: list[End] = [(DONE, lambda m: (int(m.group(1)), float(m.group(2))))]
# The ISO prints no epoch at the end: the host's clock (QEMU's RTC follows it).
ISO_ENDS: list[End] = [
    (ISO_COMPLETE, lambda m: (0, time.time())),
    (ISO_FAILED, lambda m: (int(m.group(1)), time.time())),
    (ISO_INVALID, lambda m: (INVALID_RC, time.time())),
]


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


def follow(guest: Guest, started_epoch: float, ends: list[End] = STANDIN_ENDS,
           timeout: float = INSTALL_TIMEOUT) -> InstallRun:
    """After the autoinstall's start: follow the phases to the first of `ends`."""
    out = InstallRun(started_epoch=started_epoch)
    patterns = [PHASE_STARTED, PHASE_DONE, FAILED, *(pattern for pattern, _ in ends)]
    while True:
        index, match = guest.expect_any(patterns, timeout, "the install's next event")
        if index == 1:
            out.phases[match.group(2)] = float(match.group(3))
        elif index == 2:
            out.failed = f"{match.group(1)}: {match.group(2)}"
        elif index >= 3:
            out.rc, out.done_epoch = ends[index - 3][1](match)
            return out


def save_logs_from_shell(guest: Guest, prompt: str, timeout: float = 300.0) -> None:
    """After a failed install on the live ISO, which leaves a root shell on the
    console: its install logs, discovery's state and the journal onto the exchange
    disk (a raw tar archive, as the stand-in writes it), then power off."""
    guest.login_shell(prompt, timeout)
    rc, output = guest.shell(
        "journalctl -b --no-pager > /run/kldload/journal.txt; "
        # Not the boot's one-time root password: run directories are kept.
        f"tar --ignore-failed-read --exclude=run/kldload/ssh-password -cf {IO_DEVICE} "
        "-C / var/log/kldload run/kldload && sync",
        180)
    if rc != 0:
        raise GuestError(f"{guest.name}: saving the logs exited {rc}:\n{output[-1000:]}")
    guest.sendline("systemctl poweroff")
    guest.wait_exit(300)


def extract_logs(io_image: Path, dest: Path) -> Path:
    """Unpack what the guest saved on the exchange disk; returns dest."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(io_image, "r:") as archive:
            archive.extractall(dest, filter="data")
    except tarfile.ReadError as err:
        raise GuestError(f"{io_image}: the guest saved no logs ({err})") from None
    return dest

