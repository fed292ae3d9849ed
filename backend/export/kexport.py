"""The seed's kexport: one disk or raw image file exported on its own, outside an install.

`kexport` checks the source (`source.inspect_source`), writes the image with
`image.export_image` (the function the install's export phase uses, with
room refused rather than warned about: at a shell, the operator can choose
another directory), reads it back with progress, removes it if it is not the
disk, and hashes it. What people should read on the way is handed to `tell`;
progress goes to `sink` as `Progress` events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kldload_tui.backend.answers.model import Distro, ExportFormat
from kldload_tui.backend.engine.events import EventSink
from kldload_tui.backend.engine.runner import LocalRunner
from kldload_tui.backend.export.formats import ExportError, sha256_file
from kldload_tui.backend.export.image import checksum_path, export_image, write_checksum
from kldload_tui.backend.export.naming import SEED_DEFAULT_DISTRO
from kldload_tui.backend.export.source import inspect_source
from kldload_tui.backend.export.verify import verify_export


@dataclass(frozen=True)
class ExportRequest:
    """What to export, as what, to where; `distro` goes into an OVA's descriptor,
    `name_origin` (what chose the image's name) into what people are told."""

    source: str
    fmt: ExportFormat
    out: Path
    name_origin: str = ""
    distro: Distro = SEED_DEFAULT_DISTRO
    check_room: bool = True
    log_path: Path | None = None


@dataclass(frozen=True)
class ExportDone:
    """A written and verified image."""

    source: str
    image: Path
    fmt: ExportFormat
    size_bytes: int
    disk_bytes: int
    sha256: str
    warnings: list[str] = field(default_factory=list)


class VerifyFailed(ExportError):
    """The image did not read back as the disk; it was removed."""


def kexport(request: ExportRequest, *, sink: EventSink | None = None,
            tell: Callable[[str], None] = lambda _text: None) -> ExportDone:
    """Export `request.source`; raises `ExportRefused` (nothing written), `ExportError`
    or `CommandError` (nothing left behind but the directory)."""
    with LocalRunner(log_path=request.log_path, sink=sink) as runner:
        source = inspect_source(runner, request.source)
        tell(f"source: {source.summary()}")
        for note in source.notes:
            tell(f"note: {note}")
        origin = f" (name from {request.name_origin})" if request.name_origin else ""
        tell(f"image:  {request.out}{origin}")
        runner.current_phase = "export"
        warnings = export_image(runner, source.path, request.fmt, request.out,
                                size_bytes=source.size_bytes, distro=request.distro,
                                room="refuse" if request.check_room else "skip")
        runner.current_phase = "verify"
        problems = verify_export(runner, source.path, request.fmt, request.out, progress=True)
        if problems:
            runner.run(["rm", "-f", "--", str(request.out), str(checksum_path(request.out))])
            raise VerifyFailed("the image did not read back as the disk, and was removed:\n"
                               + "\n".join(f"- {p}" for p in problems))
        runner.current_phase = None
        digest = sha256_file(request.out)
        runner.note(f"sha256 {digest}  {request.out}")
        write_checksum(runner, request.out, digest)
        return ExportDone(source.path, request.out, request.fmt, request.out.stat().st_size,
                          source.size_bytes, digest, warnings)
