"""Command-line entry point: builds the parser from the command modules."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from kldload_tui import __version__
from kldload_tui.commands import COMMAND_MODULES
from kldload_tui.exitcodes import USAGE


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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _load_commands():
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run the chosen command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "_run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return USAGE
    try:
        status: int = run(args)
    except KeyboardInterrupt:
        print("kldload-tui: interrupted", file=sys.stderr)
        return 130
    return status
