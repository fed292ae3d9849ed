"""`kldload-tui export SOURCE FORMAT DIR`: a disk as a golden image (the seed's kexport).

The image is written by the same function as an install's export phase
(`kldload_tui.backend.export.image.export_image`), driven by
`kldload_tui.backend.export.kexport`, which adds what an operator at a shell
needs around it: the source is checked first (not in use, no imported pool,
the whole of its pool), the room is judged before a byte is written, and the
image is read back and hashed. This module parses, names the image, renders
the progress and prints the result.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kldload_tui import exitcodes

if TYPE_CHECKING:
    from kldload_tui.backend.answers.model import Answers, ExportFormat
    from kldload_tui.backend.export.kexport import ExportDone
    from kldload_tui.backend.export.naming import ChosenName

NAME = "export"
HELP = "write a disk or raw image as a golden image: qcow2, vmdk, vhd, ova or raw"
FORMAT_CHOICES = ("qcow2", "vmdk", "vhd", "ova", "raw")
EPILOG = ("The image is named kldload-<distro>-<profile>.<ext>; --name, else $KEXPORT_NAME, "
          "else the distro and profile of --answers FILE, else debian and server name it. "
          "Exit 0 written and verified; 1 the export or its read-back failed; 2 refused "
          "before writing (bad usage, source in use or not a whole pool, no room).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `export`."""
    parser.epilog = EPILOG
    parser.add_argument("source", metavar="SOURCE",
                        help="a whole disk (/dev/sdb, /dev/disk/by-id/...) or a raw image file; "
                        "a ZFS pool's disk only when it holds the whole pool (single or mirror)")
    parser.add_argument("format", metavar="FORMAT", choices=FORMAT_CHOICES,
                        help="qcow2 (KVM, Proxmox, OpenStack), vmdk (VMware), vhd (Hyper-V, "
                        "Azure), ova (VMware, VirtualBox) or raw")
    parser.add_argument("dir", metavar="DIR", type=Path,
                        help="where the image goes (created, mode 0700, if missing)")
    parser.add_argument("--name", metavar="NAME",
                        help="the image's name, with or without its extension")
    parser.add_argument("--answers", metavar="FILE", type=Path,
                        help="the answers the disk was installed from: their distro and "
                        "profile name the image and the OVA's guest OS")
    parser.add_argument("--json", action="store_true",
                        help="progress and the result as JSON lines")
    parser.add_argument("--no-room-check", action="store_true",
                        help="write even when DIR may be too small (a disk counts whole: its "
                        "unused blocks are not known without reading it all); a partial image "
                        "is removed if the space runs out")
    parser.add_argument("--log", metavar="PATH", type=Path,
                        help="log every command and its output here")


def _fail(message: str, status: int) -> int:
    print(f"kldload-tui: {message}", file=sys.stderr)
    return status


def _answers(path: Path | None) -> Answers | int | None:
    """The answers of --answers, None without it, or an exit status (problems printed)."""
    if path is None:
        return None
    from kldload_tui.backend.answers.file import UnreadableAnswers, load_answers
    from kldload_tui.problem_print import print_problems

    try:
        result = load_answers(path)
    except UnreadableAnswers as err:
        return _fail(str(err), exitcodes.USAGE)
    print_problems(result.problems)
    if result.answers is None:
        return _fail(f"{path}: invalid answers; nothing was exported", exitcodes.INVALID)
    return result.answers


def _say(args: argparse.Namespace, text: str) -> None:
    # People's lines: on stdout as text, on stderr beside JSON lines.
    print(text, file=sys.stderr if args.json else sys.stdout, flush=True)


def run(args: argparse.Namespace) -> int:
    """Export; 0 written and verified, 1 failed, 2 refused before writing."""
    from kldload_tui.backend.answers.model import ExportFormat
    from kldload_tui.backend.export.naming import choose_name

    answers = _answers(args.answers)
    if isinstance(answers, int):
        return answers
    fmt = ExportFormat(args.format)
    try:
        name = choose_name(fmt, flag=args.name, env=os.environ.get("KEXPORT_NAME"),
                           answers=answers, answers_path=str(args.answers or ""))
    except ValueError as err:
        return _fail(str(err), exitcodes.USAGE)
    if args.dir.exists() and not args.dir.is_dir():
        return _fail(f"{args.dir} is not a directory", exitcodes.USAGE)
    out = args.dir / name.file
    if os.path.realpath(out) == os.path.realpath(args.source):
        return _fail(f"{out} is the source itself: choose another DIR or --name",
                     exitcodes.USAGE)
    return _export(args, answers, fmt, name, out)


def _export(args: argparse.Namespace, answers: Answers | None, fmt: ExportFormat,
            name: ChosenName, out: Path) -> int:
    from kldload_tui.backend.export.formats import ExportError, ExportRefused
    from kldload_tui.backend.export.kexport import ExportRequest, kexport
    from kldload_tui.backend.export.room import RoomRefused
    from kldload_tui.progress_bar import progress_renderer

    request = ExportRequest(args.source, fmt, out, name.origin, check_room=not args.no_room_check,
                            log_path=args.log)
    if answers is not None:
        request = replace(request, distro=answers.distro)
    show = progress_renderer(json_lines=args.json)
    try:
        try:
            done = kexport(request, sink=show, tell=lambda text: _say(args, text))
        finally:
            show.close()  # a bar's line ends before anything else is printed
    except RoomRefused as err:
        return _fail(f"refused: {err}. Free some space or choose another DIR; for a disk "
                     "that is mostly empty, --no-room-check writes anyway", exitcodes.USAGE)
    except ExportRefused as err:
        return _fail(f"refused: {err}", exitcodes.USAGE)
    except ExportError as err:
        return _fail(str(err), exitcodes.INVALID)
    _report(args, done)
    return exitcodes.OK


def _report(args: argparse.Namespace, done: ExportDone) -> None:
    from kldload_tui.backend.machine.disks import size_text

    for warning in done.warnings:
        print(f"kldload-tui: warning: {warning}", file=sys.stderr)
    if args.json:
        result: dict[str, Any] = {
            "type": "exported", "source": done.source, "image": str(done.image),
            "format": done.fmt.value, "bytes": done.size_bytes, "disk_bytes": done.disk_bytes,
            "sha256": done.sha256, "verified": True, "warnings": done.warnings}
        print(json.dumps(result), flush=True)
        return
    print(f"written and verified: {done.fmt.value}, {size_text(done.size_bytes)} for a "
          f"{size_text(done.disk_bytes)} disk; its contents match the disk")
    # sha256sum's format, so that `sha256sum -c` reads the line back.
    print(f"{done.sha256}  {done.image}")
