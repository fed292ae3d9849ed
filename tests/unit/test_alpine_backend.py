"""Alpine (backend/distros/alpine.py): plan-verified only; nothing of Alpine runs here.

What runs for real: openssl makes a key, signs an APKINDEX.tar.gz and a v2 .apk
built with tar and gzip the way abuild does, and the backend's own checks
(gzip members split in Python, the signature checked by openssl through the
runner, the index's checksum, the data hash) accept them and refuse tampered
copies; the key pins against openssl's DER; cpio makes an initramfs the reader
lists; the shell scripts go through `sh -n` and shellcheck, and the package holds
script runs against a fake root with a stub apk.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from kldload_tui.backend.answers.file import parse_answers
from kldload_tui.backend.answers.model import Answers
from kldload_tui.backend.distros import distro_backend
from kldload_tui.backend.distros.alpine import (
    BASE_PACKAGES,
    KEYS,
    SERIAL_GETTY,
    AlpineBackend,
    apk_hold_files,
    cpio_names,
    kernel_hook_files,
    mkinitfs_conf,
    package_name,
    repositories_file,
)
from kldload_tui.backend.distros.apk_keys import ApkKey, check_key, der_sha256, key_der
from kldload_tui.backend.distros.apk_signatures import (
    ApkFormatError,
    check_package,
    control_checksum,
    index_names,
    index_records,
    split_signed,
    verify_signed_file,
)
from kldload_tui.backend.distros.ifupdown import (
    interface_name,
    interfaces,
    network_files,
    read_interfaces,
    resolv_conf,
)
from kldload_tui.backend.distros.openrc_services import (
    OPENRC_SERVICES,
    openrc_services,
    service_state,
)
from kldload_tui.backend.engine.core import (
    InstallContext,
    InstallError,
    InstallOptions,
    plan_install,
)
from kldload_tui.backend.engine.runner import LocalRunner, RecordingRunner
from kldload_tui.backend.machine.model import load_bundled_machine
from kldload_tui.backend.target.files import service_files, template
from kldload_tui.backend.target.manifest import InstallFacts
from tests.unit.test_golden_plans import CASES, plan_for

BASE = "KLDLOAD_DISTRO=alpine\nKLDLOAD_DISK=/dev/vda\nKLDLOAD_HOSTNAME=alp-01\n" \
       "KLDLOAD_PASSWORD='alpine-Pass-2026'\n"
FACTS = InstallFacts("rpool", "rpool/ROOT/alpine", ("linux-lts", "zfs"), "1.0")


def _answers(text: str = "") -> Answers:
    result = parse_answers(BASE + text)
    assert result.answers is not None, [p.render() for p in result.errors]
    return result.answers


def _backend(text: str = "") -> AlpineBackend:
    backend = distro_backend(_answers(text))
    assert type(backend) is AlpineBackend
    return backend


def _ctx(backend: AlpineBackend, tmp_path: Path | None = None, *, dry_run: bool = False,
         darksite: Path | None = None) -> InstallContext:
    runner = LocalRunner(log_path=tmp_path / "install.log") if tmp_path else RecordingRunner()
    options = InstallOptions(dry_run=dry_run, darksite=darksite,
                             target_root=(tmp_path / "target") if tmp_path else
                             Path("/mnt/kldload"))
    return InstallContext(answers=backend.answers, machine=load_bundled_machine("one-disk-vm"),
                          runner=runner, options=options, distro=backend)


# -- real tools: signed indexes and packages made with openssl, tar and gzip ----------

def _run(*argv: str, cwd: Path | None = None, data: bytes | None = None) -> bytes:
    return subprocess.run(argv, cwd=cwd, input=data, check=True, capture_output=True).stdout


def _keypair(where: Path, name: str) -> tuple[Path, Path]:
    """An RSA key made by openssl: (private key, public key file named as apk names it)."""
    private = where / f"{name}.priv"
    public = where / name
    _run("openssl", "genrsa", "-out", str(private), "2048")
    _run("openssl", "pkey", "-in", str(private), "-pubout", "-out", str(public))
    return private, public


def _tar_gz(where: Path, files: dict[str, bytes], *, cut: bool = False) -> bytes:
    """files as a gzip'd tar made by tar and gzip; `cut`: without the end-of-archive
    blocks, as abuild's signature and control segments are."""
    src = where / f"tree-{len(os.listdir(where))}"
    src.mkdir()
    for name, content in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(content)
    raw = _run("tar", "--format=gnu", "--owner=0", "--group=0", "-cf", "-", *files, cwd=src)
    if cut:
        # Whole zero blocks at the end are tar's end-of-archive marker and padding.
        while raw.endswith(b"\0" * 512) and len(raw) > 512:
            raw = raw[:-512]
    return _run("gzip", "-9n", data=raw)


def _signed(where: Path, private: Path, key_name: str, segment: bytes,
            digest: str = "sha1") -> bytes:
    """The signature segment over `segment` (openssl dgst -sign) followed by it."""
    (where / "segment").write_bytes(segment)
    signature = _run("openssl", "dgst", f"-{digest}", "-sign", str(private),
                     str(where / "segment"))
    prefix = ".SIGN.RSA." if digest == "sha1" else ".SIGN.RSA256."
    return _tar_gz(where, {prefix + key_name: signature}, cut=True) + segment


def _package(where: Path, private: Path, key_name: str, payload: bytes
             ) -> tuple[bytes, dict[str, str]]:
    """A v2 .apk of apk-tools-static holding sbin/apk.static, and its index record."""
    data = _tar_gz(where, {"sbin/apk.static": payload})
    pkginfo = ("pkgname = apk-tools-static\npkgver = 2.14.9-r2\n"
               f"datahash = {hashlib.sha256(data).hexdigest()}\n").encode()
    control = _tar_gz(where, {".PKGINFO": pkginfo}, cut=True)
    record = {"P": "apk-tools-static", "V": "2.14.9-r2", "C": control_checksum(control)}
    return _signed(where, private, key_name, control) + data, record


def _index(where: Path, private: Path, key_name: str, records: list[dict[str, str]],
           digest: str = "sha1") -> bytes:
    text = "\n".join("".join(f"{k}:{v}\n" for k, v in r.items()) for r in records) + "\n"
    segment = _tar_gz(where, {"DESCRIPTION": b"v3.22.0\n", "APKINDEX": text.encode()})
    return _signed(where, private, key_name, segment, digest)


Signer = tuple[Path, Path, str]  # private key, public key file, its apk name


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    work = tmp_path / "keys"
    work.mkdir()
    name = "kldload-test-0123abcd.rsa.pub"
    private, public = _keypair(work, name)
    return private, public, name


def test_pins_are_the_der_sha256_openssl_prints(signer: Signer) -> None:
    _, public, name = signer
    der = _run("openssl", "pkey", "-pubin", "-in", str(public), "-outform", "DER")
    assert key_der(public.read_text()) == der
    assert der_sha256(public.read_text()) == hashlib.sha256(der).hexdigest()
    # The same key with other line breaks and line endings has the same pin.
    body = "".join(public.read_text().splitlines()[1:-1])
    rewrapped = "-----BEGIN PUBLIC KEY-----\r\n" + body + "\r\n-----END PUBLIC KEY-----"
    check_key(rewrapped, ApkKey(name, hashlib.sha256(der).hexdigest()))
    with pytest.raises(ValueError, match="not the pinned"):
        check_key(public.read_text(), KEYS[2])
    with pytest.raises(ValueError, match="exactly one"):
        key_der(public.read_text() * 2)
    for bad in (("x.pub", "0" * 64), (name, "0" * 63), (name, "A" * 64)):
        with pytest.raises(ValueError):
            ApkKey(*bad)


def test_the_pinned_alpine_keys_are_named_as_apk_names_them() -> None:
    assert [k.file.split("-")[-1] for k in KEYS] == ["4a6a0840.rsa.pub", "5261cecb.rsa.pub",
                                                    "6165ee59.rsa.pub"]
    assert len({k.der_sha256 for k in KEYS}) == 3
    assert all(k.url.startswith("https://alpinelinux.org/keys/") for k in KEYS)


def test_a_signed_index_and_package_are_accepted_and_tampering_refused(
        tmp_path: Path, signer: Signer) -> None:
    private, public, name = signer
    package, record = _package(tmp_path, private, name, b"\x7fELF apk.static")
    index = _index(tmp_path, private, name, [{"P": "busybox", "V": "1.37.0-r19"}, record])
    boot = tmp_path / "boot"
    boot.mkdir()
    (boot / "APKINDEX.tar.gz").write_bytes(index)
    (boot / "pkg.apk").write_bytes(package)
    ctx = _ctx(_backend(), tmp_path)
    keys = {name: public}
    assert verify_signed_file(ctx, boot / "APKINDEX.tar.gz", keys) == name
    assert verify_signed_file(ctx, boot / "pkg.apk", keys) == name
    records = index_records(split_signed(index))
    assert "apk-tools-static" in index_names(records)
    found = next(r for r in records if r["P"] == "apk-tools-static")
    data = check_package(split_signed(package), found)
    assert _run("tar", "-xzOf", "-", "sbin/apk.static", data=data) == b"\x7fELF apk.static"

    # A byte changed in the signed index: openssl refuses it.
    tampered = bytearray(index)
    tampered[-20] ^= 0xFF
    (boot / "bad.tar.gz").write_bytes(bytes(tampered))
    with pytest.raises(InstallError, match=r"not a signed apk file|does not accept"):
        verify_signed_file(ctx, boot / "bad.tar.gz", keys)
    # A well-formed index signed by another key.
    other_private, _ = _keypair(tmp_path / "keys", "other-1.rsa.pub")
    forged = _index(tmp_path, other_private, name, [record])
    (boot / "forged.tar.gz").write_bytes(forged)
    with pytest.raises(InstallError, match="does not accept"):
        verify_signed_file(ctx, boot / "forged.tar.gz", keys)
    # Signed by a key that is not pinned at all.
    with pytest.raises(InstallError, match="none of them a key pinned"):
        verify_signed_file(ctx, boot / "APKINDEX.tar.gz", {"another.rsa.pub": public})
    # A package whose control is not the one the index lists, or whose data changed.
    with pytest.raises(ApkFormatError, match="control checksum"):
        check_package(split_signed(package), {**found, "C": "Q1" + "A" * 27 + "="})
    other, _ = _package(tmp_path, private, name, b"something else")
    swapped = split_signed(package).signed
    head = package[:package.index(swapped) + len(swapped)]
    with pytest.raises(ApkFormatError, match="datahash"):
        check_package(split_signed(head + split_signed(other).rest[0]), found)


def test_rsa256_signatures_are_checked_with_sha256(tmp_path: Path, signer: Signer) -> None:
    private, public, name = signer
    index = _index(tmp_path, private, name, [{"P": "zfs", "V": "2.3.4-r0"}], digest="sha256")
    (tmp_path / "i.tar.gz").write_bytes(index)
    assert split_signed(index).signatures[0].digest == "sha256"
    assert verify_signed_file(_ctx(_backend(), tmp_path), tmp_path / "i.tar.gz",
                              {name: public}) == name


def test_extra_packages_are_checked_against_a_darksite_index(
        tmp_path: Path, signer: Signer) -> None:
    private, _, name = signer
    site = tmp_path / "darksite"
    (site / "main/x86_64").mkdir(parents=True)
    (site / "main/x86_64/APKINDEX.tar.gz").write_bytes(_index(
        tmp_path, private, name, [{"P": "htop", "V": "3.4.1-r0"},
                                  {"P": "mandoc", "V": "1.14.6-r13", "p": "doc-provider=1"}]))
    backend = _backend()
    ctx = _ctx(backend, darksite=site)
    assert backend.repositories(ctx) == [str(site / "main")]
    backend.check_packages(ctx, ["htop", "htop=3.4.1-r0", "doc-provider"])
    with pytest.raises(InstallError, match="KLDLOAD_EXTRA_PACKAGES: nothere: no such package"):
        backend.check_packages(ctx, ["htop", "nothere"])


def test_initramfs_listing_reads_what_cpio_wrote(tmp_path: Path) -> None:
    tree = tmp_path / "initramfs"
    for rel in ("lib/modules/6.12.30-0-lts/extra/zfs/zfs.ko.gz", "usr/sbin/zpool",
                "etc/hostid", "init"):
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(b"x" * 7)
    listing = subprocess.run(["find", "."], cwd=tree, capture_output=True, check=True).stdout
    archive = _run("cpio", "--quiet", "-o", "-H", "newc", cwd=tree, data=listing)
    names = {n.removeprefix("./") for n in cpio_names(gzip.compress(archive))}
    assert "lib/modules/6.12.30-0-lts/extra/zfs/zfs.ko.gz" in names
    assert {"usr/sbin/zpool", "etc/hostid", "init"} <= names
    with pytest.raises(ValueError):
        cpio_names(b"not an initramfs at all, but long enough to hold a header" * 3)


# -- the plan -----------------------------------------------------------------------

def test_the_golden_plans_check_signatures_and_run_nothing_unchecked() -> None:
    for case in CASES:
        text = plan_for(case).render_text()
        assert "--allow-untrusted" not in text, case
    plan = plan_for("alpine-server-single").render_text()
    lines = plan.splitlines()
    keys = [n for n, line in enumerate(lines) if "/etc/apk/keys/" in line and "curl" in line]
    apk = [n for n, line in enumerate(lines) if "apk.static --root" in line]
    tar = next(n for n, line in enumerate(lines) if line.startswith("tar -xzf"))
    openssl = [n for n, line in enumerate(lines) if line.startswith("openssl dgst")]
    # Keys before anything is checked; both checks before apk.static is unpacked and run.
    assert len(keys) == 3 and max(keys) < min(openssl)
    assert len(openssl) == 2 and max(openssl) < tar < min(apk)
    assert len(apk) == 3  # base; kernel, ZFS and loaders; optional
    assert "add linux-lts zfs zfs-lts zfs-openrc mkinitfs kernel-hooks systemd-boot grub " \
           "grub-bios" in lines[apk[1]]
    assert "--initdb" in lines[apk[0]] and "--initdb" not in lines[apk[1]]
    assert "https://dl-cdn.alpinelinux.org/alpine/v3.22/main/x86_64/APKINDEX.tar.gz" in plan
    assert "chroot /mnt/kldload mkinitfs -o /boot/initramfs-KERNEL-VERSION KERNEL-VERSION" \
        in lines
    assert "systemctl" not in plan and "chroot /mnt/kldload rc-update add kldload-firstboot " \
        "default" in lines
    assert "kldload-package-holds.service" not in plan and "usr/lib/systemd" not in plan


def test_repositories_file_and_the_darksite() -> None:
    backend = _backend()
    ctx = _ctx(backend)
    assert backend.network_repositories() == [
        "https://dl-cdn.alpinelinux.org/alpine/v3.22/main",
        "https://dl-cdn.alpinelinux.org/alpine/v3.22/community"]
    assert backend.source_urls(ctx) == [
        f"{r}/x86_64/APKINDEX.tar.gz" for r in backend.network_repositories()]
    text = repositories_file(backend.network_repositories())
    assert [line for line in text.splitlines() if not line.startswith("#")] == \
        backend.network_repositories()
    mirror = _backend("KLDLOAD_CUSTOM_MIRROR_URL=https://mirror.example.net/alpine/\n")
    assert mirror.network_repositories()[0] == "https://mirror.example.net/alpine/v3.22/main"
    for bad in ("", "http://a b", "--allow-untrusted", "@edge http://x", "#x"):
        with pytest.raises(ValueError):
            repositories_file([bad])
    assert backend.key_sources(ctx)[KEYS[2].file] == KEYS[2].url


def test_a_darksite_is_used_first_with_its_own_keys(tmp_path: Path) -> None:
    site = tmp_path / "darksite"
    for repo in ("main", "community"):
        (site / repo / "x86_64").mkdir(parents=True)
        (site / repo / "x86_64/APKINDEX.tar.gz").write_bytes(b"")
    backend = _backend()
    ctx = _ctx(backend, darksite=site)
    assert backend.repositories(ctx) == [str(site / "main"), str(site / "community")]
    assert backend.source_urls(ctx)[0] == f"file://{site}/main/x86_64/APKINDEX.tar.gz"
    assert backend.key_sources(ctx)[KEYS[0].file] == f"file://{site}/keys/{KEYS[0].file}"
    # A darksite of another format is not taken.
    assert backend.darksite(_ctx(backend, darksite=tmp_path)) is None


def test_package_table_and_holds() -> None:
    backend = _backend("KLDLOAD_PROFILE=server\nKLDLOAD_ENABLE_KVM=1\nKLDLOAD_WIREGUARD=1\n"
                       "KLDLOAD_EXTRA_PACKAGES=nmap\n")
    ctx = _ctx(backend)
    assert backend.optional_packages() == [
        "sanoid", "prometheus-node-exporter", "curl", "htop", "tmux", "qemu-system-x86_64",
        "qemu-img", "libvirt-daemon", "ovmf", "wireguard-tools", "nmap"]
    assert backend.held_packages(ctx) == ["linux-lts", "zfs", "zfs-lts", "mkinitfs",
                                          "systemd-boot", "grub", "grub-bios"]
    assert _backend("KLDLOAD_PROFILE=core\n").optional_packages() == []
    assert {"alpine-base", "ifupdown-ng", "openssh", "sgdisk", "util-linux"} <= set(BASE_PACKAGES)
    assert package_name("linux-lts=6.12.30-r0") == "linux-lts" and package_name("a~1") == "a"
    assert backend.boot_files(ctx) == ("/boot/vmlinuz-KERNEL-VERSION",
                                       "/boot/initramfs-KERNEL-VERSION")
    features = next(line for line in mkinitfs_conf().splitlines()
                    if line.startswith("features="))
    assert {"zfs", "kldload", "nvme", "base"} <= set(features[10:-1].split())
    assert 'disable_trigger="yes"' in mkinitfs_conf().splitlines()


def test_mkinitfs_conf_disables_the_package_trigger_as_it_reads_it(tmp_path: Path) -> None:
    conf = tmp_path / "mkinitfs.conf"
    conf.write_text(mkinitfs_conf())
    # What mkinitfs.trigger runs before building anything (aports main/mkinitfs).
    r = subprocess.run(["sh", "-c", '. "$1" >/dev/null; printf %s "$disable_trigger"', "sh",
                        str(conf)], capture_output=True, text=True, check=True)
    assert r.stdout == "yes"


def test_refusals() -> None:
    with pytest.raises(InstallError, match="KLDLOAD_NVIDIA_DRIVERS=1"):
        _backend("KLDLOAD_NVIDIA_DRIVERS=1\n").host_tools(_ctx(_backend()))
    sealed = _backend("KLDLOAD_EXPORT_FORMAT=qcow2\nKLDLOAD_EXPORT_SCP_HOST=\n")
    with pytest.raises(InstallError, match="KLDLOAD_EXPORT_FORMAT=qcow2: sealing"):
        sealed.host_tools(_ctx(sealed))
    with pytest.raises(InstallError, match=r"no OpenRC service is known for foo\.service"):
        openrc_services(["zfs.target", "foo.service"])


def test_preflight_names_each_repository_it_could_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    import kldload_tui.backend.distros as distros

    backend = _backend()
    monkeypatch.setattr(distros, "unreachable", lambda url: "connection refused")
    with pytest.raises(InstallError) as err:
        backend.check_sources(_ctx(backend))
    for repo in ("main", "community"):
        assert (f"https://dl-cdn.alpinelinux.org/alpine/v3.22/{repo}/x86_64/APKINDEX.tar.gz: "
                "connection refused") in str(err.value)
    assert "KLDLOAD_DISTRO=alpine" in str(err.value)


# -- network --------------------------------------------------------------------------

def test_interfaces_dhcp_read_back() -> None:
    a = _answers()
    parsed = read_interfaces(interfaces(a))
    assert parsed == {"lo": {"family": "inet", "method": "loopback", "options": {},
                             "auto": True},
                      "eth0": {"family": "inet", "method": "dhcp", "options": {},
                               "auto": True}}
    assert resolv_conf(a) is None
    assert [f.path for f in network_files(a)] == ["etc/network/interfaces"]


def test_interfaces_static_and_dns_read_back() -> None:
    a = _answers("KLDLOAD_NET_METHOD=static\nKLDLOAD_NET_IFACE=enp1s0\n"
                 "KLDLOAD_NET_IP=192.0.2.20\nKLDLOAD_NET_PREFIX=24\nKLDLOAD_NET_GW=192.0.2.1\n"
                 "KLDLOAD_NET_DNS=192.0.2.53,2001:db8::53\n")
    parsed = read_interfaces(interfaces(a))
    assert parsed["enp1s0"] == {"family": "inet", "method": "static", "auto": True,
                                "options": {"address": "192.0.2.20/24",
                                            "gateway": "192.0.2.1"}}
    assert resolv_conf(a) == ("# Written by kldload-tui (KLDLOAD_NET_DNS)\n"
                              "nameserver 192.0.2.53\nnameserver 2001:db8::53\n")


def test_interfaces_refuses_what_the_format_cannot_hold() -> None:
    for bad in ("eth0 inet dhcp", "eth0\nauto x", "eth#0", "", "a" * 16, ".."):
        with pytest.raises(ValueError):
            interface_name(bad)
    a = _answers("KLDLOAD_NET_METHOD=static\nKLDLOAD_NET_IP=192.0.2.20\n"
                 "KLDLOAD_NET_GW=192.0.2.1\n")
    forged = a.model_copy(update={"net_ip": "192.0.2.20\n\tup rm -rf /"})
    with pytest.raises(ValueError, match="one word"):
        interfaces(forged)
    with pytest.raises(ValueError, match="outside any iface"):
        read_interfaces("address 1.2.3.4/24\n")


# -- OpenRC, holds, scripts -------------------------------------------------------------

def _openrc_scripts() -> dict[str, str]:
    a = _answers("KLDLOAD_WIREGUARD=1\n")
    files = service_files(a, FACTS, holds=apk_hold_files(),
                          initramfs_rebuild=AlpineBackend.initramfs_rebuild,
                          init_system="openrc")
    files += kernel_hook_files()
    return {f.path: f.content for f in files if f.mode == 0o755}


def test_openrc_service_files() -> None:
    scripts = _openrc_scripts()
    assert set(scripts) >= {
        "usr/lib/kldload/firstboot", "usr/lib/kldload/openrc-service",
        "etc/init.d/kldload-firstboot", "etc/init.d/kldload-package-holds",
        "etc/init.d/kldload-wg0", "usr/lib/kldload/periodic/kldload-snapshot",
        "usr/lib/kldload/periodic/kldload-srv-snapshot", "usr/lib/kldload/periodic/kldload-scrub",
        "usr/lib/kldload/package-holds", "usr/lib/kldload/kernel-files",
        "etc/kernel-hooks.d/50-kldload-kernel"}
    firstboot = scripts["usr/lib/kldload/firstboot"]
    # Only its comments still speak of systemd's unit.
    assert [line for line in firstboot.splitlines()
            if "systemctl" in line and not line.lstrip().startswith("#")] == []
    assert '"$LIBDIR/openrc-service" periodic kldload-snapshot hourly kldload-scrub weekly' \
        in firstboot
    assert '"$LIBDIR/openrc-service" disable kldload-firstboot default' in firstboot
    assert "/usr/lib/kldload/kernel-files --all" in firstboot
    assert scripts["etc/init.d/kldload-firstboot"].startswith("#!/sbin/openrc-run\n")
    # systemd's firstboot is the script it always was.
    systemd = {f.path: f.content for f in service_files(_answers(), FACTS, holds=[],
                                                        initramfs_rebuild=("x",))}
    assert "systemctl enable --now kldload-snapshot.timer kldload-scrub.timer" in \
        systemd["usr/lib/kldload/firstboot"]
    assert "usr/lib/kldload/openrc-service" not in systemd
    with pytest.raises(ValueError, match="init system"):
        service_files(_answers(), FACTS, holds=[], initramfs_rebuild=("x",), init_system="upstart")


def test_openrc_scripts_pass_sh_n_and_shellcheck(tmp_path: Path) -> None:
    for path, text in _openrc_scripts().items():
        script = tmp_path / path.replace("/", "_")
        script.write_text(text)
        r = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
        assert r.returncode == 0, (path, r.stderr)
        if shutil.which("shellcheck"):
            r = subprocess.run(["shellcheck", "-s", "sh", str(script)], capture_output=True,
                               text=True)
            assert r.returncode == 0, (path, r.stdout)


def test_units_map_to_openrc_services_and_read_back(tmp_path: Path) -> None:
    assert openrc_services(["zfs-import-cache.service", "zfs-mount.service",
                            "zfs-import.target", "zfs.target"]) == [
        ("zfs-import", "sysinit"), ("zfs-mount", "sysinit")]
    assert openrc_services(["kldload-firstboot.service", "kldload-firstboot"]) == [
        ("kldload-firstboot", "default")]
    assert all(v is None or v[1] in ("sysinit", "boot", "default") for v in
               OPENRC_SERVICES.values())
    root = tmp_path / "root"
    (root / "etc/init.d").mkdir(parents=True)
    (root / "etc/runlevels/default").mkdir(parents=True)
    (root / "etc/init.d/sshd").write_text("#!/sbin/openrc-run\n")
    assert service_state(root, "sshd", "default") == "disabled"
    (root / "etc/runlevels/default/sshd").symlink_to("/etc/init.d/sshd")
    assert service_state(root, "sshd", "default") == "enabled"
    assert service_state(root, "crond", "default") == "not-found"
    backend = _backend()
    states = backend.unit_states(_ctx_at(backend, root), ["sshd.service", "zfs.target",
                                                          "zfs-mount.service", "nope"])
    assert states == ["enabled", "enabled", "not-found", "unknown"]


def _ctx_at(backend: AlpineBackend, root: Path) -> InstallContext:
    return InstallContext(answers=backend.answers, machine=load_bundled_machine("one-disk-vm"),
                          runner=RecordingRunner(),
                          options=InstallOptions(target_root=root), distro=backend)


def _holds_root(tmp_path: Path, installed: dict[str, str]) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "root"
    (root / "lib/apk/db").mkdir(parents=True)
    (root / "etc/apk").mkdir(parents=True)
    (root / "etc/kldload").mkdir(parents=True)
    (root / "usr/lib/kldload").mkdir(parents=True)
    (root / "lib/apk/db/installed").write_text("".join(
        f"C:Q1abc=\nP:{p}\nV:{v}\nA:x86_64\n\n" for p, v in installed.items()))
    (root / "etc/apk/world").write_text("alpine-base\nlinux-lts\nzfs\n")
    (root / "etc/kldload/held-packages").write_text("# held\nlinux-lts\nzfs zfs-lts\n")
    script = root / "usr/lib/kldload/package-holds"
    script.write_text(apk_hold_files()[0].content)
    script.chmod(0o755)
    stubs = tmp_path / "bin"
    stubs.mkdir()
    # A stub apk: `apk --root R --quiet add NAME=VER...` replaces NAME's world entry.
    (stubs / "apk").write_text(
        "#!/bin/sh\n[ \"$1\" = --root ] && root=$2 && shift 2\n"
        "[ \"$1\" = --quiet ] && shift\n[ \"$1\" = add ] && shift\n"
        "[ -n \"${STUB_FAIL:-}\" ] && exit 3\n"
        "for pin in \"$@\"; do name=${pin%%=*}\n"
        "  [ \"$name\" = \"${STUB_FORGET:-}\" ] && continue\n"
        "  grep -vx -e \"$name\" -e \"$name=.*\" \"$root/etc/apk/world\" > \"$root/w\" || :\n"
        "  echo \"$pin\" >> \"$root/w\"; mv \"$root/w\" \"$root/etc/apk/world\"; done\n")
    (stubs / "apk").chmod(0o755)
    env = {"PATH": f"{stubs}:/usr/bin:/bin", "KLDLOAD_ROOT": str(root)}
    return root, env


def test_holds_pin_world_entries_and_read_them_back(tmp_path: Path) -> None:
    root, env = _holds_root(tmp_path, {"linux-lts": "6.12.30-r0", "zfs": "2.3.4-r0",
                                       "zfs-lts": "6.12.30-r0"})
    script = str(root / "usr/lib/kldload/package-holds")
    r = subprocess.run([script], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "held: linux-lts=6.12.30-r0 zfs=2.3.4-r0 zfs-lts=6.12.30-r0" in r.stdout
    world = (root / "etc/apk/world").read_text().split()
    assert world == ["alpine-base", "linux-lts=6.12.30-r0", "zfs=2.3.4-r0",
                     "zfs-lts=6.12.30-r0"]
    r = subprocess.run([script], env={**env, "STUB_FORGET": "zfs"}, capture_output=True,
                       text=True)
    assert r.returncode == 0  # the pin from the first run is still in the world file
    (root / "etc/apk/world").write_text("zfs\n")
    r = subprocess.run([script], env={**env, "STUB_FORGET": "zfs"}, capture_output=True,
                       text=True)
    assert r.returncode == 1 and "not pinned in" in r.stdout and "zfs=2.3.4-r0" in r.stdout
    r = subprocess.run([script], env={**env, "STUB_FAIL": "1"}, capture_output=True, text=True)
    assert r.returncode == 1 and "FAILED: apk add" in r.stdout


def test_holds_refuse_a_package_that_is_not_installed(tmp_path: Path) -> None:
    root, env = _holds_root(tmp_path, {"linux-lts": "6.12.30-r0", "zfs": "2.3.4-r0"})
    r = subprocess.run([str(root / "usr/lib/kldload/package-holds")], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 1 and "not installed, cannot hold: zfs-lts" in r.stdout
    assert (root / "etc/apk/world").read_text() == "alpine-base\nlinux-lts\nzfs\n"


def test_plan_with_a_darksite_installs_from_it(tmp_path: Path) -> None:
    site = tmp_path / "darksite"
    (site / "main/x86_64").mkdir(parents=True)
    (site / "main/x86_64/APKINDEX.tar.gz").write_bytes(b"")
    plan = plan_install(_answers("KLDLOAD_KEEP_DARKSITE=1\n"), load_bundled_machine(
        "one-disk-vm"), options=InstallOptions(darksite=site)).render_text()
    assert f"file://{site}/keys/{KEYS[2].file}" in plan
    assert f"file://{site}/main/x86_64/APKINDEX.tar.gz" in plan
    assert "dl-cdn.alpinelinux.org/alpine/v3.22/main/x86_64" not in plan
    assert f"cp -a {site}/. /mnt/kldload/var/lib/kldload/darksite" in plan


def test_templates_render_without_leftovers() -> None:
    for name in ("kernel-files", "openrc-service", "kldload-firstboot.openrc",
                 "kldload-package-holds.openrc", "kldload-wg0.openrc",
                 "kldload-snapshot.periodic"):
        assert "@" not in template(name).replace("$@", "")


# -- the OpenRC scripts run against a fake root ----------------------------------------

def _stub(bin_dir: Path, name: str, body: str) -> None:
    """A shell stub that logs its argv to $STUB_LOG, then runs `body`."""
    path = bin_dir / name
    path.write_text(f'#!/bin/sh\necho "{name} $*" >> "$STUB_LOG"\n{body}\n')
    path.chmod(0o755)


def test_firstboot_on_openrc_enables_jobs_services_and_holds(tmp_path: Path) -> None:
    from tests.integration.fakeroot import make_host

    a = _answers("KLDLOAD_WIREGUARD=1\n")
    files = [*service_files(a, FACTS, holds=apk_hold_files(),
                            initramfs_rebuild=("kernel-files", "--all"), init_system="openrc"),
             *network_files(a)]
    host = make_host(tmp_path, files)
    root = host.root
    (root / "etc/wireguard/wg0.key").write_text("key\n")
    (root / "lib/apk/db").mkdir(parents=True)
    (root / "lib/apk/db/installed").write_text("P:linux-lts\nV:6.12.30-r0\n\nP:zfs\nV:2.3.4-r0\n")
    (root / "etc/apk").mkdir(parents=True)
    (root / "etc/apk/world").write_text("linux-lts\nzfs\n")
    (root / "etc/kldload").mkdir(parents=True)
    (root / "etc/kldload/held-packages").write_text("linux-lts\nzfs\n")
    host.set_state("datasets", ["rpool/srv"])
    # rc-update keeps runlevel links as OpenRC does; starting the holds service runs
    # its script, as openrc-run would.
    _stub(host.bin, "rc-update", 'l="$KLDLOAD_ROOT/etc/runlevels/$3/$2"\n'
          'case "$1" in add) mkdir -p "${l%/*}" && ln -sfn "/etc/init.d/$2" "$l" ;;\n'
          '  del) rm -f "$l" ;; esac')
    _stub(host.bin, "rc-service", '[ "$2" = status ] && exit 3\n'
          '[ "$1" = kldload-package-holds ] && exec "$KLDLOAD_ROOT/usr/lib/kldload/package-holds"'
          '\nexit 0')
    _stub(host.bin, "kernel-files", "exit 0")
    _stub(host.bin, "apk", 'shift 2; shift; shift\nfor pin in "$@"; do\n'
          '  grep -vx "${pin%%=*}" "$KLDLOAD_ROOT/etc/apk/world" > "$STUB_STATE/w" || :\n'
          '  echo "$pin" >> "$STUB_STATE/w"; mv "$STUB_STATE/w" "$KLDLOAD_ROOT/etc/apk/world"\n'
          'done')
    r = host.run("firstboot")
    assert r.returncode == 0, r.stdout + r.stderr
    calls = host.calls()
    for call in ("rc-update add kldload-wg0 default", "rc-update add crond default",
                 "rc-update add kldload-package-holds default",
                 "rc-update del kldload-firstboot default", "kernel-files --all",
                 "rc-service kldload-wg0 start", "rc-service crond start"):
        assert call in calls, (call, calls)
    for job, interval in (("kldload-snapshot", "hourly"), ("kldload-scrub", "weekly"),
                          ("kldload-srv-snapshot", "15min")):
        copied = root / "etc/periodic" / interval / job
        assert copied.read_text() == (root / "usr/lib/kldload/periodic" / job).read_text()
        assert os.access(copied, os.X_OK)
    assert not (root / "etc/runlevels/default/kldload-firstboot").exists()
    assert (root / "etc/apk/world").read_text().split() == ["linux-lts=6.12.30-r0",
                                                           "zfs=2.3.4-r0"]
    assert (root / "var/lib/kldload/firstboot.done").is_file()
    assert "systemctl" not in " ".join(calls)


def test_firstboot_on_openrc_keeps_itself_enabled_when_a_step_fails(tmp_path: Path) -> None:
    from tests.integration.fakeroot import make_host

    files = service_files(_answers(), FACTS, holds=apk_hold_files(),
                          initramfs_rebuild=("kernel-files", "--all"), init_system="openrc")
    host = make_host(tmp_path, files)
    (host.root / "etc/hostid").write_bytes(b"1234")
    (host.root / "etc/zfs").mkdir(parents=True)
    (host.root / "etc/zfs/zpool.cache").write_text("cache\n")
    _stub(host.bin, "rc-update", "exit 1")
    _stub(host.bin, "rc-service", "exit 0")
    r = host.run("firstboot")
    assert r.returncode == 1
    assert "rc-service kldload-firstboot start" in r.stdout
    assert not (host.root / "var/lib/kldload/firstboot.done").exists()


def test_kernel_files_follows_kernel_hooks(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "boot").mkdir(parents=True)
    (root / "usr/share/kernel/lts").mkdir(parents=True)
    script = root / "usr/lib/kldload/kernel-files"
    for f in kernel_hook_files():
        (root / f.path).parent.mkdir(parents=True, exist_ok=True)
        (root / f.path).write_text(f.content)
        (root / f.path).chmod(f.mode)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stub(bin_dir, "mkinitfs", '[ "$1" = -o ] && echo "initramfs for $3" > "$2"')
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "KLDLOAD_ROOT": str(root),
           "STUB_LOG": str(tmp_path / "calls.log")}

    def kernel(version: str, content: str) -> None:
        (root / f"lib/modules/{version}-lts").mkdir(parents=True)
        (root / "usr/share/kernel/lts/kernel.release").write_text(f"{version}-lts\n")
        (root / "boot/vmlinuz-lts").write_text(content)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["sh", str(script), *args], env=env, capture_output=True,
                              text=True, check=False)

    kernel("6.12.30-0", "kernel one")
    assert run("lts", "6.12.30-0", "").returncode == 0
    assert (root / "boot/vmlinuz-6.12.30-0-lts").read_text() == "kernel one"
    assert (root / "boot/initramfs-6.12.30-0-lts").read_text() == \
        "initramfs for 6.12.30-0-lts\n"
    # An upgrade: the new version's files, the old one's removed.
    kernel("6.12.31-0", "kernel two")
    assert run("lts", "6.12.31-0", "6.12.30-0").returncode == 0
    assert sorted(p.name for p in (root / "boot").iterdir()) == [
        "initramfs-6.12.31-0-lts", "vmlinuz-6.12.31-0-lts", "vmlinuz-lts"]
    # --all rebuilds what has a kernel file, and fails for a version that has none.
    assert run("--all").returncode == 1
    (root / "lib/modules/6.12.30-0-lts").rmdir()
    assert run("--all").returncode == 0
    assert run("lts", "6.12.31-0;reboot", "").returncode == 64
    hook = root / "etc/kernel-hooks.d/50-kldload-kernel"
    assert 'exec /usr/lib/kldload/kernel-files "$@"' in hook.read_text()


def test_the_serial_console_has_a_login() -> None:
    # Every install's kernel command line names console=ttyS0; busybox init, unlike
    # systemd, starts no getty for it unless inittab says so.
    files = {f.path: f.content for f in _backend().system_files()}
    lines = [ln for ln in files["etc/inittab"].splitlines() if ln and not ln.startswith("#")]
    assert SERIAL_GETTY in lines
    # busybox inittab: id:runlevels:action:process, with busybox's actions only.
    actions = {"sysinit", "wait", "once", "respawn", "askfirst", "ctrlaltdel", "shutdown",
               "restart"}
    for line in lines:
        fields = line.split(":", 3)
        assert len(fields) == 4 and fields[2] in actions and fields[3], line
    assert "::sysinit:/sbin/openrc sysinit" in lines and "::wait:/sbin/openrc default" in lines
