"""`kldload-tui plan FILE`: the exact commands and files of an install, executing nothing."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kldload_tui import exitcodes

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
    from kldload_tui.backend.engine.core import InstallError
    from kldload_tui.backend.engine.launcher import Launch
    from kldload_tui.backend.machine.probe import machine_for
    from kldload_tui.backend.machine.targets import check_targets
    from kldload_tui.problem_print import print_problems

    try:
        result = load_answers(args.answers)
    except UnreadableAnswers as err:
        print(err, file=sys.stderr)
        return exitcodes.USAGE
    print_problems(result.problems)
    if result.answers is None:
        return exitcodes.INVALID
    answers = result.answers
    machine = machine_for(args.machine)
    check = check_targets(answers, machine, consent=answers.force_wipe)
    if not check.ok:
        print_problems(result.locate(p) for p in check.problems)
        print("kldload-tui: the install would refuse these disks; nothing was planned",
              file=sys.stderr)
        return exitcodes.INVALID
    launch = Launch(answers, machine, dry_run=True, consent=answers.force_wipe,
                    described=args.machine is not None, darksite=args.darksite)
    try:
        plan = launch.plan()
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
