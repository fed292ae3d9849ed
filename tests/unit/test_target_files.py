"""Files written into the target: paths, modes, contents per profile and feature."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kldload_tui.backend.answers.file import load_answers, parse_answers
from kldload_tui.backend.answers.model import Answers, Distro
from kldload_tui.backend.distros.apt_holds import (
    apt_hold_files,
    debian_held_packages,
    ubuntu_held_packages,
)
from kldload_tui.backend.target.files import (
    DHCP_NETWORK_PATH,
    LIB_DIR,
    STATIC_NETWORK_PATH,
    TargetFile,
    install_files,
    manifest_files,
    seal_files,
    service_files,
    system_files,
    system_links,
    template,
    units_to_enable,
    wireguard_keygen_argv,
)
from kldload_tui.backend.target.manifest import InstallFacts
from tests.unit.answers_helpers import BASE

EXAMPLES = sorted((Path(__file__).parents[2] / "answers-examples").glob("*.env"))
FACTS = InstallFacts("rpool", "rpool/ROOT/debian", ("linux-image-amd64", "zfs-dkms"), "1.0",
                     datetime(2025, 1, 1, tzinfo=UTC))
SECRETS = {"KLDLOAD_PASSWORD": "Pw-unique-7c1d", "KLDLOAD_ZFS_PASSPHRASE": "Phrase-unique-42ab",
           "KLDLOAD_EXPORT_SCP_PASS": "Scp-unique-e5f0"}
# Set in every example for the secrets test: the secrets and what they need (a
# password upload needs the host's key pinned).
OVERRIDES = {**SECRETS, "KLDLOAD_ZFS_ENCRYPT": "1", "KLDLOAD_EXPORT_FORMAT": "qcow2",
             "KLDLOAD_EXPORT_SCP_HOST": "images.example.org", "KLDLOAD_WIREGUARD": "1",
             "KLDLOAD_EXPORT_SCP_HOST_KEY": "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
             # An image is one disk: the examples' pools become a single disk.
             "KLDLOAD_ZFS_TOPOLOGY": "single", "KLDLOAD_ZFS_DATA_DISKS": "",
             "KLDLOAD_ZFS_SPECIAL_DISKS": ""}


def answers(extra: str = "", base: str = BASE) -> Answers:
    result = parse_answers(base + extra)
    assert result.answers is not None, [p.render() for p in result.errors]
    return result.answers


def by_path(files: list[TargetFile]) -> dict[str, TargetFile]:
    paths = [f.path for f in files]
    assert len(paths) == len(set(paths)), "a path is written twice"
    return {f.path: f for f in files}


def everything(a: Answers) -> list[TargetFile]:
    files = [*manifest_files(a, FACTS), *seal_files()]
    if a.distro in (Distro.DEBIAN, Distro.UBUNTU):
        files += [*system_files(a), *service_files(a, FACTS)]
    return files


# -- secrets ------------------------------------------------------------------

@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_no_secret_of_an_answers_file_reaches_any_target_file(path: Path):
    text = path.read_text()
    for key in OVERRIDES:
        text = re.sub(rf"^{key}=.*$", "", text, flags=re.M)
    text += "".join(f"{k}={v}\n" for k, v in OVERRIDES.items())
    result = parse_answers(text, source=path.name)
    a = result.answers
    assert a is not None, [p.render() for p in result.errors]
    assert a.password.get_secret_value() == SECRETS["KLDLOAD_PASSWORD"]
    for f in everything(a):
        for key, secret in SECRETS.items():
            assert secret not in f.content, f"{key}'s value is in {f.path}"
            assert f"{key}=" not in f.content, f"{key} is in {f.path}"


def test_the_secret_check_would_catch_a_leak(monkeypatch: pytest.MonkeyPatch):
    """Mutation check: were the manifest to forget what is secret, the scan finds it."""
    import kldload_tui.backend.target.manifest

    monkeypatch.setattr(kldload_tui.backend.target.manifest, "SECRET_FIELDS", ())
    a = answers("".join(f"{k}={v}\n" for k, v in OVERRIDES.items()))
    leaked = [s for f in everything(a) for s in SECRETS.values() if s in f.content]
    assert sorted(leaked) == sorted(SECRETS.values())


# -- shape --------------------------------------------------------------------

@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_renders_without_leftover_placeholders(path: Path):
    a = load_answers(path).answers
    assert a is not None
    for f in everything(a):
        assert not re.search(r"@[A-Z_]+@", f.content), f.path
        assert not f.path.startswith("/") and ".." not in f.path.split("/")
        assert f.content.endswith("\n"), f.path


def test_modes():
    files = by_path(install_files(answers("KLDLOAD_WIREGUARD=1\n"), FACTS))
    assert files["etc/kldload/install-manifest.env"].mode == 0o600
    assert files["etc/sudoers.d/kldload-admin"].mode == 0o440
    assert files["etc/wireguard/wg0.conf"].mode == 0o600
    for name in ("firstboot", "manifest-get", "snapshot", "package-holds"):
        assert files[f"usr/lib/kldload/{name}"].mode == 0o755
        assert files[f"usr/lib/kldload/{name}"].content.startswith("#!/bin/sh\n")
    assert files["usr/lib/systemd/system/kldload-firstboot.service"].mode == 0o644


def test_target_paths_stay_inside_the_root():
    for bad in ("/etc/passwd", "etc/../../x", ".."):
        with pytest.raises(ValueError):
            TargetFile(bad, "")


def test_only_firstboot_and_the_network_are_enabled_by_the_engine():
    assert units_to_enable(install_files(answers(), FACTS)) == [
        "systemd-networkd.service", "systemd-resolved.service", "kldload-firstboot.service"]


def test_pool_name_is_filled_in():
    facts = InstallFacts("tank", "tank/ROOT/debian")
    files = by_path(service_files(answers(), facts))
    srv = files["usr/lib/systemd/system/kldload-srv-snapshot.service"].content
    assert "ExecStart=/usr/lib/kldload/snapshot -r frequent 96 tank/srv\n" in srv
    assert "zpool scrub tank\n" in files["usr/lib/systemd/system/kldload-scrub.service"].content
    assert 'POOL="tank"' in files["usr/lib/kldload/firstboot"].content
    assert "[tank/ROOT]" in files["etc/sanoid/sanoid.conf"].content
    assert "rpool" not in "".join(f.content for f in files.values())


def test_a_template_with_a_value_missing_is_an_error():
    with pytest.raises(ValueError, match="@POOL@"):
        template("kldload-scrub.service")


def test_units():
    files = by_path(service_files(answers(), FACTS))
    unit = "usr/lib/systemd/system/"
    firstboot = files[unit + "kldload-firstboot.service"].content
    for line in ("Type=oneshot", "ExecStart=/usr/lib/kldload/firstboot",
                 "ConditionPathExists=!/var/lib/kldload/firstboot.done",
                 "After=network-online.target zfs.target", "WantedBy=multi-user.target"):
        assert f"\n{line}\n" in firstboot
    assert "OnCalendar=hourly\n" in files[unit + "kldload-snapshot.timer"].content
    snapshot = files[unit + "kldload-snapshot.service"].content
    assert "ExecStart=/usr/lib/kldload/snapshot hourly 48 --boot-environment\n" in snapshot
    assert "OnCalendar=*:0/15\n" in files[unit + "kldload-srv-snapshot.timer"].content
    assert "OnCalendar=Sun *-*-* 02:00:00\n" in files[unit + "kldload-scrub.timer"].content
    holds = files[unit + "kldload-package-holds.service"].content
    assert "ExecStart=/usr/lib/kldload/package-holds\n" in holds


# -- profiles and features ------------------------------------------------------

@pytest.mark.parametrize("profile, has_sanoid", [("server", True), ("desktop", True),
                                                 ("core", False)])
def test_sanoid_policy_by_profile(profile: str, has_sanoid: bool):
    files = by_path(service_files(answers(f"KLDLOAD_PROFILE={profile}\n"), FACTS))
    assert ("etc/sanoid/sanoid.conf" in files) is has_sanoid


def test_sanoid_policy_is_the_seeds_production_template():
    conf = by_path(service_files(answers(), FACTS))["etc/sanoid/sanoid.conf"].content
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for raw in conf.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        assert "#" not in value, f"sanoid would read the comment into {key}"
        current[key] = value
    for ds in ("rpool/ROOT", "rpool/srv", "rpool/home"):
        assert sections[ds] == {"use_template": "production", "recursive": "yes"}
    assert sections["template_production"] == {
        "frequently": "4", "hourly": "24", "daily": "30", "monthly": "12", "yearly": "2",
        "autosnap": "yes", "autoprune": "yes"}


def test_wireguard_cluster_config():
    a = answers("KLDLOAD_WIREGUARD=1\nKLDLOAD_INFRA_MODE=cluster\n"
                "KLDLOAD_CLUSTER_CIDR=10.100.0.0/24\nKLDLOAD_CLUSTER_DOMAIN=mgmt.example\n")
    conf = by_path(service_files(a, FACTS))["etc/wireguard/wg0.conf"].content
    active = [line for line in conf.splitlines() if line and not line.startswith("#")]
    assert active == ["[Interface]", "ListenPort = 51820",
                      "PostUp = wg set %i private-key /etc/wireguard/wg0.key"]
    assert "PrivateKey" not in conf
    assert "10.100.0.0/24" in conf and "#Endpoint = hub.mgmt.example:51820" in conf
    assert "#AllowedIPs = 10.100.0.0/24" in conf and "#[Peer]" in conf


def test_wireguard_off_writes_no_interface():
    assert not any(f.path.startswith("etc/wireguard") for f in service_files(answers(), FACTS))


def test_wireguard_standalone_has_no_cluster_network():
    conf = by_path(service_files(answers("KLDLOAD_WIREGUARD=1\n"), FACTS))[
        "etc/wireguard/wg0.conf"].content
    assert "Cluster network" not in conf and "#Address = <address>/<prefix>" in conf


def test_wireguard_keygen_argv_is_constant():
    argv = wireguard_keygen_argv("/mnt/kldload")
    assert argv[:4] == ["chroot", "/mnt/kldload", "/bin/sh", "-c"]
    assert "umask 077" in argv[4] and "wg genkey > /etc/wireguard/wg0.key.new" in argv[4]


def test_package_holds_are_the_distribution_backends(monkeypatch):
    holds = f"{LIB_DIR}/package-holds"
    # Debian's backend holds with apt-mark; asked for when no holds are given.
    assert holds in by_path(service_files(answers(), FACTS))
    assert "apt-mark hold" in by_path(apt_hold_files())[holds].content
    # The Red Hat family's holds with dnf versionlock.
    rocky = answers(base="KLDLOAD_DISTRO=rocky\nKLDLOAD_DISK=/dev/sda\nKLDLOAD_HOSTNAME=h\n")
    dnf_script = by_path(service_files(rocky, FACTS))[holds].content
    assert "dnf -q -y versionlock add" in dnf_script and "apt-mark" not in dnf_script
    rhel = answers(base="KLDLOAD_DISTRO=rhel\nKLDLOAD_DISK=/dev/sda\nKLDLOAD_HOSTNAME=h\n")
    assert by_path(service_files(rhel, FACTS))[holds].content == dnf_script
    # Each package manager's own mechanism, read back by the same shared script.
    for distro, mark in (("fedora", "dnf versionlock list"), ("arch", "pacman-conf"),
                         ("alpine", "/etc/apk/world")):
        other = answers(base=f"KLDLOAD_DISTRO={distro}\nKLDLOAD_DISK=/dev/sda\n"
                             "KLDLOAD_HOSTNAME=h\n")
        assert mark in by_path(service_files(other, FACTS))[holds].content, distro
    # A distribution no backend serves holds nothing: no script for it (RHEL's
    # module hidden, as if it were not there).
    from kldload_tui.backend.distros.rhel import RedHatBackend

    monkeypatch.setattr(RedHatBackend, "serves", ())
    assert holds not in by_path(service_files(rhel, FACTS))
    assert holds not in by_path(service_files(answers(), FACTS, holds=()))
    assert [f.path for f in manifest_files(rhel, FACTS)] == [
        "etc/kldload/install-manifest.env", "etc/kldload/held-packages"]


def test_held_packages():
    assert debian_held_packages(bootloader=("systemd-boot",)) == (
        "linux-image-amd64", "zfs-dkms", "zfsutils-linux", "zfs-initramfs",
        "linux-headers-amd64", "systemd-boot")
    prebuilt = debian_held_packages(zfs_module="zfs-modules-6.1.0-57-amd64")
    assert "zfs-modules-6.1.0-57-amd64" in prebuilt and "linux-headers-amd64" not in prebuilt
    assert "zfs-dkms" not in ubuntu_held_packages()
    held = by_path(manifest_files(answers(), FACTS))["etc/kldload/held-packages"].content
    assert [x for x in held.splitlines() if not x.startswith("#")] == [
        "linux-image-amd64", "zfs-dkms"]


# -- system files -----------------------------------------------------------------

def test_identity_locale_keyboard_sudo():
    a = answers("KLDLOAD_TIMEZONE=America/Vancouver\nKLDLOAD_LOCALE=de_DE.UTF-8\n"
                "KLDLOAD_KEYBOARD_LAYOUT=de\nKLDLOAD_KEYBOARD_VARIANT=nodeadkeys\n"
                "KLDLOAD_USERNAME=ops\n")
    files = by_path(system_files(a))
    assert files["etc/hostname"].content == "web-01\n"
    assert "\n127.0.1.1\tweb-01\n" in files["etc/hosts"].content
    assert files["etc/default/locale"].content == "LANG=de_DE.UTF-8\n"
    assert files["etc/timezone"].content == "America/Vancouver\n"
    keyboard = files["etc/default/keyboard"].content
    assert 'XKBLAYOUT="de"\n' in keyboard and 'XKBVARIANT="nodeadkeys"\n' in keyboard
    assert files["etc/sudoers.d/kldload-admin"].content.endswith("ops ALL=(ALL) NOPASSWD:ALL\n")
    assert system_links(a)[0].path == "etc/localtime"
    assert system_links(a)[0].target == "/usr/share/zoneinfo/America/Vancouver"


@pytest.mark.parametrize("extra, line, short", [
    ("KLDLOAD_INFRA_MODE=cluster\nKLDLOAD_CLUSTER_CIDR=10.9.0.0/24\n"
     "KLDLOAD_CLUSTER_DOMAIN=infra.example\n", "127.0.1.1\tweb-01.infra.example web-01", "web-01"),
    ("", "127.0.1.1\tweb-01", "web-01"),
])
def test_hosts_fqdn(extra: str, line: str, short: str):
    files = by_path(system_files(answers(extra)))
    assert f"\n{line}\n" in files["etc/hosts"].content
    assert files["etc/hostname"].content == f"{short}\n"


def test_dotted_hostname_is_the_fqdn():
    a = answers(base="KLDLOAD_DISTRO=debian\nKLDLOAD_DISK=/dev/sda\n"
                "KLDLOAD_HOSTNAME=db1.example.org\n")
    files = by_path(system_files(a))
    assert files["etc/hostname"].content == "db1\n"
    assert "\n127.0.1.1\tdb1.example.org db1\n" in files["etc/hosts"].content


@pytest.mark.parametrize("extra, match", [
    ("", "Name=en* eth*"),
    ("KLDLOAD_NET_IFACE=enp1s0\n", "Name=enp1s0"),
])
def test_dhcp_network(extra: str, match: str):
    f = by_path(system_files(answers(extra)))[DHCP_NETWORK_PATH]
    assert f.content.splitlines()[1:] == ["[Match]", match, "", "[Network]", "DHCP=yes"]
    assert f.units_to_enable == ["systemd-networkd.service", "systemd-resolved.service"]


def test_static_network():
    a = answers("KLDLOAD_NET_METHOD=static\nKLDLOAD_NET_IFACE=eth0\nKLDLOAD_NET_IP=10.0.1.50\n"
                "KLDLOAD_NET_PREFIX=24\nKLDLOAD_NET_GW=10.0.1.1\nKLDLOAD_NET_DNS=1.1.1.1,9.9.9.9\n")
    files = by_path(system_files(a))
    assert DHCP_NETWORK_PATH not in files
    assert files[STATIC_NETWORK_PATH].content.splitlines()[1:] == [
        "[Match]", "Name=eth0", "", "[Network]", "Address=10.0.1.50/24", "Gateway=10.0.1.1",
        "DNS=1.1.1.1", "DNS=9.9.9.9"]


# -- seal -------------------------------------------------------------------------

def test_cloud_init_datasource_is_exactly_the_seeds():
    [f] = seal_files()
    assert f.path == "etc/cloud/cloud.cfg.d/99-kldload-datasource.cfg"
    assert f.content == (
        "# /etc/cloud/cloud.cfg.d/99-kldload-datasource.cfg\n"
        "# Written by k_seal_image_for_clone() during export\n"
        "datasource_list: [ NoCloud, ConfigDrive, OpenStack, Azure, GCE, Ec2, None ]\n")
    assert f.units_to_enable == ["kldload-firstboot.service", "cloud-init-local.service",
                                 "cloud-init.service", "cloud-config.service",
                                 "cloud-final.service"]


def test_cloud_init_renders_the_network_the_distribution_runs():
    files = seal_files(("networkd",))
    assert [f.path for f in files] == ["etc/cloud/cloud.cfg.d/99-kldload-datasource.cfg",
                                       "etc/cloud/cloud.cfg.d/99-kldload-network.cfg"]
    body = [line for line in files[1].content.splitlines() if not line.startswith("#")]
    assert body == ["system_info:", "  network:", "    renderers: [ networkd ]"]
