"""Snapshots of every screen at 80x24 and the main ones at 120x40 (pytest-textual-snapshot).

Blinking and animations are off (`make_app`), the progress screen runs a scripted
engine so that phase times are fixed. Update with `pytest --snapshot-update` and
look at the report before committing the new SVGs.
"""

from __future__ import annotations

import pytest

import kldload_tui.screens.progress as progress_module
from kldload_tui.backend.engine.core import InstallOutcome
from kldload_tui.backend.engine.events import (
    Complete,
    Failed,
    InstallStarted,
    PhaseFinished,
    PhaseStarted,
)
from tests.tui.conftest import SIZE, WIDE, fill

STEPS = ("welcome", "distro", "disks", "topology", "network", "identity", "features", "export",
         "review")
MAIN = ("welcome", "disks", "topology", "network", "identity", "review")
PHASES = ["preflight", "partition", "pool", "datasets", "hostid", "bootstrap", "configure"]


def _goto(step: str):
    async def run_before(pilot) -> None:
        pilot.app.goto(step)
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("step", STEPS)
def test_step_80x24(snap_compare, make_app, step):
    assert snap_compare(make_app(seed=True), terminal_size=SIZE, run_before=_goto(step))


@pytest.mark.parametrize("step", MAIN)
def test_step_120x40(snap_compare, make_app, step):
    assert snap_compare(make_app(seed=True), terminal_size=WIDE, run_before=_goto(step))


def test_review_on_the_linux_console_80x24(snap_compare, make_app):
    app = make_app(seed=True, ascii_borders=True)
    assert snap_compare(app, terminal_size=SIZE, run_before=_goto("review"))


def test_refused_step_shows_the_reasons_80x24(snap_compare, make_app):
    async def run_before(pilot) -> None:
        pilot.app.goto("network")
        await pilot.pause()
        await pilot.press("down")
        await fill(pilot, "net_ip", "10.0.1.500")
        await pilot.press("ctrl+n")

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def _scripted(fail: bool):
    def run_install(answers, machine, *, runner, sink, options, cancel=None):
        sink(InstallStarted(total_phases=len(PHASES), phases=PHASES, dry_run=True))
        for index, name in enumerate(PHASES, start=1):
            sink(PhaseStarted(name=name, index=index, total=len(PHASES)))
            if fail and name == "pool":
                sink(Failed(phase=name, command="zpool create -o ashift=12 rpool raidz1 ...",
                            exit_code=1, message="command failed (exit 1): zpool create",
                            log_path="/var/log/kldload/install.log"))
                return InstallOutcome(False, False, name, "failed", None, 3.0)
            sink(PhaseFinished(name=name, index=index, seconds=index * 1.5))
        sink(Complete(seconds=42.0, message="dry run complete: nothing was executed"))
        return InstallOutcome(True, False, None, "dry run complete: nothing was executed",
                              None, 42.0)

    return run_install


def _install(pilot_app_step: str = "review"):
    async def run_before(pilot) -> None:
        pilot.app.goto(pilot_app_step)
        await pilot.pause()
        await pilot.press("ctrl+n")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", [SIZE, WIDE], ids=["80x24", "120x40"])
def test_progress_complete(snap_compare, make_app, monkeypatch, size):
    monkeypatch.setattr(progress_module, "run_install", _scripted(fail=False))
    assert snap_compare(make_app(seed=True), terminal_size=size, run_before=_install())


def test_progress_failed_80x24(snap_compare, make_app, monkeypatch):
    monkeypatch.setattr(progress_module, "run_install", _scripted(fail=True))
    assert snap_compare(make_app(seed=True), terminal_size=SIZE, run_before=_install())


def test_confirm_wipe_80x24(snap_compare, make_app):
    app = make_app("old-rpool")

    async def run_before(pilot) -> None:
        sda = "/dev/disk/by-id/ata-Samsung_SSD_860_EVO_500GB_S3Z1NB0K812345L"
        for name, value in (("distro", "debian"), ("hostname", "ws-01"), ("disk", sda)):
            pilot.app.session.set(name, value)
        pilot.app.goto("review")
        await pilot.pause()
        await pilot.press("ctrl+n", *"sdb", "enter")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_confirm_quit_80x24(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=SIZE, press=["ctrl+q"])


def test_save_answers_80x24(snap_compare, make_app):
    async def run_before(pilot) -> None:
        pilot.app.goto("review")
        await pilot.pause()
        await pilot.press("s", "end", "ctrl+u", *"/root/answers.env")

    assert snap_compare(make_app(seed=True), terminal_size=SIZE, run_before=run_before)


def test_error_dialog_80x24(snap_compare, make_app, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(progress_module, "run_install", crash)
    assert snap_compare(make_app(seed=True), terminal_size=SIZE, run_before=_install())
