"""`kldload-tui --headless`: find the answers, check them, install, power off.

What an unattended machine prints must be enough for the person who reads
its serial console later: where the answers came from, what will be wiped
(by-id, size, model, what is on it), every phase, and on failure the phase,
command, exit code and log path. The exit status is 0 only when every phase
verified (or, with --dry-run, when the whole plan went through).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from kldload_tui import exitcodes

if TYPE_CHECKING:
    from kldload_tui.backend.engine.launcher import InstallRun, Launch


def _err(text: str) -> None:
    print(f"kldload-tui: {text}", file=sys.stderr)


def run_headless(args: argparse.Namespace) -> int:
    """Install from the answers found; see the module docstring."""
    from kldload_tui.backend.answers.summary import summarize
    from kldload_tui.backend.engine.launcher import Launch
    from kldload_tui.backend.machine.probe import machine_for
    from kldload_tui.backend.machine.targets import check_targets
    from kldload_tui.backend.seed.find import NoAnswersFound, SeedError, find_answers, record_seed
    from kldload_tui.event_render import renderer_for
    from kldload_tui.problem_print import print_problems

    described = args.machine is not None
    machine = machine_for(args.machine)
    try:
        found = find_answers(args.answers, machine=machine if described else None)
    except SeedError as err:
        missing = isinstance(err, NoAnswersFound)
        if missing and sys.stdin.isatty() and sys.stdout.isatty():
            print(f"{err}\nno answers: starting the TUI", file=sys.stderr)
            from kldload_tui.tui import run_tui

            return run_tui(args)
        _err(str(err))
        return exitcodes.USAGE if missing else exitcodes.INVALID
    result = found.result
    print(f"answers: {found.source.describe()}")
    print_problems(result.problems)
    where = found.source.describe()
    if result.answers is None:
        _err(f"the answers are invalid ({len(result.errors)} error(s)); nothing was touched")
        return exitcodes.INVALID
    answers = result.answers
    # The seed disk must never be a target: the machine must know which it is.
    machine = record_seed(machine, found.source)

    for label, text in summarize(answers).items():
        print(f"  {label:<9} {text}")
    check = check_targets(answers, machine, consent=answers.force_wipe)
    if not check.ok:
        print_problems(result.locate(p) for p in check.problems)
        _err(f"refusing to install from {where}; nothing was touched")
        return exitcodes.INVALID
    for t in check.targets:
        print(f"  wipe      {t.describe()}")

    launch = Launch(answers, machine, dry_run=args.dry_run, consent=answers.force_wipe,
                    log=Path(args.log) if args.log else None, described=described)
    with launch.start(renderer_for(json_lines=args.json_events)) as install:
        if not install.run().ok:
            return exitcodes.INVALID
        return _finish_action(launch, install)


def _finish_action(launch: Launch, install: InstallRun) -> int:
    """Reboot or power off as answered; a dry run only says what it would do."""
    from kldload_tui.backend.engine.launcher import FINISH_DELAY_SECONDS, finish_action
    from kldload_tui.backend.engine.runner import CommandError

    step = launch.finish_step()
    if step is None:
        return exitcodes.OK
    if not step.execute:
        print(f"kldload: would {step.action} now (dry run)")
        return exitcodes.OK
    print(f"kldload: {step.action} in {FINISH_DELAY_SECONDS} seconds")
    try:
        # Through the install's runner: logged, and the log is still open.
        finish_action(step, runner=install.runner, delay=FINISH_DELAY_SECONDS)
    except CommandError as err:
        _err(f"installed and verified, but {step.action} failed: {err}")
    return exitcodes.OK
