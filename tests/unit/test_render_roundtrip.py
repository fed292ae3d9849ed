"""Every file rendered from answer values into the target reads back, through a
reader for its format, to exactly the values put in (issue #10).

Answers are built through the model: candidate strings, well-formed ones and
the same with hostile text (blanks, quotes, `=`, `#`, `$`, backslashes, `%`
scope ids, `~`, C0 and C1 controls, bidi overrides, Unicode spaces and line
separators) put in, of which only what the model accepts is kept; a refused
candidate falls back to a well-formed one. The cross-field rules must pass too,
since the engine renders nothing for answers that fail them. The readers are in
`format_parsers` and read as systemd, glibc, sudo, apt, sshd, wg-quick, dash and
the manifest's awk do.

Where a reader cannot hold a value the model accepts, the fix belongs in
validation (the value is refused before any write) or in the renderer (it is
quoted for the format); nothing is excused here.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import posixpath
import re
import shutil
import string
import struct
import subprocess
import tempfile
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr, TypeAdapter, ValidationError

from kldload_tui.backend.answers.file import REDACTED, answers_to_env, dump_answers, parse_answers
from kldload_tui.backend.answers.model import (
    KNOWN_KEYS,
    REQUIRED_KEYS,
    SECRET_FIELDS,
    Answers,
    DebianSuite,
    Distro,
    ExportFormat,
    FinishAction,
    InfraMode,
    InitramfsModules,
    NetMethod,
    Profile,
    Topology,
    env_key,
)
from kldload_tui.backend.answers.rules import check_answers
from kldload_tui.backend.answers.summary import summarize
from kldload_tui.backend.distros.apt_keys import ARCHIVE_KEYRING, TARGET_DARKSITE_KEYRING
from kldload_tui.backend.distros.debian import DebianBackend
from kldload_tui.backend.distros.debian_config import KEPT_DARKSITE
from kldload_tui.backend.distros.system_config import chpasswd_input
from kldload_tui.backend.problems import Severity
from kldload_tui.backend.target.files import (
    DHCP_NETWORK_PATH,
    HELD_PACKAGES_PATH,
    LIB_DIR,
    STATIC_NETWORK_PATH,
    SUDOERS_PATH,
    UNIT_DIR,
    authorized_keys,
    locale_gen,
    manifest_files,
    service_files,
    system_files,
    system_links,
    template,
    wireguard_config,
)
from kldload_tui.backend.target.manifest import (
    DEFAULT_PASSWORD,
    MANIFEST_PATH,
    SECRET_KEYS,
    InstallFacts,
    installer_version,
    read_manifest,
    render_manifest,
)

from . import format_parsers as fp

# -- hostile text ------------------------------------------------------------------

HOSTILE = (" \t'\"=#$\\`%;&|<>()*?~^!,:/@[]{}.+-_"
           "é\u00a0\u2003\u3000\u2028\u2029\x85\x9b\u202e\u200b\ufeff😀"
           "\n\r\x00\x1b\x7f")
_char = st.one_of(st.sampled_from(HOSTILE), st.characters(exclude_categories=["Cs"]))
hostile = st.text(_char, min_size=1, max_size=10)


@st.composite
def _spiked(draw: st.DrawFn, base: st.SearchStrategy[str]) -> str:
    text = draw(base)
    at = draw(st.integers(0, len(text)))
    return text[:at] + draw(hostile) + text[at:]


def spiked(base: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Well-formed values, and the same with hostile text put in somewhere."""
    return st.one_of(base, _spiked(base))


def word(first: str, rest: str, max_size: int) -> st.SearchStrategy[str]:
    """A first character from `first`, then up to `max_size - 1` from `rest`
    (cheaper to draw than `st.from_regex`)."""
    return st.builds(str.__add__, st.sampled_from(first),
                     st.text(st.sampled_from(rest), max_size=max_size - 1))


LOWER, UPPER, DIGITS = string.ascii_lowercase, string.ascii_uppercase, string.digits
ALNUM = LOWER + UPPER + DIGITS


# -- values the model accepts ------------------------------------------------------

_ADAPTERS = {name: TypeAdapter(Annotated[(f.annotation, *f.metadata)])
             for name, f in Answers.model_fields.items()}
_REFUSED = object()


def _first_label_is_a_name(host: str) -> bool:
    return not fp.resolver_reads_as_address(host.split(".", 1)[0])


def _scope_index_ok(address: str) -> bool:
    scope = address.partition("%")[2]
    return not scope.isdigit() or fp.systemd_ifname_ok(scope)


def _url_without_blanks(url: str) -> bool:
    return url.isprintable() and not any(c.isspace() for c in url)


# What the readers need of a value and validation guarantees: checked on every
# value the model accepts.
INVARIANTS: dict[str, Callable[[Any], bool]] = {
    # glibc takes `123`, `0x7f` or `010` for an address and never looks it up.
    "hostname": _first_label_is_a_name,
    # apt splits URIs: on blanks.
    "custom_mirror_url": _url_without_blanks,
    "debian_mirror": _url_without_blanks,
    # systemd refuses index 0 and reads `010` as octal.
    "net_dns": lambda servers: all(_scope_index_ok(s) for s in servers),
}


def _validated(name: str, value: Any) -> Any:
    try:
        checked = _ADAPTERS[name].validate_python(value)
    except ValidationError:
        return _REFUSED
    holds = INVARIANTS.get(name)
    assert holds is None or holds(checked), (name, checked)
    return checked


@st.composite
def field(draw: st.DrawFn, name: str, candidates: st.SearchStrategy[Any],
          fallback: st.SearchStrategy[Any] | None = None) -> Any:
    """A value the model accepts for `name`: a candidate, else a fallback, else the default."""
    for strategy in (candidates, fallback):
        if strategy is not None:
            value = _validated(name, draw(strategy))
            if value is not _REFUSED:
                return value
    default = Answers.model_fields[name].default
    assert _validated(name, default) is not _REFUSED, name
    return default


@st.composite
def items(draw: st.DrawFn, name: str, candidates: st.SearchStrategy[str],
          max_size: int = 3) -> tuple[str, ...]:
    """A list field: each accepted candidate kept, as the TUI would hold them."""
    kept: list[str] = []
    for item in draw(st.lists(candidates, max_size=max_size)):
        value = _validated(name, [item])
        if value is not _REFUSED:
            kept += list(value)
    whole = _validated(name, kept)
    assume(whole is not _REFUSED)
    return tuple(whole)


_label = st.one_of(word(ALNUM, ALNUM + "-", 10), st.sampled_from(
    ["123", "0x7f", "010", "9", "a" * 63, "localhost", "xn--bcher-kva", "web-01"]))
dns_names = st.lists(_label, min_size=1, max_size=4).map(".".join)
ifnames = word(ALNUM + "_.:-", ALNUM + "_.:-", 15)
_scopes = st.one_of(ifnames, st.integers(1, 99).map(str), hostile,
                    st.sampled_from(["0", "010", "eth0", "wg0", "br-lan.10", "4294967296"]))


def scoped(address: ipaddress.IPv4Address | ipaddress.IPv6Address,
           scope: str | None) -> str:
    return str(address) if scope is None else f"{address}%{scope}"


_link_local = st.integers(0, 2**64 - 1).map(lambda n: ipaddress.IPv6Address((0xfe80 << 112) | n))
# Link-local addresses half of the time: only they take a scope id.
_ip = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6), _link_local, _link_local)
addresses = st.builds(scoped, _ip, st.one_of(st.none(), _scopes))
usernames = spiked(word(LOWER + "_", LOWER + DIGITS + "_-", 12))
keyboard_names = spiked(word(LOWER, LOWER + DIGITS + "_-", 12))
locales = spiked(st.one_of(
    st.sampled_from(["C", "POSIX", "C.UTF-8", "en_US.UTF-8", "de_DE@euro",
                     "ca_ES.UTF-8@valencia", "ja_JP.eucJP", "ast_ES.UTF-8", "en_GB"]),
    st.builds("{}{}{}{}".format, st.sampled_from(["en", "de", "ast", "sr"]),
              st.sampled_from(["", "_US", "_DE", "_RS"]),
              st.sampled_from(["", ".UTF-8", ".ISO-8859-15", ".utf8"]),
              st.sampled_from(["", "@euro", "@latin"]))))
_zones = sorted(zoneinfo.available_timezones())
# Few misspelt zones: each refusal runs a did-you-mean over the whole database.
timezones = st.one_of(st.sampled_from(_zones), st.sampled_from(
    ["posixrules", "localtime", "Factory", "right/UTC", "../UTC", "UTC ", "Etc/GMT+5",
     "Europe/Berlin#", "America/Port-au-Prince", "Etc/GMT-14"]))
packages = spiked(word(LOWER + DIGITS, LOWER + DIGITS + "+.-", 12).flatmap(
    lambda name: st.sampled_from([name, f"{name}=1.0~rc1-2", f"{name}/bookworm-backports",
                                  f"{name}:amd64", f"{name}-", f"{name}+"])))
abs_paths = st.one_of(st.sampled_from(["/", "/srv/images:~backup/", "/~root", "/a b/'c'"]),
                      st.text(_char, max_size=16).map(lambda s: "/" + s),
                      st.text(st.sampled_from(ALNUM + "._~-/:"), max_size=20).map(
                          lambda s: "/" + s))
devices = spiked(st.text(st.sampled_from(ALNUM + "._:+@-"), min_size=1, max_size=10).map(
    lambda s: "/dev/" + s))
secrets = st.text(_char, min_size=1, max_size=24)
efi_labels = spiked(word(ALNUM, ALNUM + " ._-", 36))
releases = spiked(st.text(st.sampled_from(DIGITS), min_size=1, max_size=3))


def _ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


@st.composite
def _key_blob(draw: st.DrawFn) -> tuple[str, bytes]:
    """A whole public key of one of the types, now and then cut short."""
    kind = draw(st.sampled_from(["ssh-ed25519", "sk-ssh-ed25519@openssh.com", "ssh-rsa",
                                 "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384"]))
    if kind == "ssh-rsa":
        n = b"\x00" + bytes([0x80 | draw(st.integers(0, 127))]) + draw(
            st.binary(min_size=127, max_size=127))
        fields = [b"\x01\x00\x01", n]
    elif kind.startswith("ecdsa"):
        curve = kind.rsplit("-", 1)[1]
        size = {"nistp256": 64, "nistp384": 96}[curve]
        fields = [curve.encode(), b"\x04" + draw(st.binary(min_size=size, max_size=size))]
    else:
        fields = [draw(st.binary(min_size=32, max_size=32))]
        if kind.startswith("sk-"):
            fields.append(b"ssh:")
    raw = b"".join(_ssh_string(f) for f in [kind.encode(), *fields])
    if draw(st.integers(0, 9)) == 0:
        raw = raw[:draw(st.integers(0, len(raw)))]
    return kind, raw


_BLANKS = st.sampled_from([" ", "  ", "\t", "\u00a0", "\u2003", "\x85", "\u3000"])


@st.composite
def ssh_keys(draw: st.DrawFn) -> str:
    """Public key lines: whole keys, any separators, hostile comments, stray blanks."""
    kind, raw = draw(_key_blob())
    key = kind + draw(_BLANKS) + base64.b64encode(raw).decode()
    comment = draw(st.one_of(st.just(""), st.sampled_from(["me@host", "a b  c", "#x", "k=v"]),
                             st.text(_char, max_size=16)))
    if comment:
        key += draw(_BLANKS) + comment
    edge = st.sampled_from(["", " ", "\t", "\u00a0", "\n"])
    return draw(edge) + key + draw(edge)


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https", "file", "ftp", ""]))
    host = draw(st.one_of(dns_names, st.ip_addresses(v=4).map(str),
                          st.ip_addresses(v=6).map(lambda a: f"[{a}]")))
    port = draw(st.sampled_from(["", ":8080", ":~root", ":"]))
    path = draw(st.one_of(st.text(st.sampled_from(ALNUM + "/._~-:"), max_size=16).map(
        lambda s: "/" + s), st.text(_char, max_size=12).map(lambda s: "/" + s)))
    url = f"{scheme}://{host}{port}{path}" if scheme != "file" or draw(st.booleans()) \
        else f"file:{path}"
    edge = st.sampled_from(["", "", "", "", " ", "\t", "\u00a0"])
    return draw(edge) + url + draw(edge)


@st.composite
def networks(draw: st.DrawFn) -> str:
    """A cluster CIDR, host bits or a scope id now and then."""
    if draw(st.booleans()):
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = draw(st.ip_addresses(v=4))
        prefix = draw(st.integers(8, 30))
    else:
        ip, prefix = draw(st.ip_addresses(v=6)), draw(st.integers(64, 124))
    net = ipaddress.ip_network((ip, prefix), strict=False)
    address = draw(st.sampled_from([net.network_address, ip]))
    return f"{scoped(address, draw(st.one_of(st.none(), _scopes)))}/{prefix}"


@st.composite
def static_network(draw: st.DrawFn) -> dict[str, Any]:
    """Address, prefix and a gateway inside the network, scope ids now and then."""
    ip = draw(_ip)
    prefix = draw(st.integers(1, ip.max_prefixlen))
    net = ipaddress.ip_network((ip, prefix), strict=False)
    gw = net.network_address + draw(st.integers(0, min(net.num_addresses - 1, 2**32)))
    out: dict[str, Any] = {"net_method": NetMethod.STATIC, "net_prefix": prefix}
    for name, address in (("net_ip", ip), ("net_gw", gw)):
        value = _validated(name, scoped(address, draw(st.one_of(st.none(), _scopes))))
        out[name] = value if value is not _REFUSED else _validated(name, str(address))
        assume(out[name] is not _REFUSED)  # the unspecified address, a multicast one...
    return out


_DISKS = {Topology.SINGLE: (1,), Topology.MIRROR: (2, 3), Topology.RAIDZ1: (3, 4),
          Topology.MIRROR_STRIPE: (4, 6)}
_good_disks = st.sampled_from([f"/dev/sd{c}" for c in "abcdefghijkl"])
_FLAGS = ("generate_ssh_key", "force_wipe", "enable_kvm", "enable_ebpf", "enable_ai",
          "nvidia_drivers", "wireguard", "keep_darksite")
_STRATEGIES = {
    "disk": field("disk", devices, _good_disks),
    "hostname": field("hostname", spiked(dns_names), st.just("web-01")),
    "username": field("username", usernames),
    "password": field("password", st.one_of(secrets, st.sampled_from(
        ["admin", "changeme", "password"])).map(SecretStr)),
    "timezone": field("timezone", timezones),
    "locale": field("locale", locales),
    "keyboard_layout": field("keyboard_layout", keyboard_names),
    "keyboard_variant": field("keyboard_variant", st.one_of(st.just(""), keyboard_names)),
    "ssh_pubkey": field("ssh_pubkey", st.one_of(st.just(""), ssh_keys())),
    "admin_ssh_pubkey": field("admin_ssh_pubkey", st.one_of(st.just(""), ssh_keys())),
    "zfs_passphrase": field("zfs_passphrase", secrets.map(SecretStr),
                            st.just(SecretStr("passphrase"))),
    "net_iface": field("net_iface", st.one_of(st.just(""), spiked(ifnames))),
    "net_dns": items("net_dns", addresses),
    "extra_packages": items("extra_packages", packages, max_size=4),
    "custom_mirror_url": field("custom_mirror_url", st.one_of(st.just(""), urls())),
    "debian_mirror": field("debian_mirror", st.one_of(st.just(""), urls())),
    "cluster_cidr": field("cluster_cidr", networks(), st.just("10.100.0.0/24")),
    "cluster_domain": field("cluster_domain", spiked(dns_names)),
    "hub_lan": field("hub_lan", st.one_of(st.just(""), spiked(ifnames))),
    "export_scp_host": field("export_scp_host", st.one_of(spiked(dns_names), addresses),
                             st.just("images.example.org")),
    "export_scp_user": field("export_scp_user", st.one_of(st.just("root"), usernames)),
    "export_scp_path": field("export_scp_path", abs_paths),
    "export_scp_key": field("export_scp_key", abs_paths),
    "export_scp_pass": field("export_scp_pass", secrets.map(SecretStr)),
    "release": field("release", releases),
    "bootloader_id": field("bootloader_id", efi_labels),
}


@st.composite
def answers(draw: st.DrawFn, *, apt_only: bool = True) -> Answers:
    """Answers that pass the model and the cross-field rules, values drawn as above."""
    s = _STRATEGIES
    v: dict[str, Any] = {name: draw(s[name]) for name in (
        "hostname", "username", "password", "timezone", "locale", "keyboard_layout",
        "keyboard_variant", "ssh_pubkey", "admin_ssh_pubkey", "net_iface", "net_dns",
        "extra_packages", "custom_mirror_url", "debian_mirror", "cluster_domain", "hub_lan",
        "release", "bootloader_id")}
    v["distro"] = draw(st.sampled_from([Distro.DEBIAN, Distro.UBUNTU] if apt_only
                                       else list(Distro)))
    v["profile"] = draw(st.sampled_from(list(Profile)))
    topology = draw(st.sampled_from(list(Topology)))
    n = draw(st.sampled_from(_DISKS[topology]))
    special = draw(st.sampled_from([0, 1] if topology is Topology.SINGLE else [0, 2]))
    disks = draw(st.lists(s["disk"], min_size=n + special, max_size=n + special, unique=True))
    v.update(zfs_topology=topology, disk=disks[0], zfs_data_disks=disks[1:n],
             zfs_special_disks=disks[n:])
    v.update({name: draw(st.booleans()) for name in _FLAGS})
    v["zfs_encrypt"] = draw(st.booleans())
    if v["zfs_encrypt"] or draw(st.integers(0, 4)) == 0:
        v["zfs_passphrase"] = draw(s["zfs_passphrase"])
    if draw(st.booleans()):
        v.update(draw(static_network()))
    if draw(st.booleans()):
        v["infra_mode"] = InfraMode.CLUSTER
        v["cluster_cidr"] = draw(s["cluster_cidr"])
        net = ipaddress.ip_network(v["cluster_cidr"])
        v["cluster_size"] = draw(st.integers(1, min(max(net.num_addresses - 3, 1), 65534)))
    v["export_format"] = draw(st.sampled_from(list(ExportFormat)))
    if v["export_format"] is not ExportFormat.NONE and draw(st.booleans()):
        for name in ("export_scp_host", "export_scp_user", "export_scp_path"):
            v[name] = draw(s[name])
        v["export_scp_key"] = draw(s["export_scp_key"])
        if not v["export_scp_key"]:
            v["export_scp_key"] = "/root/.ssh/id_ed25519"
    v["debian_suite"] = draw(st.sampled_from(list(DebianSuite)))
    v["initramfs_modules"] = (InitramfsModules.MOST if v["export_format"]
                              is not ExportFormat.NONE else
                              draw(st.sampled_from(list(InitramfsModules))))
    v["finish_action"] = draw(st.sampled_from(list(FinishAction)))
    a = Answers.model_validate(v)
    assume(not [p for p in check_answers(a) if p.severity is Severity.ERROR])
    return a


@st.composite
def facts(draw: st.DrawFn) -> InstallFacts:
    pool = draw(st.one_of(st.sampled_from(["rpool", "tank", "zroot"]),
                          word(LOWER, ALNUM + "_.:-", 12)))
    held = draw(st.lists(word(LOWER + DIGITS, LOWER + DIGITS + "+.-", 20).filter(
        lambda p: len(p) > 1), max_size=6, unique=True))
    version = draw(st.one_of(st.sampled_from(["1.0", "0.3.dev4+g1a2b3c4", "0+unknown"]),
                             st.text(_char, max_size=12)))
    offset = draw(st.integers(-14 * 60, 14 * 60))
    date = draw(st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2200, 1, 1),
                             timezones=st.just(timezone(timedelta(minutes=offset)))))
    try:
        return InstallFacts(pool, f"{pool}/ROOT/debian", tuple(held), version, date)
    except ValueError:  # a version with a line break, say: the facts refuse it
        return InstallFacts(pool, f"{pool}/ROOT/debian", tuple(held), "1.0", date)


def examples(n: int) -> settings:
    return settings(max_examples=n, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


# Each check reads one renderer's output back; the tests below run them over
# the same drawn answers, since drawing answers costs far more than checking.

def expected_names(a: Answers) -> tuple[str, str]:
    """(short name, FQDN), worked out here rather than asked of target_files."""
    if "." in a.hostname:
        return a.hostname.partition(".")[0], a.hostname
    if a.infra_mode is InfraMode.CLUSTER:
        return a.hostname, f"{a.hostname}.{a.cluster_domain}"
    return a.hostname, a.hostname


def check_identity_locale_keyboard_sudo(a: Answers, files: dict[str, str]) -> None:
    short, fqdn = expected_names(a)
    assert fp.hostname_file(files["etc/hostname"]) == short
    entries = dict(fp.hosts(files["etc/hosts"]))
    assert entries["127.0.0.1"] == ["localhost"]
    # The machine's names, each exactly one field, FQDN first as Debian has it,
    # and each one the resolver looks up as a name.
    assert entries["127.0.1.1"] == ([fqdn, short] if fqdn != short else [short])
    assert not any(fp.resolver_reads_as_address(n) for n in entries["127.0.1.1"])

    assert fp.sh_assignments(files["etc/default/locale"]) == {"LANG": a.locale}
    assert fp.lines(files["etc/timezone"]) == [a.timezone]
    [link] = system_links(a)
    assert link.target == posixpath.normpath(link.target) == f"/usr/share/zoneinfo/{a.timezone}"
    keyboard = fp.sh_assignments(files["etc/default/keyboard"])
    assert (keyboard["XKBLAYOUT"], keyboard["XKBVARIANT"]) == (a.keyboard_layout,
                                                               a.keyboard_variant)
    assert fp.sudoers_user_specs(files[SUDOERS_PATH]) == [([a.username],
                                                          "ALL=(ALL)NOPASSWD:ALL")]


def check_networkd(a: Answers, files: dict[str, str]) -> None:
    static = a.net_method is NetMethod.STATIC
    paths = [p for p in files if p.startswith("etc/systemd/network/")]
    assert paths == [STATIC_NETWORK_PATH if static else DHCP_NETWORK_PATH]
    s = fp.systemd_ini(files[paths[0]])
    names = [w for v in fp.settings_of(s, "Match", "Name") for w in fp.systemd_words(v)]
    assert names == ([a.net_iface] if a.net_iface else ["en*", "eth*"])
    if static:
        [address] = fp.settings_of(s, "Network", "Address")
        assert fp.networkd_prefix(address) == (a.net_ip, a.net_prefix)
        [gateway] = fp.settings_of(s, "Network", "Gateway")
        assert fp.networkd_address(gateway) == a.net_gw
        assert fp.settings_of(s, "Network", "DHCP") == []
    else:
        assert fp.settings_of(s, "Network", "DHCP") == ["yes"]
        assert fp.settings_of(s, "Network", "Address") == []
    # Every server listed, each exactly as answered: no port, no SNI name read into it.
    servers = [fp.networkd_dns(w) for v in fp.settings_of(s, "Network", "DNS")
               for w in fp.systemd_words(v)]
    assert [d.as_answered() for d in servers] == list(a.net_dns)
    assert all(d.port is None and d.server_name is None for d in servers)


def check_apt_sources(a: Answers, darksite: bool) -> None:
    debian = DebianBackend(a)
    for uri in (a.custom_mirror_url, a.debian_mirror, f"file:{KEPT_DARKSITE}"):
        if not uri:
            continue
        keys = f"{ARCHIVE_KEYRING} {TARGET_DARKSITE_KEYRING}" if darksite else None
        [stanza] = fp.deb822(debian.sources(uri, keys))
        assert fp.deb822_words(stanza["uris"]) == [uri]
        assert fp.deb822_words(stanza["types"]) == ["deb"]
        assert fp.deb822_words(stanza["suites"]) == [a.debian_suite.value]
        assert fp.deb822_words(stanza["components"]) == debian.components()
        # Never trusted unchecked: the darksite's key is named, or apt's default keys.
        assert "trusted" not in stanza
        assert (fp.deb822_words(stanza["signed-by"]) if "signed-by" in stanza else None) == (
            [str(ARCHIVE_KEYRING), TARGET_DARKSITE_KEYRING] if darksite else None)


def check_wireguard(a: Answers) -> None:
    text = wireguard_config(a)
    live = fp.wg_quick(text)
    assert [(s.section, s.key, s.value) for s in live] == [
        ("Interface", "ListenPort", "51820"),
        ("Interface", "PostUp", "wg set %i private-key /etc/wireguard/wg0.key")]
    # The commented example peer, once an operator uncomments it.
    example = "".join(line[1:] + "\n" for line in fp.lines(text)
                      if line.startswith(("#[", "#Endpoint", "#AllowedIPs", "#Persistent")))
    peer = {s.key: s.value for s in fp.wg_quick(example)}
    if a.infra_mode is InfraMode.CLUSTER and a.cluster_cidr:
        host, _, port = peer["Endpoint"].rpartition(":")
        assert (host, port) == (f"hub.{a.cluster_domain}", "51820")
        assert fp.wg_allowed_ips(peer["AllowedIPs"]) == [a.cluster_cidr]
        assert f"# Cluster network {a.cluster_cidr}, domain {a.cluster_domain}, up to " \
               f"{a.cluster_size} nodes." in fp.lines(text)
    else:
        assert peer["Endpoint"] == "<host>:51820"


def check_services_and_held_packages(a: Answers, f: InstallFacts) -> None:
    held = {t.path: t.content for t in manifest_files(a, f)}[HELD_PACKAGES_PATH]
    assert [ln for ln in fp.lines(held) if not ln.startswith("#")] == list(f.held_packages)
    files = {t.path: t.content for t in service_files(a, f)}
    for path, content in files.items():
        if path.startswith(UNIT_DIR):
            fp.systemd_ini(content)  # every unit reads
    scrub = fp.systemd_ini(files[f"{UNIT_DIR}/kldload-scrub.service"])
    [start] = fp.settings_of(scrub, "Service", "ExecStart")
    assert fp.systemd_words(start) == ["/usr/sbin/zpool", "scrub", f.pool]
    pool_line = next(ln for ln in fp.lines(files[f"{LIB_DIR}/firstboot"])
                     if ln.startswith("POOL="))
    assert fp.sh_assignments(pool_line + "\n") == {"POOL": f.pool}
    if a.profile in (Profile.SERVER, Profile.DESKTOP):
        sanoid = fp.sanoid_ini(files["etc/sanoid/sanoid.conf"])
        assert [s.section for s in sanoid if s.key == "use_template"] == [
            f"{f.pool}/ROOT", f"{f.pool}/srv", f"{f.pool}/home"]


_ANSWER_FIELDS = [n for n in Answers.model_fields if n not in SECRET_FIELDS]


def check_sources_the_same(text: str, values: dict[str, str]) -> None:
    """`. FILE` in dash sets exactly `values`, and expands nothing."""
    expanded: set[str] = set()
    assert fp.sh_assignments(text, expanded) == values
    assert expanded == set()


def check_manifest(a: Answers, f: InstallFacts) -> None:
    text = render_manifest(a, f)
    values = read_manifest(text)
    # manifest-get's awk, which firstboot uses, reads every key the same.
    assert {k: fp.manifest_get(text, k) for k in values} == values
    check_sources_the_same(text, values)

    assert not SECRET_KEYS & set(values)
    answered = {k: v for k, v in values.items() if k in KNOWN_KEYS}
    assert set(answered) == {env_key(n) for n in _ANSWER_FIELDS}
    # Read back into the model as answers.env is read: empty means the default.
    back = Answers.model_validate({k: v for k, v in answered.items()
                                   if v != "" or k in REQUIRED_KEYS})
    assert {n: getattr(back, n) for n in _ANSWER_FIELDS} == \
        {n: getattr(a, n) for n in _ANSWER_FIELDS}

    assert values["KLDLOAD_POOL"] == f.pool
    assert values["KLDLOAD_BOOT_ENVIRONMENT"] == f.boot_environment
    assert values["KLDLOAD_INSTALLER_VERSION"] == (f.installer_version or installer_version())
    assert values["KLDLOAD_HELD_PACKAGES"].split() == list(f.held_packages)
    assert f.install_date is not None
    assert datetime.strptime(values["KLDLOAD_INSTALL_DATE"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=UTC) == f.install_date.replace(microsecond=0)
    for name in SECRET_FIELDS:
        was_given = bool(getattr(a, name).get_secret_value())
        assert values[f"{env_key(name)}_SET"] == ("1" if was_given else "0")
    assert values["KLDLOAD_PASSWORD_IS_DEFAULT"] == (
        "1" if a.password.get_secret_value() == DEFAULT_PASSWORD else "0")


def check_answers_copy(a: Answers) -> None:
    text = dump_answers(a, redact=True, header=["The answers this machine was installed with."])
    result = parse_answers(text)
    assert result.errors == []
    redacted = a.model_copy(update={n: SecretStr(REDACTED) for n in SECRET_FIELDS
                                    if getattr(a, n).get_secret_value()})
    assert result.answers == redacted
    check_sources_the_same(text, answers_to_env(redacted))


def check_summary(a: Answers) -> None:
    for label, text in summarize(a).items():
        assert text.isprintable(), (label, text)


# -- the tests -------------------------------------------------------------------------

@examples(300)
@given(answers(), facts(), st.booleans())
def test_system_files_read_back(a: Answers, f: InstallFacts, darksite: bool) -> None:
    """hostname, hosts, locale, timezone, keyboard, sudoers, networkd, apt sources,
    wg0.conf, the units, firstboot's pool, sanoid.conf and the held packages."""
    files = {t.path: t.content for t in system_files(a)}
    check_identity_locale_keyboard_sudo(a, files)
    check_networkd(a, files)
    check_apt_sources(a, darksite)
    check_wireguard(a)
    check_services_and_held_packages(a, f)


@examples(300)
@given(answers(apt_only=False), facts())
def test_manifest_answers_copy_and_summary_read_back(a: Answers, f: InstallFacts) -> None:
    """The manifest (read_manifest, manifest-get's awk, dash), the redacted answers
    copy (the answers reader, dash), and a console summary with nothing unprintable."""
    check_manifest(a, f)
    check_answers_copy(a)
    check_summary(a)


@examples(300)
@given(_STRATEGIES["locale"])
def test_locale_gen_names_the_locale_and_its_charmap(locale: str) -> None:
    text = locale_gen(locale)
    if locale in ("C", "POSIX", "C.UTF-8"):
        assert text is None
        return
    assert text is not None
    [line] = fp.lines(text)
    name, charmap = line.split(" ")
    codeset = locale.partition("@")[0].partition(".")[2]
    assert (name, charmap) == (locale, codeset or "ISO-8859-1")


@examples(300)
@given(_STRATEGIES["ssh_pubkey"], _STRATEGIES["username"], _STRATEGIES["password"])
def test_authorized_keys_and_chpasswd_read_back(key: str, user: str,
                                                password: SecretStr) -> None:
    if key:
        [got] = fp.authorized_keys(authorized_keys(key))
        kind, blob, *comment = re.split(r" +", key, maxsplit=2)  # as the validator reads it
        assert (got.options, got.kind, got.blob, got.comment) == ("", kind, blob,
                                                                   "".join(comment))
    secret = password.get_secret_value()
    assert fp.chpasswd_lines(chpasswd_input(user, secret)) == [(user, secret)]


_SH = shutil.which("sh")
_AWK = shutil.which("awk")


@pytest.mark.skipif(not (_SH and _AWK), reason="needs sh and awk, as the target has")
@examples(20)
@given(answers(apt_only=False), facts())
def test_manifest_get_script_reads_every_value(a: Answers, f: InstallFacts) -> None:
    """The real manifest-get (this machine's sh and awk: dash and mawk on Debian, as in
    the target) reads every value of the real manifest."""
    text = render_manifest(a, f)
    values = read_manifest(text)
    # Every quoted value and a plain one: ~100 processes for all keys is too slow here.
    keys = ["KLDLOAD_HOSTNAME", *(line.partition("=")[0] for line in fp.lines(text)
                                  if line.startswith("KLDLOAD_") and "=" in line
                                  and line.partition("=")[2][:1] in ("'", '"'))]
    with tempfile.TemporaryDirectory() as root:
        manifest = Path(root, MANIFEST_PATH)
        manifest.parent.mkdir(parents=True)
        manifest.write_text(text, encoding="utf-8")
        script = Path(root, "manifest-get")
        script.write_text(template("manifest-get"), encoding="utf-8")
        script.chmod(0o755)
        loop = 'for k in "$@"; do printf "%s\\0" "$k"; "$0" "$k"; printf "\\0%s\\0" "$?"; done'
        out = subprocess.run([_SH or "sh", "-c", loop, str(script), *keys],
                             capture_output=True, check=True,
                             env={"KLDLOAD_ROOT": root, "PATH": os.environ["PATH"],
                                  "LC_ALL": "C"}).stdout
    fields = out.decode("utf-8").split("\0")[:-1]
    got = {k: (v, s) for k, v, s in zip(fields[0::3], fields[1::3], fields[2::3], strict=True)}
    assert got == {k: (values[k] + "\n", "0") for k in keys}
