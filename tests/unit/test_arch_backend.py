"""The Arch backend: its plans, and every file it writes parsed back by a parser for
its format (pacman.conf and alpm hooks as ini files, the networkd files with the
systemd reader of format_parsers, mkinitcpio.conf's HOOKS as the bash array it is),
its pins, package table, holds and refusals."""

from __future__ import annotations

import configparser
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kldload_tui.backend.answers.file import parse_answers
from kldload_tui.backend.answers.model import Answers, Profile
from kldload_tui.backend.distros import arch, distro_backend, live_packages
from kldload_tui.backend.distros.arch import ArchBackend
from kldload_tui.backend.distros.pacman_conf import (
    BOOTSTRAP_CONF,
    HOLDS_CONF,
    Repo,
    pacman_conf,
    read_pacman_conf,
    weak_siglevels,
)
from kldload_tui.backend.distros.pacman_keys import keyring_problem
from kldload_tui.backend.engine.core import (
    InstallContext,
    InstallError,
    InstallOptions,
    plan_install,
)
from kldload_tui.backend.engine.runner import RecordingRunner
from kldload_tui.backend.machine.model import load_bundled_machine
from kldload_tui.backend.target.boot import kernel_pattern
from kldload_tui.backend.target.files import DHCP_NETWORK_PATH, STATIC_NETWORK_PATH
from tests.unit import format_parsers as fp
from tests.unit.test_golden_plans import CASES, plan_for

BASE = "KLDLOAD_DISTRO=arch\nKLDLOAD_DISK=/dev/vda\nKLDLOAD_HOSTNAME=arch-01\n" \
       "KLDLOAD_PASSWORD='arch-Pass-2026'\n"
TARGET = "/mnt/kldload"


def _answers(text: str) -> Answers:
    result = parse_answers(BASE + text)
    assert result.answers is not None, [p.render() for p in result.errors]
    return result.answers


def _backend(text: str = "") -> ArchBackend:
    backend = distro_backend(_answers(text))
    assert isinstance(backend, ArchBackend)
    return backend


def _plan(text: str, darksite: Path | None = None) -> RecordingRunner:
    return plan_install(_answers(text), load_bundled_machine("one-disk-vm"),
                        options=InstallOptions(darksite=darksite))


def _ctx(backend: ArchBackend, *, live_root: Path = Path("/")) -> InstallContext:
    return InstallContext(answers=backend.answers, machine=load_bundled_machine("one-disk-vm"),
                          runner=RecordingRunner(),
                          options=InstallOptions(live_root=live_root), distro=backend)


def _writes(plan: RecordingRunner) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for s in plan.plan:
        if s.kind == "write" and s.path:
            found.setdefault(s.path, []).append(s.content or "")
    return found


def _argvs(plan: RecordingRunner) -> list[tuple[str, ...]]:
    return [tuple(s.argv) for s in plan.plan if s.kind == "command"]


def _pacman_lines(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) of a pacman.conf, read line by line as pacman's own
    parser does (`[section]`, `key = value`, a bare `key`, `#` comments)."""
    out, section = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        out.append((section, key.strip(), value.strip() if sep else ""))
    return out


# -- the plan -------------------------------------------------------------------------

def test_keys_are_checked_and_imported_before_the_first_package() -> None:
    argvs = _argvs(_plan("KLDLOAD_PROFILE=server\n"))
    first = next(i for i, a in enumerate(argvs) if a[:1] == ("pacman",))
    keys = [i for i, a in enumerate(argvs) if a[:1] == ("pacman-key",)]
    verbs = [argvs[i][3] for i in keys]
    assert verbs == ["--init", "--populate", "--add", "--lsign-key"]
    assert max(keys) < first
    show = next(i for i, a in enumerate(argvs) if a[:1] == ("gpg",) and "--show-keys" in a)
    add = next(i for i in keys if argvs[i][3] == "--add")
    assert show < add  # the fingerprint is read before the key is added
    lsign = argvs[next(i for i in keys if argvs[i][3] == "--lsign-key")]
    assert lsign[-1] == arch.ARCHZFS_KEY.fingerprint
    listed = next(a for a in argvs if a[:1] == ("gpg",) and "--list-keys" in a)
    assert set(listed[listed.index("--list-keys") + 1:]) == {*arch.MASTER_KEYS,
                                                              arch.ARCHZFS_KEY.fingerprint}


def test_kernel_zfs_and_loaders_are_a_transaction_of_their_own() -> None:
    plan = _plan("KLDLOAD_PROFILE=server\nKLDLOAD_ENABLE_KVM=1\n")
    installs = [a for a in _argvs(plan) if a[:1] == ("pacman",)]
    assert len(installs) == 3
    for argv in installs:
        assert argv[argv.index("--config") + 1] == f"{TARGET}{BOOTSTRAP_CONF}"
        assert argv[argv.index("--root") + 1] == TARGET
        assert argv[argv.index("--gpgdir") + 1] == f"{TARGET}/etc/pacman.d/gnupg"
    base, core, optional = (list(a[a.index("--noprogressbar") + 2:]) for a in installs)
    assert installs[0][installs[0].index("--noprogressbar") + 1] == "-Sy"
    assert base == list(arch.BASE_PACKAGES)
    # KLDLOAD_FIRMWARE=both on this machine: GRUB for BIOS, systemd-boot is systemd's.
    assert core == ["linux-lts", "linux-lts-headers", "zfs-dkms", "zfs-utils", "grub"]
    assert optional == ["prometheus-node-exporter", "curl", "htop", "tmux", "qemu-base",
                        "libvirt", "virt-install", "edk2-ovmf", "dnsmasq"]


def test_the_package_table_covers_every_profile_and_feature() -> None:
    assert set(arch.PROFILE_PACKAGES) == set(Profile)
    answers = _answers("")
    for field_name in arch.FEATURE_PACKAGES:
        assert field_name in type(answers).model_fields, field_name
    assert _backend("KLDLOAD_PROFILE=core\n").optional_packages() == []
    sealed = _backend("KLDLOAD_PROFILE=core\nKLDLOAD_EXPORT_FORMAT=qcow2\n")
    assert sealed.optional_packages() == ["cloud-init"]
    desktop = _backend("KLDLOAD_PROFILE=desktop\nKLDLOAD_WIREGUARD=1\nKLDLOAD_ENABLE_AI=1\n")
    assert "gdm" in desktop.optional_packages()
    assert "wireguard-tools" in desktop.optional_packages()
    assert "python-scikit-learn" in desktop.optional_packages()
    # No Debian or Red Hat name slipped into the table.
    every = [p for t in (arch.BASE_PACKAGES, arch.KERNEL_PACKAGES, arch.ZFS_PACKAGES,
                         *arch.LOADER_PACKAGES.values(), *arch.PROFILE_PACKAGES.values(),
                         *arch.FEATURE_PACKAGES.values()) for p in t]
    for foreign in ("linux-image-amd64", "zfsutils-linux", "kernel", "openssh-server",
                    "python3-numpy", "sanoid"):
        assert foreign not in every


@pytest.mark.parametrize("case", [c for c in CASES if c.startswith("arch-")])
def test_golden_arch_plans_check_every_signature(case: str) -> None:
    plan = plan_for(case)
    texts = [plan.render_text(), *(s.content or "" for s in plan.plan)]
    for text in texts:
        assert weak_siglevels(text) == [], case
        for bad in ("SigLevel = Never", "TrustAll", "--nogpgcheck", "gpgcheck=0"):
            assert bad not in text, (case, bad)
    confs = [s.content or "" for s in plan.plan if s.path and s.path.endswith("pacman.conf")]
    assert len(confs) == 2  # the bootstrap's and the installed system's
    for conf in confs:
        levels = [v for _, k, v in _pacman_lines(conf) if k == "SigLevel"]
        assert levels and all(v.split()[0] == "Required" for v in levels), levels


def test_no_golden_plan_turns_a_signature_check_off() -> None:
    # Every distribution's plans, not only Arch's: no SigLevel that lets a package through.
    for case in CASES:
        plan = plan_for(case)
        for text in (plan.render_text(), *(s.content or "" for s in plan.plan)):
            assert weak_siglevels(text) == [], case


def test_weak_levels_are_found_and_never_written() -> None:
    assert weak_siglevels("SigLevel = Never\n") == ["SigLevel = Never"]
    assert weak_siglevels("[x]\nSigLevel = Optional TrustAll\n") != []
    assert weak_siglevels("LocalFileSigLevel = PackageOptional\n") != []
    assert weak_siglevels("SigLevel = Required DatabaseOptional\n") == []
    with pytest.raises(ValueError, match="checks nothing"):
        pacman_conf([Repo("core", ("https://m/$repo",), siglevel="Optional")])
    with pytest.raises(ValueError, match=r"not a pacman\.conf value"):
        pacman_conf([Repo("core", ("https://m/\n[evil]",))])


# -- files parsed back --------------------------------------------------------------------

def test_the_pacman_conf_files_parse_back() -> None:
    writes = _writes(_plan("KLDLOAD_PROFILE=server\n"))
    boot = writes[f"{TARGET}{BOOTSTRAP_CONF}"][0]
    final = writes[f"{TARGET}/etc/pacman.conf"][0]
    for text in (boot, final):
        sections = read_pacman_conf(text)
        assert list(sections) == ["options", "core", "extra", "archzfs"]
        assert sections["options"]["SigLevel"] == "Required DatabaseOptional"
        assert sections["options"]["LocalFileSigLevel"] == "Required"
        assert sections["options"]["CheckSpace"] == ""
        assert sections["core"]["Server"] == "https://geo.mirror.pkgbuild.com/$repo/os/$arch"
        assert sections["archzfs"]["SigLevel"] == "Required"
        assert sections["archzfs"]["Server"] == arch.ARCHZFS_SERVER
        # The same as read line by line.
        assert ("archzfs", "SigLevel", "Required") in _pacman_lines(text)
    options = read_pacman_conf(boot)["options"]
    for key, inside in (("DBPath", "/var/lib/pacman/"), ("GPGDir", "/etc/pacman.d/gnupg/"),
                        ("CacheDir", "/var/cache/pacman/pkg/"),
                        ("HookDir", "/etc/pacman.d/hooks/")):
        assert options[key] == TARGET + inside
    assert "Include" not in options  # the holds file is the installed system's
    assert read_pacman_conf(final)["options"]["Include"] == HOLDS_CONF
    assert "DBPath" not in read_pacman_conf(final)["options"]


def test_a_custom_mirror_replaces_arch_s_and_keeps_archzfs() -> None:
    backend = _backend("KLDLOAD_CUSTOM_MIRROR_URL=https://mirror.example.org/arch/\n")
    urls = backend.source_urls(_ctx(backend))
    assert urls == ["https://mirror.example.org/arch/core/os/x86_64/core.db",
                    "https://mirror.example.org/arch/extra/os/x86_64/extra.db",
                    f"{arch.ARCHZFS_SERVER}/archzfs.db"]
    assert _backend().source_urls(_ctx(_backend()))[0] == \
        "https://geo.mirror.pkgbuild.com/core/os/x86_64/core.db"


@pytest.mark.parametrize(("text", "path"), [
    ("", DHCP_NETWORK_PATH),
    ("KLDLOAD_NET_METHOD=static\nKLDLOAD_NET_IFACE=enp2s0\nKLDLOAD_NET_IP=198.51.100.20\n"
     "KLDLOAD_NET_PREFIX=24\nKLDLOAD_NET_GW=198.51.100.1\n"
     "KLDLOAD_NET_DNS=198.51.100.53,fe80::53%enp2s0\n", STATIC_NETWORK_PATH),
])
def test_networkd_files_parse_back(text: str, path: str) -> None:
    writes = _writes(_plan(text))
    content = writes[f"{TARGET}/{path}"][0]
    settings = fp.systemd_ini(content)
    names = fp.settings_of(settings, "Match", "Name")
    if "static" in text:
        assert [fp.systemd_words(n) for n in names] == [["enp2s0"]]
        assert fp.settings_of(settings, "Network", "Address") == ["198.51.100.20/24"]
        assert fp.settings_of(settings, "Network", "Gateway") == ["198.51.100.1"]
        dns = [fp.networkd_dns(w) for w in fp.settings_of(settings, "Network", "DNS")]
        assert [d.as_answered() for d in dns] == ["198.51.100.53", "fe80::53%enp2s0"]
        assert all(fp.systemd_ifname_ok(n) for n in fp.systemd_words(names[0]))
    else:
        assert fp.systemd_words(names[0]) == ["en*", "eth*"]
        assert fp.settings_of(settings, "Network", "DHCP") == ["yes"]
    assert any("systemd-networkd.service" in a and "systemd-resolved.service" in a
               for a in _argvs(_plan(text)))


def test_the_alpm_hooks_and_the_rebuild_script() -> None:
    writes = _writes(_plan(""))
    for hook, exec_path in ((arch.INITRAMFS_HOOK, arch.INITRAMFS_SCRIPT),
                            (arch.BOOT_HOOK, f"/{arch.BOOT_REFRESH}")):
        text = writes[f"{TARGET}{hook}"][0]
        settings = fp.systemd_ini(text)  # alpm-hooks(5): the same ini shape, keys repeat
        assert fp.settings_of(settings, "Trigger", "Type") == ["Path"]
        assert fp.settings_of(settings, "Trigger", "Operation") == ["Install", "Upgrade",
                                                                   "Remove"]
        assert "usr/lib/modules/*/vmlinuz" in fp.settings_of(settings, "Trigger", "Target")
        assert fp.settings_of(settings, "Action", "When") == ["PostTransaction"]
        assert fp.settings_of(settings, "Action", "Exec") == [exec_path]
    # pacman runs hooks in file-name order: DKMS's module build (71-dkms-install), then
    # the initramfs, then the copy to the ESPs.
    names = [Path(h).name for h in (arch.INITRAMFS_HOOK, arch.BOOT_HOOK)]
    assert sorted(["71-dkms-install.hook", *names]) == ["71-dkms-install.hook", *names]
    # The boot layer writes the script the second hook runs.
    refresh = writes[f"{TARGET}/{arch.BOOT_REFRESH}"][0]
    assert refresh.endswith("exec /usr/sbin/kldload-boot refresh\n")
    script = writes[f"{TARGET}{arch.INITRAMFS_SCRIPT}"][0]
    assert 'mkinitcpio -k "$kver" -g "/boot/initramfs-$kver.img"' in script
    # shellcheck is one of scripts/setup's packages.
    check = subprocess.run(["shellcheck", "-s", "sh", "-"], input=script, text=True,
                           capture_output=True, check=False)
    assert check.returncode == 0, check.stdout
    # mkinitcpio's own hook is masked before the first transaction.
    argvs = _argvs(_plan(""))
    mask = argvs.index(("ln", "-sfn", "/dev/null",
                        f"{TARGET}/etc/pacman.d/hooks/90-mkinitcpio-install.hook"))
    assert mask < next(i for i, a in enumerate(argvs) if a[:1] == ("pacman",))


@pytest.mark.parametrize(("modules", "autodetect"), [("most", False), ("dep", True)])
def test_mkinitcpio_conf_has_the_zfs_hook_before_filesystems(modules: str,
                                                             autodetect: bool) -> None:
    text = _writes(_plan(f"KLDLOAD_INITRAMFS_MODULES={modules}\n"))[
        f"{TARGET}/etc/mkinitcpio.conf"][0]
    arrays = dict(re.findall(r"^([A-Z]+)=\(([^)]*)\)$", text, re.MULTILINE))
    hooks = arrays["HOOKS"].split()
    assert hooks.index("zfs") < hooks.index("filesystems")
    assert "systemd" not in hooks and "sd-vconsole" not in hooks
    assert ("autodetect" in hooks) is autodetect
    assert arrays["MODULES"] == ""
    # bash reads the file as mkinitcpio does.
    shown = subprocess.run(["bash", "-c", 'source /dev/stdin; printf "%s\\n" "${HOOKS[@]}"'],
                           input=text, text=True, capture_output=True, check=True).stdout
    assert shown.split() == hooks


def test_boot_files_carry_the_kernel_version() -> None:
    backend = _backend()
    ctx = _ctx(backend)
    ctx.kernel_version = "6.6.60-1-lts"
    kernel, initrd = backend.boot_files(ctx)
    assert kernel_pattern(kernel, "6.6.60-1-lts") == "/usr/lib/modules/{kver}/vmlinuz"
    assert kernel_pattern(initrd, "6.6.60-1-lts") == "/boot/initramfs-{kver}.img"
    assert arch.INITRAMFS_SCRIPT in backend.initramfs_rebuild


# -- holds ---------------------------------------------------------------------------------

def test_holds_are_pacman_s_ignorepkg() -> None:
    backend = _backend("KLDLOAD_FIRMWARE=bios\n")
    assert backend.held_packages(_ctx(backend)) == ["linux-lts", "linux-lts-headers",
                                                   "zfs-dkms", "zfs-utils", "grub"]
    uefi = _backend("KLDLOAD_FIRMWARE=uefi\n")
    assert uefi.held_packages(_ctx(uefi)) == ["linux-lts", "linux-lts-headers", "zfs-dkms",
                                             "zfs-utils"]
    files = {f.path: f for f in backend.hold_files()}
    script = files["usr/lib/kldload/package-holds"]
    assert script.mode == 0o755
    assert 'echo "IgnorePkg = $*"' in script.content
    assert 'pacman-conf --config "$CONF" IgnorePkg' in script.content
    assert "apt-mark" not in script.content and "versionlock" not in script.content
    unit = fp.systemd_ini(files["usr/lib/systemd/system/kldload-package-holds.service"].content)
    assert fp.settings_of(unit, "Service", "ExecStart") == ["/usr/lib/kldload/package-holds"]
    for checker in (["sh", "-n"], ["shellcheck", "-s", "sh", "-"]):
        check = subprocess.run(checker, input=script.content, text=True, capture_output=True,
                               check=False)
        assert check.returncode == 0, (checker, check.stdout, check.stderr)
    # The held names pass the shared script's name check.
    for name in backend.held_packages(_ctx(backend)):
        assert re.fullmatch(r"[a-z0-9][a-z0-9+.-]*", name), name


# -- darksite --------------------------------------------------------------------------------

def test_the_darksite_is_the_one_repository_and_its_key_is_checked(tmp_path: Path) -> None:
    site = tmp_path / "darksite"
    site.mkdir()
    (site / arch.DARKSITE_MARKER).write_bytes(b"")
    plan = _plan("KLDLOAD_PROFILE=server\nKLDLOAD_KEEP_DARKSITE=1\n", darksite=site)
    writes = _writes(plan)
    boot = read_pacman_conf(writes[f"{TARGET}{BOOTSTRAP_CONF}"][0])
    assert list(boot) == ["options", "kldload"]
    assert boot["kldload"]["Server"] == f"file://{site}"
    assert boot["kldload"]["SigLevel"] == "Required DatabaseOptional"
    final = read_pacman_conf(writes[f"{TARGET}/etc/pacman.conf"][0])
    assert list(final) == ["options", "kldload", "core", "extra", "archzfs"]
    assert final["kldload"]["Server"] == f"file://{arch.KEPT_DARKSITE}"
    text = plan.render_text()
    assert f"file://{site}/keys/archzfs.asc" in text
    assert "https://" not in "\n".join(line for line in text.splitlines()
                                       if line.startswith(("curl", "pacman ")))
    backend = _backend()
    ctx = InstallContext(answers=backend.answers, machine=load_bundled_machine("one-disk-vm"),
                         runner=RecordingRunner(), options=InstallOptions(darksite=site),
                         distro=backend)
    assert backend.source_urls(ctx) == [f"file://{site}/kldload.db"]
    # A Debian darksite (no kldload.db) is not Arch's: the network serves.
    assert backend.darksite(_ctx(backend)) is None


# -- refusals and preflight ------------------------------------------------------------------

@pytest.mark.parametrize(("text", "message"), [
    ("KLDLOAD_NVIDIA_DRIVERS=1\n", "KLDLOAD_NVIDIA_DRIVERS=1: NVIDIA's"),
    ("KLDLOAD_EXTRA_PACKAGES=htop\n", "cannot check package names for arch"),
])
def test_what_cannot_be_installed_is_refused_in_preflight(text: str, message: str) -> None:
    with pytest.raises(InstallError, match=message):
        _plan(text)


def test_the_live_system_provides_the_tools() -> None:
    backend = _backend()
    assert backend.host_tools(_ctx(backend)) == ["pacman", "pacman-key", "pacman-conf", "gpg",
                                                 "gpg-agent", "gpgconf", "curl", "chroot"]
    # makepkg: pacman-key and repo-add source its shell library; gpg-agent: Debian's
    # gpg only recommends it, and the ISO installs no recommends.
    assert {"pacman-package-manager", "makepkg", "archlinux-keyring",
            "gpg-agent"} <= set(live_packages())
    assert backend.zfs_compatibility() == "openzfs-2.2-linux"
    assert backend.grub_dir == "grub" and backend.proven == "plan-verified"


def test_the_pins_are_well_formed() -> None:
    assert len(arch.MASTER_KEYS) == 6
    for fpr in [*arch.MASTER_KEYS, arch.ARCHZFS_KEY.fingerprint]:
        assert re.fullmatch(r"[0-9A-F]{40}", fpr), fpr
    assert arch.ARCHZFS_KEY.url.startswith("https://")
    assert arch.ARCHZFS_KEY.fingerprint in arch.ARCHZFS_KEY.url


@pytest.fixture(scope="module")
def two_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[bytes, list[str]]]:
    """Two public keys made by gpg here (binary keyring), and their fingerprints."""
    home = tmp_path_factory.mktemp("gnupg")
    os.chmod(home, 0o700)
    gpg = ["gpg", "--batch", "--homedir", str(home)]
    try:
        for n in (1, 2):
            subprocess.run([*gpg, "--pinentry-mode", "loopback", "--passphrase", "",
                            "--quick-gen-key", f"kldload master {n} <m{n}@kldload.invalid>",
                            "ed25519", "sign", "never"], check=True, capture_output=True)
        colons = subprocess.run([*gpg, "--with-colons", "--list-keys"], check=True,
                                capture_output=True, text=True).stdout
        fprs = [line.split(":")[9] for line in colons.splitlines() if line.startswith("fpr:")]
        exported = subprocess.run([*gpg, "--export"], check=True, capture_output=True).stdout
        yield exported, fprs
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False,
                       capture_output=True)


def _live(tmp_path: Path, ring: bytes, trusted: list[str]) -> Path:
    keys = tmp_path / "live/usr/share/keyrings"
    keys.mkdir(parents=True)
    (keys / "archlinux.gpg").write_bytes(ring)
    (keys / "archlinux-trusted").write_text("".join(f"{f}:4:\n" for f in trusted))
    return tmp_path / "live"


def test_the_live_keyring_must_trust_exactly_the_pins(
        tmp_path: Path, two_keys: tuple[bytes, list[str]]) -> None:
    ring, (one, two) = two_keys
    pins = {one: "master one", two: "master two"}
    assert keyring_problem(_live(tmp_path / "ok", ring, [one, two]), pins) is None
    extra = keyring_problem(_live(tmp_path / "extra", ring, [one, two, "A" * 40]), pins)
    assert extra is not None and "not pinned: " + "A" * 40 in extra
    short = keyring_problem(_live(tmp_path / "short", ring, [one]), pins)
    assert short is not None and f"does not list the pinned key(s) {two}" in short
    lacks = keyring_problem(_live(tmp_path / "lacks", ring, [one, two]),
                            {**pins, "B" * 40: "absent"})
    assert lacks is not None and "lacks the pinned master key(s) " + "B" * 40 in lacks
    missing = keyring_problem(tmp_path / "nowhere", pins)
    assert missing is not None and "cannot read" in missing


def test_preflight_refuses_a_live_system_without_arch_s_keyring(tmp_path: Path) -> None:
    backend = _backend()
    with pytest.raises(InstallError, match="Install Debian's archlinux-keyring package"):
        backend.check_sources(_ctx(backend, live_root=tmp_path))


def test_the_installed_pacman_conf_matches_what_verify_reads() -> None:
    # verify_configure compares the repositories by name and the Include line.
    backend = _backend()
    text = pacman_conf(backend.final_repos(_ctx(backend)))
    parser = configparser.ConfigParser(interpolation=None, strict=False, allow_no_value=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    assert parser.sections() == ["options", "core", "extra", "archzfs"]
    assert parser["options"]["Include"] == HOLDS_CONF
