"""The installed `kldload-tui --demo` in a pty of 80x24, driven by keystrokes only.

The walk (tests/tui/walk.py) visits every step, changes something on each, saves
the answers and installs (recording only). The saved file must equal
tests/tui/expected/demo-walk.env, on a vt100 and on the Linux console without
colour alike; what the terminal received must suit it (ASCII only, no mouse
reporting, no hue under NO_COLOR).
"""

from __future__ import annotations

import io
import re
import subprocess

import pexpect
import pytest

from tests.tui.conftest import EXPECTED
from tests.tui.walk import (
    EXE,
    USER_KEY,
    Driver,
    Walk,
    live_install_keys,
    run_walk,
    terminal_env,
)

pytestmark = pytest.mark.slow

SGR = re.compile(r"\x1b\[([0-9;]*)m")
MOUSE_ON = re.compile(r"\x1b\[\?(1000|1002|1003|1006|1015)h")
# Black, white and the two greys, as foreground and background; default colours.
GREYS = {30, 37, 90, 97, 39, 40, 47, 100, 107, 49}


def colours_with_hue(output: str) -> set[str]:
    """SGR colour codes in `output` that are not black, white or grey."""
    found: set[str] = set()
    for params in SGR.findall(output):
        codes = [int(p) for p in params.split(";") if p]
        i = 0
        while i < len(codes):
            code = codes[i]
            if code in (38, 48) and i + 1 < len(codes) and codes[i + 1] == 2:
                r, g, b = codes[i + 2:i + 5]
                if not r == g == b:
                    found.add(f"{code};2;{r};{g};{b}")
                i += 5
                continue
            if code in (38, 48) and i + 1 < len(codes) and codes[i + 1] == 5:
                n = codes[i + 2]
                if n not in (0, 7, 8, 15, 16, 231) and not 232 <= n <= 255:
                    found.add(f"{code};5;{n}")
                i += 3
                continue
            if (30 <= code <= 49 or 90 <= code <= 107) and code not in GREYS:
                found.add(str(code))
            i += 1
    return found


def _check_saved(saved) -> None:
    expected = (EXPECTED / "demo-walk.env").read_text()
    assert saved.read_text() == expected
    assert saved.stat().st_mode & 0o777 == 0o600
    check = subprocess.run([str(EXE), "validate", str(saved)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_walk_on_a_vt100(tmp_path):
    saved = tmp_path / "walk.env"
    walk = run_walk(saved, env=terminal_env(TERM="vt100"), cwd=tmp_path)
    _check_saved(saved)
    assert "Complete: dry run complete" in walk.text
    assert not any(ord(ch) > 127 for ch in walk.text), "a vt100 gets ASCII only"
    assert not MOUSE_ON.search(walk.text), "no mouse reporting on a serial console"


def test_walk_on_the_linux_console_without_colour(tmp_path):
    saved = tmp_path / "walk.env"
    walk = run_walk(saved, env=terminal_env(TERM="linux", NO_COLOR="1"), cwd=tmp_path)
    _check_saved(saved)
    assert not any(ord(ch) > 127 for ch in walk.text), "no box glyphs: they are diamonds here"
    assert not MOUSE_ON.search(walk.text)
    assert colours_with_hue(walk.text) == set(), "NO_COLOR: black, white and grey only"


def test_colour_check_finds_hue():
    assert colours_with_hue("\x1b[1;91;100mx\x1b[38;2;10;20;30my\x1b[97;40m") == {
        "91", "38;2;10;20;30"}


def test_the_live_walk_installs_on_a_one_disk_machine(tmp_path):
    # The keys the e2e types on a live guest's serial console and over SSH, here on
    # a description of such a machine, recording only.
    walk = Walk()
    child = pexpect.spawn(str(EXE), ["--machine", "one-disk-vm", "--dry-run"],
                          env=terminal_env(TERM="vt100", NO_COLOR="1"), dimensions=(24, 80),
                          encoding="utf-8", codec_errors="replace", cwd=str(tmp_path))
    child.logfile_read = io.StringIO()
    try:
        live_install_keys(Driver(child, walk), hostname="e2e-tui", password="e2e-Tui-Passw0rd",
                          ssh_key=USER_KEY, install_timeout=60)
        child.expect_exact("would run systemctl poweroff", timeout=20)
    finally:
        child.close(force=True)
    shown = child.logfile_read.getvalue()
    assert "Complete: dry run complete" in shown
    assert "the answers say: poweroff" in shown
