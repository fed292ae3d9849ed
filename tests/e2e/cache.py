"""The stand-in's artefact cache outside the repository, keyed by a hash of each
artefact's inputs: the product's build cache (kldload_tui/backend/iso/cache.py,
which the ISO build uses too) rooted at ``$KLDLOAD_E2E_CACHE`` (default
/var/cache/kldload-e2e) / KIND / KEY / ... An entry is built in a temporary
directory and renamed into place when whole; the two most recent of each kind stay.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from kldload_tui.backend.iso.cache import BuildCache, files_digest
from kldload_tui.backend.iso.inputs import tree_digest as product_tree_digest
from tests.e2e.sh import say

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEFAULT_ROOT = Path("/var/cache/kldload-e2e")


def cache_root() -> Path:
    """The cache directory; never inside the repository (images must not be committed)."""
    root = Path(os.environ.get("KLDLOAD_E2E_CACHE", str(DEFAULT_ROOT))).resolve()
    if root == REPO or REPO in root.parents:
        raise SystemExit(f"KLDLOAD_E2E_CACHE={root} is inside the repository; put it elsewhere")
    root.mkdir(parents=True, exist_ok=True)
    return root


def harness_digest(*names: str) -> str:
    """Hash of the named harness files (the code that builds one kind of artefact)."""
    return files_digest((HERE / name for name in names), REPO)


def tree_digest() -> str:
    """Hash of the working tree's kldload_tui/, screens/, backend/ and pyproject.toml."""
    return product_tree_digest(REPO)


def ensure(
    kind: str, inputs: Mapping[str, object], build: Callable[[Path], None]
) -> tuple[Path, bool]:
    """The entry for inputs, built by build(tmpdir) when missing; returns (path, built)."""
    started = time.monotonic()
    entry, built = BuildCache(cache_root()).ensure(kind, inputs, build)
    if built:
        say(f"cache: built {kind}/{entry.name} in {time.monotonic() - started:.0f}s")
    return entry, built
