"""Events: JSON lines that read back, validation, the WebSocket API's messages."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from kldload_tui.backend.engine.events import (
    Complete,
    Event,
    EventLog,
    Failed,
    InstallStarted,
    OutputLine,
    PhaseFinished,
    PhaseStarted,
    Progress,
    event_to_json,
    to_ws_message,
)

ALL_EVENTS: list[Event] = [
    InstallStarted(total_phases=2, phases=["partition", "pool"], dry_run=True,
                   log_path="/var/log/kldload/install.log"),
    PhaseStarted(name="partition", index=1, total=2),
    OutputLine(phase="partition", stream="stderr", text="The operation has completed."),
    Progress(phase="bootstrap", fraction=0.5, message="unpacking"),
    PhaseFinished(name="partition", index=1, seconds=2.5),
    Failed(phase="pool", command="zpool create rpool /dev/sda2", exit_code=1,
           message="command failed (exit 1)", log_path="/var/log/kldload/install.log"),
    Complete(seconds=600.0, message="installed debian on web01"),
]


# What a reader of `--json` output does with a line: the `type` field picks the model.
EVENT = TypeAdapter(Event)


@pytest.mark.parametrize("event", ALL_EVENTS, ids=lambda e: e.type)
def test_json_lines_read_back(event: Event) -> None:
    line = event_to_json(event)
    assert "\n" not in line
    back = EVENT.validate_json(line)
    assert back == event
    assert type(back) is type(event)


def test_every_event_has_a_timestamp_and_type() -> None:
    for event in ALL_EVENTS:
        data = json.loads(event_to_json(event))
        assert data["type"] == event.type
        assert datetime.fromisoformat(data["timestamp"]).tzinfo is not None


def test_unknown_type_is_rejected() -> None:
    with pytest.raises(ValidationError):
        EVENT.validate_json('{"type": "exploded", "message": "x"}')


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_progress_fraction_is_bounded(fraction: float) -> None:
    with pytest.raises(ValidationError):
        Progress(phase="x", fraction=fraction)


def test_extra_fields_are_rejected() -> None:
    with pytest.raises(ValidationError):
        OutputLine(stream="stdout", text="x", password="no")  # type: ignore[call-arg]


def test_events_are_frozen() -> None:
    event = PhaseStarted(name="pool", index=3, total=9)
    with pytest.raises(ValidationError):
        event.name = "other"  # type: ignore[misc]


def test_ws_message_for_complete_matches_seed_client() -> None:
    msg = to_ws_message(Complete(seconds=1.0, message="done"))
    assert msg["status"] == "complete"
    assert msg["message"] == "done"
    assert msg["phase"] == "complete"
    json.dumps(msg)  # the message must be sendable as is


def test_ws_message_for_failed() -> None:
    msg = to_ws_message(ALL_EVENTS[5])
    assert (msg["phase"], msg["status"]) == ("pool", "failed")
    assert msg["message"] == "command failed (exit 1)"
    assert msg["event"]["command"] == "zpool create rpool /dev/sda2"


@pytest.mark.parametrize("event", ALL_EVENTS, ids=lambda e: e.type)
def test_ws_message_shape(event: Event) -> None:
    msg = to_ws_message(event)
    assert {"phase", "message", "status"} <= set(msg)
    assert all(isinstance(msg[k], str) for k in ("phase", "message", "status"))
    assert msg["event"]["type"] == event.type
    json.dumps(msg)


def test_only_complete_ends_the_seed_client() -> None:
    """install-remote.py stops at `status == "complete"`: no other event may say so."""
    assert {e.type: to_ws_message(e)["status"] for e in ALL_EVENTS} == {
        "install_started": "started", "phase_started": "running", "output_line": "running",
        "progress": "running", "phase_finished": "running", "failed": "failed",
        "complete": "complete"}


def test_ws_messages_for_running_events() -> None:
    started, phase, line, progress, finished = (to_ws_message(e) for e in ALL_EVENTS[:5])
    assert started["status"] == "started"
    assert phase == {**phase, "phase": "partition", "status": "running",
                     "message": "phase 1/2: partition"}
    assert line["message"] == "The operation has completed."
    assert progress["message"] == "unpacking"
    assert to_ws_message(Progress(fraction=0.25))["message"] == "25%"
    assert finished["message"] == "phase 1 partition done in 2.5s"


def test_event_log_collects_in_order() -> None:
    log = EventLog()
    for event in ALL_EVENTS:
        log(event)
    assert log.events == ALL_EVENTS
    assert log.of_type(PhaseStarted) == [ALL_EVENTS[1]]


def test_backend_does_not_import_textual() -> None:
    code = (
        "import sys, kldload_tui.backend.engine.events, kldload_tui.backend.engine.runner, "
        "kldload_tui.backend.engine.redact; "
        "sys.exit(1 if 'textual' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
