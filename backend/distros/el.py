"""Rocky Linux and CentOS Stream (KLDLOAD_RELEASE 9 or 10): what differs from
the rest of the dnf family (dnf_family) is here, and only that.

Packages come from the distribution's BaseOS, AppStream and CRB, ZFS from the
OpenZFS repository (zfsonlinux.org), and EPEL only when a profile or feature
asks for one of its packages. Rocky takes OpenZFS's kABI-tracking kmod, built
for the point release Rocky follows; CentOS Stream's kernel runs ahead of any
point release, so it takes DKMS (built against the installed kernel's headers).
KLDLOAD_CUSTOM_MIRROR_URL replaces the distribution's URL up to the release: a
mirror holding `BaseOS/`, `AppStream/` and `CRB/`, each `x86_64/os/`.

RHEL is not served yet: its repositories need a subscription (entitlement
certificates) that this installer cannot obtain from the live system, and
`subscription-manager` takes an activation key only in argv, where the runner
never puts a secret. It stays refused in preflight.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from kldload_tui.backend.answers.model import Answers, Distro, Profile
from kldload_tui.backend.distros.dnf_family import DnfBackend
from kldload_tui.backend.distros.dnf_repos import Repo
from kldload_tui.backend.distros.rpm_keys import KeyPin

if TYPE_CHECKING:
    from kldload_tui.backend.engine.core import InstallContext

ARCH = "x86_64"
RELEASES = ("9", "10")

# Signing keys, pinned by fingerprint (each publisher's key page and the key
# files' own fingerprints agree). All but OpenZFS's are also confirmed against
# the copies Debian's signed archive ships in distribution-gpg-keys
# (tests/integration/test_key_pins.py); OpenZFS's key is not in that package.
ROCKY_KEYS = {
    "9": KeyPin("RPM-GPG-KEY-Rocky-9", "https://dl.rockylinux.org/pub/rocky/RPM-GPG-KEY-Rocky-9",
                "21CB256AE16FC54C6E652949702D426D350D275D"),
    "10": KeyPin("RPM-GPG-KEY-Rocky-10",
                 "https://dl.rockylinux.org/pub/rocky/RPM-GPG-KEY-Rocky-10",
                 "FC226859C0860BF0DDB95B085B106C736FEDFC85"),
}
# CentOS Stream 9 and 10 are signed with the same key.
CENTOS_KEY = KeyPin("RPM-GPG-KEY-centosofficial-SHA256",
                    "https://www.centos.org/keys/RPM-GPG-KEY-CentOS-Official-SHA256",
                    "99DB70FAE1D7CE227FB6488205B555B38483C65D")
EPEL_KEYS = {
    "9": KeyPin("RPM-GPG-KEY-EPEL-9", "https://dl.fedoraproject.org/pub/epel/RPM-GPG-KEY-EPEL-9",
                "FF8AD1344597106ECE813B918A3872BF3228467C"),
    "10": KeyPin("RPM-GPG-KEY-EPEL-10",
                 "https://dl.fedoraproject.org/pub/epel/RPM-GPG-KEY-EPEL-10",
                 "7D8D15CBFC4E62688591FB2633D98517E37ED158"),
}
# OpenZFS's key2, which signs its EL 9+ packages.
OPENZFS_KEY = KeyPin("RPM-GPG-KEY-openzfs-2022",
                     "https://raw.githubusercontent.com/zfsonlinux/zfsonlinux.github.com/"
                     "master/zfs-release/RPM-GPG-KEY-openzfs-key2",
                     "7DC7299DCF7C7FD9CD87701BA599FD5E9DB84141")
OPENZFS_URL = "https://download.zfsonlinux.org/epel"
EPEL_URL = "https://dl.fedoraproject.org/pub/epel"

# -- package names: the one table ---------------------------------------------------
BASE_PACKAGES = (
    "systemd", "systemd-udev", "dnf", "passwd", "shadow-utils", "sudo", "openssh-server",
    "openssh-clients", "NetworkManager", "dracut", "kbd", "glibc-langpack-en", "tzdata",
    "iproute", "less", "gdisk", "dosfstools", "efibootmgr", "util-linux",
    "selinux-policy-targeted",
)
KERNEL_PACKAGES = ("kernel",)
LOADER_PACKAGES: dict[str, tuple[str, ...]] = {
    # EL 9.2 and later ship systemd-boot's EFI binary in systemd-udev, a base
    # package: holding it would hold systemd itself, so nothing is held for UEFI.
    "uefi": (),
    "bios": ("grub2-pc", "grub2-pc-modules", "grub2-tools"),
}
SERVER = ("sanoid", "golang-github-prometheus-node-exporter", "curl", "htop", "tmux")
PROFILE_PACKAGES: dict[Profile, tuple[str, ...]] = {
    Profile.CORE: (),
    Profile.SERVER: SERVER,
    Profile.DESKTOP: (*SERVER, "gdm", "gnome-shell", "gnome-terminal", "nautilus"),
}
FEATURE_PACKAGES: dict[str, tuple[str, ...]] = {
    "enable_kvm": ("qemu-kvm", "libvirt", "virt-install", "edk2-ovmf"),
    "enable_ebpf": ("bcc-tools", "bpftrace"),
    "enable_ai": ("python3-numpy", "python3-scipy", "python3-pandas", "python3-scikit-learn"),
    "wireguard": ("wireguard-tools",),
}
# Of the names above, those only EPEL has: EPEL is added when one is asked for.
FROM_EPEL = frozenset({"sanoid", "golang-github-prometheus-node-exporter", "htop", "dkms",
                       "python3-scikit-learn"})


class EnterpriseLinuxBackend(DnfBackend):
    """Rocky Linux and CentOS Stream with OpenZFS."""

    serves: ClassVar[tuple[Distro, ...]] = (Distro.ROCKY, Distro.CENTOS)
    BASE_PACKAGES: ClassVar[tuple[str, ...]] = BASE_PACKAGES
    KERNEL_PACKAGES = KERNEL_PACKAGES
    LOADER_PACKAGES = LOADER_PACKAGES
    PROFILE_PACKAGES = PROFILE_PACKAGES
    FEATURE_PACKAGES = FEATURE_PACKAGES
    # CentOS Stream's kernel is ahead of OpenZFS's kmod builds.
    DKMS: ClassVar[frozenset[Distro]] = frozenset({Distro.CENTOS})

    def __init__(self, answers: Answers) -> None:
        super().__init__(answers)
        self.name = answers.distro.value

    def host_tools(self, ctx: InstallContext) -> list[str]:
        from kldload_tui.backend.engine.core import InstallError

        a = self.answers
        if a.release not in RELEASES:
            raise InstallError(f"KLDLOAD_RELEASE={a.release}: {a.distro.value} is installed "
                               f"as release {' or '.join(RELEASES)}")
        if a.extra_packages:
            # Refused here, in every run: the plan must not leave out what a real run
            # would install (check_packages, the base's, refuses and says why).
            self.check_packages(ctx, a.extra_packages)
        if a.nvidia_drivers:
            raise InstallError(f"KLDLOAD_NVIDIA_DRIVERS=1: NVIDIA's driver repository is not "
                               f"set up for {a.distro.value} yet; set KLDLOAD_NVIDIA_DRIVERS=0")
        return super().host_tools(ctx)

    def release(self) -> str:
        return self.answers.release

    def _dkms(self) -> bool:
        return self.answers.distro in self.DKMS

    def zfs_packages(self) -> tuple[str, ...]:
        if self._dkms():
            return ("kernel-devel", "dkms", "zfs", "zfs-dracut")
        return ("kmod-zfs", "zfs", "zfs-dracut")

    def _needs_epel(self) -> bool:
        return any(p in FROM_EPEL for p in (*self.optional_packages(), *self.zfs_packages()))

    def distro_key(self) -> KeyPin:
        return ROCKY_KEYS[self.release()] if self.answers.distro is Distro.ROCKY else CENTOS_KEY

    def key_pins(self) -> list[KeyPin]:
        keys = [self.distro_key(), OPENZFS_KEY]
        if self._needs_epel():
            keys.append(EPEL_KEYS[self.release()])
        return keys

    def network_repos(self) -> list[Repo]:
        r = self.release()
        a = self.answers
        if a.distro is Distro.ROCKY:
            # The vendor's own file name: rocky-repos' copy, %config(noreplace),
            # then lands beside it as .rpmnew instead of doubling each repository.
            base, file, label = f"https://dl.rockylinux.org/pub/rocky/{r}", "rocky.repo", "Rocky"
            ids = {"BaseOS": "baseos", "AppStream": "appstream", "CRB": "crb"}
        else:
            base, file, label = (f"https://mirror.stream.centos.org/{r}-stream", "centos.repo",
                                 "CentOS Stream")
            ids = {"BaseOS": "baseos", "AppStream": "appstream", "CRB": "crb"}
        if a.custom_mirror_url:
            base = a.custom_mirror_url.rstrip("/")
        key = (self.distro_key(),)
        repos = [Repo(repo_id, f"{label} {r} - {part}", f"{base}/{part}/{ARCH}/os/", key,
                      file=file) for part, repo_id in ids.items()]
        flavour = f"{r}/{ARCH}" if self._dkms() else f"{r}/kmod/{ARCH}"
        repos.append(Repo("zfs", f"OpenZFS for EL{r}", f"{OPENZFS_URL}/{flavour}/",
                          (OPENZFS_KEY,), file="zfs.repo"))
        if self._needs_epel():
            repos.append(Repo("epel", f"EPEL {r}", f"{EPEL_URL}/{r}/Everything/{ARCH}/",
                              (EPEL_KEYS[r],), file="epel.repo"))
        return repos
