"""Readers for the formats kldload writes into a target, for the round-trip tests.

Each one reads a file the way the program that consumes it does (systemd,
glibc, sudo, apt, sshd, chpasswd, wg-quick, dash, the manifest's awk), not the
way the renderer hopes: that is what makes a round trip through them worth
anything. They are strict: whatever the real reader would take differently
from what was meant (a value split in two, a comment starting mid-line, an
expansion) raises `FormatError` instead of returning a guess.

Lines are split on "\\n" only, as every one of those readers does; Python's
`str.splitlines` would also split on U+2028, U+0085 and friends, which a value
may hold.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import socket
import struct
from dataclasses import dataclass


class FormatError(ValueError):
    """The text does not say what a plain reading of it suggests."""


def lines(text: str) -> list[str]:
    """Lines as the C readers see them: split on LF only, the final LF ends the last line."""
    if text and not text.endswith("\n"):
        raise FormatError("the file does not end with a newline")
    return text.split("\n")[:-1] if text else []


# -- systemd unit files (systemd.syntax(7)), .network files ----------------------

# systemd's WHITESPACE: what it strips around keys and values and splits lists on.
_SD_BLANKS = " \t\n\r"


@dataclass(frozen=True)
class Setting:
    """One `Key=value` assignment and the section it is in."""

    section: str
    key: str
    value: str


def systemd_ini(text: str) -> list[Setting]:
    """Every assignment, in order: a key may repeat (DNS=, Address=).

    A line ending in a backslash continues on the next one (the backslash
    becomes a space), `#` and `;` start comment lines only at the start of a
    line, keys and values are stripped of systemd's whitespace and nothing
    else: a value with a U+00A0 at its end keeps it.
    """
    out: list[Setting] = []
    section = ""
    pending = ""
    for raw in lines(text):
        if pending:
            raw = pending + raw
            pending = ""
        line = raw.strip(_SD_BLANKS)
        if not line or line[0] in "#;":
            continue
        if (len(line) - len(line.rstrip("\\"))) % 2:  # an escaped backslash ends nothing
            pending = line[:-1] + " "
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise FormatError(f"bad section header {line!r}")
            section = line[1:-1]
            continue
        key, eq, value = line.partition("=")
        if not eq:
            raise FormatError(f"not an assignment: {line!r}")
        out.append(Setting(section, key.strip(_SD_BLANKS), value.strip(_SD_BLANKS)))
    if pending:
        raise FormatError("the file ends in a line continuation")
    return out


def settings_of(settings: list[Setting], section: str, key: str) -> list[str]:
    """The values of `key` in `section`, in file order."""
    return [s.value for s in settings if s.section == section and s.key == key]


def systemd_words(value: str) -> list[str]:
    """A space-separated list setting (Name=, DNS=): `extract_first_word(..., 0)`.

    With no flags, quotes are plain characters but a backslash still escapes
    the next one, and a trailing backslash is an error.
    """
    words: list[str] = []
    word: list[str] | None = None
    escaped = False
    for c in value:
        if escaped:
            word = (word or []) + [c]
            escaped = False
        elif c == "\\":
            escaped = True
            word = word or []
        elif c in _SD_BLANKS:
            if word is not None:
                words.append("".join(word))
                word = None
        else:
            word = (word or []) + [c]
    if escaped:
        raise FormatError(f"trailing backslash in {value!r}")
    if word is not None:
        words.append("".join(word))
    return words


def systemd_ifname_ok(name: str) -> bool:
    """A name as `ifname_valid_full(name, IFNAME_VALID_ALTERNATIVE)` takes it, or an
    index as `parse_ifindex` does: positive, and read by `safe_atoi` (base 0, so a
    leading 0 would make it octal: refused here rather than read as another link)."""
    if name.isascii() and name.isdigit():
        return name[0] != "0" and int(name) < 2**31
    if not name or name in {".", ".."} or len(name.encode()) > 127:
        return False
    return all(32 < ord(c) < 127 and c not in ":/%" for c in name)


@dataclass(frozen=True)
class DnsServer:
    """`DNS=` as systemd.network(5) reads one: address, port, interface, SNI name."""

    address: str
    port: int | None = None
    ifname: str | None = None
    server_name: str | None = None

    def as_answered(self) -> str:
        """The answers' spelling of a server without a port or SNI: address[%scope]."""
        return self.address + (f"%{self.ifname}" if self.ifname is not None else "")


def networkd_dns(word: str) -> DnsServer:
    """`in_addr_port_ifindex_name_from_string_auto`: `#` SNI, then `%` interface, then port."""
    rest, hash_, name = word.partition("#")
    rest, pct, ifname = rest.partition("%")
    if hash_ and not name:
        raise FormatError(f"{word!r}: empty server name after '#'")
    if pct and not systemd_ifname_ok(ifname):
        raise FormatError(f"{word!r}: {ifname!r} is not an interface name or index")
    port: int | None = None
    if rest.startswith("["):
        inside, bracket, tail = rest[1:].partition("]")
        if not bracket or (tail and not re.fullmatch(r":[0-9]+", tail)):
            raise FormatError(f"{word!r}: bad [address]:port")
        rest, port = inside, int(tail[1:]) if tail else None
    elif rest.count(":") == 1:  # IPv4 with a port; IPv6 needs brackets for one
        rest, _, p = rest.partition(":")
        if not p.isdigit():
            raise FormatError(f"{word!r}: bad port")
        port = int(p)
    return DnsServer(networkd_address(rest), port, ifname if pct else None,
                     name if hash_ else None)


def networkd_address(text: str) -> str:
    """An address as `inet_pton` reads it (Address=, Gateway=): no scope id, no blanks."""
    if "%" in text or text != text.strip() or not text:
        raise FormatError(f"{text!r} is not an address inet_pton reads")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise FormatError(f"{text!r} is not an address") from None


def networkd_prefix(text: str) -> tuple[str, int]:
    """Address=ADDR/PREFIX (`in_addr_prefix_from_string_auto`)."""
    addr, slash, prefix = text.partition("/")
    if not slash or not prefix.isascii() or not prefix.isdigit():
        raise FormatError(f"{text!r} is not ADDRESS/PREFIX")
    return networkd_address(addr), int(prefix)


# -- /etc/hosts (hosts(5)), /etc/hostname (hostname(5)) --------------------------

def hosts(text: str) -> list[tuple[str, list[str]]]:
    """(address, names) per entry: `#` starts a comment anywhere, fields are split by
    blanks (space and tab: glibc's files backend), the first field is an address."""
    out = []
    for line in lines(text):
        fields = re.split(r"[ \t]+", line.split("#", 1)[0].strip(" \t"))
        if fields == [""]:
            continue
        try:
            ipaddress.ip_address(fields[0])
        except ValueError:
            raise FormatError(f"{fields[0]!r} is not an address") from None
        if len(fields) < 2:
            raise FormatError(f"no name for {fields[0]}")
        out.append((fields[0], fields[1:]))
    return out


def resolver_reads_as_address(name: str) -> bool:
    """True when glibc takes `name` for an IPv4 address (`inet_aton`: `123`, `0x7f`,
    `10.1`) and never looks it up as a name, in /etc/hosts or anywhere else."""
    try:
        socket.inet_aton(name)
    except OSError:
        return False
    return True


def hostname_file(text: str) -> str:
    """/etc/hostname: one line holding the name; systemd refuses blanks around it."""
    got = lines(text)
    if len(got) != 1 or got[0] != got[0].strip(" \t") or not got[0]:
        raise FormatError(f"not a single hostname line: {text!r}")
    return got[0]


# -- POSIX sh assignments (/etc/default/*, answers.env, the manifest) -------------

_SH_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def sh_assignments(text: str, tilde_expanded: set[str] | None = None) -> dict[str, str]:
    """What `. FILE` sets in dash, for a file of plain assignments.

    Refuses every line that would do more than assign a constant: a command,
    an operator, and any expansion dash would perform (`$`, a backquote, a
    tilde at the start of the value or after an unquoted `:`). Pathname
    expansion and field splitting do not happen in assignments. With a
    `tilde_expanded` set, a tilde expansion is recorded there (the key) and
    the `~` kept as written, instead of refused.
    """
    values: dict[str, str] = {}
    for raw in lines(text):
        line = raw.lstrip(" \t")
        if not line or line.startswith("#"):
            continue
        m = _SH_NAME.match(line)
        if not m or line[m.end():m.end() + 1] != "=":
            raise FormatError(f"not an assignment: {raw!r}")
        try:
            values[m.group()] = _sh_word(line[m.end() + 1:], tilde_ok=False)
        except _TildeExpansion:
            if tilde_expanded is None:
                raise
            tilde_expanded.add(m.group())
            values[m.group()] = _sh_word(line[m.end() + 1:], tilde_ok=True)
    return values


class _TildeExpansion(FormatError):
    pass


def _sh_word(text: str, *, tilde_ok: bool) -> str:
    out: list[str] = []
    i, n = 0, len(text)
    tilde_may_start = True  # at the start of the value, and after an unquoted ':'
    while i < n:
        c = text[i]
        if c in " \t":
            rest = text[i:].lstrip(" \t")
            if rest and not rest.startswith("#"):
                raise FormatError(f"a second word after the value: {text!r}")
            break
        if c == "~" and tilde_may_start and not tilde_ok:
            raise _TildeExpansion(f"tilde expansion in {text!r}")
        tilde_may_start = c == ":"
        if c == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise FormatError(f"unterminated single quote in {text!r}")
            out.append(text[i + 1:end])
            i = end + 1
        elif c == '"':
            i += 1
            while True:
                if i >= n:
                    raise FormatError(f"unterminated double quote in {text!r}")
                d = text[i]
                if d == '"':
                    i += 1
                    break
                if d in "$`":
                    raise FormatError(f"expansion in double quotes in {text!r}")
                if d == "\\" and i + 1 < n and text[i + 1] in '$`"\\':
                    out.append(text[i + 1])
                    i += 2
                    continue
                out.append(d)
                i += 1
        elif c == "\\":
            if i + 1 >= n:
                raise FormatError(f"line continuation in {text!r}")
            out.append(text[i + 1])
            i += 2
        elif c in "$`":
            raise FormatError(f"expansion in {text!r}")
        elif c in ";&|<>()":
            raise FormatError(f"shell operator {c!r} in {text!r}")
        else:
            out.append(c)
            i += 1
    return "".join(out)


# -- sanoid.conf (Config::IniFiles) ---------------------------------------------

def sanoid_ini(text: str) -> list[Setting]:
    """`[section]` headers, `key = value` lines, `#` and `;` comment lines; sanoid
    reads everything after the `=` as the value, a trailing comment included."""
    out: list[Setting] = []
    section = ""
    for line in lines(text):
        stripped = line.strip(" \t")
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1].strip(" \t")
            continue
        key, eq, value = stripped.partition("=")
        if not eq:
            raise FormatError(f"not an assignment: {line!r}")
        out.append(Setting(section, key.strip(" \t"), value.strip(" \t")))
    return out


# -- the manifest, as backend/target/templates/manifest-get reads it --------------------

def manifest_get(text: str, key: str) -> str | None:
    """The awk program of manifest-get, line for line: the last `KEY=` line wins,
    its value is one shell word (quotes and backslashes undone, a blank ends it).
    None when the key is absent; FormatError for an unterminated quote (exit 3)."""
    found: str | None = None
    bad = False
    for line in lines(text):
        if not re.match(r"KLDLOAD_[A-Z0-9_]+=", line):
            continue
        eq = line.index("=")
        if line[:eq] != key:
            continue
        rest = line[eq + 1:]
        rest = rest.removesuffix("\r")
        val: list[str] = []
        mode = ""
        i, n = 0, len(rest)
        while i < n:
            c = rest[i]
            if mode == "single":
                if c == "'":
                    mode = ""
                else:
                    val.append(c)
            elif mode == "double":
                if c == "\\" and i + 1 < n and rest[i + 1] in '"\\$`':
                    i += 1
                    val.append(rest[i])
                elif c == '"':
                    mode = ""
                else:
                    val.append(c)
            elif c in " \t":
                break
            elif c == "'":
                mode = "single"
            elif c == '"':
                mode = "double"
            elif c == "\\" and i + 1 < n:
                i += 1
                val.append(rest[i])
            else:
                val.append(c)
            i += 1
        if mode:
            bad = True
            continue
        found = "".join(val)
    if found is None and bad:
        raise FormatError(f"{key}: unterminated quote")
    return found


# -- sudoers(5) ------------------------------------------------------------------

# sudoers' lexer: a WORD is any run of these, or a backslash-escaped character.
_SUDO_WORD = r"(?:[^#>!=:,()\s\\\"]|\\[^\s])+"
_SUDO_SPEC = re.compile(
    rf"^(?P<users>{_SUDO_WORD}(?:\s*,\s*{_SUDO_WORD})*)\s+(?P<rest>ALL\s*=\s*.*)$")


def sudoers_user_specs(text: str) -> list[tuple[list[str], str]]:
    """(user names, the rest with blanks removed) for each user specification.

    A user name that sudo would read as something else (an alias: all capitals;
    a group, netgroup or uid: `%`, `+`, `#`; a negation: `!`) is refused.
    """
    out = []
    for line in lines(text):
        stripped = line.strip(" \t")
        if not stripped or (stripped.startswith("#") and not stripped.startswith("#include")):
            continue
        m = _SUDO_SPEC.match(stripped)
        if not m:
            raise FormatError(f"not a user specification sudo reads as one: {line!r}")
        users = []
        for word in re.split(r"\s*,\s*", m.group("users")):
            name = re.sub(r"\\(.)", r"\1", word)
            if re.fullmatch(r"[A-Z][A-Z0-9_]*", name) or name[0] in "%+#!":
                raise FormatError(f"{word!r} is not read as a user name")
            users.append(name)
        out.append((users, re.sub(r"\s+", "", m.group("rest"))))
    return out


# -- deb822 (deb822(5), sources.list(5)) -----------------------------------------

def deb822(text: str) -> list[dict[str, str]]:
    """Stanzas of `Field: value`; field names are case-insensitive (kept lowercase),
    lines starting with blanks continue a value, `#` lines are comments."""
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last: str | None = None
    for line in lines(text):
        if line.startswith("#"):
            continue
        if not line.strip(" \t"):
            if current:
                stanzas.append(current)
            current, last = {}, None
            continue
        if line[0] in " \t":
            if last is None:
                raise FormatError(f"continuation without a field: {line!r}")
            current[last] += "\n" + line.strip(" \t")
            continue
        name, colon, value = line.partition(":")
        if not colon or not re.fullmatch(r"[!-9;-~]+", name):
            raise FormatError(f"not a field: {line!r}")
        if name.lower() in current:
            raise FormatError(f"field {name} repeated")
        last = name.lower()
        current[last] = value.strip(" \t")
    if current:
        stanzas.append(current)
    return stanzas


def deb822_words(value: str) -> list[str]:
    """A whitespace-separated deb822 field (URIs, Suites, Components): apt splits
    on ASCII whitespace."""
    return [w for w in re.split(r"[ \t\n\r\f\v]+", value) if w]


# -- authorized_keys (sshd(8)), chpasswd(8) input --------------------------------

_KEY_TYPES = frozenset({
    "ssh-ed25519", "ssh-rsa", "ssh-dss", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
})


@dataclass(frozen=True)
class AuthorizedKey:
    """One authorized_keys line as sshd reads it."""

    options: str
    kind: str
    blob: str
    comment: str


def authorized_keys(text: str) -> list[AuthorizedKey]:
    """sshd's reading: fields separated by spaces and tabs (nothing else), a first
    field that is not a key type is the options, the blob's header names its type."""
    out = []
    for line in lines(text):
        line = line.lstrip(" \t")
        if not line or line.startswith("#"):
            continue
        fields = re.split(r"[ \t]+", line, maxsplit=1)
        options = ""
        if fields[0] not in _KEY_TYPES:
            options, _, line = line.partition(" ")  # good enough: ours have none
            fields = re.split(r"[ \t]+", line.lstrip(" \t"), maxsplit=1)
            if fields[0] not in _KEY_TYPES:
                raise FormatError(f"no key type sshd knows in {line[:40]!r}")
        if len(fields) < 2:
            raise FormatError("a key type without a key")
        m = re.fullmatch(r"([^ \t]+)(?:[ \t]+(.*))?", fields[1])
        assert m is not None
        blob, comment = m.group(1), m.group(2) or ""
        try:
            raw = base64.b64decode(blob, validate=True)
            (length,) = struct.unpack(">I", raw[:4])
            embedded = raw[4:4 + length].decode("ascii")
        except (ValueError, struct.error, UnicodeDecodeError):
            raise FormatError(f"{blob[:20]!r}... is not a key sshd decodes") from None
        if embedded != fields[0]:
            raise FormatError(f"the {fields[0]} line holds a {embedded} key")
        out.append(AuthorizedKey(options, fields[0], blob, comment))
    return out


def chpasswd_lines(text: str) -> list[tuple[str, str]]:
    """(user, password) per line: chpasswd cuts the newline and splits at the first ':'."""
    out = []
    for line in lines(text):
        user, colon, password = line.partition(":")
        if not colon:
            raise FormatError("a chpasswd line without ':'")
        out.append((user, password))
    return out


# -- wg-quick(8) configuration ---------------------------------------------------

def wg_quick(text: str) -> list[Setting]:
    """wg-quick's reading: `#` starts a comment anywhere, `Key = Value` with blanks
    around both trimmed, sections [Interface] and [Peer]."""
    out: list[Setting] = []
    section = ""
    for line in lines(text):
        stripped = line.split("#", 1)[0].strip(" \t")
        if not stripped:
            continue
        if re.fullmatch(r"\[[A-Za-z]+\]", stripped):
            section = stripped[1:-1]
            continue
        key, eq, value = stripped.partition("=")
        if not eq:
            raise FormatError(f"not an assignment: {line!r}")
        out.append(Setting(section, key.strip(" \t"), value.strip(" \t")))
    return out


def wg_allowed_ips(value: str) -> list[str]:
    """AllowedIPs: comma-separated networks, as wg(8) parses them (inet_pton: no scope)."""
    nets = []
    for item in value.split(","):
        item = item.strip(" \t")
        if "%" in item:
            raise FormatError(f"{item!r}: wg reads no scope id in AllowedIPs")
        try:
            nets.append(str(ipaddress.ip_network(item)))
        except ValueError:
            raise FormatError(f"{item!r} is not a network wg reads") from None
    return nets
