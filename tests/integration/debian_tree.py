"""A debootstrapped Debian tree, built once and cached outside the repo, and
throw-away overlay mounts of it that the engine's phases can chroot into.

The tree is what the bootstrap phase would leave minus the kernel, ZFS module
and bootloader: `debootstrap --variant=minbase --include=BASE_PACKAGES`, plus
the few packages a real install gets from its other transactions that the
configure, services and manifest phases (and `systemd-analyze verify` of our
units) need. Building it takes about a minute and needs a Debian mirror, so it
is cached under /var/cache/kldload-test (KLDLOAD_TEST_CACHE moves it), keyed on
suite, components and package list: a change to BASE_PACKAGES builds a new one.
Delete the directory to rebuild after a point release.

The mirror is the host's own, read from its apt sources at run time with
`live_debian_mirror()`, as the installer does: no mirror host name is written
into the repo.

Tests never write into the cache: each mounts an overlay (the cache is the
lower layer, the upper layer lives in the test's tmp_path) and the API
filesystems the product mounts for chrooted commands, and unmounts all of it
again, lazily if a mount is busy.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kldload_tui.backend.distros.apt_sources import live_debian_mirror
from kldload_tui.backend.distros.debian import BASE_PACKAGES

SUITE = "bookworm"
# contrib holds zfsutils-linux, as on a real install (DebianBackend.components()).
COMPONENTS = ("main", "contrib")
# What a real install gets from its later apt transactions and these tests need:
# `wg` makes the WireGuard key in configure (an optional package on a real
# install), and zfsutils-linux supplies /usr/sbin/zpool and zfs.target, which
# our units name, so that `systemd-analyze verify` resolves them for real.
TEST_EXTRA_PACKAGES = ("wireguard-tools", "zfsutils-linux")
# Bump when the way the tree is built changes, so that old caches are not reused.
RECIPE = "1"
CACHE_ENV = "KLDLOAD_TEST_CACHE"
DEFAULT_CACHE = Path("/var/cache/kldload-test")
MARKER = "packages"
BUILD_TIMEOUT = 3600


class TreeUnavailable(Exception):
    """The tree cannot be built on this host (the test should be skipped, not failed)."""


class TreeBuildError(Exception):
    """debootstrap ran against a reachable mirror and failed: a real problem."""


@dataclass(frozen=True)
class DebianTree:
    """A cached tree: `root` is the file system, `entry` the cache directory holding it."""

    entry: Path
    suite: str
    packages: tuple[str, ...]
    built: bool  # False when an earlier run's cache was reused
    seconds: float  # what finding (or building) it took

    @property
    def root(self) -> Path:
        return self.entry / "root"


def tree_packages(extra: Sequence[str] = TEST_EXTRA_PACKAGES) -> tuple[str, ...]:
    """The product's BASE_PACKAGES followed by the test-only extras, without repeats."""
    return tuple(dict.fromkeys((*BASE_PACKAGES, *extra)))


def marker_text(suite: str, packages: Sequence[str]) -> str:
    """The marker file's content: what the tree was built from, one package a line."""
    return (f"# kldload test tree, recipe {RECIPE}: debootstrap --variant=minbase {suite}\n"
            f"# components: {','.join(COMPONENTS)}\n" + "".join(f"{p}\n" for p in packages))


def cache_key(suite: str, packages: Sequence[str]) -> str:
    """A short hash of everything the tree depends on (never of the mirror's host)."""
    return hashlib.sha256(marker_text(suite, sorted(packages)).encode()).hexdigest()[:12]


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)


def why_unavailable() -> str | None:
    """Why no tree can be built or used here, or None."""
    if os.geteuid() != 0:
        return "needs root: debootstrap, chroot and overlay mounts"
    if shutil.which("debootstrap") is None:
        return "debootstrap is not installed (apt-get install debootstrap)"
    return None


def _complete(entry: Path, expected: str) -> bool:
    marker = entry / MARKER
    try:
        return marker.read_text() == expected and (entry / "root/etc/debian_version").is_file()
    except OSError:
        return False


def ensure_tree(suite: str = SUITE, packages: Sequence[str] | None = None, *,
                base: Path | None = None, mirror: str | None = None) -> DebianTree:
    """The cached tree for `suite` and `packages`, built first if there is none.

    Reusing a cache reads one small file. Building runs debootstrap into a
    temporary directory beside the cache entry and renames it into place, so
    an interrupted build never looks complete; a lock keeps two test runs
    from building the same tree at once.
    """
    start = time.monotonic()
    pkgs = tuple(packages) if packages is not None else tree_packages()
    base = base or cache_dir()
    # Sorted like the key: the order of --include does not change the tree.
    expected = marker_text(suite, sorted(pkgs))
    entry = base / f"debian-{suite}-{cache_key(suite, pkgs)}"
    if _complete(entry, expected):
        return DebianTree(entry, suite, pkgs, False, time.monotonic() - start)
    reason = why_unavailable()
    if reason:
        raise TreeUnavailable(reason)
    mirror = mirror or live_debian_mirror()
    if not mirror:
        raise TreeUnavailable("no Debian mirror in this host's apt sources "
                              "(live_debian_mirror found none)")
    base.mkdir(parents=True, exist_ok=True)
    with _locked(base / f".{entry.name}.lock"):
        if _complete(entry, expected):  # another run built it while we waited
            return DebianTree(entry, suite, pkgs, False, time.monotonic() - start)
        for stale in base.glob(f".build-{entry.name}-*"):
            remove_tree(stale)  # an earlier build was interrupted; we hold the lock
        if entry.exists():
            remove_tree(entry)  # no marker or a different one: not trustworthy
        _check_reachable(mirror, suite)
        build = Path(tempfile.mkdtemp(prefix=f".build-{entry.name}-", dir=base))
        try:
            _debootstrap(build, suite, pkgs, mirror)
            (build / MARKER).write_text(expected)
            os.rename(build, entry)  # atomic: the entry appears complete or not at all
        except BaseException:
            remove_tree(build)
            raise
    return DebianTree(entry, suite, pkgs, True, time.monotonic() - start)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_reachable(mirror: str, suite: str) -> None:
    url = f"{mirror.rstrip('/')}/dists/{suite}/Release"
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            response.read(1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise TreeUnavailable(f"the host's Debian mirror is not reachable ({url}): {exc}") \
            from exc


def _debootstrap(build: Path, suite: str, packages: Sequence[str], mirror: str) -> None:
    root = build / "root"
    log = build / "debootstrap.log"
    argv = ["debootstrap", "--arch=amd64", "--variant=minbase",
            f"--components={','.join(COMPONENTS)}", f"--include={','.join(packages)}",
            suite, str(root), mirror]
    with open(log, "wb") as out:
        try:
            result = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, timeout=BUILD_TIMEOUT,
                                    check=False)
        except subprocess.TimeoutExpired as exc:
            raise TreeBuildError(f"debootstrap took over {BUILD_TIMEOUT}s; log: {log}") from exc
    if result.returncode != 0:
        # debootstrap's own detailed log stays inside the target on failure.
        inner = root / "debootstrap/debootstrap.log"
        tail = (inner if inner.is_file() else log).read_text(errors="replace")
        raise TreeBuildError(f"{' '.join(argv)} exited {result.returncode}:\n"
                             + "\n".join(tail.splitlines()[-30:]))
    # debootstrap mounts proc and sys in the target while it works; a leftover
    # would end up in the cache and under every overlay.
    leftover = mounts_under(root)
    if leftover:
        raise TreeBuildError(f"debootstrap left mounts behind: {leftover}")


# -- mounts -------------------------------------------------------------------------

def _unescape(field_text: str) -> str:
    """/proc/self/mountinfo escapes blanks and backslashes as \\ooo."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field_text)


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below `path`, in mount order (parents before children)."""
    prefix = str(path).rstrip("/")
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = _unescape(line.split()[4])
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return points


def remove_tree(path: Path) -> None:
    """rm -r, refusing while anything is mounted below (it would delete the host's /dev)."""
    if not path.exists():
        return
    leftover = mounts_under(path)
    if leftover:
        raise RuntimeError(f"not removing {path}: still mounted there: {leftover}")
    shutil.rmtree(path)


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


@dataclass
class Overlay:
    """A writable view of the cached tree; `upper` holds everything a test wrote."""

    root: Path
    upper: Path
    lazily_unmounted: list[str] = field(default_factory=list)


# The same API file systems, options and propagation as the bootstrap phase
# (kldload_tui.backend.distros.target_chroot.mount_api_filesystems): chrooted commands see what
# they see on a real install, and unmounting them never reaches the host's own.
API_MOUNTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("/dev", "dev", ("--rbind",)),
    ("proc", "proc", ("-t", "proc")),
    ("/sys", "sys", ("--rbind",)),
    ("tmpfs", "run", ("-t", "tmpfs", "-o", "mode=0755")),
)


def unmount_all(root: Path) -> list[str]:
    """Unmount everything at or under `root`, children first; return what needed --lazy.

    A mount that is still busy (a process left running in the chroot) is
    detached lazily: it is gone from the tree at once, which is what makes
    removing the directories afterwards safe, and the caller can report it.
    """
    lazy: list[str] = []
    for _ in range(5):  # rbind mounts stack; a later round catches what uncovered
        points = mounts_under(root)
        if not points:
            break
        for point in reversed(points):
            if _run(["umount", point]).returncode != 0 and point in mounts_under(root):
                _run(["umount", "--lazy", "--recursive", point])
                lazy.append(point)
    return lazy


@contextlib.contextmanager
def overlay(tree: DebianTree, workdir: Path, *, api: bool = True) -> Iterator[Overlay]:
    """Mount the tree writable at `workdir/root` (with the API file systems), then clean up.

    On exit every mount under the root is gone (checked) and the overlay's
    directories are removed, whatever happened inside.
    """
    upper, work, root = workdir / "upper", workdir / "work", workdir / "root"
    for d in (upper, work, root):
        d.mkdir(parents=True)
    view = Overlay(root, upper)
    try:
        r = _run(["mount", "-t", "overlay", "overlay", "-o",
                  f"lowerdir={tree.root},upperdir={upper},workdir={work}", str(root)])
        if r.returncode != 0:
            raise TreeUnavailable(f"cannot mount an overlay here: {r.stderr.strip()}")
        if api:
            for source, where, args in API_MOUNTS:
                dest = str(root / where)
                _check(["mount", *args, source, dest])
                if "--rbind" in args:
                    _check(["mount", "--make-rslave", dest])
        yield view
    finally:
        view.lazily_unmounted += unmount_all(root)
        leftover = mounts_under(root)
        if leftover:
            # Never remove the directories then: rm -r would walk into the host's /dev.
            raise RuntimeError(f"mounts left under {root}: {leftover}")
        for d in (upper, work, root):
            if d.exists():
                shutil.rmtree(d)


def _check(argv: list[str]) -> None:
    r = _run(argv)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {r.returncode}: {r.stderr.strip()}")
