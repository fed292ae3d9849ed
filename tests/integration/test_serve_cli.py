"""The real `kldload-tui serve` binary, and the seed guide's own client script against it."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from .serve_helpers import DISK, KEY, TIMEOUT, RunningServer

EXE = Path(sys.executable).parent / "kldload-tui"
SEED_CLIENT = Path(__file__).parents[1] / "fixtures/remote/install-remote-seed.txt"


class Serve:
    """`kldload-tui serve ARGS --port 0` as a subprocess; the port read from its start line."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [str(EXE), "serve", "--dry-run", "--machine", "server-3nvme-usb-seed", "--port", "0",
             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            text=True)
        assert self.proc.stdout is not None
        self.lines = [self.proc.stdout.readline(), self.proc.stdout.readline()]
        found = re.search(r"ws://127\.0\.0\.1:(\d+)/ws", self.lines[0])
        assert found, self.lines
        self.port = int(found.group(1))

    def stop(self) -> tuple[int, str, str]:
        self.proc.terminate()
        out, err = self.proc.communicate(timeout=TIMEOUT)
        return self.proc.returncode, out, err


def test_the_serve_binary_prints_its_token_and_installs_for_a_client_that_has_it():
    serve = Serve()
    try:
        token = re.search(r"token (\S+) ", serve.lines[1])
        assert token, serve.lines
        url = f"ws://127.0.0.1:{serve.port}/ws"
        with pytest.raises(InvalidStatus):
            connect(url, open_timeout=TIMEOUT)
        with connect(url, additional_headers={"Authorization": f"Bearer {token.group(1)}"},
                     open_timeout=TIMEOUT) as ws:
            ws.send(json.dumps({"action": "install", "distro": "debian", "disk": DISK,
                                "hostname": "cli-01", "password": "Sub-Process-Pass-1"}))
            statuses = []
            while not statuses or statuses[-1] not in ("complete", "failed"):
                message = json.loads(ws.recv(timeout=TIMEOUT))
                if message["type"] == "event":
                    statuses.append(message["status"])
    finally:
        code, out, err = serve.stop()
    assert statuses[0] == "started" and statuses[-1] == "complete"
    assert code == 0, err
    assert "kldload-tui serve: stopped" in out
    assert "refused 127.0.0.1" in err and "401" in err
    assert "install started by 127.0.0.1" in err
    assert "Sub-Process-Pass-1" not in out + err + "".join(serve.lines)


def test_no_auth_says_so_on_every_start_line():
    serve = Serve("--no-auth")
    try:
        lines = serve.lines
    finally:
        code, _out, _err = serve.stop()
    assert code == 0
    assert all("NO AUTHENTICATION (--no-auth)" in line for line in lines), lines


def test_token_out_holds_the_token_in_use_while_the_server_listens(tmp_path):
    # The live ISO's console shows the web UI's token from this file (kldload-live.sh).
    out_file = tmp_path / "run/kldload/webui-token"
    serve = Serve("--token-out", str(out_file))
    try:
        token = re.search(r"token (\S+) ", serve.lines[1])
        assert token, serve.lines
        # Written once listening: the start lines came first.
        assert out_file.read_text() == token.group(1) + "\n"
        assert out_file.stat().st_mode & 0o777 == 0o600
        with connect(f"ws://127.0.0.1:{serve.port}/ws", open_timeout=TIMEOUT,
                     additional_headers={"Authorization": f"Bearer {token.group(1)}"}) as ws:
            ws.send(json.dumps({"action": "state"}))
            assert json.loads(ws.recv(timeout=TIMEOUT))["type"] == "state"
    finally:
        code, _out, err = serve.stop()
    assert code == 0, err
    assert not out_file.exists()  # no token shown that nothing accepts


def test_serve_refuses_bad_usage(tmp_path):
    weak = tmp_path / "token"
    weak.write_text("short\n")
    for args, says in ((["--machine", "one-disk-vm"], "add --dry-run"),
                       (["--dry-run", "--token-file", str(weak)], "at least 16"),
                       (["--dry-run", "--token-file", str(tmp_path / "missing")],
                        "cannot read the token")):
        r = subprocess.run([str(EXE), "serve", *args], capture_output=True, text=True,
                           timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        assert r.returncode == 2 and says in r.stderr, (args, r.stderr)


def seed_client_for(port: int) -> str:
    """The seed guide's install-remote.py with host, port, disk and key changed, and
    its last line made to run: `asyncio.run` takes a coroutine, not gather's future
    (as printed, the script raises ValueError on every Python 3)."""
    text = SEED_CLIENT.read_text()
    changes = [
        ('hosts = [f"10.0.1.{i}" for i in range(50, 60)]', 'hosts = ["127.0.0.1"]'),
        ('ws://{host}:8080/ws', f"ws://{{host}}:{port}/ws"),
        ('"disk": "/dev/sda"', f'"disk": "{DISK}"'),
        ('"ssh-ed25519 AAAA... user@host"', json.dumps(KEY)),
        ("asyncio.run(asyncio.gather(*[install(h) for h in hosts]))",
         "async def main():\n    await asyncio.gather(*[install(h) for h in hosts])\n"
         "asyncio.run(main())"),
    ]
    for old, new in changes:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def test_with_no_auth_the_seeds_own_client_script_installs(tmp_path):
    with RunningServer(token=None) as server:
        script = tmp_path / "install-remote.py"
        script.write_text(seed_client_for(server.port))
        r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                           timeout=TIMEOUT * 2, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("[install] dry run accepted: debian trixie")
    assert "[preflight] phase 1/13: preflight" in lines
    assert lines[-1] == ("[complete] dry run complete: nothing was executed, nothing was "
                         "verified")
    assert "changeme" not in r.stdout
