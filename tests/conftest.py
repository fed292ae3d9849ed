"""Suite-wide rules.

Under `CI=true` a skipped test fails: CI runs on a fresh machine that
`scripts/setup` prepared, so a test that skips there for a missing tool is a
missing install step, and a skip would hide it as a pass.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator

import pytest


def _strict() -> bool:
    return os.environ.get("CI", "").lower() == "true"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not (_strict() and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = (f"skipped under CI=true: {reason}\n"
                       "CI's machine is prepared by scripts/setup alone: install what this "
                       "test needs there")


@pytest.fixture(autouse=True)
def _private_install_lock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    # A test that starts a real launch (its engine replaced) takes the machine's
    # install lock: each test gets its own, so tests neither need root for /run
    # nor refuse each other or an install running on the machine. Not through the
    # `monkeypatch` fixture: an autouse fixture's would be set up first and undone
    # last, after other fixtures' teardowns that rely on the test's own patches
    # (a PATH) being gone already.
    from kldload_tui.backend.engine import install_lock

    saved = install_lock.INSTALL_LOCK
    install_lock.INSTALL_LOCK = tmp_path_factory.mktemp("lock") / "install.lock"
    try:
        yield
    finally:
        install_lock.INSTALL_LOCK = saved
