"""`kldload-tui` without a subcommand on a terminal: the Textual installer.

Textual is imported inside `run_tui` only, so `--help` and the subcommands
start without it. The terminal decides the look: on the Linux console and on
serial lines the borders are ASCII and the mouse is off.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from kldload_tui import exitcodes
from kldload_tui.terminal import on_console, on_serial_line

if TYPE_CHECKING:
    from kldload_tui.backend.machine.model import Machine
    from kldload_tui.backend.session import Prefill

DEMO_MACHINE = "server-3nvme-usb-seed"
# Milliseconds Textual waits after ESC for the rest of a key's sequence; a
# serial link at 9600-115200 baud can split an arrow key over a longer gap.
SERIAL_ESCDELAY = "250"

__all__ = ["DEMO_MACHINE", "on_console", "on_serial_line", "prefill_for", "run_tui"]


def _machine(args: argparse.Namespace) -> Machine:
    from kldload_tui.backend.machine.model import load_bundled_machine
    from kldload_tui.backend.machine.probe import machine_for

    if args.demo and not args.machine:
        return load_bundled_machine(DEMO_MACHINE)
    return machine_for(args.machine)


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
    from kldload_tui.backend.seed.find import NoAnswersFound, SeedError, find_answers, record_seed
    from kldload_tui.backend.seed.url import is_url
    from kldload_tui.backend.session import Prefill

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
    text = found.data.decode("utf-8-sig", errors="replace")
    return Prefill.from_text(text, found.source.describe()), record_seed(machine, found.source)


def run_tui(args: argparse.Namespace) -> int:
    """Start the installer on this terminal; returns the exit status."""
    from kldload_tui.remote.access import access_from_env, in_browser

    # In a browser (a `serve` session) the terminal is xterm.js, whatever TERM the
    # server was started with: Unicode, colour and the mouse all work there.
    browser = in_browser()
    console = on_console() and not browser
    if on_serial_line() and not browser:
        os.environ.setdefault("ESCDELAY", SERIAL_ESCDELAY)
    # Textual and everything that needs it load from here on.
    from kldload_tui.app import build_app
    from kldload_tui.backend.seed.find import SeedError

    described = bool(args.machine or args.demo)
    try:
        machine = _machine(args)
        prefill, machine = prefill_for(args, machine, described=described)
    except SeedError as err:
        # Before the TUI starts: plain text on the terminal, and a status for scripts
        # (an unusable description or a failed probe is reported by the CLI, as for all).
        print(f"kldload-tui: {err}", file=sys.stderr)
        return exitcodes.USAGE
    app = build_app(machine=machine, answers=prefill, demo=args.demo, dry_run=args.dry_run,
                    log_path=Path(args.log) if args.log else None, described=described,
                    ascii_borders=console, remote=access_from_env())
    app.run(mouse=not console)
    return exitcodes.OK if app.return_code is None else app.return_code
