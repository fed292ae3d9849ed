"""Progress events as a bar on a terminal, plain lines elsewhere, or JSON lines.

A long copy (a golden image export) shows one bar redrawn in place on a local
terminal. A pipe, a log file or a serial console gets a plain line now and
then instead (thinned as the install's plain lines are): a bar's redraws would fill a
log with carriage returns. Only `Progress` events are shown; the commands'
own output stays in the log.
"""

from __future__ import annotations

import math
import shutil
import sys
from typing import TextIO

from kldload_tui.backend.engine.events import Event, Progress, event_to_json
from kldload_tui.event_render import PROGRESS_POINTS, PROGRESS_SECONDS
from kldload_tui.terminal import on_serial_console

BAR_WIDTH = 24
MIN_COLUMNS = 40


def percent(event: Progress) -> str:
    """`99%` until it is all done: rounding would say 100% at 99.5."""
    return f"{math.floor(event.fraction * 100)}%"


def bar_line(event: Progress, columns: int) -> str:
    """`export [#########...............]  38% converting: ...`, cut to `columns`."""
    done = math.floor(event.fraction * BAR_WIDTH)
    bar = "#" * done + "." * (BAR_WIDTH - done)
    text = f"{event.phase or 'progress'} [{bar}] {percent(event):>4} {event.message}"
    return text[: max(columns - 1, MIN_COLUMNS)]


class BarRenderer:
    """One bar per phase, redrawn in place; a newline when the phase changes or ends."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self._phase: str | None = None
        self._open = False

    def __call__(self, event: Event) -> None:
        if not isinstance(event, Progress):
            return
        if self._open and event.phase != self._phase:
            self.close()
        self._phase = event.phase
        columns = shutil.get_terminal_size((80, 24)).columns
        # \r and erase-to-end: a shorter line must not leave the longer one's tail.
        self.out.write("\r" + bar_line(event, columns) + "\x1b[K")
        self._open = True
        if event.fraction >= 1.0:
            self.close()
        self.out.flush()

    def close(self) -> None:
        """End the bar's line, so what is printed next starts on its own."""
        if self._open:
            self.out.write("\n")
            self.out.flush()
            self._open = False


class PlainProgress:
    """Progress as plain lines now and then (a pipe, a file, a serial console).

    A phase's first and last percentages are always told; between them, a
    line when it has moved `PROGRESS_POINTS` on or `PROGRESS_SECONDS` have
    passed, as the install's plain renderer does.
    """

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self._last: Progress | None = None  # the last one printed

    def __call__(self, event: Event) -> None:
        if not isinstance(event, Progress):
            return
        last = self._last
        if last is not None and last.phase == event.phase:
            seconds = (event.timestamp - last.timestamp).total_seconds()
            # (less a hair, so that 0.10 + 0.05 reaches 0.15 in floating point)
            moved = event.fraction >= last.fraction + PROGRESS_POINTS - 1e-9
            if last.fraction >= 1.0 or not (moved or seconds >= PROGRESS_SECONDS
                                             or event.fraction >= 1.0):
                return
        self._last = event
        self.out.write(f"    {event.phase}: {percent(event)} {event.message}\n")
        self.out.flush()

    def close(self) -> None:
        """Nothing to end: every line is whole."""


class JsonProgress:
    """Progress as JSON lines (`--json`)."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out

    def __call__(self, event: Event) -> None:
        if isinstance(event, Progress):
            self.out.write(event_to_json(event) + "\n")
            self.out.flush()

    def close(self) -> None:
        """Nothing to end: every line is whole."""


def progress_renderer(*, json_lines: bool, stream: TextIO = sys.stdout
                      ) -> BarRenderer | PlainProgress | JsonProgress:
    """JSON when asked; a bar on a local terminal; plain lines otherwise."""
    if json_lines:
        return JsonProgress(stream)
    if stream.isatty() and not on_serial_console(stream):
        return BarRenderer(stream)
    return PlainProgress(stream)
