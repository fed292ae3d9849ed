"""Pure builders of the storage commands: partitioning, the pool, the datasets.

No I/O here: each function returns argv lists, so the plan, the golden tests
and the engine all see the same commands.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from kldload_tui.backend.answers.model import Topology
from kldload_tui.backend.answers.rules import MIN_DISKS

MIB = 1024**2
# A disk that may boot: 1 MiB of alignment, the ESP, then ZFS to the end.
ESP_START_BYTES = 1 * MIB
ESP_BYTES = 512 * MIB
ZFS_START_BYTES = ESP_START_BYTES + ESP_BYTES
ESP_START = f"{ESP_START_BYTES // MIB}M"
ESP_SIZE = f"+{ESP_BYTES // MIB}M"
ESP_TYPE = "EF00"
ZFS_TYPE = "BF00"
ESP_PARTNUM = 1
ZFS_PARTNUM = 2
# GRUB's core.img for legacy BIOS, in the alignment gap before the ESP so the
# layout is the same whatever firmware boots the disk. From 24 KiB (past the GPT
# on 512-byte and 4 KiB sectors alike) to just under the ESP's 1 MiB.
BIOS_BOOT_PARTNUM = 3
BIOS_BOOT_START = "24K"
BIOS_BOOT_END = "1023K"
BIOS_BOOT_TYPE = "EF02"
SPECIAL_PARTNUM = 1

# Pool and root dataset properties every kldload pool gets; no answer changes them.
POOL_OPTIONS = ("ashift=12", "autotrim=on")
ROOT_FS_OPTIONS = (
    "compression=lz4", "acltype=posixacl", "xattr=sa", "dnodesize=auto",
    "normalization=formD", "relatime=on", "mountpoint=none", "canmount=off",
)
ENCRYPTION_OPTIONS = ("encryption=aes-256-gcm", "keyformat=passphrase", "keylocation=prompt")

# Newest compatibility profile each target ZFS can import, oldest first; a pool
# created with a newer feature set than the target's ZFS would not import.
COMPATIBILITY_ORDER = ("openzfs-2.0-linux", "openzfs-2.1-linux", "openzfs-2.2-linux")


def partition_path(disk: str, number: int) -> str:
    """The kernel name of a partition: sda -> sda2, nvme0n1 -> nvme0n1p2; by-id -> -part2."""
    if disk.startswith("/dev/disk/by-"):
        return f"{disk}-part{number}"
    return f"{disk}p{number}" if re.search(r"\d$", disk) else f"{disk}{number}"


def wipe_argv(disk: str) -> list[list[str]]:
    """Remove every signature (filesystems, old pool labels) and both GPT copies."""
    return [["wipefs", "--all", "--force", disk], ["sgdisk", "--zap-all", disk]]


def partition_argv(disk: str, *, with_esp: bool) -> list[str]:
    """One sgdisk call: on disks that may boot an ESP and a BIOS boot partition, then
    the rest for ZFS. Alignment 1 lets the BIOS boot partition sit in the gap before
    the ESP; every other start is a whole MiB anyway."""
    argv = ["sgdisk"]
    if with_esp:
        argv += ["--set-alignment=1",
                 f"--new={ESP_PARTNUM}:{ESP_START}:{ESP_SIZE}",
                 f"--typecode={ESP_PARTNUM}:{ESP_TYPE}", f"--change-name={ESP_PARTNUM}:EFI",
                 f"--new={BIOS_BOOT_PARTNUM}:{BIOS_BOOT_START}:{BIOS_BOOT_END}",
                 f"--typecode={BIOS_BOOT_PARTNUM}:{BIOS_BOOT_TYPE}",
                 f"--change-name={BIOS_BOOT_PARTNUM}:BIOS boot"]
        num = ZFS_PARTNUM
    else:
        num = SPECIAL_PARTNUM
    argv += [f"--new={num}:0:0", f"--typecode={num}:{ZFS_TYPE}", f"--change-name={num}:rpool",
             disk]
    return argv


@dataclass(frozen=True)
class GptEntry:
    """One line of `sgdisk -p`."""

    number: int
    start_sector: int
    end_sector: int
    code: str
    name: str


_GPT_LINE = re.compile(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+\S+\s+\S+\s+([0-9A-F]{4})\s*(.*)$")


def parse_sgdisk_print(text: str) -> list[GptEntry]:
    """The partition table as `sgdisk -p` prints it."""
    out = []
    for line in text.splitlines():
        m = _GPT_LINE.match(line)
        if m:
            out.append(GptEntry(int(m[1]), int(m[2]), int(m[3]), m[4], m[5].strip()))
    return out


def vdev_args(topology: Topology, data: list[str], special: list[str]) -> list[str]:
    """The vdev part of `zpool create` for a topology and optional special disks."""
    if topology is Topology.SINGLE:
        args = list(data)
    elif topology is Topology.MIRROR:
        args = ["mirror", *data]
    elif topology is Topology.RAIDZ1:
        args = ["raidz1", *data]
    else:
        args = []
        for i in range(0, len(data), 2):
            args += ["mirror", data[i], data[i + 1]]
    if special:
        args += ["special", *(["mirror"] if len(special) > 1 else []), *special]
    return args


def disks_worth(vdevs: Sequence[str]) -> int:
    """How many disks' worth of space the vdev part of `zpool create` holds.

    Read the way zpool reads it: a mirror keeps one member's worth, a raidz1 all
    but one, a plain disk its own; special vdevs hold metadata and do not count.
    """
    groups: list[list[str]] = []  # [kind, member, ...]; a plain disk has kind ""
    for arg in vdevs:
        if arg == "special":
            break
        if arg in ("mirror", "raidz1"):
            groups.append([arg])
        elif groups and groups[-1][0]:
            groups[-1].append(arg)
        else:
            groups.append(["", arg])
    worth = 0
    for kind, *members in groups:
        worth += 1 if kind == "mirror" else len(members) - 1 if kind == "raidz1" else len(members)
    return worth


def usable_bytes(topology: Topology, disk_sizes: Sequence[int]) -> int | None:
    """Approximate usable bytes of a root pool on disks of these sizes, or None when
    the answers rules refuse that many disks for `topology`.

    Every pool disk gives `ZFS_START_BYTES` (alignment and the ESP) to
    `partition_argv`, and ZFS sizes each vdev by its smallest member, so the
    smallest disk's ZFS partition times the disks' worth of `vdev_args`. ZFS's own
    overhead (metadata, the slop space) is not subtracted: the number is an upper bound.
    """
    n = len(disk_sizes)
    if (n < MIN_DISKS[topology] or (topology is Topology.SINGLE and n > 1)
            or (topology is Topology.MIRROR_STRIPE and n % 2)):
        return None
    smallest = max(min(disk_sizes) - ZFS_START_BYTES, 0)
    return disks_worth(vdev_args(topology, [str(i) for i in range(n)], [])) * smallest


def zpool_create_argv(pool: str, *, altroot: str, topology: Topology, data: list[str],
                      special: list[str], compatibility: str, encrypted: bool) -> list[str]:
    """`zpool create` with kldload's properties; the passphrase is never in argv."""
    argv = ["zpool", "create", "-f"]
    for opt in (*POOL_OPTIONS, f"compatibility={compatibility}", "cachefile=none"):
        argv += ["-o", opt]
    for opt in ROOT_FS_OPTIONS + (ENCRYPTION_OPTIONS if encrypted else ()):
        argv += ["-O", opt]
    argv += ["-R", altroot, pool]
    return argv + vdev_args(topology, data, special)


def choose_compatibility(target_newest: str, live_available: set[str] | None) -> str:
    """The newest profile the target's ZFS imports and the live system knows."""
    wanted = COMPATIBILITY_ORDER.index(target_newest)
    for name in reversed(COMPATIBILITY_ORDER[: wanted + 1]):
        if live_available is None or name in live_available:
            return name
    return COMPATIBILITY_ORDER[0]


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset kldload creates, with its properties."""

    name: str
    properties: tuple[tuple[str, str], ...]


def dataset_specs(pool: str, be_name: str) -> list[DatasetSpec]:
    """The boot environment layout: ROOT/<be> is `/`, the rest survive BE switches."""
    off = ("canmount", "off")
    return [
        DatasetSpec(f"{pool}/ROOT", (off, ("mountpoint", "none"))),
        DatasetSpec(f"{pool}/ROOT/{be_name}", (("canmount", "noauto"), ("mountpoint", "/"))),
        DatasetSpec(f"{pool}/home", (("mountpoint", "/home"),)),
        DatasetSpec(f"{pool}/home/root", (("mountpoint", "/root"),)),
        DatasetSpec(f"{pool}/srv", (("mountpoint", "/srv"),)),
        DatasetSpec(f"{pool}/var", (off, ("mountpoint", "/var"))),
        DatasetSpec(f"{pool}/var/log", ()),
        DatasetSpec(f"{pool}/var/cache", (("com.sun:auto-snapshot", "false"),)),
        DatasetSpec(f"{pool}/var/tmp", (("com.sun:auto-snapshot", "false"),)),
    ]


def zfs_create_argv(spec: DatasetSpec) -> list[str]:
    """`zfs create` for one dataset (mounted under the pool's altroot by ZFS)."""
    argv = ["zfs", "create"]
    for prop, value in spec.properties:
        argv += ["-o", f"{prop}={value}"]
    return [*argv, spec.name]
