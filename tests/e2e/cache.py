"""Artefact cache outside the repository, keyed by a hash of each artefact's inputs.

Layout: ``$KLDLOAD_E2E_CACHE`` (default /var/cache/kldload-e2e) / KIND / KEY / ...
An entry is built in a temporary directory beside its final place and renamed into
place when complete, so a directory named by its key is always whole; a crashed
build leaves only a ``.tmp-*`` directory, removed by the next build of that kind.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.e2e.sh import safe_rmtree, say

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEFAULT_ROOT = Path("/var/cache/kldload-e2e")
# Keep this many entries of each kind: the current one and the one before it, so
# switching between two branches does not rebuild each time.
KEEP = 2
# The parts of the working tree that end up in the live image (the wheel's inputs).
TREE_PARTS = ("kldload_tui", "screens", "backend", "pyproject.toml")


def cache_root() -> Path:
    """The cache directory; never inside the repository (images must not be committed)."""
    root = Path(os.environ.get("KLDLOAD_E2E_CACHE", str(DEFAULT_ROOT))).resolve()
    if root == REPO or REPO in root.parents:
        raise SystemExit(f"KLDLOAD_E2E_CACHE={root} is inside the repository; put it elsewhere")
    root.mkdir(parents=True, exist_ok=True)
    return root


def digest(inputs: Mapping[str, object]) -> str:
    """A short stable key for a JSON-serialisable description of inputs."""
    blob = json.dumps(inputs, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def files_digest(paths: Iterable[Path]) -> str:
    """Hash of the contents and relative names of files (order-independent)."""
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(str(path.relative_to(REPO) if path.is_relative_to(REPO) else path).encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def harness_digest(*names: str) -> str:
    """Hash of the named harness files (the code that builds one kind of artefact)."""
    return files_digest(HERE / name for name in names)


def tree_files(parts: Iterable[str] = TREE_PARTS) -> list[Path]:
    """Files of the working tree that go into the wheel, untracked ones included
    (the wheel is built from what is on disk, not from git)."""
    found: list[Path] = []
    for part in parts:
        top = REPO / part
        if top.is_file():
            found.append(top)
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [
                d for d in dirnames if d != "__pycache__" and not d.endswith(".egg-info")
            ]
            found.extend(Path(dirpath) / f for f in filenames if not f.endswith((".pyc", ".pyo")))
    return found


def tree_digest() -> str:
    """Hash of the working tree's kldload_tui/, screens/, backend/ and pyproject.toml."""
    return files_digest(tree_files())


@contextmanager
def _locked(kind_dir: Path) -> Iterator[None]:
    # Two runs at once must not build the same artefact twice or prune under each other.
    kind_dir.mkdir(parents=True, exist_ok=True)
    with (kind_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _prune(kind_dir: Path, keep_entry: Path) -> None:
    entries = [p for p in kind_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
    entries.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[KEEP:]:
        if old != keep_entry:
            say(f"cache: pruning {old}")
            safe_rmtree(old)


def ensure(
    kind: str, inputs: Mapping[str, object], build: Callable[[Path], None]
) -> tuple[Path, bool]:
    """The entry for inputs, built by build(tmpdir) when missing; returns (path, built).

    A reused entry is touched so pruning keeps the most recently used ones.
    """
    kind_dir = cache_root() / kind
    key = digest(inputs)
    final = kind_dir / key
    with _locked(kind_dir):
        if final.is_dir():
            os.utime(final)
            return final, False
        for stale in kind_dir.glob(".tmp-*"):
            safe_rmtree(stale)
        tmp = kind_dir / f".tmp-{key}-{os.getpid()}"
        tmp.mkdir()
        started = time.monotonic()
        try:
            build(tmp)
            (tmp / "inputs.json").write_text(json.dumps(inputs, indent=2, sort_keys=True) + "\n")
            tmp.rename(final)
        except BaseException:
            safe_rmtree(tmp)
            raise
        say(f"cache: built {kind}/{key} in {time.monotonic() - started:.0f}s")
        _prune(kind_dir, final)
        return final, True
