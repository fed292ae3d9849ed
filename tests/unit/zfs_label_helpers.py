"""ZFS vdev labels made byte for byte (this host cannot run zpool).

`encode_nvlist` writes the XDR nvlist a label carries; `member_config` is the
config a pool member's label holds, shaped as the real ones in
tests/fixtures/zfs/ (read from disks a QEMU guest's OpenZFS 2.1 made);
`write_labels` puts the four labels on a vdev, with uberblocks carrying the
magic 0x00bab10c from 128 KiB, which is what libblkid's zfs probe looks for.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parents[1] / "fixtures" / "zfs"
LABEL = 256 * 1024
UBERBLOCK_MAGIC = 0x00BAB10C


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">I", len(raw)) + raw + b"\0" * (-len(raw) % 4)


def _pairs(config: dict[str, Any]) -> bytes:
    out = struct.pack(">II", 0, 0)  # version, flags
    for name, value in config.items():
        if isinstance(value, int):
            body = struct.pack(">II", 8, 1) + struct.pack(">Q", value)
        elif isinstance(value, str):
            body = struct.pack(">II", 9, 1) + _string(value)
        elif isinstance(value, dict):
            body = struct.pack(">II", 19, 1) + _pairs(value)
        else:
            body = struct.pack(">II", 20, len(value)) + b"".join(_pairs(v) for v in value)
        rest = _string(name) + body
        # Encoded size leads each pair, counting both size fields; the decoded
        # (native) size is not read by anything here.
        out += struct.pack(">II", 8 + len(rest), 8 + len(rest)) + rest
    return out + struct.pack(">II", 0, 0)


def encode_nvlist(config: dict[str, Any]) -> bytes:
    """A label's nvlist area: the XDR header, then the list."""
    return bytes([1, 1, 0, 0]) + _pairs(config)


def member_config(pool: str, pool_guid: int, *, top: str = "disk", disks: int = 1,
                  nparity: int = 0, vdev_children: int = 1) -> dict[str, Any]:
    """A member's label config: `top` is the top-level vdev's type (disk, mirror, raidz)."""
    leaves = [{"type": "disk", "id": i, "guid": 1000 + i,
               "path": f"/dev/disk/by-id/virtio-disk{i}-part2", "whole_disk": 0,
               "create_txg": 4} for i in range(disks)]
    tree: dict[str, Any] = {"type": top, "id": 0, "guid": 77, "metaslab_array": 66,
                            "metaslab_shift": 29, "ashift": 12, "asize": 1 << 30,
                            "is_log": 0, "create_txg": 4}
    if top == "disk":
        tree.update(guid=1000, path=leaves[0]["path"], whole_disk=0)
    else:
        if nparity:
            tree["nparity"] = nparity
        tree["children"] = leaves
    return {"version": 5000, "name": pool, "state": 0, "txg": 4, "pool_guid": pool_guid,
            "errata": 0, "hostid": 1717558488, "hostname": "kldload-live",
            "top_guid": 77, "guid": 1000, "vdev_children": vdev_children,
            "vdev_tree": tree, "features_for_read": {}}


def write_labels(path: str | Path, offset: int, size: int, nvlist: bytes) -> None:
    """The four labels of a vdev of `size` bytes at `offset` in a file or device."""
    label = bytearray(LABEL)
    label[16 * 1024:16 * 1024 + len(nvlist)] = nvlist
    for slot in range(4):
        at = 128 * 1024 + slot * 1024
        label[at:at + 40] = struct.pack("<QQQQQ", UBERBLOCK_MAGIC, 5000, 4 + slot, 77,
                                        1_700_000_000)
    end = size - size % LABEL
    with open(path, "r+b") as handle:
        for at in (0, LABEL, end - 2 * LABEL, end - LABEL):
            handle.seek(offset + at)
            handle.write(label)
        os.fsync(handle.fileno())
