"""Export: the installed disk becomes a golden image, uploaded when asked.

The last phase: `finish` has exported the pool, so nothing writes to the disk
while it is read. The image is read back before it is uploaded (format,
size, `qemu-img check`, a block-for-block compare with the disk; for an OVA
also archive order and manifest digests), so a bad image never leaves the
machine; `verify` then checks that the copy on the image server has the same
SHA256 as the local file. Without an upload, `verify` does the read-back.

Before the upload the image server's host key is settled (pinned by the
answers, or trusted on first use for key logins): the upload and the checksum
in `verify` then both insist on that key. A host that is not the one pinned
gets nothing, and the image stays where it was written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kldload_tui.backend.answers.model import ExportFormat
from kldload_tui.backend.engine.core import InstallContext, InstallError, Phase, VerifyError
from kldload_tui.backend.engine.runner import CommandError
from kldload_tui.backend.export.image import (
    PLACEHOLDER_DIGEST,
    ExportError,
    checksum_path,
    export_image,
    image_name,
    sha256_file,
    verify_export,
    write_checksum,
)
from kldload_tui.backend.export.upload import (
    HostKeyError,
    UploadTarget,
    remote_sha256,
    trust_host,
    upload,
)


@dataclass(frozen=True)
class ExportJob:
    """What this install exports: which disk, as what, to where."""

    source: str
    size_bytes: int
    fmt: ExportFormat
    out: Path
    target: UploadTarget | None
    password: str

    @property
    def where(self) -> str:
        """`user@host:path` of the upload, for messages."""
        if self.target is None:
            return ""
        return f"{self.target.user}@{self.target.host}:{self.target.remote_file(self.out.name)}"


def export_job(ctx: InstallContext) -> ExportJob:
    """The export the answers ask for, on the root disk preflight resolved."""
    root = next((t for t in ctx.targets if t.role == "root"), None)
    if root is None:
        raise InstallError("no root disk was resolved, so there is nothing to export")
    answers = ctx.answers
    out_dir = ctx.options.export_dir
    try:
        name = image_name(answers, ctx.options.export_name)
    except ValueError as exc:
        raise InstallError(str(exc)) from exc
    return ExportJob(root.disk.path, root.disk.size_bytes, answers.export_format,
                     out_dir / name, UploadTarget.from_answers(answers),
                     answers.export_scp_pass.get_secret_value())


def _stamp(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return (str(path), stat.st_size, stat.st_mtime_ns)


class Export(Phase):
    """Convert the root disk into the answers' format; scp it when a host is set."""

    name = "export"
    title = "export the golden image and upload it"

    def __init__(self) -> None:
        # The image file as it was when it was read back, so `verify` does not
        # repeat a compare of many gigabytes on an unchanged file.
        self._read_back: tuple[str, int, int] | None = None
        # The upload target with the host key trusted for the upload, so that
        # `verify` checks the checksum on that same host.
        self._session: UploadTarget | None = None
        # The image's SHA256 as computed in `run`, valid while `_read_back` is.
        self._digest: str | None = None

    def applies(self, ctx: InstallContext) -> bool:
        return ctx.answers.export_format is not ExportFormat.NONE

    def run(self, ctx: InstallContext) -> None:
        job = export_job(ctx)
        if job.password:
            ctx.runner.add_secret(job.password)
        self._read_back = None
        self._session = None
        self._digest = None
        try:
            # The one code path `kldload-tui export` takes too. A disk's estimate
            # is its whole size (its unused blocks are not known without reading
            # it all), so a shortfall is a warning here rather than the end of an
            # install whose image is most likely far smaller.
            for warning in export_image(ctx.runner, job.source, job.fmt, job.out,
                                        size_bytes=job.size_bytes, distro=ctx.answers.distro,
                                        dry_run=ctx.dry_run, room="warn"):
                ctx.warn(warning)
        except ExportError as exc:
            raise InstallError(str(exc)) from exc
        ctx.runner.note(f"image written: {job.out}")
        if not ctx.dry_run:
            self._read_image_back(ctx, job, before="it was not uploaded")
        self._digest = PLACEHOLDER_DIGEST if ctx.dry_run else sha256_file(job.out)
        ctx.runner.note(f"sha256 {self._digest}  {job.out}")
        checksum = write_checksum(ctx.runner, job.out, self._digest)
        if job.target is None:
            return
        try:
            self._session = trust_host(ctx.runner, job.target,
                                       password=job.target.uses_password(job.password),
                                       dry_run=ctx.dry_run)
        except HostKeyError as exc:
            raise InstallError(f"{exc}; the image is kept at {job.out}") from exc
        try:
            for local in (job.out, checksum):
                upload(ctx.runner, local, self._session, password=job.password,
                       dry_run=ctx.dry_run)
        except CommandError as exc:
            raise InstallError(f"the upload to {job.where} failed ({exc}); the image is "
                               f"kept at {job.out} with {checksum.name}") from exc
        ctx.runner.note(f"uploaded to {job.where} with {checksum.name}")

    def _read_image_back(self, ctx: InstallContext, job: ExportJob, *, before: str) -> None:
        try:
            problems = verify_export(ctx.runner, job.source, job.fmt, job.out, progress=True)
        except (ExportError, ValueError, KeyError) as exc:  # unreadable qemu-img output
            problems = [f"{type(exc).__name__}: {exc}"]
        if problems:
            raise VerifyError(f"the exported image {job.out} is not right ({before}):\n"
                              + "\n".join(f"- {p}" for p in problems))
        self._read_back = _stamp(job.out)
        ctx.runner.note(f"read back and verified: {job.out}")

    def verify(self, ctx: InstallContext) -> None:
        job = export_job(ctx)
        if not job.out.is_file():
            raise VerifyError(f"the exported image {job.out} does not exist")
        if self._read_back != _stamp(job.out):
            self._read_image_back(ctx, job, before="verify")
            self._digest = None
        local = self._digest or sha256_file(job.out)
        checksum = checksum_path(job.out)
        written = checksum.read_text().split() if checksum.is_file() else []
        if written[:1] != [local]:
            raise VerifyError(f"{checksum} does not hold the image's SHA256 {local}")
        if job.target is None:
            return
        target = self._session or job.target
        for path, want in ((job.out, local), (checksum, sha256_file(checksum))):
            remote_path = target.remote_file(path.name)
            try:
                remote = remote_sha256(ctx.runner, target, remote_path, password=job.password)
            except HostKeyError as exc:
                raise VerifyError(str(exc)) from exc
            if remote != want:
                raise VerifyError(f"the uploaded {target.user}@{target.host}:{remote_path} "
                                  f"has SHA256 {remote}, the local file {want}")
