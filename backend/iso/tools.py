"""What `iso build` needs on the build machine, and the package carrying each.

Checked before anything runs, so a missing tool is named with the package to
install instead of failing half-way through a build.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# (what is looked for, the Debian package that provides it). A path is a file
# that must exist; anything else is a program looked up on PATH.
REQUIRED: tuple[tuple[str, str], ...] = (
    ("mmdebstrap", "mmdebstrap"),
    ("debootstrap", "debootstrap"),  # checks the darksite as the engine will use it
    ("chroot", "coreutils"),
    ("mount", "mount"),
    ("apt-get", "apt"),
    ("apt-ftparchive", "apt-utils"),
    ("dpkg-deb", "dpkg"),
    ("dpkg-scanpackages", "dpkg-dev"),
    ("mksquashfs", "squashfs-tools"),
    ("xorriso", "xorriso"),
    ("grub-mkimage", "grub-common"),
    ("/usr/lib/grub/i386-pc/boot_hybrid.img", "grub-pc-bin"),
    ("/usr/lib/grub/x86_64-efi/linux.mod", "grub-efi-amd64-bin"),
    ("mkfs.vfat", "dosfstools"),
    ("mmd", "mtools"),
    ("mcopy", "mtools"),
    ("gpg", "gnupg"),  # signs the darksite with a key made for it (darksite.sign_release)
    ("gpgv", "gpgv"),
    ("/usr/share/keyrings/debian-archive-keyring.gpg", "debian-archive-keyring"),
)
# Copied into pxe/ when present; a PXE server may bring its own.
OPTIONAL: tuple[tuple[str, str], ...] = (
    ("/usr/lib/PXELINUX/pxelinux.0", "pxelinux"),
    ("/usr/lib/syslinux/modules/bios/ldlinux.c32", "syslinux-common"),
)


@dataclass(frozen=True)
class Missing:
    """A tool that is not there, and the package to install for it."""

    tool: str
    package: str


def missing_tools(required: tuple[tuple[str, str], ...] = REQUIRED,
                  which: Callable[[str], str | None] = shutil.which,
                  exists: Callable[[Path], bool] = Path.exists) -> list[Missing]:
    """Every required tool that is absent, in the order of `required`."""
    found: list[Missing] = []
    for tool, package in required:
        present = exists(Path(tool)) if tool.startswith("/") else which(tool) is not None
        if not present:
            found.append(Missing(tool, package))
    return found


def refusals(euid: int | None = None, missing: list[Missing] | None = None) -> list[str]:
    """Why this machine cannot build now: not root, tools missing (one line each)."""
    reasons: list[str] = []
    if (os.geteuid() if euid is None else euid) != 0:
        reasons.append("iso build runs as root: it makes chroots, mounts and device nodes")
    missing = missing_tools() if missing is None else missing
    if missing:
        packages = " ".join(dict.fromkeys(m.package for m in missing))
        tools = ", ".join(m.tool for m in missing)
        reasons.append(f"missing tools ({tools}): apt-get install {packages}")
    return reasons
