"""The progress screen: the real demo install, failure and retry, quitting, what comes next."""

from __future__ import annotations

import threading
from contextlib import contextmanager

from textual import messages
from textual.widgets import Log

import kldload_tui.screens.progress as progress_module
from kldload_tui.backend.answers.file import load_answers
from kldload_tui.backend.engine.core import InstallOutcome, plan_install
from kldload_tui.backend.engine.events import Failed, InstallStarted, PhaseFinished, PhaseStarted
from kldload_tui.screens.dialogs import ConfirmQuit, ErrorDialog
from kldload_tui.screens.progress import ProgressScreen
from tests.tui.conftest import SIZE, WIDE, goto, replace_text, screen_text, status_text


async def _install(pilot) -> ProgressScreen:
    await goto(pilot, "review")
    await pilot.press("ctrl+n")
    # Under a dialog already, when the install failed at once.
    return next(s for s in pilot.app.screen_stack if isinstance(s, ProgressScreen))


async def _finished(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


async def test_demo_install_completes_and_runs_the_plan_of_the_saved_answers(make_app, tmp_path):
    app = make_app(seed=True)
    saved = tmp_path / "answers.env"
    async with app.run_test(size=WIDE) as pilot:
        await goto(pilot, "review")
        await pilot.press("s")
        await replace_text(pilot, str(saved))
        await pilot.press("enter")
        screen = await _install(pilot)
        await _finished(pilot)
        assert screen.state == "complete"
        shown = screen_text(app)
        assert "Complete: dry run complete: nothing was executed" in shown
        assert "[!!]" not in shown and "[  ]" not in shown
        assert all(state == "done" for state in screen.phases.values())
        # Without a log, the pane shows the plan as it is recorded, to its last step.
        shown_log = list(app.screen.query_one(Log).lines)
        last = screen.runner.plan[-1]
        assert last.phase == "finish"
        assert shown_log[-1] == f"[finish] {last.render()}"
        assert "[finish] zpool export rpool" in shown_log
        ran = screen.runner.plan
        options = screen.launch.options()
    answers = load_answers(saved).answers
    expected = plan_install(answers, app.session.machine, options=options)
    assert ran == expected.plan


async def test_with_a_log_the_pane_tails_the_log_without_timestamps(make_app, tmp_path):
    log = tmp_path / "install.log"
    app = make_app(seed=True, log_path=log)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _install(pilot)
        await _finished(pilot)
        assert screen.state == "complete"
        shown_log = list(app.screen.query_one(Log).lines)
        last = log.read_text().splitlines()[-1]
        assert last.endswith(" " + shown_log[-1]) and not shown_log[-1][0].isdigit()
        assert "[finish] $ zpool export rpool" in shown_log


def _log(runner) -> str | None:
    return str(runner.log_path) if runner.log_path else None


def _fake_engine(calls: list[str], *, fail_first: bool = True, wait: threading.Event | None = None,
                 release: threading.Event | None = None):
    def run_install(answers, machine, *, runner, sink, options, cancel=None):
        calls.append("run")
        sink(InstallStarted(total_phases=2, phases=["preflight", "partition"],
                            dry_run=options.dry_run, log_path=_log(runner)))
        sink(PhaseStarted(name="preflight", index=1, total=2))
        sink(PhaseFinished(name="preflight", index=1, seconds=0.5))
        sink(PhaseStarted(name="partition", index=2, total=2))
        if wait is not None:
            assert cancel is not None
            cancel.wait(10)
            sink(Failed(phase="partition", message="stopped by the operator",
                        log_path=_log(runner)))
            return InstallOutcome(False, False, "partition", "stopped", None, 1.0)
        if release is not None:
            release.wait(10)
        if fail_first and len(calls) == 1:
            sink(Failed(phase="partition", command="sgdisk --zap-all /dev/nvme0n1",
                        exit_code=2, message="command failed (exit 2): sgdisk --zap-all",
                        log_path=_log(runner)))
            return InstallOutcome(False, False, "partition", "failed", None, 1.0)
        sink(PhaseFinished(name="partition", index=2, seconds=1.5))
        return InstallOutcome(True, False, None, "dry run complete", None, 2.0)

    return run_install


async def test_a_failure_names_phase_command_and_log_and_retry_runs_again(
        make_app, monkeypatch, tmp_path):
    calls: list[str] = []
    monkeypatch.setattr(progress_module, "run_install", _fake_engine(calls))
    log = tmp_path / "install.log"
    app = make_app(seed=True, log_path=log)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _install(pilot)
        await _finished(pilot)
        assert screen.state == "failed"
        outcome = str(app.screen.query_one("#progress-outcome").render())
        assert outcome.splitlines()[:3] == [
            "FAILED in phase partition: command failed (exit 2): sgdisk --zap-all",
            "command: sgdisk --zap-all /dev/nvme0n1 (exit 2)",
            f"log: {log}"]
        shown = screen_text(app)
        assert "[ok] preflight    0.5s" in shown
        assert "[!!] partition" in shown
        assert "r Retry" in shown and "s Shell" in shown and "b Reboot" not in shown
        await pilot.press("r")
        await _finished(pilot)
        assert calls == ["run", "run"]
        assert screen.state == "complete"
        assert "[ok] partition    1.5s" in screen_text(app)


async def test_quitting_during_an_install_asks_then_stops_it_first(make_app, monkeypatch):
    started = threading.Event()
    monkeypatch.setattr(progress_module, "run_install", _fake_engine([], wait=started))
    app = make_app(seed=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _install(pilot)
        await pilot.pause()
        assert app.installing
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, ConfirmQuit)
        assert "Stop the install and quit?" in screen_text(app)
        await pilot.press("n")
        assert app.screen is screen and screen.state == "running"
        await pilot.press("ctrl+c", "y")
        await _finished(pilot)
    assert screen._cancel.is_set()
    assert app.return_code == 1


async def test_an_exit_from_outside_during_an_install_lets_it_finish_first(make_app,
                                                                            monkeypatch):
    """textual-serve's "quit" (the browser left, or the server stops) is an ExitApp
    message: the confirmed install goes on to its end, and only then does the app quit."""
    release = threading.Event()
    monkeypatch.setattr(progress_module, "run_install",
                        _fake_engine([], fail_first=False, release=release))
    app = make_app(seed=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _install(pilot)
        await pilot.pause()
        assert app.installing
        app.post_message(messages.ExitApp())
        await pilot.pause()
        assert app.is_running and app.installing
        release.set()
        await _finished(pilot)
    assert not screen._cancel.is_set()
    assert screen.state == "complete"
    assert app.return_code == 0


async def test_quitting_before_installing_asks_and_exits_0(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, ConfirmQuit)
        assert "Nothing has been installed" in screen_text(app)
        await pilot.press("escape")
        assert app.screen.STEP == "welcome"
        await pilot.press("ctrl+q", "y")
        await pilot.pause()
    assert app.return_code == 0


async def test_reboot_and_poweroff_only_say_what_would_happen_in_a_dry_run(make_app):
    app = make_app(seed=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _install(pilot)
        await _finished(pilot)
        assert screen.state == "complete"
        assert "the answers say: poweroff" in screen_text(app)
        await pilot.press("b")
        assert status_text(pilot) == "Dry run: would run systemctl reboot; nothing is executed."
        await pilot.press("p")
        assert "would run systemctl poweroff" in status_text(pilot)
        await pilot.press("r")  # retry is not offered after success
        assert screen.state == "complete"


async def test_shell_suspends_the_app_and_runs_the_operators_shell(make_app, monkeypatch):
    ran: list[list[str]] = []
    monkeypatch.setenv("SHELL", "/bin/zsh-for-test")
    monkeypatch.setattr(progress_module.subprocess, "run",
                        lambda argv, check: ran.append(argv))
    app = make_app(seed=True)

    @contextmanager
    def suspend():
        yield

    monkeypatch.setattr(app, "suspend", suspend)
    async with app.run_test(size=SIZE) as pilot:
        await _install(pilot)
        await _finished(pilot)
        await pilot.press("s")
    assert ran == [["/bin/zsh-for-test"]]


async def test_shell_without_a_terminal_says_so(make_app):
    app = make_app(seed=True)
    async with app.run_test(size=SIZE) as pilot:
        await _install(pilot)
        await _finished(pilot)
        await pilot.press("s")
        assert status_text(pilot).startswith("Cannot open a shell here")


async def test_an_engine_crash_is_shown_in_a_dialog_never_lost(make_app, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(progress_module, "run_install", crash)
    app = make_app(seed=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _install(pilot)
        await _finished(pilot)
        assert isinstance(app.screen, ErrorDialog)
        assert "RuntimeError: engine exploded" in screen_text(app)
        await pilot.press("enter")
        assert app.screen is screen
        assert screen.state == "failed"
        assert "internal error" in screen_text(app)
