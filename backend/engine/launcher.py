"""The one way an install starts, whichever front end asks: headless, the TUI, `plan`, `serve`.

A front end says what it has: the answers, the machine, dry run or not, the
operator's consent to wipe, a log if one was asked for, and whether the
machine is only a description. The launcher decides the rest, the same way for
all of them: the runner (recording for a dry run), where the log goes, the
engine's options, the live medium's darksite, and the reboot or power off at
the end. Events go to the caller's sink; the caller stops an install between
phases through a `threading.Event`. Front ends never build a runner: they get
one from here (or from the probing and seed helpers of the backend).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Self

from kldload_tui.backend.answers.model import Answers, FinishAction
from kldload_tui.backend.distros import distro_backend
from kldload_tui.backend.engine import install_lock
from kldload_tui.backend.engine.core import (
    DEFAULT_LOG,
    InstallOptions,
    InstallOutcome,
    plan_install,
    run_install,
)
from kldload_tui.backend.engine.events import EventSink
from kldload_tui.backend.engine.live_medium import darksite_path
from kldload_tui.backend.engine.runner import LocalRunner, RecordingRunner, Runner
from kldload_tui.backend.machine.model import Machine

# Unattended, the console's last lines stay readable this long before the machine goes.
FINISH_DELAY_SECONDS = 5


class Engine(Protocol):
    """`run_install`'s shape: what `Launch.start` runs (tests script their own)."""

    def __call__(self, answers: Answers, machine: Machine, *, runner: Runner, sink: EventSink,
                 options: InstallOptions, cancel: threading.Event | None = None
                 ) -> InstallOutcome: ...


class LaunchRefused(Exception):
    """The install must not start as asked; nothing was touched."""


@dataclass(frozen=True)
class Launch:
    """An install as a front end asks for it.

    `consent`: disks that hold data may be wiped (typed on Review in the TUI;
    `KLDLOAD_FORCE_WIPE=1` headless). `log`: the log asked for (`--log`); None
    leaves it to the rule of `log_path`. `described`: the machine comes from a
    description (`--machine`, `--demo`) rather than a probe of this one.
    `darksite`: a local apt repository to install from; None takes the live
    medium's, when it has one.
    """

    answers: Answers
    machine: Machine
    dry_run: bool
    consent: bool
    log: Path | None = None
    described: bool = False
    darksite: Path | None = None

    @property
    def log_path(self) -> Path | None:
        """The log asked for; else the system's install log. A dry run changes
        nothing, a log file included: it keeps one only when asked (its record is
        the plan, exactly what `kldload-tui plan` prints)."""
        if self.log is not None:
            return self.log
        return None if self.dry_run else DEFAULT_LOG

    def options(self) -> InstallOptions:
        """The engine's options for this install."""
        # `reprobe` keeps its default, True: a real run always probes its disks again
        # (`start` refuses a real run on a description), and a dry run never reads it.
        # The live medium's darksite, if it is in this distribution's repository format.
        marker = distro_backend(self.answers).darksite_marker
        found = darksite_path(marker=marker) if marker else None
        return InstallOptions(dry_run=self.dry_run, consent_to_wipe=self.consent,
                              log_path=self.log_path, darksite=self.darksite or found)

    def start(self, sink: EventSink, *, engine: Engine | None = None) -> InstallRun:
        """The runner for this install, ready to `run`; close it (or use `with`) after.

        Raises `LaunchRefused` for a real install on a described machine (what a
        real install wipes is decided by the disks found here, never by a file),
        and while another real install runs on this machine, from any front end:
        a real install holds the machine's install lock until `close`.
        """
        if self.described and not self.dry_run:
            raise LaunchRefused("a real install probes the machine it wipes; a machine "
                                "description is only for dry runs and plans")
        if self.dry_run:
            return InstallRun(self, RecordingRunner(log_path=self.log_path, sink=sink), sink,
                              engine or run_install)
        lock = install_lock.InstallLock(install_lock.INSTALL_LOCK)
        try:
            lock.acquire()
        except install_lock.InstallBusy as exc:
            raise LaunchRefused(str(exc)) from None
        try:
            runner = LocalRunner(log_path=self.log_path, sink=sink)
        except BaseException:
            lock.release()
            raise
        return InstallRun(self, runner, sink, engine or run_install, lock)

    def plan(self) -> RecordingRunner:
        """Every command and file of this install, executing nothing (`kldload-tui plan`).

        Raises `InstallError` when the install would stop in preflight.
        """
        return plan_install(self.answers, self.machine, options=self.options())

    def finish_step(self, action: FinishAction | str | None = None) -> FinishStep | None:
        """What ends the install: `action` (the operator's choice), else the
        answers' KLDLOAD_FINISH_ACTION; None when that is `none`."""
        chosen = FinishAction(action if action is not None else self.answers.finish_action)
        if chosen is FinishAction.NONE:
            return None
        # A dry run only says what it would do.
        return FinishStep(chosen.value, ("systemctl", chosen.value), execute=not self.dry_run,
                          log_path=self.log_path)


@dataclass
class InstallRun:
    """One install, started: its runner (a dry run's holds the plan so far) and the run."""

    launch: Launch
    runner: Runner
    sink: EventSink
    engine: Engine
    lock: install_lock.InstallLock | None = None  # a real install's, released by `close`

    def run(self, cancel: threading.Event | None = None) -> InstallOutcome:
        """Install; blocking. Set `cancel` to stop between phases (the engine tears down).

        The runner stays open for what follows (the finish action) until `close`.
        """
        return self.engine(self.launch.answers, self.launch.machine, runner=self.runner,
                           sink=self.sink, options=self.launch.options(), cancel=cancel)

    def close(self) -> None:
        """Close the install log; a real install lets go of the machine's install lock."""
        try:
            self.runner.close()
        finally:
            if self.lock is not None:
                self.lock.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class FinishStep:
    """Reboot or power off after an install; `execute` is False in a dry run,
    where a front end only says what would happen."""

    action: str
    argv: tuple[str, ...]
    execute: bool
    log_path: Path | None = None


def finish_action(step: FinishStep, *, runner: Runner | None = None,
                  delay: float = 0.0) -> None:
    """Run `step` through a runner, logged like every command: `runner` (the
    install's, still open), else one logging to the install's log. `delay`
    seconds pass first. A step that is not to be executed runs nothing.
    Raises `CommandError` when the command fails.
    """
    if not step.execute:
        return
    own = runner is None
    used = LocalRunner(log_path=step.log_path) if runner is None else runner
    try:
        if delay > 0:
            used.run(["sleep", f"{delay:g}"])
        used.run(list(step.argv))
    finally:
        if own:
            used.close()


def tool_runner() -> Runner:
    """A runner for tools run on this machine outside an install (`seed make`):
    it executes, and logs nowhere: what those commands print is their product."""
    return LocalRunner()
