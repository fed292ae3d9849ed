"""Room for an image, judged before a byte of it is written.

The estimate is the most the export can take in its directory at its peak:

- raw and vhd (fixed) are the disk's full size: sparse where the filesystem
  allows, but full size wherever the file is copied or uploaded;
- qcow2 is what `qemu-img measure` says it needs for the source's data
  (sparse image files: what they hold; a block device: every block, since
  unused blocks cannot be told from data without reading the whole disk);
- vmdk (streamOptimized, compressed) is measured as qcow2 plus 1/64 for its
  grain markers and deflate's worst case (qemu-img cannot measure vmdk);
- ova is that VMDK twice, because the archive is written while the VMDK it
  copies is still in the work directory, plus a MiB for descriptor,
  manifest and tar headers.

Free space is `statvfs` of the directory (or of its nearest existing parent,
since it is created only once the export goes ahead): the blocks available
to unprivileged users, which is what remains after the root reserve too.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kldload_tui.backend.answers.model import ExportFormat
from kldload_tui.backend.engine.runner import Runner
from kldload_tui.backend.export.formats import MIB, VHD_FOOTER, ExportRefused, format_spec
from kldload_tui.backend.machine.disks import size_text

RoomPolicy = Literal["refuse", "warn", "skip"]
"""What to do when the estimate does not fit: refuse, note it and go ahead, or not look."""

VMDK_SLACK = 64


@dataclass(frozen=True)
class RoomEstimate:
    """The most an export may take in its directory, and how that was reckoned."""

    needed: int
    basis: str


def measure_argv(source: str | Path) -> list[str]:
    """`qemu-img measure` of the source as a qcow2 (the one sparse format it measures)."""
    return ["qemu-img", "measure", "--output=json", "-f", "raw", "-O", "qcow2", str(source)]


def whole_mib(size: int) -> int:
    """`size` rounded up to a whole MiB (what a VHD for Azure is made)."""
    return -(-size // MIB) * MIB


def from_measure(fmt: ExportFormat, required: int, *, block_device: bool) -> RoomEstimate:
    """The estimate for a sparse format, from `qemu-img measure`'s `required` bytes."""
    why = ("measured by qemu-img counting every block of the disk, since its unused blocks "
           "cannot be told from data without reading it all" if block_device
           else "measured by qemu-img from the data the image file holds")
    if fmt is ExportFormat.QCOW2:
        return RoomEstimate(required, why)
    vmdk = required + required // VMDK_SLACK
    if fmt is ExportFormat.VMDK:
        return RoomEstimate(vmdk, f"{why}, plus compression's worst case")
    return RoomEstimate(2 * vmdk + MIB, f"twice the compressed disk ({why}, plus compression's "
                        "worst case), since the archive is written while that disk is still "
                        "beside it")


def full_size(fmt: ExportFormat, size_bytes: int) -> RoomEstimate | None:
    """The estimate for raw and fixed vhd (the whole disk), or None for a sparse format."""
    if fmt is ExportFormat.RAW:
        return RoomEstimate(size_bytes, "a raw image is the disk's full size")
    if fmt is ExportFormat.VHD:
        return RoomEstimate(whole_mib(size_bytes) + VHD_FOOTER,
                            "a fixed VHD is the disk's full size")
    return None


def estimate(runner: Runner, source: str | Path, fmt: ExportFormat, size_bytes: int, *,
             dry_run: bool = False) -> RoomEstimate | None:
    """The room `fmt` may need for `source`; None in a dry run (measured, not read)."""
    format_spec(fmt)  # `none` writes nothing: a caller's mistake, said at once
    fixed = full_size(fmt, size_bytes)
    if fixed is not None:
        return fixed
    result = runner.run(measure_argv(source))
    if dry_run:
        return None
    required = int(json.loads(result.stdout)["required"])
    try:
        block = stat.S_ISBLK(os.stat(source).st_mode)
    except OSError:
        block = False
    return from_measure(fmt, required, block_device=block)


def existing_parent(directory: Path) -> Path:
    """`directory`, or its nearest parent that exists."""
    here = directory.absolute()
    while not here.exists() and here != here.parent:
        here = here.parent
    return here


def free_bytes(directory: Path) -> int:
    """Bytes an unprivileged writer can still put in `directory`'s filesystem."""
    st = os.statvfs(existing_parent(directory))
    return st.f_bavail * st.f_frsize


class RoomRefused(ExportRefused):
    """The image may not fit where it is to be written."""


def shortfall(directory: Path, name: str, room: RoomEstimate, free: int) -> str | None:
    """Why `name` does not fit in `directory`, or None when it does."""
    if room.needed <= free:
        return None
    return (f"{name} may need up to {size_text(room.needed)} and {directory} has "
            f"{size_text(free)} free ({room.basis})")


def check_room(runner: Runner, source: str | Path, fmt: ExportFormat, out: Path,
               size_bytes: int, *, policy: RoomPolicy, dry_run: bool = False) -> list[str]:
    """Apply `policy`: raise `ExportRefused`, or return the warnings (empty: it fits)."""
    if policy == "skip":
        return []
    room = estimate(runner, source, fmt, size_bytes, dry_run=dry_run)
    if room is None or dry_run:
        return []
    short = shortfall(out.parent, out.name, room, free_bytes(out.parent))
    if short is None:
        return []
    if policy == "refuse":
        raise RoomRefused(f"not enough room: {short}; nothing was written")
    return [f"{short}; going ahead, since an image is often far smaller than its disk "
            "(if the space runs out, the partial image is removed)"]
