"""The files an install writes into the target, as data: path, content, mode.

Pure functions from the answers and a few install facts to `TargetFile`s; the
engine writes them through the runner and enables `units_to_enable` (for
example `systemctl --root=TARGET enable ...`). Nothing here touches a disk.

- `manifest_files`: the install manifest and the held-packages list.
- `system_files`: hostname, hosts, locale, time zone, keyboard, sudoers and
  the systemd-networkd configuration, where the Debian family reads them (a
  distribution backend writes them when they fit); `system_links` gives the
  /etc/localtime symlink.
- `service_files`: the kldload units and scripts (firstboot, snapshot and scrub
  timers), the package holds the distribution backend supplies, sanoid's
  policy, the WireGuard interface.
- `seal_files`: what a golden image gets when it is sealed; what sealing
  clears is in `kldload_tui.backend.export.seal`.

What differs between distributions (which packages to hold and how) is the
distribution backend's (`kldload_tui.backend.distros`), never decided here.
Units and scripts are package data in `backend/target/templates/`; `@NAME@`
placeholders in them are filled here and a leftover one is an error.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources

from kldload_tui.backend.answers.model import Answers, InfraMode, NetMethod, Profile
from kldload_tui.backend.answers.validators import IPAddress, IPNetwork, usable_addresses
from kldload_tui.backend.target.manifest import (
    MANIFEST_MODE,
    MANIFEST_PATH,
    InstallFacts,
    render_manifest,
)

UNIT_DIR = "usr/lib/systemd/system"
LIB_DIR = "usr/lib/kldload"
HELD_PACKAGES_PATH = "etc/kldload/held-packages"
SUDOERS_PATH = "etc/sudoers.d/kldload-admin"
STATIC_NETWORK_PATH = "etc/systemd/network/10-kldload-static.network"
DHCP_NETWORK_PATH = "etc/systemd/network/20-kldload-dhcp.network"
WIREGUARD_DIR = "etc/wireguard"
WIREGUARD_PORT = 51820

_PLACEHOLDER = re.compile(r"@[A-Z_]+@")
_SCRIPTS = ("firstboot", "manifest-get", "snapshot")
_UNITS = ("kldload-firstboot.service", "kldload-snapshot.service", "kldload-snapshot.timer",
          "kldload-srv-snapshot.service", "kldload-srv-snapshot.timer",
          "kldload-scrub.service", "kldload-scrub.timer")
_NETWORK_UNITS = ["systemd-networkd.service", "systemd-resolved.service"]
# Locales libc has without generating them.
NO_LOCALE_GENERATION = frozenset({"C", "POSIX", "C.UTF-8"})


@dataclass(frozen=True)
class TargetFile:
    """One file for the target: `path` is relative to the target root."""

    path: str
    content: str
    mode: int = 0o644
    units_to_enable: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.path.startswith("/") or ".." in self.path.split("/"):
            raise ValueError(f"target paths are relative and stay inside: {self.path!r}")


@dataclass(frozen=True)
class TargetLink:
    """A symlink for the target: `path` relative to the root, `target` as stored."""

    path: str
    target: str


def template(name: str, **values: str) -> str:
    """A template's text with `@KEY@` replaced by `values["key"]`."""
    text = (resources.files(__package__) / "templates" / name).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace(f"@{key.upper()}@", value)
    leftover = _PLACEHOLDER.search(text)
    if leftover:
        raise ValueError(f"template {name}: no value for {leftover.group()}")
    return text


def units_to_enable(files: Iterable[TargetFile]) -> list[str]:
    """Every unit the files ask for, once each, in order."""
    seen: dict[str, None] = {}
    for f in files:
        seen.update(dict.fromkeys(f.units_to_enable))
    return list(seen)


# -- manifest ---------------------------------------------------------------

def manifest_files(answers: Answers, facts: InstallFacts) -> list[TargetFile]:
    """The install manifest (mode 0600, no secrets) and the held-packages list.

    The list is a file of its own because sealing deletes the manifest and a
    clone must still hold the same packages. The names are the distribution
    backend's (`DistroBackend.held_packages`), given in `facts`.
    """
    held = "".join(f"{name}\n" for name in facts.held_packages)
    return [
        TargetFile(MANIFEST_PATH, render_manifest(answers, facts), MANIFEST_MODE),
        # How they are held is the package manager's business: the backend's hold files.
        TargetFile(HELD_PACKAGES_PATH,
                   "# Packages kldload-package-holds keeps held (from upgrades), one per line.\n"
                   "# Upgrade them together and deliberately, after a snapshot.\n" + held),
    ]


# -- system configuration -----------------------------------------------------

def system_files(answers: Answers) -> list[TargetFile]:
    """Identity, locale, admin sudo rule and network, at the Debian family's paths.

    Only a distribution backend writes these (in its `configure`), so one whose
    system reads other files simply does not call this.
    """
    return [
        *identity_files(answers, ipv6="::1\tlocalhost ip6-localhost ip6-loopback\n"
                                      "ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"),
        TargetFile("etc/default/locale", f"LANG={answers.locale}\n"),
        TargetFile("etc/timezone", f"{answers.timezone}\n"),
        TargetFile("etc/default/keyboard",
                   "# Written by kldload-tui; see keyboard(5).\n"
                   f'XKBMODEL="pc105"\nXKBLAYOUT="{answers.keyboard_layout}"\n'
                   f'XKBVARIANT="{answers.keyboard_variant}"\nXKBOPTIONS=""\n\n'
                   'BACKSPACE="guess"\n'),
        sudoers_file(answers),
        network_file(answers),
    ]


def identity_files(answers: Answers, *, ipv6: str) -> list[TargetFile]:
    """/etc/hostname and /etc/hosts, alike in every distribution but for the IPv6
    lines each one's own /etc/hosts carries (`ipv6`, whole lines)."""
    short, fqdn = host_names(answers)
    hosts_line = f"127.0.1.1\t{fqdn} {short}" if fqdn != short else f"127.0.1.1\t{short}"
    return [TargetFile("etc/hostname", f"{short}\n"),
            TargetFile("etc/hosts", f"127.0.0.1\tlocalhost\n{hosts_line}\n\n{ipv6}")]


def locale_files(answers: Answers) -> list[TargetFile]:
    """systemd's /etc/locale.conf and /etc/vconsole.conf (the console keymap is
    the X layout, with its variant when one is answered), where the systems that
    read them (the dnf family, Arch) have them."""
    keymap = (f"{answers.keyboard_layout}-{answers.keyboard_variant}"
              if answers.keyboard_variant else answers.keyboard_layout)
    return [TargetFile("etc/locale.conf", f"LANG={answers.locale}\n"),
            TargetFile("etc/vconsole.conf", f"KEYMAP={keymap}\n")]


def sudoers_file(answers: Answers) -> TargetFile:
    """The admin user's passwordless sudo rule."""
    return TargetFile(SUDOERS_PATH,
                      "# Written by kldload-tui: the admin user has passwordless sudo.\n"
                      f"{answers.username} ALL=(ALL) NOPASSWD:ALL\n", 0o440)


def host_names(answers: Answers) -> tuple[str, str]:
    """(short name, FQDN) for /etc/hostname and /etc/hosts.

    A dotted hostname is already an FQDN. A short one gets the cluster domain
    in cluster mode; a standalone machine has no domain we know of, so its
    FQDN is its short name (the default domain would be an invented one).
    """
    name = answers.hostname
    if "." in name:
        return name.split(".", 1)[0], name
    if answers.infra_mode is InfraMode.CLUSTER:
        return name, f"{name}.{answers.cluster_domain}"
    return name, name


def locale_gen(locale: str) -> str | None:
    """/etc/locale.gen naming the one locale to build, or None for one built into libc.

    Each line is `NAME CHARMAP`; locale-gen runs `localedef -f CHARMAP`, so the
    charmap is the codeset alone: `ca_ES.UTF-8@valencia` is built from UTF-8,
    not from a charmap called `UTF-8@valencia`.
    """
    if locale in NO_LOCALE_GENERATION:
        return None
    codeset = locale.partition("@")[0].partition(".")[2]
    return f"{locale} {codeset or 'ISO-8859-1'}\n"


def authorized_keys(key: str) -> str:
    """authorized_keys holding the one answered public key (a line as sshd reads it)."""
    return f"{key}\n"


def system_links(answers: Answers) -> list[TargetLink]:
    """/etc/localtime, which (not /etc/timezone) is what the system reads."""
    return [TargetLink("etc/localtime", f"/usr/share/zoneinfo/{answers.timezone}")]


def network_file(answers: Answers) -> TargetFile:
    """systemd-networkd: DHCP or a static address, on one interface or all wired ones."""
    match = answers.net_iface or "en* eth*"
    lines = ["# Written by kldload-tui; see systemd.network(5).", "[Match]", f"Name={match}",
             "", "[Network]"]
    if answers.net_method is NetMethod.STATIC:
        path = STATIC_NETWORK_PATH
        lines += [f"Address={answers.net_ip}/{answers.net_prefix}",
                  f"Gateway={answers.net_gw}"]
    else:
        path = DHCP_NETWORK_PATH
        lines.append("DHCP=yes")
    # With DHCP these are used alongside the servers DHCP hands out.
    lines += [f"DNS={server}" for server in answers.net_dns]
    return TargetFile(path, "\n".join(lines) + "\n", units_to_enable=list(_NETWORK_UNITS))


# -- services -------------------------------------------------------------------

def service_files(answers: Answers, facts: InstallFacts,
                  holds: Sequence[TargetFile] | None = None,
                  initramfs_rebuild: Sequence[str] | None = None,
                  init_system: str = "systemd") -> list[TargetFile]:
    """The kldload units and scripts, the package holds, sanoid's policy and the
    WireGuard interface.

    Only kldload-firstboot.service is enabled by the engine; firstboot enables
    the timers, WireGuard and the package holds on the machine itself, so a
    clone of a sealed image gets them too. `holds` and `initramfs_rebuild` (the
    command firstboot rebuilds a clone's initramfs with) are the distribution
    backend's (`DistroBackend.hold_files`, `.initramfs_rebuild`); None asks the
    backend that serves `answers.distro`, for callers without an install context.
    `init_system` (the backend's `init_system`): "systemd" gives the units and
    timers; "openrc" gives init scripts and busybox crond's periodic jobs instead
    (`_openrc_files`), and firstboot's service commands to match.
    """
    if init_system not in FIRSTBOOT_COMMANDS:
        raise ValueError(f"no service files for init system {init_system!r}")
    if holds is None or initramfs_rebuild is None:
        # Imported here: the backends import this module.
        from kldload_tui.backend.distros import distro_backend

        backend = distro_backend(answers)
        holds = backend.hold_files() if holds is None else holds
        if initramfs_rebuild is None:
            initramfs_rebuild = backend.initramfs_rebuild
    pool = facts.pool
    # A shell command line; none known makes the step fail, and say so, on a clone.
    rebuild = (shlex.join(initramfs_rebuild) if initramfs_rebuild
               else 'log "no initramfs command is known for this system"; false')
    files = [TargetFile(f"{LIB_DIR}/{name}",
                        template(name, pool=pool, initramfs_rebuild=rebuild,
                                 **FIRSTBOOT_COMMANDS[init_system]), 0o755)
             for name in _SCRIPTS]
    if init_system == "openrc":
        files += _openrc_files(answers, pool)
    else:
        for unit in _UNITS:
            enable = ["kldload-firstboot.service"] if unit == "kldload-firstboot.service" else []
            files.append(TargetFile(f"{UNIT_DIR}/{unit}", template(unit, pool=pool),
                                    units_to_enable=enable))
    files += holds
    if answers.profile in (Profile.SERVER, Profile.DESKTOP):
        files.append(TargetFile("etc/sanoid/sanoid.conf", template("sanoid.conf", pool=pool)))
    if answers.wireguard:
        files.append(TargetFile(f"{WIREGUARD_DIR}/wg0.conf", wireguard_config(answers), 0o600))
    return files


# firstboot's service commands per init system (templates/firstboot). systemd's are
# the commands the script always had; OpenRC's go through the openrc-service helper
# (rc-update, rc-service, and the periodic jobs crond runs).
_OPENRC_SERVICE = '"$LIBDIR/openrc-service"'
FIRSTBOOT_COMMANDS: dict[str, dict[str, str]] = {
    "systemd": {
        "wireguard_enable": "systemctl enable --now wg-quick@wg0.service",
        "timers_enable": "systemctl enable --now kldload-snapshot.timer kldload-scrub.timer",
        "srv_timer_enable": "systemctl enable --now kldload-srv-snapshot.timer",
        "holds_enable": "systemctl enable --now kldload-package-holds.service",
        "firstboot_rerun": "systemctl start kldload-firstboot.service",
        "firstboot_disable": "systemctl disable kldload-firstboot.service",
    },
    "openrc": {
        "wireguard_enable": f"{_OPENRC_SERVICE} enable kldload-wg0 default",
        "timers_enable": f"{_OPENRC_SERVICE} periodic kldload-snapshot hourly "
                         "kldload-scrub weekly",
        "srv_timer_enable": f"{_OPENRC_SERVICE} periodic kldload-srv-snapshot 15min",
        "holds_enable": f"{_OPENRC_SERVICE} enable kldload-package-holds default",
        "firstboot_rerun": "rc-service kldload-firstboot start",
        "firstboot_disable": f"{_OPENRC_SERVICE} disable kldload-firstboot default",
    },
}
OPENRC_INIT_DIR = "etc/init.d"
# The periodic jobs' scripts: firstboot copies each into /etc/periodic/<interval>/,
# where busybox crond's run-parts finds it (names of letters, digits, - and _ only).
PERIODIC_DIR = f"{LIB_DIR}/periodic"


def _openrc_files(answers: Answers, pool: str) -> list[TargetFile]:
    """OpenRC's counterparts of the units: init scripts for firstboot (enabled by
    the engine) and WireGuard, the helper firstboot enables services with, and
    the snapshot and scrub jobs (systemd's timers) for busybox crond."""
    files = [
        TargetFile(f"{LIB_DIR}/openrc-service", template("openrc-service"), 0o755),
        TargetFile(f"{OPENRC_INIT_DIR}/kldload-firstboot", template("kldload-firstboot.openrc"),
                   0o755, units_to_enable=["kldload-firstboot"]),
        TargetFile(f"{PERIODIC_DIR}/kldload-snapshot", template("kldload-snapshot.periodic"),
                   0o755),
        TargetFile(f"{PERIODIC_DIR}/kldload-srv-snapshot",
                   template("kldload-srv-snapshot.periodic", pool=pool), 0o755),
        TargetFile(f"{PERIODIC_DIR}/kldload-scrub", template("kldload-scrub.periodic", pool=pool),
                   0o755),
    ]
    if answers.wireguard:
        files.append(TargetFile(f"{OPENRC_INIT_DIR}/kldload-wg0", template("kldload-wg0.openrc"),
                                0o755))
    return files


def wireguard_config(answers: Answers) -> str:
    """wg0.conf without a private key (PostUp loads it from wg0.key) or peers.

    The node's Address is left to the operator: node numbers are the hub's to
    hand out, and a guessed address another node already has breaks both
    silently, where a missing one is plain to see (`wg show`, `ip addr`).
    """
    key = f"/{WIREGUARD_DIR}/wg0.key"
    cluster = answers.infra_mode is InfraMode.CLUSTER and answers.cluster_cidr
    head = ["# /etc/wireguard/wg0.conf: management backplane. Written by kldload-tui.",
            f"# The private key is not in this file: PostUp loads it from {key}",
            "# (mode 0600; made at install and again on a clone's first boot). Give peers",
            f"# the public key in /{WIREGUARD_DIR}/wg0.pub."]
    iface = ["[Interface]", f"ListenPort = {WIREGUARD_PORT}",
             f"PostUp = wg set %i private-key {key}"]
    if cluster:
        net, hub = cluster_hub(answers)
        head += [f"# Cluster network {net}, domain {answers.cluster_domain}, up to "
                 f"{answers.cluster_size} nodes."]
        iface += ["# This node's address in the cluster network: set it, then restart",
                  f"# wg-quick@wg0. The hub usually has the first one ({hub}/{net.prefixlen}).",
                  f"#Address = <address in {net}>/{net.prefixlen}"]
        endpoint, allowed = f"hub.{answers.cluster_domain}:{WIREGUARD_PORT}", str(net)
    else:
        iface += ["# This node's address on the WireGuard network: set it, then restart",
                  "# wg-quick@wg0.", "#Address = <address>/<prefix>"]
        endpoint, allowed = f"<host>:{WIREGUARD_PORT}", "<network>/<prefix>"
    peers = ["", "# Peers: add one [Peer] section per node this one talks to, then",
             "# `systemctl restart wg-quick@wg0`. For example, the hub:", "#[Peer]",
             "#PublicKey = <the hub's wg0.pub>", f"#Endpoint = {endpoint}",
             f"#AllowedIPs = {allowed}", "#PersistentKeepalive = 25"]
    return "\n".join([*head, "", *iface, *peers]) + "\n"


def cluster_hub(answers: Answers) -> tuple[IPNetwork, IPAddress]:
    """The cluster network and the hub's address in it, its first usable one.

    `validate` refuses a network too small for the nodes and the hub; answers
    that reach here some other way get an InstallError that says so, not a
    TypeError (`hosts()` is a list, not an iterator, for a /31, /32, /127, /128).
    """
    from kldload_tui.backend.engine.core import (
        InstallError,  # the engine imports this module's users
    )

    net = ipaddress.ip_network(answers.cluster_cidr)
    need, have = answers.cluster_size + 1, usable_addresses(net)
    if have < need:
        raise InstallError(f"KLDLOAD_CLUSTER_CIDR={net} has {have} usable "
                           f"address{'es' if have != 1 else ''}, but the hub and "
                           f"KLDLOAD_CLUSTER_SIZE={answers.cluster_size} need {need}; use a "
                           "larger network")
    # As net.hosts() would give first: past the network address unless that is all there is.
    return net, net.network_address + (1 if net.num_addresses > 2 else 0)


def wireguard_keygen_argv(target_root: str) -> list[str]:
    """argv that makes wg0's key pair inside the target, the key never on a pipe we log.

    The shell text is constant (nothing from the answers is in it); the key
    goes straight from `wg genkey` to a 0600 file.
    """
    d = f"/{WIREGUARD_DIR}"
    script = (f"umask 077 && mkdir -p {d} && wg genkey > {d}/wg0.key.new && "
              f"wg pubkey < {d}/wg0.key.new > {d}/wg0.pub && mv {d}/wg0.key.new {d}/wg0.key")
    return ["chroot", target_root, "/bin/sh", "-c", script]


# -- seal -------------------------------------------------------------------------

CLOUD_INIT_UNITS = ["cloud-init-local.service", "cloud-init.service", "cloud-config.service",
                    "cloud-final.service"]


def seal_files(renderers: Sequence[str] = ()) -> list[TargetFile]:
    """Files a sealed golden image gets: cloud-init's datasources, as in the seed,
    and the network renderers it must use (`renderers`, best first; none: its own
    choice). cloud-init's files sort before kldload's DHCP file, which stays as the
    fallback when no datasource is found (ds-identify then disables cloud-init).

    kldload-firstboot and cloud-init are enabled, so that each clone's first
    boot runs them.
    """
    files = [TargetFile("etc/cloud/cloud.cfg.d/99-kldload-datasource.cfg",
                        template("99-kldload-datasource.cfg"),
                        units_to_enable=["kldload-firstboot.service", *CLOUD_INIT_UNITS])]
    if renderers:
        files.append(TargetFile("etc/cloud/cloud.cfg.d/99-kldload-network.cfg",
                                template("99-kldload-network.cfg",
                                         renderers=", ".join(renderers))))
    return files


def install_files(answers: Answers, facts: InstallFacts) -> list[TargetFile]:
    """Everything an install writes (sealing is separate: `seal_files`)."""
    return [*manifest_files(answers, facts), *system_files(answers),
            *service_files(answers, facts)]
