"""Answers over HTTP from a real server on 127.0.0.1: placeholders, errors, limits."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kldload_tui.backend.engine.runner import RecordingRunner
from kldload_tui.backend.machine.model import load_bundled_machine
from kldload_tui.backend.seed.find import AnswersUnavailable, AnswersUrl, find_answers
from kldload_tui.backend.seed.url import FetchError, fetch_url
from tests.integration.local_servers import http_on_loopback

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

    with http_on_loopback(Handler) as httpd:
        state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
        yield state


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
    from kldload_tui.backend.machine.probe import probe_nics

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
    assert str(info.value) == (f"timed out after 0.3 s waiting for {server.url}/slow.env: "
                               "no complete response headers (after 2 attempts)")
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


# Hostile servers: one deadline per attempt ------------------------------------
# Raw sockets, so a server can do what no well-behaved HTTP server would. Each
# connection gets a thread that ends when the client hangs up, when the test
# ends, or after LIFETIME at most.

DEADLINE = 2.0
MARGIN = 1.0  # for a loaded test machine; the deadline itself is exact
LIFETIME = 30.0
Behaviour = Callable[[socket.socket, threading.Event], None]


@dataclass
class RawServer:
    url: str
    requests: list[str] = field(default_factory=list)


def read_request(conn: socket.socket, state: RawServer) -> str:
    """The request's path, after reading its head (a GET has no body)."""
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 65536:
        data = conn.recv(4096)
        if not data:
            break
        head += data
    path = head.split(b" ", 2)[1].decode() if head.count(b" ") >= 2 else ""
    state.requests.append(path)
    return path


def dribble(conn: socket.socket, stop: threading.Event, data: Iterable[int],
            every: float = 0.1) -> None:
    """Sends `data` one byte at a time: each byte well within any per-read timeout."""
    for byte in data:
        if stop.wait(every):
            return
        conn.sendall(bytes([byte]))


@contextmanager
def raw_server(behave: Callable[[socket.socket, threading.Event, RawServer], None],
               tls: ssl.SSLContext | None = None) -> Iterator[RawServer]:
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    state = RawServer(f"{'https' if tls else 'http'}://127.0.0.1:{listener.getsockname()[1]}")
    threads: list[threading.Thread] = []

    def serve(conn: socket.socket) -> None:
        conn.settimeout(LIFETIME)
        try:
            with conn:
                if tls is None:
                    behave(conn, stop, state)
                else:
                    with tls.wrap_socket(conn, server_side=True) as secure:
                        behave(secure, stop, state)
        except OSError:
            pass  # the client hung up: what it should do at its deadline

    def accept() -> None:
        give_up = time.monotonic() + LIFETIME
        while not stop.is_set() and time.monotonic() < give_up:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=serve, args=(conn,), name="raw-server", daemon=True)
            threads.append(thread)
            thread.start()

    acceptor = threading.Thread(target=accept, name="raw-server", daemon=True)
    acceptor.start()
    try:
        yield state
    finally:
        stop.set()
        acceptor.join(5)
        listener.close()
        for thread in threads:
            thread.join(5)
        assert not any(t.is_alive() for t in [acceptor, *threads]), "a server thread hung"


def fails_within(url: str, deadline: float = DEADLINE, retries: int = 0) -> FetchError:
    """The error of a fetch that must end within the deadline and start no thread."""
    before = set(threading.enumerate())
    start = time.monotonic()
    with pytest.raises(FetchError) as info:
        fetch_url(url, timeout=deadline, retries=retries)
    elapsed = time.monotonic() - start
    assert elapsed < deadline + MARGIN, f"took {elapsed:.2f} s: {info.value}"
    servers = ("raw-server", "(process_request_thread)")  # the test servers' own threads
    left = {t for t in threading.enumerate() if t not in before and not t.name.endswith(servers)}
    assert not left, f"threads left running: {left}"
    message = str(info.value)
    assert "\n" not in message and "\r" not in message and url in message
    return info.value


def trickle_headers(conn: socket.socket, stop: threading.Event, state: RawServer) -> None:
    read_request(conn, state)
    dribble(conn, stop, itertools.chain(b"HTTP/1.1 200 OK\r\nX-Slow: ", itertools.repeat(97)))


def flood_continue(conn: socket.socket, stop: threading.Event, state: RawServer) -> None:
    read_request(conn, state)
    interim = b"HTTP/1.1 100 Continue\r\n\r\n" * 256
    while not stop.is_set():
        conn.sendall(interim)


def stall(conn: socket.socket, stop: threading.Event, state: RawServer) -> None:
    read_request(conn, state)
    stop.wait(LIFETIME)


def trickle_tls_handshake(conn: socket.socket, stop: threading.Event, state: RawServer) -> None:
    # A TLS handshake record announcing 16 KiB, then its bytes one by one.
    dribble(conn, stop, itertools.chain(b"\x16\x03\x03\x40\x00", itertools.repeat(0)))


def redirect(location: str, body: bytes = ANSWERS, at: str = "/a.env") -> Callable[
        [socket.socket, threading.Event, RawServer], None]:
    def send(conn: socket.socket, stop: threading.Event, state: RawServer) -> None:
        if read_request(conn, state) == at:
            conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: " + location.encode()
                         + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    return send


def test_headers_trickled_a_byte_at_a_time_end_at_the_deadline() -> None:
    with raw_server(trickle_headers) as raw:
        err = fails_within(f"{raw.url}/a.env")
    assert str(err) == (f"timed out after 2 s waiting for {raw.url}/a.env: "
                        "no complete response headers")
    assert err.kind == "timeout"


def test_endless_100_continue_ends_at_the_deadline() -> None:
    with raw_server(flood_continue) as raw:
        err = fails_within(f"{raw.url}/a.env")
    assert str(err) == (f"timed out after 2 s waiting for {raw.url}/a.env: "
                        "no complete response headers")


def test_a_server_that_accepts_and_says_nothing_ends_at_the_deadline() -> None:
    with raw_server(stall) as raw:
        err = fails_within(f"{raw.url}/a.env")
    assert str(err) == (f"timed out after 2 s waiting for {raw.url}/a.env: "
                        "no complete response headers")
    assert raw.requests == ["/a.env"]


def test_a_trickled_tls_handshake_ends_at_the_deadline() -> None:
    with raw_server(trickle_tls_handshake) as raw:
        url = raw.url.replace("http://", "https://") + "/a.env"
        err = fails_within(url)
    assert str(err) == (f"timed out after 2 s waiting for {url}: "
                        "could not connect (TCP connect or TLS handshake)")


def test_the_deadline_covers_the_whole_redirect_chain(server: Server) -> None:
    def slow_hop(n: int) -> Route:
        def send(h: BaseHTTPRequestHandler) -> None:
            time.sleep(0.4)
            h.send_response(302)
            h.send_header("Location", f"/hop/{n + 1}")
            h.send_header("Content-Length", "0")
            h.end_headers()
        return send
    for n in range(10):
        server.routes[f"/hop/{n}"] = slow_hop(n)  # 10 hops of 0.4 s each: 4 s in all
    server.routes["/hop/10"] = body(ANSWERS)
    err = fails_within(f"{server.url}/hop/0")
    assert err.kind == "timeout" and len(server.hits) <= 6


def test_trickled_headers_through_the_command(tmp_path: Path) -> None:
    with raw_server(trickle_headers) as raw:
        url = f"{raw.url}/answers/${{mac}}.env"
        m = machine_file(tmp_path, f"quiet kldload.answers={url}")
        start = time.monotonic()
        r = kldload("seed", "find", "--machine", str(m), "--timeout", "2", "--retries", "0")
        elapsed = time.monotonic() - start
    assert r.returncode == 2
    assert (f"timed out after 2 s waiting for {raw.url}/answers/{MAC}.env: "
            "no complete response headers") in r.stderr
    assert elapsed < DEADLINE + 10  # the deadline plus starting Python and the CLI


# Redirects ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made by the openssl CLI."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


@pytest.fixture
def tls(tls_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    """The server's TLS context; the client trusts it the way an operator would."""
    cert, key = tls_files
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # read by OpenSSL's default verify paths
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def test_https_redirects_within_https_are_followed(tls: ssl.SSLContext) -> None:
    with raw_server(redirect("/b.env"), tls) as raw:
        assert fetch_url(f"{raw.url}/a.env", retries=0) == ANSWERS
    assert raw.requests == ["/a.env", "/b.env"]


def test_https_is_never_redirected_to_http(tls: ssl.SSLContext, server: Server) -> None:
    server.routes["/b.env"] = body(ANSWERS)
    with raw_server(redirect(f"{server.url}/b.env"), tls) as raw:
        err = fails_within(f"{raw.url}/a.env", retries=3)
    assert str(err) == (f"{raw.url}/a.env redirected to {server.url}/b.env: refused, an https "
                        "URL is never followed to plain http (the answers would cross the "
                        "network unencrypted)")
    assert err.kind == "redirect" and err.attempts == 1
    assert server.hits == []


def test_an_https_downgrade_later_in_the_chain_names_the_hop(tls: ssl.SSLContext,
                                                             server: Server) -> None:
    server.routes["/c.env"] = body(ANSWERS)
    with raw_server(redirect(f"{server.url}/c.env", at="/b.env"), tls) as second, \
            raw_server(redirect(f"{second.url}/b.env"), tls) as first:
        err = fails_within(f"{first.url}/a.env")
    assert str(err) == (f"{first.url}/a.env: {second.url}/b.env redirected to "
                        f"{server.url}/c.env: refused, an https URL is never followed to plain "
                        "http (the answers would cross the network unencrypted)")
    assert server.hits == [] and second.requests == ["/b.env"]


def test_http_may_redirect_to_https(tls: ssl.SSLContext) -> None:
    with raw_server(redirect("/b.env", at="/b.env"), tls) as secure, \
            raw_server(redirect(f"{secure.url}/c.env")) as plain:
        assert fetch_url(f"{plain.url}/a.env", retries=0) == ANSWERS
    assert secure.requests == ["/c.env"]


def test_redirects_are_limited(server: Server) -> None:
    def loop(h: BaseHTTPRequestHandler) -> None:
        h.send_response(302)
        h.send_header("Location", "/loop.env")
        h.send_header("Content-Length", "0")
        h.end_headers()
    server.routes["/loop.env"] = loop
    err = fails_within(f"{server.url}/loop.env", retries=3)
    url = f"{server.url}/loop.env"
    assert str(err) == f"{url} redirected to {url}: refused, more than 10 redirects"
    assert err.kind == "redirect"
    assert len(server.hits) == 11  # the URL, then the 10 redirects followed


def test_redirects_to_other_schemes_are_refused(server: Server) -> None:
    def to_file(h: BaseHTTPRequestHandler) -> None:
        h.send_response(301)
        h.send_header("Location", "file:///etc/shadow")
        h.send_header("Content-Length", "0")
        h.end_headers()
    server.routes["/a.env"] = to_file
    err = fails_within(f"{server.url}/a.env")
    assert str(err) == (f"{server.url}/a.env redirected to file:///etc/shadow: refused, only "
                        "http:// and https:// are followed")


def test_a_redirects_endless_body_is_not_read(server: Server) -> None:
    def endless(h: BaseHTTPRequestHandler) -> None:
        h.send_response(302)
        h.send_header("Location", "/answers.env")
        h.end_headers()
        while True:  # until the client hangs up: BrokenPipeError ends the handler
            h.wfile.write(b"#" * 65536)
    server.routes["/moved.env"] = endless
    server.routes["/answers.env"] = body(ANSWERS)
    start = time.monotonic()
    assert fetch_url(f"{server.url}/moved.env", timeout=DEADLINE, retries=0) == ANSWERS
    assert time.monotonic() - start < 1


def test_server_text_cannot_break_the_message_line() -> None:
    def garbled(conn: socket.socket, stop: threading.Event, state: RawServer) -> None:
        read_request(conn, state)
        conn.sendall(b"HTTP/1.1 404 Not\x1b[2J\rFound\r\nContent-Length: 0\r\n\r\n")
    with raw_server(garbled) as raw:
        err = fails_within(f"{raw.url}/a.env")
    assert str(err) == f"HTTP 404 from {raw.url}/a.env (Not\\x1b[2J\\rFound)"
