"""Golden image export: the installed disk as qcow2, vmdk, vhd, ova or raw.

kexport's behaviour: the image is named `kldload-<distro>-<profile>.<ext>`
unless a name is given (KEXPORT_NAME), and lands in an export directory. Every
command is an argv list built here and run by a `Runner`; the disk is read as
raw (`-f raw`, never probed: a guest could have written another format's header
into its first sector). Conversion writes `NAME.partial` and renames it only
once finished, so a half-written image never carries the final name.

- qcow2: `qemu-img convert -O qcow2` (KVM, Proxmox, OpenStack)
- vmdk: streamOptimized, the VMDK that VMware imports and that compresses
- vhd: fixed VHD with `force_size=on`; Azure wants a virtual size in whole MiB,
  so a disk that is not is converted into a VHD created one MiB-multiple larger
- ova: OVF descriptor, SHA256 manifest and streamOptimized VMDK in a ustar tar
- raw: a sparse copy of the disk

Verification reads the result back (`verify_export`); uploads are in
`kldload_tui.backend.export.upload`.
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from kldload_tui.backend.answers.model import Answers, Distro, ExportFormat
from kldload_tui.backend.engine.runner import Runner
from kldload_tui.backend.export.ovf import (
    check_descriptor,
    manifest_text,
    ovf_descriptor,
    parse_manifest,
    sha256_text,
)
from kldload_tui.backend.export.upload import (
    PASSWORD_PROMPT,
    UploadTarget,
    remote_sha256,
    remote_sha256_argv,
    scp_argv,
    ssh_options,
    upload,
)

__all__ = [
    "FORMATS", "MIB", "PASSWORD_PROMPT", "USTAR_MAX_MEMBER", "ExportError", "FormatSpec",
    "OvaLayout", "UploadTarget", "check_descriptor", "check_info", "convert_argv",
    "export_image", "image_info_argv", "image_name", "member_image", "ova_tar_argv",
    "ovf_descriptor", "partial_path", "remote_sha256", "remote_sha256_argv", "scp_argv",
    "sha256_file", "sha256_stream", "source_size", "ssh_options", "upload", "verify_export",
]

MIB = 1024 * 1024
VHD_FOOTER = 512
CHUNK = 4 * 1024 * 1024
# ustar stores a member's size in 11 octal digits: 8 GiB - 1 is the largest.
USTAR_MAX_MEMBER = 8**11 - 1
# Safe in a file name, a remote shell word, a ustar member name and an OVF id.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,79}$")
PLACEHOLDER_DIGEST = "<sha256 computed at export time>"


class ExportError(Exception):
    """The image cannot be exported as asked; the message says what to do."""


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


def _spec(fmt: ExportFormat) -> FormatSpec:
    if fmt not in FORMATS:
        raise ValueError(f"export format {fmt.value!r} writes no image")
    return FORMATS[fmt]


def image_name(answers: Answers, env_name: str | None) -> str:
    """The image's file name: `kldload-<distro>-<profile>.<ext>` or `<env_name>.<ext>`.

    `env_name` is the KEXPORT_NAME override; an extension already on it is
    kept rather than doubled. Raises `ValueError` for a name that is not a
    plain file name.
    """
    ext = _spec(answers.export_format).extension
    base = (env_name or "").strip()
    if not base:
        base = f"kldload-{answers.distro.value}-{answers.profile.value}"
    base = base.removesuffix(f".{ext}")
    if not _NAME.match(base):
        raise ValueError(f"image name {base!r}: use 1 to 80 of A-Z a-z 0-9 . _ + -, "
                         "starting with a letter or digit")
    return f"{base}.{ext}"


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


def convert_argv(source_disk: str | Path, fmt: ExportFormat, out: Path, *,
                 size_bytes: int | None = None) -> list[list[str]]:
    """The commands that write `source_disk` (read as raw) into `out` as `fmt`.

    For ova this is the VMDK in the `OvaLayout` work directory; descriptor,
    manifest and tar follow once its size and digest are known. For vhd,
    `size_bytes` that is not a whole MiB makes a VHD one MiB-multiple larger
    first and converts into it (`-n`): qemu-img convert cannot grow a disk.
    """
    spec = _spec(fmt)
    src = str(source_disk)
    dest = OvaLayout(out).workdir / OvaLayout(out).vmdk if fmt is ExportFormat.OVA else out
    options = ["-o", ",".join(spec.options)] if spec.options else []
    if fmt is ExportFormat.VHD and size_bytes is not None and size_bytes % MIB:
        rounded = -(-size_bytes // MIB) * MIB
        return [
            ["qemu-img", "create", "-q", "-f", "vpc", *options, str(dest), str(rounded)],
            # A fresh fixed VHD reads as zeros, so zero runs need not be written.
            ["qemu-img", "convert", "-n", "--target-is-zero", "-f", "raw", "-O", "vpc",
             src, str(dest)],
        ]
    return [["qemu-img", "convert", "-f", "raw", "-O", spec.qemu_format, *options,
             src, str(dest)]]


def ova_tar_argv(layout: OvaLayout, dest: Path) -> list[str]:
    """tar the OVA members into `dest` in archive order, owned by root:root."""
    return ["tar", "--format=ustar", "--owner=0", "--group=0", "--numeric-owner",
            "-c", "-f", str(dest), "-C", str(layout.workdir), *layout.members]


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


def export_image(runner: Runner, source: str | Path, fmt: ExportFormat, out: Path, *,
                 size_bytes: int, distro: Distro, dry_run: bool = False) -> None:
    """Write the disk at `source` to `out` as `fmt`; raises `ExportError` or `CommandError`.

    `size_bytes` is the disk's size (for the VHD rounding and the OVF
    capacity). With `dry_run` nothing is read back: the OVA's file size and
    digests are placeholders in the plan.
    """
    runner.run(["install", "-d", "-m", "0700", str(out.parent)])
    partial = partial_path(out)
    if fmt is ExportFormat.OVA:
        _build_ova(runner, source, out, partial, size_bytes, distro, dry_run)
    else:
        for argv in convert_argv(source, fmt, partial, size_bytes=size_bytes):
            runner.run(argv)
    runner.run(["mv", "-f", "-T", "--", str(partial), str(out)])


def _build_ova(runner: Runner, source: str | Path, out: Path, partial: Path,
               size_bytes: int, distro: Distro, dry_run: bool) -> None:
    layout = OvaLayout(out)
    runner.run(["rm", "-rf", "--", str(layout.workdir)])  # a failed earlier attempt
    runner.run(["install", "-d", "-m", "0700", str(layout.workdir)])
    for argv in convert_argv(source, ExportFormat.OVA, out):
        runner.run(argv)
    vmdk = layout.workdir / layout.vmdk
    vmdk_size = None if dry_run else vmdk.stat().st_size
    if vmdk_size is not None and vmdk_size > USTAR_MAX_MEMBER:
        raise ExportError(f"the compressed disk is {vmdk_size} bytes, more than an OVA "
                          f"(ustar) member can hold ({USTAR_MAX_MEMBER}); export as vmdk "
                          "or qcow2 instead")
    ovf = ovf_descriptor(name=layout.stem, disk_href=layout.vmdk, capacity_bytes=size_bytes,
                         distro=distro, disk_file_size=vmdk_size)
    runner.write_file(layout.workdir / layout.ovf, ovf, 0o644)
    vmdk_digest = PLACEHOLDER_DIGEST if dry_run else sha256_file(vmdk)
    runner.note(f"sha256 {vmdk_digest}  {layout.vmdk}")
    runner.write_file(layout.workdir / layout.mf,
                      manifest_text([(layout.ovf, sha256_text(ovf)), (layout.vmdk, vmdk_digest)]),
                      0o644)
    runner.run(ova_tar_argv(layout, partial))
    runner.run(["rm", "-rf", "--", str(layout.workdir)])


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
    spec = _spec(fmt)
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


def _same_content(runner: Runner, source: str | Path, image: str, fmt_args: list[str]
                  ) -> list[str]:
    # Exit 0: identical (a larger image must be zeros beyond the disk), 1: differ.
    result = runner.run(["qemu-img", "compare", "-q", "-f", "raw", *fmt_args, str(source),
                         image], check=False)
    if result.returncode == 1:
        return ["the image's contents differ from the disk"]
    if result.returncode != 0:
        return [f"qemu-img compare failed (exit {result.returncode}): "
                f"{(result.stderr or result.stdout).strip()}"]
    return []


def verify_export(runner: Runner, source: str | Path, fmt: ExportFormat, out: Path
                  ) -> list[str]:
    """Read the exported image back; return what is wrong (empty: verified).

    Every format: `check_info` and a block-for-block `qemu-img compare` with
    the disk; qcow2 and vmdk also pass `qemu-img check`. ova: the archive
    order, the ustar headers, every manifest digest, the descriptor's file
    reference and capacity, and the VMDK read in place inside the archive.
    """
    if not out.is_file():
        return [f"{out} does not exist"]
    size = source_size(runner, source)
    if fmt is ExportFormat.OVA:
        return _verify_ova(runner, source, out, size)
    spec = _spec(fmt)
    problems = check_info(_info(runner, image_info_argv(out, fmt)), fmt, size,
                          out.stat().st_size)
    if problems:
        return problems
    if spec.qemu_format in ("qcow2", "vmdk"):
        problems += _qemu_check(runner, str(out), ["-f", spec.qemu_format])
    return problems + _same_content(runner, source, str(out), ["-F", spec.qemu_format])


def _qemu_check(runner: Runner, image: str, fmt_args: list[str]) -> list[str]:
    result = runner.run(["qemu-img", "check", "-q", *fmt_args, image], check=False)
    if result.returncode != 0:
        return [f"qemu-img check found problems (exit {result.returncode}): "
                f"{(result.stderr or result.stdout).strip()}"]
    return []


def member_image(out: Path, member: tarfile.TarInfo) -> str:
    """A qemu-img filename for a VMDK read in place inside a tar (no extraction)."""
    return "json:" + json.dumps({
        "driver": "vmdk",
        "file": {"driver": "raw", "offset": member.offset_data, "size": member.size,
                 "file": {"driver": "file", "filename": str(out)}},
    })


def _verify_ova(runner: Runner, source: str | Path, out: Path, size: int) -> list[str]:
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
    return _qemu_check(runner, image, []) + _same_content(runner, source, image, [])
