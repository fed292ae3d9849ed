"""The EL backend's bootstrap, run for real against a tiny signed repository.

The packages the Rocky seed example's plan asks for are made here (empty, but
for a kernel image and a zfs.ko where the checks look), signed with a
throwaway key, indexed and served as a darksite (`repodata/` + `keys/`). Then
the backend's own `bootstrap` runs with a real `LocalRunner`: curl fetches
the keys, gpg checks their fingerprints, `rpm --root --import` imports them,
the real dnf installs the three transactions with gpgcheck=1 and, because the
darksite signs repomd.xml, repo_gpgcheck=1; `verify_bootstrap` then queries
every package with `rpm --root -q`. The only thing changed for the test is the
pins: the repository is signed by the test's key, not Rocky's, under the
file names of the real pins. A second test keeps the real pins and shows the
test key refused before anything is imported; a third shows dnf refusing an
unsigned package.

This proves the argv, the repository files and the key handling are accepted
by the real tools. It does not prove a bootable Rocky system: nothing of
Rocky's is installed. Needs root (dnf --installroot, the API mounts).
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from kldload_tui.backend.answers.file import load_answers
from kldload_tui.backend.distros import distro_backend
from kldload_tui.backend.distros.dnf_family import DARKSITE_KEYS, DnfBackend
from kldload_tui.backend.distros.dnf_repos import REPO_DIR, dnf_argv, dnf_env, write_repo_files
from kldload_tui.backend.distros.rpm_keys import RPM_DBPATH, KeyPin
from kldload_tui.backend.engine.core import (
    InstallContext,
    InstallError,
    VerifyError,
)
from kldload_tui.backend.engine.runner import CommandError
from tests.integration.bootstrap_target import target_context, unmount
from tests.integration.rpm_repo import SignedRepo, build_repo, missing_tools, signing_key

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "answers-examples" / "rocky-seed-usb.env"
KVER = "5.14.0-503.kltest.el9.x86_64"
FILES = {
    "kernel": {f"/usr/lib/modules/{KVER}/vmlinuz": "not a kernel"},
    "kmod-zfs": {f"/usr/lib/modules/{KVER}/extra/zfs/zfs.ko": "not a module"},
}

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: dnf --installroot and mounts"),
    pytest.mark.skipif(bool(missing_tools()), reason=f"missing: {' '.join(missing_tools())}"),
]


@dataclass
class Site:
    repo: SignedRepo
    backend: DnfBackend
    packages: list[str]


def _wanted(backend: DnfBackend, ctx: InstallContext) -> list[str]:
    return list(dict.fromkeys([*backend.BASE_PACKAGES, "python3-dnf-plugin-versionlock",
                               *backend.KERNEL_PACKAGES, *backend.zfs_packages(),
                               *backend.loader_packages(ctx), *backend.optional_packages()]))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The darksite: every package the Rocky example's plan installs, signed."""
    base = tmp_path_factory.mktemp("el-site")
    answers = load_answers(EXAMPLE).answers
    assert answers is not None
    backend = distro_backend(answers)
    assert isinstance(backend, DnfBackend)
    (base / "probe").mkdir()
    packages = _wanted(backend, target_context(base / "probe", backend, None))
    with signing_key(base) as (env, fpr):
        repo = build_repo(base, packages, FILES, env, fpr)
    keys = repo.path / DARKSITE_KEYS
    keys.mkdir()
    for pin in backend.key_pins():
        shutil.copy(repo.key_file, keys / pin.file)
    yield Site(repo, backend, packages)


def _test_pins(backend: DnfBackend, fingerprint: str) -> list[KeyPin]:
    return [replace(pin, fingerprint=fingerprint) for pin in backend.key_pins()]


def _bootstrapped(site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                  ) -> tuple[DnfBackend, InstallContext]:
    """The backend's own bootstrap, run from the darksite with the test's key pinned."""
    backend = type(site.backend)(site.backend.answers)
    pins = _test_pins(backend, site.repo.fingerprint)
    monkeypatch.setattr(backend, "key_pins", lambda: pins)
    ctx = target_context(tmp_path, backend, site.repo.path)
    try:
        backend.bootstrap(ctx)
    finally:
        unmount(ctx)
    return backend, ctx


def test_bootstrap_installs_every_planned_package_with_signatures_checked(
        site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend, ctx = _bootstrapped(site, tmp_path, monkeypatch)
    backend.verify_bootstrap(ctx)
    target = ctx.target
    assert ctx.kernel_version == KVER
    # Every package of the plan, queried in the target's own database.
    out = subprocess.run(["rpm", "--root", str(target), "--dbpath", RPM_DBPATH, "-q", "--qf",
                          "%{NAME} %{SIGPGP:pgpsig}%{RSAHEADER:pgpsig}\n", *site.packages],
                         capture_output=True, text=True, check=True).stdout
    rows = dict(line.split(" ", 1) for line in out.splitlines())
    assert sorted(rows) == sorted(site.packages)
    short = site.repo.fingerprint[-16:].lower()
    assert all(short in sig for sig in rows.values()), rows
    # The key is in the target's database once, read back by fingerprint.
    keys = subprocess.run(["rpm", "--root", str(target), "--dbpath", RPM_DBPATH, "-q",
                           "gpg-pubkey"], capture_output=True, text=True, check=True).stdout
    assert keys.split() == [f"gpg-pubkey-{site.repo.fingerprint[-8:].lower()}-"
                            + keys.split("-")[-1].strip()]
    # The darksite as the one repository, packages and (signed) metadata checked.
    repos = sorted((target / REPO_DIR.lstrip("/")).glob("*.repo"))
    assert [p.name for p in repos] == ["kldload-darksite.repo"]
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(repos[0])
    section = parser["kldload-darksite"]
    assert (section["gpgcheck"], section["repo_gpgcheck"]) == ("1", "1")
    assert section["baseurl"] == f"file://{site.repo.path}"
    for key in section["gpgkey"].split():
        assert (target / key.removeprefix("file:///")).is_file(), key
    # Nothing of the bootstrap's scaffolding is left, and dnf's database is the target's.
    assert not (target / "var/lib/kldload/bootstrap").exists()
    assert not (target / "root/.rpmdb").exists()
    assert (target / "var/lib/rpm/rpmdb.sqlite").is_file()
    assert not (target / "etc/kernel/install.d/50-dracut.install").exists()
    assert "zfs" in (target / "etc/dracut.conf.d/kldload.conf").read_text()


def test_a_key_that_is_not_the_pinned_one_is_refused_before_import(
        site: Site, tmp_path: Path) -> None:
    # The real pins (Rocky's, OpenZFS's, EPEL's) against the test's key.
    backend = type(site.backend)(site.backend.answers)
    ctx = target_context(tmp_path, backend, site.repo.path)
    with pytest.raises(InstallError, match="not the pinned 21CB256AE16FC54C6E652949702D426D350D"):
        backend.bootstrap(ctx)
    unmount(ctx)
    r = subprocess.run(["rpm", "--root", str(ctx.target), "--dbpath", RPM_DBPATH, "-q",
                        "gpg-pubkey"], capture_output=True, text=True, check=False)
    assert "is not installed" in r.stdout
    assert not (ctx.target / "usr").exists()


def test_dnf_refuses_an_unsigned_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    answers = load_answers(EXAMPLE).answers
    assert answers is not None
    backend = distro_backend(answers)
    assert isinstance(backend, DnfBackend)
    with signing_key(tmp_path) as (env, fpr):
        repo = build_repo(tmp_path, ["systemd"], {}, env, fpr, sign_packages=False)
    pins = _test_pins(backend, fpr)
    keys = repo.path / DARKSITE_KEYS
    keys.mkdir()
    for pin in pins:
        shutil.copy(repo.key_file, keys / pin.file)
    monkeypatch.setattr(backend, "key_pins", lambda: pins)
    ctx = target_context(tmp_path, backend, repo.path)
    from kldload_tui.backend.distros.rpm_keys import install_keys

    install_keys(ctx, pins, backend.key_sources(ctx))
    write_repo_files(ctx, backend.repos(ctx))
    with pytest.raises(CommandError) as err:
        ctx.run(dnf_argv(ctx, backend.release(), "install", "systemd"), env=dnf_env(ctx))
    assert "not signed" in str(err.value) or "GPG check FAILED" in str(err.value)
    r = subprocess.run(["rpm", "--root", str(ctx.target), "--dbpath", RPM_DBPATH, "-q",
                        "systemd"], capture_output=True, text=True, check=False)
    assert r.returncode != 0


def test_verify_bootstrap_fails_without_the_zfs_module(
        site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend, ctx = _bootstrapped(site, tmp_path, monkeypatch)
    (ctx.target / f"usr/lib/modules/{KVER}/extra/zfs/zfs.ko").unlink()
    with pytest.raises(VerifyError, match="ZFS module"):
        backend.verify_bootstrap(ctx)
