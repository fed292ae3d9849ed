"""`iso build` at plan level: argv of each step, texts, cache keys, the summary.

Nothing here executes a command: the RecordingRunner keeps the plan.
"""

from __future__ import annotations

import configparser
import json
from pathlib import Path

import pytest

from kldload_tui.backend.answers.model import Profile
from kldload_tui.backend.engine.runner import RecordingRunner
from kldload_tui.backend.iso import boot, liveroot, livessh, pxe, tools
from kldload_tui.backend.iso.aptsrc import (
    KernelInfo,
    PrivateApt,
    Source,
    build_sources,
    host_sources,
    host_suite,
    kernel_info,
    live_sources,
)
from kldload_tui.backend.iso.build import IsoBuild, StepTime, Summary, requirements
from kldload_tui.backend.iso.cache import BuildCache, digest
from kldload_tui.backend.iso.darksite import pool_path
from kldload_tui.backend.iso.inputs import IsoOptions, darksite_packages, tree_digest
from kldload_tui.backend.iso.zfsmod import build_module, control_text
from kldload_tui.commands import iso as iso_command

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILN0whhzPJXkgKWfGjtQmn1pIoK0FhWBWGYIxKOdPqX9 user@host"
MIRROR = "http://mirror.invalid/debian"
KERNEL = KernelInfo(kver="6.1.0-57-amd64", image_package="linux-image-6.1.0-57-amd64",
                    image_version="6.1.158-1", zfs_version="2.1.11-1+deb12u1")


def commands(runner: RecordingRunner) -> list[list[str]]:
    return [list(s.argv) for s in runner.plan if s.kind == "command" and s.argv]


# -- the menu and the image -------------------------------------------------------

def test_grub_cfg_has_the_default_serial_and_toram_entries():
    text = boot.grub_cfg("kldload live 0.1.0", boot.menu_entries())
    entries = [line for line in text.splitlines() if line.startswith("menuentry")]
    assert len(entries) == 4
    linux = [line.split()[1:] for line in text.splitlines() if line.strip().startswith("linux")]
    assert linux[0] == ["/live/vmlinuz", "boot=live", "live-media-path=/live"]
    assert "console=ttyS0,115200" in linux[1] and "toram" not in linux[1]
    assert "toram" in linux[2]
    assert linux[3][-1] == "kldload.autoinstall=0" and "console=ttyS0,115200" in linux[3]
    assert "serial --unit=0 --speed=115200" in text
    assert "terminal_output console serial" in text
    assert text.count("initrd /live/initrd.img") == 4
    assert '--hotkey=s' in entries[1]


def test_early_config_finds_this_medium_by_its_own_file():
    text = boot.early_cfg("/.disk/kldload-abc")
    assert text.splitlines()[0] == "search --no-floppy --set=root --file /.disk/kldload-abc"
    assert "configfile ($root)/boot/grub/grub.cfg" in text


def test_grub_images_embed_their_modules(tmp_path: Path):
    bios = boot.grub_bios_argv(tmp_path / "eltorito.img", tmp_path / "early.cfg")
    assert bios[:3] == ["grub-mkimage", "-O", "i386-pc-eltorito"]
    assert {"biosdisk", "iso9660", "linux", "serial", "search_fs_file"} <= set(bios)
    efi = boot.grub_efi_argv(tmp_path / "BOOTX64.EFI", tmp_path / "early.cfg")
    assert efi[:3] == ["grub-mkimage", "-O", "x86_64-efi"]
    assert {"efi_gop", "iso9660", "fat", "linux"} <= set(efi)
    assert "-c" in efi and str(tmp_path / "early.cfg") in efi


def test_esp_stays_far_below_el_toritos_limit(tmp_path: Path):
    kib = boot.esp_kib(4 * 2**20)
    assert kib * 1024 < 32 * 2**20
    argvs = boot.esp_argvs(tmp_path / "efi.img", tmp_path / "BOOTX64.EFI", kib)
    assert argvs[0] == ["mkfs.vfat", "-C", "-n", "KLDLOADEFI", str(tmp_path / "efi.img"),
                        str(kib)]
    assert argvs[2][-1] == "::/EFI/BOOT/BOOTX64.EFI"


def test_xorriso_makes_a_hybrid_for_bios_and_uefi(tmp_path: Path):
    argv = boot.xorriso_argv(tmp_path / "tree", tmp_path / "k.iso", tmp_path / "efi.img",
                             "bookworm")
    assert argv[:3] == ["xorriso", "-as", "mkisofs"]
    assert argv[argv.index("--grub2-mbr") + 1] == "/usr/lib/grub/i386-pc/boot_hybrid.img"
    assert argv[argv.index("-b") + 1] == "/boot/grub/i386-pc/eltorito.img"
    i = argv.index("-append_partition")
    assert argv[i + 1:i + 4] == ["2", "0xef", str(tmp_path / "efi.img")]
    assert argv[argv.index("-e") + 1] == "--interval:appended_partition_2:all::"
    assert argv[argv.index("-volid") + 1] == "KLDLOAD_BOOKWORM"
    assert argv[-1] == str(tmp_path / "tree")


# -- PXE ----------------------------------------------------------------------------

def test_ipxe_fetches_a_squashfs_and_names_the_answers_per_machine():
    text = pxe.ipxe_script("kldload live")
    assert text.startswith("#!ipxe\n")
    kernels = [line for line in text.splitlines() if line.startswith("kernel ")]
    assert len(kernels) == 3
    for line in kernels:
        fetch = next(w for w in line.split() if w.startswith("fetch="))
        assert fetch.endswith(".squashfs")
    assert "kldload.answers=${base}/answers/${mac}.env" in kernels[0]
    assert "console=ttyS0,115200" in kernels[1]
    assert "kldload.answers" not in kernels[2] and "kldload.autoinstall=0" in kernels[2]
    assert "initrd ${base}/initrd.img" in text
    # An unattended rack skips the menu: kldload-entry names an entry's label.
    labels = {line[1:] for line in text.splitlines() if line.startswith(":")}
    assert {"auto", "serial", "manual"} <= labels
    skip = "isset ${kldload-entry} && goto ${kldload-entry} ||"
    assert skip in text and text.index(skip) < text.index("\nmenu ")


def test_pxelinux_passes_the_placeholders_through():
    text = pxe.pxelinux_menu("kldload live")
    appends = [line.strip() for line in text.splitlines() if line.strip().startswith("APPEND")]
    assert len(appends) == 3
    assert "kldload.answers=http://SERVER/kldload/answers/${mac}.env" in appends[0]
    assert all("fetch=http://SERVER/kldload/filesystem.squashfs" in a for a in appends)
    assert "DEFAULT menu.c32" in text


def test_write_pxe_plans_the_copies_and_menus(tmp_path: Path):
    runner = RecordingRunner()
    sources = {n: tmp_path / "live" / n for n in pxe.ARTEFACTS}
    written = pxe.write_pxe(tmp_path / "pxe", sources, "kldload live", runner)
    assert written[:5] == [*pxe.ARTEFACTS, "kldload.ipxe", "pxelinux.cfg/default"]
    writes = [s.path for s in runner.plan if s.kind == "write"]
    assert writes == [str(tmp_path / "pxe/kldload.ipxe"),
                      str(tmp_path / "pxe/pxelinux.cfg/default")]
    assert "darksite/" not in written  # an ISO built without one


def test_write_pxe_serves_the_darksite_beside_the_artefacts(tmp_path: Path):
    from kldload_tui.backend.engine.runner import LocalRunner

    live = tmp_path / "live"
    live.mkdir()
    for name in pxe.ARTEFACTS:
        (live / name).write_bytes(name.encode())
    repo = tmp_path / "repo"
    (repo / "dists/bookworm").mkdir(parents=True)
    (repo / "dists/bookworm/InRelease").write_text("signed\n")
    out = tmp_path / "pxe"
    (out / pxe.DARKSITE_DIR / "stale").mkdir(parents=True)  # a previous build's
    with LocalRunner() as runner:
        written = pxe.write_pxe(out, {n: live / n for n in pxe.ARTEFACTS}, "t", runner,
                                repo)
        assert f"{pxe.DARKSITE_DIR}/" in written
        served = out / pxe.DARKSITE_DIR / "dists/bookworm/InRelease"
        assert served.read_text() == "signed\n"
        assert served.stat().st_ino == (repo / "dists/bookworm/InRelease").stat().st_ino
        assert not (out / pxe.DARKSITE_DIR / "stale").exists()
        # Built again without a darksite: none is left to be served.
        written = pxe.write_pxe(out, {n: live / n for n in pxe.ARTEFACTS}, "t", runner)
    assert not (out / pxe.DARKSITE_DIR).exists() and f"{pxe.DARKSITE_DIR}/" not in written


# -- the mirror ---------------------------------------------------------------------

def test_build_sources_follow_this_machines_mirror_with_contrib(tmp_path: Path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d/debian.sources").write_text(
        f"Types: deb\nURIs: {MIRROR}\nSuites: bookworm bookworm-updates\n"
        "Components: main\n\n"
        "Types: deb\nURIs: http://security.invalid/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n")
    found = host_sources(tmp_path)
    assert host_suite(found) == "bookworm"
    chosen = build_sources("trixie", found)
    assert [(s.uri, s.suite) for s in chosen] == [
        (MIRROR, "trixie"), (MIRROR, "trixie-updates"),
        ("http://security.invalid/debian-security", "trixie-security")]
    assert chosen[0].line().endswith(" trixie main contrib")


def test_kernel_info_reads_the_exact_kernel_behind_the_metapackage(tmp_path: Path):
    runner = RecordingRunner()
    apt = PrivateApt(tmp_path / "apt", [Source(MIRROR, "bookworm")], runner)
    runner.respond(["apt-cache", *apt.args(), "show", "--no-all-versions",
                    "linux-image-amd64"],
                   stdout="Package: linux-image-amd64\nDepends: linux-image-6.1.0-57-amd64 "
                          "(= 6.1.158-1)\n")
    runner.respond(["apt-cache", *apt.args(), "show", "--no-all-versions", "zfs-dkms"],
                   stdout="Package: zfs-dkms\nVersion: 2.1.11-1+deb12u1\n")
    assert kernel_info(apt) == KERNEL
    assert KERNEL.module_package == "zfs-modules-6.1.0-57-amd64"
    assert KERNEL.zfs_upstream == "2.1.11"


# -- ZFS module -----------------------------------------------------------------------

def test_zfs_module_is_built_in_a_chroot_then_packaged(tmp_path: Path):
    runner = RecordingRunner()
    build_module(tmp_path, [Source(MIRROR, "bookworm")], KERNEL, runner)
    argvs = commands(runner)
    assert argvs[0][:2] == ["mmdebstrap", "--variant=minbase"]
    assert "--include=linux-headers-6.1.0-57-amd64=6.1.158-1,zfs-dkms=2.1.11-1+deb12u1" \
        in argvs[0]
    assert argvs[0][-1] == f"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] " \
                           f"{MIRROR} bookworm main contrib"
    dkms = next(a for a in argvs if "dkms" in a)
    assert dkms[2:] == ["dkms", "install", "-m", "zfs", "-v", "2.1.11", "-k", KERNEL.kver]
    assert argvs.index(dkms) > next(i for i, a in enumerate(argvs) if a[:3] == [
        "mount", "-t", "proc"])
    assert argvs[-1][:3] == ["dpkg-deb", "--root-owner-group", "--build"]
    assert argvs[-1][-1].endswith("zfs-modules-6.1.0-57-amd64_2.1.11-1+deb12u1_amd64.deb")


def test_module_package_depends_on_its_exact_kernel():
    text = control_text(KERNEL)
    assert "Depends: linux-image-6.1.0-57-amd64 (= 6.1.158-1)\n" in text
    assert "Provides: zfs-modules (= 2.1.11)\n" in text


# -- cache keys ---------------------------------------------------------------------

def _options(tmp_path: Path, **changes: object) -> IsoOptions:
    base: dict[str, object] = {"out": tmp_path / "out", "suite": "bookworm",
                               "cache": tmp_path / "cache"}
    return IsoOptions(**{**base, **changes})  # type: ignore[arg-type]


def _key(tmp_path: Path, **changes: object) -> str:
    build = IsoBuild(_options(tmp_path, **changes), RecordingRunner(), lambda _: None)
    darksite = "darksite1" if build.o.darksite else None
    return digest(build.live_inputs("base1", "wheels1", darksite)) + digest(
        build.iso_inputs("squash1", "darksite1" if build.o.darksite else None))


def test_the_key_changes_with_each_input_and_not_otherwise(tmp_path: Path):
    same = _key(tmp_path)
    assert _key(tmp_path) == same
    assert _key(tmp_path, out=tmp_path / "elsewhere") == same  # where it goes is no input
    for change in ({"suite": "trixie"}, {"darksite": True}, {"zstd_level": 3},
                   {"profiles": (Profile.CORE,)}, {"features": ("wireguard",)}):
        assert _key(tmp_path, **change) != same, change
    build = IsoBuild(_options(tmp_path), RecordingRunner(), lambda _: None)
    squash = digest(build.live_inputs("base1", "wheels1", None))
    assert digest(build.live_inputs("base2", "wheels1", None)) != squash
    assert digest(build.live_inputs("base1", "wheels2", None)) != squash
    # The live root carries the key the darksite is signed with: another darksite
    # (another key) is another squashfs.
    assert digest(build.live_inputs("base1", "wheels1", "darksite1")) != squash
    assert digest(build.live_inputs("base1", "wheels1", "darksite1")) != digest(
        build.live_inputs("base1", "wheels1", "darksite2"))
    with_darksite = IsoBuild(_options(tmp_path, darksite=True), RecordingRunner(),
                             lambda _: None)
    assert with_darksite.iso_inputs("s", "d") != build.iso_inputs("s", None)


def test_the_tree_digest_follows_the_files(tmp_path: Path):
    for part in ("kldload_tui", "backend", "screens"):
        (tmp_path / part).mkdir()
        (tmp_path / part / "a.py").write_text("x = 1\n")
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    (tmp_path / "kldload_tui/backend").symlink_to("../backend")
    first = tree_digest(tmp_path)
    (tmp_path / "backend/__pycache__").mkdir()
    (tmp_path / "backend/__pycache__/a.cpython-311.pyc").write_bytes(b"\0")
    assert tree_digest(tmp_path) == first
    (tmp_path / "screens/a.py").write_text("x = 2\n")
    assert tree_digest(tmp_path) != first


def test_cache_builds_once_and_reuses(tmp_path: Path):
    cache = BuildCache(tmp_path)
    calls: list[Path] = []

    def build(out: Path) -> None:
        calls.append(out)
        (out / "thing").write_text("made")

    entry, built = cache.ensure("kind", {"a": 1}, build)
    again, rebuilt = cache.ensure("kind", {"a": 1}, build)
    assert (built, rebuilt, entry == again, len(calls)) == (True, False, True, 1)
    assert json.loads((entry / "inputs.json").read_text()) == {"a": 1}
    other, built = cache.ensure("kind", {"a": 2}, build)
    assert built and other != entry


def test_a_failed_build_leaves_no_entry(tmp_path: Path):
    cache = BuildCache(tmp_path)

    def fail(out: Path) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        cache.ensure("kind", {"a": 1}, fail)
    assert list((tmp_path / "kind").iterdir()) == [tmp_path / "kind/.lock"]


# -- darksite, wheels, refusals, summary ---------------------------------------------

def test_darksite_packages_come_from_the_debian_backend():
    from kldload_tui.backend.distros.debian import PROFILE_PACKAGES

    core = darksite_packages((Profile.CORE,), ())
    server = darksite_packages((Profile.SERVER,), ("wireguard",))
    assert {"zfsutils-linux", "zfs-initramfs", "linux-image-amd64", "systemd-boot-efi",
            "grub-pc-bin", "cloud-init"} <= set(core)
    assert set(PROFILE_PACKAGES[Profile.SERVER]) <= set(server)
    assert "wireguard-tools" in server and "wireguard-tools" not in core
    assert len(server) == len(set(server))


def test_pool_path_flattens_the_security_archive():
    assert pool_path("http://m/debian/pool/main/z/zfs/zfs_1.deb") == "pool/main/z/zfs/zfs_1.deb"
    assert pool_path("http://s/debian-security/pool/updates/main/l/linux/l.deb") == \
        "pool/main/l/linux/l.deb"
    # apt's URIs quote the version's `+`: the pool has the archive's real name, which
    # an HTTP server finds for `+` and `%2b` alike.
    assert pool_path("http://m/debian/pool/main/e/expat/libexpat1_2.5.0-1%2bdeb12u5_amd64"
                     ".deb") == "pool/main/e/expat/libexpat1_2.5.0-1+deb12u5_amd64.deb"


def test_requirements_skip_extras(tmp_path: Path):
    import zipfile

    wheel = tmp_path / "kldload_tui-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("kldload_tui-0.1.0.dist-info/METADATA",
                         "Name: kldload-tui\nRequires-Dist: rich>=13\n"
                         "Requires-Dist: pytest<9,>=8; extra == \"test\"\n")
    assert requirements(wheel) == ["rich>=13"]


def test_refusals_name_the_packages_to_install():
    missing = tools.missing_tools(which=lambda name: None, exists=lambda path: False)
    reasons = tools.refusals(euid=1000, missing=missing)
    assert reasons[0].startswith("iso build runs as root")
    assert "apt-get install mmdebstrap debootstrap coreutils" in reasons[1]
    assert "squashfs-tools" in reasons[1] and "grub-pc-bin" in reasons[1]
    assert tools.refusals(euid=0, missing=[]) == []


def test_iso_command_refuses_when_not_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]):
    from kldload_tui.cli import main

    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert main(["iso", "build", "--out", str(tmp_path), "--suite", "bookworm",
                 "--cache", str(tmp_path / "cache")]) == 2
    assert "refused: iso build runs as root" in capsys.readouterr().err


def test_profiles_of_the_command_are_the_models():
    assert set(iso_command.PROFILES) == {p.value for p in Profile}


def test_summary_says_size_hash_versions_packages_and_times(tmp_path: Path):
    summary = Summary(iso=tmp_path / "kldload-bookworm-0.1.0.iso", iso_bytes=300 * 2**20,
                      sha256="ab" * 32, squashfs_bytes=200 * 2**20, kernel=KERNEL.kver,
                      zfs=KERNEL.zfs_version, packages=412, darksite_packages=530,
                      kldload_tui="kldload-tui 0.1.0", pxe=["vmlinuz"],
                      steps=[StepTime("mirror", 4.0, False), StepTime("live", 80.2, True)])
    text = summary.render()
    assert "(300 MiB)" in text and "ab" * 32 in text
    assert "6.1.0-57-amd64" in text and "2.1.11-1+deb12u1" in text
    assert "412 in the live root, 530 in the darksite" in text
    assert "mirror 4s, live 80s (cached)" in text and "total     84s" in text
    assert json.loads(json.dumps(summary.to_json()))["iso"].endswith(".iso")


# -- SSH into the live system -----------------------------------------------------------

def test_ssh_key_from_the_kernel_command_line():
    cmdline = f'boot=live kldload.ssh_key="{KEY}" quiet kldload.ssh_key=nonsense'
    assert livessh.keys_from_cmdline(cmdline) == [KEY]


def test_a_key_means_no_password(tmp_path: Path):
    runner = RecordingRunner()
    assert livessh.setup(runner, f'kldload.ssh_key="{KEY}"', tmp_path) == "key"
    writes = {s.path: s for s in runner.plan if s.kind == "write"}
    keys = writes[str(tmp_path / "root/.ssh/authorized_keys")]
    assert keys.content == KEY + "\n" and keys.mode == 0o600
    assert "PasswordAuthentication no" in (writes[str(tmp_path / livessh.SSHD_DROPIN
                                                       .relative_to("/"))].content or "")
    assert ["chpasswd"] not in commands(runner)


def test_no_key_means_a_one_time_password_never_recorded(tmp_path: Path):
    runner = RecordingRunner()
    runner.respond(["lsblk"], stdout="/dev/vda \n/dev/sr0 KLDLOAD_BOOKWORM\n")
    assert livessh.setup(runner, "boot=live", tmp_path) == "password"
    chpasswd = next(s for s in runner.plan if s.kind == "command" and s.argv == ("chpasswd",))
    assert chpasswd.stdin
    assert commands(runner)[0] == ["ssh-keygen", "-A"]
    secret = next(s for s in runner.plan if s.path == str(tmp_path / "run/kldload/ssh-password"))
    assert secret.secret and secret.content is None and secret.mode == 0o600
    first = livessh.one_time_password()
    assert first != livessh.one_time_password() and len(first) == 19


def test_the_password_goes_to_each_kernel_console_once(tmp_path: Path):
    active = tmp_path / "active"
    active.write_text("tty0 ttyS0\n")
    assert livessh.consoles(active) == ["/dev/tty0", "/dev/ttyS0"]
    assert livessh.consoles(tmp_path / "missing") == ["/dev/console"]


def test_the_darksite_is_checked_with_debootstrap(tmp_path: Path):
    from kldload_tui.backend.iso.darksite import debootstrap_check_argv

    argv = debootstrap_check_argv("bookworm", tmp_path / "check", tmp_path / "repo",
                                  tmp_path / "key.gpg")
    assert argv[:2] == ["debootstrap", "--print-debs"]
    # Checked against its own key, as an install will: never --no-check-gpg.
    assert f"--keyring={tmp_path}/key.gpg" in argv and "--no-check-gpg" not in argv
    assert argv[-3:] == ["bookworm", str(tmp_path / "check"), f"file://{tmp_path}/repo"]


# -- the live root's own files ----------------------------------------------------

def test_systemd_shows_only_errors_on_the_live_consoles(tmp_path: Path):
    # The install's lines on the serial console were overwritten by systemd's
    # "A start job is running for kldload-autoinstall.service" while it ran.
    (tmp_path / "etc/systemd/system").mkdir(parents=True)
    (tmp_path / "etc/ssh").mkdir()
    runner = RecordingRunner()
    liveroot.configure(tmp_path, runner, "kldload-tui 0 bookworm")
    written = {s.path: s for s in runner.plan if s.kind == "write"}
    dropin = written[str(tmp_path / "etc/systemd/system.conf.d/kldload-live.conf")]
    assert dropin.mode == 0o644
    parser = configparser.ConfigParser()
    parser.read_string(dropin.content or "")
    assert dict(parser["Manager"]) == {"showstatus": "error"}
    assert "ShowStatus=error" in (dropin.content or "").splitlines()  # systemd minds case
    # A kernel parameter would override the file: no menu entry sets one.
    for entry in boot.menu_entries():
        assert not any(p.startswith("systemd.show_status") for p in entry.params)


def test_the_live_root_carries_every_backends_host_packages():
    from kldload_tui.backend.distros import backend_classes
    from kldload_tui.backend.iso.inputs import LIVE_PACKAGES, live_packages

    wanted = {p for cls in backend_classes().values() for p in cls.live_packages}
    assert wanted >= {"debootstrap", "dnf", "rpm", "gpg", "curl"}
    assert set(live_packages()) == set(LIVE_PACKAGES) | wanted
    assert len(live_packages()) == len(set(live_packages()))  # each once


def test_the_live_root_reads_backports_for_what_its_suite_lacks():
    sources = [Source(MIRROR, "bookworm"), Source(MIRROR, "bookworm-updates"),
               Source("http://security.invalid/debian-security", "bookworm-security")]
    live = live_sources(sources)
    assert live[:3] == sources
    assert live[3].line().endswith(f"{MIRROR} bookworm-backports main contrib")
    assert live_sources(live) == live  # once
