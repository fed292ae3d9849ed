"""What goes into the darksite and the live environment (the "answers" of the builds).

Changing a list here changes the cache keys of what is built from it.
"""

from __future__ import annotations

from kldload_tui.backend.answers.model import Profile
from kldload_tui.backend.distros.debian import (
    BASE_PACKAGES,
    CORE_PACKAGES,
    FEATURE_PACKAGES,
    LOADER_PACKAGES,
    PROFILE_PACKAGES,
    SEAL_PACKAGES,
)

# Installed into a target by the engine, from the darksite: taken from the product
# itself (what debootstrap --include, the core transaction and the profiles and
# features the e2e layouts use install), so the darksite never lags behind it.
# debootstrap's own base set (Priority required and important) is added by
# darksite.py from the mirror's indexes.
E2E_PROFILES = (Profile.SERVER, Profile.CORE)
E2E_FEATURES = ("wireguard",)
TARGET_PACKAGES: tuple[str, ...] = tuple(dict.fromkeys((
    *BASE_PACKAGES,
    *CORE_PACKAGES,
    *(p for loader in LOADER_PACKAGES.values() for p in loader),
    *(p for profile in E2E_PROFILES for p in PROFILE_PACKAGES[profile]),
    *(p for feature in E2E_FEATURES for p in FEATURE_PACKAGES[feature]),
    # The golden layout exports, so its image gets cloud-init.
    *SEAL_PACKAGES,
)))

# The live environment: what the installer runs with inside the guest. ZFS modules
# come from the prebuilt package (darksite.py adds it); nothing compiles in a guest.
LIVE_PACKAGES: tuple[str, ...] = (
    "linux-image-amd64",
    "initramfs-tools",
    "busybox",
    "zfsutils-linux",
    "systemd-sysv",
    # systemctl poweroff and the like talk to systemd over D-Bus.
    "dbus",
    "udev",
    "kmod",
    "iproute2",
    "util-linux",
    "fdisk",
    "gdisk",
    "parted",
    "dosfstools",
    "mtools",
    "e2fsprogs",
    "debootstrap",
    "efibootmgr",
    "systemd-boot",
    "grub-efi-amd64-bin",
    "python3",
    "python3-venv",
    # seed_fs reads ISO9660 seeds (kldload-tui seed make --iso) with xorriso.
    "xorriso",
    "rsync",
    "pciutils",
    "dmidecode",
    "procps",
    "less",
    # Exporting golden images (qemu-img) and uploading them (scp, ssh-keyscan); the
    # golden layout's image server is this system's own sshd.
    "qemu-utils",
    "openssh-client",
    "openssh-server",
)

# The live kernel boots from virtio disks with an ext4 root: an initramfs with just
# these (MODULES=list) is built in seconds and loads fast under emulation.
LIVE_INITRAMFS_MODULES: tuple[str, ...] = (
    "virtio_pci",
    "virtio_blk",
    "virtio_scsi",
    "sd_mod",
    "ext4",
    "crc32c_generic",
)
