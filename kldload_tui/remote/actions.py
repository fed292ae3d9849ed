"""The message handler: one request in, its replies queued for the client.

`install` and `validate` check the fields with the answers model and rules an
answers file goes through (`parse_answers_fields`), then the disks on this
machine (`check_targets`), exactly as headless mode does; `install` then hands
the answers to the launcher through the hub. Every problem goes back in one
message, and nothing is touched. Nothing a client sends can make the handler
raise: whatever is not a request gets an `error` reply, and the connection
stays usable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kldload_tui.backend.engine.install_lock import held_by
from kldload_tui.remote.hub import Hub, InstallRecord, Watcher
from kldload_tui.remote.protocol import (
    AcceptedMessage,
    Action,
    DisksMessage,
    ErrorMessage,
    InvalidMessage,
    ProblemOut,
    ProtocolError,
    RefusedMessage,
    Request,
    StateMessage,
    ValidMessage,
    WatchingMessage,
    encode,
    error_text,
    parse_request,
)

if TYPE_CHECKING:
    from kldload_tui.backend.answers.model import Answers
    from kldload_tui.backend.engine.launcher import Launch
    from kldload_tui.backend.machine.model import Machine
    from kldload_tui.backend.problems import Problem

log = logging.getLogger("kldload_tui.serve")

MachineSource = Callable[[], "Machine"]
"""Where the machine comes from: a description, or a probe of this one (blocking)."""


@dataclass
class Checked:
    """An install request checked: the answers when it may go ahead, and every problem."""

    answers: Answers | None
    machine: Machine | None
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    wipe: list[str] = field(default_factory=list)
    disks: list[str] = field(default_factory=list)
    summary: dict[str, str] = field(default_factory=dict)


def check_install(fields: dict[str, Any], machine: Machine) -> Checked:
    """The checks of headless mode, on fields instead of a file (blocking, touches nothing)."""
    from kldload_tui.backend.answers.fields import parse_answers_fields
    from kldload_tui.backend.answers.summary import summarize
    from kldload_tui.backend.machine.targets import check_targets, target_problems_of_fields

    result = parse_answers_fields(fields)
    if result.answers is None or not result.ok:
        refused = {p.key for p in result.errors}
        disks = [p for p in target_problems_of_fields(fields, machine) if p.key not in refused]
        return Checked(None, machine, [*result.errors, *disks], result.warnings)
    answers = result.answers
    check = check_targets(answers, machine, consent=answers.force_wipe)
    return Checked(answers if check.ok else None, machine, list(check.problems),
                   result.warnings, [t.describe() for t in check.targets],
                   [t.stable_path for t in check.targets], summarize(answers))


class Actions:
    """Answers the requests of every connection of one server."""

    def __init__(self, hub: Hub, machine: MachineSource, *, dry_run: bool,
                 described: bool, log: Path | None = None) -> None:
        self.hub = hub
        self._machine = machine
        self.dry_run = dry_run
        self.described = described
        self.log = log

    async def handle(self, data: str | bytes, watcher: Watcher) -> None:
        """Answer one message; never raises for anything a client sends."""
        request_id = None
        try:
            request = parse_request(data)
            request_id = request.request_id
            await self._dispatch(request, watcher)
        except ProtocolError as err:
            watcher.reply(error_text(err))
        except Exception:
            log.exception("internal error answering a request")
            watcher.reply(encode(ErrorMessage(
                message="internal error: the request was not carried out",
                fix="see the server's log; report this as a bug", id=request_id)))

    async def _dispatch(self, request: Request, watcher: Watcher) -> None:
        match request.action:
            case Action.INSTALL | Action.VALIDATE:
                await self._answers(request, watcher)
            case Action.LIST_DISKS:
                await self._list_disks(request, watcher)
            case Action.STATE:
                watcher.reply(self.state(request.events, request.request_id))
            case Action.WATCH:
                record = self.hub.latest
                watcher.watch(record, follow=True)
                count = len(record.messages) if record is not None else 0
                text = (f"watching: the {count} events so far of the current install follow"
                        if self.hub.busy else "watching: the events of the next install "
                        "will follow" if record is None or (record.done and count == 0)
                        else f"watching: the {count} events of the last install follow")
                elsewhere = self._elsewhere()
                if elsewhere:
                    text += (f"; an install started elsewhere is running ({elsewhere}), "
                             "and its events are shown only where it was started")
                watcher.reply(encode(WatchingMessage(
                    phase="watch", message=text, status=self.hub.status,
                    install=record.info() if record is not None else None,
                    elsewhere=elsewhere, id=request.request_id)))

    def _elsewhere(self) -> str | None:
        """Who holds the machine's install lock when this server's hub does not: an
        install another front end started. None while the hub's own install runs (it
        holds the lock itself)."""
        return None if self.hub.busy else held_by()

    def state(self, count: int, request_id: Any = None) -> str:
        """The `state` reply: status, the install, its last `count` events."""
        from kldload_tui.remote.protocol import EventMessage

        record = self.hub.latest
        events = ([EventMessage.model_validate_json(t) for t in record.last_events(count)]
                  if record is not None else [])
        status = self.hub.status
        if record is None:
            text = "idle: no install yet"
        else:
            text = f"{status}: {record.distro} on {', '.join(record.disks)} ({record.hostname})"
            text += f", phase {record.phase}" if record.phase else ""
        elsewhere = self._elsewhere()
        if elsewhere:
            # The machine is busy even though this server started nothing: saying idle
            # would invite an install that the lock then refuses.
            status = "running"
            text = (f"running: an install started elsewhere on this machine ({elsewhere}); "
                    "its events are shown where it was started"
                    + (f". This server's last install: {text}" if record is not None else ""))
        return encode(StateMessage(phase="state", message=text, status=status,
                                   install=record.info() if record else None, events=events,
                                   total_events=len(record.messages) if record else 0,
                                   elsewhere=elsewhere, id=request_id))

    async def _list_disks(self, request: Request, watcher: Watcher) -> None:
        from kldload_tui.backend.machine.disks import PROFILE_MIN_SIZE_BYTES, classify_machine
        from kldload_tui.commands.disks import report

        machine = await asyncio.to_thread(self._machine)
        minimum = PROFILE_MIN_SIZE_BYTES[request.profile]
        verdicts = classify_machine(machine, min_size_bytes=minimum)
        count = sum(v.installable for v in verdicts.values())
        watcher.reply(encode(DisksMessage(
            phase="list_disks", message=f"{count} of {len(verdicts)} disks installable",
            id=request.request_id, **report(machine, verdicts, minimum, request.profile))))

    async def _answers(self, request: Request, watcher: Watcher) -> None:
        install = request.action is Action.INSTALL
        phase = request.action.value
        # A client that asked to install gets `complete` or a closed socket: the seed's
        # client reads until `complete`, and must not wait forever for a refused one.
        close = "install refused" if install else None
        if install and self.hub.busy:  # before any work, and checked again at the start
            watcher.reply(self._refused(request), close=close)
            return
        machine = await asyncio.to_thread(self._machine)
        checked = await asyncio.to_thread(check_install, request.fields, machine)
        warnings = [ProblemOut.of(p) for p in checked.warnings]
        if checked.answers is None:
            errors = [ProblemOut.of(p) for p in checked.errors]
            n = len(errors)
            watcher.reply(encode(InvalidMessage(
                phase=phase, message=f"{phase} refused: {n} problem{'s' if n != 1 else ''}; "
                "nothing was touched: " + "; ".join(e.text for e in errors),
                errors=errors, warnings=warnings, id=request.request_id)), close=close)
            return
        answers = checked.answers
        if not install:
            watcher.reply(encode(ValidMessage(
                phase=phase, message=f"valid: would install {checked.summary.get('distro', '')} "
                f"on {', '.join(checked.disks)} ({answers.hostname})",
                summary=checked.summary, wipe=checked.wipe, warnings=warnings,
                id=request.request_id)))
            return
        launch = self._launch(answers, machine)
        record = InstallRecord(hostname=answers.hostname, distro=answers.distro.value,
                               disks=checked.disks, dry_run=self.dry_run)
        accepted = encode(AcceptedMessage(
            phase=phase, message=f"{'dry run' if self.dry_run else 'install'} accepted: "
            f"{checked.summary.get('distro', '')} on {', '.join(checked.disks)} "
            f"({answers.hostname})", summary=checked.summary, wipe=checked.wipe,
            warnings=warnings, dry_run=self.dry_run, id=request.request_id))
        if self.hub.busy:  # another client's install started while these were checked
            watcher.reply(self._refused(request), close=close)
            return
        watcher.reply(accepted)
        started = self.hub.start(launch, record, watcher=watcher)
        assert started, "checked not busy without an await in between"
        log.info("install started by %s: %s on %s (%s)%s", watcher.label or "a client",
                 answers.distro.value, ", ".join(checked.disks), answers.hostname,
                 " (dry run)" if self.dry_run else "")

    def _launch(self, answers: Answers, machine: Machine) -> Launch:
        from kldload_tui.backend.engine.launcher import Launch

        # Consent to wipe disks holding data is the request's force_wipe, as headless.
        return Launch(answers, machine, dry_run=self.dry_run, consent=answers.force_wipe,
                      log=self.log, described=self.described)

    def _refused(self, request: Request) -> str:
        record = self.hub.latest
        assert record is not None
        return encode(RefusedMessage(
            phase="install", message=f"refused: an install is already running ({record.distro} "
            f"on {', '.join(record.disks)}, {record.hostname}, phase {record.phase or 'starting'})"
            "; one install at a time: send {\"action\": \"watch\"} to follow it",
            running=record.info(), id=request.request_id))
