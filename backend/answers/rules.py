"""Rules across several answers, and the warnings an operator must see.

Kept apart from the model so that the TUI can hold answers that are not yet
complete (a mirror chosen before its second disk) and ask for these checks
when the operator moves on; the loader and the engine always run them.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from kldload_tui.backend.answers.model import (
    Answers,
    Distro,
    ExportFormat,
    InfraMode,
    NetMethod,
    Topology,
    env_key,
)
from kldload_tui.backend.answers.validators import split_host_key, usable_addresses
from kldload_tui.backend.problems import Problem, Severity

# Passwords that must never reach production silently.
WELL_KNOWN_PASSWORDS = frozenset({"admin", "changeme", "password"})
# Below this a password is accepted with a warning (see docs/answers.md).
MIN_PASSWORD_LENGTH = 8

MIN_DISKS: dict[Topology, int] = {
    Topology.SINGLE: 1,
    Topology.MIRROR: 2,
    Topology.RAIDZ1: 3,
    Topology.MIRROR_STRIPE: 4,
}


@dataclass
class _Findings:
    lines: Mapping[str, int]
    source: str | None
    found: list[Problem] = field(default_factory=list)

    def add(
        self,
        field_name: str,
        message: str,
        fix: str | None = None,
        *,
        near: tuple[str, ...] = (),
        warning: bool = False,
    ) -> None:
        """Record a problem on a field; locate it on its own line, else on a related one."""
        key = env_key(field_name)
        line = self.lines.get(key)
        for other in near:
            if line is not None:
                break
            line = self.lines.get(env_key(other))
        self.found.append(
            Problem(
                message,
                key=key,
                line=line,
                source=self.source,
                fix=fix,
                severity=Severity.WARNING if warning else Severity.ERROR,
            )
        )


def check_answers(
    answers: Answers,
    *,
    interactive: bool = False,
    lines: Mapping[str, int] | None = None,
    source: str | None = None,
    skip: frozenset[str] = frozenset(),
) -> list[Problem]:
    """Every cross-field error and warning, in file order where known.

    `interactive`: a person is at the console (the TUI asks for what is missing,
    such as the encryption passphrase). `skip`: env keys whose values already
    failed their own checks; rules reading them would only repeat that error.
    """
    f = _Findings(lines or {}, source)
    fields_ok = {name for name in Answers.model_fields if env_key(name) not in skip}

    def ok(*names: str) -> bool:
        return all(n in fields_ok for n in names)

    if ok("enable_zfs") and not answers.enable_zfs:
        f.add("enable_zfs", "ZFS cannot be turned off: kldload installs ZFS on root only",
              "remove the line or set it to 1")
    if ok("disk", "zfs_data_disks", "zfs_special_disks"):
        _disks(answers, f, ok("zfs_topology"))
    if ok("zfs_encrypt", "zfs_passphrase"):
        _encryption(answers, f, interactive)
    if ok("net_method", "net_ip", "net_gw", "net_prefix", "net_dns"):
        _network(answers, f)
    if ok("infra_mode", "cluster_cidr", "cluster_size", "wireguard"):
        _cluster(answers, f)
    if ok("export_format", "export_scp_host", "export_scp_key", "export_scp_pass"):
        _export(answers, f, ok("export_scp_host_key"))
    if ok("export_format", "zfs_topology", "zfs_data_disks", "zfs_special_disks"):
        _export_disks(answers, f)
    if ok("export_format", "net_method") and answers.export_format is not ExportFormat.NONE \
            and answers.net_method is NetMethod.STATIC:
        f.add("net_method", "sealing removes the static address (every clone would share "
              "it), and a static install has no DHCP fallback: a clone gets no network "
              "unless cloud-init's datasource gives it one",
              "build golden images with KLDLOAD_NET_METHOD=dhcp", warning=True)
    if ok("initramfs_modules", "export_format") and answers.initramfs_modules.value == "dep" \
            and answers.export_format is not ExportFormat.NONE:
        f.add("initramfs_modules", "an exported image boots on other hardware, but "
              "KLDLOAD_INITRAMFS_MODULES=dep keeps only this machine's drivers",
              "use KLDLOAD_INITRAMFS_MODULES=most for golden images", near=("export_format",))
    if ok("distro", "rhel_org", "rhel_activation_key", "custom_mirror_url"):
        _rhel(answers, f)
    if ok("password"):
        pw = answers.password.get_secret_value()
        if pw in WELL_KNOWN_PASSWORDS:
            default = "the default password" if pw == "admin" else "a well-known password"
            f.add("password", f"{default} is in use for {answers.username!r}",
                  "set KLDLOAD_PASSWORD (it is expired at first login until then)",
                  near=("username",), warning=True)
        elif len(pw) < MIN_PASSWORD_LENGTH:
            # A warning, not a refusal: the installed system's PAM policy is the
            # place for password rules, and nothing in the install depends on it.
            f.add("password", f"the password is shorter than {MIN_PASSWORD_LENGTH} characters",
                  f"use at least {MIN_PASSWORD_LENGTH}, or log in with an SSH key "
                  "(KLDLOAD_SSH_PUBKEY)", warning=True)
    if ok("force_wipe") and answers.force_wipe:
        f.add("force_wipe", "force-wipe is on: disks that hold data are wiped without asking",
              "set KLDLOAD_FORCE_WIPE=0 unless these machines are meant to be reinstalled",
              warning=True)
    return sorted(f.found, key=lambda p: (p.line is None, p.line or 0))


def _rhel(a: Answers, f: _Findings) -> None:
    org, key = a.rhel_org, bool(a.rhel_activation_key.get_secret_value())
    if a.distro is not Distro.RHEL:
        if org or key:
            f.add("rhel_org" if org else "rhel_activation_key",
                  f"the Red Hat registration is only for KLDLOAD_DISTRO=rhel, not "
                  f"{a.distro.value}: it is ignored",
                  "remove KLDLOAD_RHEL_ORG and KLDLOAD_RHEL_ACTIVATION_KEY", warning=True)
        return
    if not a.custom_mirror_url:
        # A warning, not an error: the live medium may carry an rpm-md darksite, which
        # preflight looks for (and refuses the install without, before any write).
        f.add("custom_mirror_url", "RHEL without KLDLOAD_CUSTOM_MIRROR_URL installs only from "
              "an rpm-md darksite on the live medium: Red Hat's CDN serves registered "
              "systems only", "set KLDLOAD_CUSTOM_MIRROR_URL to a mirror of the RHEL DVD's "
              "BaseOS/ and AppStream/ (or a Satellite)", near=("distro",), warning=True)
    # Registration needs both; neither is an install that never registers (one fed
    # from a Satellite or a mirror of the DVD, say).
    if org and not key:
        f.add("rhel_activation_key", "KLDLOAD_RHEL_ORG is given without an activation key: "
              "the machine could not register", "add KLDLOAD_RHEL_ACTIVATION_KEY=..., or "
              "remove KLDLOAD_RHEL_ORG to install without registering", near=("rhel_org",))
    elif key and not org:
        f.add("rhel_org", "an activation key is given without its organization ID",
              "add KLDLOAD_RHEL_ORG=... (the Customer Portal's organization ID)",
              near=("rhel_activation_key",))


def _disks(a: Answers, f: _Findings, topology_ok: bool) -> None:
    seen: dict[str, str] = {}
    for name, disks in (
        ("disk", (a.disk,)),
        ("zfs_data_disks", a.zfs_data_disks),
        ("zfs_special_disks", a.zfs_special_disks),
    ):
        for disk in disks:
            if disk in seen:
                where = env_key(seen[disk])
                f.add(name, f"{disk} is listed twice (also in {where})", "list each disk once")
            else:
                seen[disk] = name
    if not topology_ok:
        return
    topo, n = a.zfs_topology, len(a.data_disks())
    data_key = env_key("zfs_data_disks")
    if topo is Topology.SINGLE and a.zfs_data_disks:
        f.add("zfs_data_disks",
              f"topology single uses only KLDLOAD_DISK, but {data_key} lists "
              f"{len(a.zfs_data_disks)} more",
              "set KLDLOAD_ZFS_TOPOLOGY=mirror or raidz1 to use them, or remove them",
              near=("zfs_topology",))
    need = MIN_DISKS[topo]
    even = topo is Topology.MIRROR_STRIPE
    if n < need or (even and n % 2):
        rule = f"at least {need} disks in all"
        if even:
            rule = f"an even number of disks, at least {need},"
        f.add("zfs_topology",
              f"{topo.value} needs {rule} (KLDLOAD_DISK plus {data_key}); found {n}",
              f"list {max(need - n, 1)} more disk{'s' if need - n > 1 else ''} in {data_key}"
              if n < need else f"add or remove one disk in {data_key}",
              near=("zfs_data_disks", "disk"))
    if topo is not Topology.SINGLE and len(a.zfs_special_disks) == 1:
        f.add("zfs_special_disks",
              f"one special disk under a redundant {topo.value} pool: losing it loses the pool",
              "give two special disks (they are mirrored) or none")


def _encryption(a: Answers, f: _Findings, interactive: bool) -> None:
    has_pass = bool(a.zfs_passphrase.get_secret_value())
    if a.zfs_encrypt and not has_pass and not interactive:
        f.add("zfs_encrypt", "encryption needs a passphrase for an unattended install",
              "add KLDLOAD_ZFS_PASSPHRASE='...' (8 or more characters), or install from the "
              "TUI, which asks for it")
    if has_pass and not a.zfs_encrypt:
        f.add("zfs_passphrase", "a passphrase is given but encryption is off",
              "set KLDLOAD_ZFS_ENCRYPT=1 or remove the passphrase", warning=True)


def _network(a: Answers, f: _Findings) -> None:
    if a.net_method is not NetMethod.STATIC:
        if a.net_ip or a.net_gw:
            f.add("net_method", "static addresses are given but the method is dhcp",
                  "set KLDLOAD_NET_METHOD=static to use them", warning=True)
        return
    near = ("net_method",)
    if not a.net_ip:
        f.add("net_ip", "static networking needs an address",
              "add KLDLOAD_NET_IP=10.0.1.50 (and KLDLOAD_NET_PREFIX)", near=near)
    if not a.net_gw:
        f.add("net_gw", "static networking needs a gateway",
              "add KLDLOAD_NET_GW=10.0.1.1", near=near)
    if not a.net_dns:
        f.add("net_dns", "static networking without DNS servers: names will not resolve",
              "add KLDLOAD_NET_DNS=10.0.1.1", near=near, warning=True)
    if not a.net_ip:
        return
    ip = ipaddress.ip_address(a.net_ip)
    if a.net_prefix > ip.max_prefixlen:
        f.add("net_prefix", f"prefix {a.net_prefix} is too long for an IPv{ip.version} address",
              f"use 1-{ip.max_prefixlen} (24 means netmask 255.255.255.0)", near=near)
        return
    iface = ipaddress.ip_interface(f"{a.net_ip}/{a.net_prefix}")
    net = iface.network
    if ip.version == 4 and a.net_prefix <= 30 and ip in (net.network_address,
                                                        net.broadcast_address):
        f.add("net_ip", f"{ip} is the {'network' if ip == net.network_address else 'broadcast'} "
              f"address of {net}", "choose a host address inside the network", near=near)
    if not a.net_gw:
        return
    gw = ipaddress.ip_address(a.net_gw)
    if gw.version != ip.version:
        f.add("net_gw", f"gateway {gw} is IPv{gw.version} but the address is IPv{ip.version}",
              "use a gateway of the same family", near=near)
    elif gw == ip:
        f.add("net_gw", f"the gateway {gw} is the machine's own address",
              "give the router's address", near=near)
    elif gw not in net and not (gw.version == 6 and gw.is_link_local):
        # An IPv6 router is usually given by its link-local address (fe80::1), which
        # is on the link whatever the prefix: networkd reaches it on the matched link.
        f.add("net_gw", f"gateway {gw} is not in {net}, the network of KLDLOAD_NET_IP="
              f"{ip}/{a.net_prefix}", "check KLDLOAD_NET_GW and KLDLOAD_NET_PREFIX", near=near)


def _cluster(a: Answers, f: _Findings) -> None:
    cluster = a.infra_mode is InfraMode.CLUSTER
    if cluster and not a.cluster_cidr:
        f.add("cluster_cidr", "cluster mode needs the WireGuard cluster network",
              "add KLDLOAD_CLUSTER_CIDR=10.100.0.0/24", near=("infra_mode",))
    elif a.cluster_cidr and (cluster or a.wireguard):
        # Standalone with WireGuard, a given network is still the one its nodes are
        # to be numbered from: one too small for them is wrong either way.
        _cluster_fits(a, f)
    if not cluster:
        return
    if not a.wireguard:
        f.add("infra_mode", "cluster mode without WireGuard: no cluster interface is configured",
              "set KLDLOAD_WIREGUARD=1", warning=True)


def _cluster_fits(a: Answers, f: _Findings) -> None:
    """The network numbers every node and the hub (the first address); the services
    phase allocates the hub's address from it (`target_files.wireguard_config`)."""
    net = ipaddress.ip_network(a.cluster_cidr)
    have, need = usable_addresses(net), a.cluster_size + 1
    if need <= have:
        return
    # The smallest network that numbers them all, to suggest (a /0 always does).
    prefix = next(p for p in range(net.prefixlen - 1, -1, -1)
                  if usable_addresses(net.supernet(new_prefix=p)) >= need)
    f.add("cluster_cidr",
          f"{net} has {have} usable address{'es' if have != 1 else ''}, but "
          f"{a.cluster_size} node{'s' if a.cluster_size != 1 else ''} (KLDLOAD_CLUSTER_SIZE) "
          f"and the hub need {need}",
          f"use a /{prefix} or larger for KLDLOAD_CLUSTER_CIDR"
          + (f", or lower KLDLOAD_CLUSTER_SIZE to {have - 1}" if have > 1 else ""),
          near=("infra_mode",))


def _export_disks(a: Answers, f: _Findings) -> None:
    """The image is KLDLOAD_DISK alone: a pool on more disks would not import in a clone."""
    disks = a.all_disks()
    if a.export_format is ExportFormat.NONE or len(disks) == 1:
        return
    spans = f"{len(disks)} disks ({a.zfs_topology.value}" + (
        f", {len(a.zfs_special_disks)} special" if a.zfs_special_disks else "") + ")"
    f.add("export_format", f"the exported image is KLDLOAD_DISK alone, but the pool spans "
          f"{spans}: a clone of one of them would not import it",
          "build golden images on one disk (KLDLOAD_ZFS_TOPOLOGY=single, no "
          "KLDLOAD_ZFS_DATA_DISKS or KLDLOAD_ZFS_SPECIAL_DISKS), or set "
          "KLDLOAD_EXPORT_FORMAT=none", near=("zfs_topology", "zfs_data_disks"))


def _export(a: Answers, f: _Findings, pin_ok: bool) -> None:
    has_key = bool(a.export_scp_key)
    has_pass = bool(a.export_scp_pass.get_secret_value())
    # A host key that failed its own check already has its error; judge it no further.
    has_pin = pin_ok and bool(a.export_scp_host_key)
    if a.export_scp_host and a.export_format is ExportFormat.NONE:
        f.add("export_scp_host", "an SCP host is set but KLDLOAD_EXPORT_FORMAT=none: there is "
              "no image to upload", "set KLDLOAD_EXPORT_FORMAT (qcow2, vmdk, vhd, ova or raw) "
              "or remove KLDLOAD_EXPORT_SCP_HOST")
    if not a.export_scp_host:
        for name, given in (("export_scp_key", has_key), ("export_scp_pass", has_pass),
                            ("export_scp_host_key", has_pin)):
            if given:
                f.add(name, "SCP upload needs a host",
                      "add KLDLOAD_EXPORT_SCP_HOST=images.example.org or remove this line")
        return
    if has_pass and not has_key and pin_ok and not has_pin:
        # Without a pin the first host to answer would be sent the password.
        f.add("export_scp_host_key", "an SCP upload with a password needs the host's key "
              "pinned, or the password goes to whichever host answers",
              "add KLDLOAD_EXPORT_SCP_HOST_KEY='SHA256:...' (run ssh-keyscan HOST | ssh-keygen "
              "-lf - where the host is known genuine), or use KLDLOAD_EXPORT_SCP_KEY",
              near=("export_scp_pass",))
    if has_pin:
        _pinned_host(a, f)
    if has_pass and not has_key:
        f.add("export_scp_pass", "a password is given for scp instead of a key",
              "prefer KLDLOAD_EXPORT_SCP_KEY: a key can be restricted and revoked", warning=True)
    if has_pass and has_key:
        f.add("export_scp_pass", "both a key and a password are given for scp; the key is used",
              "remove KLDLOAD_EXPORT_SCP_PASS", warning=True)


def _pinned_host(a: Answers, f: _Findings) -> None:
    """A key line from `ssh-keyscan OTHER` pins the wrong host: say so, it is easy to do."""
    if a.export_scp_host_key.startswith("SHA256:"):
        return
    pattern = split_host_key(a.export_scp_host_key)[0]
    if not pattern or pattern.startswith("|"):  # none, or hashed (ssh-keyscan -H)
        return
    host = a.export_scp_host.lower()
    names = [re.sub(r"^\[(.*)\](?::\d+)?$", r"\1", p).lower() for p in pattern.split(",")]
    if not any(fnmatch.fnmatchcase(host, n) for n in names if not n.startswith("!")):
        f.add("export_scp_host_key", f"the host key line is for {pattern}, not for "
              f"KLDLOAD_EXPORT_SCP_HOST={a.export_scp_host} (it is pinned for that host all "
              "the same)", "check that the key is the image server's", warning=True)
