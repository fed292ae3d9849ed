"""Host commands for the harness: argv lists, output kept in a log, failures loud.

Builds run chroots with bind mounts; a leftover bind of /dev under a directory that
is then removed would delete the host's device nodes, so every removal here goes
through safe_rmtree, which unmounts first and refuses if anything stays mounted.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

CHROOT_ENV = {
    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    "LC_ALL": "C.UTF-8",
    "DEBIAN_FRONTEND": "noninteractive",
    "HOME": "/root",
}


class CommandFailed(RuntimeError):
    """A command exited non-zero; carries the argv, the status and the log's tail."""

    def __init__(self, argv: Sequence[str], returncode: int, tail: str) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.tail = tail
        super().__init__(f"exit {returncode}: {' '.join(argv)}\n{tail}")


def say(message: str) -> None:
    """Progress for the person running the harness (stderr, timestamped)."""
    print(f"e2e {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def run(
    argv: Sequence[str],
    *,
    log: Path,
    capture: bool = False,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
) -> str:
    """Run argv, appending it and its output to log; return stdout when capture is set."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(argv)}\n")
        out.flush()
        proc = subprocess.run(
            list(argv),
            stdout=subprocess.PIPE if capture else out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            text=True,
            check=False,
        )
        if capture:
            out.write(proc.stdout)
    if check and proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, _tail(log))
    return proc.stdout if capture else ""


def mounts_under(path: Path) -> list[Path]:
    """Mount points at or below path, deepest first."""
    base = str(path.resolve())
    found: list[Path] = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ").replace("\\011", "\t")
        if point == base or point.startswith(base.rstrip("/") + "/"):
            found.append(Path(point))
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def unmount_all(path: Path) -> None:
    """Unmount everything at or below path (lazily if busy)."""
    for point in mounts_under(path):
        if subprocess.run(["umount", str(point)], check=False, capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(point)], check=False, capture_output=True)


def safe_rmtree(path: Path) -> None:
    """Remove a tree only once nothing is mounted inside it."""
    if not path.exists() and not path.is_symlink():
        return
    unmount_all(path)
    left = mounts_under(path)
    if left:
        raise RuntimeError(f"refusing to remove {path}: still mounted: {left}")
    shutil.rmtree(path)


@contextmanager
def chroot_mounts(root: Path, binds: Mapping[Path, str] | None = None) -> Iterator[None]:
    """proc, sys, dev and devpts for package scripts, plus bind mounts of host
    directories at the given paths inside root; all undone on exit."""
    plan: list[tuple[list[str], Path]] = [
        (["-t", "proc", "proc"], root / "proc"),
        (["-t", "sysfs", "sysfs"], root / "sys"),
        (["--bind", "/dev"], root / "dev"),
        (["--bind", "/dev/pts"], root / "dev/pts"),
    ]
    for host, inside in (binds or {}).items():
        plan.append((["--bind", str(host)], root / inside.lstrip("/")))
    try:
        for opts, point in plan:
            point.mkdir(parents=True, exist_ok=True)
            subprocess.run(["mount", *opts, str(point)], check=True)
        yield
    finally:
        unmount_all(root / "proc")
        unmount_all(root / "sys")
        unmount_all(root / "dev")
        for _, inside in (binds or {}).items():
            unmount_all(root / inside.lstrip("/"))


@contextmanager
def no_daemons(root: Path) -> Iterator[None]:
    """Keep package scripts in a chroot from starting services on the host."""
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    try:
        yield
    finally:
        with suppress(FileNotFoundError):
            policy.unlink()


def in_chroot(root: Path, argv: Sequence[str], *, log: Path, capture: bool = False) -> str:
    """Run argv inside root with a clean, non-interactive environment."""
    return run(["chroot", str(root), *argv], log=log, capture=capture, env=CHROOT_ENV)


def apt_install_args() -> list[str]:
    """apt-get flags for unattended installs in a chroot."""
    return ["apt-get", "-y", "-q", "-o", "Dpkg::Options::=--force-confdef",
            "-o", "Dpkg::Options::=--force-confold", "install"]


def du_bytes(path: Path) -> int:
    """Apparent size of a tree, for sizing the ext4 images made from it."""
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True,
                              check=True).stdout.split()[0])


def make_ext4(src: Path, image: Path, label: str, *, log: Path, size: int | None = None) -> None:
    """An ext4 image holding src, made without mounting (mkfs.ext4 -d): sparse on disk."""
    if size is None:
        size = int(du_bytes(src) * 1.3) + 256 * 2**20
    mib = (size + 2**20 - 1) // 2**20
    run(["mkfs.ext4", "-q", "-F", "-L", label, "-E", "root_owner=0:0", "-d", str(src),
         str(image), f"{mib}M"], log=log)
