"""The messages of the WebSocket API: requests parsed, replies shaped, one schema.

A request is one JSON text message, an object with an `action`. Every reply
and every streamed event is a JSON object with the kldload guide's three
strings, `phase`, `message` and `status`, so the guide's `install-remote.py`
prints something sensible for each, plus a `type` that says which message it
is. The models below are the single description of the replies: the server
builds them, and `kldload_tui.remote.schema` turns them into the schemas of
docs/remote.md. Nothing here does I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kldload_tui.backend.engine.events import Event, to_ws_message
from kldload_tui.backend.machine.model import Disk
from kldload_tui.backend.problems import Problem

MAX_MESSAGE_BYTES = 1024 * 1024
"""Largest request read (1 MiB, websockets' `max_size`); a larger one closes the
connection with code 1009. An install request is a few hundred bytes."""

STATE_EVENTS = 50
"""Events a `state` reply carries unless the request asks for another number."""
MAX_STATE_EVENTS = 1000

MAX_ID_LENGTH = 128

_ANSWERS_ACTIONS = ("install", "validate")


class Action(StrEnum):
    """What a request asks for."""

    INSTALL = "install"
    VALIDATE = "validate"
    LIST_DISKS = "list_disks"
    STATE = "state"
    WATCH = "watch"


RequestId = str | int
InstallStatus = Literal["idle", "running", "finished", "failed"]
PROFILES = ("desktop", "server", "core")


class ProtocolError(Exception):
    """A message that is not a request this server reads: what is wrong and how to fix it."""

    def __init__(self, message: str, fix: str, request_id: RequestId | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.request_id = request_id


@dataclass(frozen=True)
class Request:
    """A parsed request. `fields`: the answers of `install` and `validate`
    (the rest of the object: field names as sent, JSON values)."""

    action: Action
    request_id: RequestId | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    events: int = STATE_EVENTS
    profile: str = "server"

    def __repr__(self) -> str:
        # The fields hold the password: never in a repr, a log or a traceback.
        return f"Request(action={self.action.value!r}, id={self.request_id!r})"


def _did_you_mean(word: str, choices: tuple[str, ...]) -> str | None:
    import difflib

    found = difflib.get_close_matches(word.lower(), choices, n=1, cutoff=0.6)
    return found[0] if found else None


def parse_request(data: str | bytes) -> Request:
    """The request in one WebSocket message; raises `ProtocolError` for anything else."""
    if isinstance(data, bytes | bytearray | memoryview):
        raise ProtocolError("a binary message is not a request",
                            'send the request as a JSON text message: {"action": "state"}')
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError) as err:
        where = f" (line {err.lineno} column {err.colno})" if isinstance(
            err, json.JSONDecodeError) else ""
        raise ProtocolError(f"not JSON{where}",
                            'a request is a JSON object such as {"action": "state"}') from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"a JSON {type(obj).__name__} is not a request",
                            'a request is a JSON object such as {"action": "state"}')
    request_id = obj.pop("id", None)
    if request_id is not None and not (
            (isinstance(request_id, str) and len(request_id) <= MAX_ID_LENGTH)
            or (isinstance(request_id, int) and not isinstance(request_id, bool))):
        raise ProtocolError("the request id is not a string or an integer",
                            f"give `id` as a string of at most {MAX_ID_LENGTH} characters "
                            "or an integer, or leave it out")
    action = obj.pop("action", None)
    actions = tuple(a.value for a in Action)
    if not isinstance(action, str):
        raise ProtocolError("the request has no action" if action is None
                            else "the action is not a string",
                            f"set \"action\" to one of: {', '.join(actions)}", request_id)
    if action not in actions:
        guess = _did_you_mean(action, actions)
        shown = action if len(action) <= 40 else action[:37] + "..."
        fix = f"did you mean {guess!r}?" if guess else f"actions: {', '.join(actions)}"
        raise ProtocolError(f"unknown action {shown!r}", fix, request_id)
    chosen = Action(action)
    if chosen.value in _ANSWERS_ACTIONS:
        return Request(chosen, request_id, fields=obj)
    return _options(chosen, request_id, obj)


def _options(action: Action, request_id: RequestId | None, obj: dict[str, Any]) -> Request:
    """The few options of the actions that take no answers."""
    allowed = {Action.STATE: ("events",), Action.LIST_DISKS: ("profile",)}.get(action, ())
    extra = sorted(k for k in obj if k not in allowed)
    if extra:
        names = ", ".join(repr(k if len(k) <= 40 else k[:37] + "...") for k in extra[:5])
        takes = f"it takes {', '.join(allowed)}" if allowed else "it takes no other field"
        raise ProtocolError(f"{action.value} does not read {names}", takes, request_id)
    events = obj.get("events", STATE_EVENTS)
    if not (isinstance(events, int) and not isinstance(events, bool)
            and 0 <= events <= MAX_STATE_EVENTS):
        raise ProtocolError("`events` is not a number of events",
                            f"give an integer from 0 to {MAX_STATE_EVENTS}", request_id)
    profile = obj.get("profile", "server")
    if profile not in PROFILES:
        raise ProtocolError("`profile` is not a profile", f"one of: {', '.join(PROFILES)}",
                            request_id)
    return Request(action, request_id, events=events, profile=str(profile))


# Replies -----------------------------------------------------------------------

class _Message(BaseModel):
    """What every message has: the guide's three strings, and the request's `id` on a reply."""

    model_config = ConfigDict(extra="forbid")

    phase: str = Field("", description="The install phase, or the action a reply answers")
    message: str = Field(description="One line for people")
    status: str = Field(description="What happened; see the message's own schema")
    id: RequestId | None = Field(None, description="The `id` of the request answered, if it "
                                 "had one")


class ProblemOut(BaseModel):
    """One problem with a request, as `kldload-tui validate --json` reports one."""

    model_config = ConfigDict(extra="forbid")

    field: str | None = Field(description="The request field (`hostname`), when one is to blame")
    key: str | None = Field(description="Its answers.env key (`KLDLOAD_HOSTNAME`)")
    message: str
    fix: str | None
    severity: Literal["error", "warning"]
    text: str = Field(description="The whole problem as one line")

    @classmethod
    def of(cls, problem: Problem) -> ProblemOut:
        key = problem.key
        name = key.removeprefix("KLDLOAD_").lower() if key and key.startswith("KLDLOAD_") else key
        return cls(field=name, key=key, message=problem.message, fix=problem.fix,
                   severity="warning" if str(problem.severity) == "warning" else "error",
                   text=problem.render())


class EventMessage(_Message):
    """One event of the install's stream (to_ws_message's shape, numbered)."""

    type: Literal["event"] = "event"
    status: Literal["started", "running", "failed", "complete"]
    seq: int = Field(ge=1, description="1 for the install's first event, then one more each")
    event: Event = Field(description="The event itself, as `--json` prints it")


class NoticeMessage(_Message):
    """What the server does after a real install: the finish action."""

    type: Literal["notice"] = "notice"
    status: Literal["complete"] = "complete"


class InstallInfo(BaseModel):
    """The install a `state`, `watching` or `refused` message speaks of."""

    model_config = ConfigDict(extra="forbid")

    hostname: str
    distro: str
    disks: list[str] = Field(description="The disks it wipes, the target first")
    dry_run: bool
    started: datetime
    phase: str | None = Field(description="The phase running, or that failed")
    events: int = Field(ge=0, description="Events so far")


class AcceptedMessage(_Message):
    """`install` was valid and has started; its events follow."""

    type: Literal["accepted"] = "accepted"
    status: Literal["accepted"] = "accepted"
    summary: dict[str, str] = Field(description="What will be installed (validate's summary)")
    wipe: list[str] = Field(description="Every disk wiped: by-id, path, size, model, contents")
    warnings: list[ProblemOut]
    dry_run: bool


class ValidMessage(_Message):
    """`validate`: the request would install (nothing was touched)."""

    type: Literal["valid"] = "valid"
    status: Literal["valid"] = "valid"
    summary: dict[str, str]
    wipe: list[str]
    warnings: list[ProblemOut]


class InvalidMessage(_Message):
    """`install` or `validate`: every problem of the request; nothing was touched."""

    type: Literal["invalid"] = "invalid"
    status: Literal["invalid"] = "invalid"
    errors: list[ProblemOut] = Field(min_length=1)
    warnings: list[ProblemOut]


class RefusedMessage(_Message):
    """`install` while another install runs: one at a time."""

    type: Literal["refused"] = "refused"
    status: Literal["refused"] = "refused"
    running: InstallInfo


class VerdictOut(BaseModel):
    """Whether a disk may be installed to, as `kldload-tui disks --json` says."""

    installable: bool
    reasons: list[str]
    empty: bool
    contents: list[str]


class DiskOut(Disk):
    """A disk of the machine (the machine description's fields) and its verdict."""

    verdict: VerdictOut


class DisksMessage(_Message):
    """`list_disks`: the inventory, each disk judged against the profile's minimum size."""

    type: Literal["disks"] = "disks"
    status: Literal["ok"] = "ok"
    machine: str | None
    profile: str
    min_size_bytes: int
    live_devices: list[str]
    seed_device: str | None
    disks: list[DiskOut]


class StateMessage(_Message):
    """`state`: the install status and its last events, for a client that (re)connects."""

    type: Literal["state"] = "state"
    status: InstallStatus
    install: InstallInfo | None
    elsewhere: str | None = Field(default=None, description=(
        "An install this server did not start (a browser session's, the console's, a "
        "headless run's) holds the machine's install lock: who it is (pid, start time, "
        "command). Its events are shown where it was started; `status` is then `running`"))
    events: list[EventMessage] = Field(description="The last `events` (default 50) events")
    total_events: int = Field(ge=0)


class WatchingMessage(_Message):
    """`watch`: the client now receives every event of the current install from its
    first, then of every later one."""

    type: Literal["watching"] = "watching"
    status: InstallStatus
    install: InstallInfo | None
    elsewhere: str | None = Field(default=None, description=(
        "An install this server did not start holds the machine's install lock (as in "
        "`state`); its events do not reach this client"))


class ErrorMessage(_Message):
    """A message that is not a request this server reads; the connection stays open."""

    type: Literal["error"] = "error"
    status: Literal["error"] = "error"
    fix: str


REPLY_MODELS: tuple[type[_Message], ...] = (
    AcceptedMessage, InvalidMessage, RefusedMessage, ValidMessage, DisksMessage, StateMessage,
    WatchingMessage, EventMessage, NoticeMessage, ErrorMessage,
)
"""Every message the server sends, in the order docs/remote.md shows them."""


def encode(message: _Message) -> str:
    """The JSON text of a reply (unset `id` left out)."""
    return message.model_dump_json(exclude_none=False, exclude={"id"} if message.id is None
                                   else None)


def event_message(event: Event, seq: int) -> dict[str, Any]:
    """An event as streamed: `to_ws_message`'s object with `type` and `seq` (a dict, not a
    model: this is the hot path, built once and sent to every watcher)."""
    return {"type": "event", "seq": seq, **to_ws_message(event)}


def error_text(err: ProtocolError) -> str:
    """The JSON text of the error reply to `err`."""
    return encode(ErrorMessage(phase="", message=err.message, fix=err.fix, id=err.request_id))
