"""Services on OpenRC (Alpine): which init script in which runlevel, enabled
with `rc-update add` in the target and read back from /etc/runlevels.

The shared phases name what they enable as systemd units (ZFS, cloud-init,
kldload-firstboot); `OPENRC_SERVICES` maps each to the OpenRC service that does
the same and its runlevel, or to None where OpenRC needs nothing (systemd's
targets are ordering points; OpenRC orders by each script's depend()). A name
the table lacks is refused, never skipped, so a unit added to a phase later is
either mapped here or stops the install with a message saying so.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kldload_tui.backend.engine.core import InstallContext

RUNLEVELS = ("sysinit", "boot", "default", "shutdown")

OPENRC_SERVICES: dict[str, tuple[str, str] | None] = {
    # kldload's own (target/files: the init script the services phase writes).
    "kldload-firstboot": ("kldload-firstboot", "default"),
    "kldload-firstboot.service": ("kldload-firstboot", "default"),
    # zfs-openrc: zfs-import imports the pools in the cachefile (the root pool is
    # imported by the initramfs already), zfs-mount mounts the other datasets.
    "zfs-import-cache.service": ("zfs-import", "sysinit"),
    "zfs-mount.service": ("zfs-mount", "sysinit"),
    "zfs-import.target": None,
    "zfs.target": None,
    # ifupdown-ng's /etc/network/interfaces (ifupdown.py).
    "networking": ("networking", "boot"),
    "sshd": ("sshd", "default"),
    "sshd.service": ("sshd", "default"),
    # cloud-init's units (sealing) are not mapped: the Alpine backend refuses to seal.
}

# What Alpine's setup-alpine enables on a disk install, with eudev for
# /dev/disk/by-id (the pool's vdevs and kldload-boot name disks by those links)
# in place of mdev and hwdrivers, as `setup-devd udev` does.
BASE_SERVICES: tuple[tuple[str, str], ...] = (
    ("devfs", "sysinit"), ("dmesg", "sysinit"), ("udev", "sysinit"),
    ("udev-trigger", "sysinit"), ("udev-settle", "sysinit"), ("udev-postmount", "default"),
    ("modules", "boot"), ("hwclock", "boot"), ("swap", "boot"), ("hostname", "boot"),
    ("sysctl", "boot"), ("bootmisc", "boot"), ("syslog", "boot"), ("seedrng", "boot"),
    ("killprocs", "shutdown"), ("savecache", "shutdown"), ("mount-ro", "shutdown"),
)


def openrc_services(units: Sequence[str]) -> list[tuple[str, str]]:
    """(service, runlevel) for each of `units` that OpenRC needs, each once;
    `InstallError` naming every unit the table does not know."""
    from kldload_tui.backend.engine.core import InstallError

    unknown = [u for u in units if u not in OPENRC_SERVICES]
    if unknown:
        raise InstallError(f"no OpenRC service is known for {', '.join(unknown)} "
                           "(backend/distros/openrc_services.py)")
    found: dict[tuple[str, str], None] = {}
    for unit in units:
        mapped = OPENRC_SERVICES[unit]
        if mapped is not None:
            found[mapped] = None
    return list(found)


def rc_update_add(ctx: InstallContext, services: Sequence[tuple[str, str]]) -> None:
    """`rc-update add SERVICE RUNLEVEL` in the target for each (one service a call)."""
    for service, runlevel in services:
        ctx.chroot(["rc-update", "add", service, runlevel])


def service_state(root: str | os.PathLike[str], service: str, runlevel: str) -> str:
    """`enabled` when the runlevel links the service's init script, `disabled` when
    it does not, `not-found` when there is no such init script."""
    init = os.path.join(root, "etc/init.d", service)
    if not os.path.isfile(init):
        return "not-found"
    link = os.path.join(root, "etc/runlevels", runlevel, service)
    # rc-update links by the absolute path, which outside the target would name the
    # live system's file: the link's text is compared, not followed.
    if os.path.islink(link) and os.readlink(link) == f"/etc/init.d/{service}":
        return "enabled"
    return "disabled"


def unit_states(ctx: InstallContext, units: Sequence[str]) -> list[str]:
    """One word per unit as `systemctl is-enabled` would give it: what the target's
    runlevels say of its OpenRC service (`enabled` for what needs none; `unknown`
    for a name the table lacks)."""
    states = []
    for unit in units:
        if unit not in OPENRC_SERVICES:
            states.append("unknown")
            continue
        mapped = OPENRC_SERVICES[unit]
        states.append("enabled" if mapped is None
                      else service_state(ctx.target, mapped[0], mapped[1]))
    return states
