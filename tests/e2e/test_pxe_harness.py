"""The pxe layout's host side, with no guest: the relay QEMU's guestfwd starts per
connection carries a real HTTP exchange with the harness's server on 127.0.0.1
both ways, the served tree holds the build's pxe/ and the machine's answers, and
the chaining script selects the product's serial entry.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from kldload_tui.backend.answers.file import parse_answers
from kldload_tui.backend.iso import pxe
from tests.e2e.pxe import BASE, MAC, RELAY, chain_script, http_server, serve_tree


def _through_relay(port: int, request: bytes) -> bytes:
    """What the guest would read back: the relay with a socket as stdin and stdout,
    as QEMU's cmd: gives it."""
    guest, relay_end = socket.socketpair()
    with guest, relay_end:
        proc = subprocess.Popen([sys.executable, str(RELAY), str(port)], stdin=relay_end.fileno(),
                                stdout=relay_end.fileno(), stderr=relay_end.fileno())
        relay_end.close()
        guest.sendall(request)
        guest.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := guest.recv(65536):
            chunks.append(chunk)
        assert proc.wait(timeout=30) == 0
    return b"".join(chunks)


def test_the_relay_carries_a_large_file_both_ways(tmp_path: Path) -> None:
    (tmp_path / "kldload").mkdir()
    payload = bytes(range(256)) * 8192  # 2 MiB, every byte value
    (tmp_path / "kldload/filesystem.squashfs").write_bytes(payload)
    with http_server(tmp_path) as (port, requests):
        reply = _through_relay(port, b"GET /kldload/filesystem.squashfs HTTP/1.0\r\n"
                                     b"Host: 10.0.2.100\r\n\r\n")
        missing = _through_relay(port, b"GET /kldload/nothing HTTP/1.0\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200") and body == payload
    assert missing.startswith(b"HTTP/1.0 404")
    assert requests == [("/kldload/filesystem.squashfs", 200), ("/kldload/nothing", 404)]


def test_the_served_tree_and_the_answers(tmp_path: Path) -> None:
    built = tmp_path / "iso/pxe"
    (built / pxe.DARKSITE_DIR / "dists").mkdir(parents=True)
    for name in pxe.ARTEFACTS:
        (built / name).write_text(name)
    root = serve_tree(tmp_path, built, "bookworm")
    served = root / "kldload"
    assert (served / "vmlinuz").read_text() == "vmlinuz"
    assert (served / pxe.DARKSITE_DIR / "dists").is_dir()
    parsed = parse_answers((served / "answers" / f"{MAC}.env").read_text())
    assert parsed.answers is not None, [e.render() for e in parsed.errors]
    assert parsed.answers.debian_mirror == f"{BASE}/{pxe.DARKSITE_DIR}"
    assert parsed.answers.finish_action.value == "poweroff"
    # The answers' name is what iPXE makes of the product's placeholder.
    assert pxe.DEFAULT_ANSWERS.replace("${mac}", MAC) == f"answers/{MAC}.env"


def test_the_chaining_script_picks_an_entry_of_the_product_script() -> None:
    script = chain_script()
    entry = next(line.split()[-1] for line in script.splitlines()
                 if line.startswith("set kldload-entry"))
    assert f"\n:{entry}\n" in pxe.ipxe_script("t")
    assert "chain ${base}/kldload.ipxe" in script and f"set base {BASE}" in script
