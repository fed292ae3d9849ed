"""kldload-package-holds as Arch gets it (IgnorePkg), and the installed system's
pacman.conf, both read by the real pacman-conf: pacman's own parser, which
follows the Include to the holds file as pacman does.

The script runs under sh against a fake root (fakeroot.py) with the real
pacman-conf on PATH. pacman.conf names the holds file by its absolute path on
the installed system; here that path is moved into the fake root, the one
change made for the test.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kldload_tui.backend.answers.file import parse_answers
from kldload_tui.backend.distros.arch import ArchBackend
from kldload_tui.backend.distros.pacman_conf import HOLDS_CONF, pacman_conf
from kldload_tui.backend.distros.pacman_holds import EMPTY_HOLDS
from kldload_tui.backend.target.files import install_files
from kldload_tui.backend.target.manifest import InstallFacts
from tests.integration.fakeroot import Host, make_host

HELD = ("linux-lts", "linux-lts-headers", "zfs-dkms", "zfs-utils", "grub")

pytestmark = pytest.mark.skipif(shutil.which("pacman-conf") is None,
                                reason="missing: pacman-conf (pacman-package-manager)")


def _answers_backend() -> ArchBackend:
    answers = parse_answers("KLDLOAD_DISTRO=arch\nKLDLOAD_DISK=/dev/sda\n"
                            "KLDLOAD_HOSTNAME=arch-01\n").answers
    assert answers is not None
    return ArchBackend(answers)


@pytest.fixture
def host(tmp_path: Path) -> Host:
    backend = _answers_backend()
    files = install_files(backend.answers, InstallFacts("rpool", "rpool/ROOT/arch", HELD, "1.0"))
    host = make_host(tmp_path, files)
    conf = pacman_conf(backend.network_repos())
    # As configure leaves the target: the holds file there before its first boot.
    (host.root / HOLDS_CONF.lstrip("/")).parent.mkdir(parents=True)
    (host.root / HOLDS_CONF.lstrip("/")).write_text(EMPTY_HOLDS)
    (host.root / "etc/pacman.conf").write_text(
        conf.replace(f"Include = {HOLDS_CONF}", f"Include = {host.root}{HOLDS_CONF}"))
    return host


def _ignored(host: Host) -> list[str]:
    import subprocess

    return subprocess.run(["pacman-conf", "--config", str(host.root / "etc/pacman.conf"),
                           "IgnorePkg"], capture_output=True, text=True,
                          check=True).stdout.split()


def test_every_held_package_is_ignored_and_read_back(host: Host) -> None:
    r = host.run("package-holds")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"held: {' '.join(HELD)}" in r.stdout
    assert _ignored(host) == list(HELD)
    text = (host.root / HOLDS_CONF.lstrip("/")).read_text()
    assert text.splitlines()[-1] == f"IgnorePkg = {' '.join(HELD)}"
    # Run again (every boot): the same file, no duplicates.
    assert host.run("package-holds").returncode == 0
    assert _ignored(host) == list(HELD)


def test_without_the_holds_file_pacman_reads_no_configuration(host: Host) -> None:
    # Why configure writes it: an Include pacman cannot read is an error, not a warning.
    import subprocess

    (host.root / HOLDS_CONF.lstrip("/")).unlink()
    r = subprocess.run(["pacman-conf", "--config", str(host.root / "etc/pacman.conf")],
                       capture_output=True, text=True, check=False)
    assert r.returncode != 0 and "could not be read" in r.stderr


def test_a_pacman_conf_that_does_not_include_the_holds_fails(host: Host) -> None:
    conf = host.root / "etc/pacman.conf"
    conf.write_text("\n".join(line for line in conf.read_text().splitlines()
                              if not line.startswith("Include")) + "\n")
    r = host.run("package-holds")
    assert r.returncode == 1
    assert "FAILED: not ignored by pacman after writing" in r.stdout
    assert "linux-lts" in r.stdout


def test_the_installed_pacman_conf_reads_as_written(host: Host) -> None:
    import subprocess

    conf = str(host.root / "etc/pacman.conf")

    def conf_of(*args: str) -> list[str]:
        return subprocess.run(["pacman-conf", "--config", conf, *args], capture_output=True,
                              text=True, check=True).stdout.split()

    assert conf_of("--repo-list") == ["core", "extra", "archzfs"]
    assert conf_of("IgnorePkg") == []  # nothing held before the first boot
    # pacman-conf spells out what each SigLevel means: packages always required.
    assert conf_of("--repo", "archzfs", "SigLevel") == [
        "PackageRequired", "PackageTrustedOnly", "DatabaseRequired", "DatabaseTrustedOnly"]
    assert conf_of("--repo", "core", "SigLevel") == [
        "PackageRequired", "PackageTrustedOnly", "DatabaseOptional", "DatabaseTrustedOnly"]
    assert conf_of("--repo", "core", "Server") == [
        "https://geo.mirror.pkgbuild.com/core/os/x86_64"]
    assert "PackageRequired" in conf_of("LocalFileSigLevel")
