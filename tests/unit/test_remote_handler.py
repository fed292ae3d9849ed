"""The message handler and the hub without a socket: fuzzed input, fan-out, one install."""

import asyncio
import json
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from kldload_tui.backend.engine import install_lock
from kldload_tui.backend.engine.events import Complete, InstallStarted, OutputLine
from kldload_tui.backend.engine.install_lock import InstallLock
from kldload_tui.backend.engine.launcher import InstallOutcome
from kldload_tui.backend.machine.probe import machine_for
from kldload_tui.remote.actions import Actions
from kldload_tui.remote.hub import Hub, Watcher
from kldload_tui.remote.protocol import REPLY_MODELS

MACHINE = machine_for("server-3nvme-usb-seed")
MODELS = {m.model_fields["type"].default: m for m in REPLY_MODELS}
REQUEST = {"action": "install", "distro": "debian", "disk": "/dev/nvme0n1",
           "hostname": "h-01", "password": "Hub-Pass-0042"}


def actions(engine=None, finish=None, **options) -> Actions:
    return Actions(Hub(engine=engine, finish=finish), lambda: MACHINE,
                   **{"dry_run": True, "described": True, **options})


async def drain(watcher: Watcher, until) -> list[dict]:
    got = []
    while not got or not until(got[-1]):
        out = await asyncio.wait_for(watcher.next(), 60)
        got.append(json.loads(out.text))
    return got


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=16), c, max_size=4),
    max_leaves=16)
requests = st.fixed_dictionaries({"action": st.sampled_from(
    ["install", "validate", "state", "watch", "list_disks", "other"])}, optional={
    "distro": json_values, "disk": json_values, "hostname": json_values, "id": json_values,
    "events": json_values, "profile": json_values}).map(json.dumps)
messages = st.one_of(st.binary(max_size=512), st.text(max_size=512), json_values.map(json.dumps),
                     requests, st.integers(0, 3).map(lambda n: "[" * 10 ** (n + 2)))


@settings(max_examples=150, deadline=None)
@given(data=messages)
def test_the_handler_answers_anything_and_then_the_next_request(data):
    async def main():
        handler = actions()
        watcher = Watcher()
        handler.hub.attach(watcher)
        await handler.handle(data, watcher)
        first = json.loads((await asyncio.wait_for(watcher.next(), 60)).text)
        MODELS[first["type"]].model_validate(first)
        await handler.hub.wait()
        await handler.handle(json.dumps({"action": "state", "id": "after"}), watcher)
        reply = (await drain(watcher, lambda m: m.get("id") == "after"))[-1]
        assert reply["type"] == "state"

    asyncio.run(main())


def scripted(lines: int):
    """An engine that emits `lines` output lines and completes, executing nothing."""
    def engine(answers, machine, *, runner, sink, options, cancel=None):
        sink(InstallStarted(total_phases=0, phases=[], dry_run=True))
        for n in range(lines):
            sink(OutputLine(phase="bootstrap", stream="stdout", text=f"line {n}"))
        sink(Complete(seconds=0))
        return InstallOutcome(True, False, None, "done", None, 0.0)
    return engine


def test_watchers_get_every_event_in_order_and_a_second_install_is_refused():
    async def main():
        handler = actions(engine=scripted(2000))
        installer, refused_one = Watcher(), Watcher()
        watchers = [Watcher() for _ in range(20)]
        for w in [installer, refused_one, *watchers]:
            handler.hub.attach(w)
        for w in watchers:
            await handler.handle('{"action": "watch"}', w)
        await handler.handle(json.dumps(REQUEST), installer)
        await handler.handle(json.dumps(REQUEST), refused_one)
        refused = json.loads((await refused_one.next()).text)
        done = lambda m: m.get("status") == "complete"  # noqa: E731
        own = await drain(installer, done)
        seen = [await drain(w, done) for w in watchers]
        await handler.hub.wait()
        return refused, own, seen

    refused, own, seen = asyncio.run(main())
    assert refused["type"] == "refused"
    events = [m for m in own if m["type"] == "event"]
    assert [e["seq"] for e in events] == list(range(1, 2003))
    for got in seen:
        assert [m for m in got if m["type"] == "event"] == events
    assert "Hub-Pass-0042" not in json.dumps(own)


def test_a_real_install_runs_its_finish_action_after_complete_and_forgets_the_answers(tmp_path):
    ran = []

    async def main():
        # Real (the scripted engine executes nothing), so the finish action is run.
        handler = actions(engine=scripted(1), finish=lambda step, runner: ran.append(step),
                          dry_run=False, described=False, log=tmp_path / "install.log")
        watcher = Watcher()
        handler.hub.attach(watcher)
        await handler.handle(json.dumps(REQUEST), watcher)
        got = await drain(watcher, lambda m: m.get("type") == "notice")
        await handler.hub.wait()
        return got, handler.hub

    got, hub = asyncio.run(main())
    assert got[-1]["message"] == "poweroff in 5 seconds"
    assert [s.argv for s in ran] == [("systemctl", "poweroff")]
    assert hub.status == "finished" and not hub.busy
    assert not hasattr(hub.latest, "answers") and "Hub-Pass-0042" not in repr(vars(hub.latest))


def test_state_and_watch_say_so_while_an_install_started_elsewhere_runs():
    # A browser session's or the console's install holds the machine's lock: `serve`
    # started nothing, yet the machine is not idle.
    lock = InstallLock(install_lock.INSTALL_LOCK)

    async def ask(handler: Actions, request: dict) -> dict:
        watcher = Watcher()
        handler.hub.attach(watcher)
        await handler.handle(json.dumps(request), watcher)
        return json.loads((await watcher.next()).text)

    async def main():
        handler = actions()
        idle = await ask(handler, {"action": "state"})
        lock.acquire()
        try:
            busy = await ask(handler, {"action": "state"})
            watching = await ask(handler, {"action": "watch"})
        finally:
            lock.release()
        after = await ask(handler, {"action": "state"})
        return idle, busy, watching, after

    idle, busy, watching, after = asyncio.run(main())
    assert (idle["status"], idle["elsewhere"]) == ("idle", None)
    assert busy["status"] == "running" and busy["install"] is None
    assert busy["elsewhere"].startswith(f"pid {os.getpid()}, started ")
    assert busy["elsewhere"] in busy["message"]
    assert watching["elsewhere"] == busy["elsewhere"]
    assert "shown only where it was started" in watching["message"]
    assert (after["status"], after["elsewhere"]) == ("idle", None)
    for reply in (idle, busy, watching, after):
        MODELS[reply["type"]].model_validate(reply)
