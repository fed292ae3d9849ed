"""Which disks may be installed to, and why not: the safety rules of the installer.

`classify` is pure: it judges a `Disk` (from `kldload_tui.backend.machine.probe` or a machine file)
against the live system, the seed disk and the profile's minimum size. The
helpers below find those facts on a running machine: the devices that hold
the live system, swap in use, imported pools, stable `/dev/disk/by-id` names.
Identities are compared exactly (path, by-id path); never by substring.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import humanize

from kldload_tui.backend.engine.runner import CommandError, LocalRunner, Runner
from kldload_tui.backend.machine.model import BY_ID_DIR, Disk, Machine

GIB = 1024**3
# What each profile needs at least: ESP + a root pool with room for the base
# system, its snapshots and a kernel or two. Our choice, not the seed's.
PROFILE_MIN_SIZE_BYTES: dict[str, int] = {
    "core": 8 * GIB,
    "server": 16 * GIB,
    "desktop": 32 * GIB,
}
DEFAULT_MIN_SIZE_BYTES = PROFILE_MIN_SIZE_BYTES["server"]

# Where live systems mount what they booted from (Debian live-boot, dracut
# dmsquash-live, older live-boot, casper); "/" is the installed-system case.
LIVE_MOUNTPOINTS = ("/", "/run/live/medium", "/run/initramfs/live",
                    "/lib/live/mount/medium", "/cdrom")


def size_text(size_bytes: int) -> str:
    """A size for people: `256.0 GiB` (binary units, as lsblk and ZFS count)."""
    return humanize.naturalsize(size_bytes, binary=True, format="%.1f")


@dataclass(frozen=True)
class Verdict:
    """Whether a disk may be installed to.

    `reasons` says why not (empty when installable). `empty` is False when the
    disk holds a partition table, a signature or a pool label; such a disk is
    wiped only with `KLDLOAD_FORCE_WIPE=1` or a typed confirmation, and
    `contents` says what would be lost.
    """

    installable: bool
    reasons: list[str] = field(default_factory=list)
    empty: bool = True
    contents: list[str] = field(default_factory=list)


def _describe(path: str, fstype: str | None, label: str | None) -> str:
    if fstype == "zfs_member":
        return f"member of ZFS pool {label!r} on {path}" if label else f"ZFS label on {path}"
    named = f" {label!r}" if label else ""
    return f"{fstype}{named} on {path}"


def contents_of(disk: Disk) -> list[str]:
    """What is on the disk, for people: partition table, signatures, unreadable parts."""
    found: list[str] = []
    if disk.partition_table:
        count = len(disk.partitions)
        found.append(f"{disk.partition_table} partition table"
                     + (f" with {count} partition(s)" if count else ""))
    elif disk.partitions:
        found.append(f"{len(disk.partitions)} partition(s)")
    for dev in disk.devices():
        if dev.fstype:
            found.append(_describe(dev.path, dev.fstype, dev.label))
        if dev.ambivalent:
            found.append(f"more than one signature on {dev.path}")
        if dev.probe_error:
            found.append(f"unknown contents on {dev.path}")
    return found


def _holder_reason(holder: str, path: str) -> str:
    if holder.startswith("md"):
        return f"in use by md RAID ({holder} on {path})"
    if holder.startswith("dm-"):
        return f"in use by device-mapper ({holder} on {path})"
    return f"in use by {holder} (on {path})"


def classify(disk: Disk, *, live_devices: Collection[str], seed_device: str | None,
             min_size_bytes: int) -> Verdict:
    """Judge one disk. Every reason is listed, not only the first."""
    reasons: list[str] = []
    live = [d.path for d in disk.devices() if d.path in live_devices]
    if live:
        reasons.append(f"holds the running live system ({', '.join(live)})")
    if seed_device is not None and disk.owns(seed_device):
        reasons.append(f"is the seed disk ({seed_device})")
    for dev in disk.devices():
        if dev.mountpoints:
            reasons.append(f"mounted: {dev.path} on {', '.join(dev.mountpoints)}")
        if dev.swap:
            reasons.append(f"in use as swap ({dev.path})")
        reasons.extend(_holder_reason(h, dev.path) for h in dev.holders)
        if dev.zfs_pool_imported:
            reasons.append(f"member of the imported ZFS pool {dev.zfs_pool!r} ({dev.path})")
        if dev.probe_error:
            reasons.append(f"contents could not be read ({dev.path}: {dev.probe_error})")
    if disk.read_only:
        reasons.append("read-only device")
    if disk.size_bytes < min_size_bytes:
        reasons.append(f"too small: {size_text(disk.size_bytes)}, "
                       f"needs at least {size_text(min_size_bytes)}")
    contents = contents_of(disk)
    return Verdict(installable=not reasons, reasons=reasons, empty=not contents,
                   contents=contents)


def classify_machine(machine: Machine, *, min_size_bytes: int) -> dict[str, Verdict]:
    """A verdict per disk of the machine, keyed by kernel path."""
    seed = machine.seed.device if machine.seed is not None else None
    live = set(machine.live_devices)
    return {d.path: classify(d, live_devices=live, seed_device=seed,
                             min_size_bytes=min_size_bytes) for d in machine.disks}


# Stable names ---------------------------------------------------------------

# Preference among a disk's by-id links: the model+serial names people read on
# the label first, then WWN/EUI names, then anything else udev made.
_BY_ID_RANK = ("nvme-eui.", "nvme-nvme.", "nvme-", "ata-", "scsi-", "usb-", "virtio-",
               "mmc-", "wwn-")
_BY_ID_LATE = {"nvme-eui.", "nvme-nvme.", "wwn-"}
_PART_SUFFIX = re.compile(r"-part\d+$")


def _rank(name: str) -> tuple[int, str]:
    for index, prefix in enumerate(_BY_ID_RANK):
        if name.startswith(prefix):
            late = prefix in _BY_ID_LATE
            return (index + (100 if late else 0), name)
    return (1000, name)


def by_id_links(by_id_dir: Path = Path(BY_ID_DIR)) -> dict[str, list[str]]:
    """Whole-disk `/dev/disk/by-id` links, grouped by the kernel path they resolve to."""
    links: dict[str, list[str]] = {}
    try:
        entries = list(by_id_dir.iterdir())
    except OSError:
        return links  # no udev, no links: callers synthesise
    for entry in entries:
        if _PART_SUFFIX.search(entry.name):
            continue
        target = os.path.realpath(entry)
        links.setdefault(target, []).append(str(Path(BY_ID_DIR) / entry.name))
    return links


def preferred_by_id(links: Iterable[str]) -> str | None:
    """The by-id path to show and to give `zpool create`, from a disk's links."""
    ranked = sorted(links, key=lambda link: _rank(link.removeprefix(BY_ID_DIR)))
    return ranked[0] if ranked else None


def udev_escape(text: str) -> str:
    """Text as udev puts it in a link name: whitespace runs become one `_`, and
    characters outside udev's allowed set become `_` (string_escape=replace)."""
    collapsed = re.sub(r"\s+", "_", text.strip())
    return re.sub(r"[^0-9A-Za-z#+\-.:=@_]", "_", collapsed)


def synthesise_by_id(*, transport: str | None, model: str | None, serial: str | None,
                     vendor: str | None = None, wwn: str | None = None) -> str | None:
    """The by-id path udev's 60-persistent-storage rules would create, or None.

    Used where udev is not running, so there are no links to read. The result
    must be marked as synthesised: the link may not exist on this machine.
    """
    name: str | None = None
    if serial:
        if transport == "virtio":
            name = f"virtio-{udev_escape(serial)}"
        elif transport == "nvme" and model:
            name = f"nvme-{udev_escape(model)}_{udev_escape(serial)}"
        elif transport in ("sata", "ata") and model:
            name = f"ata-{udev_escape(model)}_{udev_escape(serial)}"
        elif transport == "usb" and model:
            parts = [p for p in (vendor, model, serial) if p]
            # usb_id appends the SCSI LUN; single-LUN sticks are 0:0.
            name = "usb-" + "_".join(udev_escape(p) for p in parts) + "-0:0"
    if name is None and wwn:
        name = f"wwn-{udev_escape(wwn)}"
    return BY_ID_DIR + name if name else None


# Facts about what is in use --------------------------------------------------

def read_swaps(proc_swaps: Path = Path("/proc/swaps")) -> set[str]:
    """Kernel paths of block devices in use as swap (swap files are left out)."""
    try:
        lines = proc_swaps.read_text(encoding="utf-8").splitlines()[1:]
    except OSError:
        return set()
    out: set[str] = set()
    for line in lines:
        fields = line.split()
        if len(fields) >= 2 and fields[1] == "partition":
            # /proc/swaps escapes spaces as \040; device paths have none to keep.
            out.add(os.path.realpath(fields[0]))
    return out


def imported_pools(runner: Runner | None = None) -> dict[str, str | None]:
    """Imported pools as name -> guid (decimal, as blkid prints it); empty without zpool."""
    runner = runner or LocalRunner()
    try:
        res = runner.run(["zpool", "list", "-H", "-p", "-o", "name,guid"], check=False)
    except CommandError:
        return {}
    if res.returncode != 0:
        return {}  # not installed (127) or no ZFS module loaded: nothing imported
    pools: dict[str, str | None] = {}
    for line in res.stdout.splitlines():
        name, _, guid = line.partition("\t")
        if name:
            pools[name] = guid.strip() or None
    return pools


def pool_is_imported(pool: str | None, pool_guid: str | None,
                     pools: dict[str, str | None]) -> bool:
    """Whether a zfs_member's pool is one of `pools`; by guid when both sides know it,
    because an old disk's `rpool` is not the `rpool` imported right now."""
    if pool is None or pool not in pools:
        return False
    imported_guid = pools[pool]
    return pool_guid is None or imported_guid is None or imported_guid == pool_guid


def _mount_table(runner: Runner) -> list[tuple[str, str]]:
    res = runner.run(["findmnt", "--json", "--list", "-o", "SOURCE,TARGET"], check=False)
    if res.returncode != 0 or not res.stdout.strip():
        return []
    rows = json.loads(res.stdout).get("filesystems", [])
    # A bind mount's source reads /dev/sda1[/sub/dir]; the device is what matters.
    return [(str(r.get("source") or "").split("[", 1)[0], str(r.get("target") or ""))
            for r in rows]


def _mount_holding(path: str, mounts: list[tuple[str, str]]) -> str | None:
    """The source of the mount whose target is the longest path prefix of `path`."""
    best: tuple[int, str] | None = None
    for source, target in mounts:
        inside = path == target or path.startswith(target.rstrip("/") + "/")
        if inside and (best is None or len(target) > best[0]):
            best = (len(target), source)
    return best[1] if best else None


def find_live_devices(runner: Runner | None = None, *,
                      sys_root: Path = Path("/sys")) -> list[str]:
    """Kernel paths of the devices that hold the running system.

    Starts from what is mounted at `/` and at the live media mountpoints, then
    follows what they are built on: a loop device to the mount that holds its
    backing file, device-mapper and md devices to their slaves in sysfs.
    """
    mounts = _mount_table(runner or LocalRunner())
    todo = [src for src, target in mounts if target in LIVE_MOUNTPOINTS]
    seen: set[str] = set()
    while todo:
        source = todo.pop()
        if not source.startswith("/dev/"):
            continue  # overlay, tmpfs: the medium is found through its own mount
        path = os.path.realpath(source)
        if path in seen:
            continue
        seen.add(path)
        block = sys_root / "class" / "block" / Path(path).name
        backing = block / "loop" / "backing_file"
        if backing.is_file():
            holder = _mount_holding(backing.read_text(encoding="utf-8").strip(), mounts)
            if holder:
                todo.append(holder)
        with contextlib.suppress(OSError):  # not a block device in sysfs: no slaves
            todo.extend(f"/dev/{slave.name}" for slave in (block / "slaves").iterdir())
    return sorted(seen)
