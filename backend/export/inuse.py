"""Whether anything on this machine uses the bytes an export would read.

An image taken while a filesystem on the disk is mounted (or its space is swap,
or device-mapper or md sits on it) is a copy of blocks in flight. Each user the
kernel knows of (mounts, swap, holders) is followed down to the bytes it
occupies: a partition to its range of the disk, a loop device to its range of
the backing file, device-mapper and md to the whole of each device beneath
(their tables are not read). The source is resolved the same way, so a loop
device attached at an offset to one partition of an image file (how partitions
are reached where loop partition scanning is missing) counts against that
file, and against a loop device attached to the whole of it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kldload_tui.backend.machine.mountinfo import read_mountinfo, unescape

SECTOR = 512
_UNBOUNDED = 1 << 63
_MAX_DEPTH = 16  # loop on partition on loop ...: deeper than any real stack


@dataclass(frozen=True)
class Extent:
    """Bytes `start`..`end` of one store: a whole block device or a file."""

    store: tuple[str, int, int]  # ("dev", major, minor) or ("file", st_dev, st_ino)
    start: int
    end: int

    def overlaps(self, other: Extent) -> bool:
        """True when both name bytes of the same store in common."""
        return self.store == other.store and self.start < other.end and other.start < self.end

    def within(self, offset: int, size: int) -> Extent:
        """The part of this extent `offset` bytes in, `size` long (0: to its end)."""
        start = self.start + offset
        end = min(self.end, start + size) if size else self.end
        return Extent(self.store, start, max(start, end))


class _Sysfs:
    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, path: Path) -> str | None:
        try:
            return path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            return None

    def device(self, rdev: int) -> Path:
        return self.root / "dev" / "block" / f"{os.major(rdev)}:{os.minor(rdev)}"

    def rdev_of(self, block_dir: Path) -> int | None:
        text = self.read(block_dir / "dev")
        if not text or ":" not in text:
            return None
        major, minor = text.split(":", 1)
        return os.makedev(int(major), int(minor))


def _file_extent(st: os.stat_result) -> Extent:
    return Extent(("file", st.st_dev, st.st_ino), 0, st.st_size or _UNBOUNDED)


def device_extents(rdev: int, sys_root: Path = Path("/sys"), depth: int = 0) -> list[Extent]:
    """The bytes block device `rdev` occupies on whole disks and files."""
    sysfs = _Sysfs(sys_root)
    base = sysfs.device(rdev)
    sectors = sysfs.read(base / "size")
    size = int(sectors) * SECTOR if sectors and sectors.isdigit() else 0
    own = [Extent(("dev", os.major(rdev), os.minor(rdev)), 0, size or _UNBOUNDED)]
    if depth > _MAX_DEPTH or not base.exists():
        return own
    start = sysfs.read(base / "start")
    if (base / "partition").exists() and start is not None and start.isdigit():
        parent = sysfs.rdev_of(base.resolve().parent)
        if parent is not None:
            return [e.within(int(start) * SECTOR, size)
                    for e in device_extents(parent, sys_root, depth + 1)]
    backing = sysfs.read(base / "loop" / "backing_file")
    if backing:
        offset = sysfs.read(base / "loop" / "offset") or "0"
        try:
            st = os.stat(backing)
        except OSError:
            return own  # "(deleted)": nothing else can reach those bytes now
        inner = (device_extents(st.st_rdev, sys_root, depth + 1)
                 if stat.S_ISBLK(st.st_mode) else [_file_extent(st)])
        return [e.within(int(offset), size) for e in inner]
    try:
        slaves = sorted((base / "slaves").iterdir())
    except OSError:
        slaves = []
    below = [sysfs.rdev_of(s) for s in slaves]
    found = [e for r in below if r is not None for e in device_extents(r, sys_root, depth + 1)]
    return found or own


def path_extents(path: str | Path, sys_root: Path = Path("/sys")) -> list[Extent]:
    """The bytes a block device or a regular file occupies; [] for anything else."""
    try:
        st = os.stat(path)
    except OSError:
        return []
    if stat.S_ISBLK(st.st_mode):
        return device_extents(st.st_rdev, sys_root)
    if stat.S_ISREG(st.st_mode):
        return [_file_extent(st)]
    return []


def _mounts(proc_root: Path) -> Iterable[tuple[str, int | None, str]]:
    """(source, device number or None, target) of each mount."""
    for mount in read_mountinfo(proc_root / "self" / "mountinfo"):
        if not mount.source:
            continue
        major, _, minor = mount.devno.partition(":")
        # Major 0 is an anonymous device (btrfs, overlay, zfs): the source path says more.
        rdev = os.makedev(int(major), int(minor)) if major.isdigit() and major != "0" else None
        yield mount.source, rdev, mount.target


def _swaps(proc_root: Path) -> Iterable[str]:
    try:
        lines = (proc_root / "swaps").read_text(encoding="utf-8").splitlines()[1:]
    except OSError:
        return
    for line in lines:
        if line.split():
            yield unescape(line.split()[0])


def users(path: str | Path, *, sys_root: Path = Path("/sys"),
          proc_root: Path = Path("/proc")) -> list[str]:
    """What uses the bytes of `path` now, for people; empty when nothing does."""
    mine = path_extents(path, sys_root)
    if not mine:
        return []

    def touches(found: list[Extent]) -> bool:
        return any(a.overlaps(b) for a in found for b in mine)

    reasons: list[str] = []
    for source, rdev, target in _mounts(proc_root):
        if rdev is not None:
            found = device_extents(rdev, sys_root)
        elif source.startswith("/"):
            found = path_extents(source, sys_root)
        else:
            continue
        if touches(found):
            reasons.append(f"{source} is mounted on {target}")
    reasons += [f"{swap} is in use as swap" for swap in _swaps(proc_root)
                if touches(path_extents(swap, sys_root))]
    for block in sorted((sys_root / "class" / "block").glob("*")):
        try:
            holders = sorted(h.name for h in (block / "holders").iterdir())
        except OSError:
            continue
        rdev = _Sysfs(sys_root).rdev_of(block)
        if holders and rdev is not None and touches(device_extents(rdev, sys_root)):
            reasons.append(f"{block.name} is held by {', '.join(holders)} "
                           "(device-mapper or md RAID)")
    return list(dict.fromkeys(reasons))
