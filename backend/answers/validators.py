"""Checks of single answer values: pure functions, no I/O beyond the tz database.

Each check returns the normalised value or raises `FieldProblem` with what is
wrong and how to fix it; the answers model turns that into a located `Problem`.
"""

from __future__ import annotations

import base64
import difflib
import ipaddress
import re
import socket
import struct
import unicodedata
import zoneinfo
from functools import cache
from importlib import resources
from urllib.parse import urlsplit


class FieldProblem(ValueError):
    """A value is wrong; `fix` tells the operator what to write instead."""

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


def did_you_mean(
    word: str, choices: list[str] | tuple[str, ...], cutoff: float = 0.6
) -> str | None:
    """The closest choice to a misspelt word, if one is close enough."""
    lowered = {c.lower(): c for c in choices}
    hits = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=cutoff)
    return lowered[hits[0]] if hits else None


def shown(value: object) -> str:
    """A value quoted for a message on the console, every invisible character escaped.

    Messages echo what the operator wrote; a raw ESC or CSI (U+009B) in one would
    drive the terminal, and a bidi override would show the text in another order
    than it is. `repr` escapes what this Python deems unprintable, which depends on
    its Unicode version; this escapes every control, format, separator, private-use
    and unassigned character itself, so the rule does not move under us.
    """
    text = str(value)
    out: list[str] = []
    for c in text:
        if c == "\\" or c == "'":
            out.append("\\" + c)
        elif c == " " or (c.isprintable() and unicodedata.category(c)[0] not in "CZ"):
            out.append(c)
        elif ord(c) <= 0xFF:
            out.append(f"\\x{ord(c):02x}")
        elif ord(c) <= 0xFFFF:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    return "'" + "".join(out) + "'"


# C0, DEL and C1 controls, and the Unicode line and paragraph separators: a value
# is one line of text, and these start a new line or a terminal escape sequence.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Bidirectional marks, embeddings, overrides and isolates: invisible, they make a
# value read differently on the console than it is written into the target
# ("Trojan Source"). No answer needs them; refused, not merely escaped.
_BIDI = re.compile(r"[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


# Names for the controls that are met in practice, to say what was found.
_CONTROL_NAMES = {"\x00": "NUL", "\t": "tab", "\x0b": "vertical tab", "\x0c": "form feed",
                  "\x1b": "escape", "\x7f": "DEL", "\x85": "next line", "\x9b": "CSI",
                  "\x9d": "OSC", "\u2028": "line separator", "\u2029": "paragraph separator"}


def no_control_chars(value: str) -> str:
    """Values end up in files, argv and logs: a newline, NUL, terminal escape or bidi
    control in one is never intended. Every value passes here, list items and
    secrets too (their message names the character, never the value)."""
    m = _CONTROL.search(value)
    if m:
        name = _CONTROL_NAMES.get(m.group())
        raise FieldProblem(
            f"contains the control character {shown(m.group())}"
            f" ({name + ', ' if name else ''}character {m.start() + 1})",
            "remove it (values are single-line text)",
        )
    m = _BIDI.search(value)
    if m:
        raise FieldProblem(
            f"contains the invisible bidirectional-text character {shown(m.group())} "
            f"(character {m.start() + 1}): the value would show differently than it is written",
            "retype the value without it",
        )
    return value


_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")


def dns_name(value: str, *, what: str = "hostname") -> str:
    """RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens."""
    if not value:
        raise FieldProblem(f"the {what} is empty", "give a name such as web-prod-01")
    if len(value) > 253:
        raise FieldProblem(f"the {what} is {len(value)} characters long", "use at most 253")
    for label in value.split("."):
        if len(label) > 63:
            raise FieldProblem(
                f"the {what} label {shown(label[:16])}... is {len(label)} characters long",
                "each dot-separated part may have at most 63 characters (RFC 1123)",
            )
        if not _LABEL.match(label):
            raise FieldProblem(
                f"{shown(value)} is not a valid {what}",
                "use letters, digits and hyphens, not starting or ending with a hyphen "
                "(RFC 1123), e.g. web-prod-01",
            )
    return value


# Names /etc/hosts gives to the loopback addresses already.
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost",
                             "ip6-loopback"})


def machine_name(value: str, *, what: str) -> str:
    """A name to look a machine up by: RFC 1123, and not one the resolver reads as
    an address (glibc's inet_aton takes `123`, `0x7f` and `010` for IPv4 addresses
    and never looks them up)."""
    dns_name(value, what=what)
    first = value.split(".", 1)[0]
    for text in (value, first):
        try:
            socket.inet_aton(text)
        except OSError:
            continue
        raise FieldProblem(f"the {what} {shown(value)} reads as an IPv4 address",
                           "start it with a letter, e.g. node-" + first)
    return value


def hostname(value: str) -> str:
    """This machine's name: a `machine_name` that is not a loopback name."""
    machine_name(value, what="hostname")
    if value.lower() in _LOOPBACK_NAMES:
        raise FieldProblem(f"{shown(value)} is the loopback name in /etc/hosts",
                           "give the machine a name of its own, e.g. web-prod-01")
    return value


_USERNAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_ACCOUNT, _GROUP, _BOTH = "account", "group", "account and group"
# Names the target already has, or gets from the packages an install adds:
# base-passwd's passwd.master and group.master, systemd's sysusers, common
# packages, and the base systems of the other distributions kldload names. The
# admin user may take none: an account would be taken over, and useradd refuses
# to make the user's own group when a group of that name exists.
SYSTEM_NAMES: dict[str, str] = {
    **dict.fromkeys((
        "root", "daemon", "bin", "sys", "games", "man", "lp", "mail", "news", "uucp",
        "proxy", "www-data", "backup", "list", "irc", "gnats",  # base-passwd
        "messagebus", "polkitd", "systemd-network", "systemd-resolve", "systemd-timesync",
        "systemd-coredump", "systemd-oom", "tss", "uuidd", "_chrony", "ntpsec", "avahi",
        "tcpdump", "libvirt-dnsmasq", "dbus", "chrony", "ftp", "rtkit", "colord", "geoclue",
        "saned", "pulse", "lightdm", "sddm", "gdm", "usbmux",
    ), _BOTH),
    **dict.fromkeys((
        "sync", "nobody", "_apt", "sshd", "dnsmasq", "libvirt-qemu", "statd", "halt",
        "shutdown", "nfsnobody",
    ), _ACCOUNT),
    **dict.fromkeys((
        "adm", "tty", "disk", "kmem", "dialout", "fax", "voice", "cdrom", "floppy", "tape",
        "sudo", "audio", "dip", "operator", "src", "shadow", "utmp", "video", "sasl",
        "plugdev", "staff", "users", "nogroup",  # base-passwd
        "systemd-journal", "input", "kvm", "render", "sgx", "clock",  # systemd
        "netdev", "_ssh", "crontab", "ssl-cert", "lpadmin", "libvirt", "docker", "bluetooth",
        "scanner", "pulse-access", "sambashare", "wheel",
    ), _GROUP),
}


def _login_name(value: str) -> str:
    if not _USERNAME.match(value):
        raise FieldProblem(
            f"{shown(value)} is not a valid user name",
            "use 1-32 lowercase letters, digits, '_' or '-', starting with a letter or '_'",
        )
    return value


def username(value: str) -> str:
    """A Linux login name that useradd accepts and that the target does not have yet."""
    kind = SYSTEM_NAMES.get(_login_name(value))
    if kind == _GROUP:
        raise FieldProblem(
            f"{shown(value)} is a system group of the installed system: useradd would refuse "
            "to make the admin user's own group of that name",
            "choose another name for the admin user, e.g. ops",
        )
    if kind:
        raise FieldProblem(
            f"{shown(value)} is a system {kind} of the installed system",
            "choose another name for the admin user, e.g. ops",
        )
    return value


def username_or_root(value: str) -> str:
    """A remote login name: like `username`, but root is fine on someone else's host,
    and our target's groups say nothing about another host's users."""
    kind = SYSTEM_NAMES.get(_login_name(value))
    if value != "root" and kind in (_ACCOUNT, _BOTH):
        raise FieldProblem(f"{shown(value)} is a system account",
                           "log in as the user that owns the upload directory, or as root")
    return value


# Files of the zoneinfo directory that load as zones but are none: /etc/localtime
# is made a link to /usr/share/zoneinfo/ZONE, and these would make it a loop
# (localtime is itself a link to /etc/localtime), the tz compiler's rule
# template, or the "zone not set" placeholder that shows the time as -00.
_NOT_ZONES = {
    "localtime": "the system's link to its own zone, not a zone: /etc/localtime would "
                 "point at itself",
    "posixrules": "the tz compiler's rule template, not a zone",
    "Factory": "the placeholder for a machine whose zone is not set: clocks show -00",
}


def timezone(value: str) -> str:
    """A zone of the IANA time zone database, e.g. America/Vancouver or UTC.

    Checked against the database's list of zones (what `zoneinfo` lists: no
    posix/ or right/ copies, no posixrules), not merely "it loads": a region
    directory, `localtime` and `Factory` load or exist too and are no zones.
    """
    zones = _timezone_set()
    if value in zones:
        canonical, links = _current_zones()
        if value in canonical:
            return value
        # A legacy alias (US/Pacific, Asia/Calcutta): current tz packages split them
        # off into a legacy package an install does not carry, so /etc/localtime
        # would point at nothing.
        target = links.get(value)
        hint = f"write {shown(target)}" if target in canonical else "name a current zone"
        raise FieldProblem(f"{shown(value)} is a legacy alias in the time zone database, "
                           "which current systems no longer install", hint)
    why, hint = "", ""
    head, _, rest = value.partition("/")
    if value in _NOT_ZONES:
        why, hint = _NOT_ZONES[value], "name the zone itself, e.g. UTC or Europe/Berlin"
    elif head in ("posix", "right") and rest in zones:
        # right/ zones count leap seconds, which the kernel's clock does not: every
        # time shown would be off by some 27 seconds. posix/ only repeats the zones.
        why = ("right/ zones count leap seconds, which the system clock does not"
               if head == "right" else "posix/ is a copy of the database, not another zone")
        hint = f"write {shown(rest)}"
    else:
        region = value.rstrip("/") + "/"
        inside = [z for z in _timezones() if z.startswith(region)] if value.strip("/") else []
        if inside:
            why = "a region of the database, not a zone"
            hint = f"name a zone in it, e.g. {shown(inside[0])}"
    if not hint:
        guess = did_you_mean(value, _timezones()) if len(value) <= 64 else None
        hint = f"did you mean {shown(guess)}?" if guess else "use a tz database name such as UTC"
    raise FieldProblem(f"unknown time zone {shown(value)}" + (f" ({why})" if why else ""), hint)


@cache
def _timezones() -> tuple[str, ...]:
    return tuple(sorted(set(zoneinfo.available_timezones()) - set(_NOT_ZONES)))


@cache
def _timezone_set() -> frozenset[str]:
    return frozenset(_timezones())


@cache
def _current_zones() -> tuple[frozenset[str], dict[str, str]]:
    """The zones every tz package installs (those of zone.tab and zone1970.tab, Etc/,
    UTC and GMT), and each alias of the database with the zone it stands for."""
    base = resources.files("tzdata") / "zoneinfo"
    canonical = {"UTC", "GMT"} | {z for z in _timezones() if z.startswith("Etc/")}
    for table in ("zone.tab", "zone1970.tab"):
        for line in (base / table).read_text(encoding="utf-8").splitlines():
            fields = line.split("\t")
            if not line.startswith("#") and len(fields) >= 3:
                canonical.add(fields[2])
    links: dict[str, str] = {}
    for line in (base / "tzdata.zi").read_text(encoding="utf-8").splitlines():
        if line.startswith("L "):
            _, target, alias = line.split()
            links[alias] = target
    return frozenset(canonical), links


_LOCALE = re.compile(
    r"^(?:C|POSIX|C\.UTF-8|[a-z]{2,3}(?:_[A-Z]{2})?(?:\.[A-Za-z0-9-]+)?(?:@[a-z]+)?)$"
)


def locale(value: str) -> str:
    """A glibc locale name such as en_US.UTF-8 or C.UTF-8."""
    if not _LOCALE.match(value):
        raise FieldProblem(f"{shown(value)} is not a locale name", "use a name such as en_US.UTF-8")
    return value


_XKB = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def xkb_name(value: str, *, what: str) -> str:
    """An XKB layout or variant name (lowercase identifiers: us, de, dvorak)."""
    if value and not _XKB.match(value):
        raise FieldProblem(f"{shown(value)} is not an XKB {what}",
                           f"use an XKB {what} such as 'us'")
    return value


_DEV_PATH = re.compile(r"^/dev/[A-Za-z0-9][A-Za-z0-9._:+@/-]*$")


def device_path(value: str) -> str:
    """A block device path under /dev (kernel name or /dev/disk/by-* link)."""
    if not _DEV_PATH.match(value) or "/../" in value or value.endswith("/..") or "//" in value:
        raise FieldProblem(
            f"{shown(value)} is not a device path",
            "give a block device such as /dev/sda, /dev/nvme0n1 or /dev/disk/by-id/...",
        )
    return value


def release_number(value: str) -> str:
    """A distribution's major release, e.g. 9."""
    # isascii: str.isdigit also holds for other scripts' digits and for superscripts.
    if not (value.isascii() and value.isdigit()) or not 1 <= len(value) <= 2:
        raise FieldProblem(f"{shown(value)} is not a release number",
                           "write a major release, e.g. 9")
    return value


# Red Hat's organization IDs and activation key names: letters, digits, `_`, `-`
# and `.` (what the Customer Portal and Satellite accept). Nothing a shell or
# subscription-manager's option parser would read as anything but the value.
_RHSM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")


def rhsm_name(value: str, *, what: str) -> str:
    """A Red Hat organization ID or activation key name."""
    if not _RHSM_NAME.match(value):
        raise FieldProblem(f"the {what} is not a Red Hat {what}",
                           "use the name the Customer Portal (or Satellite) shows: letters, "
                           "digits, '_', '-' and '.', starting with a letter or digit")
    return value


# Firmware menus and efibootmgr strip blanks at the ends; a label with one would
# never be found again by the name it was written with.
_EFI_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9 ._-]{0,34}[A-Za-z0-9._-])?$")


def efi_label(value: str) -> str:
    """A name for an EFI boot entry, as firmware menus show it."""
    if not _EFI_LABEL.match(value):
        raise FieldProblem(
            f"{shown(value)} is not a usable EFI entry name",
            "use up to 36 letters, digits, spaces, '.', '_' or '-', not ending in a space",
        )
    return value


# Debian policy 5.6.1: lowercase letters, digits, '+', '-' and '.', at least two
# characters, the first a letter or digit. '+' may end a name (g++, memtest86+).
_DEB_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
# Policy 5.6.12, [epoch:]upstream[-revision] with upstream starting with a digit;
# where '-' may stand is left to apt (a trailing one is refused below).
_DEB_VERSION = re.compile(r"^(?:[0-9]+:)?[0-9][A-Za-z0-9.+~-]*$")
# A codename or suite for apt's NAME/SUITE: bookworm-backports, stable, noble.
_SUITE = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
# apt reads these as wildcards, regular expressions or search patterns (~n..., ?name()):
# one entry would select every package that matches, not one package.
_APT_PATTERN = "*?[]^$~|(){}!"
_PKG_FIX = "list package names separated by spaces or commas, e.g. htop,tmux"


def package_name(value: str) -> str:
    """A Debian package as `apt-get install` takes it: NAME, NAME=VERSION or NAME/SUITE.

    Nothing that apt reads as an option (a leading '-'), another action (a
    trailing '-' removes), a task (a trailing '^') or a pattern. A trailing '+'
    on a NAME is kept: Debian names may end with '+' (g++, memtest86+) and apt
    takes the exact name first, reading '+' as its "install" modifier only when
    no package has that name, which the package-index check then reports.
    After a /SUITE, where no name can follow, a trailing '+' is refused.
    """
    if value.startswith("-"):
        raise FieldProblem(f"{shown(value)} is an option, not a package name: apt would read "
                           "it as one", _PKG_FIX)
    m = re.match(r"^([^=/]*)([=/]?)(.*)$", value)
    assert m is not None  # the pattern matches any text
    name, sep, rest = m.groups()
    remove = "remove the trailing '-' (extra packages are installed, never removed)"
    if not name:
        raise FieldProblem(f"{shown(value)} has no package name before {shown(sep)}", _PKG_FIX)
    if name.endswith("^") and not any(c in _APT_PATTERN for c in name[:-1]):
        raise FieldProblem(f"{shown(value)} is a tasksel task: apt installs every package of "
                           f"the task {shown(name[:-1])}", "name the packages themselves")
    bad = next((c for c in name if c in _APT_PATTERN), None)
    if bad:
        raise FieldProblem(f"{shown(value)} contains {shown(bad)}, which apt reads as a wildcard "
                           "or search pattern: it would install every package that matches",
                           "name each package exactly")
    if ":" in name:
        base, _, arch = name.partition(":")
        raise FieldProblem(f"{shown(value)} names the architecture {shown(arch)}",
                           f"write {shown(base)}: packages of the machine's own architecture "
                           "are installed, and no foreign one is enabled")
    if name != name.lower() and name.isascii():
        # No lowercased suggestion: another distribution's name (NetworkManager)
        # is often not Debian's (network-manager).
        raise FieldProblem(f"{shown(value)} has capital letters, which Debian package names "
                           "never have", "write the Debian package's name (apt-cache search "
                           "finds it)")
    if name.endswith("-") and not sep:
        raise FieldProblem(f"{shown(value)} ends with '-', which tells apt to remove "
                           f"{shown(name[:-1])}, not install it", remove)
    odd = next((c for c in name if not re.match(r"[a-z0-9+.-]", c)), None)
    if odd:
        raise FieldProblem(f"{shown(value)} contains {shown(odd)}, which no Debian package name "
                           "has", "use lowercase letters, digits, '+', '-' and '.'")
    if not _DEB_NAME.match(name):
        raise FieldProblem(f"{shown(value)} is not a Debian package name",
                           "a name has at least two characters and starts with a letter or "
                           "digit (Debian policy 5.6.1)")
    if sep and not rest:
        what = "version" if sep == "=" else "suite"
        raise FieldProblem(f"{shown(value)} has no {what} after {shown(sep)}",
                           f"write {shown(name)} alone, or add the {what}")
    if rest.endswith("-"):
        raise FieldProblem(f"{shown(value)} ends with '-', which tells apt to remove "
                           f"{shown(name)}, not install it", remove)
    if sep == "=" and not _DEB_VERSION.match(rest):
        raise FieldProblem(f"{shown(rest)} is not a Debian version",
                           "a version starts with a digit, after an optional epoch such as "
                           "'1:', and has letters, digits and '.+~-', e.g. htop=3.2.2-2")
    if sep == "/" and rest.endswith("+"):
        raise FieldProblem(f"{shown(value)} ends with '+', which apt reads as its 'install' "
                           "modifier here: no suite name ends with '+'",
                           f"write {shown(value[:-1])}")
    if sep == "/" and not _SUITE.match(rest):
        raise FieldProblem(f"{shown(rest)} is not a suite name",
                           "write a codename or suite, e.g. htop/bookworm-backports")
    return value


def split_list(value: str) -> list[str]:
    """Split a space- and/or comma-separated list, dropping empty items.

    Only the ASCII space and the comma separate: a tab or line break was refused
    as a control character, and other spaces (U+00A0...) stay in their item,
    whose own check then names them rather than quietly splitting there.
    """
    return [item for item in re.split(r"[ ,]+", value) if item]


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _scoped(value: str) -> tuple[IPAddress, str]:
    """An address and its IPv6 scope ID ("" when there is none).

    `ipaddress` takes any text after '%' as the scope (`fe80::1%eth0 Gateway=...`
    parses), so the scope is split off here and checked by the callers.
    """
    address, _, scope = value.partition("%")
    try:
        return ipaddress.ip_address(address), scope
    except ValueError:
        raise FieldProblem(
            f"{shown(value)} is not an IP address", "write an address such as 10.0.1.50"
        ) from None


def _valid_scope(value: str, ip: IPAddress, scope: str) -> str:
    """A scope that networkd, ssh and the kernel can read: an interface or its index,
    on a link-local IPv6 address (the only kind a scope selects a link for)."""
    if ip.version == 4:
        raise FieldProblem(f"{shown(value)} has a scope ID, but IPv4 addresses take none",
                           f"write {ip}")
    numeric = scope.isascii() and scope.isdigit()
    if numeric and (scope.startswith("0") or int(scope) > 2**31 - 1):
        # systemd drops index 0, reads a leading zero as octal, and an index is an int.
        raise FieldProblem(f"the scope ID {shown(scope)} of {ip} is not an interface index",
                           "write the index without leading zeros, from 1 (fe80::1%2), or "
                           "the interface name")
    if not numeric and not _is_interface(scope):
        raise FieldProblem(f"the scope ID {shown(scope)} of {ip} is not an interface name "
                           "or number", "write an interface name after '%' (the rule of "
                           "KLDLOAD_NET_IFACE, e.g. fe80::1%eth0) or its index (fe80::1%2)")
    if not ip.is_link_local:
        raise FieldProblem(f"{shown(value)} has a scope ID, but only link-local addresses "
                           "(fe80::/10) take one", f"write {ip}")
    return f"{ip}%{scope}"


def _unusable(ip: IPAddress) -> str:
    """Why no host, router or resolver can have this address ("" when one can)."""
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip == ipaddress.IPv4Address("255.255.255.255"):
        return "the broadcast address"
    return ""


def ip_address(value: str) -> str:
    """An IPv4 or IPv6 address without a scope, normalised."""
    ip, _ = _scoped(value)
    if "%" in value:
        raise FieldProblem(f"{shown(value)} has a scope ID", f"write {ip}")
    return str(ip)


def static_address(value: str) -> str:
    """KLDLOAD_NET_IP: this machine's address, written to networkd's Address=.

    No scope ID: the address belongs to the interface the network file matches
    (KLDLOAD_NET_IFACE), so a scope adds nothing, and networkd's Address= reads
    none (`fe80::1%eth0 Gateway=6.6.6.6` would otherwise be written as two settings).
    """
    ip, scope = _scoped(value)
    if "%" in value:
        raise FieldProblem(f"{shown(value)} has a scope ID ({shown('%' + scope)}): a static "
                           "address takes none, it belongs to the interface the network file "
                           "matches", f"write {ip} (and name the interface in KLDLOAD_NET_IFACE)")
    why = _unusable(ip) or ("a loopback address" if ip.is_loopback else "")
    if why:
        raise FieldProblem(f"{ip} is {why}, not an address a machine can have",
                           "give this machine's own address, e.g. 10.0.1.50")
    return str(ip)


def gateway_address(value: str) -> str:
    """KLDLOAD_NET_GW: the default router, written to networkd's Gateway=.

    A link-local IPv6 router (fe80::1) is fine and common; a scope ID is not:
    Gateway= takes a bare address (networkd ignores the line otherwise, leaving
    no default route), and the route goes out of the interface the file matches.
    """
    ip, scope = _scoped(value)
    if "%" in value:
        raise FieldProblem(f"{shown(value)} has a scope ID ({shown('%' + scope)}), which "
                           "systemd-networkd's Gateway= does not take",
                           f"write {ip}: a link-local gateway is reached on the interface the "
                           "network file matches (KLDLOAD_NET_IFACE)")
    why = _unusable(ip) or ("a loopback address" if ip.is_loopback else "")
    if why:
        raise FieldProblem(f"{ip} is {why}, not a router's", "give the router's address, "
                           "e.g. 10.0.1.1")
    return str(ip)


def dns_server(value: str) -> str:
    """An item of KLDLOAD_NET_DNS, written to networkd's DNS=.

    DNS= takes ADDRESS%INTERFACE, so a link-local server may name its link; the
    scope is checked like KLDLOAD_NET_IFACE (or an interface number). A local
    resolver on a loopback address is fine.
    """
    ip, scope = _scoped(value)
    text = _valid_scope(value, ip, scope) if "%" in value else str(ip)
    why = _unusable(ip)
    if why:
        raise FieldProblem(f"{ip} is {why}, not a DNS server's",
                           "give a DNS server's address, e.g. 10.0.1.1")
    return text


def ip_network(value: str) -> str:
    """A network in CIDR form whose host bits are zero."""
    if "%" in value:
        raise FieldProblem(f"{shown(value)} has a scope ID; a network has none",
                           f"write {shown(re.sub(r'%[^/]*', '', value))}")
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError:
        try:
            net = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise FieldProblem(
                f"{shown(value)} is not a network", "write it in CIDR form, e.g. 10.100.0.0/24"
            ) from None
        raise FieldProblem(f"{shown(value)} has host bits set", f"did you mean {net}?") from None


def usable_addresses(net: IPNetwork) -> int:
    """How many nodes `net` can number: not IPv4's network and broadcast addresses,
    nor IPv6's subnet-router anycast address; every address of a /31 or /127
    (point-to-point, RFC 3021 and RFC 6164) and of a single-address network."""
    n = net.num_addresses
    if n <= 2:
        return n
    return n - 2 if net.version == 4 else n - 1


# The kernel's dev_valid_name refuses '/', ':' and whitespace, and at most 15
# characters fit; the rest of the characters it allows are more than any
# installer needs, so the usual ones only.
_IFACE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


def _is_interface(value: str) -> bool:
    return bool(_IFACE.match(value)) and value not in {".", ".."}


def interface_name(value: str) -> str:
    """A Linux network interface name (at most 15 characters)."""
    if value and not _is_interface(value):
        raise FieldProblem(
            f"{shown(value)} is not an interface name",
            "use a name such as eth0 or enp1s0 (at most 15 characters)",
        )
    return value


def url(value: str, *, schemes: tuple[str, ...] = ("http", "https", "file")) -> str:
    """An absolute URL with one of the given schemes."""
    if any(c.isspace() or not c.isprintable() for c in value):
        # apt splits URIs on blanks, and urlsplit ignores leading ones.
        raise FieldProblem(f"the URL {shown(value)} contains blanks",
                           "write it without spaces; encode a space inside it as %20")
    parts = urlsplit(value)
    if parts.scheme not in schemes or (parts.scheme != "file" and not parts.netloc):
        raise FieldProblem(
            f"{shown(value)} is not a usable URL",
            f"give an absolute {'/'.join(schemes)} URL, e.g. http://mirror.example.org/debian",
        )
    return value


def absolute_path(value: str, *, what: str) -> str:
    """An absolute filesystem path."""
    if value and not value.startswith("/"):
        raise FieldProblem(f"the {what} {shown(value)} is not absolute",
                           f"write it as {shown('/' + value)}")
    return value


def host(value: str) -> str:
    """A host name or an IP address; a link-local IPv6 one may name its link (ssh
    reads fe80::1%eth0), the scope checked as for KLDLOAD_NET_DNS."""
    try:
        ip, scope = _scoped(value)
    except FieldProblem:
        return machine_name(value, what="host name")
    return _valid_scope(value, ip, scope) if "%" in value else str(ip)


def secret_text(value: str, *, what: str, min_length: int = 1) -> str:
    """A password or passphrase: single-line, of a usable length."""
    no_control_chars(value)
    if len(value) < min_length:
        raise FieldProblem(
            f"the {what} has {len(value)} characters", f"use at least {min_length}"
        )
    if len(value) > 512:
        raise FieldProblem(f"the {what} has {len(value)} characters", "use at most 512")
    return value


_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)


# What follows the type string in each type's key blob, so that a blob cut
# short (only the type header, say) is refused here and not by sshd at the first
# login: RFC 4253 6.6 (rsa), RFC 5656 3.1 (ecdsa), RFC 8709 4 (ed25519), and
# OpenSSH's PROTOCOL.u2f (sk-, with the FIDO application last).
_ECDSA_POINT = {"nistp256": 65, "nistp384": 97, "nistp521": 133}
_RSA_MIN_BITS = 1024  # OpenSSH refuses smaller RSA keys


def _ssh_strings(raw: bytes) -> list[bytes]:
    """The length-prefixed strings of an SSH wire-format blob; ValueError if cut."""
    out: list[bytes] = []
    i = 0
    while i < len(raw):
        if i + 4 > len(raw):
            raise ValueError("truncated length")
        (length,) = struct.unpack(">I", raw[i : i + 4])
        if i + 4 + length > len(raw):
            raise ValueError("truncated string")
        out.append(raw[i + 4 : i + 4 + length])
        i += 4 + length
    return out


def _whole_key(kind: str, fields: list[bytes]) -> bool:
    """Whether the fields after the type are those of a complete `kind` key."""
    if kind in ("ssh-ed25519", "sk-ssh-ed25519@openssh.com"):
        want = 1 if kind == "ssh-ed25519" else 2
        return len(fields) == want and len(fields[0]) == 32
    if kind == "ssh-rsa":
        return len(fields) == 2 and all(fields)
    curve = kind.removeprefix("sk-").split("-")[2].split("@")[0]  # nistp256...
    want = 3 if kind.startswith("sk-") else 2
    return (len(fields) == want and fields[0] == curve.encode()
            and len(fields[1]) == _ECDSA_POINT[curve] and fields[1][:1] == b"\x04")


def ssh_public_key(value: str) -> str:
    """One OpenSSH public key line: type, base64 blob whose header repeats the type, comment.

    Fields are separated by ASCII spaces, as in a .pub file. Any other space
    (a tab was already refused as a control character; U+00A0 and the like
    come with copying from a web page) would not be read as a separator by sshd.
    """
    fix = "paste one line of a .pub file, e.g. the output of: cat ~/.ssh/id_ed25519.pub"
    fields = re.split(r" +", value.strip(" "), maxsplit=2)
    odd = next((c for c in " ".join(fields[:2]) if c.isspace() and c != " "), None)
    if odd:
        raise FieldProblem(f"the key's fields are separated by {shown(odd)}, not a plain space",
                           "separate type, key and comment with spaces: " + fix)
    if len(fields) < 2:
        raise FieldProblem("not an OpenSSH public key (expected 'TYPE BASE64 [COMMENT]')", fix)
    kind, blob = fields[0], fields[1]
    if kind == "ssh-dss":
        raise FieldProblem("DSA keys (ssh-dss) are no longer accepted by OpenSSH",
                           "make an ed25519 key: ssh-keygen -t ed25519")
    if kind not in _KEY_TYPES:
        guess = did_you_mean(kind, _KEY_TYPES)
        hint = f"did you mean {shown(guess)}?" if guess else fix
        raise FieldProblem(f"unknown SSH key type {shown(kind)}", hint)
    try:
        strings = _ssh_strings(base64.b64decode(blob, validate=True))
        embedded = strings[0].decode("ascii")
    except (ValueError, IndexError):  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise FieldProblem("the key's base64 part is malformed or truncated", fix) from None
    if embedded != kind:
        raise FieldProblem(
            f"the key says {shown(kind)} but its data is a {shown(embedded)} key", fix
        )
    if not _whole_key(kind, strings[1:]):
        raise FieldProblem(f"the key's base64 part is not a whole {kind} key (cut short, or "
                           "only its type)", fix)
    if kind == "ssh-rsa":
        bits = int.from_bytes(strings[2], "big").bit_length()
        if bits < _RSA_MIN_BITS:
            raise FieldProblem(f"the RSA key has {bits} bits; OpenSSH refuses RSA keys under "
                               f"{_RSA_MIN_BITS}", "make an ed25519 key: ssh-keygen -t ed25519")
    return value


_HOST_KEY_FIX = (
    "paste a line of `ssh-keyscan HOST` (e.g. 'HOST ssh-ed25519 AAAA...') or the fingerprint "
    "that `ssh-keygen -lf KEY.pub` prints (SHA256:...), taken where the host is known genuine"
)
# `ssh-keygen -l` prints "BITS SHA256:FINGERPRINT COMMENT (TYPE)"; the fingerprint is the
# base64 of a SHA256 digest, 43 characters without padding.
_SHA256_PRINT = re.compile(r"^(?:\d+\s+)?(?i:sha256):([A-Za-z0-9+/]{43})(?:\s.*)?$")


def split_host_key(value: str) -> tuple[str, str, str]:
    """A known_hosts-style line as (host pattern or "", key type, base64 blob).

    `ssh-keyscan` prints `HOST TYPE BASE64`; a `.pub` file holds `TYPE BASE64 COMMENT`.
    """
    fields = value.split(None, 1)
    if not fields:
        raise FieldProblem("no host key given", _HOST_KEY_FIX)
    if fields[0].startswith("@"):
        raise FieldProblem(f"{fields[0]} lines are not supported", "give the host's own key: "
                           + _HOST_KEY_FIX)
    pattern, rest = ("", value) if fields[0] in _KEY_TYPES or len(fields) < 2 else fields
    try:
        kind, blob = ssh_public_key(rest).split()[:2]
    except FieldProblem as exc:  # same finding, but the fix of a host key
        raise FieldProblem(exc.message, _HOST_KEY_FIX) from None
    return pattern, kind, blob


def ssh_host_key(value: str) -> str:
    """A server's SSH host key: a known_hosts-style key line, or its SHA256 fingerprint.

    A whole `ssh-keygen -l` line is reduced to its fingerprint; a key line is kept as given.
    """
    text = value.strip()
    if re.match(r"(?i)^(?:\d+\s+)?SHA256:", text):
        match = _SHA256_PRINT.match(text)
        if match is None:
            raise FieldProblem(f"{text!r} is not a SHA256 fingerprint",
                               "write it as ssh-keygen -lf prints it: SHA256: and 43 base64 "
                               "characters")
        return "SHA256:" + match.group(1)
    if text.upper().startswith("MD5:") or re.match(r"^[0-9a-f]{2}(?::[0-9a-f]{2}){15}$", text):
        raise FieldProblem("an MD5 fingerprint is too weak to pin a host",
                           "give the SHA256 one: ssh-keygen -l -E sha256 -f KEY.pub")
    split_host_key(text)
    return text
