"""`kldload-tui disks`: the machine's disks and whether each may be installed to."""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import TYPE_CHECKING, Any

from kldload_tui import exitcodes

if TYPE_CHECKING:
    from rich.text import Text

    from kldload_tui.backend.machine.disks import Verdict
    from kldload_tui.backend.machine.model import Disk, Machine

NAME = "disks"
HELP = "list disks: size, by-id path, model, serial, transport, installable or why not"

PROFILES = ("desktop", "server", "core")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)(i?B)?\s*$", re.IGNORECASE)
WIPE_NOTE = ("A disk that is not empty is wiped only with KLDLOAD_FORCE_WIPE=1\n"
             "(headless) or a typed confirmation (TUI).")


def parse_size(text: str) -> int:
    """`16G`/`16GiB` (binary, as lsblk), `500GB` (decimal) or plain bytes -> bytes."""
    m = _SIZE.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 16G, 500GB or bytes)")
    number, unit, suffix = float(m.group(1)), m.group(2).upper(), m.group(3) or ""
    base = 1000 if suffix.upper() == "B" and unit else 1024
    return int(number * base ** " KMGTP".index(unit or " "))


def add_machine_arguments(parser: argparse.ArgumentParser) -> None:
    """`--machine` and `--source`, shared with `probe`."""
    parser.add_argument("--machine", metavar="FILE",
                        help="use this machine description (JSON, or the name of a bundled "
                             "one such as one-disk-vm) instead of probing")
    parser.add_argument("--source", choices=("auto", "udev", "lsblk"), default="auto",
                        help="where probed disk facts come from (default: udev when its "
                             "daemon runs, else lsblk and blkid)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `disks`."""
    add_machine_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--profile", choices=PROFILES, default="server",
                        help="judge sizes against this profile's minimum (default: server)")
    parser.add_argument("--min-size", type=parse_size, metavar="SIZE",
                        help="minimum disk size instead of the profile's (16G, 500GB, bytes)")


def load_machine_or_probe(args: argparse.Namespace) -> Machine | int:
    """The machine to work on, or an exit status after printing why there is none
    (an unusable description is left to the CLI, which reports it for every command)."""
    from kldload_tui.backend.engine.runner import CommandError
    from kldload_tui.backend.machine.probe import machine_for

    try:
        return machine_for(args.machine, source=args.source)
    except CommandError as err:
        print(f"kldload-tui: cannot probe this machine: {err}", file=sys.stderr)
        return exitcodes.INVALID


def _verdict_lines(verdict: Verdict) -> list[str]:
    if not verdict.installable:
        return [f"no: {reason}" for reason in verdict.reasons]
    if verdict.empty:
        return ["installable, empty"]
    return ["installable, NOT empty: " + "; ".join(verdict.contents)]


def _details(disk: Disk, verdict: Verdict) -> Text:
    from rich.text import Text

    from kldload_tui.backend.machine.model import BY_ID_DIR

    model = disk.model
    if disk.vendor and model and not model.startswith(disk.vendor):
        model = f"{disk.vendor} {model}"
    first = "  ".join(x for x in (model, disk.serial) if x) or "-"
    if disk.by_id:
        name = disk.by_id.removeprefix(BY_ID_DIR)
        by_id = f"{name} (synthesised)" if disk.by_id_synthesised else name
    else:
        by_id = "no by-id name"
    text = Text(f"{first}\n{by_id}\n")
    text.append("\n".join(_verdict_lines(verdict)),
                style="green" if verdict.installable else "red")
    return text


def render_table(machine: Machine, verdicts: dict[str, Verdict], min_size: int,
                 profile: str) -> str:
    """The people's view: one row per disk, at most 80 columns wide."""
    from rich.console import Console
    from rich.table import Table

    from kldload_tui.backend.machine.disks import size_text

    tty = sys.stdout.isatty()
    width = min(Console().width, 80) if tty else 80
    # Plain text on a pipe or serial log: no colour, no box glyphs.
    console = Console(width=width, no_color=True if not tty else None, highlight=False,
                      emoji=False, force_terminal=tty)
    table = Table(box=None, header_style="bold" if tty else "", pad_edge=False)
    table.add_column("DEVICE", no_wrap=True)
    table.add_column("SIZE", justify="right", no_wrap=True)
    table.add_column("TRAN", no_wrap=True)
    table.add_column("MODEL SERIAL / BY-ID / INSTALL", overflow="fold")
    for index, disk in enumerate(machine.disks):
        verdict = verdicts[disk.path]
        if index:
            table.add_row()
        table.add_row(disk.name, size_text(disk.size_bytes), disk.transport or "-",
                      _details(disk, verdict))
    with console.capture() as capture:
        console.print(table)
    count = sum(v.installable for v in verdicts.values())
    # rich pads every cell to the column width; trailing blanks only clutter logs.
    lines = [line.rstrip() for line in capture.get().splitlines()]
    lines.append("")
    lines.append(f"{count} of {len(verdicts)} disks installable "
                 f"(profile {profile}: at least {size_text(min_size)}).")
    lines.append(WIPE_NOTE)
    return "\n".join(lines) + "\n"


def report(machine: Machine, verdicts: dict[str, Verdict], min_size: int,
           profile: str) -> dict[str, Any]:
    """The `--json` document: every disk with its verdict."""
    from dataclasses import asdict

    return {
        "machine": machine.description or machine.hostname,
        "profile": profile,
        "min_size_bytes": min_size,
        "live_devices": machine.live_devices,
        "seed_device": machine.seed.device if machine.seed else None,
        "disks": [{**disk.model_dump(mode="json"), "verdict": asdict(verdicts[disk.path])}
                  for disk in machine.disks],
    }


def run(args: argparse.Namespace) -> int:
    """List disks; exit 0 when listed, 1 when this machine could not be probed."""
    from kldload_tui.backend.machine.disks import PROFILE_MIN_SIZE_BYTES, classify_machine

    machine = load_machine_or_probe(args)
    if isinstance(machine, int):
        return machine
    min_size = args.min_size if args.min_size is not None else PROFILE_MIN_SIZE_BYTES[args.profile]
    verdicts = classify_machine(machine, min_size_bytes=min_size)
    if args.json:
        json.dump(report(machine, verdicts, min_size, args.profile), sys.stdout, indent=2)
        print()
    else:
        sys.stdout.write(render_table(machine, verdicts, min_size, args.profile))
    return exitcodes.OK
