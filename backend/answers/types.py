"""The choices the answers offer, as enums (the seed's lists, plus ours)."""

from __future__ import annotations

from enum import StrEnum


class Distro(StrEnum):
    """Distributions of the seed's reference."""

    CENTOS = "centos"
    DEBIAN = "debian"
    UBUNTU = "ubuntu"
    FEDORA = "fedora"
    RHEL = "rhel"
    ROCKY = "rocky"
    ARCH = "arch"
    ALPINE = "alpine"


# The distributions whose answers name a major release (KLDLOAD_RELEASE: the seed's
# "CentOS/RHEL/Rocky release version"); Debian names a suite instead.
RELEASED_DISTROS = frozenset({Distro.CENTOS, Distro.RHEL, Distro.ROCKY})


class Profile(StrEnum):
    """How much software goes into the target."""

    DESKTOP = "desktop"
    SERVER = "server"
    CORE = "core"


class StorageMode(StrEnum):
    """Only ZFS is supported; the key exists because the seed has it."""

    ZFS = "zfs"


class Topology(StrEnum):
    """Layout of the root pool's data vdevs."""

    SINGLE = "single"
    MIRROR = "mirror"
    RAIDZ1 = "raidz1"
    MIRROR_STRIPE = "mirror-stripe"


class NetMethod(StrEnum):
    """How the installed system configures its network."""

    DHCP = "dhcp"
    STATIC = "static"


class InfraMode(StrEnum):
    """A lone machine, or a member of a WireGuard cluster."""

    STANDALONE = "standalone"
    CLUSTER = "cluster"


class ExportFormat(StrEnum):
    """Golden image formats; `none` installs without exporting."""

    NONE = "none"
    QCOW2 = "qcow2"
    VMDK = "vmdk"
    VHD = "vhd"
    OVA = "ova"
    RAW = "raw"


class DebianSuite(StrEnum):
    """Debian releases the installer knows."""

    TRIXIE = "trixie"
    BOOKWORM = "bookworm"


class InitramfsModules(StrEnum):
    """initramfs-tools MODULES: every storage driver, or only this machine's."""

    MOST = "most"
    DEP = "dep"


class Firmware(StrEnum):
    """Which firmware the installed disks boot on; auto: the live system's."""

    AUTO = "auto"
    UEFI = "uefi"
    BIOS = "bios"
    BOTH = "both"


class FinishAction(StrEnum):
    """What the machine does after a verified install."""

    POWEROFF = "poweroff"
    REBOOT = "reboot"
    NONE = "none"
