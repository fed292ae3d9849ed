"""RHEL (backend/distros/rhel.py): installed from a mirror of its repositories or
a darksite, registered at first boot with answers kept as secrets. Every file
it writes is parsed back (configparser for the .repo files), and the
registration script runs for real against a stand-in subscription-manager."""

from __future__ import annotations

import configparser
import os
import subprocess
from pathlib import Path

import pytest

from kldload_tui.backend.answers.file import parse_answers
from kldload_tui.backend.answers.model import Answers
from kldload_tui.backend.distros import distro_backend
from kldload_tui.backend.distros.dnf_family import DARKSITE_MARKER
from kldload_tui.backend.distros.dnf_repos import BOOTSTRAP_REPOS, REPO_DIR
from kldload_tui.backend.distros.rhel import (
    AUXILIARY_KEY,
    CREDENTIALS,
    REGISTER_UNIT,
    RELEASE_KEY,
    RedHatBackend,
)
from kldload_tui.backend.engine.core import InstallError, InstallOptions, plan_install
from kldload_tui.backend.engine.runner import RecordingRunner
from kldload_tui.backend.machine.model import load_bundled_machine
from kldload_tui.backend.target.files import template

BASE = ("KLDLOAD_DISTRO=rhel\nKLDLOAD_DISK=/dev/vda\nKLDLOAD_HOSTNAME=rhel-01\n"
        "KLDLOAD_PASSWORD='rhel-Pass-2026'\n")
MIRROR = "KLDLOAD_CUSTOM_MIRROR_URL=http://10.0.0.5/rhel9-dvd/\n"
KEY = "Act1vation-Key.for_tests"
REGISTERED = f"KLDLOAD_RHEL_ORG=12345678\nKLDLOAD_RHEL_ACTIVATION_KEY={KEY}\n"


def _answers(text: str) -> Answers:
    result = parse_answers(BASE + text)
    assert result.answers is not None, [p.render() for p in result.errors]
    return result.answers


def _plan(text: str, darksite: Path | None = None) -> RecordingRunner:
    return plan_install(_answers(text), load_bundled_machine("one-disk-vm"),
                        options=InstallOptions(darksite=darksite))


def _writes(plan: RecordingRunner) -> dict[str, str]:
    return {s.path: s.content or "" for s in plan.plan if s.kind == "write" and s.path}


def _ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.read_string(text)
    return parser


def _sections(writes: dict[str, str], where: str) -> dict[str, configparser.SectionProxy]:
    found: dict[str, configparser.SectionProxy] = {}
    for path, text in writes.items():
        if path.startswith(where) and path.endswith(".repo"):
            parser = _ini(text)
            found.update({s: parser[s] for s in parser.sections()})
    return found


def test_rhel_is_served_by_its_own_backend() -> None:
    assert isinstance(distro_backend(_answers(MIRROR)), RedHatBackend)


def test_without_a_mirror_or_darksite_preflight_refuses_before_any_write() -> None:
    with pytest.raises(InstallError, match="KLDLOAD_CUSTOM_MIRROR_URL") as err:
        _plan("")
    assert "nothing was written" in str(err.value)


def test_the_mirror_is_the_dvds_layout_and_every_repository_checks_signatures() -> None:
    writes = _writes(_plan(MIRROR + "KLDLOAD_PROFILE=server\n"))
    sections = _sections(writes, f"/mnt/kldload{REPO_DIR}/")
    assert sorted(sections) == ["epel", "rhel-appstream", "rhel-baseos",
                                "rhel-codeready-builder", "zfs"]
    assert sections["rhel-baseos"]["baseurl"] == "http://10.0.0.5/rhel9-dvd/BaseOS/"
    assert sections["rhel-appstream"]["baseurl"] == "http://10.0.0.5/rhel9-dvd/AppStream/"
    assert sections["rhel-codeready-builder"]["baseurl"] == \
        "http://10.0.0.5/rhel9-dvd/CodeReady/"
    assert sections["rhel-baseos"]["gpgkey"].split() == [
        f"file://{RELEASE_KEY.path}", f"file://{AUXILIARY_KEY.path}"]
    assert sections["zfs"]["baseurl"].endswith("/epel/9/kmod/x86_64/")
    assert all(s["gpgcheck"] == "1" for s in sections.values())


def test_core_without_epel_needs_no_codeready() -> None:
    sections = _sections(_writes(_plan(MIRROR + "KLDLOAD_PROFILE=core\n")),
                         f"/mnt/kldload{REPO_DIR}/")
    assert sorted(sections) == ["rhel-appstream", "rhel-baseos", "zfs"]


def test_both_red_hat_keys_are_imported_before_the_first_package() -> None:
    plan = _plan(MIRROR + "KLDLOAD_PROFILE=core\n")
    argvs = [s.argv for s in plan.plan if s.kind == "command"]
    first_dnf = next(i for i, a in enumerate(argvs) if a[:1] == ("dnf",))
    imported = [a[-1].rsplit("/", 1)[-1] for a in argvs[:first_dnf]
                if a[:1] == ("rpm",) and "--import" in a]
    assert imported == [RELEASE_KEY.file, AUXILIARY_KEY.file, "RPM-GPG-KEY-openzfs-2022"]
    # The kABI kmod, as for Rocky: RHEL's kernel is the one it is built for.
    installs = [a[a.index("install") + 1:] for a in argvs if a[:1] == ("dnf",)]
    assert list(installs[1][:4]) == ["kernel", "kmod-zfs", "zfs", "zfs-dracut"]
    assert "subscription-manager" in installs[0]


def test_a_darksite_alone_installs_with_every_pinned_key(tmp_path: Path) -> None:
    site = tmp_path / "darksite"
    (site / "repodata").mkdir(parents=True)
    (site / DARKSITE_MARKER).write_text("<repomd/>")
    plan = _plan("KLDLOAD_PROFILE=core\n", darksite=site)
    writes = _writes(plan)
    boot = _sections(writes, f"/mnt/kldload{BOOTSTRAP_REPOS}/")
    assert list(boot) == ["kldload-darksite"]
    keys = [k.rsplit("/", 1)[-1] for k in boot["kldload-darksite"]["gpgkey"].split()]
    assert keys == [RELEASE_KEY.file, AUXILIARY_KEY.file, "RPM-GPG-KEY-openzfs-2022"]
    assert f"file://{site}/keys/{RELEASE_KEY.file}" in plan.render_text()
    # No mirror was named: the installed system keeps only OpenZFS's repository
    # until it registers (subscription-manager then writes redhat.repo).
    final = [Path(p).name for p in writes if p.startswith(f"/mnt/kldload{REPO_DIR}/")]
    assert final[-1:] == ["zfs.repo"] and "kldload-rhel.repo" not in final


def test_registration_writes_a_secret_file_the_plan_never_shows() -> None:
    plan = _plan(MIRROR + REGISTERED)
    rendered = plan.render_text()
    assert KEY not in rendered
    step = next(s for s in plan.plan if s.kind == "write" and s.path
                and s.path.endswith(CREDENTIALS))
    assert step.mode == 0o600 and step.secret
    assert f"systemctl enable {REGISTER_UNIT}" in rendered
    # The manifest and the answers copy say a key was given, never which.
    writes = _writes(plan)
    for path, text in writes.items():
        if path.endswith((".env", "install-manifest.env")):
            assert KEY not in text, path


def test_without_registration_no_credentials_or_unit() -> None:
    rendered = _plan(MIRROR).render_text()
    assert CREDENTIALS not in rendered and REGISTER_UNIT not in rendered


@pytest.mark.parametrize(("text", "key", "message"), [
    ("KLDLOAD_RHEL_ORG=12345678\n", "KLDLOAD_RHEL_ACTIVATION_KEY", "without an activation key"),
    (f"KLDLOAD_RHEL_ACTIVATION_KEY={KEY}\n", "KLDLOAD_RHEL_ORG", "without its organization"),
])
def test_half_a_registration_is_an_error(text: str, key: str, message: str) -> None:
    result = parse_answers(BASE + MIRROR + text)
    assert result.answers is None
    problem = next(p for p in result.errors if p.key == key)
    assert message in problem.message and problem.line is not None


def test_registration_for_another_distribution_is_a_warning() -> None:
    result = parse_answers(BASE.replace("=rhel", "=rocky") + REGISTERED)
    assert result.answers is not None
    warning = next(p for p in result.warnings if p.key == "KLDLOAD_RHEL_ORG")
    assert "only for KLDLOAD_DISTRO=rhel" in warning.message


def test_a_malformed_activation_key_is_refused_without_echoing_it() -> None:
    result = parse_answers(BASE + MIRROR + "KLDLOAD_RHEL_ORG=1\n"
                           "KLDLOAD_RHEL_ACTIVATION_KEY='--org=evil key'\n")
    assert result.answers is None
    problem = next(p for p in result.errors if p.key == "KLDLOAD_RHEL_ACTIVATION_KEY")
    assert "evil" not in problem.render()


# -- the registration script, run for real -------------------------------------------

def _script_root(tmp_path: Path, sm_body: str) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "root"
    cred = root / CREDENTIALS
    cred.parent.mkdir(parents=True)
    cred.write_text(f"org=12345678\nactivation_key={KEY}\n")
    script = tmp_path / "rhsm-register"
    script.write_text(template("rhsm-register"))
    script.chmod(0o755)
    sm = tmp_path / "subscription-manager"
    sm.write_text("#!/bin/sh\necho \"$@\" >> \"$(dirname \"$0\")/calls\"\n" + sm_body)
    sm.chmod(0o755)
    env = {**os.environ, "KLDLOAD_ROOT": str(root), "SUBSCRIPTION_MANAGER": str(sm)}
    return root, env


def _run(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(tmp_path / "rhsm-register")], env=env, capture_output=True,
                          text=True, timeout=30, check=False)


def test_the_script_registers_once_then_deletes_the_credentials(tmp_path: Path) -> None:
    # identity fails (not registered yet); register succeeds.
    root, env = _script_root(tmp_path, 'case "$1" in identity) exit 1 ;; esac\nexit 0\n')
    r = _run(tmp_path, env)
    assert r.returncode == 0, r.stdout + r.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls == ["identity", f"register --org=12345678 --activationkey={KEY}"]
    assert not (root / CREDENTIALS).exists()
    # Nothing left to do at the next boot.
    assert _run(tmp_path, env).returncode == 0


def test_a_failed_registration_keeps_the_credentials_for_the_next_boot(tmp_path: Path) -> None:
    root, env = _script_root(tmp_path, "exit 1\n")
    r = _run(tmp_path, env)
    assert r.returncode == 1 and "tried again at the next boot" in r.stdout
    assert (root / CREDENTIALS).is_file()


def test_an_already_registered_machine_only_drops_the_credentials(tmp_path: Path) -> None:
    root, env = _script_root(tmp_path, "exit 0\n")
    assert _run(tmp_path, env).returncode == 0
    assert (tmp_path / "calls").read_text().splitlines() == ["identity"]
    assert not (root / CREDENTIALS).exists()


def test_validate_warns_of_an_install_without_a_mirror() -> None:
    result = parse_answers(BASE)
    assert result.answers is not None
    warning = next(p for p in result.warnings if p.key == "KLDLOAD_CUSTOM_MIRROR_URL")
    assert "only from an rpm-md darksite" in warning.message
    assert warning.line == 1  # on KLDLOAD_DISTRO's line, the key itself being absent
    assert not [p for p in parse_answers(BASE + MIRROR).warnings
                if p.key == "KLDLOAD_CUSTOM_MIRROR_URL"]


def test_the_live_tools_list_plans_every_distribution_rhel_included() -> None:
    # What the live ISO must carry: asked of every backend, none refusing for want
    # of a mirror (the smoke layout checks each tool is on the live system's PATH).
    from kldload_tui.backend.phases.preflight import live_tools

    tools = live_tools()
    assert {"dnf", "rpm", "gpg", "curl", "debootstrap"} <= set(tools)
