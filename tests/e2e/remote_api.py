"""The `remote` layout's client side: what an operator's script does against the live
ISO's `kldload-webui.service` (docs/remote.md), over QEMU's user network forwarded to
127.0.0.1.

The request is the layout's own answers file turned into the seed's flat JSON fields
(every `KLDLOAD_X=value` line becomes `"x": value`), so the API install and a seed
install ask for the same thing. The token is read off the serial console, where the
live system prints it: nothing is passed in that an operator would not have.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.e2e.bootcheck import CheckFailed

# `serve`'s start line, and the console's "web UI http://ADDR:8080/?token=T" line.
_TOKEN_PATTERNS = (re.compile(r"kldload-tui serve: token (\S+) \("),
                   re.compile(r"web UI http://\S+[?&]token=([A-Za-z0-9._~-]+)"))
RECV_TIMEOUT = 3600.0  # one message: the bootstrap phase streams, but a step may be quiet


def token_from_console(text: str) -> str | None:
    """The last token the live system printed on its console, if any (ANSI codes and
    carriage returns removed; a restarted web UI prints a new one)."""
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\r", "", text)
    found: list[tuple[int, str]] = []
    for pattern in _TOKEN_PATTERNS:
        found += [(m.start(), m.group(1)) for m in pattern.finditer(plain)]
    return max(found)[1] if found else None


def request_fields(answers_env: str) -> dict[str, str]:
    """An answers file's assignments as the API's flat fields: the key lower case
    without `KLDLOAD_`, the value as the file's shell quoting gives it."""
    fields: dict[str, str] = {}
    for line in answers_env.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        words = shlex.split(stripped)
        if len(words) != 1 or "=" not in words[0]:
            raise ValueError(f"not an assignment the layout writes: {line!r}")
        key, _, value = words[0].partition("=")
        fields[key.removeprefix("KLDLOAD_").lower()] = value
    return fields


@dataclass
class ApiInstall:
    """What the install's stream said: every message, the phases' times from the
    `phase_finished` events, and how it ended."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)
    status: str = ""

    @property
    def events(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == "event"]


class Api:
    """The API of one live guest, at ws://127.0.0.1:PORT/ws."""

    def __init__(self, port: int, token: str, log: Path) -> None:
        self.url = f"ws://127.0.0.1:{port}/ws"
        self.token = token
        self.log = log

    def _note(self, direction: str, text: str) -> None:
        with self.log.open("a", encoding="utf-8") as out:
            out.write(f"{time.strftime('%H:%M:%S')} {direction} {text}\n")

    def connect(self, *, token: str | None = None, timeout: float = 30.0) -> ClientConnection:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return connect(self.url, additional_headers=headers, open_timeout=timeout,
                       max_size=2**24)

    def wait_listening(self, timeout: float) -> None:
        """The web UI answers `state` (it starts a little after the token is printed)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                reply = self.ask({"action": "state"})
            except (OSError, TimeoutError) as exc:
                if time.monotonic() > deadline:
                    raise CheckFailed(f"the web UI at {self.url} did not answer in "
                                      f"{timeout:.0f} s: {exc}") from None
                time.sleep(2)
                continue
            if reply.get("type") != "state":
                raise CheckFailed(f"`state` got {reply}")
            return

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """One request on a connection of its own; its reply."""
        with self.connect() as ws:
            return self._exchange(ws, request)

    def _exchange(self, ws: ClientConnection, request: dict[str, Any]) -> dict[str, Any]:
        text = json.dumps(request)
        self._note(">", _redacted(request))
        ws.send(text)
        while True:
            reply: dict[str, Any] = json.loads(ws.recv(timeout=120))
            self._note("<", json.dumps(reply)[:2000])
            if reply.get("type") not in ("event", "notice"):
                return reply

    def refuses_without_token(self) -> bool:
        """A connection with a wrong token is refused before any message (HTTP 401)."""
        try:
            with self.connect(token="wrong-" + "x" * 20):
                return False
        except InvalidStatus as exc:
            return exc.response.status_code == 401

    def install(self, request: dict[str, Any]) -> ApiInstall:
        """Send `install` and read the stream to its end: `complete`, or `failed`
        (after which the server closes the socket)."""
        got = ApiInstall()
        with self.connect() as ws:
            self._note(">", _redacted(request))
            ws.send(json.dumps(request))
            while True:
                try:
                    message: dict[str, Any] = json.loads(ws.recv(timeout=RECV_TIMEOUT))
                except Exception as exc:  # closed: the stream ends with what it said
                    self._note("!", f"the stream ended: {exc!r}")
                    break
                self._note("<", json.dumps(message)[:2000])
                got.messages.append(message)
                event = message.get("event")
                if isinstance(event, dict) and event.get("type") == "phase_finished":
                    got.phases[str(event["name"])] = float(event["seconds"])
                if message.get("type") in ("invalid", "refused", "error"):
                    got.status = str(message.get("status"))
                    break
                if message.get("type") == "event" and message.get("status") in (
                        "complete", "failed"):
                    got.status = str(message["status"])
                    break
        return got


def _redacted(request: dict[str, Any]) -> str:
    """The request for the log: secrets by length only, as the product logs them."""
    shown = {k: (f"<{len(str(v))} characters>" if k in ("password", "zfs_passphrase") else v)
             for k, v in request.items()}
    return json.dumps(shown)
