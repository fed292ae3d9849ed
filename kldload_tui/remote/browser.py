"""The TUI in a browser: the same app, on the API's port and behind its token.

textual-serve runs one app process per browser session (Textual's web driver
over pipes) and relays it to xterm.js in the page over a WebSocket. Its own
server is an aiohttp app on a port of its own, without authentication; here
the one websockets server of `serve` takes its place, and textual-serve gives
its parts: the page's assets (the xterm.js bundle, its CSS) and `AppService`,
which starts the app and speaks the web driver's packets. Routes:

- `/`: the page (our template: nothing fetched from other sites, and every URL
  in it carries the token, so the page's own requests pass the same check);
- `/static/...`: textual-serve's assets;
- `/tui`: a session's WebSocket; each one starts a `kldload-tui` process with
  the server's own `--machine`, `--dry-run` and `--log`.

The server checks every request of these (Host, Origin, token) before it
answers; nothing here runs for a request that failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import mimetypes
import shlex
import sys
from dataclasses import dataclass
from email.utils import formatdate
from importlib.resources import files
from pathlib import Path
from string import Template
from urllib.parse import parse_qs, quote, urlsplit

import textual_serve
from textual_serve.app_service import AppService
from textual_serve.download_manager import DownloadManager
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response

from kldload_tui.backend.session import RemoteAccess
from kldload_tui.remote.access import access_env

log = logging.getLogger("kldload_tui.serve")

PAGE_PATH = "/"
STATIC_PREFIX = "/static/"
SESSION_PATH = "/tui"
MAX_SESSIONS = 4
"""Browser sessions at once: each is a process of its own (about 50 MiB RSS measured on
the welcome screen)."""
STOP_SECONDS = 10.0
"""After this long quitting, a session's process is said to be waiting for its install."""

STATIC_ROOT = Path(textual_serve.__file__).parent / "static"
_PAGE = Template(files("kldload_tui.remote").joinpath("templates/browser.html")
                 .read_text(encoding="utf-8"))


def is_browser_path(path: str) -> bool:
    """Whether `path` (without its query) is one of the browser's routes."""
    return path in (PAGE_PATH, SESSION_PATH) or path.startswith(STATIC_PREFIX)


def _response(status: int, reason: str, body: bytes, content_type: str,
              extra: dict[str, str] | None = None) -> Response:
    headers = Headers([("Date", formatdate(usegmt=True)), ("Connection", "close"),
                       ("Content-Length", str(len(body))), ("Content-Type", content_type),
                       # The page's URL holds the token: no other site may learn it
                       # from a Referer, and no cache may keep it.
                       ("Referrer-Policy", "no-referrer"), ("Cache-Control", "no-store"),
                       ("X-Content-Type-Options", "nosniff")])
    for name, value in (extra or {}).items():
        headers[name] = value
    return Response(status, reason, headers, body)


def page(host: str, token: str | None, query: str) -> Response:
    """The page for a browser that asked for `host` (its Host header, already checked)."""
    # textual.js appends "?width=..&height=.." to the session URL, so the token goes
    # first and the URL ends in "&": the server reads the size from "?width" too.
    token_query = "" if token is None else f"?token={quote(token, safe='')}"
    session_url = f"ws://{host}{SESSION_PATH}" + (f"{token_query}&" if token else "")
    font_size = _int(parse_qs(query).get("fontsize", ["16"])[-1], 16, 8, 48)
    text = _PAGE.substitute(
        css=html.escape(f"{STATIC_PREFIX}css/xterm.css{token_query}"),
        js=html.escape(f"{STATIC_PREFIX}js/textual.js{token_query}"),
        websocket=html.escape(session_url), font_size=font_size)
    return _response(200, "OK", text.encode("utf-8"), "text/html; charset=utf-8",
                     {"Content-Security-Policy": "default-src 'self'; connect-src 'self'; "
                      "style-src 'self' 'unsafe-inline'; img-src 'self' data:"})


_cache: dict[Path, bytes] = {}


def static(path: str) -> Response:
    """One of textual-serve's assets, or 404 for anything outside its folder."""
    root = STATIC_ROOT.resolve()
    target = (root / path.removeprefix(STATIC_PREFIX)).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        return _response(404, "Not Found", b"not found\n", "text/plain; charset=utf-8")
    if target not in _cache:  # a few files, under 1 MiB in all
        _cache[target] = target.read_bytes()
    content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    return _response(200, "OK", _cache[target], content_type)


def _int(text: str, default: int, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        return default
    return min(max(value, low), high)


def session_size(path: str) -> tuple[int, int]:
    """The terminal size a session's URL asks for (columns, rows), within reason."""
    query = parse_qs(urlsplit(path).query)
    width = (query.get("width") or query.get("?width") or ["80"])[-1]
    height = (query.get("height") or ["24"])[-1]
    return _int(width, 80, 20, 500), _int(height, 24, 10, 200)


def tui_argv(*, machine: str | None, dry_run: bool, log_path: Path | None) -> list[str]:
    """The command of a browser session: this kldload-tui, with the server's options."""
    argv = [sys.executable, "-m", "kldload_tui"]
    if machine is not None:
        argv += ["--machine", machine]
    if dry_run:
        argv.append("--dry-run")
    if log_path is not None:
        argv += ["--log", str(log_path)]
    return argv


class TuiProcess(AppService):
    """textual-serve's AppService, with the session's connect details in its environment.

    AppService runs its command through the shell: `shlex.join` quotes every argument,
    and every one comes from the server's own options, none from a client. `exec`
    makes the process AppService holds (and the one logged) the app itself, not a
    shell above it."""

    def __init__(self, argv: list[str], env: dict[str, str], ws: ServerConnection) -> None:
        async def send(data: bytes | str) -> None:
            # The browser may be gone while the app still writes; the session ends
            # through the reader, not through an error in AppService's task.
            with contextlib.suppress(ConnectionClosed):
                await ws.send(data)

        async def close() -> None:
            await ws.close(1000, "the installer quit")

        super().__init__("exec " + shlex.join(argv), write_bytes=send, write_str=send, close=close,
                         download_manager=DownloadManager())
        self._extra_env = env

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        env = super()._build_environment(width, height)
        env.update(self._extra_env)
        return env

    @property
    def pid(self) -> int | None:
        process = self._process
        return None if process is None else process.pid

    async def end(self) -> None:
        """Ask the app to quit, and wait until its process has exited.

        An install running in it goes on to its end first (`KldloadApp.on_exit_app`):
        the process is never cut off mid-install."""
        process = self._process
        stopping = asyncio.ensure_future(self.stop())
        done, _ = await asyncio.wait({stopping}, timeout=STOP_SECONDS)
        if not done:
            log.info("browser session process %s: waiting for its install to end", self.pid)
        await stopping
        if process is not None:
            # AppService stops at the end of the app's output; waiting for the exit too
            # leaves no zombie, and no transport for a closed event loop to collect.
            await process.wait()


@dataclass(frozen=True)
class BrowserSessions:
    """What every browser session starts: the command, and the token to show."""

    argv: list[str]
    token: str | None

    async def run(self, ws: ServerConnection, peer: str) -> None:
        """Relay one browser's session until either side leaves."""
        host = ws.request.headers.get("Host", "") if ws.request is not None else ""
        access = RemoteAccess(f"http://{host}/", self.token)
        width, height = session_size(ws.request.path if ws.request is not None else "")
        app = TuiProcess(self.argv, access_env(access), ws)
        await app.start(width, height)
        log.info("browser session for %s started (process %s)", peer, app.pid)
        try:
            async for message in ws:
                await _relay(message, ws, app)
        except ConnectionClosed:
            pass
        finally:
            await app.end()
            log.info("browser session for %s ended", peer)


async def _relay(message: str | bytes, ws: ServerConnection, app: AppService) -> None:
    """One message of textual.js: `["stdin", text]`, `["resize", {...}]`, `["ping", x]`,
    `["focus"]`, `["blur"]`. Anything else is ignored, as textual-serve does."""
    if isinstance(message, bytes):
        return
    try:
        envelope = json.loads(message)
    except ValueError:
        return
    if not isinstance(envelope, list) or not envelope:
        return
    kind, data = envelope[0], envelope[1] if len(envelope) > 1 else None
    if kind == "stdin" and isinstance(data, str):
        await app.send_bytes(data.encode("utf-8"))
    elif kind == "resize" and isinstance(data, dict):
        width, height = data.get("width"), data.get("height")
        if isinstance(width, int) and isinstance(height, int):
            await app.set_terminal_size(min(max(width, 20), 500), min(max(height, 10), 200))
    elif kind == "ping":
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps(["pong", data]))
    elif kind == "blur":
        await app.blur()
    elif kind == "focus":
        await app.focus()
