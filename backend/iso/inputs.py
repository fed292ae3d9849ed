"""What an ISO build is made of: the options, the package lists, the source tree.

Every list here is part of a cache key: changing one rebuilds what is made
from it, and nothing else.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from kldload_tui.backend.answers.model import Profile
from kldload_tui.backend.distros.debian import (
    BASE_PACKAGES,
    CORE_PACKAGES,
    FEATURE_PACKAGES,
    LOADER_PACKAGES,
    PROFILE_PACKAGES,
    SEAL_PACKAGES,
)
from kldload_tui.backend.iso.cache import DEFAULT_ROOT, files_digest

SUITES = ("bookworm", "trixie")
DEFAULT_ZSTD_LEVEL = 15
# The parts of a working tree that make kldload-tui's wheel.
TREE_PARTS = ("kldload_tui", "backend", "screens", "pyproject.toml")
VENV = "/opt/kldload"

# The live system: what the installer runs with, plus what an operator needs
# on a console or over SSH. ZFS comes from the prebuilt module package.
LIVE_PACKAGES: tuple[str, ...] = (
    "linux-image-amd64", "initramfs-tools", "live-boot", "busybox", "zfsutils-linux",
    "systemd-sysv", "systemd-resolved", "dbus", "udev", "kmod", "iproute2", "util-linux",
    "fdisk", "gdisk", "parted", "dosfstools", "mtools", "e2fsprogs",
    "efibootmgr", "systemd-boot", "grub-efi-amd64-bin", "grub-pc-bin", "python3",
    "python3-venv", "xorriso", "rsync", "pciutils", "dmidecode", "procps", "less",
    "qemu-utils", "openssh-server", "openssh-client", "ca-certificates", "login",
    "passwd", "ncurses-term",
)


def live_packages() -> tuple[str, ...]:
    """The live root's packages: the installer's own, then what each distribution's
    backend runs on the live system (`DistroBackend.live_packages`)."""
    from kldload_tui.backend.distros import live_packages as distro_packages

    return tuple(dict.fromkeys((*LIVE_PACKAGES, *distro_packages())))


@dataclass(frozen=True)
class IsoOptions:
    """`kldload-tui iso build`'s options."""

    out: Path
    suite: str
    darksite: bool = False
    profiles: tuple[Profile, ...] = (Profile.SERVER,)
    features: tuple[str, ...] = ()
    wheel: Path | None = None
    source: Path | None = None  # the working tree, when no wheel is given
    cache: Path = DEFAULT_ROOT
    zstd_level: int = DEFAULT_ZSTD_LEVEL
    extra_cmdline: tuple[str, ...] = field(default=())


def darksite_packages(profiles: tuple[Profile, ...], features: tuple[str, ...]) -> list[str]:
    """Every package an install of these profiles and features asks apt for.

    Taken from the Debian backend itself, so the darksite never lags behind
    what the engine installs; debootstrap's own base set is added by the
    darksite from the mirror's priorities, and the ZFS module by the build.
    """
    wanted = [*BASE_PACKAGES, *CORE_PACKAGES, "zfs-initramfs"]
    wanted += [p for loader in LOADER_PACKAGES.values() for p in loader]
    for profile in profiles:
        wanted += PROFILE_PACKAGES[profile]
    for feature in features:
        wanted += FEATURE_PACKAGES[feature]
    wanted += SEAL_PACKAGES  # an export seals with cloud-init
    return list(dict.fromkeys(wanted))


def known_features() -> tuple[str, ...]:
    """The features a darksite can serve (`--feature`): the Debian backend's."""
    return tuple(FEATURE_PACKAGES)


def source_tree() -> Path | None:
    """The working tree this kldload-tui runs from, when it is one (an editable install)."""
    top = Path(__file__).resolve().parents[2]
    ok = (top / "pyproject.toml").is_file() and (top / "kldload_tui").is_dir()
    return top if ok else None


def tree_files(top: Path, parts: tuple[str, ...] = TREE_PARTS) -> list[Path]:
    """Files of the tree that go into the wheel, untracked ones included (the wheel
    is built from what is on disk, not from git)."""
    found: list[Path] = []
    for part in parts:
        origin = top / part
        if origin.is_file():
            found.append(origin)
            continue
        # kldload_tui/backend and kldload_tui/screens are symlinks to the top-level
        # folders: not followed here, they are walked as parts of their own.
        for dirpath, dirnames, filenames in os.walk(origin):
            dirnames[:] = [d for d in dirnames
                           if d != "__pycache__" and not d.endswith(".egg-info")
                           and not (Path(dirpath) / d).is_symlink()]
            found.extend(Path(dirpath) / f for f in filenames
                         if not f.endswith((".pyc", ".pyo"))
                         and not (Path(dirpath) / f).is_symlink())
    return found


def tree_digest(top: Path) -> str:
    """Hash of kldload_tui/, backend/, screens/ and pyproject.toml as they are on disk."""
    return files_digest(tree_files(top), top)


def code_digest(*names: str) -> str:
    """Hash of modules of this package (what builds one kind of artefact)."""
    here = Path(__file__).resolve().parent
    paths = [here / n for n in names if (here / n).is_file()]
    paths += [p for n in names if (here / n).is_dir() for p in sorted((here / n).iterdir())]
    return files_digest(paths, here)


def wheel_digest(wheel: Path) -> str:
    """SHA-256 of a given wheel."""
    return hashlib.sha256(wheel.read_bytes()).hexdigest()
