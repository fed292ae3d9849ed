"""Command-line entry point: builds the parser from the command modules."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from kldload_tui import __version__
from kldload_tui.commands import COMMAND_MODULES
from kldload_tui.exitcodes import INVALID, MACHINE_FILE, USAGE


def _load_commands() -> list[ModuleType]:
    return [importlib.import_module(f"kldload_tui.commands.{name}") for name in COMMAND_MODULES]


def build_parser() -> argparse.ArgumentParser:
    """The full parser; also used by tests and the docs."""
    parser = argparse.ArgumentParser(
        prog="kldload-tui",
        description=(
            "Install Linux with ZFS on root, attended or from an answers file, "
            "and bake golden images."
        ),
    )
    parser.add_argument("--version", action="version", version=f"kldload-tui {__version__}")
    front = parser.add_argument_group("installing (without a COMMAND)")
    front.add_argument("--headless", action="store_true",
                       help="install without a UI from the answers found (seed disk, kernel "
                       "command line, or --answers); starts the TUI if none are found on a "
                       "terminal")
    front.add_argument("--answers", metavar="PATH|URL",
                       help="answers.env to use; the TUI opens pre-filled from it")
    front.add_argument("--machine", metavar="FILE|NAME",
                       help="use a machine description instead of probing this machine; "
                       "only with --dry-run or --demo: a real install always probes the "
                       "disks it wipes")
    front.add_argument("--dry-run", action="store_true",
                       help="go through the whole install executing nothing")
    front.add_argument("--demo", action="store_true",
                       help="the TUI on a built-in sample machine; nothing is executed")
    front.add_argument("--json", dest="json_events", action="store_true",
                       help="headless: print events as JSON lines")
    front.add_argument("--log", metavar="PATH", help="install log (default "
                       "/var/log/kldload/install.log; a dry run keeps one only when asked)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _load_commands():
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _front_door(args: argparse.Namespace) -> int:
    """No subcommand: install, headless or through the TUI."""
    if args.machine and not (args.dry_run or args.demo):
        # A description is for planning: what a real install wipes is decided by
        # the disks found on this machine, never by a file.
        print("kldload-tui: --machine describes a machine to plan on; a real install "
              "probes this one: add --dry-run, or drop --machine", file=sys.stderr)
        return USAGE
    if args.headless:
        from kldload_tui.headless import run_headless

        return run_headless(args)
    from kldload_tui.remote.access import in_browser

    if (not sys.stdin.isatty() or not sys.stdout.isatty()) and not in_browser():
        print("kldload-tui: the TUI needs a terminal; use --headless with an answers file, or "
              "a COMMAND (see --help)", file=sys.stderr)
        return USAGE
    from kldload_tui.tui import run_tui

    return run_tui(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run the chosen command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "_run", None)
    if run is None:
        run = _front_door
    try:
        status: int = run(args)
    except KeyboardInterrupt:
        print("kldload-tui: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        known = _reported(err)
        if known is None:
            raise
        return known
    return status


def _reported(err: Exception) -> int | None:
    """Errors any command may raise, reported here once: their exit status, or None."""
    # Imported now, not at the top: `--help` stays light, and the command that
    # raised one of these has loaded its module already.
    from kldload_tui.backend.engine.launcher import LaunchRefused
    from kldload_tui.backend.engine.runner import CommandError
    from kldload_tui.backend.machine.model import MachineFileError
    from kldload_tui.problem_print import print_problems

    if isinstance(err, MachineFileError):
        print_problems(err.problems)
        return MACHINE_FILE
    if isinstance(err, LaunchRefused):
        # The front door refuses first (`_front_door`); this is the launcher's backstop.
        print(f"kldload-tui: {err}", file=sys.stderr)
        return USAGE
    if isinstance(err, CommandError):
        # Outside an install (which reports its own): probing this machine or
        # reading a seed failed; the command, its exit code and output say why.
        print(f"kldload-tui: {err}", file=sys.stderr)
        return INVALID
    return None
