"""Reading an exported image back: is it the disk, in the format asked for?

Every format: `qemu-img info` (format, virtual size, per-format details) and a
block-for-block `qemu-img compare` with the disk; qcow2 and vmdk also pass
`qemu-img check`. An OVA is checked as an archive too (member order, ustar
headers, manifest digests, the descriptor) and its VMDK is read in place.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kldload_tui.backend.answers.model import ExportFormat
from kldload_tui.backend.engine.runner import LineFilter, Runner
from kldload_tui.backend.export.formats import (
    MIB,
    VHD_FOOTER,
    ExportError,
    OvaLayout,
    format_spec,
    sha256_stream,
)
from kldload_tui.backend.export.ovf import check_descriptor, parse_manifest
from kldload_tui.backend.export.progress import QemuProgress, percent_of


def image_info_argv(image: str | Path, fmt: ExportFormat) -> list[str]:
    """`qemu-img info` for an exported image.

    qcow2 and vmdk are probed, so the header itself is what is checked. A
    fixed VHD cannot be probed (its only header is a footer) and is opened as
    vpc; raw is opened as raw so that its contents are never taken for a header.
    """
    argv = ["qemu-img", "info", "--output=json"]
    if fmt is ExportFormat.VHD:
        argv += ["-f", "vpc"]
    elif fmt is ExportFormat.RAW:
        argv += ["-f", "raw"]
    return [*argv, str(image)]


def _info(runner: Runner, argv: list[str]) -> dict[str, Any]:
    data = json.loads(runner.run(argv).stdout)
    if not isinstance(data, dict):
        raise ExportError(f"qemu-img info printed no JSON object: {argv[-1]}")
    return data


def source_size(runner: Runner, source: str | Path) -> int:
    """The size of the source disk (a block device or a file), as qemu-img sees it."""
    return int(_info(runner, ["qemu-img", "info", "--output=json", "-f", "raw",
                              str(source)])["virtual-size"])


def check_info(info: Mapping[str, Any], fmt: ExportFormat, source_bytes: int,
               file_size: int | None = None) -> list[str]:
    """What is wrong with an image, judged from its `qemu-img info` JSON.

    Format as written, a virtual size that holds the whole disk, and per
    format: streamOptimized VMDK; VHD in whole MiB whose file is the virtual
    size plus the 512-byte footer (that is what fixed means); raw exactly the
    disk's size.
    """
    spec = format_spec(fmt)
    problems: list[str] = []
    found = info.get("format")
    if found != spec.qemu_format:
        problems.append(f"format is {found!r}, expected {spec.qemu_format!r}")
    virtual = int(info.get("virtual-size", -1))
    if virtual < source_bytes:
        problems.append(f"virtual size {virtual} is smaller than the disk ({source_bytes})")
    if spec.qemu_format == "vmdk":
        data = info.get("format-specific", {}).get("data", {})
        if data.get("create-type") != "streamOptimized":
            problems.append(f"VMDK type is {data.get('create-type')!r}, "
                            "expected 'streamOptimized'")
    if fmt is ExportFormat.VHD:
        if virtual % MIB:
            problems.append(f"virtual size {virtual} is not a whole MiB (Azure refuses it)")
        if file_size is not None and file_size != virtual + VHD_FOOTER:
            problems.append(f"file is {file_size} bytes, a fixed VHD of {virtual} has "
                            f"{virtual + VHD_FOOTER}: not a fixed VHD")
    if fmt is ExportFormat.RAW and virtual != source_bytes:
        problems.append(f"raw image is {virtual} bytes, the disk is {source_bytes}")
    return problems


def _same_content(runner: Runner, source: str | Path, image: str, fmt_args: list[str],
                  progress: LineFilter | None) -> list[str]:
    # -p draws percentages (which -q would silence); without it, quiet.
    noise = ["-p"] if progress is not None else ["-q"]
    result = runner.run(["qemu-img", "compare", *noise, "-f", "raw", *fmt_args, str(source),
                         image], check=False, on_line=progress, cr_ends_line=True)
    # Exit 0: identical (a larger image must be zeros beyond the disk), 1: differ.
    if result.returncode == 1:
        return ["the image's contents differ from the disk"]
    if result.returncode != 0:
        said = [line for line in (result.stderr or result.stdout).replace("\r", "\n")
                .splitlines() if line.strip() and percent_of(line) is None]
        return [f"qemu-img compare failed (exit {result.returncode}): "
                f"{' '.join(said[-3:])}"]
    return []


def _qemu_check(runner: Runner, image: str, fmt_args: list[str]) -> list[str]:
    result = runner.run(["qemu-img", "check", "-q", *fmt_args, image], check=False)
    if result.returncode != 0:
        return [f"qemu-img check found problems (exit {result.returncode}): "
                f"{(result.stderr or result.stdout).strip()}"]
    return []


def verify_export(runner: Runner, source: str | Path, fmt: ExportFormat, out: Path, *,
                  progress: bool = False) -> list[str]:
    """Read the exported image back; return what is wrong (empty: verified).

    Every format: `check_info` and a block-for-block `qemu-img compare` with
    the disk; qcow2 and vmdk also pass `qemu-img check`. ova: the archive
    order, the ustar headers, every manifest digest, the descriptor's file
    reference and capacity, and the VMDK read in place inside the archive.
    With `progress`, the compare reports `Progress` events ("verifying").
    """
    if not out.is_file():
        return [f"{out} does not exist"]
    size = source_size(runner, source)
    watch = (QemuProgress("verifying", size, phase=runner.current_phase).events_for
             if progress else None)
    if fmt is ExportFormat.OVA:
        return _verify_ova(runner, source, out, size, watch)
    spec = format_spec(fmt)
    problems = check_info(_info(runner, image_info_argv(out, fmt)), fmt, size,
                          out.stat().st_size)
    if problems:
        return problems
    if spec.qemu_format in ("qcow2", "vmdk"):
        problems += _qemu_check(runner, str(out), ["-f", spec.qemu_format])
    return problems + _same_content(runner, source, str(out), ["-F", spec.qemu_format], watch)


def member_image(out: Path, member: tarfile.TarInfo) -> str:
    """A qemu-img filename for a VMDK read in place inside a tar (no extraction)."""
    return "json:" + json.dumps({
        "driver": "vmdk",
        "file": {"driver": "raw", "offset": member.offset_data, "size": member.size,
                 "file": {"driver": "file", "filename": str(out)}},
    })


def _verify_ova(runner: Runner, source: str | Path, out: Path, size: int,
                watch: LineFilter | None) -> list[str]:
    layout = OvaLayout(out)
    listed = [n for n in runner.run(["tar", "-tf", str(out)]).stdout.splitlines() if n]
    if listed != list(layout.members):
        return [f"the archive holds {listed}, expected {list(layout.members)} in that order"]
    problems: list[str] = []
    with out.open("rb") as raw, tarfile.open(fileobj=raw, mode="r:") as archive:
        members = {m.name: m for m in archive.getmembers()}
        for member in members.values():
            raw.seek(member.offset + 257)
            if raw.read(8) != b"ustar\x0000":  # POSIX ustar magic and version
                problems.append(f"{member.name}: header is not POSIX ustar")

        def read(name: str) -> bytes:
            handle = archive.extractfile(members[name])
            assert handle is not None  # a regular file member always has data
            return handle.read()

        digests, bad = parse_manifest(read(layout.mf).decode("utf-8", errors="replace"))
        problems += bad
        if set(digests) != {layout.ovf, layout.vmdk}:
            problems.append(f"the manifest lists {sorted(digests)}, "
                            f"expected {sorted([layout.ovf, layout.vmdk])}")
        for name, expected in digests.items():
            handle = archive.extractfile(members[name]) if name in members else None
            actual = sha256_stream(handle) if handle else None
            if actual != expected:
                problems.append(f"{name}: SHA256 is {actual}, the manifest says {expected}")
        problems += check_descriptor(read(layout.ovf), layout.vmdk, members[layout.vmdk].size,
                                     size)
    image = member_image(out, members[layout.vmdk])
    problems += check_info(_info(runner, ["qemu-img", "info", "--output=json", image]),
                           ExportFormat.OVA, size)
    if problems:
        return problems
    return _qemu_check(runner, image, []) + _same_content(runner, source, image, [], watch)
