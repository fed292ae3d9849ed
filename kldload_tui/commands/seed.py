"""`kldload-tui seed find` and `kldload-tui seed make`: where the answers come from.

`find` runs discovery as an install would (explicit --answers, the kernel
command line, a seed disk), says what it found and checks it. `make` writes a
seed that discovery finds: a FAT or ISO9660 image, or a whole device as FAT.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kldload_tui import exitcodes
from kldload_tui.commands.disks import parse_size

if TYPE_CHECKING:
    from kldload_tui.backend.answers.file import AnswersResult

NAME = "seed"
HELP = "find the answers as an install would (seed find), or write a seed disk (seed make)"

FIND_EPILOG = """\
Order: --answers PATH|URL, then the kernel command line (kldload.answers=URL,
else KLDLOAD_ANSWERS_URL=URL), then a seed disk: a block device labelled
KLDLOADSEED or KLDLOAD-SEED (any case) holding answers.env. URLs may hold
${mac}, ${mac_dashed}, ${serial}, ${uuid} and ${hostname}.
Exit 0 found and valid, 1 invalid or two seed disks, 2 none found or unreadable,
3 the --machine description unusable.
"""
MAKE_EPILOG = """\
An image is FAT without a partition table (label KLDLOADSEED), or ISO9660
with --iso (label KLDLOAD-SEED). A device becomes one FAT filesystem over the
whole device. A device that is not removable or holds data needs --force and
typing its name (or --yes-i-know). Mounted devices and the running system's
disk are refused. Exit 0 written and verified, 1 invalid answers or a failed
write, 2 refused, unreadable or bad usage.
"""


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return value


def _retries(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a count of retries (0 or more)")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`seed find` and `seed make`, each with its own options."""
    sub = parser.add_subparsers(dest="seed_action", metavar="ACTION")
    find = sub.add_parser("find", help="find and check the answers as an install would",
                          epilog=FIND_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    find.add_argument("--machine", metavar="FILE",
                      help="use this machine description (its seed, kernel_cmdline, NICs, DMI) "
                           "instead of this machine")
    find.add_argument("--answers", metavar="PATH|URL",
                      help="answers to use before anything else: a file, a URL, or a seed "
                           "device or image")
    find.add_argument("--json", action="store_true", help="print one JSON document")
    find.add_argument("--timeout", type=_positive_seconds, default=10.0, metavar="SECONDS",
                      help="the deadline of each attempt to fetch a URL: connect, headers "
                           "and body together (default: 10)")
    find.add_argument("--retries", type=_retries, default=3, metavar="N",
                      help="retries after a connection error, timeout or 5xx (default: 3)")

    make = sub.add_parser("make", help="write a seed image or device holding answers.env",
                          epilog=MAKE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    make.add_argument("--answers", required=True, type=Path, metavar="FILE",
                      help="the answers file; it must be valid")
    where = make.add_mutually_exclusive_group(required=True)
    where.add_argument("--image", type=Path, metavar="OUT.img", help="write an image file")
    where.add_argument("--device", metavar="/dev/sdX", help="write onto this block device")
    make.add_argument("--size", type=parse_size, metavar="SIZE",
                      help="FAT image size (default: 16M)")
    make.add_argument("--iso", action="store_true", help="an ISO9660 image instead of FAT")
    make.add_argument("--force", action="store_true",
                      help="overwrite an existing image; write a device that is not removable "
                           "or holds data")
    make.add_argument("--yes-i-know", action="store_true",
                      help="with --force: skip typing the device name (scripts, no terminal)")


def run(args: argparse.Namespace) -> int:
    """Dispatch to `find` or `make`."""
    if args.seed_action == "find":
        return _find(args)
    if args.seed_action == "make":
        return _make(args)
    print("kldload-tui seed: choose an action: find or make (see --help)", file=sys.stderr)
    return exitcodes.USAGE


def _print_result(name: str, result: AnswersResult, summary: dict[str, str]) -> None:
    from kldload_tui.problem_print import print_problems

    print_problems(result.errors)
    if result.ok:
        print(f"{name}: valid")
        for label, text in summary.items():
            print(f"  {label:<9} {text}")
    else:
        n = len(result.errors)
        print(f"{name}: invalid ({n} error{'s' if n != 1 else ''})", file=sys.stderr)
    print_problems(result.warnings)


def _find(args: argparse.Namespace) -> int:
    from kldload_tui.backend.answers.summary import summarize
    from kldload_tui.backend.machine.model import resolve_machine
    from kldload_tui.backend.seed.find import (
        AmbiguousSeeds,
        NoAnswersFound,
        SeedError,
        find_answers,
        source_json,
    )

    # Without a description, discovery looks at this machine itself: probing it first
    # would make its seed disk one "from the machine description".
    machine = resolve_machine(args.machine) if args.machine is not None else None
    try:
        found = find_answers(args.answers, machine=machine, timeout=args.timeout,
                             retries=max(args.retries, 0))
    except SeedError as err:
        status = exitcodes.INVALID if isinstance(err, AmbiguousSeeds) else exitcodes.USAGE
        if args.json:
            json.dump({"found": False, "valid": False,
                       "ambiguous": isinstance(err, AmbiguousSeeds),
                       "devices": getattr(err, "devices", []),
                       "not_found": isinstance(err, NoAnswersFound), "error": err.lines},
                      sys.stdout, indent=2)
            print()
        else:
            for line in err.lines:
                print(line, file=sys.stderr)
        return status
    result = found.result
    summary = summarize(result.answers) if result.answers else {}
    if args.json:
        doc: dict[str, Any] = {
            "found": True, "valid": result.ok, "source": source_json(found.source),
            "size": len(found.data), "sha256": hashlib.sha256(found.data).hexdigest(),
            "summary": summary, "errors": [p.to_json() for p in result.errors],
            "warnings": [p.to_json() for p in result.warnings], "notes": list(found.notes)}
        json.dump(doc, sys.stdout, indent=2)
        print()
    else:
        print(f"answers: {found.source.describe()}")
        for note in found.notes:
            print(f"note: {note}", file=sys.stderr)
        _print_result(found.source.name, result, summary)
    return exitcodes.OK if result.ok else exitcodes.INVALID


def _confirmed(device: str, resolved: str, contents: list[str]) -> bool:
    """Ask on the terminal: typing the device name is the consent."""
    print(f"Writing a seed onto {device} erases everything on it:", file=sys.stderr)
    for line in contents or ["(no partition table or filesystem found)"]:
        print(f"  {line}", file=sys.stderr)
    try:
        typed = input(f"Type {device} to erase it, anything else to stop: ").strip()
    except EOFError:
        return False
    return typed in (device, resolved)


def _make(args: argparse.Namespace) -> int:
    from kldload_tui.backend.answers.file import (
        UnreadableAnswers,
        parse_answers_bytes,
        read_answers_bytes,
    )
    from kldload_tui.backend.engine.launcher import tool_runner
    from kldload_tui.backend.engine.runner import CommandError
    from kldload_tui.backend.seed.fs import (
        DEFAULT_IMAGE_BYTES,
        FAT_LABEL,
        ISO_LABEL,
        SeedTargetRefused,
        SeedWriteError,
        check_seed_target,
        make_fat_image,
        make_iso_image,
        write_fat_device,
    )
    from kldload_tui.problem_print import print_problems

    if args.iso and (args.device or args.size is not None):
        print("kldload-tui seed make: --iso makes an image only, and its size follows its "
              "content: drop --device/--size", file=sys.stderr)
        return exitcodes.USAGE
    try:
        data = read_answers_bytes(args.answers)
    except UnreadableAnswers as err:
        print(str(err), file=sys.stderr)
        return exitcodes.USAGE
    result = parse_answers_bytes(data, source=str(args.answers))
    if not result.ok:
        _print_result(str(args.answers), result, {})
        print("nothing written", file=sys.stderr)
        return exitcodes.INVALID
    print_problems(result.warnings)
    runner = tool_runner()
    try:
        if args.image is not None:
            if args.iso:
                make_iso_image(args.image, data, runner, force=args.force)
            else:
                make_fat_image(args.image, data, runner, force=args.force,
                               size_bytes=args.size or DEFAULT_IMAGE_BYTES)
            kind = (f"ISO9660 seed, label {ISO_LABEL}" if args.iso
                    else f"FAT seed, label {FAT_LABEL}")
            print(f"{args.image}: {kind}, answers.env written and read back identical")
            return exitcodes.OK
        target = check_seed_target(args.device, runner)
        for reason in target.refusals:
            print(f"refused: {reason}", file=sys.stderr)
        if target.refusals:
            return exitcodes.USAGE
        if target.consent and not args.force:
            for reason in target.consent:
                print(f"needs --force: {reason}", file=sys.stderr)
            return exitcodes.USAGE
        if target.consent and not args.yes_i_know:
            if not sys.stdin.isatty():
                print(f"no terminal to confirm on: add --yes-i-know to erase {args.device}",
                      file=sys.stderr)
                return exitcodes.USAGE
            if not _confirmed(args.device, target.device, target.contents):
                print("not confirmed: nothing written", file=sys.stderr)
                return exitcodes.USAGE
        write_fat_device(target.device, data, runner, partitions=target.partitions)
        print(f"{args.device}: FAT seed, label {FAT_LABEL}, answers.env written and read "
              "back identical")
        return exitcodes.OK
    except SeedTargetRefused as err:
        print(f"kldload-tui seed make: {err}", file=sys.stderr)
        return exitcodes.USAGE
    except (SeedWriteError, CommandError) as err:
        print(f"kldload-tui seed make: {err}", file=sys.stderr)
        return exitcodes.INVALID
