"""`kldload-tui serve`'s API with a real websockets client against a real server
(dry run on server-3nvme-usb-seed): the seed's flow, refusals, reconnecting, auth."""

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedOK, InvalidStatus

from kldload_tui.remote.protocol import REPLY_MODELS, EventMessage

from .serve_helpers import TIMEOUT, Gate, RunningServer, ask, read_until_end, seed_install

PASSWORD = "Unique-Pass-7f3a9c"
MODELS = {m.model_fields["type"].default: m for m in REPLY_MODELS}


def conforms(message: dict) -> None:
    """Every message validates against its documented schema."""
    MODELS[message["type"]].model_validate(message)


def test_the_seeds_flow_reaches_complete_and_never_shows_the_password():
    async def main(server):
        async with connect(server.url, additional_headers=server.headers) as ws:
            await ws.send(json.dumps(seed_install(password=PASSWORD)))
            got = await read_until_end(ws)
            raw = json.dumps(got)
            state = await ask(ws, {"action": "state", "events": 1000, "id": 7})
        return got, raw, state

    with RunningServer() as server:
        got, raw, state = asyncio.run(main(server))
    for message in got:
        conforms(message)
        assert {"phase", "message", "status"} <= message.keys()
    assert got[0]["type"] == "accepted" and got[0]["dry_run"] is True
    assert "nvme-Samsung_SSD_980_PRO_1TB_S5GXNF0R123456A" in got[0]["wipe"][0]
    events = [m for m in got if m["type"] == "event"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["status"] == "started" and events[0]["event"]["type"] == "install_started"
    assert events[-1]["status"] == "complete"
    assert all(e["status"] == "running" for e in events[1:-1])
    phases = [e["phase"] for e in events if e["event"]["type"] == "phase_started"]
    assert phases[0] == "preflight" and phases[-1] == "finish"
    assert PASSWORD not in raw and PASSWORD not in json.dumps(state)
    conforms(state)
    assert state["id"] == 7 and state["status"] == "finished"
    assert state["install"]["hostname"] == "web-prod-01"
    assert [e["seq"] for e in state["events"]] == [e["seq"] for e in events]


def test_an_invalid_install_is_refused_with_every_problem_and_nothing_starts():
    bad = seed_install(distro="debain", hostname="-bad-", timezone="Mars/Olympus",
                       ssh_pubkey="ssh-ed25519 AAAA... user@host", topolgy="mirror")

    async def main(server):
        async with connect(server.url, additional_headers=server.headers) as ws:
            reply = await ask(ws, bad)
            # The seed's client reads until `complete`: a refused install closes the socket.
            with pytest.raises(ConnectionClosedOK):
                await asyncio.wait_for(ws.recv(), TIMEOUT)
        async with connect(server.url, additional_headers=server.headers) as ws:
            return reply, await ask(ws, {"action": "state"})

    with RunningServer() as server:
        reply, state = asyncio.run(main(server))
    conforms(reply)
    assert reply["type"] == "invalid" and reply["status"] == "invalid"
    fields = sorted(e["field"] for e in reply["errors"])
    assert fields == ["distro", "hostname", "ssh_pubkey", "timezone", "topolgy"]
    assert "did you mean 'zfs_topology'?" in json.dumps(reply) or "topolgy" in reply["message"]
    assert "nothing was touched" in reply["message"]
    assert "changeme" not in json.dumps(reply)
    assert state["status"] == "idle" and state["install"] is None


def test_validate_checks_the_disks_too_without_installing():
    async def main(server):
        async with connect(server.url, additional_headers=server.headers) as ws:
            good = await ask(ws, {**seed_install(), "action": "validate"})
            seed_stick = await ask(ws, {**seed_install(disk="/dev/sda"), "action": "validate"})
            state = await ask(ws, {"action": "state"})
        return good, seed_stick, state

    with RunningServer() as server:
        good, seed_stick, state = asyncio.run(main(server))
    conforms(good)
    assert good["type"] == "valid" and good["summary"]["hostname"].startswith("web-prod-01")
    assert seed_stick["type"] == "invalid"
    assert seed_stick["errors"][0]["field"] == "disk"
    assert state["status"] == "idle"


def test_a_request_with_a_bad_field_and_a_bad_disk_gets_both_problems_at_once():
    async def main(server):
        async with connect(server.url, additional_headers=server.headers) as ws:
            both = await ask(ws, {**seed_install(hostname="not a hostname!",
                                                 disk="/dev/disk/by-id/nvme-no-such-disk"),
                                  "action": "validate"})
            stick = await ask(ws, {**seed_install(hostname="-bad-", disk="/dev/sda"),
                                   "action": "validate"})
            # A disk field refused for its form is reported once, not judged again.
            malformed = await ask(ws, {**seed_install(hostname="-bad-", disk="sda"),
                                       "action": "validate"})
        return both, stick, malformed

    with RunningServer() as server:
        both, stick, malformed = asyncio.run(main(server))
    for reply in (both, stick, malformed):
        conforms(reply)
        assert reply["type"] == "invalid"
    assert [e["field"] for e in both["errors"]] == ["hostname", "disk"]
    assert "nvme-no-such-disk" in both["errors"][1]["message"]
    assert both["message"].startswith("validate refused: 2 problems")
    assert [e["field"] for e in stick["errors"]] == ["hostname", "disk"]
    assert "seed" in stick["errors"][1]["text"]
    assert sorted(e["field"] for e in malformed["errors"]) == ["disk", "hostname"]
    assert len(malformed["errors"]) == 2


def test_a_second_install_is_refused_while_one_runs_and_a_reconnecting_client_gets_state():
    gate = Gate()

    async def main(server):
        first = await connect(server.url, additional_headers=server.headers)
        await first.send(json.dumps(seed_install()))
        accepted = json.loads(await asyncio.wait_for(first.recv(), TIMEOUT))
        assert await asyncio.to_thread(gate.reached.wait, TIMEOUT)
        # The first client goes away mid-install; the install goes on.
        await first.close()
        async with connect(server.url, additional_headers=server.headers) as second:
            refused = await ask(second, seed_install(hostname="web-prod-02"))
            with pytest.raises(ConnectionClosedOK):
                await asyncio.wait_for(second.recv(), TIMEOUT)
        async with connect(server.url, additional_headers=server.headers) as again:
            running = await ask(again, {"action": "state", "events": 5})
            watching = await ask(again, {"action": "watch"})
            gate.open()
            rest = await read_until_end(again)
            finished = await ask(again, {"action": "state"})
        return accepted, refused, running, watching, rest, finished

    with RunningServer(engine=gate) as server:
        accepted, refused, running, watching, rest, finished = asyncio.run(main(server))
    assert accepted["type"] == "accepted"
    conforms(refused)
    assert refused["type"] == "refused" and "one install at a time" in refused["message"]
    assert refused["running"]["hostname"] == "web-prod-01"
    conforms(running)
    assert running["status"] == "running" and running["install"]["phase"] == "preflight"
    assert [e["event"]["type"] for e in running["events"]] == ["install_started",
                                                              "phase_started"]
    assert watching["type"] == "watching" and watching["status"] == "running"
    # Watching replays the install from its first event, then follows it to the end.
    assert [m["seq"] for m in rest] == list(range(1, len(rest) + 1))
    assert rest[-1]["status"] == "complete"
    assert finished["status"] == "finished" and finished["total_events"] >= len(rest)


def test_failed_ends_the_stream_and_closes_the_socket():
    def broken_engine(answers, machine, *, runner, sink, options, cancel=None):
        from kldload_tui.backend.engine.core import run_install

        class Boom(Exception):
            pass

        def sink_then_fail(event):
            sink(event)
            if getattr(event, "name", None) == "partition":
                raise Boom("disk vanished")

        try:
            return run_install(answers, machine, runner=runner, sink=sink_then_fail,
                               options=options, cancel=cancel)
        except Boom:
            raise RuntimeError("the engine broke") from None

    async def main(server):
        async with connect(server.url, additional_headers=server.headers) as ws:
            await ws.send(json.dumps(seed_install()))
            got = await read_until_end(ws)
            return got, ws.close_code, ws.close_reason

    with RunningServer(engine=broken_engine) as server:
        got, code, reason = asyncio.run(main(server))
    assert got[-1]["status"] == "failed" and got[-1]["type"] == "event"
    EventMessage.model_validate(got[-1])
    assert (code, reason) == (1000, "install failed")


@pytest.mark.parametrize("how", ["none", "wrong", "query-wrong", "basic"])
def test_a_connection_without_the_token_is_refused_before_any_message(how):
    async def main(server):
        url, headers = server.url, {}
        if how == "wrong":
            headers = {"Authorization": "Bearer not-the-token-0123456789"}
        elif how == "query-wrong":
            url += "?token=not-the-token-0123456789"
        elif how == "basic":
            headers = {"Authorization": f"Basic {server.token}"}
        with pytest.raises(InvalidStatus) as err:
            await connect(url, additional_headers=headers)
        return err.value.response

    with RunningServer() as server:
        response = asyncio.run(main(server))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_token_works_as_a_query_and_a_browser_only_from_our_own_origin():
    async def main(server):
        async with connect(f"{server.url}?token={server.token}") as ws:
            by_query = await ask(ws, {"action": "state"})
        own = f"http://127.0.0.1:{server.port}"
        async with connect(server.url, additional_headers=server.headers, origin=own) as ws:
            by_browser = await ask(ws, {"action": "state"})
        statuses = []
        for origin in ("http://evil.example", f"http://evil.example:{server.port}", "null",
                       f"http://127.0.0.1:{server.port + 1}"):
            with pytest.raises(InvalidStatus) as err:
                await connect(server.url, additional_headers=server.headers, origin=origin)
            statuses.append(err.value.response.status_code)
        with pytest.raises(InvalidStatus) as err:
            await connect(server.url.replace("/ws", "/other"), additional_headers=server.headers)
        return by_query, by_browser, statuses, err.value.response.status_code

    with RunningServer() as server:
        by_query, by_browser, statuses, elsewhere = asyncio.run(main(server))
    assert by_query["type"] == by_browser["type"] == "state"
    assert statuses == [403, 403, 403, 403]
    assert elsewhere == 404


def test_list_disks_gives_each_disk_its_verdict():
    async def main(server):
        async with connect(server.url, additional_headers=server.headers) as ws:
            return await ask(ws, {"action": "list_disks", "id": "d"})

    with RunningServer() as server:
        reply = asyncio.run(main(server))
    conforms(reply)
    verdicts = {d["path"]: d["verdict"]["installable"] for d in reply["disks"]}
    assert verdicts == {"/dev/loop0": False, "/dev/nvme0n1": True, "/dev/nvme1n1": True,
                        "/dev/nvme2n1": True, "/dev/sda": False, "/dev/sr0": False}
    assert reply["seed_device"] == "/dev/sda1" and reply["id"] == "d"
