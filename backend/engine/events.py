"""The one event stream every front end renders.

The engine and the runner emit these models to an `EventSink`; the TUI progress
screen and the headless printer (text, or JSON lines made by `event_to_json`)
consume the same stream, and so will the WebSocket API of `kldload-tui serve`,
which sends each event as `to_ws_message` shapes it. Events are plain data,
JSON-serialisable, and carry no secrets: the runner redacts text before it
builds an event.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


def _now() -> datetime:
    return datetime.now(UTC)


class _EventBase(BaseModel):
    """Fields every event has."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timestamp: datetime = Field(default_factory=_now)


class InstallStarted(_EventBase):
    """The install began; lists the phases so a front end can draw them all."""

    type: Literal["install_started"] = "install_started"
    total_phases: int = Field(ge=0)
    phases: list[str]
    dry_run: bool = False
    log_path: str | None = None


class PhaseStarted(_EventBase):
    """Phase `index` (1-based) of `total` began."""

    type: Literal["phase_started"] = "phase_started"
    name: str
    index: int = Field(ge=1)
    total: int = Field(ge=1)


class OutputLine(_EventBase):
    """One line a command wrote, without its newline, already redacted."""

    type: Literal["output_line"] = "output_line"
    phase: str | None = None
    stream: Literal["stdout", "stderr"]
    text: str


class Progress(_EventBase):
    """How far a phase has got, as a fraction from 0 to 1."""

    type: Literal["progress"] = "progress"
    phase: str | None = None
    fraction: float = Field(ge=0.0, le=1.0)
    message: str = ""


class PhaseFinished(_EventBase):
    """Phase `index` finished and was verified."""

    type: Literal["phase_finished"] = "phase_finished"
    name: str
    index: int = Field(ge=1)
    seconds: float = Field(ge=0.0)


class Failed(_EventBase):
    """The install stopped; enough detail for an operator to act on."""

    type: Literal["failed"] = "failed"
    phase: str | None = None
    command: str | None = None
    exit_code: int | None = None
    message: str
    log_path: str | None = None


class Complete(_EventBase):
    """The install finished and every phase was verified."""

    type: Literal["complete"] = "complete"
    seconds: float = Field(ge=0.0)
    message: str = "install complete"


Event = Annotated[
    InstallStarted | PhaseStarted | OutputLine | Progress | PhaseFinished | Failed | Complete,
    Field(discriminator="type"),
]
"""Any event; the `type` field says which."""

EventSink = Callable[[Event], None]
"""Where events go: a function that takes one event and returns nothing."""


def event_to_json(event: Event) -> str:
    """One line of JSON for `event` (no newlines inside, for JSON-lines output)."""
    return event.model_dump_json()


def to_ws_message(event: Event) -> dict[str, Any]:
    """The WebSocket API's message for `event`: the encoder of the remote API.

    The shape is the kldload guide's, so its `install-remote.py` client works
    unchanged: every message is a JSON object with the strings `phase`,
    `message` and `status`; that client prints `[phase] message` for each and
    stops at the first `status == "complete"`, which only `Complete` sends.
    `status` is `started` (install started), `running` (phases, output,
    progress), `failed` or `complete`. That client does not stop at `failed`:
    the server must close the connection after sending it. The event's full payload
    (its `type` included) rides along under `event` for clients that want more.
    """
    phase: str
    message: str
    status: str
    match event:
        case InstallStarted():
            phase, status = "install", "started"
            mode = "dry run" if event.dry_run else "install"
            message = f"{mode} started: {event.total_phases} phases"
        case PhaseStarted():
            phase, status = event.name, "running"
            message = f"phase {event.index}/{event.total}: {event.name}"
        case OutputLine():
            phase, status, message = event.phase or "", "running", event.text
        case Progress():
            phase, status = event.phase or "", "running"
            message = event.message or f"{round(event.fraction * 100)}%"
        case PhaseFinished():
            phase, status = event.name, "running"
            message = f"phase {event.index} {event.name} done in {event.seconds:.1f}s"
        case Failed():
            phase, status, message = event.phase or "", "failed", event.message
        case Complete():
            phase, status, message = "complete", "complete", event.message
    return {
        "phase": phase,
        "message": message,
        "status": status,
        "event": event.model_dump(mode="json"),
    }


class EventLog:
    """A sink that keeps every event it receives, in order (for tests)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of_type(self, kind: type[_EventBase]) -> list[Event]:
        """The received events that are instances of `kind`."""
        return [e for e in self.events if isinstance(e, kind)]
