"""One install at a time, and its events fanned out to every client that watches.

The install runs in a worker thread (the engine blocks); each event it emits is
numbered, turned into its JSON text once, and appended on the event loop to the
install's `InstallRecord`, the one history every client reads from. A client is
a `Watcher`: an outbox of replies and a cursor into the record it follows. A
slow client only falls behind its own cursor: publishing never waits for a
socket, so no client can hold up the install or the others, and each receives
every event, in order. A record lives as long as the hub or a lagging watcher
needs it; a new install starts a new one, linked from the last, so a client
following every install moves on once it has read the previous one whole.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from kldload_tui.backend.engine.events import Complete, Event, Failed, PhaseStarted
from kldload_tui.remote.protocol import (
    InstallInfo,
    InstallStatus,
    NoticeMessage,
    encode,
    event_message,
)

if TYPE_CHECKING:
    from kldload_tui.backend.engine.launcher import Engine, FinishStep, Launch
    from kldload_tui.backend.engine.runner import Runner

log = logging.getLogger("kldload_tui.serve")

MAX_PENDING_REPLIES = 64
"""Replies a client may leave unread before the server stops reading its requests."""

Finisher = Callable[["FinishStep", "Runner"], None]
"""Runs the finish action (reboot, power off) through the install's runner."""


@dataclass(frozen=True)
class Outgoing:
    """A message for one client; `close` is the reason to close the socket after it."""

    text: str
    close: str | None = None
    event: bool = False  # an event of the stream (not a notice, not a reply)


@dataclass
class InstallRecord:
    """One install: what it is, how far it got, and every message it produced."""

    hostname: str
    distro: str
    disks: list[str]
    dry_run: bool
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    status: InstallStatus = "running"
    phase: str | None = None
    messages: list[Outgoing] = field(default_factory=list)
    # Set once the worker is gone (the finish action included): the hub is free again.
    done: bool = False
    next: InstallRecord | None = None

    def info(self) -> InstallInfo:
        return InstallInfo(hostname=self.hostname, distro=self.distro, disks=self.disks,
                           dry_run=self.dry_run, started=self.started, phase=self.phase,
                           events=len(self.messages))

    def last_events(self, count: int) -> list[str]:
        """The texts of the last `count` events."""
        events = [m.text for m in self.messages if m.event]
        return events[-count:] if count else []


class Watcher:
    """One connection's outgoing side: replies to its requests, then the events of the
    install it watches. Read by a single sender task (`next`)."""

    def __init__(self, label: str = "") -> None:
        self.label = label
        self._replies: deque[Outgoing] = deque()
        self.record: InstallRecord | None = None
        self.cursor = 0
        self.follow = False  # every later install too (`watch`), not only this one
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    def reply(self, text: str, *, close: str | None = None) -> None:
        """Queue a reply; `close` closes the connection once it is sent."""
        self._replies.append(Outgoing(text, close))
        if len(self._replies) >= MAX_PENDING_REPLIES:
            self._room.clear()
        self._wake.set()

    def watch(self, record: InstallRecord | None, *, follow: bool) -> None:
        """Receive `record`'s messages from its first (and, with `follow`, later installs')."""
        self.follow = self.follow or follow
        if record is not None and record is not self.record:
            self.record, self.cursor = record, 0
        self._wake.set()

    def poke(self) -> None:
        self._wake.set()

    async def room(self) -> None:
        """Wait until the client has read enough replies to take another request."""
        await self._room.wait()

    async def next(self) -> Outgoing:
        """The next message to send: a reply first, else the next event of the record."""
        while True:
            if self._replies:
                out = self._replies.popleft()
                if len(self._replies) < MAX_PENDING_REPLIES // 2:
                    self._room.set()
                return out
            record = self.record
            if record is not None:
                if self.cursor < len(record.messages):
                    self.cursor += 1
                    return record.messages[self.cursor - 1]
                if record.done:
                    if self.follow and record.next is not None:
                        self.record, self.cursor = record.next, 0
                        continue
                    if not self.follow:
                        self.record = None
            # Nothing to send: no await since the checks, so no wake-up is missed.
            self._wake.clear()
            await self._wake.wait()


class Hub:
    """The install state of one server and the clients watching it.

    All methods run on the event loop; only `_emit`, given to the engine as its
    sink, is called from the install's thread.
    """

    def __init__(self, *, engine: Engine | None = None, finish: Finisher | None = None) -> None:
        self._engine = engine
        self._finish = finish
        self.latest: InstallRecord | None = None
        self._watchers: set[Watcher] = set()
        self._worker: asyncio.Task[None] | None = None
        self._cancel = threading.Event()

    # Clients --------------------------------------------------------------------

    def attach(self, watcher: Watcher) -> None:
        self._watchers.add(watcher)

    def detach(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)

    @property
    def clients(self) -> int:
        return len(self._watchers)

    # State ----------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """An install is running (its finish action included)."""
        return self.latest is not None and not self.latest.done

    @property
    def status(self) -> InstallStatus:
        return "idle" if self.latest is None else self.latest.status

    # Installing -----------------------------------------------------------------

    def start(self, launch: Launch, info: InstallRecord, *, watcher: Watcher | None = None
              ) -> bool:
        """Start `launch` unless an install runs; False when one does (nothing started).

        `watcher` (the client that asked) receives this install's events.
        """
        if self.busy:
            return False
        previous, self.latest = self.latest, info
        if previous is not None:
            previous.next = info
        if watcher is not None:
            watcher.watch(info, follow=False)
        for other in self._watchers:
            if other.follow and other.record is None:
                other.watch(info, follow=True)
        self._cancel = threading.Event()
        loop = asyncio.get_running_loop()
        self._worker = asyncio.create_task(
            asyncio.to_thread(self._run, launch, info, loop, self._cancel))
        return True

    def _run(self, launch: Launch, record: InstallRecord, loop: asyncio.AbstractEventLoop,
             cancel: threading.Event) -> None:
        """The worker thread: install, then the finish action; every outcome is an event."""
        from kldload_tui.backend.engine.launcher import FINISH_DELAY_SECONDS, finish_action

        seq = 0
        lock = threading.Lock()
        ended: list[Event] = []

        def emit(event: Event) -> None:
            nonlocal seq
            with lock:
                seq += 1
                text = json.dumps(event_message(event, seq), ensure_ascii=False)
                if isinstance(event, Complete | Failed):
                    ended.append(event)
            loop.call_soon_threadsafe(self._append, record, event, text)

        try:
            with launch.start(emit, engine=self._engine) as install:
                outcome = install.run(cancel)
                step = launch.finish_step() if outcome.ok else None
                if step is not None:
                    self._notice(loop, record, (f"{step.action} in {FINISH_DELAY_SECONDS} seconds"
                                                if step.execute else
                                                f"would {step.action} now (dry run)"))
                    if step.execute:
                        finish = self._finish or (lambda s, r: finish_action(
                            s, runner=r, delay=FINISH_DELAY_SECONDS))
                        finish(step, install.runner)
        except Exception as exc:  # the stream must end, and say why
            if not ended:
                emit(Failed(phase=record.phase or "install",
                            message=f"the install could not run: {type(exc).__name__}: {exc}"))
            else:
                self._notice(loop, record, f"after the install: {type(exc).__name__}: {exc}")
        finally:
            loop.call_soon_threadsafe(self._done, record)

    def _notice(self, loop: asyncio.AbstractEventLoop, record: InstallRecord, text: str) -> None:
        message = encode(NoticeMessage(phase="finish", message=text))
        loop.call_soon_threadsafe(self._append_text, record, Outgoing(message))

    def _append(self, record: InstallRecord, event: Event, text: str) -> None:
        if isinstance(event, PhaseStarted):
            record.phase = event.name
        elif isinstance(event, Complete):
            record.status = "finished"
        elif isinstance(event, Failed):
            record.status = "failed"
            record.phase = event.phase or record.phase
        # The seed's client loops until `complete`: after `failed` the socket closes.
        self._append_text(record, Outgoing(text, "install failed"
                                           if isinstance(event, Failed) else None, event=True))

    def _append_text(self, record: InstallRecord, out: Outgoing) -> None:
        record.messages.append(out)
        for watcher in self._watchers:
            if watcher.record is record or (watcher.follow and watcher.record is not None):
                watcher.poke()

    def _done(self, record: InstallRecord) -> None:
        if record.status == "running":  # ended without a final event: say it failed
            record.status = "failed"
        record.done = True
        log.info("install %s: %s (%s), %d events", record.status, record.hostname,
                 ", ".join(record.disks), len(record.messages))
        for watcher in self._watchers:
            watcher.poke()

    async def wait(self) -> None:
        """Until the running install (if any) has ended."""
        if self._worker is not None:
            await asyncio.shield(self._worker)

    async def shutdown(self) -> None:
        """Stop a running install between phases (the engine tears down) and wait for it."""
        self._cancel.set()
        await self.wait()
