"""The Arch backend's bootstrap, run for real against a tiny signed pacman repository.

The packages the golden Arch server plan asks for are made here (empty, but for a
kernel image and a zfs.ko where the checks look), signed with a throwaway key,
indexed with `repo-add --sign` and served as a darksite (`kldload.db` +
`keys/archzfs.asc`). Then the backend's own `bootstrap` runs with a real
`LocalRunner`: `pacman-key --init` makes the target's keyring, `--populate
archlinux` gives it Arch's master keys from Debian's archlinux-keyring (checked
against the real pins first), curl fetches the "archzfs" key, gpg checks its
fingerprint, pacman-key adds and locally signs it; the real pacman installs the
three transactions with `SigLevel = Required DatabaseOptional`; `verify_bootstrap`
then queries every package with `pacman --root -Q`. The only thing changed for
the test is archzfs's pin: the repository is signed by the test's key.

Other tests show an unsigned and a tampered package refused by pacman, a key
that is not the pinned one refused before it is added, and the master-key pins
equal to Debian's archlinux-keyring as installed from Debian's signed archive
(`dpkg --verify` checks the files against the checksums dpkg recorded).

This proves the argv, the pacman.conf and the key handling are accepted by the
real tools. It does not prove a bootable Arch system: nothing of Arch's is
installed. Needs root (pacman --root, the API mounts).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from kldload_tui.backend.answers.file import load_answers
from kldload_tui.backend.distros import arch
from kldload_tui.backend.distros.arch import ArchBackend
from kldload_tui.backend.distros.openpgp_keys import primary_fingerprints
from kldload_tui.backend.distros.pacman_conf import (
    BOOTSTRAP_CONF,
    DB_PATH,
    GPG_DIR,
    bootstrap_paths,
    pacman_argv,
    pacman_conf,
)
from kldload_tui.backend.distros.pacman_keys import install_pacman_keys
from kldload_tui.backend.distros.rpm_keys import KeyPin
from kldload_tui.backend.engine.core import (
    InstallContext,
    InstallError,
    VerifyError,
)
from kldload_tui.backend.engine.runner import CommandError
from tests.integration.bootstrap_target import target_context, unmount
from tests.integration.pacman_repo import PacmanRepo, build_repo, missing_tools
from tests.integration.rpm_repo import signing_key

ROOT = Path(__file__).resolve().parents[2]
ANSWERS = ROOT / "tests" / "golden" / "answers" / "arch-server-single.env"
KVER = "6.6.60-1-lts"
FILES = {
    "linux-lts": {f"/usr/lib/modules/{KVER}/vmlinuz": "not a kernel"},
    "zfs-dkms": {f"/usr/lib/modules/{KVER}/updates/dkms/zfs.ko.zst": "not a module"},
}

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: pacman --root and mounts"),
    pytest.mark.skipif(bool(missing_tools()), reason=f"missing: {' '.join(missing_tools())}"),
]


@dataclass
class Site:
    repo: PacmanRepo
    backend: ArchBackend
    packages: list[str]


def _backend() -> ArchBackend:
    answers = load_answers(ANSWERS).answers
    assert answers is not None
    return ArchBackend(answers)


def _unmount(ctx: InstallContext) -> None:
    unmount(ctx)
    # pacman-key's agent, started in the target's keyring.
    subprocess.run(["gpgconf", "--homedir", str(ctx.path(GPG_DIR)), "--kill", "all"],
                   check=False, capture_output=True)


def _wanted(backend: ArchBackend, ctx: InstallContext) -> list[str]:
    return list(dict.fromkeys([*backend.BASE_PACKAGES, *backend.core_packages(ctx),
                               *backend.optional_packages()]))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The darksite: every package the Arch server plan installs, signed."""
    base = tmp_path_factory.mktemp("arch-site")
    backend = _backend()
    (base / "probe").mkdir()
    probe = target_context(base / "probe", backend, None, machine="one-disk-vm")
    packages = _wanted(backend, probe)
    with signing_key(base) as (env, fpr):
        repo = build_repo(base, arch.DARKSITE_REPO, packages, FILES, env, fpr)
        (repo.path / arch.DARKSITE_KEYS).mkdir()
        (repo.path / arch.DARKSITE_KEYS / arch.ARCHZFS_KEY.file).write_text(
            repo.key_file.read_text())
        yield Site(repo, backend, packages)


def _test_pins(fingerprint: str) -> list[KeyPin]:
    return [replace(arch.ARCHZFS_KEY, fingerprint=fingerprint)]


def _query(ctx: InstallContext, *names: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["pacman", "--root", str(ctx.target), "--dbpath",
                           str(ctx.path(DB_PATH)), "-Q", *names], capture_output=True,
                          text=True, check=False)


def _bootstrapped(site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                  ) -> tuple[ArchBackend, InstallContext]:
    backend = _backend()
    pins = _test_pins(site.repo.fingerprint)
    monkeypatch.setattr(backend, "key_pins", lambda: pins)
    ctx = target_context(tmp_path, backend, site.repo.path, machine="one-disk-vm")
    try:
        backend.bootstrap(ctx)
    finally:
        _unmount(ctx)
    return backend, ctx


def test_bootstrap_installs_every_planned_package_with_signatures_checked(
        site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend, ctx = _bootstrapped(site, tmp_path, monkeypatch)
    backend.verify_bootstrap(ctx)
    assert ctx.kernel_version == KVER
    rows = dict(line.split(" ", 1) for line in _query(ctx, *site.packages).stdout.splitlines())
    assert sorted(rows) == sorted(site.packages)
    # Three transactions, each from the darksite with signature checks on.
    log = (ctx.target / "var/log/pacman.log").read_text()
    assert log.count("[PACMAN] Running") == 3, log
    # The target's keyring: the pinned master keys and the test key, fully valid.
    listed = subprocess.run(["gpg", "--batch", "--no-options", "--homedir",
                             str(ctx.path(GPG_DIR)), "--with-colons", "--list-keys",
                             *arch.MASTER_KEYS, site.repo.fingerprint], capture_output=True,
                            text=True, check=True).stdout
    validity = [line.split(":")[1] for line in listed.splitlines() if line.startswith("pub")]
    assert validity == ["f"] * (len(arch.MASTER_KEYS) + 1), listed
    # mkinitcpio's own hook stays masked; the bootstrap's scaffolding is gone.
    hook = ctx.target / "etc/pacman.d/hooks/90-mkinitcpio-install.hook"
    assert hook.is_symlink() and os.readlink(hook) == "/dev/null"
    assert not (ctx.target / "var/lib/kldload/bootstrap").exists()


def test_verify_bootstrap_fails_without_the_zfs_module(
        site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend, ctx = _bootstrapped(site, tmp_path, monkeypatch)
    (ctx.target / f"usr/lib/modules/{KVER}/updates/dkms/zfs.ko.zst").unlink()
    with pytest.raises(VerifyError, match="ZFS module"):
        backend.verify_bootstrap(ctx)


def test_a_key_that_is_not_the_pinned_one_is_refused_before_it_is_added(
        site: Site, tmp_path: Path) -> None:
    backend = _backend()  # the real archzfs pin against the test's key
    ctx = target_context(tmp_path, backend, site.repo.path, machine="one-disk-vm")
    with pytest.raises(InstallError, match=f"not the pinned {arch.ARCHZFS_KEY.fingerprint}"):
        try:
            backend.bootstrap(ctx)
        finally:
            _unmount(ctx)
    keys = subprocess.run(["gpg", "--batch", "--no-options", "--homedir",
                           str(ctx.path(GPG_DIR)), "--with-colons", "--list-keys",
                           site.repo.fingerprint], capture_output=True, text=True, check=False)
    assert keys.returncode != 0 and "pub:" not in keys.stdout
    assert not (ctx.target / "usr").exists()


def _keyring_and_conf(ctx: InstallContext, backend: ArchBackend, fpr: str) -> None:
    """The bootstrap's first steps, as the backend takes them: its pacman.conf and
    the target's keyring with the test key pinned."""
    for where in (DB_PATH, "/var/cache/pacman/pkg", "/etc/pacman.d/hooks", "/var/log"):
        ctx.path(where).mkdir(parents=True, exist_ok=True)
    ctx.runner.write_file(ctx.path(BOOTSTRAP_CONF),
                          pacman_conf(backend.repos(ctx), paths=bootstrap_paths(ctx),
                                      include_holds=False))
    install_pacman_keys(ctx, arch.MASTER_KEYS, _test_pins(fpr), backend.key_sources(ctx))


@pytest.mark.parametrize("how", ["unsigned", "tampered"])
def test_pacman_refuses_an_unsigned_or_tampered_package(tmp_path: Path, how: str) -> None:
    backend = _backend()
    with signing_key(tmp_path) as (env, fpr):
        repo = build_repo(tmp_path, arch.DARKSITE_REPO, ["base"], {}, env, fpr,
                          sign_packages=how != "unsigned")
        (repo.path / arch.DARKSITE_KEYS).mkdir()
        (repo.path / arch.DARKSITE_KEYS / arch.ARCHZFS_KEY.file).write_text(
            repo.key_file.read_text())
        if how == "tampered":
            # One byte changed after signing: the signature no longer matches.
            pkg = next(repo.path.glob("base-*.pkg.tar.xz"))
            data = bytearray(pkg.read_bytes())
            data[-100] ^= 0xFF
            pkg.write_bytes(bytes(data))
    ctx = target_context(tmp_path, backend, repo.path, machine="one-disk-vm")
    try:
        _keyring_and_conf(ctx, backend, fpr)
        with pytest.raises(CommandError) as err:
            ctx.run(pacman_argv(ctx, "-Sy", "base"))
    finally:
        _unmount(ctx)
    text = str(err.value)
    if how == "unsigned":
        # Required: pacman wants the package's .sig and stops without it.
        assert "base-1-1-any.pkg.tar.xz.sig" in text, text
    else:
        assert "invalid or corrupted package (PGP signature)" in text, text
    assert _query(ctx, "base").returncode != 0


def test_the_master_key_pins_are_debians_archlinux_keyring(tmp_path: Path) -> None:
    # The installed package's files, checked against the checksums dpkg recorded
    # when apt installed it from Debian's signed archive.
    verify = subprocess.run(["dpkg", "--verify", "archlinux-keyring"], capture_output=True,
                            text=True, check=False)
    assert verify.returncode == 0 and not verify.stdout.strip(), verify.stdout + verify.stderr
    trusted = Path("/usr/share/keyrings/archlinux-trusted").read_text()
    listed = [line.split(":")[0] for line in trusted.splitlines() if line.strip()]
    assert sorted(listed) == sorted(arch.MASTER_KEYS)
    ring = primary_fingerprints(Path("/usr/share/keyrings/archlinux.gpg").read_bytes())
    assert set(arch.MASTER_KEYS) <= set(ring)
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    names = subprocess.run(["gpg", "--batch", "--no-options", "--homedir", str(home),
                            "--with-colons", "--show-keys", "/usr/share/keyrings/archlinux.gpg"],
                           capture_output=True, text=True, check=False).stdout
    for fpr, who in arch.MASTER_KEYS.items():
        block = names.split(f"fpr:::::::::{fpr}:", 1)[1].split("\npub:", 1)[0]
        assert who in block, (fpr, who)
