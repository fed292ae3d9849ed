"""A real `serve` server on 127.0.0.1 (a free port) in a thread, for the serve tests.

The server is the one `kldload-tui serve` builds (`build_server`); only the
port (0: the kernel picks a free one, no race) and, where a test needs an
install to stay running, the engine (the real one, paused by a gate) differ.
Clients are real websockets clients. Nothing here sleeps to synchronise: tests
wait on events with generous timeouts.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from kldload_tui.backend.engine.core import run_install
from kldload_tui.backend.engine.events import PhaseStarted
from kldload_tui.remote.server import RemoteServer, ServerOptions, build_server

MACHINE = "server-3nvme-usb-seed"
TOKEN = "test-token-0123456789abcdef"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILN0whhzPJXkgKWfGjtQmn1pIoK0FhWBWGYIxKOdPqX9 user@host"
DISK = "/dev/nvme0n1"
TIMEOUT = 60.0  # seconds: generous, for a loaded 2-core machine beside a QEMU guest


def seed_install(**changes: Any) -> dict[str, Any]:
    """The seed guide's install request, with a disk and key that exist here."""
    request = {"action": "install", "distro": "debian", "disk": DISK,
               "hostname": "web-prod-01", "username": "admin", "password": "changeme",
               "profile": "server", "timezone": "America/Vancouver", "ssh_pubkey": KEY}
    request.update(changes)
    return request


class Gate:
    """An engine: the real one, that stops after the first phase starts until `open`.

    `reached` is set once the install is running (in preflight)."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self._open = threading.Event()

    def open(self) -> None:
        self._open.set()

    def __call__(self, answers: Any, machine: Any, *, runner: Any, sink: Any, options: Any,
                 cancel: Any = None) -> Any:
        def paused(event: Any) -> None:
            sink(event)
            if isinstance(event, PhaseStarted) and not self.reached.is_set():
                self.reached.set()
                assert self._open.wait(TIMEOUT), "the gate was never opened"

        return run_install(answers, machine, runner=runner, sink=paused, options=options,
                           cancel=cancel)


class RunningServer:
    """`with RunningServer() as s:` serves on `s.url` until the block ends."""

    def __init__(self, *, token: str | None = TOKEN, machine: str = MACHINE,
                 engine: Any = None) -> None:
        self.token = token
        self.machine = machine
        self.engine = engine
        self.port = 0
        self.server: RemoteServer | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="serve", daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as err:  # reported to the test thread
            self._error = err
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.server = build_server(ServerOptions("127.0.0.1", 0, self.token),
                                   machine=self.machine, dry_run=True, engine=self.engine)

        def started(addresses: list[tuple[str, int]]) -> None:
            self.port = addresses[0][1]
            self._ready.set()

        await self.server.run(self._stop, started)

    def __enter__(self) -> RunningServer:
        self._thread.start()
        assert self._ready.wait(TIMEOUT), "the server did not start"
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        """Stop the server, as SIGTERM does; again (the block's end) does nothing."""
        if not self._thread.is_alive():
            return
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(TIMEOUT)
        assert not self._thread.is_alive(), "the server did not stop"

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def read_until_end(ws: Any) -> list[dict[str, Any]]:
    """Every message until `complete`, or until the server closes the socket."""
    from websockets.exceptions import ConnectionClosedOK

    got: list[dict[str, Any]] = []
    try:
        while True:
            data = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            got.append(data)
            if data.get("status") == "complete" and data.get("type") == "event":
                return got
    except ConnectionClosedOK:
        return got


async def ask(ws: Any, request: dict[str, Any]) -> dict[str, Any]:
    """Send `request` and return its reply (events and notices of a stream skipped)."""
    await ws.send(json.dumps(request))
    while True:
        data: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if data.get("type") not in ("event", "notice"):
            return data
