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
    from kldload_tui.backend.engine.runner import Runner


def _err(text: str) -> None:
    print(f"kldload-tui: {text}", file=sys.stderr)


def run_headless(args: argparse.Namespace) -> int:
    """Install from the answers found; see the module docstring."""
    from kldload_tui.backend.answers.summary import summarize
    from kldload_tui.backend.distros.debian import darksite_path
    from kldload_tui.backend.engine.core import DEFAULT_LOG, InstallOptions, run_install
    from kldload_tui.backend.engine.runner import LocalRunner, RecordingRunner
    from kldload_tui.backend.machine.model import MachineFileError, SeedDescription, resolve_machine
    from kldload_tui.backend.machine.probe import probe_machine
    from kldload_tui.backend.machine.targets import check_targets
    from kldload_tui.backend.seed.find import NoAnswersFound, SeedDisk, SeedError, find_answers
    from kldload_tui.event_render import renderer_for

    probe_runner = LocalRunner()
    try:
        machine = resolve_machine(args.machine) if args.machine else probe_machine(probe_runner)
    except MachineFileError as err:
        _err(str(err))
        return exitcodes.USAGE if err.unreadable else exitcodes.INVALID
    try:
        found = find_answers(args.answers, machine=machine if args.machine else None,
                             runner=probe_runner)
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
    for p in result.problems:
        prefix = "" if p.severity == "error" else "warning: "
        print(prefix + p.render(), file=sys.stderr if p.severity == "error" else sys.stdout)
    where = found.source.describe()
    if result.answers is None:
        _err(f"the answers are invalid ({len(result.errors)} error(s)); nothing was touched")
        return exitcodes.INVALID
    answers = result.answers
    if isinstance(found.source, SeedDisk) and machine.seed is None:
        # The seed disk must never be a target: the machine must know which it is.
        machine = machine.model_copy(update={"seed": SeedDescription(
            device=found.source.device, label=found.source.label,
            filesystem=found.source.filesystem)})

    for label, text in summarize(answers).items():
        print(f"  {label:<9} {text}")
    check = check_targets(answers, machine, consent=answers.force_wipe)
    if not check.ok:
        for p in check.problems:
            print(result.locate(p).render(), file=sys.stderr)
        _err(f"refusing to install from {where}; nothing was touched")
        return exitcodes.INVALID
    for t in check.targets:
        print(f"  wipe      {t.describe()}")

    # A dry run changes nothing, a log in /tmp included, unless --log asks for one.
    log = Path(args.log) if args.log else (None if args.dry_run else DEFAULT_LOG)
    render = renderer_for(json_lines=args.json_events)
    runner: Runner = (RecordingRunner if args.dry_run else LocalRunner)(log_path=log, sink=render)
    options = InstallOptions(dry_run=args.dry_run, consent_to_wipe=answers.force_wipe,
                             log_path=log, darksite=darksite_path(),
                             reprobe=not args.machine)
    with runner:
        outcome = run_install(answers, machine, runner=runner, sink=render, options=options)
        if not outcome.ok:
            return exitcodes.INVALID
        return _finish_action(answers.finish_action.value, runner, dry_run=args.dry_run)


def _finish_action(action: str, runner: Runner, *, dry_run: bool) -> int:
    """Reboot or power off as answered; a dry run only says what it would do."""
    from kldload_tui.backend.engine.runner import CommandError
    if action == "none":
        return exitcodes.OK
    if dry_run:
        print(f"kldload: would {action} now (dry run)")
        return exitcodes.OK
    print(f"kldload: {action} in 5 seconds")
    try:
        runner.run(["sleep", "5"])
        runner.run(["systemctl", action])
    except CommandError as err:
        _err(f"installed and verified, but {action} failed: {err}")
    return exitcodes.OK
