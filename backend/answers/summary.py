"""A few lines that tell an operator what an answers file will do."""

from __future__ import annotations

from kldload_tui.backend.answers.model import Answers, Distro, ExportFormat, NetMethod, Topology
from kldload_tui.backend.answers.types import RELEASED_DISTROS

FEATURES = (
    ("enable_kvm", "kvm"),
    ("enable_ebpf", "ebpf"),
    ("enable_ai", "ai"),
    ("nvidia_drivers", "nvidia"),
    ("wireguard", "wireguard"),
)


def shown(text: str) -> str:
    """`text` safe to print on a console: every character that is not printable is
    written as its Python escape (`\\x9b`, `\\u202e`).

    Values reach the console raw otherwise, and some may hold such characters (an
    SCP path, a mirror URL, an IPv6 scope id, an SSH key comment): a C1 control
    such as U+009B starts an escape sequence on many terminals, a bidi override
    (U+202E) shows the text in another order, U+2028 may break the line.
    """
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


def summarize(a: Answers) -> dict[str, str]:
    """Ordered label -> text pairs: distro, disks, identity, network, features, export.

    The texts are printable (see `shown`): callers print them as they are.
    """
    release = a.debian_suite.value if a.distro is Distro.DEBIAN else (
        a.release if a.distro in RELEASED_DISTROS else "")
    out: dict[str, str] = {}
    out["distro"] = f"{a.distro.value} {release}".strip() + f", {a.profile.value} profile"
    disks = " ".join(a.data_disks())
    out["disks"] = f"{a.zfs_topology.value}: {disks}"
    if a.zfs_topology is Topology.SINGLE and len(a.data_disks()) == 1:
        out["disks"] = f"single: {a.disk}"
    if a.zfs_special_disks:
        out["disks"] += f"; special: {' '.join(a.zfs_special_disks)}"
    out["disks"] += "; encrypted" if a.zfs_encrypt else ""
    out["disks"] += "; force-wipe" if a.force_wipe else ""
    out["hostname"] = f"{a.hostname}, user {a.username}, {a.timezone}, {a.locale}"
    if a.net_method is NetMethod.STATIC:
        dns = ",".join(a.net_dns) or "no DNS"
        out["network"] = (f"static {a.net_ip}/{a.net_prefix} via {a.net_gw} on "
                          f"{a.net_iface or 'every wired interface'}, DNS {dns}")
    else:
        out["network"] = f"dhcp on {a.net_iface or 'every wired interface'}"
    features = [label for name, label in FEATURES if getattr(a, name)]
    features += [f"+{len(a.extra_packages)} packages"] if a.extra_packages else []
    out["features"] = ", ".join(features) or "none"
    if a.infra_mode.value == "cluster":
        out["features"] += f"; cluster {a.cluster_cidr} ({a.cluster_domain})"
    if a.export_format is ExportFormat.NONE:
        out["export"] = "none"
    else:
        out["export"] = a.export_format.value
        if a.export_scp_host:
            out["export"] += (f", scp to {a.export_scp_user}@{a.export_scp_host}:"
                              f"{a.export_scp_path}")
    out["finish"] = a.finish_action.value
    return {label: shown(text) for label, text in out.items()}
