"""The answered network as a NetworkManager keyfile (nm-settings-keyfile(5)).

A keyfile is a GLib key file: `key=value` lines in `[groups]`, string values
escaped as GLib escapes them (`\\s` for a leading blank, `\\n`, `\\t`, `\\r`,
`\\\\`), list values ended by `;` with a `;` inside an element escaped. Every
value written here goes through `escape_value` or `escape_list`, so an answer
can never add a line or a key. NetworkManager ignores a keyfile that is not
owned by root with mode 0600, hence the mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import ip_address

from kldload_tui.backend.answers.model import Answers, NetMethod
from kldload_tui.backend.export.seal import STATIC_KEYFILE_PATH
from kldload_tui.backend.target.files import TargetFile

KEYFILE_DIR = "etc/NetworkManager/system-connections"
NETWORK_UNITS = ["NetworkManager.service"]

_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def escape_value(value: str) -> str:
    """A string as g_key_file_set_string writes it."""
    text = "".join(_ESCAPES.get(c, c) for c in value)
    # GLib keeps inner blanks but strips a leading one unless escaped.
    return "\\s" + text[1:] if text.startswith(" ") else text


def escape_list(items: Sequence[str]) -> str:
    """A string list as g_key_file_set_string_list writes it: each element ended by `;`."""
    return "".join(escape_value(item).replace(";", "\\;") + ";" for item in items)


def unescape_value(text: str) -> str:
    """The inverse of `escape_value` (and of one element of `escape_list`): for
    reading keyfiles back."""
    out: list[str] = []
    chars = iter(text)
    table = {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\", ";": ";"}
    for c in chars:
        if c != "\\":
            out.append(c)
            continue
        nxt = next(chars, "")
        if nxt not in table:
            raise ValueError(f"invalid escape \\{nxt} in {text!r}")
        out.append(table[nxt])
    return "".join(out)


def split_list(text: str) -> list[str]:
    """A keyfile list value back into its elements (`a;b;` -> [a, b])."""
    items: list[str] = []
    current = ""
    escaped = False
    for c in text:
        if escaped:
            current += "\\" + c
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == ";":
            items.append(unescape_value(current))
            current = ""
        else:
            current += c
    if current or escaped:
        raise ValueError(f"list value {text!r} does not end with ';'")
    return items


def nm_keyfile(answers: Answers) -> TargetFile:
    """One connection profile: DHCP or the static address, on the answered
    interface or, without one, on whichever wired interface comes up."""
    static = answers.net_method is NetMethod.STATIC
    conn_id = "kldload-static" if static else "kldload-dhcp"
    sections: dict[int, list[str]] = {4: ["method=auto"], 6: ["method=auto"]}
    if static:
        family = ip_address(answers.net_ip).version
        address = f"{answers.net_ip}/{answers.net_prefix}"
        sections[family] = ["method=manual",
                            f"address1={escape_value(address)},{escape_value(answers.net_gw)}"]
        if family == 6:
            sections[4] = ["method=disabled"]  # a static v6 answer: no v4 DHCP to wait for
    for family in (4, 6):
        # NetworkManager takes each family's servers in that family's section; with
        # DHCP they are used alongside the servers DHCP hands out.
        servers = [d for d in answers.net_dns
                   if ip_address(d.partition("%")[0]).version == family]
        if servers:
            sections[family].append(f"dns={escape_list(servers)}")
    lines = ["# Written by kldload-tui; see nm-settings-keyfile(5).", "[connection]",
             f"id={escape_value(conn_id)}", "type=ethernet", "autoconnect=true"]
    if answers.net_iface:
        lines.append(f"interface-name={escape_value(answers.net_iface)}")
    lines += ["", "[ethernet]", "", "[ipv4]", *sections[4], "", "[ipv6]", *sections[6], ""]
    # Sealing removes the static profile by its path; the DHCP one stays, as on Debian.
    path = STATIC_KEYFILE_PATH if static else f"{KEYFILE_DIR}/{conn_id}.nmconnection"
    return TargetFile(path, "\n".join(lines), 0o600, units_to_enable=list(NETWORK_UNITS))
