"""A ZFS vdev label read without ZFS: whose pool a partition is, and whether it
is the whole pool.

An export reads one disk. That disk is a complete image only when it carries
every block of its pool: a single-disk pool, or one side of a mirror. A raidz
member holds a share of data and parity, and a disk of a pool with several
top-level vdevs (a stripe, mirror-stripe, special or log devices) holds its
own vdev's blocks only. The label says which, and reading it needs no ZFS
module or tools (the machines that export images often have neither).

Each vdev starts with two 256 KiB labels (two more at its end); each holds an
XDR-encoded nvlist at 16 KiB (OpenZFS `vdev_label_t`, `nvs_xdr_*` in
libnvpair): a 4-byte header (encoding 1 is XDR), version and flags, then
pairs that each lead with their encoded size, so unknown types are skipped.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LABEL_SIZE = 256 * 1024
NVLIST_OFFSET = 16 * 1024
NVLIST_SIZE = 112 * 1024
_XDR = 1
_UINT64, _STRING, _NVLIST, _NVLIST_ARRAY = 8, 9, 19, 20
_MAX_DEPTH = 8  # vdev trees nest root > top-level > mirror/replacing > disk


class LabelError(ValueError):
    """The bytes are not a ZFS label's nvlist."""


class _Reader:
    """Big-endian XDR fields from a bounded buffer."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def take(self, size: int) -> bytes:
        end = self.pos + size
        if size < 0 or end > len(self.data):
            raise LabelError(f"truncated nvlist at byte {self.pos}")
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk

    def u32(self) -> int:
        value: int = struct.unpack(">I", self.take(4))[0]
        return value

    def u64(self) -> int:
        value: int = struct.unpack(">Q", self.take(8))[0]
        return value

    def string(self) -> str:
        size = self.u32()
        raw = self.take(size)
        self.take(-size % 4)
        return raw.decode("utf-8", errors="replace")


def _nvlist(r: _Reader, depth: int) -> dict[str, Any]:
    if depth > _MAX_DEPTH:
        raise LabelError("nvlist nested too deeply")
    r.take(8)  # version, flags
    out: dict[str, Any] = {}
    while True:
        start = r.pos
        encoded, decoded = r.u32(), r.u32()
        if encoded == 0 and decoded == 0:
            return out
        if encoded < 8 or start + encoded > len(r.data):
            raise LabelError(f"nvpair at byte {start} has size {encoded}")
        name = r.string()
        kind, count = r.u32(), r.u32()
        if kind == _UINT64 and count == 1:
            out[name] = r.u64()
        elif kind == _STRING:
            out[name] = r.string()
        elif kind == _NVLIST:
            out[name] = _nvlist(r, depth + 1)
        elif kind == _NVLIST_ARRAY:
            out[name] = [_nvlist(r, depth + 1) for _ in range(count)]
        r.pos = start + encoded  # the size covers the value, whatever its type


def parse_nvlist(data: bytes) -> dict[str, Any]:
    """The nvlist of a label's 112 KiB area (header included) as a dict.

    Only the types a label's config needs are decoded (uint64, string,
    nvlist, nvlist array); other pairs are skipped by their size.
    """
    if len(data) < 12 or data[0] != _XDR:
        raise LabelError("no XDR nvlist")
    return _nvlist(_Reader(data, 4), 0)


@dataclass(frozen=True)
class VdevLabel:
    """What a vdev's label says about it and its pool."""

    pool: str
    pool_guid: int
    top_type: str
    top_children: int
    nparity: int
    vdev_children: int

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> VdevLabel:
        """From a parsed label config; raises `LabelError` without a pool's keys."""
        tree = config.get("vdev_tree")
        if not isinstance(tree, dict) or "pool_guid" not in config or "name" not in config:
            raise LabelError("the nvlist is not a pool member's label")
        children = tree.get("children")
        return cls(pool=str(config["name"]), pool_guid=int(config["pool_guid"]),
                   top_type=str(tree.get("type", "?")),
                   top_children=len(children) if isinstance(children, list) else 0,
                   nparity=int(tree.get("nparity", 0)),
                   vdev_children=int(config.get("vdev_children", 1)))

    def why_not_whole(self) -> str | None:
        """Why this one disk is not an image of its whole pool, or None when it is."""
        if self.vdev_children > 1:
            return (f"pool {self.pool!r} is spread over {self.vdev_children} top-level vdevs "
                    "(a stripe, or special or log devices): this disk holds only its own "
                    "vdev's blocks")
        if self.top_type in ("disk", "file", "mirror"):
            return None
        if self.top_type == "raidz":
            return (f"it is one of {self.top_children} disks of a raidz{self.nparity} in pool "
                    f"{self.pool!r}: each holds a share of the data and parity, so no single "
                    "disk is an image of the pool")
        return (f"it is a member of a {self.top_type} vdev in pool {self.pool!r}: no single "
                "disk of it is an image of the pool")


def read_label(source: str | Path, offset: int, size: int) -> VdevLabel:
    """The label of the vdev at `offset` (bytes, `size` long) in a disk or image file.

    The first label is read, else the second (a label is rewritten in place,
    one at a time, precisely so that one always survives); raises `LabelError`.
    """
    problems: list[str] = []
    with open(source, "rb") as handle:
        for start in (offset, offset + LABEL_SIZE):
            if start + LABEL_SIZE > offset + size:
                break
            handle.seek(start + NVLIST_OFFSET)
            try:
                return VdevLabel.from_config(parse_nvlist(handle.read(NVLIST_SIZE)))
            except LabelError as exc:
                problems.append(f"label at byte {start}: {exc}")
    raise LabelError("; ".join(problems) or "the partition is too small for a ZFS label")
