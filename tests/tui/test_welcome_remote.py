"""Served by `kldload-tui serve`, the welcome screen says how to connect: the browser
URL with its token, and the API's (issue #15: the token on the console and there)."""

from __future__ import annotations

from kldload_tui.backend.session import RemoteAccess
from tests.tui.conftest import SIZE, screen_text

TOKEN = "Zy9OQ1a-CBtmkcj_VeKKFA"


async def test_welcome_shows_the_browser_url_with_the_token_and_the_api(make_app):
    app = make_app(remote=RemoteAccess("http://10.0.1.50:8080/", TOKEN))
    async with app.run_test(size=SIZE):
        text = screen_text(app)
    assert f"in a browser at http://10.0.1.50:8080/?token={TOKEN}" in text
    assert f"the API at ws://10.0.1.50:8080/ws, token {TOKEN}" in text
    # Everything a person needs still fits one 80x24 screen, above the start line.
    assert "Press Enter (or ctrl+n) to start." in text


async def test_welcome_says_when_no_token_is_needed(make_app):
    app = make_app(remote=RemoteAccess("http://10.0.1.50:8080/", None))
    async with app.run_test(size=(120, 40)):
        text = screen_text(app)
    assert "in a browser at http://10.0.1.50:8080/, the API at ws://10.0.1.50:8080/ws" in text
    assert "no token (--no-auth)" in text


async def test_welcome_on_a_console_has_no_remote_line(make_app):
    app = make_app()
    async with app.run_test(size=SIZE):
        assert "Remote" not in screen_text(app)
