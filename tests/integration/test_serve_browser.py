"""The TUI in a browser, on the API's port and behind its token: a real headless
Chromium loads it, and plain HTTP and WebSocket clients check what is refused.

The browser reads the served TUI's screen from xterm.js (see chromium.py); the
TUI session is a real `kldload-tui` process started by the server.
"""

import asyncio
import http.client
import os
import re
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedOK, InvalidStatus
from websockets.sync.client import connect as sync_connect

from tests.tui.conftest import EXPECTED
from tests.tui.walk import walk_keys

from .chromium import BINARY, Chromium
from .serve_helpers import MACHINE, RunningServer

needs_chromium = pytest.mark.skipif(BINARY is None, reason="chromium is not installed")
PNG = b"\x89PNG\r\n\x1a\n"
WALK_TIMEOUT = 30.0


def get(server, path, headers=None):
    """(status, headers, body) of GET `path`, the path sent exactly as given."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        conn.request("GET", path, headers=headers or {})
        reply = conn.getresponse()
        return reply.status, dict(reply.getheaders()), reply.read()
    finally:
        conn.close()


def descendants_cmdlines(pid: int) -> list[list[str]]:
    """The argv of every process below `pid`."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        try:
            argv = (Path("/proc") / str(child) / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        found.append([a.decode() for a in argv if a])
        todo += children.get(child, [])
    return found


@needs_chromium
def test_chromium_opens_the_served_tui_with_the_token_and_sees_its_welcome_screen(tmp_path):
    with RunningServer() as server, Chromium(tmp_path / "profile") as page:
        base = f"http://127.0.0.1:{server.port}/"
        assert page.navigate(f"{base}?token={server.token}") == 200
        shown = page.wait_for_text("1/9 Welcome", "Press Enter (or ctrl+n) to start")
        sessions = [argv for argv in descendants_cmdlines(os.getpid())
                    if argv[1:3] == ["-m", "kldload_tui"]]
        shot = page.screenshot()
    (tmp_path / "welcome.png").write_bytes(shot)
    # The machine is the server's --machine: the description's own words.
    assert "A Supermicro server with three 1 TB NVMe disks" in shown
    assert "6 found, 3 installable" in shown
    # The welcome screen says how to connect, token included.
    assert f"in a browser at {base}?token={server.token}" in shown
    assert f"the API at ws://127.0.0.1:{server.port}/ws, token {server.token}" in shown
    # The session is a kldload-tui process with the server's options, not a console's.
    assert sessions == [[sessions[0][0], "-m", "kldload_tui", "--machine", MACHINE,
                         "--dry-run"]]
    assert shot.startswith(PNG) and len(shot) > 20_000  # a drawn screen, not a blank one


@needs_chromium
def test_chromium_without_the_token_is_refused_and_nothing_starts(tmp_path, caplog):
    caplog.set_level("INFO", logger="kldload_tui.serve")
    with RunningServer() as server, Chromium(tmp_path / "profile") as page:
        base = f"http://127.0.0.1:{server.port}/"
        statuses = [page.navigate(base), page.navigate(f"{base}?token=not-the-token-0123456789")]
        body = page.evaluate("document.body.innerText")
        terminal = page.terminal_text()
    assert statuses == [401, 401]
    assert "unauthorized" in body
    assert terminal is None
    assert "browser session" not in caplog.text
    assert "refused 127.0.0.1" in caplog.text


def test_every_browser_route_needs_the_token():
    with RunningServer() as server:
        token = server.token
        results = {}
        for path in ("/", "/static/js/textual.js", "/static/css/xterm.css"):
            results[path] = (get(server, path)[0], get(server, f"{path}?token={token}")[0],
                             get(server, path, server.headers)[0])
        refused = get(server, "/")

        async def session(url, **kwargs):
            with pytest.raises(InvalidStatus) as err:
                await connect(url, **kwargs)
            return err.value.response.status_code

        async def sessions():
            tui = f"ws://127.0.0.1:{server.port}/tui"
            return [await session(tui),
                    await session(f"{tui}?token=not-the-token-0123456789&?width=80&height=24"),
                    await session(f"{tui}?token={token}&", origin="http://evil.example"),
                    await session(f"{tui}?token={token}&",
                                  origin=f"http://127.0.0.1:{server.port + 1}")]

        ws_statuses = asyncio.run(sessions())
    assert results == {path: (401, 200, 200) for path in results}
    assert refused[1]["WWW-Authenticate"].startswith("Bearer")
    assert ws_statuses == [401, 401, 403, 403]


def test_a_browser_must_address_this_machine_by_its_own_name():
    with RunningServer() as server:
        query = f"/?token={server.token}"
        own = get(server, query, {"Host": f"localhost:{server.port}"})
        foreign = get(server, query, {"Host": f"installer.evil.example:{server.port}"})
    assert own[0] == 200
    assert foreign[0] == 403 and b"IP address, localhost or its host name" in foreign[2]


def test_the_page_carries_the_token_to_its_own_requests_and_fetches_nothing_elsewhere():
    with RunningServer() as server:
        status, headers, body = get(server, f"/?token={server.token}")
        outside = get(server, f"/static/../browser.py?token={server.token}")
        folder = get(server, f"/static/js?token={server.token}")
    page = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert f'src="/static/js/textual.js?token={server.token}"' in page
    assert f'data-session-websocket-url="ws://127.0.0.1:{server.port}/tui?token=' in page
    assert "https://" not in page and "googleapis" not in page
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert outside[0] == 404 and folder[0] == 404


def test_with_no_auth_the_page_and_session_need_no_token():
    with RunningServer(token=None) as server:
        status, _headers, body = get(server, "/")
    assert status == 200
    assert f'data-session-websocket-url="ws://127.0.0.1:{server.port}/tui"' in body.decode()


class BrowserKeys:
    """The walk's keys (tests/tui/walk.py), pressed in Chromium on the served TUI."""

    def __init__(self, page) -> None:
        self.page = page

    def wait(self, text: str, timeout: float | None = None) -> None:
        self.page.wait_for_text(text, timeout=timeout or WALK_TIMEOUT)
        # Focus is set once the screen has mounted. Longer than the pty walk's 0.3 s:
        # a key here crosses the browser, the socket and the session's pipes, and on
        # a loaded machine (CI beside QEMU guests) a key pressed before the focus
        # landed went to the screen instead of the first checkbox.
        time.sleep(1.0)

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.page.press(key)
            time.sleep(0.2)

    def type(self, text: str, *, echo: bool = False) -> None:
        for char in text:
            self.page.press(char)
        if echo:
            self.page.wait_for_text(text[-20:], timeout=WALK_TIMEOUT)
        time.sleep(0.2)


@needs_chromium
def test_the_walk_in_chromium_saves_what_the_same_keys_save_in_a_terminal(tmp_path):
    """The pty walk (tests/tui/test_pexpect.py) saves tests/tui/expected/demo-walk.env;
    the same keys in a browser, on a server with the demo's machine, save the same."""
    saved = tmp_path / "walk.env"
    with RunningServer() as server, Chromium(tmp_path / "profile", size=(800, 600)) as page:
        assert page.navigate(f"http://127.0.0.1:{server.port}/?token={server.token}") == 200
        page.wait_for_text("1/9 Welcome")
        page.focus_terminal()
        walk_keys(BrowserKeys(page), saved)
        deadline = time.monotonic() + WALK_TIMEOUT
        while not page.evaluate("document.body.classList.contains('-closed')"):
            assert time.monotonic() < deadline, "the session did not end after quitting"
            time.sleep(0.1)
    assert saved.read_text() == (EXPECTED / "demo-walk.env").read_text()
    assert saved.stat().st_mode & 0o777 == 0o600


def test_browser_sessions_beyond_the_limit_get_503(monkeypatch):
    monkeypatch.setattr("kldload_tui.remote.server.MAX_SESSIONS", 1)

    async def main(server):
        tui = f"ws://127.0.0.1:{server.port}/tui?token={server.token}&?width=80&height=24"
        async with connect(tui) as first:
            first_output = await asyncio.wait_for(first.recv(), 60)
            with pytest.raises(InvalidStatus) as err:
                await connect(tui)
        # Once the first one's process has quit (it counts until then), there is room.
        for _ in range(600):
            try:
                async with connect(tui) as again:
                    await asyncio.wait_for(again.recv(), 60)
                    break
            except InvalidStatus:
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("no room for a session after the first one ended")
        return first_output, err.value.response

    with RunningServer() as server:
        first_output, refused = asyncio.run(main(server))
    assert first_output  # the session's app is drawing
    assert refused.status_code == 503
    assert b"1 browser sessions are open" in refused.body


def test_stopping_the_server_ends_its_browser_sessions_and_their_processes(caplog):
    caplog.set_level("INFO", logger="kldload_tui.serve")
    # A sync client answers the server's close from a thread of its own while the
    # server stops; the session stays open until then.
    with RunningServer() as server, sync_connect(
            f"ws://127.0.0.1:{server.port}/tui?token={server.token}&?width=80&height=24",
            open_timeout=60) as ws:
        ws.recv(timeout=60)
        found = re.search(r"browser session for \S+ started \(process (\d+)\)", caplog.text)
        assert found, caplog.text
        pid = int(found.group(1))
        # The process the server holds is the app itself, so terminating it ends the app.
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert argv[1:3] == [b"-m", b"kldload_tui"]
        server.stop()
        with pytest.raises(ConnectionClosedOK):
            while True:  # what the app drew before the server stopped, then the close
                ws.recv(timeout=60)
        assert ws.close_code == 1001
    assert not Path(f"/proc/{pid}").exists()
    assert re.search(r"browser session for \S+ ended", caplog.text)
