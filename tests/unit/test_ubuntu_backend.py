"""Ubuntu (backend/distros/ubuntu.py): Debian's code with Ubuntu's facts. Its apt
sources parsed back as deb822, the archive keyring checked against the pins
(keys made with gpg here), Debian's darksite left alone, its package tables, and
preflight that no longer refuses it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kldload_tui.backend.answers.file import parse_answers
from kldload_tui.backend.answers.model import Answers, DebianSuite, Distro
from kldload_tui.backend.distros import (
    UnsupportedDistro,
    backend_classes,
    distro_backend,
    medium_defaults,
    supported_distros,
)
from kldload_tui.backend.distros import debian as debian_module
from kldload_tui.backend.distros import ubuntu as ubuntu_module
from kldload_tui.backend.distros.debian import DebianBackend
from kldload_tui.backend.distros.openpgp_keys import KeyringError, primary_fingerprints
from kldload_tui.backend.distros.ubuntu import KEYRING, UbuntuBackend
from kldload_tui.backend.engine.core import (
    InstallContext,
    InstallError,
    InstallOptions,
    plan_install,
)
from kldload_tui.backend.engine.runner import RecordingRunner
from kldload_tui.backend.machine.model import load_bundled_machine

from . import format_parsers as fp

BASE = ("KLDLOAD_DISTRO=ubuntu\nKLDLOAD_DISK=/dev/vda\nKLDLOAD_HOSTNAME=noble-01\n"
        "KLDLOAD_PASSWORD='noble-Pass-2026'\n")
SOURCES = "/mnt/kldload/etc/apt/sources.list.d/ubuntu.sources"


def _answers(text: str = "") -> Answers:
    result = parse_answers(BASE + text)
    assert result.answers is not None, [p.render() for p in result.errors]
    return result.answers


def _backend(text: str = "") -> UbuntuBackend:
    backend = distro_backend(_answers(text))
    assert type(backend) is UbuntuBackend
    return backend


def _ctx(backend: UbuntuBackend, *, live_root: Path = Path("/"), darksite: Path | None = None,
         dry_run: bool = False) -> InstallContext:
    return InstallContext(answers=backend.answers, machine=load_bundled_machine("one-disk-vm"),
                          runner=RecordingRunner(),
                          options=InstallOptions(live_root=live_root, darksite=darksite,
                                                 dry_run=dry_run), distro=backend)


def _plan(text: str = "", darksite: Path | None = None) -> RecordingRunner:
    return plan_install(_answers(text), load_bundled_machine("one-disk-vm"),
                        options=InstallOptions(darksite=darksite))


def _writes(plan: RecordingRunner, path: str) -> list[str]:
    return [s.content or "" for s in plan.plan if s.kind == "write" and s.path == path]


# -- found, and no longer refused --------------------------------------------------

def test_ubuntu_is_served_by_its_module_and_only_plan_verified():
    assert backend_classes()[Distro.UBUNTU] is UbuntuBackend
    assert not isinstance(distro_backend(_answers()), UnsupportedDistro)
    assert "ubuntu" in supported_distros()
    assert UbuntuBackend.proven == "plan-verified"
    assert DebianBackend.proven == "booted here"  # the subclass did not inherit it


def test_preflight_no_longer_refuses_ubuntu():
    text = _plan().render_text()
    assert "cannot install ubuntu" not in text
    assert "zfs create -o canmount=noauto -o mountpoint=/ rpool/ROOT/ubuntu" in text
    assert "compatibility=openzfs-2.2-linux" in text


# -- the apt sources, as apt reads them ----------------------------------------------

def _stanzas(text: str) -> list[tuple[list[str], list[str], list[str], list[str]]]:
    out = []
    for stanza in fp.deb822(text):
        # Never trusted unchecked.
        assert "trusted" not in stanza
        assert fp.deb822_words(stanza["types"]) == ["deb"]
        out.append((fp.deb822_words(stanza["uris"]), fp.deb822_words(stanza["suites"]),
                    fp.deb822_words(stanza["components"]),
                    fp.deb822_words(stanza["signed-by"])))
    return out


def test_the_archive_and_the_security_archive_with_the_pinned_keyring():
    [written] = _writes(_plan(), SOURCES)
    keys = [str(KEYRING)]
    assert _stanzas(written) == [
        (["http://archive.ubuntu.com/ubuntu"], ["noble", "noble-updates"],
         ["main", "universe"], keys),
        (["http://security.ubuntu.com/ubuntu"], ["noble-security"], ["main", "universe"], keys)]
    assert "Trusted" not in written and "trusted=yes" not in written


def test_a_custom_mirror_replaces_the_archive_and_serves_every_pocket():
    backend = _backend("KLDLOAD_CUSTOM_MIRROR_URL=http://mirror.invalid/ubuntu\n")
    text = backend.sources("http://mirror.invalid/ubuntu", str(KEYRING))
    assert _stanzas(text) == [(["http://mirror.invalid/ubuntu"],
                               ["noble", "noble-updates", "noble-security"],
                               ["main", "universe"], [str(KEYRING)])]
    ctx = _ctx(backend)
    assert backend.source_urls(ctx) == [
        f"http://mirror.invalid/ubuntu/dists/{s}/Release"
        for s in ("noble", "noble-updates", "noble-security")]


def test_nvidia_adds_restricted_and_multiverse():
    [written] = _writes(_plan("KLDLOAD_NVIDIA_DRIVERS=1\n"), SOURCES)
    assert {tuple(c) for _, _, c, _ in _stanzas(written)} == {
        ("main", "universe", "restricted", "multiverse")}


def test_the_debootstrap_line_names_the_keyring_the_suite_and_the_script():
    [line] = [" ".join(s.argv) for s in _plan().plan
              if s.kind == "command" and s.argv and s.argv[0] == "debootstrap"]
    assert f"--keyring={KEYRING}" in line
    assert line.endswith(" noble /mnt/kldload http://archive.ubuntu.com/ubuntu gutsy")
    assert "--no-check-gpg" not in line
    assert ",ubuntu-keyring" in line


def test_the_debootstrap_script_is_one_this_debootstrap_has():
    # Bookworm's debootstrap has no scripts/noble: the script is named explicitly,
    # and must be one debootstrap finds by that name.
    scripts = Path("/usr/share/debootstrap/scripts")
    if not scripts.is_dir():
        pytest.skip("debootstrap is not installed here")
    assert (scripts / ubuntu_module.DEBOOTSTRAP_SCRIPT).is_file()
    assert "ubuntu-archive-keyring.gpg" in (scripts / ubuntu_module.DEBOOTSTRAP_SCRIPT).read_text()


def test_no_debian_package_and_no_dkms_in_the_plan():
    text = _plan("KLDLOAD_PROFILE=desktop\nKLDLOAD_ENABLE_AI=1\nKLDLOAD_NVIDIA_DRIVERS=1\n"
                 "KLDLOAD_ENABLE_KVM=1\nKLDLOAD_ENABLE_EBPF=1\nKLDLOAD_WIREGUARD=1\n").render_text()
    for debian_only in ("linux-image-amd64", "linux-headers-amd64", "zfs-dkms",
                        "task-gnome-desktop", "nvidia-driver", "firmware-misc-nonfree",
                        "contrib", "apt-cache depends", "debian.sources"):
        assert debian_only not in text, debian_only
    assert ("apt-get install -y --no-install-recommends -o APT::Status-Fd=1 "
            "linux-image-generic zfsutils-linux zfs-initramfs") in text


# -- package tables ---------------------------------------------------------------

def test_every_profile_and_feature_has_a_row_as_in_debians_tables():
    assert set(UbuntuBackend.PROFILE_PACKAGES) == set(debian_module.PROFILE_PACKAGES)
    assert set(UbuntuBackend.FEATURE_PACKAGES) == set(debian_module.FEATURE_PACKAGES)
    assert set(UbuntuBackend.LOADER_PACKAGES) == set(debian_module.LOADER_PACKAGES)
    assert all(UbuntuBackend.FEATURE_PACKAGES.values())
    assert UbuntuBackend.PROFILE_PACKAGES != debian_module.PROFILE_PACKAGES
    for name in UbuntuBackend.FEATURE_PACKAGES:  # each is an answers field
        assert hasattr(_answers(), name)


def test_held_packages_are_installed_ones():
    backend = _backend()
    ctx = _ctx(backend, dry_run=True)
    backend.core = [*backend.CORE_PACKAGES, *backend.loader_packages(ctx)]
    assert set(backend.held_packages(ctx)) <= set(backend.core)
    assert "linux-image-generic" in backend.held_packages(ctx)


# -- darksites ---------------------------------------------------------------------

def _darksite(root: Path, *suites: str) -> Path:
    for suite in suites:
        (root / "dists" / suite).mkdir(parents=True)
        (root / "dists" / suite / "Release").write_text(f"Suite: {suite}\n")
    return root


def test_a_debian_darksite_is_not_taken_for_ubuntu(tmp_path: Path):
    site = _darksite(tmp_path / "darksite", "bookworm")
    backend = _backend()
    ctx = _ctx(backend, darksite=site)
    assert backend.darksite(ctx) is None
    assert backend.mirror(ctx) == ("http://archive.ubuntu.com/ubuntu", False)
    assert all(url.startswith("http://") for url in backend.source_urls(ctx))
    # Debian installing bookworm still takes it; and Ubuntu preselects nothing.
    debian = DebianBackend(_answers().model_copy(
        update={"distro": Distro.DEBIAN, "debian_suite": DebianSuite.BOOKWORM}))
    assert debian.darksite(_ctx(backend, darksite=site)) == site
    assert UbuntuBackend.medium_defaults(site) == {}
    assert medium_defaults(site) == {"debian_suite": DebianSuite.BOOKWORM}


def test_an_ubuntu_darksite_is_taken_for_ubuntu_only(tmp_path: Path):
    site = _darksite(tmp_path / "darksite", "noble")
    backend = _backend()
    ctx = _ctx(backend, darksite=site)
    assert backend.darksite(ctx) == site
    assert backend.source_urls(ctx) == [f"file://{site}/dists/noble/Release"]
    assert _stanzas(backend.sources("file:/mnt/kldload-darksite", str(KEYRING),
                                    darksite=True)) == [
        (["file:/mnt/kldload-darksite"], ["noble"], ["main", "universe"], [str(KEYRING)])]
    debian = DebianBackend(_answers().model_copy(update={"distro": Distro.DEBIAN}))
    assert debian.darksite(_ctx(backend, darksite=site)) is None


# -- the archive keyring and its pins ---------------------------------------------

@pytest.fixture(scope="module")
def throwaway_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[bytes, str]]:
    """A public key made by gpg here (binary), and its fingerprint as gpg gives it."""
    home = tmp_path_factory.mktemp("gnupg")
    os.chmod(home, 0o700)
    gpg = ["gpg", "--batch", "--homedir", str(home)]
    try:
        subprocess.run([*gpg, "--pinentry-mode", "loopback", "--passphrase", "",
                        "--quick-gen-key", "kldload test <test@kldload.invalid>", "rsa2048",
                        "sign", "never"], check=True, capture_output=True)
        colons = subprocess.run([*gpg, "--with-colons", "--list-keys"], check=True,
                                capture_output=True, text=True).stdout
        fpr = next(line.split(":")[9] for line in colons.splitlines()
                   if line.startswith("fpr:"))
        exported = subprocess.run([*gpg, "--export"], check=True, capture_output=True).stdout
        armoured = subprocess.run([*gpg, "--armor", "--export"], check=True,
                                  capture_output=True).stdout
        yield exported, fpr
        assert primary_fingerprints(armoured) == [fpr]
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False,
                       capture_output=True)


def _live_root(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "live" / KEYRING.relative_to("/")
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    return tmp_path / "live"


def test_the_reader_agrees_with_gpg(throwaway_key: tuple[bytes, str]):
    data, fpr = throwaway_key
    assert primary_fingerprints(data) == [fpr]
    assert primary_fingerprints(data + data) == [fpr, fpr]  # keyrings concatenate
    with pytest.raises(KeyringError):
        primary_fingerprints(b"not a keyring")


def test_a_keyring_without_the_pinned_keys_is_refused_naming_file_and_fix(
        tmp_path: Path, throwaway_key: tuple[bytes, str]):
    data, fpr = throwaway_key
    live = _live_root(tmp_path, data)
    backend = _backend()
    with pytest.raises(InstallError) as err:
        backend.check_sources(_ctx(backend, live_root=live))  # before any network read
    message = str(err.value)
    assert str(live / KEYRING.relative_to("/")) in message
    assert "F6ECB3762474EDA9D21B7022871920D1991BC93C" in message
    assert f"not pinned: {fpr}" in message
    assert "apt-get install ubuntu-keyring" in message and "nothing was written" in message


def test_the_pinned_keys_pass_and_an_extra_key_does_not(
        tmp_path: Path, throwaway_key: tuple[bytes, str], monkeypatch: pytest.MonkeyPatch):
    data, fpr = throwaway_key
    monkeypatch.setattr(UbuntuBackend, "ARCHIVE_KEYS", {fpr: "a test key"})
    backend = _backend()
    runner_ctx = _ctx(backend, live_root=_live_root(tmp_path, data))
    backend.check_keyring(runner_ctx)
    notes = [s.content or "" for s in runner_ctx.runner.plan if s.kind == "note"]
    assert any("holds exactly the pinned Ubuntu archive keys" in n for n in notes)
    # The same key twice is still exactly it; a second, unpinned key is not.
    backend.check_keyring(_ctx(backend, live_root=_live_root(tmp_path / "twice", data + data)))
    monkeypatch.setattr(UbuntuBackend, "ARCHIVE_KEYS", {})
    with pytest.raises(InstallError, match="not pinned"):
        backend.check_keyring(_ctx(backend, live_root=_live_root(tmp_path / "other", data)))


def test_a_missing_keyring_is_refused(tmp_path: Path):
    backend = _backend()
    with pytest.raises(InstallError, match=r"cannot read .*ubuntu-archive-keyring\.gpg"):
        backend.check_keyring(_ctx(backend, live_root=tmp_path))


def test_the_pins_are_full_v4_fingerprints():
    assert len(UbuntuBackend.ARCHIVE_KEYS) == 3
    for fpr in UbuntuBackend.ARCHIVE_KEYS:
        assert len(fpr) == 40 and fpr == fpr.upper() and int(fpr, 16) >= 0


def test_a_real_run_stops_in_preflight_on_the_keyring_before_any_write(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from kldload_tui.backend.engine.core import run_install
    from kldload_tui.backend.phases import preflight

    monkeypatch.setattr(preflight.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    runner = RecordingRunner()
    outcome = run_install(_answers("KLDLOAD_FORCE_WIPE=1\n"), load_bundled_machine("one-disk-vm"),
                          runner=runner, sink=lambda _e: None,
                          options=InstallOptions(consent_to_wipe=True, reprobe=False,
                                                 target_root=tmp_path / "target",
                                                 live_root=tmp_path / "live"))
    assert outcome.failed_phase == "preflight"
    assert "ubuntu-archive-keyring.gpg" in outcome.message
    assert not [s for s in runner.plan if s.kind == "write" or
                (s.kind == "command" and s.phase not in ("preflight", "teardown"))]


# -- the bootstrap's verification (Debian's, on Ubuntu's packages) ---------------------

def test_verify_bootstrap_wants_the_core_packages_and_the_kernels_zfs_module(tmp_path: Path):
    from kldload_tui.backend.engine.core import VerifyError

    backend = _backend()
    runner = RecordingRunner()
    ctx = InstallContext(answers=backend.answers, machine=load_bundled_machine("one-disk-vm"),
                         runner=runner, options=InstallOptions(target_root=tmp_path / "t"),
                         distro=backend)
    kver = "6.8.0-31-generic"
    ctx.kernel_version = kver
    ctx.path("/boot").mkdir(parents=True)
    ctx.path(f"/boot/vmlinuz-{kver}").write_text("")
    (ctx.path(f"/lib/modules/{kver}/kernel/net")).mkdir(parents=True)
    backend.core = [*backend.CORE_PACKAGES, *backend.loader_packages(ctx)]
    with pytest.raises(VerifyError, match=f"ZFS module for {kver}"):
        backend.verify_bootstrap(ctx)
    # Ubuntu's kernel ships it compressed, in linux-modules-*.
    (ctx.path(f"/lib/modules/{kver}/kernel/zfs")).mkdir(parents=True)
    ctx.path(f"/lib/modules/{kver}/kernel/zfs/zfs.ko.zst").write_text("")
    wanted = [*backend.core, *backend.optional_packages()]
    runner.respond(["dpkg-query"], stdout="".join(f"{p} ii \n" for p in wanted[1:]))
    with pytest.raises(VerifyError, match=r"packages not installed: linux-image-generic$"):
        backend.verify_bootstrap(ctx)
    runner.respond(["dpkg-query"], stdout="".join(f"{p} ii \n" for p in wanted))
    backend.verify_bootstrap(ctx)
    asked = [s.argv for s in runner.plan if s.kind == "command" and "dpkg-query" in s.argv]
    assert all("zfs-dkms" not in argv and "linux-image-generic" in argv for argv in asked)
