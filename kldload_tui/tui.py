"""`kldload-tui` without a subcommand on a terminal: the Textual installer.

Textual is imported inside `run_tui` only, so `--help` and the subcommands
start without it. The terminal decides the look: on the Linux console and on
serial lines the borders are ASCII and the mouse is off.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from kldload_tui import exitcodes

if TYPE_CHECKING:
    from kldload_tui.backend.machine.model import Machine
    from kldload_tui.screens.session import Prefill

DEMO_MACHINE = "server-3nvme-usb-seed"
# Terminals whose fonts lack box and block glyphs, or that have no colour.
CONSOLE_TERMS = frozenset({"linux", "vt52", "vt100", "vt102", "vt220", "vt320", "ansi",
                           "dumb"})
SERIAL_TTY = re.compile(r"^/dev/(ttyS|ttyUSB|ttyACM|ttyAMA|ttymxc|hvc|ttysclp)\d*")
# Milliseconds Textual waits after ESC for the rest of a key's sequence; a
# serial link at 9600-115200 baud can split an arrow key over a longer gap.
SERIAL_ESCDELAY = "250"


def _tty_name() -> str:
    try:
        return os.ttyname(sys.stdin.fileno())
    except OSError:
        return ""


def on_serial_line(tty: str | None = None) -> bool:
    """True when stdin is a serial port (or a hypervisor console)."""
    return SERIAL_TTY.match(_tty_name() if tty is None else tty) is not None


def on_console(term: str | None = None, tty: str | None = None) -> bool:
    """True on the Linux console, a serial line, or a terminal type without Unicode boxes."""
    term = os.environ.get("TERM", "") if term is None else term
    return term in CONSOLE_TERMS or on_serial_line(tty)


def _machine(args: argparse.Namespace) -> Machine:
    from kldload_tui.backend.machine.model import load_bundled_machine, resolve_machine

    if args.machine:
        return resolve_machine(args.machine)
    if args.demo:
        return load_bundled_machine(DEMO_MACHINE)
    from kldload_tui.backend.machine.probe import probe_machine

    return probe_machine()


def prefill_for(args: argparse.Namespace, machine: Machine, *,
                described: bool) -> tuple[Prefill | None, Machine]:
    """Answers to start from, found in the documented order (`find_answers`):
    `--answers` (file, URL or seed image), the kernel command line, a seed disk.

    `described`: the machine comes from a description (`--machine`, `--demo`), whose
    seed and command line are used instead of this machine's. Returns the machine
    too: a seed disk found here is recorded in it, so that it is never offered as a
    target. Raises `SeedError` when `--answers` cannot be read; without `--answers`,
    a discovery failure is shown on the welcome screen instead, since the operator
    can answer by hand.
    """
    from kldload_tui.backend.machine.model import SeedDescription
    from kldload_tui.backend.seed.find import NoAnswersFound, SeedDisk, SeedError, find_answers
    from kldload_tui.backend.seed.url import is_url
    from kldload_tui.screens.session import Prefill

    if args.answers and is_url(args.answers):
        # Retries can take a while; say what is happening before the screen appears.
        print(f"kldload-tui: fetching answers from {args.answers}", file=sys.stderr)
    try:
        found = find_answers(args.answers, machine=machine if described else None,
                             interactive=True)
    except NoAnswersFound:
        if args.answers:
            raise
        return None, machine
    except SeedError as err:
        if args.answers:
            raise
        return Prefill(source="none used", error=str(err)), machine
    source = found.source
    if isinstance(source, SeedDisk) and machine.seed is None:
        machine = machine.model_copy(update={"seed": SeedDescription(
            device=source.device, label=source.label, filesystem=source.filesystem)})
    text = found.data.decode("utf-8-sig", errors="replace")
    return Prefill.from_text(text, source.describe()), machine


def run_tui(args: argparse.Namespace) -> int:
    """Start the installer on this terminal; returns the exit status."""
    console = on_console()
    if on_serial_line():
        os.environ.setdefault("ESCDELAY", SERIAL_ESCDELAY)
    # Textual and everything that needs it load from here on.
    from kldload_tui.app import build_app
    from kldload_tui.backend.engine.runner import CommandError
    from kldload_tui.backend.machine.model import MachineFileError
    from kldload_tui.backend.seed.find import SeedError

    described = bool(args.machine or args.demo)
    try:
        machine = _machine(args)
        prefill, machine = prefill_for(args, machine, described=described)
    except (MachineFileError, SeedError, CommandError) as err:
        # Before the TUI starts: plain text on the terminal, and a status for scripts.
        print(f"kldload-tui: {err}", file=sys.stderr)
        return exitcodes.USAGE
    app = build_app(machine=machine, answers=prefill, demo=args.demo, dry_run=args.dry_run,
                    log_path=Path(args.log) if args.log else None, described=described,
                    ascii_borders=console)
    app.run(mouse=not console)
    return exitcodes.OK if app.return_code is None else app.return_code
