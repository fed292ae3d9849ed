"""`kldload-tui probe`: this machine as a machine description (JSON).

`kldload-tui probe > machine.json` captures the disks, NICs, firmware and
identity; `--machine machine.json` then makes every command use that file
instead of probing, on this or any other host.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kldload_tui import exitcodes
from kldload_tui.commands.disks import add_machine_arguments, load_machine_or_probe

NAME = "probe"
HELP = "print this machine (disks, NICs, firmware) as a JSON machine description"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `probe`."""
    add_machine_arguments(parser)
    parser.add_argument("--output", "-o", type=Path, metavar="FILE",
                        help="write to FILE instead of standard output")
    parser.add_argument("--description", default=None,
                        help="a line saying what this machine is, kept in the file")


def run(args: argparse.Namespace) -> int:
    """Probe (or read `--machine`) and print the description; 0 on success."""
    from kldload_tui.backend.machine.model import save_machine

    machine = load_machine_or_probe(args)
    if isinstance(machine, int):
        return machine
    if args.description is not None:
        machine = machine.model_copy(update={"description": args.description})
    if args.output is None:
        sys.stdout.write(machine.to_json())
        return exitcodes.OK
    try:
        save_machine(machine, args.output)
    except OSError as err:
        print(f"kldload-tui: cannot write {args.output}: {err}", file=sys.stderr)
        return exitcodes.USAGE
    return exitcodes.OK
