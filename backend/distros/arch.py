"""Arch Linux: pacman into the root (pacstrap's way, from the Debian live system
with Debian's pacman), ZFS from archzfs, mkinitcpio, systemd-networkd.

The bootstrap: the target's own pacman keyring is made and given Arch's master
keys and archzfs's key, each checked against fingerprints pinned here, before
anything else (pacman_keys); pacman then runs from the live system with a
pacman.conf of the install's own (pacman_conf, removed afterwards) in three
transactions, like the dnf family: the base system; the kernel with ZFS and the
bootloader (a failure there is told apart from an optional package's); the
optional packages. Every package's signature is checked (`SigLevel = Required`).

The kernel is linux-lts with zfs-dkms, which builds zfs.ko against the
installed kernel's headers. archzfs's prebuilt zfs-linux-lts depends on one exact
kernel version and lags Arch's kernel updates, so a fresh install or an upgrade
fails whenever core has moved on; DKMS always builds for the kernel that is
there. The LTS kernel because OpenZFS supports kernels up to a stated version
and Arch's mainline kernel often runs past it.

The initramfs is mkinitcpio's, with the busybox-based zfs hook, one image per
kernel version (/boot/initramfs-<kver>.img), which is how kldload-boot finds the
kernels. mkinitcpio's own pacman hook (images named by package, not version) is
masked, and a hook of kldload's rebuilds every kernel's image instead; another
runs kldload-boot's refresh after it.

A darksite is a pacman repository: a directory holding `kldload.db` (made with
`repo-add`), the packages with their signatures (by Arch's packagers or
archzfs, checked against the same pinned keys) and `keys/archzfs.asc`. When
present it is the one repository of the install.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from kldload_tui.backend.answers.model import (
    Answers,
    Distro,
    InitramfsModules,
    Profile,
)
from kldload_tui.backend.distros import DistroBackend
from kldload_tui.backend.distros.initramfs_check import lacking
from kldload_tui.backend.distros.kernels import check_kernel_and_zfs, newest_module_kernel
from kldload_tui.backend.distros.pacman_conf import (
    BOOTSTRAP_CONF,
    BOOTSTRAP_DIR,
    CACHE_DIR,
    DB_PATH,
    GPG_DIR,
    HOLDS_CONF,
    HOOK_DIR,
    PACMAN_CONF,
    SIGNED,
    Repo,
    bootstrap_paths,
    pacman_argv,
    pacman_conf,
    read_pacman_conf,
    weak_siglevels,
)
from kldload_tui.backend.distros.pacman_holds import EMPTY_HOLDS, pacman_hold_files
from kldload_tui.backend.distros.pacman_keys import (
    KEYRING_DIR,
    install_pacman_keys,
    keyring_problem,
)
from kldload_tui.backend.distros.rpm_keys import KeyPin
from kldload_tui.backend.distros.system_config import (
    configure_access,
    generate_locale,
    use_resolved_stub,
    verify_system,
    write_system_files,
)
from kldload_tui.backend.distros.target_chroot import mount_api_filesystems
from kldload_tui.backend.target.files import (
    LIB_DIR,
    TargetFile,
    identity_files,
    locale_files,
    network_file,
    sudoers_file,
)

if TYPE_CHECKING:
    from kldload_tui.backend.engine.core import InstallContext

# Arch's geo-routed mirror; KLDLOAD_CUSTOM_MIRROR_URL replaces its base (a
# mirror laid out as Arch's: <base>/<repo>/os/<arch>/<repo>.db).
MIRROR = "https://geo.mirror.pkgbuild.com"
MIRROR_LAYOUT = "$repo/os/$arch"
# archzfs moved from archzfs.com (stale since early 2026) to GitHub releases; its
# README names this server and `SigLevel = Required`. Not reachable from here.
ARCHZFS_SERVER = "https://github.com/archzfs/archzfs/releases/download/experimental"

# Arch's master keys, exactly those Debian's archlinux-keyring (0~20231113-1~deb12u1,
# bookworm) lists in /usr/share/keyrings/archlinux-trusted, which Debian's signed
# archive delivers (tests/integration/test_pacman_bootstrap.py compares them).
MASTER_KEYS: dict[str, str] = {
    "2AC0A42EFB0B5CBC7A0402ED4DC95B6D7BE9892E": "David Runge (Arch Linux Master Key)",
    "3572FA2A1B067F22C58AF155F8B821B42A6FDCD7": "Leonidas Spyropoulos (Arch Linux Master Key)",
    "69E6471E3AE065297529832E6BA0F5A2037F4F41": "Johannes Löthberg (Arch Linux Master Key)",
    "75BD80E4D834509F6E740257B1B73B02CC52A02A": "Jonas Witschel (Arch Linux Master Key)",
    "91FFE0700E80619CEB73235CA88E23E377514E00": "Florian Pritz (Arch Linux Master Key)",
    "D8AFDDA07A5B6EDFA7D8CCDAD6D055F927843F1C": "Levente Polyak (Arch Linux Master Key)",
}
# archzfs's signing key for the GitHub repository ("ArchZFS Project"), as its README
# and its archzfs-keyring repository (keyring/packager/archzfs/) give it; the key
# packet there hashes to this fingerprint. NOT confirmed from a second, signed
# source: neither is reachable from this machine, and no Debian package carries it.
# The archzfs.com repository's key, DDF7DB817396A49B2A2723F7403BD972F75D9D76, is
# not pinned: that repository is no longer updated. Fetched from the keyserver
# archzfs's README sends `pacman-key --recv-keys` to (Arch's pacman-key default).
ARCHZFS_KEY = KeyPin("archzfs.asc",
                     "https://keyserver.ubuntu.com/pks/lookup?op=get&options=mr&search="
                     "0x3A9917BF0DED5C13F69AC68FABEC0A1208037BE9",
                     "3A9917BF0DED5C13F69AC68FABEC0A1208037BE9")

DARKSITE_REPO = "kldload"
DARKSITE_MARKER = f"{DARKSITE_REPO}.db"
DARKSITE_KEYS = "keys"
KEPT_DARKSITE = "/var/lib/kldload/darksite"

# -- package names: the one table ---------------------------------------------------
# base: systemd, pacman, glibc (locale-gen), shadow (useradd, chpasswd), util-linux.
# mkinitcpio named, so pacman does not pick another provider of linux-lts's
# `initramfs` dependency; archlinux-keyring keeps the target's keyring current.
# kldload-boot needs efibootmgr, mkfs.vfat (dosfstools), sgdisk (gptfdisk) and cmp
# (diffutils, which base lacks).
BASE_PACKAGES = ("base", "archlinux-keyring", "mkinitcpio", "sudo", "openssh", "efibootmgr",
                 "dosfstools", "gptfdisk", "diffutils", "less")
KERNEL_PACKAGES = ("linux-lts", "linux-lts-headers")
ZFS_PACKAGES = ("zfs-dkms", "zfs-utils")
LOADER_PACKAGES: dict[str, tuple[str, ...]] = {
    # systemd-boot's EFI binary comes with systemd (base): holding it would hold
    # systemd itself, so nothing is held for UEFI.
    "uefi": (),
    "bios": ("grub",),
}
# sanoid is only in the AUR, which this installer does not build: kldload's own
# snapshot timers still run; the policy file is there for a sanoid added later.
SERVER = ("prometheus-node-exporter", "curl", "htop", "tmux")
PROFILE_PACKAGES: dict[Profile, tuple[str, ...]] = {
    Profile.CORE: (),
    Profile.SERVER: SERVER,
    Profile.DESKTOP: (*SERVER, "gdm", "gnome-shell", "gnome-terminal", "nautilus"),
}
FEATURE_PACKAGES: dict[str, tuple[str, ...]] = {
    "enable_kvm": ("qemu-base", "libvirt", "virt-install", "edk2-ovmf", "dnsmasq"),
    "enable_ebpf": ("bcc-tools", "bpftrace"),
    "enable_ai": ("python-numpy", "python-scipy", "python-pandas", "python-scikit-learn"),
    "wireguard": ("wireguard-tools",),
}
SEAL_PACKAGES = ("cloud-init",)
ADMIN_GROUP = "wheel"

# -- mkinitcpio and the pacman hooks ------------------------------------------------
MKINITCPIO_CONF = "/etc/mkinitcpio.conf"
# Builds /boot/initramfs-<kver>.img for every installed kernel: the pacman hook's,
# sealing's and kldload-firstboot's one command.
INITRAMFS_SCRIPT = f"/{LIB_DIR}/mkinitcpio-kernels"
MKINITCPIO_HOOK = f"{HOOK_DIR}/90-mkinitcpio-install.hook"
INITRAMFS_HOOK = f"{HOOK_DIR}/90-kldload-initramfs.hook"
BOOT_HOOK = f"{HOOK_DIR}/zz-kldload-boot.hook"
# kldload-boot's refresh (the boot layer writes it there); the .hook runs it.
BOOT_REFRESH = f"{LIB_DIR}/pacman-boot-refresh"
# What changes an initramfs: a kernel, mkinitcpio's hooks (zfs-utils' among them),
# firmware, a DKMS module's source (its hook builds the module first: 71- < 90-).
INITRAMFS_TARGETS = ("usr/lib/modules/*/vmlinuz", "usr/lib/initcpio/*", "usr/lib/firmware/*",
                     "usr/src/*/dkms.conf")
LOADER_TARGETS = ("usr/lib/systemd/boot/efi/*", "usr/lib/grub/*")
# The initramfs imports the pool when it holds these (verify_initramfs).
INITRAMFS_NEEDS = ("zfs.ko", "zpool", "etc/hostid", "hooks/zfs")


def _pacman_hook(description: str, exec_path: str, targets: tuple[str, ...]) -> str:
    return "\n".join([
        "# Written by kldload-tui; see alpm-hooks(5).", "[Trigger]", "Type = Path",
        "Operation = Install", "Operation = Upgrade", "Operation = Remove",
        *(f"Target = {t}" for t in targets), "", "[Action]",
        f"Description = {description}", "When = PostTransaction", f"Exec = {exec_path}",
    ]) + "\n"


INITRAMFS_SCRIPT_TEXT = f"""#!/bin/sh
# Written by kldload-tui: one initramfs per installed kernel, named by its version
# (/boot/initramfs-<kver>.img, where kldload-boot finds it), built by mkinitcpio
# from {MKINITCPIO_CONF} (the zfs hook). Run by pacman after kernel, module or
# mkinitcpio changes, and by sealing and kldload-firstboot.
set -u
status=0
for kernel in /usr/lib/modules/*/vmlinuz; do
    [ -f "$kernel" ] || continue
    kver=${{kernel#/usr/lib/modules/}}
    kver=${{kver%/vmlinuz}}
    mkinitcpio -k "$kver" -g "/boot/initramfs-$kver.img" || status=1
done
# An image whose kernel is gone is never booted again.
for image in /boot/initramfs-*.img; do
    [ -f "$image" ] || continue
    kver=${{image#/boot/initramfs-}}
    kver=${{kver%.img}}
    [ -f "/usr/lib/modules/$kver/vmlinuz" ] || rm -f "$image"
done
exit "$status"
"""


class ArchBackend(DistroBackend):
    """Arch Linux with ZFS from archzfs."""

    name = "arch"
    serves = (Distro.ARCH,)
    cloud_init_renderers = ("networkd",)
    initramfs_rebuild = (INITRAMFS_SCRIPT,)
    darksite_marker = DARKSITE_MARKER
    kernel_hooks = (BOOT_REFRESH,)
    grub_dir = "grub"
    # pacman, pacman-key and pacman-conf; makepkg, only recommended by it, holds the
    # shell library pacman-key sources (/usr/share/makepkg); Arch's keys for
    # --populate; gpg to read keys; gpg-agent, which gpg needs for every secret-key
    # operation (pacman-key --init makes the keyring's own key, --lsign-key signs
    # with it) and which Debian's gpg only recommends; gpgconf stops the agent
    # pacman-key starts; curl to fetch archzfs's key.
    live_packages = ("pacman-package-manager", "makepkg", "archlinux-keyring", "gpg",
                     "gpg-agent", "gpgconf", "curl")

    BASE_PACKAGES: ClassVar[tuple[str, ...]] = BASE_PACKAGES
    KERNEL_PACKAGES: ClassVar[tuple[str, ...]] = KERNEL_PACKAGES
    ZFS_PACKAGES: ClassVar[tuple[str, ...]] = ZFS_PACKAGES
    LOADER_PACKAGES: ClassVar[dict[str, tuple[str, ...]]] = LOADER_PACKAGES
    PROFILE_PACKAGES: ClassVar[dict[Profile, tuple[str, ...]]] = PROFILE_PACKAGES
    FEATURE_PACKAGES: ClassVar[dict[str, tuple[str, ...]]] = FEATURE_PACKAGES
    SEAL_PACKAGES: ClassVar[tuple[str, ...]] = SEAL_PACKAGES

    def __init__(self, answers: Answers) -> None:
        super().__init__(answers)
        self.core: list[str] = []

    # -- preflight --------------------------------------------------------------------
    def host_tools(self, ctx: InstallContext) -> list[str]:
        from kldload_tui.backend.engine.core import InstallError

        a = self.answers
        if a.extra_packages:
            # Refused in every run: a plan must not leave out what a real run installs.
            self.check_packages(ctx, a.extra_packages)
        if a.nvidia_drivers:
            raise InstallError("KLDLOAD_NVIDIA_DRIVERS=1: NVIDIA's driver packages are not "
                               "set up for arch yet; set KLDLOAD_NVIDIA_DRIVERS=0")
        return ["pacman", "pacman-key", "pacman-conf", "gpg", "gpg-agent", "gpgconf", "curl",
                "chroot"]

    def zfs_compatibility(self) -> str:
        # archzfs follows the newest OpenZFS (2.3 and later), which imports 2.2 pools.
        # No newer profile: the live system's zpool makes the pool and must know it
        # too; 2.2 is what the Red Hat family's backends ask of it as well.
        return "openzfs-2.2-linux"

    def check_sources(self, ctx: InstallContext) -> None:
        """The live system's Arch keyring holds the pinned master keys (a wrong one
        would make any packager trusted), then each repository's database answers."""
        from kldload_tui.backend.engine.core import InstallError

        problem = keyring_problem(ctx.options.live_root, MASTER_KEYS)
        if problem:
            raise InstallError(
                f"KLDLOAD_DISTRO=arch: Arch's keyring cannot be trusted: {problem}; nothing "
                f"was written. Install Debian's archlinux-keyring package (its "
                f"{KEYRING_DIR}/archlinux-trusted lists exactly the master keys this "
                "installer pins)")
        ctx.runner.note(f"{KEYRING_DIR}/archlinux-trusted lists exactly the pinned Arch "
                        "master keys")
        super().check_sources(ctx)

    # -- repositories -------------------------------------------------------------------
    def darksite(self, ctx: InstallContext) -> str | None:
        """The darksite's directory when it is a pacman repository."""
        site = ctx.options.darksite
        if site is not None and (site / DARKSITE_MARKER).is_file():
            return str(site)
        return None

    def network_repos(self) -> list[Repo]:
        base = (self.answers.custom_mirror_url or MIRROR).rstrip("/")
        server = f"{base}/{MIRROR_LAYOUT}"
        return [Repo("core", (server,)), Repo("extra", (server,)),
                # archzfs signs its database too: held to it.
                Repo("archzfs", (ARCHZFS_SERVER,), siglevel=SIGNED)]

    def repos(self, ctx: InstallContext) -> list[Repo]:
        """The darksite as the one repository when there is one, else the network's."""
        site = self.darksite(ctx)
        if site is not None:
            return [Repo(DARKSITE_REPO, (f"file://{site}",))]
        return self.network_repos()

    def source_urls(self, ctx: InstallContext) -> list[str]:
        return [url for r in self.repos(ctx) for url in r.probe_urls()]

    def key_sources(self, ctx: InstallContext) -> dict[str, str]:
        site = self.darksite(ctx)
        return {k.file: f"file://{site}/{DARKSITE_KEYS}/{k.file}" if site else k.url
                for k in self.key_pins()}

    def key_pins(self) -> list[KeyPin]:
        """Keys other than Arch's own (those come from the live keyring)."""
        return [ARCHZFS_KEY]

    # -- packages -----------------------------------------------------------------------
    def core_packages(self, ctx: InstallContext) -> list[str]:
        return list(dict.fromkeys([*self.KERNEL_PACKAGES, *self.ZFS_PACKAGES,
                                   *self.loader_packages(ctx)]))

    # -- bootstrap ----------------------------------------------------------------------
    def bootstrap(self, ctx: InstallContext) -> None:
        for where in (DB_PATH, CACHE_DIR, HOOK_DIR, BOOTSTRAP_DIR, "/var/log", "/dev", "/proc",
                      "/sys", "/run"):
            ctx.run(["mkdir", "-p", str(ctx.path(where))])
        ctx.runner.write_file(ctx.path(BOOTSTRAP_CONF),
                              pacman_conf(self.repos(ctx), paths=bootstrap_paths(ctx),
                                          include_holds=False))
        # Keys first: no package reaches the target unchecked.
        install_pacman_keys(ctx, MASTER_KEYS, self.key_pins(), self.key_sources(ctx))
        # mkinitcpio's own hook names images by package; kldload's (written with the
        # initramfs) names them by kernel version. Masked for good, and so the
        # bootstrap builds no initramfs: the zfs phase builds the one, configured.
        ctx.run(["ln", "-sfn", "/dev/null", str(ctx.path(MKINITCPIO_HOOK))])
        mount_api_filesystems(ctx)
        ctx.run(pacman_argv(ctx, "-Sy", *self.BASE_PACKAGES), timeout=7200)
        self.core = self.core_packages(ctx)
        ctx.run(pacman_argv(ctx, "-S", *self.core), timeout=7200)
        ctx.kernel_version = newest_module_kernel(ctx)
        optional = self.optional_packages()
        if optional:
            ctx.run(pacman_argv(ctx, "-S", *optional), timeout=7200)
        # gpg-agent and dirmngr, started for the keyring, would keep the target busy.
        ctx.run(["gpgconf", "--homedir", str(ctx.path(GPG_DIR)), "--kill", "all"],
                check=False)
        ctx.run(["rm", "-rf", str(ctx.path(BOOTSTRAP_DIR))])

    def installed(self, ctx: InstallContext, names: list[str]) -> set[str]:
        """Which of `names` the target's pacman database has installed."""
        out = ctx.run(["pacman", "--root", str(ctx.target), "--dbpath", str(ctx.path(DB_PATH)),
                       "-Q", *names], check=False)
        return {line.split()[0] for line in out.splitlines() if line.strip()}

    def verify_bootstrap(self, ctx: InstallContext) -> None:
        from kldload_tui.backend.engine.core import VerifyError

        check_kernel_and_zfs(ctx, self.boot_files(ctx)[0])
        names = list(dict.fromkeys([*self.BASE_PACKAGES, *(self.core or self.core_packages(ctx)),
                                    *self.optional_packages()]))
        installed = self.installed(ctx, names)
        missing = [n for n in names if n not in installed]
        if missing:
            raise VerifyError(f"packages not installed: {' '.join(missing)}")
        if ctx.path(BOOTSTRAP_DIR).exists():
            raise VerifyError(f"{ctx.path(BOOTSTRAP_DIR)} was not removed")

    # -- configure ----------------------------------------------------------------------
    def system_files(self, ctx: InstallContext) -> list[TargetFile]:
        """Identity, locale, console keyboard, sudo rule and systemd-networkd."""
        a = self.answers
        return [*identity_files(a, ipv6="::1\tlocalhost\n"), *locale_files(a),
                sudoers_file(a),
                # Debian's networkd writer: the same format, the same (validated) values.
                network_file(a)]

    def final_repos(self, ctx: InstallContext) -> list[Repo]:
        """The installed system's repositories: the kept darksite first, then the network's."""
        kept = [Repo(DARKSITE_REPO, (f"file://{KEPT_DARKSITE}",))] \
            if self.darksite(ctx) is not None and self.answers.keep_darksite else []
        return [*kept, *self.network_repos()]

    def configure(self, ctx: InstallContext) -> None:
        a = self.answers
        write_system_files(ctx, self.system_files(ctx))
        use_resolved_stub(ctx)
        generate_locale(ctx)
        # Enabled here: the answered SSH keys are how the admin reaches the machine.
        ctx.chroot(["systemctl", "enable", "sshd.service"])
        configure_access(ctx, admin_group=ADMIN_GROUP)
        site = self.darksite(ctx)
        if site is not None and a.keep_darksite:
            ctx.run(["mkdir", "-p", str(ctx.path(KEPT_DARKSITE))])
            ctx.run(["cp", "-a", f"{site}/.", str(ctx.path(KEPT_DARKSITE))])
        # Before pacman.conf names it: pacman refuses an Include it cannot read.
        ctx.runner.write_file(ctx.path(HOLDS_CONF), EMPTY_HOLDS)
        ctx.runner.write_file(ctx.path(PACMAN_CONF), pacman_conf(self.final_repos(ctx)))

    def verify_configure(self, ctx: InstallContext) -> None:
        from kldload_tui.backend.engine.core import VerifyError

        verify_system(ctx, admin_group=ADMIN_GROUP)
        wanted = network_file(self.answers)
        path = ctx.path(wanted.path)
        if not path.is_file() or path.read_text() != wanted.content:
            raise VerifyError(f"{path} is not the network file kldload-tui wrote")
        conf = ctx.path(PACMAN_CONF).read_text()
        weak = weak_siglevels(conf)
        if weak:
            raise VerifyError(f"{PACMAN_CONF} does not check every signature: {weak}")
        sections = read_pacman_conf(conf)
        wanted_repos = [r.name for r in self.final_repos(ctx)]
        if [s for s in sections if s != "options"] != wanted_repos:
            raise VerifyError(f"{PACMAN_CONF} has repositories {list(sections)}, not "
                              f"{wanted_repos}")
        if sections["options"].get("Include") != HOLDS_CONF:
            raise VerifyError(f"{PACMAN_CONF} does not include {HOLDS_CONF}: no package holds")

    # -- initramfs ----------------------------------------------------------------------
    def mkinitcpio_conf(self) -> str:
        autodetect = ["autodetect"] if self.answers.initramfs_modules is InitramfsModules.DEP \
            else []
        hooks = ["base", "udev", *autodetect, "modconf", "block", "keyboard", "keymap", "zfs",
                 "filesystems"]
        return ("# Written by kldload-tui; see mkinitcpio.conf(5).\n"
                "# zfs (busybox-based, so no systemd hook) imports the pool before "
                "filesystems mounts it.\n"
                "# KLDLOAD_INITRAMFS_MODULES=dep adds autodetect: this machine's drivers only.\n"
                "MODULES=()\nBINARIES=()\nFILES=()\n"
                f"HOOKS=({' '.join(hooks)})\nCOMPRESSION=\"zstd\"\n")

    def initramfs_files_to_write(self) -> list[TargetFile]:
        return [
            TargetFile(MKINITCPIO_CONF.lstrip("/"), self.mkinitcpio_conf()),
            TargetFile(INITRAMFS_SCRIPT.lstrip("/"), INITRAMFS_SCRIPT_TEXT, 0o755),
            TargetFile(INITRAMFS_HOOK.lstrip("/"), _pacman_hook(
                "kldload: building each kernel's initramfs...", INITRAMFS_SCRIPT,
                INITRAMFS_TARGETS)),
            TargetFile(BOOT_HOOK.lstrip("/"), _pacman_hook(
                "kldload: copying kernels and loaders to every ESP...", f"/{BOOT_REFRESH}",
                (*INITRAMFS_TARGETS, *LOADER_TARGETS))),
        ]

    def initramfs(self, ctx: InstallContext) -> None:
        ctx.write_files(self.initramfs_files_to_write())
        kver = ctx.kernel_version or "KERNEL-VERSION"
        ctx.chroot(["mkinitcpio", "-k", kver, "-g", self.boot_files(ctx)[1]], timeout=3600)

    def initramfs_files(self, ctx: InstallContext) -> list[str]:
        return [line.strip() for line in
                ctx.chroot(["lsinitcpio", self.boot_files(ctx)[1]]).splitlines() if line.strip()]

    def verify_initramfs(self, ctx: InstallContext) -> None:
        from kldload_tui.backend.engine.core import VerifyError

        image = self.boot_files(ctx)[1]
        names = self.initramfs_files(ctx)
        absent = lacking(names, INITRAMFS_NEEDS)
        if absent:
            raise VerifyError(f"{image} lacks {', '.join(absent)}: the pool would not import "
                              "at boot")
        mask = ctx.path(MKINITCPIO_HOOK)
        if not mask.is_symlink() or str(mask.readlink()) != "/dev/null":
            raise VerifyError(f"{mask} does not mask mkinitcpio's hook: kernel updates would "
                              "build images kldload-boot does not find")

    def boot_files(self, ctx: InstallContext) -> tuple[str, str]:
        kver = ctx.kernel_version or "KERNEL-VERSION"
        # The kernel package's own copy: mkinitcpio's /boot copy is named by package.
        return f"/usr/lib/modules/{kver}/vmlinuz", f"/boot/initramfs-{kver}.img"

    def held_packages(self, ctx: InstallContext) -> list[str]:
        return self.core_packages(ctx)

    def hold_files(self) -> list[TargetFile]:
        return pacman_hold_files()
