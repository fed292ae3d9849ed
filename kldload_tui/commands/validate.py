"""`kldload-tui validate FILE...`: check answers files without touching anything."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from kldload_tui import exitcodes

NAME = "validate"
HELP = "check answers files: a summary when valid, every error when not"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `validate`."""
    parser.add_argument("files", nargs="+", metavar="FILE", type=Path, help="answers.env files")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--quiet", "-q", action="store_true", help="print errors only")


def run(args: argparse.Namespace) -> int:
    """Check each file; exit 0 all valid, 1 any invalid, 2 any unreadable."""
    from kldload_tui.backend.answers.file import UnreadableAnswers, load_answers
    from kldload_tui.backend.answers.summary import summarize
    from kldload_tui.problem_print import print_problems

    status = exitcodes.OK
    report: list[dict[str, Any]] = []
    for path in args.files:
        try:
            result = load_answers(path)
        except UnreadableAnswers as err:
            status = max(status, exitcodes.USAGE)
            report.append({"file": str(path), "valid": False, "unreadable": str(err)})
            if not args.json:
                print(f"{err}", file=sys.stderr)
            continue
        summary = summarize(result.answers) if result.answers else {}
        if not result.ok:
            status = max(status, exitcodes.INVALID)
        report.append({
            "file": str(path),
            "valid": result.ok,
            "summary": summary,
            "errors": [p.to_json() for p in result.errors],
            "warnings": [p.to_json() for p in result.warnings],
        })
        if args.json:
            continue
        print_problems(result.errors)
        if result.ok and not args.quiet:
            print(f"{path}: valid")
            for label, text in summary.items():
                print(f"  {label:<9} {text}")
        elif not result.ok:
            n = len(result.errors)
            print(f"{path}: invalid ({n} error{'s' if n != 1 else ''})", file=sys.stderr)
        if not args.quiet:
            print_problems(result.warnings)
    if args.json:
        json.dump({"valid": status == exitcodes.OK, "files": report}, sys.stdout, indent=2)
        print()
    return status
