"""Fedora Linux 44: what differs from the rest of the dnf family (dnf_family)
is here, and only that.

The release is fixed, as Ubuntu's is (noble), not read from KLDLOAD_RELEASE,
which the seed defines for CentOS/RHEL/Rocky (its default, 9, is no Fedora that
exists any more). Why 44, in December 2026:

- it is supported: a Fedora release is maintained until four weeks after the
  release two later comes out, so 44 (April 2026) lasts until about mid-2027,
  while 43 reaches its end about now, four weeks after 45;
- its signing key is pinned below and confirmed against Debian's copy in
  `distribution-gpg-keys` (1.119 in bookworm-backports and 1.123 in sid both
  carry fedora/RPM-GPG-KEY-fedora-44-primary; tests/integration/test_key_pins.py);
- OpenZFS adds a Fedora release to its repository within weeks of its release
  (zfs-release for 42 and for 43 about two weeks after each came out), signed
  with its key2 for every Fedora from 37 on. The newest copy of OpenZFS's site
  this project could read (February 2026) predates 44 and names 43 last, so
  that 44's repository exists is inferred from that record, not seen; of the two
  supported releases, 44 has had the longest for it, while 45 is the newest.
  Preflight reads each repository's repomd.xml on every real run, so a
  repository that is not there stops the install before anything is written.

Packages come from Fedora's `fedora` (the release as shipped) and `updates`
repositories, ZFS from OpenZFS's Fedora repository, which is DKMS only (built
against kernel-devel on the installed system: Fedora's kernel moves too fast
for a kABI-tracking kmod). Fedora's two are plain baseurls on
dl.fedoraproject.org, Fedora's master mirror, rather than the metalink, so that
KLDLOAD_CUSTOM_MIRROR_URL can replace them: a custom mirror is a copy of
`pub/fedora/linux/`, serving `releases/44/Everything/x86_64/os/` and
`updates/44/Everything/x86_64/`. Fedora does not sign repomd.xml, so its
packages' signatures (gpgcheck=1) are what is checked, as for OpenZFS.

Fedora 41 and later ship dnf5, whose versionlock is built into dnf itself: no
plugin package, another lock file and listing (dnf_holds.dnf5_hold_files). The
live system's dnf (Debian's dnf 4) bootstraps; dnf5 only runs in the target.

The bootstrap keeps the rpm database at /var/lib/rpm, as for EL
(rpm_keys.RPM_DBPATH). Fedora's rpm uses /usr/lib/sysimage/rpm, and its package's
%pre links every database file it finds in a /var/lib/rpm directory into
/usr/lib/sysimage/rpm: that is what makes the bootstrap's database the installed
system's (read in Fedora's rpm.spec; no Fedora rpm has run here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kldload_tui.backend.answers.model import Answers, Distro, Profile
from kldload_tui.backend.distros.dnf_family import DnfBackend
from kldload_tui.backend.distros.dnf_holds import DNF5_PACKAGE, dnf5_hold_files
from kldload_tui.backend.distros.dnf_repos import Repo
from kldload_tui.backend.distros.el import OPENZFS_KEY
from kldload_tui.backend.distros.rpm_keys import KeyPin

if TYPE_CHECKING:
    from kldload_tui.backend.engine.core import InstallContext
    from kldload_tui.backend.target.files import TargetFile

ARCH = "x86_64"
RELEASE = "44"
# Fedora 44's primary key, under the name fedora-gpg-keys installs it with, from
# the fedora-repos package's source (its f44 branch); the same fingerprint as
# Debian's copy.
FEDORA_KEY = KeyPin("RPM-GPG-KEY-fedora-44-primary",
                    "https://src.fedoraproject.org/rpms/fedora-repos/raw/f44/f/"
                    "RPM-GPG-KEY-fedora-44-primary",
                    "36F612DCF27F7D1A48A835E4DBFCF71C6D9F90A6")
FEDORA_URL = "https://dl.fedoraproject.org/pub/fedora/linux"
OPENZFS_FEDORA_URL = "https://download.zfsonlinux.org/fedora"

# -- package names: the one table ---------------------------------------------------
BASE_PACKAGES = (
    # fedora-release: without it dnf picks any provider of system-release (an
    # edition's identity, or none Fedora intends for a server).
    "fedora-release", "systemd", "systemd-udev", "passwd", "shadow-utils", "sudo",
    "openssh-server", "openssh-clients", "NetworkManager", "dracut", "kbd",
    "glibc-langpack-en", "tzdata", "iproute", "less", "gdisk", "dosfstools", "efibootmgr",
    "util-linux", "gawk", "selinux-policy-targeted",
)
# `kernel` is a metapackage; kernel-core (the image) and the modules are
# install-only packages of their own, which an upgrade installs beside the held
# `kernel`, so they are held by name too.
KERNEL_PACKAGES = ("kernel", "kernel-core", "kernel-modules", "kernel-modules-core")
# OpenZFS's Fedora repository has DKMS only; zfs-dkms pulls dkms (in Fedora
# proper), which builds against kernel-devel, not pulled in without weak deps.
ZFS_PACKAGES = ("kernel-devel", "zfs-dkms", "zfs", "zfs-dracut")
LOADER_PACKAGES: dict[str, tuple[str, ...]] = {
    # Fedora ships systemd-boot's EFI binary (kldload-boot's
    # /usr/lib/systemd/boot/efi/systemd-bootx64.efi) in a package of its own,
    # which requires no particular systemd: holding it holds only the boot manager.
    "uefi": ("systemd-boot-unsigned",),
    "bios": ("grub2-pc", "grub2-pc-modules", "grub2-tools"),
}
SERVER = ("sanoid", "golang-github-prometheus-node-exporter", "curl", "htop", "tmux")
PROFILE_PACKAGES: dict[Profile, tuple[str, ...]] = {
    Profile.CORE: (),
    Profile.SERVER: SERVER,
    # ptyxis: Fedora's terminal since 41.
    Profile.DESKTOP: (*SERVER, "gdm", "gnome-shell", "ptyxis", "nautilus"),
}
FEATURE_PACKAGES: dict[str, tuple[str, ...]] = {
    "enable_kvm": ("qemu-kvm", "libvirt", "virt-install", "edk2-ovmf"),
    "enable_ebpf": ("bcc-tools", "bpftrace"),
    "enable_ai": ("python3-numpy", "python3-scipy", "python3-pandas", "python3-scikit-learn"),
    "wireguard": ("wireguard-tools",),
}


class FedoraBackend(DnfBackend):
    """Fedora Linux 44 with OpenZFS (DKMS)."""

    name = "fedora"
    serves = (Distro.FEDORA,)
    BASE_PACKAGES = BASE_PACKAGES
    KERNEL_PACKAGES = KERNEL_PACKAGES
    LOADER_PACKAGES = LOADER_PACKAGES
    PROFILE_PACKAGES = PROFILE_PACKAGES
    FEATURE_PACKAGES = FEATURE_PACKAGES
    VERSIONLOCK_PACKAGES = (DNF5_PACKAGE,)

    def host_tools(self, ctx: InstallContext) -> list[str]:
        from kldload_tui.backend.engine.core import InstallError

        a = self.answers
        default = Answers.model_fields["release"].default
        # Only a release written in the answers is refused, and not the model's
        # default (CentOS/RHEL/Rocky's 9): a file saved from the TUI writes every
        # field, KLDLOAD_RELEASE=9 among them.
        if "release" in a.model_fields_set and a.release not in (default, RELEASE):
            raise InstallError(
                f"KLDLOAD_RELEASE={a.release}: fedora is installed as Fedora {RELEASE} only, "
                f"whose packages are checked against its pinned key {FEDORA_KEY.file} "
                f"({FEDORA_KEY.fingerprint}); remove KLDLOAD_RELEASE from the answers or "
                f"set KLDLOAD_RELEASE={RELEASE}")
        if a.extra_packages:
            # Refused here, in every run: the plan must not leave out what a real run
            # would install (check_packages, the base's, refuses and says why).
            self.check_packages(ctx, a.extra_packages)
        if a.nvidia_drivers:
            raise InstallError("KLDLOAD_NVIDIA_DRIVERS=1: NVIDIA's driver (RPM Fusion) is not "
                               "set up for fedora yet; set KLDLOAD_NVIDIA_DRIVERS=0")
        return super().host_tools(ctx)

    def release(self) -> str:
        return RELEASE

    def zfs_packages(self) -> tuple[str, ...]:
        return ZFS_PACKAGES

    def key_pins(self) -> list[KeyPin]:
        return [FEDORA_KEY, OPENZFS_KEY]

    def network_repos(self) -> list[Repo]:
        r = RELEASE
        base = (self.answers.custom_mirror_url or FEDORA_URL).rstrip("/")
        key = (FEDORA_KEY,)
        # The vendor's file names: fedora-repos' own copies (%config(noreplace),
        # with metalinks) then land beside them as .rpmnew instead of doubling
        # each repository.
        return [
            Repo("fedora", f"Fedora {r} - {ARCH}",
                 f"{base}/releases/{r}/Everything/{ARCH}/os/", key, file="fedora.repo"),
            Repo("updates", f"Fedora {r} - {ARCH} - Updates",
                 f"{base}/updates/{r}/Everything/{ARCH}/", key, file="fedora-updates.repo"),
            Repo("zfs", f"OpenZFS for Fedora {r}", f"{OPENZFS_FEDORA_URL}/{r}/{ARCH}/",
                 (OPENZFS_KEY,), file="zfs.repo"),
        ]

    def hold_files(self) -> list[TargetFile]:
        return dnf5_hold_files()
