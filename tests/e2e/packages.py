"""What goes into the darksite and the live environment (the "answers" of the builds).

Changing a list here changes the cache keys of what is built from it.
"""

from __future__ import annotations

# Installed into a target by the engine, from the darksite. debootstrap's own base
# set (Priority required and important) is added by darksite.py from the mirror's
# indexes, so a guest can debootstrap the default and minbase variants from it.
TARGET_PACKAGES: tuple[str, ...] = (
    "linux-image-amd64",
    "zfsutils-linux",
    "zfs-initramfs",
    "zfs-zed",
    "initramfs-tools",
    # E2E.md: without busybox the kernel and zfs-initramfs fail to configure.
    "busybox",
    "systemd-boot",
    "grub-efi-amd64",
    "grub-efi-amd64-bin",
    "efibootmgr",
    "dosfstools",
    "gdisk",
    "openssh-server",
    "sudo",
    "locales",
    "keyboard-configuration",
    "console-setup",
    "systemd-resolved",
    "systemd-timesyncd",
    "dbus",
    "libpam-systemd",
    "sanoid",
    "prometheus-node-exporter",
    "wireguard-tools",
    "ca-certificates",
)

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
    "rsync",
    "pciutils",
    "dmidecode",
    "procps",
    "less",
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
