"""The Red Hat family backend (Rocky, CentOS Stream): its plans, and every file
it writes parsed back by a parser for its format (configparser for the
NetworkManager keyfiles and the .repo files, as NetworkManager's and dnf's
readers are ini readers)."""

from __future__ import annotations

import configparser
import functools
import http.server
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from kldload_tui.backend.answers.file import load_answers, parse_answers
from kldload_tui.backend.answers.model import Answers
from kldload_tui.backend.distros import distro_backend
from kldload_tui.backend.distros.dnf_family import (
    DARKSITE_MARKER,
    DnfBackend,
    _dracut_modules,
    _lsinitrd_paths,
)
from kldload_tui.backend.distros.dnf_repos import BOOTSTRAP_REPOS, REPO_DIR
from kldload_tui.backend.distros.el import EnterpriseLinuxBackend
from kldload_tui.backend.distros.nm_keyfile import (
    escape_list,
    escape_value,
    nm_keyfile,
    split_list,
    unescape_value,
)
from kldload_tui.backend.distros.rpm_keys import KeyPin, primary_fingerprints
from kldload_tui.backend.engine.core import (
    InstallContext,
    InstallError,
    InstallOptions,
    plan_install,
)
from kldload_tui.backend.engine.runner import RecordingRunner
from kldload_tui.backend.machine.model import load_bundled_machine
from tests.integration.local_servers import http_on_loopback

ROOT = Path(__file__).parents[2]
BASE = "KLDLOAD_DISK=/dev/vda\nKLDLOAD_HOSTNAME=el-01\nKLDLOAD_PASSWORD='el-Pass-2026'\n"


def _answers(text: str) -> Answers:
    result = parse_answers(BASE + text)
    assert result.answers is not None, [p.render() for p in result.errors]
    return result.answers


def _backend(text: str) -> EnterpriseLinuxBackend:
    backend = distro_backend(_answers(text))
    assert isinstance(backend, EnterpriseLinuxBackend)
    return backend


def _plan(text: str, darksite: Path | None = None) -> RecordingRunner:
    return plan_install(_answers(text), load_bundled_machine("one-disk-vm"),
                        options=InstallOptions(darksite=darksite))


def _writes(plan: RecordingRunner) -> dict[str, str]:
    return {s.path: s.content or "" for s in plan.plan if s.kind == "write" and s.path}


def _ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return parser


# -- the plan --------------------------------------------------------------------------

@pytest.mark.parametrize("distro", ["rocky", "centos"])
def test_keys_are_imported_and_checked_before_the_first_package(distro: str) -> None:
    plan = _plan(f"KLDLOAD_DISTRO={distro}\nKLDLOAD_PROFILE=server\n")
    argvs = [s.argv for s in plan.plan if s.kind == "command"]
    first_dnf = next(i for i, a in enumerate(argvs) if a and a[0] == "dnf")
    imports = [i for i, a in enumerate(argvs) if a[:1] == ("rpm",) and "--import" in a]
    shows = [i for i, a in enumerate(argvs) if a[:1] == ("gpg",) and "--show-keys" in a]
    backend = _backend(f"KLDLOAD_DISTRO={distro}\nKLDLOAD_PROFILE=server\n")
    assert len(imports) == len(backend.key_pins()) == 3  # distribution, OpenZFS, EPEL
    assert max(imports) < first_dnf
    # Each key is shown (fingerprint checked) before its import, and once more after.
    assert len(shows) == 3 and all(s < i for s, i in zip(shows, imports, strict=True))


@pytest.mark.parametrize("distro", ["rocky", "centos"])
def test_kernel_zfs_and_loaders_are_a_transaction_of_their_own(distro: str) -> None:
    plan = _plan(f"KLDLOAD_DISTRO={distro}\nKLDLOAD_PROFILE=server\n")
    installs = [list(s.argv[s.argv.index("install") + 1:]) for s in plan.plan
                if s.kind == "command" and s.argv[:1] == ("dnf",)]
    assert len(installs) == 3
    base, core, optional = installs
    zfs = (["kernel", "kernel-devel", "dkms", "zfs", "zfs-dracut"] if distro == "centos"
           else ["kernel", "kmod-zfs", "zfs", "zfs-dracut"])
    assert core == [*zfs, "grub2-pc", "grub2-pc-modules", "grub2-tools"]
    assert "kernel" not in base and "zfs" not in optional
    assert optional == ["sanoid", "golang-github-prometheus-node-exporter", "curl", "htop",
                        "tmux"]


def test_no_signature_check_is_ever_turned_off() -> None:
    for text in ("KLDLOAD_DISTRO=rocky\n", "KLDLOAD_DISTRO=centos\nKLDLOAD_RELEASE=10\n"):
        plan = _plan(text)
        rendered = plan.render_text() + "".join(_writes(plan).values())
        for bad in ("gpgcheck=0", "--nogpgcheck", "--no-gpgchecks", "sslverify=0"):
            assert bad not in rendered, (text, bad)
        assert "gpgcheck=1" in rendered


def test_repo_files_parse_and_check_every_signature() -> None:
    writes = _writes(_plan("KLDLOAD_DISTRO=rocky\nKLDLOAD_PROFILE=server\n"))
    installed = {p: t for p, t in writes.items() if p.startswith(f"/mnt/kldload{REPO_DIR}/")}
    assert sorted(Path(p).name for p in installed) == ["epel.repo", "rocky.repo", "zfs.repo"]
    sections: dict[str, configparser.SectionProxy] = {}
    for text in installed.values():
        parser = _ini(text)
        sections.update({s: parser[s] for s in parser.sections()})
    assert sorted(sections) == ["appstream", "baseos", "crb", "epel", "zfs"]
    for name, section in sections.items():
        assert section["gpgcheck"] == "1" and section["enabled"] == "1", name
        assert section["baseurl"].startswith("https://"), name
        assert all(k.startswith("file:///etc/pki/rpm-gpg/") for k in section["gpgkey"].split())
    assert sections["baseos"]["baseurl"] == "https://dl.rockylinux.org/pub/rocky/9/BaseOS/x86_64/os/"
    assert sections["zfs"]["baseurl"] == "https://download.zfsonlinux.org/epel/9/kmod/x86_64/"
    # The bootstrap's copies name the same keys on the live system (dnf reads gpgkey= there).
    boot = {p: t for p, t in writes.items() if BOOTSTRAP_REPOS in p}
    for text in boot.values():
        parser = _ini(text)
        for s in parser.sections():
            assert all(k.startswith("file:///mnt/kldload/etc/pki/rpm-gpg/")
                       for k in parser[s]["gpgkey"].split())


def test_epel_only_when_a_package_needs_it() -> None:
    core = _backend("KLDLOAD_DISTRO=rocky\nKLDLOAD_PROFILE=core\n")
    assert [r.repo_id for r in core.network_repos()] == ["baseos", "appstream", "crb", "zfs"]
    assert [k.file for k in core.key_pins()] == ["RPM-GPG-KEY-Rocky-9", "RPM-GPG-KEY-openzfs-2022"]
    # CentOS Stream's DKMS needs EPEL's dkms even for the core profile.
    stream = _backend("KLDLOAD_DISTRO=centos\nKLDLOAD_PROFILE=core\n")
    assert "epel" in [r.repo_id for r in stream.network_repos()]


def test_release_selects_keys_and_urls() -> None:
    ten = _backend("KLDLOAD_DISTRO=rocky\nKLDLOAD_RELEASE=10\nKLDLOAD_PROFILE=server\n")
    assert [k.fingerprint for k in ten.key_pins()] == [
        "FC226859C0860BF0DDB95B085B106C736FEDFC85", "7DC7299DCF7C7FD9CD87701BA599FD5E9DB84141",
        "7D8D15CBFC4E62688591FB2633D98517E37ED158"]
    assert ten.network_repos()[0].baseurl == \
        "https://dl.rockylinux.org/pub/rocky/10/BaseOS/x86_64/os/"
    stream = _backend("KLDLOAD_DISTRO=centos\nKLDLOAD_RELEASE=10\n")
    assert stream.network_repos()[0].baseurl == \
        "https://mirror.stream.centos.org/10-stream/BaseOS/x86_64/os/"


@pytest.mark.parametrize(("text", "message"), [
    ("KLDLOAD_DISTRO=rocky\nKLDLOAD_RELEASE=8\n", "KLDLOAD_RELEASE=8: rocky is installed as "
     "release 9 or 10"),
    ("KLDLOAD_DISTRO=centos\nKLDLOAD_NVIDIA_DRIVERS=1\n", "KLDLOAD_NVIDIA_DRIVERS=1: NVIDIA's"),
])
def test_what_cannot_be_installed_is_refused_in_preflight(text: str, message: str) -> None:
    with pytest.raises(InstallError, match=message):
        _plan(text)


def test_extra_packages_are_refused_rather_than_installed_unchecked() -> None:
    backend = _backend("KLDLOAD_DISTRO=rocky\n")
    ctx = _ctx(backend)
    with pytest.raises(InstallError, match="cannot check package names for rocky"):
        backend.check_packages(ctx, ["htop"])
    # A plan refuses them too, rather than showing an install without them.
    with pytest.raises(InstallError, match="cannot check package names for rocky"):
        _plan("KLDLOAD_DISTRO=rocky\nKLDLOAD_EXTRA_PACKAGES=htop\n")


def test_the_darksite_is_the_one_repository_and_keeps_every_key(tmp_path: Path) -> None:
    site = tmp_path / "darksite"
    (site / "repodata").mkdir(parents=True)
    (site / DARKSITE_MARKER).write_text("<repomd/>")
    plan = _plan("KLDLOAD_DISTRO=rocky\nKLDLOAD_PROFILE=server\nKLDLOAD_KEEP_DARKSITE=1\n",
                 darksite=site)
    writes = _writes(plan)
    boot = [p for p in writes if BOOTSTRAP_REPOS in p]
    assert [Path(p).name for p in boot] == ["kldload-darksite.repo"]
    section = _ini(writes[boot[0]])["kldload-darksite"]
    assert section["baseurl"] == f"file://{site}"
    assert (section["gpgcheck"], section.get("repo_gpgcheck", "0")) == ("1", "0")
    assert len(section["gpgkey"].split()) == 3
    text = plan.render_text()
    # Keys come from the darksite, checked against the same pins.
    assert f"file://{site}/keys/RPM-GPG-KEY-Rocky-9" in text
    assert "https://" not in "\n".join(line for line in text.splitlines()
                                       if line.startswith(("curl", "dnf")))
    # The installed system gets the network's repositories and the kept darksite.
    final = [p for p in writes if p.startswith(f"/mnt/kldload{REPO_DIR}/")]
    assert sorted(Path(p).name for p in final) == ["epel.repo", "kldload-darksite.repo",
                                                   "rocky.repo", "zfs.repo"]
    assert "file:///var/lib/kldload/darksite" in writes[
        f"/mnt/kldload{REPO_DIR}/kldload-darksite.repo"]
    # A signed repomd.xml turns repo_gpgcheck on.
    (site / f"{DARKSITE_MARKER}.asc").write_text("signature")
    writes = _writes(_plan("KLDLOAD_DISTRO=rocky\n", darksite=site))
    section = _ini(writes[boot[0]])["kldload-darksite"]
    assert section["repo_gpgcheck"] == "1"


def test_an_apt_darksite_is_not_taken_for_an_rpm_one(tmp_path: Path) -> None:
    site = tmp_path / "darksite"
    (site / "dists").mkdir(parents=True)
    writes = _writes(_plan("KLDLOAD_DISTRO=rocky\n", darksite=site))
    assert not any("darksite" in p for p in writes)


# -- network: NetworkManager keyfiles --------------------------------------------------

def test_dhcp_keyfile_parses_back() -> None:
    f = nm_keyfile(_answers("KLDLOAD_DISTRO=rocky\nKLDLOAD_NET_DNS=1.1.1.1,2606:4700::1111\n"))
    assert f.mode == 0o600 and f.units_to_enable == ["NetworkManager.service"]
    k = _ini(f.content)
    assert k["connection"]["type"] == "ethernet" and "interface-name" not in k["connection"]
    assert k["ipv4"]["method"] == "auto" and k["ipv6"]["method"] == "auto"
    assert split_list(k["ipv4"]["dns"]) == ["1.1.1.1"]
    assert split_list(k["ipv6"]["dns"]) == ["2606:4700::1111"]


def test_static_keyfile_parses_back() -> None:
    a = _answers("KLDLOAD_DISTRO=rocky\nKLDLOAD_NET_METHOD=static\nKLDLOAD_NET_IFACE=enp1s0\n"
                 "KLDLOAD_NET_IP=10.0.1.50\nKLDLOAD_NET_PREFIX=24\nKLDLOAD_NET_GW=10.0.1.1\n"
                 "KLDLOAD_NET_DNS=10.0.1.1\n")
    f = nm_keyfile(a)
    assert f.path == "etc/NetworkManager/system-connections/kldload-static.nmconnection"
    k = _ini(f.content)
    assert unescape_value(k["connection"]["interface-name"]) == "enp1s0"
    assert k["ipv4"]["method"] == "manual"
    address, gateway = k["ipv4"]["address1"].split(",")
    assert (address, gateway) == ("10.0.1.50/24", "10.0.1.1")
    assert split_list(k["ipv4"]["dns"]) == ["10.0.1.1"]


def test_static_ipv6_keyfile_parses_back() -> None:
    a = _answers("KLDLOAD_DISTRO=rocky\nKLDLOAD_NET_METHOD=static\nKLDLOAD_NET_IP=2001:db8::5\n"
                 "KLDLOAD_NET_PREFIX=64\nKLDLOAD_NET_GW=2001:db8::1\n")
    k = _ini(nm_keyfile(a).content)
    assert k["ipv6"]["method"] == "manual" and k["ipv4"]["method"] == "disabled"
    assert k["ipv6"]["address1"] == "2001:db8::5/64,2001:db8::1"


@pytest.mark.parametrize("value", ["plain", " leading blank", "a\\back", "two\nlines",
                                   "tab\there", "semi;colon", "cr\rx", "=key=like", "[group]"])
def test_keyfile_values_are_escaped_and_read_back(value: str) -> None:
    text = f"[g]\nv={escape_value(value)}\nl={escape_list([value, 'x'])}\n"
    k = _ini(text)
    assert len(text.splitlines()) == 3  # no value adds a line
    assert unescape_value(k["g"]["v"]) == value
    assert split_list(k["g"]["l"]) == [value, "x"]


# -- initramfs and holds -------------------------------------------------------------------

LSINITRD = """\
Image: /boot/initramfs-5.14.0-503.el9.x86_64.img: 38M
========================================================================
Version: dracut-057-70.git20240819.el9

dracut modules:
bash
systemd
zfs
kernel-modules
========================================================================
drwxr-xr-x  12 root     root            0 Jan  1 00:00 .
-rw-r--r--   1 root     root            4 Jan  1 00:00 etc/hostid
lrwxrwxrwx   1 root     root            7 Jan  1 00:00 lib -> usr/lib
-rwxr-xr-x   1 root     root       123456 Jan  1 00:00 usr/sbin/zpool
-rw-r--r--   1 root     root      2345678 Jan  1 00:00 usr/lib/modules/5.14.0/extra/zfs.ko.xz
========================================================================
"""


def test_lsinitrd_listing_is_read() -> None:
    paths = _lsinitrd_paths(LSINITRD)
    assert paths == [".", "etc/hostid", "lib", "usr/sbin/zpool",
                     "usr/lib/modules/5.14.0/extra/zfs.ko.xz"]
    assert _dracut_modules(LSINITRD) == ["bash", "systemd", "zfs", "kernel-modules"]


@pytest.mark.parametrize(("drop", "missing"), [
    ("zfs.ko.xz", "zfs.ko"), ("etc/hostid", "etc/hostid"), ("usr/sbin/zpool", "zpool"),
    ("\nzfs\n", "the zfs dracut module")])
def test_an_initramfs_without_zfs_fails_verification(drop: str, missing: str) -> None:
    backend = _backend("KLDLOAD_DISTRO=rocky\n")
    runner = RecordingRunner()
    listing = LSINITRD.replace(drop, "\n") if drop.startswith("\n") else "\n".join(
        line for line in LSINITRD.splitlines() if not line.endswith(drop))
    runner.respond(["lsinitrd"], stdout=listing)
    ctx = _ctx(backend, runner)
    with pytest.raises(InstallError, match=missing):
        backend.verify_initramfs(ctx)
    backend.verify_initramfs(_ctx(backend, _canned(LSINITRD)))  # the whole listing passes


def _canned(listing: str) -> RecordingRunner:
    runner = RecordingRunner()
    runner.respond(["lsinitrd"], stdout=listing)
    return runner


def test_initramfs_is_dracut_and_firstboot_rebuilds_with_it() -> None:
    assert EnterpriseLinuxBackend.initramfs_rebuild == ("dracut", "--force", "--regenerate-all")
    writes = _writes(_plan("KLDLOAD_DISTRO=rocky\n"))
    assert "dracut --force --regenerate-all" in writes["/mnt/kldload/usr/lib/kldload/firstboot"]
    conf = writes["/mnt/kldload/etc/dracut.conf.d/kldload.conf"]
    assert 'add_dracutmodules+=" zfs "' in conf and 'hostonly="no"' in conf


def test_held_packages_are_kernel_zfs_and_loaders() -> None:
    writes = _writes(_plan("KLDLOAD_DISTRO=rocky\nKLDLOAD_FIRMWARE=uefi\n"))
    held = [line for line in writes["/mnt/kldload/etc/kldload/held-packages"].splitlines()
            if not line.startswith("#")]
    assert held == ["kernel", "kmod-zfs", "zfs", "zfs-dracut"]
    assert "versionlock add" in writes["/mnt/kldload/usr/lib/kldload/package-holds"]


# -- the repositories reached in preflight ------------------------------------------------

def _ctx(backend: DnfBackend, runner: RecordingRunner | None = None,
         darksite: Path | None = None) -> InstallContext:
    return InstallContext(answers=backend.answers, machine=load_bundled_machine("one-disk-vm"),
                          runner=runner or RecordingRunner(),
                          options=InstallOptions(darksite=darksite), distro=backend)


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """An http server on loopback serving tmp_path/www."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(_Quiet, directory=str(www))
    with http_on_loopback(handler) as httpd:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


def test_an_unreachable_repository_is_named_in_preflight(closed_port: int) -> None:
    mirror = f"http://127.0.0.1:{closed_port}/rocky/9"
    backend = _backend(f"KLDLOAD_DISTRO=rocky\nKLDLOAD_CUSTOM_MIRROR_URL={mirror}\n")
    with pytest.raises(InstallError) as err:
        backend.check_sources(_ctx(backend))
    message = str(err.value)
    assert message.startswith("KLDLOAD_DISTRO=rocky: the package repositories cannot be "
                              "reached from this machine; nothing was written:")
    assert f"{mirror}/BaseOS/x86_64/os/repodata/repomd.xml: " in message
    assert "https://download.zfsonlinux.org/epel/9/kmod/x86_64/repodata/repomd.xml" \
        in "\n".join(r.probe_url() for r in backend.repos(_ctx(backend)))


def test_a_reachable_mirror_passes_and_a_missing_part_is_named(server: str, tmp_path: Path
                                                               ) -> None:
    www = tmp_path / "www"
    for part in ("BaseOS", "AppStream"):
        (www / part / "x86_64/os/repodata").mkdir(parents=True)
        (www / part / "x86_64/os/repodata/repomd.xml").write_text("<repomd/>")
    backend = _backend(f"KLDLOAD_DISTRO=rocky\nKLDLOAD_CUSTOM_MIRROR_URL={server}\n")
    # Only the distribution's own repositories are probed here: CRB is missing.
    monkey = [r for r in backend.network_repos() if r.file == "rocky.repo"]
    backend.network_repos = lambda: monkey  # type: ignore[method-assign]
    with pytest.raises(InstallError) as err:
        backend.check_sources(_ctx(backend))
    failed = [line for line in str(err.value).splitlines() if line.startswith("http")]
    assert len(failed) == 1 and failed[0].startswith(f"{server}/CRB/x86_64/os/repodata/")
    (www / "CRB/x86_64/os/repodata").mkdir(parents=True)
    (www / "CRB/x86_64/os/repodata/repomd.xml").write_text("<repomd/>")
    runner = RecordingRunner()
    backend.check_sources(_ctx(backend, runner))
    assert sum("repository reachable" in (s.content or "") for s in runner.plan) == 3


def test_a_darksite_is_read_from_disk(tmp_path: Path) -> None:
    site = tmp_path / "darksite"
    (site / "repodata").mkdir(parents=True)
    (site / DARKSITE_MARKER).write_text("<repomd/>")
    backend = _backend("KLDLOAD_DISTRO=rocky\n")
    backend.check_sources(_ctx(backend, darksite=site))  # no network read at all


def test_pins_are_full_v4_fingerprints() -> None:
    with pytest.raises(ValueError, match="not a v4 fingerprint"):
        KeyPin("k", "https://example.invalid/k", "350D275D")
    colons = ("pub:-:4096:1:702D426D350D275D:1652105606:::-:::scSC::::::23::0:\n"
              "fpr:::::::::21CB256AE16FC54C6E652949702D426D350D275D:\n"
              "uid:-::::1652105606::x::Rocky Enterprise Software Foundation::::::::::0:\n"
              "sub:-:4096:1:1111111111111111:1652105606::::::e::::::23:\n"
              "fpr:::::::::AAAABBBBCCCCDDDDEEEEFFFF0000111111111111:\n")
    assert primary_fingerprints(colons) == ["21CB256AE16FC54C6E652949702D426D350D275D"]


def test_the_rocky_seed_example_plans() -> None:
    a = load_answers(ROOT / "answers-examples/rocky-seed-usb.env").answers
    assert a is not None
    text = plan_install(a, load_bundled_machine("server-3nvme-usb-seed"),
                        options=InstallOptions()).render_text()
    assert "zfs create -o canmount=noauto -o mountpoint=/ rpool/ROOT/rocky" in text
    assert "kldload-static.nmconnection" in text
    assert "correct-horse-battery-staple" not in text


def test_a_real_run_stops_in_preflight_before_any_write(
        closed_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real run (dry_run=False) whose runner executes nothing: what preflight asks
    # of the runner is recorded, and the repositories are read for real.
    from kldload_tui.backend.engine.core import run_install
    from kldload_tui.backend.phases import preflight

    monkeypatch.setattr(preflight.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    mirror = f"http://127.0.0.1:{closed_port}/rocky/9"
    a = _answers(f"KLDLOAD_DISTRO=rocky\nKLDLOAD_CUSTOM_MIRROR_URL={mirror}\n"
                 "KLDLOAD_FORCE_WIPE=1\n")
    runner = RecordingRunner()
    outcome = run_install(a, load_bundled_machine("one-disk-vm"), runner=runner,
                          sink=lambda _e: None,
                          options=InstallOptions(consent_to_wipe=True, reprobe=False,
                                                 target_root=tmp_path / "target"))
    assert outcome.failed_phase == "preflight"
    assert f"{mirror}/BaseOS/x86_64/os/repodata/repomd.xml" in outcome.message
    done = [s for s in runner.plan if s.kind != "note" and s.phase == "preflight"]
    assert [s.argv[0] for s in done] == ["zpool", "findmnt"]  # reads only
    assert not [s for s in runner.plan if s.kind == "write" or
                (s.kind == "command" and s.phase not in ("preflight", "teardown"))]
