"""Fixtures for the TUI tests: the app as `kldload-tui` builds it, and key helpers."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Input

from kldload_tui.app import KldloadApp, build_app
from kldload_tui.backend.machine.model import Machine, load_bundled_machine
from kldload_tui.tui import DEMO_MACHINE, prefill_for

SIZE = (80, 24)
WIDE = (120, 40)
EXPECTED = Path(__file__).parent / "expected"


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run `async def` tests in a fresh event loop (Pilot needs one; no plugin required)."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    asyncio.run(pyfuncitem.obj(**{name: pyfuncitem.funcargs[name] for name in names}))
    return True


@pytest.fixture
def demo_machine() -> Machine:
    return load_bundled_machine(DEMO_MACHINE)


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., KldloadApp]:
    """`build_app` as the CLI calls it, with blinking and animations off.

    `seed=True` pre-fills from the machine's seed disk as `kldload-tui --demo` does.
    """

    def make(machine: str | Machine = DEMO_MACHINE, *, seed: bool = False,
             answers: Any = None, **kwargs: Any) -> KldloadApp:
        m = load_bundled_machine(machine) if isinstance(machine, str) else machine
        if seed:
            answers, m = prefill_for(argparse.Namespace(answers=None), m, described=True)
        kwargs.setdefault("demo", True)
        return build_app(machine=m, answers=answers, cursor_blink=False, animations=False,
                         **kwargs)

    return make


async def fill(pilot: Pilot[Any], name: str, text: str, *, paste: bool = False) -> None:
    """Focus the input of answers field `name`, clear it and type `text` key by key
    (`paste`: set it in one go, as a terminal paste would; for long SSH keys)."""
    field = pilot.app.screen.query_one(f"#input-{name}", Input)
    field.focus()
    await pilot.pause()
    await pilot.press("end", "ctrl+u")
    if paste:
        field.insert_text_at_cursor(text)
    elif text:
        await pilot.press(*text)
    await pilot.pause()


async def replace_text(pilot: Pilot[Any], text: str) -> None:
    """Replace the text of the focused input in one go, as a terminal paste would
    (long paths typed key by key only slow the tests; the pty walk types for real)."""
    field = pilot.app.focused
    assert isinstance(field, Input), field
    field.value = text
    field.cursor_position = len(text)
    await pilot.pause()


async def goto(pilot: Pilot[Any], step: str) -> None:
    """Show a step directly (the walk itself is tested key by key elsewhere)."""
    app = pilot.app
    assert isinstance(app, KldloadApp)
    app.goto(step)
    await pilot.pause()


def screen_text(app: App[Any]) -> str:
    """The screen as plain text, as the terminal shows it."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False)
    console.print(app.screen._compositor.render_update(
        full=True, screen_stack=app._background_screens))
    return console.export_text()


def status_text(pilot: Pilot[Any]) -> str:
    """What the screen's status line says (why it refused to move on)."""
    return str(pilot.app.screen.query_one("StatusLine").render())


def field_message(pilot: Pilot[Any], name: str) -> str:
    """The message beside answers field `name` ('' when it is fine)."""
    widget = pilot.app.screen.query_one(f"#field-{name}")
    if not (widget.has_class("-invalid") or widget.has_class("-warning")):
        return ""
    return str(widget.query_one(".field-message").render())
