"""`kldload-tui plan FILE`: the exact commands and files of an install, executing nothing."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from kldload_tui import exitcodes

if TYPE_CHECKING:
    from kldload_tui.backend.machine.model import Machine

NAME = "plan"
HELP = "print every command and file of an install, in order, executing nothing"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `plan`."""
    parser.add_argument("answers", metavar="FILE", type=Path, help="answers.env")
    parser.add_argument("--machine", metavar="FILE|NAME",
                        help="plan for a machine description instead of this machine")
    parser.add_argument("--darksite", metavar="DIR", type=Path,
                        help="plan an install from this local apt repository")
    parser.add_argument("--json", action="store_true", help="the plan as JSON")


def run(args: argparse.Namespace) -> int:
    """Print the plan; exit 1 when the answers are invalid or the install would refuse."""
    from kldload_tui.backend.answers.file import UnreadableAnswers, load_answers
    from kldload_tui.backend.distros.debian import darksite_path
    from kldload_tui.backend.engine.core import InstallError, InstallOptions, plan_install
    from kldload_tui.backend.machine.model import MachineFileError
    from kldload_tui.backend.machine.targets import check_targets

    try:
        result = load_answers(args.answers)
    except UnreadableAnswers as err:
        print(err, file=sys.stderr)
        return exitcodes.USAGE
    for p in result.problems:
        print(("" if p.severity == "error" else "warning: ") + p.render(), file=sys.stderr)
    if result.answers is None:
        return exitcodes.INVALID
    answers = result.answers
    try:
        machine = _machine(args.machine)
    except MachineFileError as err:
        print(err, file=sys.stderr)
        return exitcodes.USAGE if err.unreadable else exitcodes.INVALID
    check = check_targets(answers, machine, consent=answers.force_wipe)
    if not check.ok:
        for p in check.problems:
            print(result.locate(p).render(), file=sys.stderr)
        print("kldload-tui: the install would refuse these disks; nothing was planned",
              file=sys.stderr)
        return exitcodes.INVALID
    options = InstallOptions(dry_run=True, consent_to_wipe=answers.force_wipe,
                             darksite=args.darksite or darksite_path(), reprobe=False)
    try:
        plan = plan_install(answers, machine, options=options)
    except InstallError as err:
        print(f"kldload-tui: the install would stop in preflight:\n{err}", file=sys.stderr)
        return exitcodes.INVALID
    if args.json:
        doc = json.loads(plan.to_json())
        doc["answers"] = str(args.answers)
        print(json.dumps(doc, indent=2))
    else:
        sys.stdout.write(plan.render_text())
    return exitcodes.OK


def _machine(spec: str | None) -> Machine:
    from kldload_tui.backend.machine.model import resolve_machine
    from kldload_tui.backend.machine.probe import probe_machine

    return resolve_machine(spec) if spec else probe_machine()
