"""The end of an install: the factory snapshot, then everything let go of."""

from __future__ import annotations

from kldload_tui.backend.answers.model import ExportFormat
from kldload_tui.backend.engine.core import DEFAULT_LOG, InstallContext, Phase, VerifyError

FACTORY_SNAPSHOT = "install"


class Snapshot(Phase):
    """A recursive snapshot of the freshly installed pool: the state to roll back to."""

    name = "snapshot"
    title = "take the factory snapshot"

    def run(self, ctx: InstallContext) -> None:
        ctx.run(["zfs", "snapshot", "-r", f"{ctx.pool}@{FACTORY_SNAPSHOT}"])

    def verify(self, ctx: InstallContext) -> None:
        names = ctx.run(["zfs", "list", "-H", "-t", "snapshot", "-o", "name", "-r",
                         ctx.pool]).split()
        if f"{ctx.be}@{FACTORY_SNAPSHOT}" not in names:
            raise VerifyError(f"snapshot {ctx.be}@{FACTORY_SNAPSHOT} does not exist")


class Finish(Phase):
    """Log into the target, unmount everything, export the pool."""

    name = "finish"
    title = "copy the log, unmount and export the pool"

    def run(self, ctx: InstallContext) -> None:
        # Every install keeps a log; a plan shows its copy whether or not it keeps one.
        log = ctx.runner.log_path or ctx.options.log_path or DEFAULT_LOG
        if ctx.answers.export_format is not ExportFormat.NONE:
            # A sealed image must carry nothing of the machine it was built on, and
            # the log names its disks, serials and addresses.
            ctx.runner.note(f"sealed for export: the install log stays on this system "
                            f"({log}), not in the image")
        elif ctx.dry_run or log.is_file():
            ctx.runner.note("copying this log into the target; later lines stay on the "
                            "live system only")
            ctx.run(["install", "-D", "-m", "0600", str(log),
                     str(ctx.path("/var/log/kldload/install.log"))])
        else:
            ctx.warn(f"no install log at {log} to copy into the target")
        ctx.run(["umount", "--recursive", str(ctx.target)])
        ctx.mounts.clear()
        ctx.run(["zpool", "export", ctx.pool])
        ctx.pool_created = False  # exported: teardown must not touch it again
        if ctx.target_bound:
            ctx.run(["umount", str(ctx.target)])  # the private bind under the root
            ctx.target_bound = False

    def verify(self, ctx: InstallContext) -> None:
        pools = ctx.run(["zpool", "list", "-H", "-o", "name"], check=False).split()
        if ctx.pool in pools:
            raise VerifyError(f"pool {ctx.pool} is still imported")
        mounted = ctx.run(["findmnt", "-n", "-R", "-o", "TARGET", str(ctx.target)],
                          check=False).strip()
        if mounted:
            raise VerifyError(f"still mounted under {ctx.target}: {mounted}")
