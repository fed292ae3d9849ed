"""The install: phases and their state, a progress bar, the log's tail; then what next.

The engine runs in a thread worker; its events come back through
`App.call_from_thread`, so the screen is only ever touched from the UI thread.
The log pane tails the install log file, which holds every command, its
output and the engine's notes (already redacted by the runner); a dry run
without a log shows the plan as it is recorded instead.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from functools import partial
from typing import Any, ClassVar, Literal

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Log
from textual.worker import Worker, WorkerState

from kldload_tui.backend.answers.model import Answers, FinishAction
from kldload_tui.backend.engine.core import PHASES, InstallOutcome, run_install
from kldload_tui.backend.engine.events import (
    Complete,
    Event,
    Failed,
    InstallStarted,
    PhaseFinished,
    PhaseStarted,
    Progress,
)
from kldload_tui.backend.engine.launcher import FinishStep, Launch, finish_action
from kldload_tui.backend.engine.runner import CommandError, RecordingRunner, Runner
from kldload_tui.backend.session import Session
from kldload_tui.screens.widgets import Plain, StatusLine, StepHeader, TextBar

State = Literal["idle", "running", "stopping", "failed", "complete"]
PhaseState = Literal["pending", "running", "done", "failed"]
MARKS: dict[PhaseState, str] = {"pending": "[  ]", "running": "[>>]", "done": "[ok]",
                                 "failed": "[!!]"}
TAIL_CHUNK = 64 * 1024
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z ")
LOG_LINES = 500


class ProgressScreen(Screen[None]):
    """Runs the install and shows it; on failure retry or a shell, on success reboot."""

    CSS_PATH = "progress.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "retry", "Retry"),
        Binding("b", "finish('reboot')", "Reboot"),
        Binding("p", "finish('poweroff')", "Power off"),
        Binding("s", "shell", "Shell"),
    ]

    state: reactive[State] = reactive("idle", init=False)

    class StateChanged(Message):
        """The install started, is stopping, failed or completed (`ok` once it ended)."""

        def __init__(self, state: State, ok: bool | None) -> None:
            super().__init__()
            self.state = state
            self.ok = ok

    def __init__(self, session: Session, answers: Answers) -> None:
        super().__init__()
        self.session = session
        self.answers = answers
        # The launcher decides the runner, the log, the options and the darksite, as it
        # does for headless mode: consent as typed on Review, or KLDLOAD_FORCE_WIPE.
        self.launch = Launch(answers, session.machine, dry_run=session.dry_run,
                             consent=session.consent_to_wipe or answers.force_wipe,
                             log=session.log_path, described=session.described)
        self.log_path = self.launch.log_path
        self.phases: dict[str, PhaseState] = dict.fromkeys(PHASES, "pending")
        self.seconds: dict[str, float] = {}
        self.runner: Runner | None = None
        self.worker: Worker[InstallOutcome] | None = None
        self.outcome: InstallOutcome | None = None
        self.failure: Failed | None = None
        self._cancel = threading.Event()
        self._tail_offset = 0
        self._steps_shown = 0

    def compose(self) -> ComposeResult:
        mode = "dry run" if self.session.dry_run else "writing to disk"
        yield StepHeader(0, 0, f"Install ({mode})", demo=self.session.demo)
        with Horizontal(id="progress-main"):
            yield Plain("", id="progress-phases")
            with Vertical(id="progress-right"):
                yield TextBar(id="progress-bar")
                yield Plain("", id="progress-current")
                yield Log(max_lines=LOG_LINES, id="progress-log", auto_scroll=True)
        yield Plain("", id="progress-outcome")
        yield StatusLine()
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._draw_phases()
        self.set_interval(0.25, self._tail_log)
        self.start()

    # Running ----------------------------------------------------------------------

    def start(self) -> None:
        """Start (or restart) the install in a thread worker."""
        self._cancel = threading.Event()
        self.runner = None  # the worker sets the new one; the old plan is not shown again
        self.phases = dict.fromkeys(PHASES, "pending")
        self.seconds = {}
        self.failure = None
        self.outcome = None
        self.query_one(TextBar).fraction = 0.0
        self._steps_shown = 0
        self.query_one("#progress-outcome", Plain).update("")
        self.state = "running"
        self._draw_phases()
        # Owned by the app, whose one Worker.StateChanged handler shows errors and
        # calls `worker_changed` here.
        self.worker = self.app.run_worker(self._install, name="install", group="install",
                                          thread=True, exit_on_error=False)

    def _install(self) -> InstallOutcome:
        """The engine, off the UI thread; every event is handed to the UI thread."""
        def sink(event: Event) -> None:
            self.app.call_from_thread(self._apply, event)

        # The engine is named here so that tests script it by replacing this module's
        # `run_install`; everything else about the run is the launcher's.
        with self.launch.start(sink, engine=run_install) as install:
            self.runner = install.runner
            return install.run(self._cancel)

    def _apply(self, event: Event) -> None:
        """One engine event, on the UI thread."""
        bar = self.query_one(TextBar)
        current = self.query_one("#progress-current", Plain)
        match event:
            case InstallStarted():
                self.phases = dict.fromkeys(event.phases, "pending")
                where = f"log: {event.log_path}" if event.log_path else "no log: a dry run"
                current.update(f"{event.total_phases} phases; {where}")
            case PhaseStarted():
                self.phases[event.name] = "running"
                current.update(f"phase {event.index}/{event.total}: {event.name}")
                bar.fraction = (event.index - 1) / event.total
            case Progress():
                total = max(len(self.phases), 1)
                done = sum(1 for s in self.phases.values() if s == "done")
                bar.fraction = (done + event.fraction) / total
                if event.message:
                    current.update(event.message)
            case PhaseFinished():
                self.phases[event.name] = "done"
                self.seconds[event.name] = event.seconds
                bar.fraction = event.index / max(len(self.phases), 1)
            case Failed():
                if event.phase:
                    self.phases[event.phase] = "failed"
                self.failure = event
            case Complete():
                bar.fraction = 1.0
                current.update(event.message)
        self._draw_phases()

    def worker_changed(self, worker: Worker[Any]) -> None:
        """A worker changed state (called by the app's handler): the install ended?"""
        if worker is not self.worker or not worker.is_finished:
            return
        self._tail_log()
        if worker.state is WorkerState.SUCCESS and isinstance(worker.result, InstallOutcome):
            self.outcome = worker.result
        self.state = "complete" if self.outcome is not None and self.outcome.ok else "failed"

    def stop(self) -> None:
        """Stop between phases; the engine tears down and the worker ends (quit dialog)."""
        self._cancel.set()
        self.state = "stopping"

    # State ------------------------------------------------------------------------

    def watch_state(self, state: State) -> None:
        ended = state in ("complete", "failed")
        self.post_message(self.StateChanged(state, state == "complete" if ended else None))
        self.query_one("#progress-outcome", Plain).update(self._outcome_text())
        self.set_class(state == "failed", "-failed")
        self.set_class(state == "complete", "-complete")
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "retry":
            return self.state == "failed"
        if action == "finish":
            return self.state == "complete"
        if action == "shell":
            return self.state in ("failed", "complete")
        return True

    def _outcome_text(self) -> str:
        if self.state == "stopping":
            return "Stopping after the current phase; the pool is exported before quitting..."
        if self.state == "failed":
            f = self.failure
            if f is None:
                return ("The install stopped with an internal error (see the dialog). "
                        f"Log: {self.log_path or 'none'}. r retries, s opens a shell.")
            lines = [f"FAILED in phase {f.phase or '?'}: {f.message.splitlines()[0]}"]
            if f.command:
                code = f" (exit {f.exit_code})" if f.exit_code is not None else ""
                lines.append(f"command: {f.command}{code}")
            lines += [f"log: {f.log_path or self.log_path or 'none (dry run)'}",
                      "r retries (the pool was exported, mounts undone); s opens a shell"]
            return "\n".join(lines)
        if self.state == "complete":
            planned = self.answers.finish_action
            suggested = ("the answers say: " + planned.value if planned is not FinishAction.NONE
                         else "the answers say: stay in the live system")
            head = (self.outcome.message if self.outcome else "complete")
            return (f"Complete: {head}\n{suggested}. b reboots, p powers off, s opens a shell, "
                    "ctrl+q quits to the live system.")
        return ""

    def _draw_phases(self) -> None:
        lines = []
        for name, state in self.phases.items():
            took = f"{self.seconds[name]:6.1f}s" if name in self.seconds else ""
            lines.append(f"{MARKS[state]} {name:<10}{took}")
        self.query_one("#progress-phases", Plain).update("\n".join(lines))

    # The log ----------------------------------------------------------------------

    def _tail_log(self) -> None:
        """Show what the install did since last time: new plan steps in a dry run
        without a log, else the log's new lines (a small local read)."""
        if self.log_path is None:
            self._tail_plan()
            return
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(self._tail_offset)
                data = fh.read(TAIL_CHUNK)
        except OSError:
            return
        # Only whole lines: a line being written is shown on the next tick.
        end = data.rfind(b"\n") + 1
        if end:
            self._tail_offset += end
            text = data[:end].decode("utf-8", errors="replace")
            # The timestamps are for the file; the screen has no room for them.
            self.query_one(Log).write_lines(STAMP.sub("", line) for line in text.splitlines())

    def _tail_plan(self) -> None:
        runner = self.runner
        if not isinstance(runner, RecordingRunner):
            return
        # The worker only appends; a slice taken here is a consistent prefix.
        steps = runner.plan[self._steps_shown:]
        self._steps_shown += len(steps)
        self.query_one(Log).write_lines(f"[{s.phase}] {s.render()}" for s in steps)

    # After the install ------------------------------------------------------------

    def action_retry(self) -> None:
        """Run the install again (the engine tore down what the failed run set up)."""
        self.start()

    def action_shell(self) -> None:
        """Suspend the TUI and open a shell; the TUI comes back when it exits."""
        shell = os.environ.get("SHELL") or "/bin/sh"
        try:
            with self.app.suspend():
                print(f"kldload-tui: {shell}; exit the shell to return to the installer.",
                      flush=True)
                subprocess.run([shell], check=False)  # noqa: S603 - the operator's own shell
        except Exception as err:  # no terminal to give (tests, web): say so, do not crash
            self.query_one(StatusLine).show_error(f"Cannot open a shell here: {err}")

    def action_finish(self, action: str) -> None:
        """Reboot or power off; in a dry run, only say what would happen."""
        step = self.launch.finish_step(action)
        if step is None:
            return
        if not step.execute:
            self.query_one(StatusLine).show_note(
                f"Dry run: would run {' '.join(step.argv)}; nothing is executed.")
            return
        self.app.run_worker(partial(self._power, step), name="power", thread=True,
                            exit_on_error=False)

    def _power(self, step: FinishStep) -> None:
        """Reboot or power off, logged like every command (off the UI thread: it blocks)."""
        try:
            finish_action(step)
        except CommandError as err:
            self.app.call_from_thread(self.query_one(StatusLine).show_error, str(err))
