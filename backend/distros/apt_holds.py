"""Package holds on the apt family (Debian, Ubuntu): what is held, and how.

If the kernel, the ZFS module and the bootloader update out of step, the
machine does not boot; these are held and upgraded deliberately, after a
snapshot. The installed system holds them with `apt-mark hold` (the
package-holds template) at first boot and on every boot after.

Pass only installed packages: the holds are read back, and a missing one fails
kldload-package-holds.service.
"""

from __future__ import annotations

from collections.abc import Sequence

from kldload_tui.backend.distros.holds import package_hold_files
from kldload_tui.backend.target.files import TargetFile


def debian_held_packages(*, zfs_module: str = "zfs-dkms", bootloader: Sequence[str] = (),
                         arch: str = "amd64") -> tuple[str, ...]:
    """Debian's kernel, ZFS and bootloader packages.

    `zfs_module` is the package that provides the ZFS kernel module (DKMS, or a
    prebuilt module package); DKMS builds against the kernel headers, so they
    are held with it.
    """
    base = [f"linux-image-{arch}", zfs_module, "zfsutils-linux", "zfs-initramfs"]
    if zfs_module == "zfs-dkms":
        base.append(f"linux-headers-{arch}")
    return tuple(dict.fromkeys((*base, *bootloader)))


def ubuntu_held_packages(*, bootloader: Sequence[str] = ()) -> tuple[str, ...]:
    """Ubuntu's: its kernels ship zfs.ko (in linux-modules-*), so there is no module
    package to keep in step. The kernel is held by the metapackage the install puts
    there, linux-image-generic (not linux-generic, which pulls the headers and is not
    installed: holding it would fail)."""
    base = ["linux-image-generic", "zfsutils-linux", "zfs-initramfs"]
    return tuple(dict.fromkeys((*base, *bootloader)))


def apt_hold_files() -> list[TargetFile]:
    """The script that holds with apt-mark, and the unit that runs it on every boot."""
    return package_hold_files("package-holds-apt",
                              before="apt-daily-upgrade.service unattended-upgrades.service")
