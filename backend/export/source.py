"""What `kldload-tui export` is asked to read, and whether it may.

A source is a whole disk (a block device) or a raw image file of one. It is
refused, before anything is written, when it is a partition (an image is of a
whole disk, partition table and ESP included), when anything uses its bytes
(`inuse`), when a ZFS pool on it is imported (an imported pool changes while it
is read; by pool GUID, as `zpool list` reports it: without zpool nothing can be
imported), or when it does not hold the whole of its pool (`zfs_label`).

Partitions are read from the source itself (`sfdisk --json`, `blkid -p` at each
partition's offset), not from the kernel, so an image file and a loop device
without partition devices are read the same way as a disk.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from kldload_tui.backend.engine.runner import Runner
from kldload_tui.backend.export.formats import ExportRefused
from kldload_tui.backend.export.inuse import users
from kldload_tui.backend.export.verify import source_size
from kldload_tui.backend.export.zfs_label import LabelError, read_label
from kldload_tui.backend.machine.disks import imported_pools, pool_is_imported, size_text

MAX_SHOWN_USERS = 5


@dataclass(frozen=True)
class Area:
    """A partition (or the whole source) and the signature `blkid -p` found there."""

    name: str
    offset: int
    size: int
    fstype: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class ExportSource:
    """A source that may be exported, and what people should know about it."""

    path: str
    kind: str  # "block device" or "image file"
    size_bytes: int
    areas: list[Area] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """`/dev/sdb (block device, 20.0 GiB): EFI vfat, rpool zfs_member 'rpool'`."""
        found = ", ".join(f"{a.name} {a.fstype}" + (f" {a.label!r}" if a.label else "")
                          for a in self.areas if a.fstype) or "no filesystem found"
        return f"{self.path} ({self.kind}, {size_text(self.size_bytes)}): {found}"


def _kind(path: str) -> str:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ExportRefused(f"{path}: no such disk or image file") from None
    except OSError as exc:
        raise ExportRefused(f"{path}: cannot be read ({exc.strerror})") from None
    if stat.S_ISBLK(st.st_mode):
        dev = Path("/sys/dev/block") / f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
        if (dev / "partition").exists():
            disk = dev.resolve().parent.name
            raise ExportRefused(f"{path} is a partition of /dev/{disk}: an image is of a "
                                f"whole disk (partition table, ESP and all); export /dev/{disk}")
        return "block device"
    if stat.S_ISREG(st.st_mode):
        return "image file"
    raise ExportRefused(f"{path} is neither a block device nor a raw image file")


def _blkid(runner: Runner, path: str, offset: int, size: int) -> dict[str, str]:
    # -S as well as -O: without a size, blkid also reads past the partition's end.
    res = runner.run(["blkid", "-p", "-O", str(offset), "-S", str(size), "-o", "export", path],
                     check=False)
    pairs = (line.partition("=") for line in res.stdout.splitlines())
    return {key: value for key, sep, value in pairs if sep}


def areas_of(runner: Runner, path: str, size: int) -> list[Area]:
    """Each partition of the source (or the source as one area without a table)."""
    res = runner.run(["sfdisk", "--json", path], check=False)
    if res.returncode in (126, 127):
        raise ExportRefused("sfdisk (package fdisk) is needed to read the partition table")
    found: list[tuple[str, int, int]] = [("whole", 0, size)]
    if res.returncode == 0 and res.stdout.strip():
        table = json.loads(res.stdout).get("partitiontable", {})
        sector = int(table.get("sectorsize", 512))
        parts = table.get("partitions", [])
        found = [(str(p.get("name") or f"partition {i}"), int(p["start"]) * sector,
                  int(p["size"]) * sector) for i, p in enumerate(parts, 1)]
    areas = []
    for name, offset, length in found:
        probe = _blkid(runner, path, offset, length)
        areas.append(Area(name, offset, length, probe.get("TYPE"), probe.get("LABEL")))
    return areas


def _zfs_notes(runner: Runner, path: str, areas: list[Area]) -> list[str]:
    """Refuse a member of an imported pool or of one this disk does not hold whole."""
    members = [a for a in areas if a.fstype == "zfs_member"]
    if not members:
        return []
    pools = imported_pools(runner)
    notes: list[str] = []
    for area in members:
        try:
            label = read_label(path, area.offset, area.size)
        except (LabelError, OSError) as exc:
            raise ExportRefused(f"{path}: the ZFS label of {area.name} cannot be read ({exc}), "
                                "so whether this disk holds its whole pool is unknown") from None
        if pool_is_imported(label.pool, str(label.pool_guid), pools):
            raise ExportRefused(f"{path}: its ZFS pool {label.pool!r} is imported on this "
                                f"machine and may change while it is read; run `zpool export "
                                f"{label.pool}` first")
        why = label.why_not_whole()
        if why is not None:
            raise ExportRefused(f"{path} cannot be exported on its own: {why}")
        if label.top_type == "mirror":
            notes.append(f"{area.name} is one side of a {label.top_children}-way mirror of "
                         f"pool {label.pool!r}: the image holds the whole pool, which lists "
                         "the other sides as missing until `zpool detach` removes them")
    return notes


def inspect_source(runner: Runner, path: str) -> ExportSource:
    """The source if it may be exported; raises `ExportRefused` saying why not."""
    kind = _kind(path)
    busy = users(path)
    if busy:
        shown = busy[:MAX_SHOWN_USERS]
        more = len(busy) - len(shown)
        raise ExportRefused(f"{path} is in use: " + "; ".join(shown)
                            + (f"; and {more} more" if more else "")
                            + ". Unmount it (and stop what holds it) first")
    size = source_size(runner, path)
    if size <= 0:
        raise ExportRefused(f"{path} is empty (0 bytes)")
    areas = areas_of(runner, path, size)
    return ExportSource(path, kind, size, areas, _zfs_notes(runner, path, areas))
