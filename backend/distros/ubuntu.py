"""Ubuntu 24.04 LTS (noble): what differs from Debian (debian.py), and only that.

The install is Debian's: debootstrap, one apt transaction for the kernel, ZFS and
the loaders and one for the optional packages, initramfs-tools, systemd-networkd
files (Ubuntu server without netplan), apt-mark holds. What is Ubuntu's own:

- the suite is fixed (noble); Ubuntu takes no suite or release answer;
- the archive and its pockets: noble and noble-updates from the archive,
  noble-security from the security archive; KLDLOAD_CUSTOM_MIRROR_URL replaces
  the archive, and then serves all three pockets (Ubuntu's archive carries
  -security too, and a mirror is what an install without Ubuntu's network uses);
- components main and universe (sanoid and friends), restricted and multiverse
  only for NVIDIA;
- ZFS is in the kernel: linux-image-generic's modules package ships zfs.ko, so
  there is no DKMS and no module package; zfsutils-linux and zfs-initramfs are
  in main;
- the archive keys: Ubuntu's keyring, checked against the fingerprints pinned
  here before anything is written.

Proven as a plan only (`proven` stays the class default): Ubuntu's archive
cannot be reached from the machines this is built on (docs/distros.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from kldload_tui.backend.answers.model import Distro, Profile
from kldload_tui.backend.distros import DistroBackend
from kldload_tui.backend.distros.apt_holds import ubuntu_held_packages
from kldload_tui.backend.distros.debian import DebianBackend
from kldload_tui.backend.distros.openpgp_keys import keyring_problem

if TYPE_CHECKING:
    from kldload_tui.backend.engine.core import InstallContext

SUITE = "noble"
ARCHIVE_URL = "http://archive.ubuntu.com/ubuntu"
SECURITY_URL = "http://security.ubuntu.com/ubuntu"
# On the live (Debian) system from Debian's ubuntu-keyring package, and in the
# target from Ubuntu's ubuntu-keyring (apt depends on it; BASE_PACKAGES names it
# too): the same path in both, which debootstrap and the target's Signed-By name.
KEYRING = Path("/usr/share/keyrings/ubuntu-archive-keyring.gpg")
# Exactly the primary keys of that file, by fingerprint. Confirmed against the
# copy in Debian's signed archive (tests/integration/test_key_pins.py): Debian's
# ubuntu-keyring 2023.11.28.1 holds these three. The 2018 key signs noble's
# InRelease; the other two are in the same file, so the file is only taken whole.
ARCHIVE_KEYS: dict[str, str] = {
    "F6ECB3762474EDA9D21B7022871920D1991BC93C":
        "Ubuntu Archive Automatic Signing Key (2018)",
    "790BC7277767219C42C86F933B4FE6ACC0B21F32":
        "Ubuntu Archive Automatic Signing Key (2012)",
    "843938DF228D22F7B3742BC0D94AA3F0EFE21092":
        "Ubuntu CD Image Automatic Signing Key (2012)",
}
# The live system's debootstrap may predate noble: bookworm's (1.0.128+nmu2+deb12u2)
# has no scripts/noble, its newest Ubuntu link being kinetic. Every Ubuntu suite's
# script is a link to gutsy, which treats a suite it does not list as the newest
# (merged /usr, zstd packages), so naming it works with any debootstrap; debootstrap
# looks a bare name up in its own scripts directory.
DEBOOTSTRAP_SCRIPT = "gutsy"

# -- package names: the one table ------------------------------------------------
# Debian's base set, with Ubuntu's names: busybox-initramfs is the busybox Ubuntu's
# initramfs-tools and zfs-initramfs take; ubuntu-keyring makes KEYRING certain.
BASE_PACKAGES = (
    "systemd-sysv", "udev", "kmod", "dbus", "iproute2", "systemd-resolved",
    "systemd-timesyncd", "openssh-server", "sudo", "locales", "tzdata",
    "keyboard-configuration", "console-setup", "busybox-initramfs", "ca-certificates", "less",
    "apt-utils", "gdisk", "dosfstools", "efibootmgr", "ubuntu-keyring",
)
KERNEL = "linux-image-generic"
CORE_PACKAGES = (KERNEL, "zfsutils-linux", "zfs-initramfs")
# The same loaders as Debian: systemd-boot's EFI binary alone, and GRUB's BIOS
# modules with grub-install. grub-pc-bin and grub2-common are long-standing Ubuntu
# names; systemd-boot-efi is built from noble's systemd (a package of its own since
# systemd 251), its component not checked from here (universe is listed anyway).
LOADER_PACKAGES: dict[str, tuple[str, ...]] = {
    "uefi": ("systemd-boot-efi",),
    "bios": ("grub-pc-bin", "grub2-common"),
}
SERVER = ("sanoid", "prometheus-node-exporter", "curl", "htop", "tmux")
PROFILE_PACKAGES: dict[Profile, tuple[str, ...]] = {
    Profile.CORE: (),
    Profile.SERVER: SERVER,
    Profile.DESKTOP: (*SERVER, "ubuntu-desktop-minimal"),
}
FEATURE_PACKAGES: dict[str, tuple[str, ...]] = {
    "enable_kvm": ("qemu-system-x86", "libvirt-daemon-system", "libvirt-clients", "ovmf"),
    "enable_ebpf": ("bpfcc-tools", "bpftrace"),
    # No python3-torch: its presence in noble could not be checked from here.
    "enable_ai": ("python3-numpy", "python3-sklearn", "python3-pandas", "jupyter-notebook"),
    # The tool that picks and installs the driver for the card (`ubuntu-drivers
    # install`); the drivers themselves are in restricted and multiverse.
    "nvidia_drivers": ("ubuntu-drivers-common",),
    "wireguard": ("wireguard-tools",),
}


class UbuntuBackend(DebianBackend):
    """Ubuntu 24.04 LTS with the kernel's own ZFS."""

    name = "ubuntu"
    serves = (Distro.UBUNTU,)
    # Not booted here: Ubuntu's archive cannot be reached from this project's machines.
    proven = DistroBackend.proven  # "plan-verified", not Debian's "booted here"
    # Debian's ubuntu-keyring provides KEYRING on the live system: trixie has it,
    # bookworm only in bookworm-backports, which the ISO's live root reads for what
    # its suite lacks (aptsrc.live_sources). A live system of another making may
    # lack it: preflight then refuses, saying how to install it.
    live_packages: ClassVar[tuple[str, ...]] = ("debootstrap", "ubuntu-keyring")
    BASE_PACKAGES = BASE_PACKAGES
    KERNEL = KERNEL
    CORE_PACKAGES = CORE_PACKAGES
    LOADER_PACKAGES = LOADER_PACKAGES
    PROFILE_PACKAGES = PROFILE_PACKAGES
    FEATURE_PACKAGES = FEATURE_PACKAGES
    archive_keyring = KEYRING
    # Always named: Ubuntu's apt would also read trusted.gpg.d, and the keys that
    # count are the ones preflight pinned.
    signed_by_default = str(KEYRING)
    debootstrap_script = DEBOOTSTRAP_SCRIPT
    # The name Ubuntu's own installs use, so an upgrade's tools find it.
    sources_file = "/etc/apt/sources.list.d/ubuntu.sources"
    mirror_answer = "KLDLOAD_CUSTOM_MIRROR_URL"
    ARCHIVE_KEYS: ClassVar[dict[str, str]] = ARCHIVE_KEYS

    @classmethod
    def medium_defaults(cls, darksite: Path) -> dict[str, Any]:
        # Nothing to preselect: the suite is fixed (Debian's would set debian_suite).
        return {}

    def suite(self) -> str:
        return SUITE

    def zfs_compatibility(self) -> str:
        # noble ships OpenZFS 2.2.
        return "openzfs-2.2-linux"

    def components(self) -> list[str]:
        """universe holds sanoid and the other optional packages; NVIDIA's driver
        needs restricted and multiverse."""
        extra = ["restricted", "multiverse"] if self.answers.nvidia_drivers else []
        return ["main", "universe", *extra]

    def network_mirror(self, ctx: InstallContext) -> str | None:
        return self.answers.custom_mirror_url or ARCHIVE_URL

    def apt_stanzas(self, uri: str, *, darksite: bool = False) -> list[tuple[str, list[str]]]:
        if darksite:
            return [(uri, [SUITE])]
        pockets = [SUITE, f"{SUITE}-updates"]
        if uri.rstrip("/") == ARCHIVE_URL:
            return [(uri, pockets), (SECURITY_URL, [f"{SUITE}-security"])]
        return [(uri, [*pockets, f"{SUITE}-security"])]

    def offline_hint(self, carried: list[str]) -> str:
        return (f"it serves {', '.join(carried)}, not Ubuntu {SUITE}; install {SUITE} from "
                "the network or KLDLOAD_CUSTOM_MIRROR_URL")

    def check_sources(self, ctx: InstallContext) -> None:
        """The live system's Ubuntu keyring holds exactly the pinned keys (before the
        repositories are read: a wrong keyring would make any answer trusted)."""
        self.check_keyring(ctx)
        super().check_sources(ctx)

    def check_keyring(self, ctx: InstallContext) -> None:
        """Raise `InstallError` naming the keyring and the fix unless it holds
        exactly `ARCHIVE_KEYS`. Reads a file; writes nothing."""
        from kldload_tui.backend.engine.core import InstallError

        path = ctx.options.live_root / KEYRING.relative_to("/")
        problem = keyring_problem(path, self.ARCHIVE_KEYS)
        if problem:
            raise InstallError(
                f"KLDLOAD_DISTRO=ubuntu: Ubuntu's archive keyring cannot be trusted: {problem}; "
                "nothing was written. Install Debian's ubuntu-keyring package on this "
                "live system (trixie: apt-get install ubuntu-keyring; bookworm: apt-get "
                "install -t bookworm-backports ubuntu-keyring), whose "
                f"{KEYRING.name} holds exactly the keys this installer pins")
        ctx.runner.note(f"{KEYRING} holds exactly the pinned Ubuntu archive keys: "
                        + ", ".join(self.ARCHIVE_KEYS))

    def zfs_module_packages(self, ctx: InstallContext) -> list[str]:
        # linux-image-generic's linux-modules-* package ships zfs.ko for that kernel.
        return []

    def held_packages(self, ctx: InstallContext) -> list[str]:
        return list(ubuntu_held_packages(bootloader=self.loader_packages(ctx)))
