"""The darksite is signed, and apt and the engine check it: never trusted unchecked.

A tiny repository is made with the ISO build's own code (a test .deb, index_repo,
sign_release) and the real gpg; then the real apt-get reads it through the exact
deb822 sources the Debian backend writes into a target, with the concatenated
keyring the engine gives debootstrap and apt. A repository that is changed after
signing, unsigned, or signed by another key is refused by apt and by preflight.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from kldload_tui.backend.answers.file import parse_answers
from kldload_tui.backend.distros import distro_backend
from kldload_tui.backend.distros.apt_keys import (
    ARCHIVE_KEYRING,
    check_darksite_signature,
    write_install_keyring,
)
from kldload_tui.backend.distros.debian import DebianBackend
from kldload_tui.backend.engine.core import InstallContext, InstallError, InstallOptions
from kldload_tui.backend.engine.live_medium import DARKSITE_KEYRING
from kldload_tui.backend.engine.runner import LocalRunner
from kldload_tui.backend.iso.aptsrc import PrivateApt
from kldload_tui.backend.iso.darksite import index_repo, sign_release
from kldload_tui.backend.machine.model import load_bundled_machine

SUITE = "bookworm"
PACKAGE = "kldload-signing-probe"


def make_deb(out: Path, version: str = "1.0") -> Path:
    tree = out / "tree"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN/control").write_text(
        f"Package: {PACKAGE}\nVersion: {version}\nArchitecture: amd64\n"
        "Maintainer: kldload tests <tests@invalid>\nPriority: optional\nSection: misc\n"
        "Description: a package for the darksite signing test\n")
    deb = out / f"{PACKAGE}_{version}_amd64.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(tree),
                    str(deb)], check=True, capture_output=True)
    shutil.rmtree(tree)
    return deb


def make_darksite(root: Path, runner: LocalRunner) -> tuple[Path, Path, str]:
    """(repository, public keyring, fingerprint)"""
    repo = root / "repo"
    pool = repo / "pool/main/k" / PACKAGE
    pool.mkdir(parents=True)
    make_deb(pool)
    index_repo(repo, SUITE, runner)
    keyring = root / "darksite-keyring.gpg"
    fingerprint = sign_release(repo / "dists" / SUITE, keyring, "kldload test darksite", runner)
    return repo, keyring, fingerprint


@pytest.fixture
def runner(tmp_path: Path):
    with LocalRunner(log_path=tmp_path / "commands.log") as r:
        yield r


def answers():
    result = parse_answers("KLDLOAD_DISTRO=debian\nKLDLOAD_DISK=/dev/vda\n"
                           f"KLDLOAD_HOSTNAME=vm-01\nKLDLOAD_DEBIAN_SUITE={SUITE}\n")
    assert result.answers is not None
    return result.answers


def live_root_with(key: Path | None, where: Path) -> Path:
    """A live root as the ISO build leaves it: Debian's keys, and the darksite's."""
    for src, dest in ((Path(ARCHIVE_KEYRING), ARCHIVE_KEYRING), (key, DARKSITE_KEYRING)):
        if src is not None:
            target = where / dest.relative_to("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return where


def context(runner: LocalRunner, tmp_path: Path, live_root: Path,
            darksite: Path) -> InstallContext:
    a = answers()
    target = tmp_path / "target"
    target.mkdir(exist_ok=True)
    opts = InstallOptions(reprobe=False, darksite=darksite, live_root=live_root,
                          target_root=target)
    return InstallContext(a, load_bundled_machine("one-disk-vm"), runner, opts,
                          distro_backend(a))


def apt_update(home: Path, sources: str, runner: LocalRunner) -> subprocess.CompletedProcess[str]:
    """The real apt-get update with private state, reading only `sources` (deb822)."""
    apt = PrivateApt(home, [], runner)
    (home / "parts" / "kldload.sources").write_text(sources)
    return subprocess.run(["apt-get", *apt.args(), "-q", "update"], capture_output=True,
                          text=True, timeout=120)


def test_the_signature_is_made_checked_and_the_private_key_discarded(tmp_path, runner):
    before = set(Path(tempfile.gettempdir()).glob("kldload-darksite-gpg-*"))
    repo, keyring, fingerprint = make_darksite(tmp_path, runner)
    dists = repo / "dists" / SUITE
    assert (dists / "InRelease").read_text().startswith("-----BEGIN PGP SIGNED MESSAGE-----")
    subprocess.run(["gpgv", "--keyring", str(keyring), str(dists / "Release.gpg"),
                    str(dists / "Release")], check=True, capture_output=True)
    listed = subprocess.run(["gpg", "--batch", "--with-colons", "--show-keys", str(keyring)],
                            check=True, capture_output=True, text=True).stdout
    assert f"fpr:::::::::{fingerprint}:" in listed
    assert "sec" not in {line.split(":")[0] for line in listed.splitlines()}
    # The GnuPG home that held the private key is gone, and no agent is left for it.
    assert set(Path(tempfile.gettempdir()).glob("kldload-darksite-gpg-*")) == before
    agents = subprocess.run(["pgrep", "-af", "gpg-agent.*kldload-darksite-gpg-"],
                            capture_output=True, text=True).stdout
    assert agents == ""


def test_apt_reads_the_darksite_through_the_targets_own_sources(tmp_path, runner):
    repo, keyring, _ = make_darksite(tmp_path / "ds", runner)
    live = live_root_with(keyring, tmp_path / "live")
    ctx = context(runner, tmp_path, live, repo)
    install_keyring = write_install_keyring(ctx, live / DARKSITE_KEYRING.relative_to("/"))
    # Debian's keys and the darksite's, concatenated: both verify with it.
    assert install_keyring.read_bytes().startswith(Path(ARCHIVE_KEYRING).read_bytes())
    backend = ctx.distro
    assert isinstance(backend, DebianBackend)
    for signed_by in (str(install_keyring), f"{ARCHIVE_KEYRING} {keyring}"):
        done = apt_update(tmp_path / "apt", backend.sources(f"file:{repo}", signed_by), runner)
        assert done.returncode == 0, done.stdout + done.stderr
        warnings = [line for line in (done.stdout + done.stderr).splitlines()
                    if line.startswith(("W:", "E:")) and "unsandboxed" not in line]
        assert warnings == []
        shown = subprocess.run(["apt-cache", *PrivateApt(tmp_path / "apt", [], runner).args(),
                                "policy", PACKAGE], capture_output=True, text=True).stdout
        assert "Candidate: 1.0" in shown, shown


def test_apt_refuses_a_changed_unsigned_or_foreign_darksite(tmp_path, runner):
    repo, keyring, _ = make_darksite(tmp_path / "ds", runner)
    _, other_key, _ = make_darksite(tmp_path / "other", runner)
    backend = DebianBackend(answers())
    home = tmp_path / "apt"
    # Signed by another darksite's key.
    done = apt_update(home, backend.sources(f"file:{repo}", str(other_key)), runner)
    assert done.returncode != 0 or "NO_PUBKEY" in done.stdout + done.stderr
    assert "is not signed" in done.stderr or "NO_PUBKEY" in done.stderr, done.stderr
    # A package index changed after signing.
    packages = repo / "dists" / SUITE / "main/binary-amd64/Packages"
    shutil.rmtree(home)
    packages.write_text(packages.read_text().replace("Version: 1.0", "Version: 9.9"))
    (packages.parent / "Packages.gz").unlink()
    done = apt_update(home, backend.sources(f"file:{repo}", str(keyring)), runner)
    assert "Hash Sum mismatch" in done.stdout + done.stderr or "File has unexpected size" in (
        done.stdout + done.stderr), done.stdout + done.stderr
    # No signature at all.
    shutil.rmtree(home)
    for name in ("InRelease", "Release.gpg"):
        (repo / "dists" / SUITE / name).unlink()
    done = apt_update(home, backend.sources(f"file:{repo}", str(keyring)), runner)
    assert done.returncode != 0 or "is not signed" in done.stderr
    assert "is not signed" in done.stderr, done.stderr


def test_preflight_names_a_darksite_this_live_system_cannot_verify(tmp_path, runner):
    repo, keyring, _ = make_darksite(tmp_path / "ds", runner)
    _, other_key, _ = make_darksite(tmp_path / "other", runner)
    # The live system built with it: verified, nothing said.
    good = context(runner, tmp_path, live_root_with(keyring, tmp_path / "live-good"), repo)
    check_darksite_signature(good, repo, SUITE)
    # Another build's key: refused, naming the file, the key and the way out.
    wrong = context(runner, tmp_path, live_root_with(other_key, tmp_path / "live-wrong"), repo)
    with pytest.raises(InstallError) as err:
        check_darksite_signature(wrong, repo, SUITE)
    text = str(err.value)
    assert f"{repo}/dists/{SUITE}/InRelease does not verify" in text
    assert "KLDLOAD_DEBIAN_MIRROR" in text
    # No darksite key at all (a live system built without a darksite).
    bare = context(runner, tmp_path, live_root_with(None, tmp_path / "live-bare"), repo)
    with pytest.raises(InstallError, match="carries no darksite key"):
        check_darksite_signature(bare, repo, SUITE)
    # The whole preflight check of the Debian backend refuses it before any write.
    with pytest.raises(InstallError, match="does not verify"):
        wrong.distro.check_sources(wrong)
