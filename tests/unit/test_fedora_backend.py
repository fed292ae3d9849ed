"""The Fedora backend: its repositories (parsed back with configparser, as dnf's
reader is an ini reader), keys, package table, the release it refuses, the
custom mirror, the darksite, and the dnf5 holds it writes."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from kldload_tui.backend.answers.file import parse_answers
from kldload_tui.backend.answers.model import Answers
from kldload_tui.backend.distros import distro_backend, supported_distros
from kldload_tui.backend.distros.dnf_family import DARKSITE_MARKER
from kldload_tui.backend.distros.dnf_repos import BOOTSTRAP_REPOS, REPO_DIR
from kldload_tui.backend.distros.el import OPENZFS_KEY
from kldload_tui.backend.distros.fedora import FEDORA_KEY, FedoraBackend
from kldload_tui.backend.engine.core import InstallError, InstallOptions, plan_install
from kldload_tui.backend.engine.runner import RecordingRunner
from kldload_tui.backend.machine.model import load_bundled_machine
from tests.unit.test_golden_plans import CASES, plan_for

BASE = "KLDLOAD_DISTRO=fedora\nKLDLOAD_DISK=/dev/vda\nKLDLOAD_HOSTNAME=fedora-01\n" \
       "KLDLOAD_PASSWORD='fedora-Pass-2026'\n"
TARGET_REPOS = f"/mnt/kldload{REPO_DIR}/"


def _answers(text: str = "") -> Answers:
    result = parse_answers(BASE + text)
    assert result.answers is not None, [p.render() for p in result.errors]
    return result.answers


def _backend(text: str = "") -> FedoraBackend:
    backend = distro_backend(_answers(text))
    assert isinstance(backend, FedoraBackend)
    return backend


def _plan(text: str = "", darksite: Path | None = None) -> RecordingRunner:
    return plan_install(_answers(text), load_bundled_machine("one-disk-vm"),
                        options=InstallOptions(darksite=darksite))


def _writes(plan: RecordingRunner) -> dict[str, str]:
    return {s.path: s.content or "" for s in plan.plan if s.kind == "write" and s.path}


def _ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return parser


def _sections(writes: dict[str, str], prefix: str) -> dict[str, configparser.SectionProxy]:
    found: dict[str, configparser.SectionProxy] = {}
    for path, text in writes.items():
        if path.startswith(prefix) and path.endswith(".repo"):
            parser = _ini(text)
            found.update({s: parser[s] for s in parser.sections()})
    return found


def _dnf_installs(plan: RecordingRunner) -> list[list[str]]:
    return [list(s.argv[s.argv.index("install") + 1:]) for s in plan.plan
            if s.kind == "command" and s.argv[:1] == ("dnf",)]


# -- what is served ------------------------------------------------------------------------

def test_fedora_is_served_and_plan_verified() -> None:
    assert "fedora" in supported_distros()
    assert FedoraBackend.proven == "plan-verified"
    backend = _backend()
    assert backend.name == "fedora" and backend.release() == "44"
    # dnf --releasever is Fedora's, whatever the seed's default KLDLOAD_RELEASE says.
    assert backend.answers.release == "9"
    assert all("--releasever=44" in a for a in (" ".join(s.argv) for s in _plan().plan
                                                 if s.argv[:1] == ("dnf",)))


# -- repositories and keys -------------------------------------------------------------------

def test_repo_files_parse_back_and_check_every_signature() -> None:
    writes = _writes(_plan("KLDLOAD_PROFILE=server\n"))
    installed = sorted(Path(p).name for p in writes if p.startswith(TARGET_REPOS))
    assert installed == ["fedora-updates.repo", "fedora.repo", "zfs.repo"]
    sections = _sections(writes, TARGET_REPOS)
    assert sorted(sections) == ["fedora", "updates", "zfs"]
    for name, section in sections.items():
        assert section["gpgcheck"] == "1" and section["enabled"] == "1", name
        assert "repo_gpgcheck" not in section, name  # neither publisher signs repomd.xml
        assert section["baseurl"].startswith("https://"), name
        assert "metalink" not in section and "mirrorlist" not in section
    assert sections["fedora"]["baseurl"] == \
        "https://dl.fedoraproject.org/pub/fedora/linux/releases/44/Everything/x86_64/os/"
    assert sections["updates"]["baseurl"] == \
        "https://dl.fedoraproject.org/pub/fedora/linux/updates/44/Everything/x86_64/"
    assert sections["zfs"]["baseurl"] == "https://download.zfsonlinux.org/fedora/44/x86_64/"
    assert sections["fedora"]["gpgkey"] == sections["updates"]["gpgkey"] == \
        "file:///etc/pki/rpm-gpg/RPM-GPG-KEY-fedora-44-primary"
    assert sections["zfs"]["gpgkey"] == "file:///etc/pki/rpm-gpg/RPM-GPG-KEY-openzfs-2022"
    # The bootstrap's copies name the same keys where dnf --installroot reads them.
    boot = _sections(writes, f"/mnt/kldload{BOOTSTRAP_REPOS}/")
    assert sorted(boot) == ["fedora", "updates", "zfs"]
    for section in boot.values():
        assert section["gpgcheck"] == "1"
        assert section["gpgkey"].startswith("file:///mnt/kldload/etc/pki/rpm-gpg/")


def test_keys_are_fedoras_and_openzfs_and_imported_before_the_first_package() -> None:
    backend = _backend()
    assert backend.key_pins() == [FEDORA_KEY, OPENZFS_KEY]
    # OpenZFS's pin is el.py's own object, not a copy.
    assert backend.key_pins()[1] is OPENZFS_KEY
    assert FEDORA_KEY.fingerprint == "36F612DCF27F7D1A48A835E4DBFCF71C6D9F90A6"
    assert FEDORA_KEY.url.startswith("https://src.fedoraproject.org/")
    argvs = [s.argv for s in _plan().plan if s.kind == "command"]
    first_dnf = next(i for i, a in enumerate(argvs) if a[:1] == ("dnf",))
    imports = [i for i, a in enumerate(argvs) if a[:1] == ("rpm",) and "--import" in a]
    shows = [i for i, a in enumerate(argvs) if a[:1] == ("gpg",) and "--show-keys" in a]
    assert len(imports) == 2 and max(imports) < first_dnf
    assert len(shows) == 2 and all(s < i for s, i in zip(shows, imports, strict=True))
    fetched = [a[-1] for a in argvs if a[:1] == ("curl",)]
    assert fetched == [FEDORA_KEY.url, OPENZFS_KEY.url]


def test_no_signature_check_is_turned_off_in_any_fedora_golden_plan() -> None:
    cases = [c for c in CASES if c.startswith("fedora-")]
    assert len(cases) == 4
    for case in cases:
        plan = plan_for(case)
        rendered = plan.render_text() + "".join(s.content or "" for s in plan.plan)
        for bad in ("gpgcheck=0", "--nogpgcheck", "--no-gpgchecks", "sslverify=0",
                    "localpkg_gpgcheck=0"):
            assert bad not in rendered, (case, bad)
        sections = _sections(_writes(plan), TARGET_REPOS)
        assert sections and all(s["gpgcheck"] == "1" for s in sections.values()), case


def test_a_custom_mirror_replaces_fedoras_url_but_not_openzfs() -> None:
    backend = _backend("KLDLOAD_CUSTOM_MIRROR_URL=http://10.0.0.5/pub/fedora/linux/\n")
    urls = {r.repo_id: r.baseurl for r in backend.network_repos()}
    assert urls == {
        "fedora": "http://10.0.0.5/pub/fedora/linux/releases/44/Everything/x86_64/os/",
        "updates": "http://10.0.0.5/pub/fedora/linux/updates/44/Everything/x86_64/",
        "zfs": "https://download.zfsonlinux.org/fedora/44/x86_64/"}
    # Preflight reads each repository's repomd.xml, the mirror's included.
    assert [r.probe_url() for r in backend.network_repos()][:2] == [
        "http://10.0.0.5/pub/fedora/linux/releases/44/Everything/x86_64/os/repodata/repomd.xml",
        "http://10.0.0.5/pub/fedora/linux/updates/44/Everything/x86_64/repodata/repomd.xml"]


def test_the_darksite_is_the_one_repository_and_keeps_every_key(tmp_path: Path) -> None:
    site = tmp_path / "darksite"
    (site / "repodata").mkdir(parents=True)
    (site / DARKSITE_MARKER).write_text("<repomd/>")
    plan = _plan("KLDLOAD_PROFILE=server\nKLDLOAD_KEEP_DARKSITE=1\n", darksite=site)
    writes = _writes(plan)
    boot = [p for p in writes if BOOTSTRAP_REPOS in p and p.endswith(".repo")]
    assert [Path(p).name for p in boot] == ["kldload-darksite.repo"]
    section = _ini(writes[boot[0]])["kldload-darksite"]
    assert section["baseurl"] == f"file://{site}" and section["gpgcheck"] == "1"
    assert section["gpgkey"].split() == [
        "file:///mnt/kldload/etc/pki/rpm-gpg/RPM-GPG-KEY-fedora-44-primary",
        "file:///mnt/kldload/etc/pki/rpm-gpg/RPM-GPG-KEY-openzfs-2022"]
    text = plan.render_text()
    assert f"file://{site}/keys/RPM-GPG-KEY-fedora-44-primary" in text
    assert "https://" not in "\n".join(line for line in text.splitlines()
                                       if line.startswith(("curl", "dnf")))
    final = sorted(Path(p).name for p in writes if p.startswith(TARGET_REPOS))
    assert final == ["fedora-updates.repo", "fedora.repo", "kldload-darksite.repo",
                     "zfs.repo"]
    # Without the marker (a Debian darksite), the network's repositories are used.
    other = tmp_path / "debian-site"
    (other / "dists").mkdir(parents=True)
    assert not any("darksite" in p for p in _writes(_plan(darksite=other)))


# -- packages ------------------------------------------------------------------------------

def test_three_transactions_with_fedoras_names() -> None:
    installs = _dnf_installs(_plan("KLDLOAD_PROFILE=server\nKLDLOAD_FIRMWARE=both\n"))
    assert len(installs) == 3
    base, core, optional = installs
    assert base[0] == "fedora-release" and base[-1] == "dnf5"
    assert "python3-dnf-plugin-versionlock" not in base and "dnf" not in base
    assert core == ["kernel", "kernel-core", "kernel-modules", "kernel-modules-core",
                    "kernel-devel", "zfs-dkms", "zfs", "zfs-dracut", "systemd-boot-unsigned",
                    "grub2-pc", "grub2-pc-modules", "grub2-tools"]
    assert "kmod-zfs" not in core
    assert optional == ["sanoid", "golang-github-prometheus-node-exporter", "curl", "htop",
                        "tmux"]


@pytest.mark.parametrize(("firmware", "loaders"), [
    ("uefi", ["systemd-boot-unsigned"]),
    ("bios", ["grub2-pc", "grub2-pc-modules", "grub2-tools"]),
])
def test_loaders_follow_the_firmware(firmware: str, loaders: list[str]) -> None:
    core = _dnf_installs(_plan(f"KLDLOAD_FIRMWARE={firmware}\n"))[1]
    assert core[8:] == loaders


def test_features_and_seal_add_their_packages() -> None:
    backend = _backend("KLDLOAD_PROFILE=core\nKLDLOAD_ENABLE_KVM=1\nKLDLOAD_WIREGUARD=1\n"
                       "KLDLOAD_ENABLE_EBPF=1\n")
    assert backend.optional_packages() == ["qemu-kvm", "libvirt", "virt-install", "edk2-ovmf",
                                           "bcc-tools", "bpftrace", "wireguard-tools"]
    assert _backend("KLDLOAD_PROFILE=core\n").optional_packages() == []
    desktop = _backend("KLDLOAD_PROFILE=desktop\n").optional_packages()
    assert desktop[-4:] == ["gdm", "gnome-shell", "ptyxis", "nautilus"]


# -- refusals, before any write ---------------------------------------------------------------

@pytest.mark.parametrize("release", ["9", "44"])
def test_the_seeds_default_or_fedoras_own_release_is_accepted(release: str) -> None:
    # A file saved from the TUI writes every field, KLDLOAD_RELEASE=9 included.
    assert "--releasever=44" in _plan(f"KLDLOAD_RELEASE={release}\n").render_text()


@pytest.mark.parametrize("release", ["10", "43", "45"])
def test_another_release_is_refused_naming_the_key_and_the_fix(release: str) -> None:
    with pytest.raises(InstallError) as err:
        _plan(f"KLDLOAD_RELEASE={release}\n")
    message = str(err.value)
    assert message.startswith(f"KLDLOAD_RELEASE={release}: fedora is installed as Fedora 44 "
                              "only")
    assert "RPM-GPG-KEY-fedora-44-primary" in message and FEDORA_KEY.fingerprint in message
    assert "remove KLDLOAD_RELEASE from the answers or set KLDLOAD_RELEASE=44" in message


def test_the_refusal_comes_before_any_write() -> None:
    from kldload_tui.backend.engine.core import run_install

    a = _answers("KLDLOAD_RELEASE=43\nKLDLOAD_FORCE_WIPE=1\n")
    runner = RecordingRunner()
    outcome = run_install(a, load_bundled_machine("one-disk-vm"), runner=runner,
                          sink=lambda _e: None,
                          options=InstallOptions(consent_to_wipe=True, reprobe=False))
    assert outcome.failed_phase == "preflight"
    assert "KLDLOAD_RELEASE=43" in outcome.message
    assert not [s for s in runner.plan if s.kind == "write" or
                (s.kind == "command" and s.phase not in ("preflight", "teardown"))]


@pytest.mark.parametrize(("text", "message"), [
    ("KLDLOAD_NVIDIA_DRIVERS=1\n", "KLDLOAD_NVIDIA_DRIVERS=1: NVIDIA's driver"),
    ("KLDLOAD_EXTRA_PACKAGES=htop\n", "cannot check package names for fedora"),
])
def test_what_cannot_be_installed_is_refused_in_preflight(text: str, message: str) -> None:
    with pytest.raises(InstallError, match=message):
        _plan(text)


# -- holds: dnf5 -----------------------------------------------------------------------------

def test_holds_are_kernel_zfs_and_loaders_locked_with_dnf5() -> None:
    writes = _writes(_plan("KLDLOAD_FIRMWARE=uefi\n"))
    held = [line for line in writes["/mnt/kldload/etc/kldload/held-packages"].splitlines()
            if not line.startswith("#")]
    assert held == ["kernel", "kernel-core", "kernel-modules", "kernel-modules-core",
                    "kernel-devel", "zfs-dkms", "zfs", "zfs-dracut", "systemd-boot-unsigned"]
    script = writes["/mnt/kldload/usr/lib/kldload/package-holds"]
    assert "dnf -q -y versionlock add" in script and '"Package name: "*)' in script
    unit = writes["/mnt/kldload/usr/lib/systemd/system/kldload-package-holds.service"]
    assert "Before=dnf-automatic.service dnf-automatic-install.service " \
           "dnf5-automatic.service" in unit


def test_el_keeps_dnf4s_versionlock() -> None:
    from kldload_tui.backend.distros.dnf_holds import dnf_hold_files
    from kldload_tui.backend.distros.el import EnterpriseLinuxBackend

    assert EnterpriseLinuxBackend.VERSIONLOCK_PACKAGES == ("python3-dnf-plugin-versionlock",)
    answers = parse_answers(BASE.replace("KLDLOAD_DISTRO=fedora", "KLDLOAD_DISTRO=rocky")).answers
    assert answers is not None
    rocky = distro_backend(answers)
    assert isinstance(rocky, EnterpriseLinuxBackend)
    assert rocky.hold_files() == dnf_hold_files()
    assert "Package name" not in rocky.hold_files()[0].content


def test_initramfs_is_dracut_with_the_zfs_module() -> None:
    writes = _writes(_plan())
    conf = writes["/mnt/kldload/etc/dracut.conf.d/kldload.conf"]
    assert 'add_dracutmodules+=" zfs "' in conf
    assert "dracut --force --regenerate-all" in writes["/mnt/kldload/usr/lib/kldload/firstboot"]
