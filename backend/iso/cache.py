"""Build cache outside any repository, keyed by a hash of each artefact's inputs.

Layout: CACHE (default /var/cache/kldload-iso) / KIND / KEY / ... An entry is
built in a temporary directory beside its final place and renamed into place
when complete, so a directory named by its key is always whole; a crashed build
leaves a `.tmp-*` directory that the next build of that kind removes.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

DEFAULT_ROOT = Path("/var/cache/kldload-iso")
# Keep this many entries of each kind: the current one and the one before, so
# switching between two branches or suites does not rebuild each time.
KEEP = 2


def digest(inputs: Mapping[str, object]) -> str:
    """A short stable key for a JSON-serialisable description of inputs."""
    blob = json.dumps(inputs, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def files_digest(paths: Iterable[Path], base: Path) -> str:
    """Hash of the contents and names (relative to `base`) of files, order-independent."""
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(str(path.relative_to(base) if path.is_relative_to(base) else path).encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def remove_tree(path: Path) -> None:
    """Remove a tree only when nothing is mounted inside it.

    A build chroot has /dev bound into it: removing it while still bound would
    delete this machine's device nodes.
    """
    if not path.exists() and not path.is_symlink():
        return
    base = str(path.resolve())
    with open("/proc/self/mountinfo", encoding="utf-8") as info:
        points = [line.split()[4] for line in info]
    busy = [p for p in points if p == base or p.startswith(base.rstrip("/") + "/")]
    if busy:
        raise RuntimeError(f"refusing to remove {path}: still mounted: {busy}")
    shutil.rmtree(path)


class BuildCache:
    """Entries of each kind of artefact, reused while their inputs stay the same."""

    def __init__(self, root: Path = DEFAULT_ROOT) -> None:
        self.root = root

    def path(self, kind: str, inputs: Mapping[str, object]) -> Path:
        """Where the entry for `inputs` lives (whether or not it is built)."""
        return self.root / kind / digest(inputs)

    def ensure(self, kind: str, inputs: Mapping[str, object],
               build: Callable[[Path], None]) -> tuple[Path, bool]:
        """The entry for `inputs`, built by `build(tmpdir)` when missing: (path, built).

        A reused entry is touched so pruning keeps the most recently used ones.
        """
        kind_dir = self.root / kind
        final = self.path(kind, inputs)
        with _locked(kind_dir):
            if final.is_dir():
                os.utime(final)
                return final, False
            for stale in kind_dir.glob(".tmp-*"):
                remove_tree(stale)
            tmp = kind_dir / f".tmp-{final.name}-{os.getpid()}"
            tmp.mkdir()
            try:
                build(tmp)
                (tmp / "inputs.json").write_text(
                    json.dumps(inputs, indent=2, sort_keys=True) + "\n")
                tmp.rename(final)
            except BaseException:
                # A failed build keeps its tree only while something is mounted in it.
                if not _mounted_under(tmp):
                    shutil.rmtree(tmp, ignore_errors=True)
                raise
            self._prune(kind_dir, final)
            return final, True

    @staticmethod
    def _prune(kind_dir: Path, keep_entry: Path) -> None:
        entries = [p for p in kind_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
        entries.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[KEEP:]:
            if old != keep_entry:
                remove_tree(old)


def _mounted_under(path: Path) -> bool:
    base = str(path.resolve())
    with open("/proc/self/mountinfo", encoding="utf-8") as info:
        return any(line.split()[4].startswith(base) for line in info)


@contextmanager
def _locked(kind_dir: Path) -> Iterator[None]:
    # Two builds at once must not build the same artefact twice or prune under each other.
    kind_dir.mkdir(parents=True, exist_ok=True)
    with (kind_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def timestamp() -> str:
    """UTC now, for .disk/info and manifests."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
