"""The event stream as text: rich on a terminal, plain lines on a serial console
or a pipe, JSON lines for machines. Every front end renders the same events."""

from __future__ import annotations

import sys
from typing import TextIO

from kldload_tui.backend.engine.events import (
    Complete,
    Event,
    Failed,
    InstallStarted,
    OutputLine,
    PhaseFinished,
    PhaseStarted,
    Progress,
    event_to_json,
)
from kldload_tui.terminal import on_serial_console

# A serial console gets a progress line when the phase has moved on this much,
# or this many seconds after the last one: never a line per Progress event.
PROGRESS_POINTS = 0.05
PROGRESS_SECONDS = 10.0


class PlainRenderer:
    """One line per event, nothing but ASCII: serial consoles and log files.

    Progress is thinned out: a line when the phase has moved on by
    `PROGRESS_POINTS` or `PROGRESS_SECONDS` have passed since the last one.
    """

    def __init__(self, out: TextIO = sys.stdout, *, show_output: bool = True) -> None:
        self.out = out
        self.show_output = show_output
        self._progress: Progress | None = None  # the last one printed

    def __call__(self, event: Event) -> None:
        line = self.line(event)
        if line is not None:
            self.out.write(line + "\n")
            self.out.flush()

    def line(self, event: Event) -> str | None:
        """The text of one event, or None for events not shown."""
        if isinstance(event, InstallStarted):
            mode = "dry run: nothing is executed" if event.dry_run else "installing"
            log = f"log: {event.log_path}" if event.log_path else "no log (--log PATH keeps one)"
            return f"kldload: {mode}; {event.total_phases} phases; {log}"
        if isinstance(event, PhaseStarted):
            return f"[{event.index}/{event.total}] {event.name}"
        if isinstance(event, OutputLine):
            return f"    {event.text}" if self.show_output and event.text.strip() else None
        if isinstance(event, Progress):
            return self._progress_line(event)
        if isinstance(event, PhaseFinished):
            return f"[{event.index}] {event.name}: done in {event.seconds:.1f}s"
        if isinstance(event, Failed):
            lines = [f"FAILED in phase {event.phase}: {event.message}"]
            if event.command:
                lines.append(f"  command: {event.command} (exit {event.exit_code})")
            if event.log_path:
                lines.append(f"  log: {event.log_path}")
            return "\n".join(lines)
        if isinstance(event, Complete):
            return f"kldload: complete: {event.message}"
        return None

    def _progress_line(self, event: Progress) -> str | None:
        last = self._progress
        if last is not None and last.phase == event.phase:
            seconds = (event.timestamp - last.timestamp).total_seconds()
            # (less a hair, so that 0.10 + 0.05 reaches 0.15 in floating point)
            if event.fraction < last.fraction + PROGRESS_POINTS - 1e-9 and (
                    seconds < PROGRESS_SECONDS):
                return None
        self._progress = event
        return f"    {event.phase}: {event.fraction:.0%} {event.message}"


class JsonRenderer:
    """One JSON document per line (`--json`)."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out

    def __call__(self, event: Event) -> None:
        self.out.write(event_to_json(event) + "\n")
        self.out.flush()


class RichRenderer:
    """Colour and emphasis on a local terminal; the same lines as PlainRenderer."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(highlight=False)
        self.plain = PlainRenderer()

    def __call__(self, event: Event) -> None:
        from rich.markup import escape

        line = self.plain.line(event)
        if line is None:
            return
        style = {PhaseStarted: "bold", OutputLine: "dim", Progress: "cyan",
                 PhaseFinished: "green", Failed: "bold red",
                 Complete: "bold green"}.get(type(event), "")
        self.console.print(f"[{style}]{escape(line)}[/]" if style else escape(line))


def renderer_for(*, json_lines: bool, stream: TextIO = sys.stdout
                 ) -> PlainRenderer | JsonRenderer | RichRenderer:
    """JSON when asked; rich on a local terminal; plain lines otherwise."""
    if json_lines:
        return JsonRenderer(stream)
    if stream.isatty() and not on_serial_console(stream):
        return RichRenderer()
    return PlainRenderer(stream)
