"""Sealing a golden image: the machine-specific state every clone must not share.

`SEAL_STEPS` is the data (what, where, why), following the seed's "What
sealing does"; `seal_commands` turns it into argv lists for one mounted target,
which the engine runs through the runner. The files a sealed image gains
(cloud-init's datasource list and network renderer) are
`target_files.seal_files`; the seal phase then rebuilds the initramfs, which
held the host ID and the cachefile.

Every clone then gets its own identity on first boot: systemd makes a new
machine-id, kldload-firstboot regenerates the SSH host keys, the WireGuard
key, the ZFS host ID and the cachefile (and the initramfs with them),
cloud-init applies the platform's hostname, users and network.
"""

from __future__ import annotations

import fnmatch
import glob
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from kldload_tui.backend.target.files import STATIC_NETWORK_PATH, WIREGUARD_DIR
from kldload_tui.backend.target.manifest import ANSWERS_COPY_PATH, MANIFEST_PATH

HOSTID_PATH = "etc/hostid"
DBUS_MACHINE_ID_PATH = "var/lib/dbus/machine-id"
ZPOOL_CACHE_PATH = "etc/zfs/zpool.cache"


class SealAction(StrEnum):
    """What to do with the paths a step matches."""

    TRUNCATE = "truncate"    # keep the file, its owner and mode; empty it
    REMOVE = "remove"        # delete files, symlinks or whole directories
    EMPTY_DIR = "empty-dir"  # delete what is inside the directory, keep it


@dataclass(frozen=True)
class SealStep:
    """One kind of state to clear; `pattern` is relative to the target root and may glob."""

    action: SealAction
    pattern: str
    why: str


# The static network as a NetworkManager keyfile (distros/nm_keyfile writes it).
STATIC_KEYFILE_PATH = "etc/NetworkManager/system-connections/kldload-static.nmconnection"

SEAL_STEPS: tuple[SealStep, ...] = (
    SealStep(SealAction.TRUNCATE, "etc/machine-id",
             "systemd makes a new machine-id on first boot; DHCP, journald and D-Bus use it"),
    SealStep(SealAction.REMOVE, DBUS_MACHINE_ID_PATH,
             "systemd initializes an empty machine-id from D-Bus's copy when it is a file: "
             "every clone would get the image's"),
    SealStep(SealAction.REMOVE, "etc/ssh/ssh_host_*",
             "every clone with the same host key would be a security disaster"),
    SealStep(SealAction.REMOVE, f"{WIREGUARD_DIR}/wg0.key",
             "each clone makes its own WireGuard key on first boot"),
    SealStep(SealAction.REMOVE, f"{WIREGUARD_DIR}/wg0.pub", "goes with the key"),
    SealStep(SealAction.REMOVE, HOSTID_PATH,
             "ZFS records the importing host's ID in the pool: clones sharing one could "
             "import each other's pools unforced; each clone makes its own on first boot"),
    SealStep(SealAction.REMOVE, ZPOOL_CACHE_PATH,
             "the cachefile lists the build machine's devices; each clone writes its own"),
    SealStep(SealAction.EMPTY_DIR, "var/lib/dhcp", "stale dhclient leases cause IP conflicts"),
    SealStep(SealAction.EMPTY_DIR, "var/lib/dhclient", "stale dhclient leases (EL family)"),
    SealStep(SealAction.REMOVE, "var/lib/NetworkManager/*.lease",
             "stale NetworkManager leases"),
    SealStep(SealAction.REMOVE, STATIC_NETWORK_PATH,
             "a static address would be shared by every clone; cloud-init configures "
             "each clone's network"),
    SealStep(SealAction.REMOVE, STATIC_KEYFILE_PATH,
             "the same static address as a NetworkManager keyfile"),
    SealStep(SealAction.EMPTY_DIR, "var/lib/cloud/instances",
             "cloud-init runs again on first boot with the clone's datasource"),
    SealStep(SealAction.REMOVE, "var/lib/cloud/instance", "points at the old instance"),
    SealStep(SealAction.REMOVE, MANIFEST_PATH,
             "an install record must not ship in a template image"),
    SealStep(SealAction.REMOVE, ANSWERS_COPY_PATH,
             "the build's answers name its disks, hostname and network, which no clone has"),
    SealStep(SealAction.REMOVE, "var/lib/kldload/firstboot.done",
             "each clone's first boot runs kldload-firstboot"),
    SealStep(SealAction.REMOVE, "var/lib/systemd/random-seed",
             "clones must not start from the same entropy seed"),
    SealStep(SealAction.REMOVE, "root/.*_history", "a clean slate for the first real user"),
    SealStep(SealAction.REMOVE, "home/*/.*_history", "a clean slate for the first real user"),
    SealStep(SealAction.TRUNCATE, "var/log/wtmp", "login records of the build"),
    SealStep(SealAction.TRUNCATE, "var/log/btmp", "failed logins of the build"),
    SealStep(SealAction.TRUNCATE, "var/log/lastlog", "last logins of the build"),
)


class UnsafeSealTarget(ValueError):
    """Raised instead of clearing state outside the mounted target."""


def seal_commands(target_root: str | Path,
                  steps: tuple[SealStep, ...] = SEAL_STEPS) -> list[list[str]]:
    """argv lists that apply `steps` to the target mounted at `target_root`.

    Reads the target's tree to expand the patterns. Refuses `/` (this would
    seal the live system). Never descends through a symlink: an absolute link
    in the target would resolve against the host here. Files to truncate must
    be regular files, since truncate follows symlinks; `rm` removes a link
    itself.
    """
    root = Path(os.path.realpath(target_root))
    if root == Path("/"):
        raise UnsafeSealTarget("refusing to seal / : give the mounted target's root")
    if not root.is_dir():
        raise UnsafeSealTarget(f"{root} is not a directory")
    commands: list[list[str]] = []
    for step in steps:
        matches = _expand(root, step.pattern)
        if step.action is SealAction.TRUNCATE:
            commands += [["truncate", "-s", "0", "--", str(p)] for p in matches
                         if p.is_file() and not p.is_symlink()]
        elif step.action is SealAction.REMOVE:
            if matches:
                commands.append(["rm", "-rf", "--one-file-system", "--",
                                 *(str(p) for p in matches)])
        else:
            inner = [child for d in matches if d.is_dir() and not d.is_symlink()
                     for child in sorted(d.iterdir())]
            if inner:
                commands.append(["rm", "-rf", "--one-file-system", "--",
                                 *(str(p) for p in inner)])
    return commands


def _expand(root: Path, pattern: str) -> list[Path]:
    """Paths under `root` matching `pattern`, dangling symlinks included.

    Like a shell glob: `*` does not match a leading dot unless the pattern
    part starts with one. Only real directories are entered.
    """
    current = [root]
    for part in pattern.split("/"):
        found: list[Path] = []
        for base in current:
            if base.is_symlink() or not base.is_dir():
                continue
            if glob.has_magic(part):
                with os.scandir(base) as entries:
                    names = sorted(e.name for e in entries if fnmatch.fnmatchcase(e.name, part)
                                   and (part.startswith(".") or not e.name.startswith(".")))
            else:
                names = [part] if os.path.lexists(base / part) else []
            found += [base / name for name in names]
        current = found
    return current
