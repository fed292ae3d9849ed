"""Checks of single answer values: pure functions, no I/O beyond the tz database.

Each check returns the normalised value or raises `FieldProblem` with what is
wrong and how to fix it; the answers model turns that into a located `Problem`.
"""

from __future__ import annotations

import base64
import difflib
import ipaddress
import re
import struct
import zoneinfo
from functools import cache
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


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def no_control_chars(value: str) -> str:
    """Values end up in files, argv and logs: a newline or NUL in one is never intended."""
    m = _CONTROL.search(value)
    if m:
        raise FieldProblem(
            f"contains the control character {m.group()!r}",
            "remove it (values are single-line text)",
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
                f"the {what} label {label[:16]!r}... is {len(label)} characters long",
                "each dot-separated part may have at most 63 characters (RFC 1123)",
            )
        if not _LABEL.match(label):
            raise FieldProblem(
                f"{value!r} is not a valid {what}",
                "use letters, digits and hyphens, not starting or ending with a hyphen "
                "(RFC 1123), e.g. web-prod-01",
            )
    return value


_USERNAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
# Accounts that exist in every base system; taking one over breaks the system.
_RESERVED_USERS = frozenset({
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp",
    "proxy", "www-data", "backup", "list", "irc", "gnats", "nobody", "_apt", "messagebus",
    "sshd", "systemd-network", "systemd-resolve", "systemd-timesync", "polkitd",
})


def username(value: str) -> str:
    """A Linux login name that useradd accepts and that is not a system account."""
    if not _USERNAME.match(value):
        raise FieldProblem(
            f"{value!r} is not a valid user name",
            "use 1-32 lowercase letters, digits, '_' or '-', starting with a letter or '_'",
        )
    if value in _RESERVED_USERS:
        raise FieldProblem(
            f"{value!r} is a system account", "choose another name for the admin user"
        )
    return value


def username_or_root(value: str) -> str:
    """A remote login name: like `username`, but root is fine on someone else's host."""
    return value if value == "root" else username(value)


def timezone(value: str) -> str:
    """A key of the IANA time zone database, e.g. America/Vancouver or UTC."""
    try:
        zoneinfo.ZoneInfo(value)
    # A region such as "Europe" is a directory of the database: OSError, not a zone.
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        guess = did_you_mean(value, _timezones())
        hint = f"did you mean {guess!r}?" if guess else "use a tz database name such as UTC"
        raise FieldProblem(f"unknown time zone {value!r}", hint) from None
    return value


@cache
def _timezones() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


_LOCALE = re.compile(
    r"^(?:C|POSIX|C\.UTF-8|[a-z]{2,3}(?:_[A-Z]{2})?(?:\.[A-Za-z0-9-]+)?(?:@[a-z]+)?)$"
)


def locale(value: str) -> str:
    """A glibc locale name such as en_US.UTF-8 or C.UTF-8."""
    if not _LOCALE.match(value):
        raise FieldProblem(f"{value!r} is not a locale name", "use a name such as en_US.UTF-8")
    return value


_XKB = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def xkb_name(value: str, *, what: str) -> str:
    """An XKB layout or variant name (lowercase identifiers: us, de, dvorak)."""
    if value and not _XKB.match(value):
        raise FieldProblem(f"{value!r} is not an XKB {what}", f"use an XKB {what} such as 'us'")
    return value


_DEV_PATH = re.compile(r"^/dev/[A-Za-z0-9][A-Za-z0-9._:+@/-]*$")


def device_path(value: str) -> str:
    """A block device path under /dev (kernel name or /dev/disk/by-* link)."""
    if not _DEV_PATH.match(value) or "/../" in value or value.endswith("/..") or "//" in value:
        raise FieldProblem(
            f"{value!r} is not a device path",
            "give a block device such as /dev/sda, /dev/nvme0n1 or /dev/disk/by-id/...",
        )
    return value


def release_number(value: str) -> str:
    """A distribution's major release, e.g. 9."""
    if not value.isdigit() or not 1 <= len(value) <= 2:
        raise FieldProblem(f"{value!r} is not a release number", "write a major release, e.g. 9")
    return value


_EFI_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,35}$")


def efi_label(value: str) -> str:
    """A name for an EFI boot entry, as firmware menus show it."""
    if not _EFI_LABEL.match(value):
        raise FieldProblem(
            f"{value!r} is not a usable EFI entry name",
            "use up to 36 letters, digits, spaces, '.', '_' or '-'",
        )
    return value


_PACKAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+._:@~=/-]*$")


def package_name(value: str) -> str:
    """A package name (or name=version); never an option: apt would read '-x' as one."""
    if not _PACKAGE.match(value):
        raise FieldProblem(
            f"{value!r} is not a package name",
            "list package names separated by spaces or commas, e.g. htop,tmux",
        )
    return value


def split_list(value: str) -> list[str]:
    """Split a space- and/or comma-separated list, dropping empty items."""
    return [item for item in re.split(r"[\s,]+", value.strip()) if item]


def ip_address(value: str) -> str:
    """An IPv4 or IPv6 address, normalised."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise FieldProblem(
            f"{value!r} is not an IP address", "write an address such as 10.0.1.50"
        ) from None


def ip_network(value: str) -> str:
    """A network in CIDR form whose host bits are zero."""
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError:
        try:
            net = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise FieldProblem(
                f"{value!r} is not a network", "write it in CIDR form, e.g. 10.100.0.0/24"
            ) from None
        raise FieldProblem(f"{value!r} has host bits set", f"did you mean {net}?") from None


_IFACE = re.compile(r"^[A-Za-z0-9_.:-]{1,15}$")


def interface_name(value: str) -> str:
    """A Linux network interface name (at most 15 characters)."""
    if value and (not _IFACE.match(value) or value in {".", ".."}):
        raise FieldProblem(
            f"{value!r} is not an interface name",
            "use a name such as eth0 or enp1s0 (at most 15 characters)",
        )
    return value


def url(value: str, *, schemes: tuple[str, ...] = ("http", "https", "file")) -> str:
    """An absolute URL with one of the given schemes."""
    parts = urlsplit(value)
    if parts.scheme not in schemes or (parts.scheme != "file" and not parts.netloc):
        raise FieldProblem(
            f"{value!r} is not a usable URL",
            f"give an absolute {'/'.join(schemes)} URL, e.g. http://mirror.example.org/debian",
        )
    return value


def absolute_path(value: str, *, what: str) -> str:
    """An absolute filesystem path."""
    if value and not value.startswith("/"):
        raise FieldProblem(f"the {what} {value!r} is not absolute", f"write it as /{value}")
    return value


def host(value: str) -> str:
    """A host name or an IP address."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return dns_name(value, what="host name")


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


def ssh_public_key(value: str) -> str:
    """One OpenSSH public key line: type, base64 blob whose header repeats the type, comment."""
    fields = value.split(None, 2)
    fix = "paste one line of a .pub file, e.g. the output of: cat ~/.ssh/id_ed25519.pub"
    if len(fields) < 2:
        raise FieldProblem("not an OpenSSH public key (expected 'TYPE BASE64 [COMMENT]')", fix)
    kind, blob = fields[0], fields[1]
    if kind not in _KEY_TYPES:
        guess = did_you_mean(kind, _KEY_TYPES)
        hint = f"did you mean {guess!r}?" if guess else fix
        raise FieldProblem(f"unknown SSH key type {kind!r}", hint)
    try:
        raw = base64.b64decode(blob, validate=True)
        (length,) = struct.unpack(">I", raw[:4])
        embedded = raw[4 : 4 + length].decode("ascii")
    except (ValueError, struct.error, UnicodeDecodeError):
        raise FieldProblem("the key's base64 part is malformed or truncated", fix) from None
    if embedded != kind:
        raise FieldProblem(
            f"the key says {kind!r} but its data is a {embedded!r} key", fix
        )
    return value
