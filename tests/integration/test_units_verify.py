"""The units, scripts and sudoers rule checked by the real tools that will read them.

`systemd-analyze verify --root=ROOT` loads the units the way systemd would in
the target: ROOT holds our units, this host's *.target units (verify needs
sysinit.target and friends) and an executable at every absolute path an Exec*
line names (ours are the real scripts; others such as /usr/sbin/zpool are
stubs). Any message at all fails the test, so an unknown key, a bad calendar
or a missing executable is caught, not only what verify's exit code reports.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from kldload_tui.backend.answers.file import parse_answers
from kldload_tui.backend.answers.model import Answers
from kldload_tui.backend.distros import distro_backend
from kldload_tui.backend.distros.rhel import RedHatBackend
from kldload_tui.backend.target.files import SUDOERS_PATH, UNIT_DIR, TargetFile, install_files
from kldload_tui.backend.target.manifest import InstallFacts
from tests.integration.fakeroot import write_files

HOST_UNITS = Path("/usr/lib/systemd/system")
needs_systemd = pytest.mark.skipif(shutil.which("systemd-analyze") is None or
                                   not HOST_UNITS.is_dir(), reason="needs systemd-analyze")
ANSWERS = ("KLDLOAD_DISTRO=debian\nKLDLOAD_DISK=/dev/sda\nKLDLOAD_HOSTNAME=web-01\n"
           "KLDLOAD_WIREGUARD=1\nKLDLOAD_INFRA_MODE=cluster\nKLDLOAD_CLUSTER_CIDR=10.1.0.0/24\n")


def _answers(text: str = ANSWERS) -> Answers:
    a = parse_answers(text).answers
    assert a is not None
    return a


# The Red Hat family's files differ in the package holds (dnf versionlock) and
# their unit's ordering against dnf-automatic.
ROCKY = ANSWERS.replace("KLDLOAD_DISTRO=debian", "KLDLOAD_DISTRO=rocky")


def _files(answers: str = ANSWERS) -> list[TargetFile]:
    return install_files(_answers(answers),
                         InstallFacts("rpool", "rpool/ROOT/debian", ("zfs-dkms",)))


def _units(files: list[TargetFile]) -> list[str]:
    return [Path(f.path).name for f in files if f.path.startswith(UNIT_DIR + "/")]


def _make_root(root: Path, files: list[TargetFile]) -> Path:
    write_files(root, files)
    for target in HOST_UNITS.glob("*.target"):
        shutil.copy(target, root / UNIT_DIR / target.name)
    for f in files:
        for exe in re.findall(r"^Exec\w+=[-@:+!]*(/\S+)", f.content, flags=re.M):
            stub = root / exe.lstrip("/")
            if not stub.exists():
                stub.parent.mkdir(parents=True, exist_ok=True)
                stub.write_text("#!/bin/sh\n")
                stub.chmod(0o755)
    return root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A target root with our files, the host's targets and every Exec* binary."""
    return _make_root(tmp_path / "root", _files())


def verify(root: Path, units: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", "verify", f"--root={root}", "--man=no", *units],
                          capture_output=True, text=True, timeout=120, check=False)


@needs_systemd
def test_every_unit_verifies_cleanly(root: Path):
    units = _units(_files())
    assert len(units) == 8
    r = verify(root, units)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr


@needs_systemd
def test_the_red_hat_familys_units_verify_cleanly(tmp_path: Path):
    files = _files(ROCKY)
    root = _make_root(tmp_path / "root", files)
    units = _units(files)
    assert "kldload-package-holds.service" in units and len(units) == 8
    holds = (root / UNIT_DIR / "kldload-package-holds.service").read_text()
    assert "Before=dnf-automatic.service dnf-automatic-install.service" in holds
    r = verify(root, units)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr


@needs_systemd
def test_the_rhel_registration_unit_verifies_cleanly(tmp_path: Path):
    backend = distro_backend(_answers(ROCKY.replace("=rocky", "=rhel")))
    assert isinstance(backend, RedHatBackend)
    files = backend.register_files()
    root = _make_root(tmp_path / "root", files)
    r = verify(root, _units(files))
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr


@needs_systemd
def test_a_missing_executable_fails(root: Path):
    (root / "usr/lib/kldload/snapshot").unlink()
    r = verify(root, ["kldload-snapshot.service"])
    assert r.returncode != 0
    assert "/usr/lib/kldload/snapshot is not executable" in r.stderr


@needs_systemd
def test_an_unknown_key_is_reported(root: Path):
    unit = root / UNIT_DIR / "kldload-scrub.timer"
    unit.write_text(unit.read_text().replace("Persistent=true", "Persistant=true"))
    r = verify(root, ["kldload-scrub.timer"])
    assert "Unknown key 'Persistant'" in r.stderr


@needs_systemd
def test_a_bad_calendar_is_reported(root: Path):
    unit = root / UNIT_DIR / "kldload-snapshot.timer"
    unit.write_text(unit.read_text().replace("OnCalendar=hourly", "OnCalendar=every hour"))
    r = verify(root, ["kldload-snapshot.timer"])
    assert "Failed to parse calendar specification" in r.stderr


@needs_systemd
@pytest.mark.parametrize("expression", ["hourly", "*:0/15", "Sun *-*-* 02:00:00"])
def test_calendars_mean_what_the_units_say(expression: str):
    r = subprocess.run(["systemd-analyze", "calendar", "--iterations=3", expression],
                       capture_output=True, text=True, timeout=30, check=False)
    assert r.returncode == 0, r.stderr
    assert "Next elapse" in r.stdout


def _scripts() -> list[TargetFile]:
    debian = [f for f in _files() if f.path.startswith("usr/lib/kldload/")]
    # The Red Hat family's package-holds is the one script that differs.
    rocky = [replace(f, path=f.path + "-dnf") for f in _files(ROCKY)
             if f.path == "usr/lib/kldload/package-holds"]
    return [*debian, *rocky]


@pytest.mark.parametrize("script", _scripts(), ids=lambda f: Path(f.path).name)
def test_scripts_parse(tmp_path: Path, script: TargetFile):
    path = tmp_path / Path(script.path).name
    path.write_text(script.content)
    r = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
@pytest.mark.parametrize("script", _scripts(), ids=lambda f: Path(f.path).name)
def test_scripts_pass_shellcheck(tmp_path: Path, script: TargetFile):
    path = tmp_path / Path(script.path).name
    path.write_text(script.content)
    r = subprocess.run(["shellcheck", "--shell=sh", str(path)], capture_output=True, text=True,
                       check=False)
    assert r.returncode == 0, r.stdout


def _visudo() -> str | None:
    return shutil.which("visudo") or next(
        (p for p in ("/usr/sbin/visudo", "/sbin/visudo") if Path(p).exists()), None)


@pytest.mark.skipif(_visudo() is None, reason="visudo not installed (apt-get install sudo)")
@pytest.mark.parametrize("username", ["admin", "ops_team", "deploy-2"])
def test_sudoers_rule_passes_visudo(tmp_path: Path, username: str):
    a = _answers(ANSWERS + f"KLDLOAD_USERNAME={username}\n")
    rule = next(f for f in install_files(a, InstallFacts("rpool", "rpool/ROOT/debian"))
                if f.path == SUDOERS_PATH)
    path = tmp_path / "kldload-admin"
    path.write_text(rule.content)
    path.chmod(rule.mode)
    visudo = _visudo()
    assert visudo is not None
    r = subprocess.run([visudo, "-cf", str(path)], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "parsed OK" in r.stdout


@pytest.mark.skipif(_visudo() is None, reason="visudo not installed (apt-get install sudo)")
def test_visudo_check_catches_a_broken_rule(tmp_path: Path):
    path = tmp_path / "broken"
    path.write_text("admin ALL=(ALL NOPASSWD:ALL\n")
    visudo = _visudo()
    assert visudo is not None
    r = subprocess.run([visudo, "-cf", str(path)], capture_output=True, text=True, check=False)
    assert r.returncode != 0
