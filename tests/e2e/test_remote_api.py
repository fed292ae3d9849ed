"""The `remote` layout's client against the real `serve --dry-run` on 127.0.0.1: the
same code that drives the live guest's web UI, on the host and without a guest."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.e2e.answers import InstallSpec, answers_text
from tests.e2e.remote_api import Api, request_fields, token_from_console

EXE = Path(sys.executable).parent / "kldload-tui"


def test_request_fields_are_the_answers_lines_lower_case_and_unquoted() -> None:
    spec = InstallSpec("remote", password='a $pass phrase', profile="core")
    fields = request_fields(answers_text(spec, "bookworm"))
    assert fields["distro"] == "debian"
    assert fields["disk"] == "/dev/disk/by-id/virtio-target0"
    assert fields["ssh_pubkey"].startswith("ssh-ed25519 AAAA") and fields["ssh_pubkey"].endswith(
        " kldload-e2e")
    assert fields["password"] == 'a $pass phrase'
    assert fields["debian_suite"] == "bookworm" and fields["profile"] == "core"
    assert not any(k.startswith("kldload_") or k != k.lower() for k in fields)


def test_the_last_token_printed_on_the_console_is_taken() -> None:
    console = ("\x1b[0m[  OK  ] Started kldload-webui.service\r\n"
               "kldload-tui serve: token AbC-def_123456789xyz (send 'Authorization: Bearer "
               "TOKEN', or add ?token=TOKEN to the URL)\r\n"
               "kldload: web UI http://10.0.2.15:8080/?token=Second-Token_0123456789\r\n")
    assert token_from_console(console) == "Second-Token_0123456789"
    assert token_from_console(console.split("kldload: web UI")[0]) == "AbC-def_123456789xyz"
    assert token_from_console("no token here") is None


def test_the_client_installs_through_a_real_server_and_is_refused_without_the_token(
        tmp_path: Path) -> None:
    proc = subprocess.Popen([str(EXE), "serve", "--dry-run", "--machine",
                             "server-3nvme-usb-seed", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        lines = proc.stdout.readline() + proc.stdout.readline()
        port = re.search(r"ws://127\.0\.0\.1:(\d+)/ws", lines)
        token = token_from_console(lines)
        assert port and token, lines
        api = Api(int(port.group(1)), token, tmp_path / "api.log")
        api.wait_listening(30)
        assert api.refuses_without_token()
        spec = InstallSpec("remote", password="Remote-Pass-0042")
        request = {"action": "install",
                   **request_fields(answers_text(spec, "bookworm")), "disk": "/dev/nvme0n1"}
        got = api.install(request)
        state = api.ask({"action": "state"})
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert got.status == "complete", got.messages[-3:]
    assert got.events[0]["status"] == "started"
    assert {"partition", "pool", "bootstrap", "bootloader"} <= set(got.phases)
    assert state["status"] == "finished"
    log = (tmp_path / "api.log").read_text()
    assert "Remote-Pass-0042" not in log and "<16 characters>" in log
