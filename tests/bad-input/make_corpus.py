"""Write the bad-input corpus: one answers file per class of problem.

The .env files hold control and invisible characters that an editor would not
show or would mangle, so they are written from here; run it from anywhere with
`python tests/bad-input/make_corpus.py`. The .expected files beside them hold
the exact error lines `kldload-tui validate` prints (run from this folder) and
are kept by hand: a change of wording is a change to review, not to regenerate.
"""

from __future__ import annotations

import base64
import struct
from pathlib import Path

HERE = Path(__file__).parent
BASE = ("KLDLOAD_DISTRO=debian\nKLDLOAD_DISK=/dev/sda\nKLDLOAD_HOSTNAME=web-01\n"
        "KLDLOAD_PASSWORD='Str0ng-enough'\n")
KEY = "AAAAC3NzaC1lZDI1NTE5AAAAILN0whhzPJXkgKWfGjtQmn1pIoK0FhWBWGYIxKOdPqX9"


def _ssh_blob(*fields: bytes) -> str:
    return base64.b64encode(b"".join(struct.pack(">I", len(f)) + f for f in fields)).decode()


# A complete RSA key of 512 bits: well-formed, but sshd refuses it.
SHORT_RSA = _ssh_blob(b"ssh-rsa", b"\x01\x00\x01", b"\x00" + ((1 << 511) | 1).to_bytes(64, "big"))
STATIC = "KLDLOAD_NET_METHOD=static\nKLDLOAD_NET_PREFIX=64\n"

# name: (what the file shows, the lines after BASE)
CORPUS: dict[str, tuple[str, str]] = {
    # -- control and invisible characters, in single values and list items
    "net-dns-escape": ("an ANSI escape sequence in a DNS list item",
                       "KLDLOAD_NET_DNS='1.1.1.1 \x1b[2J8.8.8.8'"),
    "net-dns-nul": ("a NUL between two DNS servers", "KLDLOAD_NET_DNS='1.1.1.1\x008.8.8.8'"),
    "net-dns-c1-csi": ("a C1 CSI (U+009B) in a DNS list", "KLDLOAD_NET_DNS='1.1.1.1,\x9b2J'"),
    "net-dns-tab-separator": ("a tab between DNS servers (only spaces and commas separate)",
                              "KLDLOAD_NET_DNS='1.1.1.1\t8.8.8.8'"),
    "net-dns-nbsp-separator": ("a no-break space between DNS servers, as pasted from a page",
                               "KLDLOAD_NET_DNS='1.1.1.1\u00a08.8.8.8'"),
    "zfs-data-disks-escape": ("an escape sequence in a data disk",
                              "KLDLOAD_ZFS_TOPOLOGY=mirror\n"
                              "KLDLOAD_ZFS_DATA_DISKS='/dev/sdb\x1b]0;owned\x07'"),
    "zfs-special-disks-vt": ("a vertical tab in the special disks",
                             "KLDLOAD_ZFS_SPECIAL_DISKS='/dev/nvme0n1\x0b/dev/nvme1n1'"),
    "extra-packages-nul": ("a NUL in a package name", "KLDLOAD_EXTRA_PACKAGES='htop\x00,tmux'"),
    "c1-control-hostname": ("a C1 CSI (U+009B) in the hostname",
                            "KLDLOAD_HOSTNAME='web\x9b-01'"),
    "c1-control-password": ("a C1 NEL (U+0085) inside a quoted password: refused, not echoed",
                            "KLDLOAD_PASSWORD='hunter2-\x85-secret'"),
    "c1-control-passphrase-osc": ("a C1 OSC (U+009D) and ST (U+009C) in a secret",
                                "KLDLOAD_ZFS_ENCRYPT=1\n"
                                "KLDLOAD_ZFS_PASSPHRASE='\x9d0;title\x9cpassphrase'"),
    "del-in-mirror-url": ("a DEL in a URL",
                          "KLDLOAD_CUSTOM_MIRROR_URL='http://deb.example.org/\x7fdebian'"),
    "bidi-override-locale": ("a right-to-left override (U+202E) in the locale",
                             "KLDLOAD_LOCALE='en_US\u202e8-FTU.'"),
    "bidi-isolate-ssh-comment": ("a bidi isolate (U+2066) in an SSH key's comment",
                                 f"KLDLOAD_SSH_PUBKEY='ssh-ed25519 {KEY} ops\u2066@infra'"),
    "bidi-mark-password": ("a right-to-left mark (U+200F) in the password",
                           "KLDLOAD_ZFS_ENCRYPT=1\nKLDLOAD_ZFS_PASSPHRASE='abc\u200fdefghij'"),
    "line-separator-bootloader-id": ("a Unicode line separator (U+2028) in a single value",
                                     "KLDLOAD_BOOTLOADER_ID='KLDload\u2028Other'"),
    "keyboard-zero-width-space": ("a zero-width space (U+200B): refused by the layout's rule, "
                                  "and escaped in the message",
                                  "KLDLOAD_KEYBOARD_LAYOUT='u\u200bs'"),
    "switch-escape": ("an escape sequence in a switch, echoed escaped",
                      "KLDLOAD_ZFS_ENCRYPT='\x1b[31myes'"),
    "number-foreign-digits": ("Arabic-Indic digits as a prefix length",
                              "KLDLOAD_NET_PREFIX='\u0662\u0664'"),
    # -- IPv6 scope IDs and addresses networkd cannot use
    "ipv6-scope-injection": ("a scope ID that smuggles a second networkd setting",
                             STATIC + "KLDLOAD_NET_IP='fe80::1%eth0 Gateway=6.6.6.6'\n"
                             "KLDLOAD_NET_GW=fe80::2\nKLDLOAD_NET_DNS=fe80::53%eth0"),
    "net-gw-scoped": ("a scoped link-local gateway (networkd's Gateway= takes none)",
                      STATIC + "KLDLOAD_NET_IP=2001:db8::10\nKLDLOAD_NET_GW=fe80::1%eth0\n"
                      "KLDLOAD_NET_DNS=2001:db8::53"),
    "net-dns-scope-injection": ("a DNS scope ID that is not an interface name",
                                "KLDLOAD_NET_DNS='fe80::53%eth0;DNS=6.6.6.6'"),
    "net-dns-scope-global": ("a scope ID on a global address",
                             "KLDLOAD_NET_DNS='2001:db8::53%eth0'"),
    "net-dns-scope-ipv4": ("a scope ID on an IPv4 address", "KLDLOAD_NET_DNS='10.0.1.1%eth0'"),
    "net-ip-unspecified": ("0.0.0.0 as this machine's address (networkd would pick one)",
                           "KLDLOAD_NET_METHOD=static\nKLDLOAD_NET_IP=0.0.0.0\n"
                           "KLDLOAD_NET_GW=10.0.1.1\nKLDLOAD_NET_DNS=10.0.1.1"),
    "net-gw-multicast": ("a multicast gateway", "KLDLOAD_NET_METHOD=static\n"
                         "KLDLOAD_NET_IP=10.0.1.50\nKLDLOAD_NET_GW=224.0.0.1\n"
                         "KLDLOAD_NET_DNS=10.0.1.1"),
    "cluster-cidr-scoped": ("a scope ID in a network", "KLDLOAD_CLUSTER_CIDR='fd00::%wg0/64'"),
    # -- what apt would read as something else than "install this package"
    "package-remove-modifier": ("a trailing '-', apt's remove modifier",
                                "KLDLOAD_EXTRA_PACKAGES='htop xz-utils-'"),
    "package-version-remove-modifier": ("a trailing '-' after a version",
                                        "KLDLOAD_EXTRA_PACKAGES='htop=3.2.2-'"),
    "package-suite-install-modifier": ("a trailing '+' after a suite, where no name can end",
                                       "KLDLOAD_EXTRA_PACKAGES='htop/bookworm-backports+'"),
    "package-pattern": ("a wildcard", "KLDLOAD_EXTRA_PACKAGES='tmux,lib*-dev'"),
    "package-apt-pattern": ("apt's search pattern syntax", "KLDLOAD_EXTRA_PACKAGES='~nvim'"),
    "package-regex": ("a regular expression", "KLDLOAD_EXTRA_PACKAGES='^python3-.*$'"),
    "package-task": ("a tasksel task", "KLDLOAD_EXTRA_PACKAGES='gnome-desktop^'"),
    "package-option": ("an apt option among the packages", "KLDLOAD_EXTRA_PACKAGES='htop -y'"),
    "package-uppercase": ("capital letters", "KLDLOAD_EXTRA_PACKAGES=NetworkManager"),
    "package-one-character": ("a one-character name", "KLDLOAD_EXTRA_PACKAGES='htop,x'"),
    "package-arch-qualifier": ("a foreign architecture", "KLDLOAD_EXTRA_PACKAGES=libc6:i386"),
    "package-bad-version": ("a version that does not start with a digit",
                            "KLDLOAD_EXTRA_PACKAGES=htop=v3.2"),
    "package-underscore": ("a character no Debian name has",
                           "KLDLOAD_EXTRA_PACKAGES=python3_yaml"),
    # -- what useradd would refuse
    "username-group-clash": ("a base system group", "KLDLOAD_USERNAME=sudo"),
    "username-package-group": ("a group a common package creates", "KLDLOAD_USERNAME=docker"),
    "username-system-account": ("a base system account", "KLDLOAD_USERNAME=backup"),
    # -- what the tz database has no zone for
    "timezone-localtime": ("the link /etc/localtime points through",
                           "KLDLOAD_TIMEZONE=localtime"),
    "timezone-posixrules": ("the tz compiler's template", "KLDLOAD_TIMEZONE=posixrules"),
    "timezone-factory": ("the zone-not-set placeholder", "KLDLOAD_TIMEZONE=Factory"),
    "timezone-right-leap-seconds": ("a right/ zone", "KLDLOAD_TIMEZONE=right/Europe/Berlin"),
    "timezone-posix-duplicate": ("a posix/ copy", "KLDLOAD_TIMEZONE=posix/America/Toronto"),
    "timezone-region-directory": ("a region directory", "KLDLOAD_TIMEZONE=Europe"),
    # -- cluster networks that cannot number the nodes
    "cluster-cidr-too-small": ("a /32 for a cluster", "KLDLOAD_INFRA_MODE=cluster\n"
                               "KLDLOAD_WIREGUARD=1\nKLDLOAD_CLUSTER_SIZE=1\n"
                               "KLDLOAD_CLUSTER_CIDR=10.100.0.0/32"),
    "cluster-cidr-no-room-for-hub": ("as many addresses as nodes, none for the hub",
                                     "KLDLOAD_INFRA_MODE=cluster\nKLDLOAD_WIREGUARD=1\n"
                                     "KLDLOAD_CLUSTER_SIZE=6\nKLDLOAD_CLUSTER_CIDR=10.100.0.0/29"),
    "cluster-cidr-wireguard-standalone": ("WireGuard on without cluster mode, a network too "
                                          "small for the default 16 nodes",
                                          "KLDLOAD_WIREGUARD=1\nKLDLOAD_CLUSTER_CIDR=fd00::/124"),
    # -- SSH keys sshd would not read
    "ssh-key-tab-separated": ("a tab between type and key",
                              f"KLDLOAD_SSH_PUBKEY='ssh-ed25519\t{KEY} ops@infra'"),
    "ssh-key-nbsp-separated": ("a no-break space between type and key",
                               f"KLDLOAD_SSH_PUBKEY='ssh-ed25519\u00a0{KEY} ops@infra'"),
    "ssh-key-ideographic-space": ("an ideographic space (U+3000) before the comment",
                                  f"KLDLOAD_ADMIN_SSH_PUBKEY='ssh-ed25519 {KEY}\u3000ops@infra'"),
    "ssh-key-type-only": ("a blob that is only the type header",
                          "KLDLOAD_SSH_PUBKEY='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 ops@infra'"),
    "ssh-key-type-mismatch": ("an ed25519 blob labelled ssh-rsa",
                              f"KLDLOAD_SSH_PUBKEY='ssh-rsa {KEY} ops@infra'"),
    "ssh-key-dsa": ("a DSA key", "KLDLOAD_SSH_PUBKEY='ssh-dss AAAAB3NzaC1kc3M= ops@infra'"),
    "ssh-key-rsa-512": ("a 512-bit RSA key", f"KLDLOAD_SSH_PUBKEY='ssh-rsa {SHORT_RSA} old'"),
    # -- all of it at once: every error is reported, in file order
    "many-at-once": ("several classes in one file, all reported",
                     "KLDLOAD_USERNAME=adm\nKLDLOAD_TIMEZONE=localtime\n"
                     "KLDLOAD_EXTRA_PACKAGES='htop vim- lib*'\nKLDLOAD_NET_DNS='1.1.1.1\x1b[0m'\n"
                     "KLDLOAD_INFRA_MODE=cluster\nKLDLOAD_WIREGUARD=1\n"
                     "KLDLOAD_CLUSTER_CIDR=10.1.0.0/31"),
}


def answers_text(what: str, lines: str) -> str:
    """BASE with `lines` after it; a line for a key of BASE takes that line's place."""
    extra = lines.split("\n")
    keys = {line.split("=", 1)[0]: line for line in extra}
    base = [keys.get(line.split("=", 1)[0], line) for line in BASE.splitlines()]
    rest = [line for line in extra if line not in base]
    return "\n".join([f"# {what}", *base, *rest]) + "\n"


def main() -> None:
    for old in HERE.glob("*.env"):
        old.unlink()
    for name, (what, lines) in CORPUS.items():
        (HERE / f"{name}.env").write_bytes(answers_text(what, lines).encode())


if __name__ == "__main__":
    main()
