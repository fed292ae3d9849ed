"""kldload-package-holds as the Red Hat family gets it: dnf versionlock, read back.

The script runs under sh against a fake root with stub `dnf` and `rpm` that
print what dnf-plugins-core 4 and rpm print (a lock is NAME-EPOCH:VERSION-
RELEASE.*, the form `rpm -q --qf` builds for the check); see fakeroot.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kldload_tui.backend.answers.file import parse_answers
from kldload_tui.backend.target.files import install_files
from kldload_tui.backend.target.manifest import InstallFacts
from tests.integration.fakeroot import Host, make_host

HELD = ("kernel", "kmod-zfs", "zfs", "zfs-dracut")


@pytest.fixture
def host(tmp_path: Path) -> Host:
    answers = parse_answers("KLDLOAD_DISTRO=rocky\nKLDLOAD_DISK=/dev/sda\n"
                            "KLDLOAD_HOSTNAME=db-01\n").answers
    assert answers is not None
    files = install_files(answers, InstallFacts("rpool", "rpool/ROOT/rocky", HELD, "1.0"))
    return make_host(tmp_path, files)


def test_every_held_package_is_locked_and_read_back(host: Host) -> None:
    r = host.run("package-holds")
    assert r.returncode == 0, r.stdout + r.stderr
    assert host.calls()[0] == "dnf -q -y versionlock add kernel kmod-zfs zfs zfs-dracut"
    assert host.state_lines("locked") == sorted(f"{p}-0:{v}.*" for p, v in (
        ("kernel", "5.14.0-0.el9"), ("kmod-zfs", "1.0-1.el9"), ("zfs", "1.0-1.el9"),
        ("zfs-dracut", "1.0-1.el9")))
    assert "held: kernel kmod-zfs zfs zfs-dracut" in r.stdout


def test_a_lock_missing_from_the_list_fails(host: Host) -> None:
    r = host.run("package-holds", STUB_FORGET="kmod-zfs")
    assert r.returncode == 1
    assert "FAILED: not locked after dnf versionlock add: kmod-zfs-0:1.0-1.el9.*" in r.stdout


def test_every_installed_kernel_must_be_locked(host: Host) -> None:
    r = host.run("package-holds", STUB_KERNELS="2")
    assert r.returncode == 0, r.stdout
    assert [e for e in host.state_lines("locked") if e.startswith("kernel-")] == [
        "kernel-0:5.14.0-0.el9.*", "kernel-0:5.14.0-1.el9.*"]


def test_a_package_not_installed_fails(host: Host) -> None:
    host.set_state("not-installed", ["zfs-dracut"])
    r = host.run("package-holds")
    assert r.returncode == 1 and "not locked after dnf versionlock add: zfs-dracut" in r.stdout


def test_a_failing_versionlock_add_fails(host: Host) -> None:
    r = host.run("package-holds", STUB_FAIL="dnf -q -y versionlock add *")
    assert r.returncode == 1 and "FAILED: dnf versionlock add" in r.stdout


def test_an_option_disguised_as_a_package_never_reaches_dnf(host: Host) -> None:
    (host.root / "etc/kldload/held-packages").write_text("zfs\n--assumeno\n")
    r = host.run("package-holds")
    assert r.returncode == 1 and "not a package name: --assumeno" in r.stdout
    assert not any(c.startswith("dnf") for c in host.calls())
