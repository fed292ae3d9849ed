"""The websockets wiring of `kldload-tui serve`: handshake checks, one reader and one
sender per connection, and the TUI in a browser on the same port.

Every request is judged before anything runs (`process_request`): the path
must be `/ws` (the API) or one of the browser's (`browser.py`), a browser's
Origin our own, and the token presented (401 otherwise). The browser's page and
assets are answered there and then; its session WebSocket, like the API's, is
accepted. Then each API connection gets a `Watcher`: its reader hands every
message to `Actions.handle`, its sender sends what the watcher yields, so
replies and events go out in order on one socket and a slow client only slows
itself. Frames over 1 MiB close that connection (1009); nothing a client does
stops the server or the install.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from kldload_tui.remote.actions import Actions
from kldload_tui.remote.auth import (
    host_allowed,
    origin_allowed,
    own_names,
    presented_token,
    token_matches,
)
from kldload_tui.remote.browser import (
    MAX_SESSIONS,
    SESSION_PATH,
    STATIC_PREFIX,
    BrowserSessions,
    is_browser_path,
    page,
    static,
    tui_argv,
)
from kldload_tui.remote.hub import Finisher, Hub, Watcher
from kldload_tui.remote.protocol import MAX_MESSAGE_BYTES

if TYPE_CHECKING:
    from kldload_tui.backend.engine.launcher import Engine
    from kldload_tui.backend.machine.model import Machine

log = logging.getLogger("kldload_tui.serve")

PATH = "/ws"
MAX_CLIENTS = 256
"""Connections at once; one more is refused with 503 until another closes."""


@dataclass(frozen=True)
class ServerOptions:
    """Where to listen and whom to let in. `token` None: no authentication (--no-auth)."""

    bind: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None


class RemoteServer:
    """The WebSocket endpoint; `run` serves until `stop` is set."""

    def __init__(self, actions: Actions, options: ServerOptions,
                 browser: BrowserSessions | None = None) -> None:
        self.actions = actions
        self.options = options
        self.browser = browser
        self._names = own_names()
        self._connections = 0
        self._sessions = 0
        self.server: Server | None = None

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """(host, port) of every listening socket, once started."""
        if self.server is None:
            return []
        return [sock.getsockname()[:2] for sock in self.server.sockets]

    def _refuse(self, connection: ServerConnection, status: HTTPStatus, text: str) -> Response:
        response = connection.respond(status, text + "\n")
        if status is HTTPStatus.UNAUTHORIZED:
            response.headers["WWW-Authenticate"] = 'Bearer realm="kldload-tui"'
        peer = _peer(connection)
        log.info("refused %s: %d %s", peer, status.value, text)
        return response

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        """The handshake's verdict: None lets the connection in; a response refuses it,
        or is the browser's page or asset."""
        headers: Headers = request.headers
        path = urlsplit(request.path).path
        browser = self.browser is not None and is_browser_path(path)
        if path != PATH and not browser:
            where = f"{PATH}, the TUI in a browser at /" if self.browser else PATH
            return self._refuse(connection, HTTPStatus.NOT_FOUND,
                                f"not found: the API is at {where}")
        if path == PATH and self._connections >= MAX_CLIENTS:
            return self._refuse(connection, HTTPStatus.SERVICE_UNAVAILABLE,
                                f"{MAX_CLIENTS} clients are connected: try again later")
        if path == SESSION_PATH and self._sessions >= MAX_SESSIONS:
            return self._refuse(connection, HTTPStatus.SERVICE_UNAVAILABLE,
                                f"{MAX_SESSIONS} browser sessions are open: close one, or "
                                "try again later")
        if not origin_allowed(headers.get("Origin"), headers.get("Host"), self._names):
            return self._refuse(connection, HTTPStatus.FORBIDDEN,
                                "forbidden: a browser may connect only from this server's own "
                                "address (Origin must equal the host and port it connects to)")
        # A page load sends no Origin, so the browser's routes also check the name they
        # were addressed by (the same names as for Origin): a name that is not ours, such
        # as one rebound to this machine, is refused here, not with a page whose session
        # socket the Origin rule would then refuse.
        if browser and not host_allowed(headers.get("Host"), self._names):
            return self._refuse(connection, HTTPStatus.FORBIDDEN,
                                "forbidden: open the installer at this machine's IP address, "
                                "localhost or its host name")
        token = self.options.token
        if token is not None and not token_matches(
                presented_token(headers.get("Authorization"), request.path), token):
            return self._refuse(connection, HTTPStatus.UNAUTHORIZED,
                                "unauthorized: present the token printed when the server "
                                "started, as 'Authorization: Bearer TOKEN' or ?token=TOKEN")
        if browser and path != SESSION_PATH:
            if path.startswith(STATIC_PREFIX):
                return static(path)
            return page(headers.get("Host", ""), token, urlsplit(request.path).query)
        return None

    async def _connection(self, ws: ServerConnection) -> None:
        if (self.browser is not None and ws.request is not None
                and urlsplit(ws.request.path).path == SESSION_PATH):
            self._sessions += 1
            try:
                await self.browser.run(ws, _peer(ws))
            finally:
                self._sessions -= 1
            return
        self._connections += 1
        watcher = Watcher(_peer(ws))
        hub = self.actions.hub
        hub.attach(watcher)
        sender = asyncio.create_task(self._send(ws, watcher))
        try:
            async for data in ws:
                await watcher.room()
                await self.actions.handle(data, watcher)
        except ConnectionClosed:
            pass  # gone mid-message, or a frame over the limit (closed with 1009)
        finally:
            self._connections -= 1
            hub.detach(watcher)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    @staticmethod
    async def _send(ws: ServerConnection, watcher: Watcher) -> None:
        try:
            while True:
                out = await watcher.next()
                await ws.send(out.text)
                if out.close is not None:
                    await ws.close(1000, out.close)
                    return
        except ConnectionClosed:
            return

    async def start(self) -> None:
        """Listen; `addresses` says where."""
        self.server = await serve(
            self._connection, self.options.bind, self.options.port,
            process_request=self._check, max_size=MAX_MESSAGE_BYTES,
            # No permessage-deflate: its per-connection buffers cost more memory than an
            # install's short text messages save, and it is one less thing to trust.
            compression=None, server_header=None,
            logger=logging.getLogger("kldload_tui.serve.websockets"))

    async def run(self, stop: asyncio.Event,
                  started: Callable[[list[tuple[str, int]]], None] | None = None) -> None:
        """Serve until `stop` is set, then stop a running install and wait for it."""
        await self.start()
        assert self.server is not None
        if started is not None:
            started(self.addresses)
        try:
            await stop.wait()
        finally:
            self.server.close()
            await self.actions.hub.shutdown()
            await self.server.wait_closed()


def _peer(connection: ServerConnection) -> str:
    try:
        host, port = connection.remote_address[:2]
    except (TypeError, ValueError):
        return "a client"
    return f"{host}:{port}"


def build_server(options: ServerOptions, *, machine: str | None, dry_run: bool,
                 log: Path | None = None, engine: Engine | None = None,
                 finish: Finisher | None = None, browser: bool = True) -> RemoteServer:
    """The server `kldload-tui serve` runs: on the description `machine` (resolved once;
    dry runs only), else on this machine, probed for every request that needs its disks.
    `engine` and `finish` replace the install engine and the finish action (tests).
    `browser`: serve the TUI in a browser too, each session with these same options."""
    from kldload_tui.backend.machine.probe import machine_for

    if machine is not None:
        described = machine_for(machine)

        def source() -> Machine:
            return described
    else:
        def source() -> Machine:
            return machine_for(None)

    hub = Hub(engine=engine, finish=finish)
    actions = Actions(hub, source, dry_run=dry_run, described=machine is not None, log=log)
    sessions = (BrowserSessions(tui_argv(machine=machine, dry_run=dry_run, log_path=log),
                                options.token) if browser else None)
    return RemoteServer(actions, options, sessions)
