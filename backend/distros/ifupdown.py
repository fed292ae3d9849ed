"""Alpine's network configuration: ifupdown-ng's /etc/network/interfaces and
/etc/resolv.conf, DHCP or a static address.

The interfaces format has no quoting: a value is the rest of its line, split
on blanks, and `#` starts a comment. So nothing is escaped; every value must
be one word of the characters its grammar allows (an interface name, an
address, a prefix), and anything else is refused (`ValueError`) rather than
written, since a blank or a newline in a value would add options or stanzas.
The answers' validators already allow only such values; this is the writer's
own check, not a second opinion.

Without KLDLOAD_NET_IFACE the first wired interface, eth0, is configured: the
format has no patterns (systemd-networkd's `en* eth*`), and Alpine keeps the
kernel's names (neither mdev nor Alpine's eudev renames interfaces).
With DHCP, udhcpc writes /etc/resolv.conf from the lease, so answered DNS
servers are written only for a static address (where they are the only ones).
"""

from __future__ import annotations

import ipaddress
import re

from kldload_tui.backend.answers.model import Answers, NetMethod
from kldload_tui.backend.target.files import TargetFile

INTERFACES_PATH = "etc/network/interfaces"
RESOLV_CONF_PATH = "etc/resolv.conf"
DEFAULT_IFACE = "eth0"
# What a Linux interface name may be (IFNAMSIZ 16 with the NUL; no / or blanks),
# narrowed to characters that are plain words in the interfaces format.
_IFACE = re.compile(r"[A-Za-z0-9_.:-]{1,15}")


def _word(value: str, what: str) -> str:
    """`value` as one word of the interfaces format, or ValueError."""
    if not value or any(c.isspace() or c == "#" or not c.isprintable() for c in value):
        raise ValueError(f"{what} {value!r} cannot be written to /etc/network/interfaces: "
                         "it must be one word without #")
    return value


def interface_name(name: str) -> str:
    if not _IFACE.fullmatch(name) or name in (".", ".."):
        raise ValueError(f"interface name {name!r} cannot be written to "
                         "/etc/network/interfaces")
    return name


def interfaces(answers: Answers) -> str:
    """/etc/network/interfaces for the answers (see the module's docstring)."""
    iface = interface_name(answers.net_iface or DEFAULT_IFACE)
    lines = ["# Written by kldload-tui; see interfaces(5) of ifupdown-ng.", "auto lo",
             "iface lo inet loopback", "", f"auto {iface}"]
    if answers.net_method is NetMethod.STATIC:
        address = ipaddress.ip_address(_word(answers.net_ip, "KLDLOAD_NET_IP"))
        gateway = ipaddress.ip_address(_word(answers.net_gw, "KLDLOAD_NET_GW"))
        network = ipaddress.ip_network(f"{address}/{answers.net_prefix}", strict=False)
        family = "inet" if address.version == 4 else "inet6"
        lines += [f"iface {iface} {family} static",
                  f"\taddress {address}/{network.prefixlen}",
                  f"\tgateway {gateway}"]
    else:
        lines.append(f"iface {iface} inet dhcp")
    return "\n".join(lines) + "\n"


def resolv_conf(answers: Answers) -> str | None:
    """/etc/resolv.conf for a static address with DNS servers (None: leave it to DHCP,
    or to nothing for a static address without servers)."""
    if answers.net_method is not NetMethod.STATIC or not answers.net_dns:
        return None
    servers = [str(ipaddress.ip_address(_word(s, "KLDLOAD_NET_DNS"))) for s in answers.net_dns]
    return "# Written by kldload-tui (KLDLOAD_NET_DNS)\n" + "".join(
        f"nameserver {s}\n" for s in servers)


def network_files(answers: Answers) -> list[TargetFile]:
    """The interfaces file and, for a static address with servers, resolv.conf."""
    files = [TargetFile(INTERFACES_PATH, interfaces(answers),
                        units_to_enable=["networking"])]
    resolv = resolv_conf(answers)
    if resolv is not None:
        files.append(TargetFile(RESOLV_CONF_PATH, resolv))
    return files


def read_interfaces(text: str) -> dict[str, dict[str, object]]:
    """A small reader of what `interfaces` writes, for the checks: each `iface`
    stanza's method and options, and which interfaces are `auto`."""
    stanzas: dict[str, dict[str, object]] = {}
    auto: list[str] = []
    current: dict[str, object] | None = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        if words[0] == "auto":
            auto += words[1:]
            current = None
        elif words[0] == "iface":
            if len(words) != 4:
                raise ValueError(f"iface line without name, family and method: {raw!r}")
            current = {"family": words[2], "method": words[3], "options": {}}
            stanzas[words[1]] = current
        elif current is not None and len(words) >= 2:
            options = current["options"]
            assert isinstance(options, dict)
            options[words[0]] = " ".join(words[1:])
        else:
            raise ValueError(f"a line outside any iface stanza: {raw!r}")
    for name in auto:
        if name in stanzas:
            stanzas[name]["auto"] = True
    return stanzas
