"""One real install at a time on a machine, whichever front end starts it.

The console TUI, a headless run, `serve`'s API and each browser session of
`serve` are separate processes (or threads) that could each be asked to wipe
the same disks. A `flock` on one file under /run settles it: the first install
holds it until it ends, every other is refused before it touches anything, and
a process that dies lets go of it with its descriptor, so a crash never leaves
a stale lock behind. The holder writes who it is into the file so a refusal
can say which install is running. Dry runs change nothing and take no lock.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from pathlib import Path
from typing import IO

INSTALL_LOCK = Path("/run/kldload/install.lock")


def held_by(path: Path | None = None) -> str | None:
    """Who holds the lock at `path` (default `INSTALL_LOCK`), or None when no install
    holds it. Only asks: a shared lock is taken and dropped at once, which fails
    exactly while some install holds the exclusive one."""
    path = INSTALL_LOCK if path is None else path
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None  # no install has run since boot (/run is a tmpfs)
    except PermissionError:
        # A user who may not read the file (one an older version made 0600) can
        # still learn whether it is locked, from the kernel's table of locks.
        return _held_per_proc_locks(path)
    with os.fdopen(fd, "r", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return handle.read().strip() or "an install whose details are not recorded"
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def _held_per_proc_locks(path: Path, locks: Path = Path("/proc/locks")) -> str | None:
    """Whether an flock is held on `path`'s inode, read from /proc/locks, whose
    lines look like `1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234 0 EOF`."""
    try:
        st = os.stat(path)
        table = locks.read_text(encoding="utf-8")
    except OSError:
        return None
    want = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in table.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[3] == "WRITE" and fields[5] == want:
            return f"pid {fields[4]} (the details are readable by root only)"
    return None


class InstallBusy(Exception):
    """Another install holds the lock; the message says which."""


class InstallLock:
    """The lock at `path`, held from `acquire` until `release` (or the process's end)."""

    def __init__(self, path: Path = INSTALL_LOCK) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock now, or raise `InstallBusy` naming the install that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Not truncated on open: the holder's line must survive a refused attempt.
        # World-readable: `serve` run as a user (dry runs) still says who installs.
        # The line holds only the command line, which /proc shows everyone anyway.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        handle = os.fdopen(fd, "r+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = handle.read().strip() or "an install whose details are not recorded"
            handle.close()
            raise InstallBusy(f"another install is running on this machine ({holder}); "
                              "wait for it to end, or stop it where it was started") from None
        handle.seek(0)
        handle.truncate()
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
        handle.write(f"pid {os.getpid()}, started {started}: "
                     f"{' '.join([Path(sys.argv[0]).name, *sys.argv[1:]])}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        """Let go of the lock (a second call does nothing)."""
        if self._file is None:
            return
        self._file.seek(0)
        self._file.truncate()
        fcntl.flock(self._file, fcntl.LOCK_UN)
        self._file.close()
        self._file = None
