"""The live system's branch point, `kldload-autoinstall`, run for real by bash.

Each case runs the script as the ISO installs it, in a mount namespace of its own:
/run and /var/log are empty tmpfs, /proc/cmdline is a file of the test's, and the
consoles (/dev/tty1, /dev/ttyS0) are files the test reads back. `kldload-tui` and
`systemctl` are stubs first on the PATH: the one says what `seed find` found and
how the headless install ends, the other logs what it was asked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from kldload_tui.backend.iso.liveroot import template

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and unshare for a private mount namespace")

FAKE_TUI = """\
#!/bin/bash
case "$1" in
seed)
    printf '%s\\n' "$FIND_SAYS"
    exit "$FIND_RC" ;;
--headless)
    echo "install: phase 1 of 12: preflight"
    if [ "$LOG_KEPT" = 1 ]; then
        mkdir -p /var/log/kldload
        echo "every command" > /var/log/kldload/install.log
    fi
    [ "$HEADLESS_RC" = 0 ] || echo "install failed in preflight: the reason"
    exit "$HEADLESS_RC" ;;
esac
exit 64
"""


@dataclass
class Ran:
    consoles: dict[str, str]
    files: dict[str, str]
    systemctl: list[str]


def _run(tmp_path: Path, *, find_rc: int, find_says: str = "", headless_rc: int = 0,
         log_kept: bool = False) -> Ran:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("kldload-tui", FAKE_TUI),
                       ("systemctl", '#!/bin/sh\necho "$*" >> "$OUT/systemctl"\n')):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    script = tmp_path / "kldload-autoinstall"
    script.write_text(template("kldload-autoinstall"))
    script.chmod(0o755)
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "cmdline").write_text("BOOT_IMAGE=/live/vmlinuz boot=live console=tty0 "
                                      "console=ttyS0,115200\n")
    consoles = ("tty1", "ttyS0")
    for name in consoles:
        (out / name).write_text("")
    inner = textwrap.dedent(f"""\
        set -e
        mount -t tmpfs kldload-run /run
        mount -t tmpfs kldload-log /var/log
        mount --bind {tmp_path}/cmdline /proc/cmdline
        for c in {' '.join(consoles)}; do mount --bind {out}/$c /dev/$c; done
        {script}
        for f in /run/kldload/autoinstall /var/log/kldload/autoinstall.log; do
            [ -e "$f" ] && cp "$f" {out}/"$(basename "$f")"
        done
        exit 0
        """)
    env = {**os.environ, "PATH": f"{bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin", "OUT": str(out),
           "FIND_RC": str(find_rc), "FIND_SAYS": find_says,
           "HEADLESS_RC": str(headless_rc), "LOG_KEPT": "1" if log_kept else "0"}
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", "-c", inner],
                       env=env, capture_output=True, text=True, check=False, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    calls = out / "systemctl"
    return Ran(consoles={c: (out / c).read_text() for c in consoles},
               files={p.name: p.read_text() for p in out.iterdir()
                      if p.name in ("autoinstall", "autoinstall.log")},
               systemctl=calls.read_text().splitlines() if calls.exists() else [])


def test_a_refused_install_names_the_log_that_exists(tmp_path: Path):
    ran = _run(tmp_path, find_rc=0, headless_rc=1)
    assert ran.files["autoinstall"] == "failed 1\n"
    for text in ran.consoles.values():  # tty1 and the serial console named by console=
        assert "install failed in preflight: the reason" in text
        assert ("INSTALL FAILED (exit 1). The error is above; it is kept in "
                "/var/log/kldload/autoinstall.log (the install stopped before it kept a log "
                "of its own).") in text
        assert "/var/log/kldload/install.log" not in text
    assert "install failed in preflight: the reason" in ran.files["autoinstall.log"]
    assert ran.systemctl == []  # no web UI beside a failed install


def test_a_failure_after_the_install_log_began_names_both(tmp_path: Path):
    ran = _run(tmp_path, find_rc=0, headless_rc=3, log_kept=True)
    assert ran.files["autoinstall"] == "failed 3\n"
    assert ("the logs are /var/log/kldload/install.log (every command) and "
            "/var/log/kldload/autoinstall.log.") in ran.consoles["ttyS0"]


def test_a_complete_install_says_so(tmp_path: Path):
    ran = _run(tmp_path, find_rc=0, headless_rc=0, log_kept=True)
    assert ran.files["autoinstall"] == "done\n"
    assert "kldload-autoinstall: install complete" in ran.consoles["tty1"]
    assert "install: phase 1 of 12: preflight" in ran.files["autoinstall.log"]


def test_invalid_answers_are_shown_and_kept(tmp_path: Path):
    ran = _run(tmp_path, find_rc=1, find_says="answers.env line 3: KLDLOAD_HOSTNAME: bad")
    assert ran.files["autoinstall"] == "invalid\n"
    assert "answers.env line 3: KLDLOAD_HOSTNAME: bad" in ran.consoles["ttyS0"]
    assert "answers.env line 3: KLDLOAD_HOSTNAME: bad" in ran.files["autoinstall.log"]
    assert "the answers found are not valid" in ran.consoles["tty1"]


def test_no_answers_starts_the_web_ui_and_leaves_the_console_to_the_tui(tmp_path: Path):
    ran = _run(tmp_path, find_rc=2, find_says="no seed disk")
    assert ran.files["autoinstall"] == "none\n"
    assert ran.systemctl == ["start --no-block kldload-webui.service"]
    assert "no answers (no kldload.answers=, no seed disk): starting the TUI" in \
        ran.consoles["ttyS0"]
