"""Golden image export: a disk as qcow2, vmdk, vhd, ova or raw.

`export_image` is the one way an image is written: by the install's export
phase and by `kldload-tui export` alike. Every command is an argv list built
here and run by a `Runner`; the disk is read as raw (`-f raw`, never probed: a
guest could have written another format's header into its first sector).
Before anything is written the room it may need is checked (`room`); the
image is written as `NAME.partial` and renamed only once finished, so a
half-written image never carries the final name, and a failed or interrupted
export leaves neither it nor the OVA's work directory behind. qemu-img's
percentages become `Progress` events on the runner's sink.

- qcow2: `qemu-img convert -O qcow2` (KVM, Proxmox, OpenStack)
- vmdk: streamOptimized, the VMDK that VMware imports and that compresses
- vhd: fixed VHD with `force_size=on`; Azure wants a virtual size in whole MiB,
  so a disk that is not is converted into a VHD created one MiB-multiple larger
- ova: OVF descriptor, SHA256 manifest and streamOptimized VMDK in a ustar tar
- raw: a sparse copy of the disk

Names are chosen in `naming`, the image read back in `verify`, uploads are in
`upload`; their public names are re-exported here.
"""

from __future__ import annotations

from pathlib import Path

from kldload_tui.backend.answers.model import Distro, ExportFormat
from kldload_tui.backend.engine.runner import Runner
from kldload_tui.backend.export.formats import (
    FORMATS,
    MIB,
    USTAR_MAX_MEMBER,
    ExportError,
    ExportRefused,
    FormatSpec,
    OvaLayout,
    format_spec,
    partial_path,
    sha256_file,
    sha256_stream,
)
from kldload_tui.backend.export.naming import image_name
from kldload_tui.backend.export.ovf import (
    check_descriptor,
    manifest_text,
    ovf_descriptor,
    sha256_text,
)
from kldload_tui.backend.export.progress import QemuProgress
from kldload_tui.backend.export.room import RoomPolicy, check_room, whole_mib
from kldload_tui.backend.export.upload import (
    PASSWORD_PROMPT,
    UploadTarget,
    remote_sha256,
    remote_sha256_argv,
    scp_argv,
    ssh_options,
    upload,
)
from kldload_tui.backend.export.verify import (
    check_info,
    image_info_argv,
    member_image,
    source_size,
    verify_export,
)

__all__ = [
    "FORMATS", "MIB", "PASSWORD_PROMPT", "USTAR_MAX_MEMBER", "ExportError", "ExportRefused",
    "FormatSpec", "OvaLayout", "RoomPolicy", "UploadTarget", "check_descriptor", "check_info",
    "checksum_path", "convert_argv", "export_image", "image_info_argv", "image_name",
    "member_image",
    "ova_tar_argv", "ovf_descriptor", "partial_path", "remote_sha256", "remote_sha256_argv",
    "scp_argv", "sha256_file", "sha256_stream", "source_size", "ssh_options", "upload",
    "verify_export", "write_checksum",
]

PLACEHOLDER_DIGEST = "<sha256 computed at export time>"


def checksum_path(image: Path) -> Path:
    """Where the image's checksum file goes: beside it, `NAME.sha256`."""
    return image.with_name(image.name + ".sha256")


def write_checksum(runner: Runner, image: Path, digest: str) -> Path:
    """`NAME.sha256` beside the image, in sha256sum's format with the bare file name,
    so that `sha256sum -c` in the image's directory (and Packer's `file:`) reads it."""
    path = checksum_path(image)
    runner.write_file(path, f"{digest}  {image.name}\n", 0o644)
    return path


def convert_argv(source_disk: str | Path, fmt: ExportFormat, out: Path, *,
                 size_bytes: int | None = None, progress: bool = False) -> list[list[str]]:
    """The commands that write `source_disk` (read as raw) into `out` as `fmt`.

    For ova this is the VMDK in the `OvaLayout` work directory; descriptor,
    manifest and tar follow once its size and digest are known. For vhd,
    `size_bytes` that is not a whole MiB makes a VHD one MiB-multiple larger
    first and converts into it (`-n`): qemu-img convert cannot grow a disk.
    `progress` adds `-p` (percentages, redrawn with a carriage return).
    """
    spec = format_spec(fmt)
    src = str(source_disk)
    dest = OvaLayout(out).workdir / OvaLayout(out).vmdk if fmt is ExportFormat.OVA else out
    options = ["-o", ",".join(spec.options)] if spec.options else []
    convert = ["qemu-img", "convert", *(["-p"] if progress else [])]
    if fmt is ExportFormat.VHD and size_bytes is not None and size_bytes % MIB:
        return [
            ["qemu-img", "create", "-q", "-f", "vpc", *options, str(dest),
             str(whole_mib(size_bytes))],
            # A fresh fixed VHD reads as zeros, so zero runs need not be written.
            [*convert, "-n", "--target-is-zero", "-f", "raw", "-O", "vpc", src, str(dest)],
        ]
    return [[*convert, "-f", "raw", "-O", spec.qemu_format, *options, src, str(dest)]]


def ova_tar_argv(layout: OvaLayout, dest: Path) -> list[str]:
    """tar the OVA members into `dest` in archive order, owned by root:root."""
    return ["tar", "--format=ustar", "--owner=0", "--group=0", "--numeric-owner",
            "-c", "-f", str(dest), "-C", str(layout.workdir), *layout.members]


def export_image(runner: Runner, source: str | Path, fmt: ExportFormat, out: Path, *,
                 size_bytes: int, distro: Distro, dry_run: bool = False,
                 room: RoomPolicy = "refuse") -> list[str]:
    """Write the disk at `source` to `out` as `fmt`; returns warnings (room, by `room`).

    Raises `ExportRefused` when `room="refuse"` and the estimate does not fit
    (nothing written, not even the directory), `ExportError` or
    `CommandError` when the export fails (the partial image is removed).
    `size_bytes` is the disk's size (for the VHD rounding, the OVF capacity
    and the progress). With `dry_run` nothing is read back: the room is not
    judged and the OVA's file size and digests are placeholders in the plan.
    """
    warnings = check_room(runner, source, fmt, out, size_bytes, policy=room, dry_run=dry_run)
    runner.run(["install", "-d", "-m", "0700", str(out.parent)])
    partial = partial_path(out)
    try:
        if fmt is ExportFormat.OVA:
            _build_ova(runner, source, out, partial, size_bytes, distro, dry_run)
        else:
            _convert(runner, source, fmt, partial, size_bytes)
        runner.run(["mv", "-f", "-T", "--", str(partial), str(out)])
    except BaseException:
        if not dry_run:
            _discard(runner, out)
        raise
    return warnings


def _convert(runner: Runner, source: str | Path, fmt: ExportFormat, dest: Path,
             size_bytes: int) -> None:
    for argv in convert_argv(source, fmt, dest, size_bytes=size_bytes, progress=True):
        watch = QemuProgress("converting", size_bytes, phase=runner.current_phase)
        runner.run(argv, on_line=watch.events_for, cr_ends_line=True)


def _discard(runner: Runner, out: Path) -> None:
    """Remove what a failed export wrote; never raises over the error that got here."""
    try:
        runner.run(["rm", "-rf", "--", str(partial_path(out)), str(OvaLayout(out).workdir)],
                   check=False)
    except Exception as exc:  # the export's own error is the one to report
        runner.note(f"could not remove the partial image: {exc}")


def _build_ova(runner: Runner, source: str | Path, out: Path, partial: Path,
               size_bytes: int, distro: Distro, dry_run: bool) -> None:
    layout = OvaLayout(out)
    runner.run(["rm", "-rf", "--", str(layout.workdir)])  # a failed earlier attempt
    runner.run(["install", "-d", "-m", "0700", str(layout.workdir)])
    _convert(runner, source, ExportFormat.OVA, out, size_bytes)
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
