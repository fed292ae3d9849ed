"""What each export format is, where its files go, and the errors an export raises.

Shared by conversion (`image`), read-back (`verify`), the room estimate
(`room`) and the `kldload-tui export` command.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from kldload_tui.backend.answers.model import ExportFormat

MIB = 1024 * 1024
VHD_FOOTER = 512
CHUNK = 4 * 1024 * 1024
# ustar stores a member's size in 11 octal digits: 8 GiB - 1 is the largest.
USTAR_MAX_MEMBER = 8**11 - 1


class ExportError(Exception):
    """The image cannot be exported as asked; the message says what to do."""


class ExportRefused(ExportError):
    """Refused before anything was written: the source is in use, is not a whole
    image of its pool, or the destination has no room. Nothing was changed."""


@dataclass(frozen=True)
class FormatSpec:
    """How one export format is written and what `qemu-img info` calls it."""

    extension: str
    qemu_format: str
    options: tuple[str, ...] = ()


FORMATS: dict[ExportFormat, FormatSpec] = {
    ExportFormat.QCOW2: FormatSpec("qcow2", "qcow2"),
    ExportFormat.VMDK: FormatSpec("vmdk", "vmdk", ("subformat=streamOptimized",)),
    ExportFormat.VHD: FormatSpec("vhd", "vpc", ("subformat=fixed", "force_size=on")),
    # The OVF puts the disk on an LSI Logic controller; the VMDK says the same.
    ExportFormat.OVA: FormatSpec("ova", "vmdk",
                                 ("subformat=streamOptimized", "adapter_type=lsilogic")),
    ExportFormat.RAW: FormatSpec("raw", "raw"),
}


def format_spec(fmt: ExportFormat) -> FormatSpec:
    """The spec of a format that writes an image; `ValueError` for `none`."""
    if fmt not in FORMATS:
        raise ValueError(f"export format {fmt.value!r} writes no image")
    return FORMATS[fmt]


def partial_path(out: Path) -> Path:
    """Where `out` is written until it is complete."""
    return out.with_name(out.name + ".partial")


@dataclass(frozen=True)
class OvaLayout:
    """The files an OVA is built from, in a work directory beside it."""

    out: Path

    @property
    def stem(self) -> str:
        return self.out.name.removesuffix(".ova")

    @property
    def workdir(self) -> Path:
        return self.out.parent / f".{self.out.name}.work"

    @property
    def ovf(self) -> str:
        return f"{self.stem}.ovf"

    @property
    def mf(self) -> str:
        return f"{self.stem}.mf"

    @property
    def vmdk(self) -> str:
        return f"{self.stem}-disk1.vmdk"

    @property
    def members(self) -> tuple[str, str, str]:
        """Archive order: descriptor, manifest, then the disk (DSP0243 5.3)."""
        return (self.ovf, self.mf, self.vmdk)


def sha256_stream(handle: IO[bytes]) -> str:
    """The SHA256 of what `handle` yields, read in chunks (images are gigabytes)."""
    digest = hashlib.sha256()
    while chunk := handle.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    """The SHA256 of a file."""
    with path.open("rb") as handle:
        return sha256_stream(handle)
