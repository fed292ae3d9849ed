"""The install engine: phases in order, each run and then verified.

A phase's `run` does the work through the runner; its `verify` checks the
outcome (the partition table reads back, the pool is ONLINE, the initramfs
holds zfs), not exit codes. On any failure the engine emits one `Failed`
event naming the phase, command, exit code and log path, tears down what it
set up (unmounts, exports the pool it created) so a retry starts clean, and
reports failure. Nothing reports success that was not verified; a dry run
says that it verified nothing.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from kldload_tui.backend.answers.model import SECRET_FIELDS, Answers
from kldload_tui.backend.distros import DistroBackend, distro_backend
from kldload_tui.backend.engine.events import (
    Complete,
    EventSink,
    Failed,
    InstallStarted,
    PhaseFinished,
    PhaseStarted,
)
from kldload_tui.backend.engine.runner import CommandError, RecordingRunner, Runner
from kldload_tui.backend.machine.model import Machine
from kldload_tui.backend.machine.targets import WipeTarget

if TYPE_CHECKING:
    from kldload_tui.backend.target.files import TargetFile

DEFAULT_TARGET = Path("/mnt/kldload")
DEFAULT_LOG = Path("/var/log/kldload/install.log")
POOL = "rpool"


class InstallError(Exception):
    """A phase cannot go on; the message tells the operator what to do."""


class VerifyError(InstallError):
    """A phase ran but its outcome is not what was asked."""


class Cancelled(InstallError):
    """The operator stopped the install between phases."""


@dataclass(frozen=True)
class InstallOptions:
    """How to run an install (the answers say what to install).

    `consent_to_wipe`: disks that hold data may be wiped (a typed confirmation
    in the TUI; headless passes `answers.force_wipe`). `darksite`: a local apt
    repository to install from (the launcher finds the live medium's).
    `live_root`: where the live system's /etc is read from (tests point it at a
    fixture). `reprobe`: on a real run, probe the disks again and stop if they
    are not the planned ones. `export_dir`: where golden images are written;
    `export_name` replaces the default image name (like the seed's KEXPORT_NAME).
    """

    dry_run: bool = False
    consent_to_wipe: bool = False
    target_root: Path = DEFAULT_TARGET
    log_path: Path | None = None
    darksite: Path | None = None
    live_root: Path = Path("/")
    reprobe: bool = True
    export_dir: Path = Path("/var/tmp/kldload-export")
    export_name: str | None = None


@dataclass(frozen=True)
class InstallOutcome:
    """What happened, for the front ends and the exit status."""

    ok: bool
    verified: bool
    failed_phase: str | None
    message: str
    log_path: str | None
    seconds: float


@dataclass
class InstallContext:
    """Everything phases share: inputs, and facts learnt on the way."""

    answers: Answers
    machine: Machine
    runner: Runner
    options: InstallOptions
    distro: DistroBackend
    pool: str = POOL
    targets: list[WipeTarget] = field(default_factory=list)
    esp_partitions: list[str] = field(default_factory=list)
    pool_created: bool = False
    # The target root is a private bind mount of itself (see `private_target`).
    target_bound: bool = False
    mounts: list[str] = field(default_factory=list)
    kernel_version: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def target(self) -> Path:
        return self.options.target_root

    @property
    def be_name(self) -> str:
        return self.answers.distro.value

    @property
    def be(self) -> str:
        """The boot environment dataset mounted at /."""
        return f"{self.pool}/ROOT/{self.be_name}"

    @property
    def dry_run(self) -> bool:
        return self.options.dry_run

    def path(self, inside: str) -> Path:
        """A path inside the target: `/etc/hostname` -> `/mnt/kldload/etc/hostname`."""
        return self.target / inside.lstrip("/")

    def write_files(self, files: Iterable[TargetFile]) -> None:
        """Write `TargetFile`s (paths relative to the target root) through the runner."""
        for f in files:
            self.runner.write_file(self.path(f.path), f.content, f.mode)

    def run(self, argv: list[str], **kwargs: object) -> str:
        """Run through the runner and return stdout (raises on failure)."""
        return self.runner.run(argv, **kwargs).stdout  # type: ignore[arg-type]

    def chroot(self, argv: list[str], **kwargs: object) -> str:
        """Run inside the target."""
        return self.runner.run(argv, chroot=self.target, **kwargs).stdout  # type: ignore[arg-type]

    def warn(self, text: str) -> None:
        """A warning the operator sees in the log and the final summary."""
        self.warnings.append(text)
        self.runner.note(f"warning: {text}")


class Phase(ABC):
    """One step of the install."""

    name: ClassVar[str]
    title: ClassVar[str]

    def applies(self, ctx: InstallContext) -> bool:
        """False when the answers do not ask for this phase (it is then skipped)."""
        return True

    @abstractmethod
    def run(self, ctx: InstallContext) -> None:
        """Do the work."""

    @abstractmethod
    def verify(self, ctx: InstallContext) -> None:
        """Check the outcome; raise `VerifyError` with what is wrong."""


def phases() -> list[Phase]:
    """All phases, in order."""
    from kldload_tui.backend.phases import all_phases

    return all_phases()


PHASES: tuple[str, ...] = (
    "preflight", "partition", "pool", "datasets", "hostid", "bootstrap", "configure",
    "zfs", "bootloader", "services", "manifest", "seal", "snapshot", "finish", "export",
)


def run_install(answers: Answers, machine: Machine, *, runner: Runner, sink: EventSink,
                options: InstallOptions, cancel: threading.Event | None = None
                ) -> InstallOutcome:
    """Install; blocking. Events go to `sink`; the outcome says whether it verified."""
    start = time.monotonic()
    log = str(runner.log_path) if runner.log_path else None
    for name in SECRET_FIELDS:
        # Masked only in the output of the commands given it, so even "admin" is safe.
        secret = getattr(answers, name)
        runner.add_secret(secret.get_secret_value())
    ctx = InstallContext(answers, machine, runner, options, distro_backend(answers))
    todo = [p for p in phases() if p.applies(ctx)]
    sink(InstallStarted(total_phases=len(todo), phases=[p.name for p in todo],
                        dry_run=options.dry_run, log_path=log))
    current: Phase | None = None
    try:
        for index, phase in enumerate(todo, start=1):
            if cancel is not None and cancel.is_set():
                raise Cancelled("stopped by the operator before " + phase.name)
            current = phase
            runner.current_phase = phase.name
            sink(PhaseStarted(name=phase.name, index=index, total=len(todo)))
            began = time.monotonic()
            runner.note(phase.title)
            phase.run(ctx)
            if not options.dry_run:
                phase.verify(ctx)
                runner.note(f"phase {phase.name}: verified")
            sink(PhaseFinished(name=phase.name, index=index,
                               seconds=round(time.monotonic() - began, 3)))
    except Exception as exc:  # every failure becomes one Failed event, never a traceback
        name = current.name if current else "preflight"
        command = exc.command if isinstance(exc, CommandError) else None
        code = exc.returncode if isinstance(exc, CommandError) else None
        message = str(exc) if isinstance(exc, InstallError | CommandError) else (
            f"internal error: {type(exc).__name__}: {exc}")
        runner.note(f"phase {name} failed: {message}")
        teardown(ctx)
        sink(Failed(phase=name, command=command, exit_code=code, message=message,
                    log_path=log))
        return InstallOutcome(False, False, name, message, log, time.monotonic() - start)
    finally:
        runner.current_phase = None
    seconds = time.monotonic() - start
    if options.dry_run:
        message = "dry run complete: nothing was executed, nothing was verified"
    else:
        message = f"installed and verified in {seconds:.0f}s"
    if ctx.warnings:
        message += f" ({len(ctx.warnings)} warning(s) in the log)"
    sink(Complete(seconds=round(seconds, 3), message=message))
    return InstallOutcome(True, not options.dry_run, None, message, log, seconds)


def teardown(ctx: InstallContext) -> None:
    """Leave the machine so that a retry starts clean: nothing mounted, pool exported.

    Best effort, never raising: the original failure is what the operator needs.
    Only what this install set up is undone (its mounts, the pool it created).
    """
    runner = ctx.runner
    runner.current_phase = "teardown"
    try:
        if ctx.pool_created and ctx.runner.log_path is not None:
            _copy_log(ctx)
        for mount in reversed(ctx.mounts):
            runner.run(["umount", "--lazy", mount], check=False)
        ctx.mounts.clear()
        if ctx.pool_created:
            # The datasets under the target, the boot environment among them: it is
            # canmount=noauto, which `zfs unmount -a` leaves mounted.
            runner.run(["umount", "--recursive", "--lazy", str(ctx.target)], check=False)
            result = runner.run(["zpool", "export", "-f", ctx.pool], check=False)
            if result.returncode == 0:
                ctx.pool_created = False
            else:
                runner.note(f"teardown: pool {ctx.pool} could not be exported; "
                            f"run: zpool export -f {ctx.pool}")
        if ctx.target_bound:
            runner.run(["umount", "--lazy", str(ctx.target)], check=False)
            ctx.target_bound = False
    except Exception as exc:  # teardown must not hide the original failure
        runner.note(f"teardown: {type(exc).__name__}: {exc}")
    finally:
        runner.current_phase = None


def _copy_log(ctx: InstallContext) -> None:
    """The install log goes into the target while its root is still mounted."""
    log = ctx.runner.log_path
    dest = ctx.path("/var/log/kldload/install.log")
    if log is None or not dest.parent.parent.exists():
        return
    ctx.runner.run(["install", "-D", "-m", "0600", str(log), str(dest)], check=False)


def plan_install(answers: Answers, machine: Machine, *, options: InstallOptions
                 ) -> RecordingRunner:
    """Everything the install would do, executing nothing."""
    runner = RecordingRunner()
    opts = InstallOptions(**{**options.__dict__, "dry_run": True})
    outcome = run_install(answers, machine, runner=runner, sink=lambda _e: None, options=opts)
    if not outcome.ok:
        raise InstallError(outcome.message)
    return runner
