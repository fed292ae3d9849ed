"""qemu-img's `-p` percentages as `Progress` events with a rate and the time left.

`qemu-img convert -p` and `qemu-img compare -p` redraw `    (12.34/100%)` with
a carriage return at each percent. The runner hands each redraw to
`QemuProgress.events_for` (run with `cr_ends_line=True`), which turns it
into a `Progress` whose message says how much of the disk is done, how fast
and how long is left: the rate is of the disk read (its virtual size), the
measure people compare with their disk's speed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from kldload_tui.backend.engine.events import Event, OutputLine, Progress
from kldload_tui.backend.machine.disks import size_text

_PERCENT = re.compile(r"^\s*\((\d+(?:\.\d+)?)/100%\)\s*$")
# Before this much of the disk or this many seconds, a rate is noise.
ESTIMATE_AFTER_FRACTION = 0.02
ESTIMATE_AFTER_SECONDS = 0.5


def clock_text(seconds: float) -> str:
    """`1:05` or `2:03:45`."""
    whole = max(round(seconds), 0)
    hours, rest = divmod(whole, 3600)
    return (f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours
            else f"{rest // 60}:{rest % 60:02d}")


def percent_of(text: str) -> float | None:
    """The fraction a qemu-img progress line shows, or None for another line."""
    match = _PERCENT.match(text)
    return min(float(match.group(1)) / 100.0, 1.0) if match else None


class QemuProgress:
    """One qemu-img run's progress over a disk of `total_bytes`, as events.

    `step` names what is being done ("converting", "verifying"); `clock` is
    for tests. Lines that are not percentages pass through as they are.
    """

    def __init__(self, step: str, total_bytes: int, *, phase: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.step = step
        self.total = total_bytes
        self.phase = phase
        self.clock = clock
        self.began = clock()
        self.last: Progress | None = None

    def message(self, fraction: float, now: float) -> str:
        """`converting: 1.2 GiB of 8.0 GiB, 95.3 MiB/s, 1:13 left`."""
        done = self.total * fraction
        parts = [f"{self.step}: {size_text(int(done))} of {size_text(self.total)}"]
        elapsed = now - self.began
        if fraction >= ESTIMATE_AFTER_FRACTION and elapsed >= ESTIMATE_AFTER_SECONDS:
            parts.append(f"{size_text(int(done / elapsed))}/s")
            if fraction < 1.0:
                parts.append(f"{clock_text(elapsed * (1.0 - fraction) / fraction)} left")
        return ", ".join(parts)

    def events_for(self, line: OutputLine) -> list[Event]:
        """The runner's line filter: a `Progress` for a percentage, else the line."""
        fraction = percent_of(line.text)
        if fraction is None:
            return [line]
        if self.last is not None and fraction <= self.last.fraction:
            return []  # qemu-img draws 100% twice, and 0% before it starts
        event = Progress(phase=self.phase, fraction=round(fraction, 4),
                         message=self.message(fraction, self.clock()))
        self.last = event
        return [event]
