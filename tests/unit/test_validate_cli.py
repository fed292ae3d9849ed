"""`kldload-tui validate` as a user runs it: the installed console script."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "answers-examples"


def kldload(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("kldload-tui", path=str(Path(sys.executable).parent))
    argv = [exe] if exe else [sys.executable, "-m", "kldload_tui"]
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=60)


def test_valid_file_prints_a_summary():
    r = kldload("validate", str(EXAMPLES / "rocky-seed-usb.env"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        f"{EXAMPLES / 'rocky-seed-usb.env'}: valid",
        "  distro    rocky 9, server profile",
        "  disks     mirror: /dev/nvme0n1 /dev/nvme1n1",
        "  hostname  db-prod-01, user sysadmin, America/Toronto, en_US.UTF-8",
        "  network   static 10.0.1.50/24 via 10.0.1.1 on every wired interface, DNS 10.0.1.1",
        "  features  none",
        "  export    none",
        "  finish    poweroff",
    ]
    assert r.stderr == ""


def test_warnings_go_to_stderr():
    r = kldload("validate", str(EXAMPLES / "golden-image-export.env"))
    assert r.returncode == 0
    assert "warning: " in r.stderr
    assert "the default password is in use" in r.stderr


def test_invalid_file_prints_every_error(tmp_path):
    bad = tmp_path / "answers.env"
    bad.write_text("KLDLOAD_DISTRO=debain\nKLDLOAD_HOSTNAM=x\nKLDLOAD_DISK=/dev/sda\n")
    r = kldload("validate", str(bad))
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert lines[0].startswith(f"{bad}:1: KLDLOAD_DISTRO: unknown distro 'debain'; did you mean")
    assert lines[1] == f"{bad}:2: KLDLOAD_HOSTNAM: unknown key KLDLOAD_HOSTNAM; did you mean " \
        "KLDLOAD_HOSTNAME?"
    assert f"{bad}: KLDLOAD_HOSTNAME: required key is missing" in lines[2]
    assert lines[3] == f"{bad}: invalid (3 errors)"


def test_exit_codes_and_json(tmp_path):
    big = tmp_path / "big.env"
    big.write_bytes(b"#" * (1024 * 1024 + 1))
    r = kldload("validate", str(big))
    assert r.returncode == 2
    assert "larger than 1 MiB" in r.stderr
    assert kldload("validate", str(tmp_path / "missing.env")).returncode == 2
    assert kldload("validate").returncode == 2

    r = kldload("validate", "--json", str(EXAMPLES / "minimal.env"), str(tmp_path / "no.env"))
    assert r.returncode == 2
    doc = json.loads(r.stdout)
    assert doc["valid"] is False
    first, second = doc["files"]
    assert first["valid"] is True
    assert first["summary"]["disks"] == "single: /dev/sda"
    assert first["warnings"][0]["key"] == "KLDLOAD_PASSWORD"
    assert "cannot read" in second["unreadable"]


@pytest.mark.parametrize("args", [["--help"], ["validate", str(EXAMPLES / "minimal.env")]])
def test_front_door_stays_light(args):
    """--help and validate must not pay for textual or rich (slow live media)."""
    code = (f"import sys\nfrom kldload_tui.cli import main\ntry:\n    main({args!r})\n"
            "except SystemExit:\n    pass\n"
            "print(sorted(m for m in ('textual', 'rich') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.splitlines()[-1] == "[]", r.stdout + r.stderr


def test_python_dash_m_works():
    r = subprocess.run([sys.executable, "-m", "kldload_tui", "--help"], capture_output=True,
                       text=True)
    assert r.returncode == 0
    assert "validate" in r.stdout
