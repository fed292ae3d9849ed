"""What clients do wrong, and many of them at once: each gets an error or a clean close,
and the server and the install go on."""

import asyncio
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError
from websockets.sync.client import connect as sync_connect

from kldload_tui.remote.protocol import MAX_MESSAGE_BYTES

from .serve_helpers import TIMEOUT, Gate, RunningServer, ask, read_until_end, seed_install

WATCHERS = 50


@pytest.fixture(scope="module")
def server():
    with RunningServer() as running:
        yield running


def test_bad_messages_get_an_error_and_the_connection_stays_usable(server):
    async def main():
        async with connect(server.url, additional_headers=server.headers) as ws:
            replies = [await ask(ws, {"action": "install!"}),
                       await ask(ws, {"action": "state", "colour": "red"})]
            for raw in ("{", "[1, 2]", "null", '{"action": 5}', "[" * 100_000):
                await ws.send(raw)
                replies.append(json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)))
            await ws.send(b"\x00\xff binary")
            replies.append(json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)))
            replies.append(await ask(ws, {"action": "state"}))
        return replies

    replies = asyncio.run(main())
    assert [r["type"] for r in replies] == ["error"] * 8 + ["state"]
    assert "did you mean 'install'?" in replies[0]["fix"]
    assert "binary" in replies[7]["message"]


def test_a_message_over_1_mib_closes_that_connection_with_1009_only(server):
    async def main():
        async with connect(server.url, additional_headers=server.headers,
                           max_size=None) as big:
            await big.send(json.dumps({"action": "state", "pad": "x" * MAX_MESSAGE_BYTES}))
            with pytest.raises(ConnectionClosedError):
                await asyncio.wait_for(big.recv(), TIMEOUT)
            code = big.close_code
        async with connect(server.url, additional_headers=server.headers) as ws:
            return code, await ask(ws, {"action": "state"})

    code, state = asyncio.run(main())
    assert code == 1009
    assert state["type"] == "state"


def test_fifty_watchers_receive_every_event_in_the_same_order():
    gate = Gate()

    async def watcher(server, ready):
        async with connect(server.url, additional_headers=server.headers) as ws:
            reply = await ask(ws, {"action": "watch"})
            assert reply["type"] == "watching"
            ready.release()
            return await read_until_end(ws)

    async def main(server):
        ready = asyncio.Semaphore(0)
        tasks = [asyncio.create_task(watcher(server, ready)) for _ in range(WATCHERS)]
        for _ in range(WATCHERS):
            await asyncio.wait_for(ready.acquire(), TIMEOUT)
        async with connect(server.url, additional_headers=server.headers) as ws:
            await ws.send(json.dumps(seed_install()))
            assert await asyncio.to_thread(gate.reached.wait, TIMEOUT)
            # Mid-install, fifty more connect at once and ask for the state.
            async def late():
                async with connect(server.url, additional_headers=server.headers) as w:
                    return await ask(w, {"action": "state"})
            states = await asyncio.gather(*[late() for _ in range(WATCHERS)])
            gate.open()
            own = await read_until_end(ws)
        return own, await asyncio.gather(*tasks), states

    with RunningServer(engine=gate) as server:
        own, seen, states = asyncio.run(main(server))
    events = [m for m in own if m["type"] == "event"]
    assert events[-1]["status"] == "complete"
    assert all(s["status"] == "running" for s in states)
    assert len(seen) == WATCHERS
    for got in seen:
        assert got == events


def test_a_client_that_never_reads_does_not_hold_up_the_install(server):
    async def main():
        stalled = await connect(server.url, additional_headers=server.headers,
                                max_queue=1)
        await stalled.send(json.dumps({"action": "watch"}))
        async with connect(server.url, additional_headers=server.headers) as ws:
            await ws.send(json.dumps(seed_install()))
            got = await read_until_end(ws)
        stalled.transport.abort()  # and then it vanishes without a closing handshake
        async with connect(server.url, additional_headers=server.headers) as ws:
            return got, await ask(ws, {"action": "state"})

    got, state = asyncio.run(main())
    assert got[-1]["status"] == "complete"
    assert state["status"] == "finished"


payloads = st.one_of(
    st.binary(max_size=2048),
    st.text(max_size=2048),
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
                 lambda c: st.lists(c, max_size=5) | st.dictionaries(st.text(max_size=20), c,
                                                                       max_size=5),
                 max_leaves=20).map(json.dumps),
    st.sampled_from([MAX_MESSAGE_BYTES - 64, MAX_MESSAGE_BYTES + 1, 3 * MAX_MESSAGE_BYTES]).map(
        lambda n: '{"action": "validate", "hostname": "' + "h" * n + '"}'),
)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(payload=payloads)
def test_fuzzed_frames_never_break_the_server(server, payload):
    with sync_connect(server.url, additional_headers=server.headers, open_timeout=TIMEOUT,
                      max_size=None) as ws:
        try:
            ws.send(payload)
            reply = json.loads(ws.recv(timeout=TIMEOUT))
            assert reply["type"] in ("error", "invalid", "valid", "state", "disks",
                                     "watching", "refused", "accepted")
            answered = ws
        except ConnectionClosed:
            assert len(payload) > MAX_MESSAGE_BYTES
            answered = None
        if answered is not None:
            answered.send(json.dumps({"action": "state", "id": "next"}))
            while (reply := json.loads(answered.recv(timeout=TIMEOUT))).get("id") != "next":
                pass
            assert reply["type"] == "state"
    with sync_connect(server.url, additional_headers=server.headers,
                      open_timeout=TIMEOUT) as ws:
        ws.send(json.dumps({"action": "state"}))
        assert json.loads(ws.recv(timeout=TIMEOUT))["type"] == "state"
