"""The app factory, the front door's choices (console, answers), and lazy imports."""

from __future__ import annotations

import argparse
import functools
import http.server
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import kldload_tui.backend.seed.find as seed
from kldload_tui import exitcodes
from kldload_tui.backend.answers.file import parse_answers
from kldload_tui.backend.answers.model import Topology
from kldload_tui.backend.machine.disks import classify_machine
from kldload_tui.backend.machine.model import load_bundled_machine
from kldload_tui.backend.seed.find import AnswersUnavailable
from kldload_tui.tui import on_console, on_serial_line, prefill_for, run_tui
from tests.tui.conftest import SIZE, goto, screen_text

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "answers-examples"


def _args(**kw) -> argparse.Namespace:
    base = {"answers": None, "machine": None, "demo": False, "dry_run": False, "log": None}
    return argparse.Namespace(**{**base, **kw})


@pytest.mark.parametrize(("term", "tty", "console"), [
    ("linux", "/dev/tty1", True),
    ("vt100", "/dev/pts/3", True),
    ("vt220", "/dev/pts/3", True),
    ("xterm-256color", "/dev/ttyS0", True),
    ("xterm-256color", "/dev/hvc0", True),
    ("xterm-256color", "/dev/pts/3", False),
    ("screen-256color", "", False),
])
def test_console_detection(term, tty, console):
    assert on_console(term, tty) is console


def test_serial_lines():
    assert on_serial_line("/dev/ttyS1") and on_serial_line("/dev/ttyUSB0")
    assert not on_serial_line("/dev/tty1") and not on_serial_line("/dev/pts/0")


def test_answers_file_prefills_with_interactive_checks():
    machine = load_bundled_machine("server-3nvme-usb-seed")
    prefill, _ = prefill_for(_args(answers=str(EXAMPLES / "encrypted.env")), machine,
                             described=True)
    assert prefill is not None and prefill.source is not None
    assert str(EXAMPLES / "encrypted.env") in prefill.source
    assert prefill.values["zfs_encrypt"] is True


def test_the_demo_machine_seed_prefills():
    machine = load_bundled_machine("server-3nvme-usb-seed")
    prefill, same = prefill_for(_args(), machine, described=True)
    assert prefill is not None and same is machine
    assert prefill.values["zfs_topology"] is Topology.RAIDZ1
    assert prefill.values["hostname"] == "stor-prod-01"


def test_no_answers_anywhere_is_not_an_error():
    machine = load_bundled_machine("one-disk-vm")
    assert prefill_for(_args(), machine, described=True) == (None, machine)


def test_an_unreadable_answers_file_stops_before_the_tui(tmp_path, capsys):
    with pytest.raises(AnswersUnavailable):
        prefill_for(_args(answers=str(tmp_path / "missing.env")),
                    load_bundled_machine("one-disk-vm"), described=True)
    status = run_tui(_args(answers=str(tmp_path / "missing.env"), demo=True))
    assert status == exitcodes.USAGE
    assert "missing.env" in capsys.readouterr().err


async def test_answers_from_a_file_fill_the_steps(make_app):
    machine = load_bundled_machine("old-rpool")
    prefill, machine = prefill_for(_args(answers=str(EXAMPLES / "static-server.env")),
                                   machine, described=True)
    app = make_app(machine, answers=prefill)
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "network")
        assert app.screen.query_one("#choice-net_method").value == "static"
        assert app.screen.query_one("#input-net_ip").value == app.session.values["net_ip"]


async def test_ascii_borders_on_the_console(make_app):
    app = make_app(seed=True, ascii_borders=True)
    async with app.run_test(size=SIZE) as pilot:
        assert app.has_class("-ascii")
        await goto(pilot, "review")
        text = screen_text(app)
        assert "-" * 40 in text
        assert not any(ord(ch) > 127 for ch in text), "only ASCII on the Linux console"


def test_help_and_subcommands_do_not_import_textual():
    code = ("import sys\nfrom kldload_tui.cli import build_parser\nbuild_parser()\n"
            "import kldload_tui.tui\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'textual' or "
            "m.startswith('kldload_tui.screens'))\n"
            "print(bad)\nsys.exit(1 if bad else 0)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_seed_disk_found_on_this_machine_is_never_offered_as_a_target(monkeypatch):
    machine = load_bundled_machine("server-3nvme-usb-seed")
    probed = machine.model_copy(update={"seed": None})  # as probe_machine returns it
    text = b"KLDLOAD_DISTRO=debian\nKLDLOAD_DISK=/dev/nvme0n1\nKLDLOAD_HOSTNAME=web-01\n"
    found = seed.FoundAnswers(seed.SeedDisk("/dev/sda1", "KLDLOADSEED", "vfat"), text,
                              parse_answers(text.decode(), interactive=True))
    monkeypatch.setattr(seed, "find_answers", lambda *a, **kw: found)
    prefill, machine = prefill_for(_args(), probed, described=False)
    assert prefill is not None and prefill.values["hostname"] == "web-01"
    assert machine.seed is not None and machine.seed.device == "/dev/sda1"
    verdicts = classify_machine(machine, min_size_bytes=0)
    assert "is the seed disk (/dev/sda1)" in verdicts["/dev/sda"].reasons


async def test_without_colour_cursors_are_reverse_video(make_app, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(seed=True)
    async with app.run_test(size=SIZE) as pilot:
        assert app.no_color
        await goto(pilot, "disks")
        table = app.screen.query_one("#disks-table")
        assert "reverse" in str(table.get_component_styles("datatable--cursor").text_style)
        await goto(pilot, "identity")
        zones = app.screen.query_one("#identity-zones")
        styles = zones.get_component_styles("option-list--option-highlighted")
        assert "reverse" in str(styles.text_style)


def test_answers_from_a_url_prefill(tmp_path, capsys):
    (tmp_path / "answers.env").write_bytes((EXAMPLES / "mirror.env").read_bytes())
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/answers.env"
        prefill, _ = prefill_for(_args(answers=url), load_bundled_machine("old-rpool"),
                                 described=True)
    finally:
        server.shutdown()
    assert prefill is not None and prefill.source is not None and url in prefill.source
    assert prefill.values["zfs_topology"] is Topology.MIRROR
    assert f"fetching answers from {url}" in capsys.readouterr().err
