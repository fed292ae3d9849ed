"""Answers over HTTP from a real server on 127.0.0.1: placeholders, errors, limits."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from backend.machine import load_bundled_machine
from backend.runner import RecordingRunner
from backend.seed import AnswersUnavailable, AnswersUrl, find_answers
from backend.seed_url import FetchError, fetch_url

ANSWERS = b"KLDLOAD_DISTRO=debian\nKLDLOAD_DISK=/dev/vda\nKLDLOAD_HOSTNAME=web-07\n"
MAC = "3c:ec:ef:1a:2b:3c"  # eno1 of the bundled server-3nvme-usb-seed machine
BIG = 50 * 1024 * 1024
Route = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Server:
    url: str
    routes: dict[str, Route]
    hits: list[str] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)


def body(data: bytes, status: int = 200) -> Route:
    def send(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
    return send


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server("", {})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits.append(self.path)
            route = state.routes.get(self.path)
            try:
                if route is None:
                    self.send_error(404)
                else:
                    route(self)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client hung up, as it should on a timeout or an oversize body

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True  # a sleeping handler must not hold up the teardown
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def kldload(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("kldload-tui", path=str(Path(sys.executable).parent))
    argv = [exe] if exe else [sys.executable, "-m", "kldload_tui"]
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if "proxy" in key.lower():
            monkeypatch.delenv(key)


def machine_file(tmp_path: Path, cmdline: str) -> Path:
    m = load_bundled_machine("server-3nvme-usb-seed").model_copy(
        update={"kernel_cmdline": cmdline})
    path = tmp_path / "machine.json"
    path.write_text(m.to_json())
    return path


def test_cmdline_url_per_mac_wins_over_the_seed_disk(server: Server, tmp_path: Path) -> None:
    server.routes[f"/answers/{MAC}.env"] = body(ANSWERS)
    m = machine_file(tmp_path, f"quiet kldload.answers={server.url}/answers/${{mac}}.env")
    r = kldload("seed", "find", "--machine", str(m), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert doc["source"]["kind"] == "url" and doc["source"]["via"] == "cmdline"
    assert doc["source"]["url"] == f"{server.url}/answers/{MAC}.env"
    assert doc["sha256"] == hashlib.sha256(ANSWERS).hexdigest()
    assert doc["summary"]["hostname"].startswith("web-07")


def test_pxelinux_style_dashed_mac_with_the_environment_key(server: Server, tmp_path: Path) -> None:
    server.routes["/pxe/01-3c-ec-ef-1a-2b-3c"] = body(ANSWERS)
    m = machine_file(tmp_path, f"KLDLOAD_ANSWERS_URL={server.url}/pxe/01-${{mac_dashed}}")
    r = kldload("seed", "find", "--machine", str(m))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"answers: URL {server.url}/pxe/01-3c-ec-ef-1a-2b-3c (kernel "
                               "command line KLDLOAD_ANSWERS_URL=")


def test_explicit_url_uses_this_machines_mac(server: Server) -> None:
    from backend.probe import probe_nics

    mac = next((n.mac for n in probe_nics() if not n.virtual), None)
    if mac is None:
        pytest.skip("this host has no physical NIC with a MAC address")
    server.routes[f"/m/{mac}.env"] = body(ANSWERS)
    found = find_answers(f"{server.url}/m/${{mac}}.env", runner=RecordingRunner())
    assert found.source == AnswersUrl(f"{server.url}/m/{mac}.env",
                                      f"{server.url}/m/${{mac}}.env", "argument")
    assert found.data == ANSWERS and found.result.ok


def test_404_is_named_and_not_retried(server: Server) -> None:
    url = f"{server.url}/answers/nobody.env"
    with pytest.raises(FetchError) as info:
        fetch_url(url, retries=3, backoff=0.01)
    assert str(info.value) == f"HTTP 404 from {url} (Not Found)"
    assert server.hits == ["/answers/nobody.env"]


def test_404_through_the_command(server: Server) -> None:
    r = kldload("seed", "find", "--answers", f"{server.url}/x.env")
    assert r.returncode == 2
    assert f"HTTP 404 from {server.url}/x.env" in r.stderr


def test_5xx_is_retried_until_it_works(server: Server) -> None:
    calls = iter([body(b"busy", 503), body(b"busy", 502), body(ANSWERS)])
    server.routes["/flaky.env"] = lambda h: next(calls)(h)
    waits: list[float] = []
    assert fetch_url(f"{server.url}/flaky.env", backoff=0.25, sleep=waits.append) == ANSWERS
    assert len(server.hits) == 3
    assert waits == [0.25, 0.5]  # doubling backoff


def test_5xx_gives_up_after_the_retries(server: Server) -> None:
    server.routes["/down.env"] = body(b"", 500)
    with pytest.raises(FetchError) as info:
        fetch_url(f"{server.url}/down.env", retries=2, sleep=lambda _: None)
    assert str(info.value).startswith(f"HTTP 500 from {server.url}/down.env")
    assert str(info.value).endswith("(after 3 attempts)")
    assert len(server.hits) == 3


def test_timeout_is_retried_then_reported(server: Server) -> None:
    def slow(h: BaseHTTPRequestHandler) -> None:
        time.sleep(3)
        body(ANSWERS)(h)
    server.routes["/slow.env"] = slow
    start = time.monotonic()
    with pytest.raises(FetchError) as info:
        fetch_url(f"{server.url}/slow.env", timeout=0.3, retries=1, backoff=0.05)
    elapsed = time.monotonic() - start
    assert info.value.kind == "timeout"
    assert str(info.value) == (f"timed out after 0.3 s waiting for {server.url}/slow.env "
                               "(after 2 attempts)")
    assert elapsed < 2.5
    assert len(server.hits) == 2


def test_timeout_through_the_command(server: Server) -> None:
    def slow(h: BaseHTTPRequestHandler) -> None:
        time.sleep(3)
    server.routes["/slow.env"] = slow
    r = kldload("seed", "find", "--answers", f"{server.url}/slow.env", "--timeout", "0.3",
                "--retries", "0")
    assert r.returncode == 2
    assert f"timed out after 0.3 s waiting for {server.url}/slow.env" in r.stderr


def test_a_trickle_cannot_outlast_the_timeout(server: Server) -> None:
    def trickle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.end_headers()
        for _ in range(40):
            h.wfile.write(b"#")
            h.wfile.flush()
            time.sleep(0.1)
    server.routes["/trickle.env"] = trickle
    start = time.monotonic()
    with pytest.raises(FetchError, match="timed out"):
        fetch_url(f"{server.url}/trickle.env", timeout=0.5, retries=0)
    assert time.monotonic() - start < 2


def stream(total: int, state: Server, key: str, with_length: bool) -> Route:
    def send(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        if with_length:
            h.send_header("Content-Length", str(total))
        h.end_headers()
        chunk = b"#" * 65536
        state.sent[key] = 0
        try:
            while state.sent[key] < total:
                h.wfile.write(chunk)
                state.sent[key] += len(chunk)
        finally:
            state.done.set()
    return send


@pytest.mark.parametrize("with_length", [True, False], ids=["content-length", "streamed"])
def test_50_mib_is_refused_early(server: Server, with_length: bool) -> None:
    server.routes["/big.env"] = stream(BIG, server, "big", with_length)
    tracemalloc.start()
    start = time.monotonic()
    try:
        with pytest.raises(FetchError) as info:
            fetch_url(f"{server.url}/big.env", retries=3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - start < 3
    assert info.value.kind == "too-large" and info.value.attempts == 1
    assert "larger than 1 MiB" in str(info.value)
    assert peak < 4 * 1024 * 1024
    assert server.done.wait(10)
    # What the server got out before the connection closed: socket buffers, not 50 MiB.
    assert server.sent["big"] < BIG // 2
    assert len(server.hits) == 1


def test_too_large_through_the_command(server: Server) -> None:
    server.routes["/big.env"] = stream(BIG, server, "big", False)
    r = kldload("seed", "find", "--answers", f"{server.url}/big.env")
    assert r.returncode == 2
    assert "larger than 1 MiB: refused" in r.stderr


def test_connection_refused_is_retried_and_reported() -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as closed:
        port = closed.server_address[1]  # bound, then closed: nothing listens there
    waits: list[float] = []
    with pytest.raises(FetchError) as info:
        fetch_url(f"http://127.0.0.1:{port}/a.env", retries=2, sleep=waits.append)
    assert info.value.kind == "connection" and info.value.attempts == 3
    assert "cannot reach" in str(info.value) and "refused" in str(info.value).lower()
    assert waits == [0.5, 1.0]


def test_invalid_answers_from_a_url_name_the_url(server: Server) -> None:
    server.routes["/bad.env"] = body(b"KLDLOAD_DISTRO=debian\nKLDLOAD_DISKK=/dev/sda\n")
    r = kldload("seed", "find", "--answers", f"{server.url}/bad.env")
    assert r.returncode == 1
    assert f"{server.url}/bad.env:2: KLDLOAD_DISKK: unknown key KLDLOAD_DISKK" in r.stderr


def test_placeholder_without_a_value_fails_before_any_request(server: Server) -> None:
    m = load_bundled_machine("one-disk-vm")
    cmdline = f"kldload.answers={server.url}/${{serial}}.env"
    with pytest.raises(AnswersUnavailable, match=r"placeholder \$\{serial\} has no value"):
        find_answers(machine=m.model_copy(update={"kernel_cmdline": cmdline}),
                     runner=RecordingRunner())
    assert server.hits == []
