"""Mounts for package scripts and tools in a chroot, undone on every exit.

Everything goes through the runner, so a build log shows each mount and a plan
shows the order. Unmounting happens deepest first, lazily when busy: a chroot
must never be removed while /dev is still bound into it (`cache.remove_tree`
refuses to).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from kldload_tui.backend.engine.runner import Runner

CHROOT_ENV = {
    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    "LC_ALL": "C.UTF-8",
    "DEBIAN_FRONTEND": "noninteractive",
    "HOME": "/root",
}


def mount_plan(root: Path, binds: Mapping[Path, str] | None = None) -> list[list[str]]:
    """The mount argv lists for a chroot at `root`, in order."""
    plan = [
        ["mount", "-t", "proc", "proc", str(root / "proc")],
        ["mount", "-t", "sysfs", "sysfs", str(root / "sys")],
        ["mount", "--bind", "/dev", str(root / "dev")],
        ["mount", "--bind", "/dev/pts", str(root / "dev/pts")],
    ]
    for host, inside in (binds or {}).items():
        plan.append(["mount", "--bind", str(host), str(root / inside.lstrip("/"))])
    return plan


@contextmanager
def chroot_mounts(root: Path, runner: Runner,
                  binds: Mapping[Path, str] | None = None) -> Iterator[None]:
    """proc, sys, dev, devpts and bind mounts of host directories inside `root`."""
    done: list[str] = []
    try:
        for argv in mount_plan(root, binds):
            Path(argv[-1]).mkdir(parents=True, exist_ok=True)
            runner.run(argv)
            done.append(argv[-1])
        yield
    finally:
        for point in reversed(done):
            if runner.run(["umount", point], check=False).returncode != 0:
                runner.run(["umount", "-l", point], check=False)


def in_chroot(root: Path, runner: Runner, argv: list[str],
              env: Mapping[str, str] | None = None) -> str:
    """Run argv inside `root` with a clean, non-interactive environment; its stdout."""
    return runner.run(argv, chroot=root, env={**CHROOT_ENV, **(env or {})}).stdout


@contextmanager
def no_daemons(root: Path, runner: Runner) -> Iterator[None]:
    """Keep package scripts in a chroot from starting services on this machine."""
    policy = root / "usr/sbin/policy-rc.d"
    runner.write_file(policy, "#!/bin/sh\nexit 101\n", 0o755)
    try:
        yield
    finally:
        policy.unlink(missing_ok=True)
