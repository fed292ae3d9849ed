"""Alpine Linux v3.22: apk --root --initdb, OpenRC, mkinitfs, ifupdown-ng.

The release is fixed here: v3.22 (May 2025, supported to May 2027). Its main
repository has what this module installs, as Alpine's aports show it (nothing of
Alpine's repositories can be read from this machine): linux-lts (6.12) with zfs-lts
built for it, zfs with zfs-openrc, mkinitfs with its zfs feature, kernel-hooks and
systemd-boot. It is also a release of apk-tools 2, whose signed package and index
format apk_signatures reads; releases built with apk-tools 3 use a new format
(ADB), and taking one means extending apk_signatures first.

ZFS: `zfs` (tools, zfs-openrc) and `zfs-lts` (the module built for linux-lts)
are in Alpine's main repository; community is enabled too, for the profiles'
packages (sanoid, prometheus-node-exporter) and the features'.

The bootstrap's apk. Debian (the live system) has no apk, so the bootstrap
takes `apk.static`, the statically linked apk of Alpine's own apk-tools-static
package, fetched from the darksite or Alpine's mirror like any package. Before
it runs, this module checks it the way apk itself would: the repository's
APKINDEX.tar.gz signature with openssl against a pinned key (apk_keys,
apk_signatures), the package's own signature likewise, its control segment
against the signed index's checksum and its data against the control's
datahash; only then is `sbin/apk.static` unpacked with tar. Requiring an `apk`
on the live system instead would refuse every install from the product's own
(Debian) live medium; fetching it makes the network (or a darksite carrying
Alpine's main repository) the only requirement, and preflight names each URL
it could not read.

Signatures are always checked: apk.static runs without --allow-untrusted, with
the target's /etc/apk/keys holding exactly the pinned keys, imported before the
first package. A darksite is an apk repository tree carrying Alpine's own
signed indexes (`main/x86_64/APKINDEX.tar.gz`, `community/...`, and the keys
under `keys/`); it is used first when present, and a darksite re-signed with
any other key is refused by the same checks.

Three transactions: the base system; the kernel, ZFS and the loaders; the
optional packages. mkinitfs's own trigger is disabled (mkinitfs.conf): the one
initramfs is built once the system is configured, at /boot/initramfs-<version>
(Alpine's /boot/vmlinuz-lts and initramfs-lts name no version, and kldload-boot
finds kernels by version). A kernel upgrade later runs kernel-hooks' trigger,
which runs /etc/kernel-hooks.d/50-kldload-kernel (templates/kernel-files: copy
vmlinuz-lts to vmlinuz-<version>, mkinitfs for that version, remove the old
version's files) and then zz-kldload-boot, which copies the result to every ESP.
Loaders: systemd-boot's EFI binary (package systemd-boot, which installs
/usr/lib/systemd/boot/efi/systemd-bootx64.efi where kldload-boot reads it) for
UEFI; GRUB's i386-pc modules (grub-bios) with grub-install (grub) for BIOS.

Services are OpenRC's (openrc_services): init scripts and busybox crond's
periodic jobs in place of kldload's systemd units and timers. Package holds pin
each held package's world entry to its installed version (`name=version` in
/etc/apk/world) and read the world file back.

Refused in preflight: KLDLOAD_NVIDIA_DRIVERS (no driver package for musl) and
sealing an image (KLDLOAD_EXPORT_FORMAT: sealing's steps are systemd's). Not
applied: KLDLOAD_INITRAMFS_MODULES (mkinitfs has no host-only mode; the features
above decide) and KLDLOAD_RELEASE (the release is the one above).
"""

from __future__ import annotations

import gzip
import lzma
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit
from urllib.request import url2pathname

from kldload_tui.backend.answers.model import Answers, Distro, ExportFormat, Profile
from kldload_tui.backend.distros import DistroBackend
from kldload_tui.backend.distros.apk_keys import ApkKey, install_apk_keys
from kldload_tui.backend.distros.apk_signatures import (
    ApkFormatError,
    check_package,
    index_names,
    index_records,
    split_signed,
    verify_signed_file,
)
from kldload_tui.backend.distros.ifupdown import (
    INTERFACES_PATH,
    interfaces,
    network_files,
    read_interfaces,
)
from kldload_tui.backend.distros.initramfs_check import lacking
from kldload_tui.backend.distros.openrc_services import (
    BASE_SERVICES,
    openrc_services,
    rc_update_add,
    service_state,
    unit_states,
)
from kldload_tui.backend.distros.system_config import configure_access, verify_system
from kldload_tui.backend.distros.target_chroot import mount_api_filesystems
from kldload_tui.backend.seed.url import FetchError, fetch_url
from kldload_tui.backend.target.files import (
    LIB_DIR,
    TargetFile,
    identity_files,
    sudoers_file,
    system_links,
    template,
)

if TYPE_CHECKING:
    from kldload_tui.backend.engine.core import InstallContext

RELEASE = "v3.22"
# inittab's line for a login on the serial console the kernel command line names.
SERIAL_GETTY = "ttyS0::respawn:/sbin/getty -L 115200 ttyS0 vt100"
ARCH = "x86_64"
MIRROR = "https://dl-cdn.alpinelinux.org/alpine"
REPOSITORIES = ("main", "community")
# The x86_64 signing keys Alpine's alpine-keys package installs, pinned by the
# SHA-256 of their DER SubjectPublicKeyInfo (apk_keys says why). 6165ee59 signs
# current releases; 4a6a0840 and 5261cecb signed older ones and are still
# installed by alpine-keys. Each pin is confirmed against the copy of the key in
# Debian's alpine-chroot-install, read from Debian's signed archive
# (tests/integration/test_alpine_key_pins.py).
KEYS = (
    ApkKey("alpine-devel@lists.alpinelinux.org-4a6a0840.rsa.pub",
           "4e0c26751a474db486b0a8f37e37ff02e12465e8cea8ef08614ac173cb870f28"),
    ApkKey("alpine-devel@lists.alpinelinux.org-5261cecb.rsa.pub",
           "bb1f0937c138e81a838e0958c4c756547dac85794e38bf1a5536a0808dcf95f2"),
    ApkKey("alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub",
           "8a70fc55f1a6fb2a392ad5a3e71aff82a637b2b33659c046f6b6a909bb5d1ab7"),
)
DARKSITE_MARKER = f"main/{ARCH}/APKINDEX.tar.gz"
DARKSITE_KEYS = "keys"
KEPT_DARKSITE = "/var/lib/kldload/darksite"
REPOSITORIES_PATH = "/etc/apk/repositories"
# The bootstrap's own files (the checked apk.static among them), removed at its end.
BOOTSTRAP_DIR = "/var/lib/kldload/bootstrap"
APK_STATIC_PACKAGE = "apk-tools-static"
APK_STATIC = "sbin/apk.static"
KERNEL_FLAVOR = "lts"
MKINITFS_CONF = "/etc/mkinitfs/mkinitfs.conf"
# A feature of kldload's own: the host ID and the cachefile the pool is imported with
# go into the initramfs by name, whatever mkinitfs's zfs feature lists.
MKINITFS_FEATURE = "/etc/mkinitfs/features.d/kldload.files"
KERNEL_FILES = f"/{LIB_DIR}/kernel-files"
KERNEL_HOOK_DIR = "etc/kernel-hooks.d"
ADMIN_GROUP = "wheel"
# The initramfs holds these when it can import the pool (see verify_initramfs).
INITRAMFS_NEEDS = ("zfs.ko", "zpool", "etc/hostid")
INDEX_DEADLINE = 300.0
INDEX_MAX_BYTES = 64 * 2**20

# -- package names: the one table ---------------------------------------------------
BASE_PACKAGES = (
    "alpine-base", "eudev", "udev-init-scripts", "udev-init-scripts-openrc", "ifupdown-ng",
    "openssh", "sudo", "shadow", "bash", "tzdata", "musl-locales", "kbd-bkeymaps",
    "util-linux", "coreutils", "sgdisk", "dosfstools", "efibootmgr", "ca-certificates",
)
KERNEL_PACKAGES = (f"linux-{KERNEL_FLAVOR}", "zfs", f"zfs-{KERNEL_FLAVOR}", "zfs-openrc",
                   "mkinitfs", "kernel-hooks")
LOADER_PACKAGES: dict[str, tuple[str, ...]] = {
    "uefi": ("systemd-boot",),
    "bios": ("grub", "grub-bios"),
}
SERVER = ("sanoid", "prometheus-node-exporter", "curl", "htop", "tmux")
PROFILE_PACKAGES: dict[Profile, tuple[str, ...]] = {
    Profile.CORE: (),
    Profile.SERVER: SERVER,
    Profile.DESKTOP: (*SERVER, "gnome", "gdm", "elogind", "dbus"),
}
FEATURE_PACKAGES: dict[str, tuple[str, ...]] = {
    "enable_kvm": ("qemu-system-x86_64", "qemu-img", "libvirt-daemon", "ovmf"),
    "enable_ebpf": ("bcc-tools", "bpftrace"),
    "enable_ai": ("py3-numpy", "py3-scipy", "py3-pandas", "py3-scikit-learn"),
    "wireguard": ("wireguard-tools",),
}
# Held: what must move together for the machine to boot.
HELD_PACKAGES = (f"linux-{KERNEL_FLAVOR}", "zfs", f"zfs-{KERNEL_FLAVOR}", "mkinitfs")


class AlpineBackend(DistroBackend):
    """Alpine Linux with ZFS from its own repositories."""

    name = "alpine"
    serves = (Distro.ALPINE,)
    init_system = "openrc"
    initramfs_rebuild = (KERNEL_FILES, "--all")
    darksite_marker = DARKSITE_MARKER
    live_packages = ("curl", "openssl")
    # kernel-hooks runs every executable here in name order: 50-kldload-kernel
    # (kernel_hook_files) first, then kldload-boot's refresh.
    kernel_hooks = (f"{KERNEL_HOOK_DIR}/zz-kldload-boot",)
    LOADER_PACKAGES: ClassVar[dict[str, tuple[str, ...]]] = LOADER_PACKAGES
    PROFILE_PACKAGES: ClassVar[dict[Profile, tuple[str, ...]]] = PROFILE_PACKAGES
    FEATURE_PACKAGES: ClassVar[dict[str, tuple[str, ...]]] = FEATURE_PACKAGES

    def __init__(self, answers: Answers) -> None:
        super().__init__(answers)
        self.core: list[str] = []

    # -- preflight ------------------------------------------------------------------
    def host_tools(self, ctx: InstallContext) -> list[str]:
        from kldload_tui.backend.engine.core import InstallError

        a = self.answers
        if a.nvidia_drivers:
            raise InstallError("KLDLOAD_NVIDIA_DRIVERS=1: Alpine (musl) has no NVIDIA "
                               "driver package; set KLDLOAD_NVIDIA_DRIVERS=0")
        if a.export_format is not ExportFormat.NONE:
            # Sealing's steps are systemd's (an empty /etc/machine-id for systemd to fill,
            # networkd's static file removed); on OpenRC a clone would keep the image's
            # static /etc/network/interfaces, and there is no machine-id to empty.
            raise InstallError(f"KLDLOAD_EXPORT_FORMAT={a.export_format.value}: sealing "
                               "an Alpine (OpenRC) image is not supported yet; set "
                               "KLDLOAD_EXPORT_FORMAT=none")
        return ["curl", "openssl", "tar", "chroot", "mount"]

    def zfs_compatibility(self) -> str:
        # v3.22 ships OpenZFS 2.3, which imports 2.2 pools.
        return "openzfs-2.2-linux"

    def darksite(self, ctx: InstallContext) -> Path | None:
        """The darksite when it is an apk repository tree carrying main."""
        site = ctx.options.darksite
        if site is not None and (site / DARKSITE_MARKER).is_file():
            return site
        return None

    def repositories(self, ctx: InstallContext) -> list[str]:
        """What the install's apk reads: the darksite's repositories (those it
        carries), else the mirror's main and community for the release."""
        site = self.darksite(ctx)
        if site is not None:
            return [str(site / r) for r in REPOSITORIES
                    if (site / r / ARCH / "APKINDEX.tar.gz").is_file()]
        return self.network_repositories()

    def network_repositories(self) -> list[str]:
        base = (self.answers.custom_mirror_url or MIRROR).rstrip("/")
        return [f"{base}/{RELEASE}/{r}" for r in REPOSITORIES]

    def source_urls(self, ctx: InstallContext) -> list[str]:
        return [_url(f"{r}/{ARCH}/APKINDEX.tar.gz") for r in self.repositories(ctx)]

    def key_sources(self, ctx: InstallContext) -> dict[str, str]:
        site = self.darksite(ctx)
        return {k.file: f"file://{site}/{DARKSITE_KEYS}/{k.file}" if site else k.url
                for k in KEYS}

    def check_packages(self, ctx: InstallContext, names: Sequence[str]) -> None:
        """Each name is a package (or something a package provides) of the install's
        repositories, read from their APKINDEX files into memory. As Debian's check,
        this answers "does apk know this name"; apk checks the signatures."""
        from kldload_tui.backend.engine.core import InstallError

        deadline = time.monotonic() + INDEX_DEADLINE
        known: set[str] = set()
        for repo in self.repositories(ctx):
            url = _url(f"{repo}/{ARCH}/APKINDEX.tar.gz")
            try:
                known |= index_names(index_records(split_signed(_read(url, deadline))))
            except ApkFormatError as err:
                raise InstallError(f"KLDLOAD_EXTRA_PACKAGES: {url} is not an apk index "
                                   f"({err})") from None
        unknown = [n for n in names if package_name(n) not in known]
        if unknown:
            raise InstallError("\n".join(
                f"KLDLOAD_EXTRA_PACKAGES: {n}: no such package in "
                f"{' '.join(self.repositories(ctx))}" for n in unknown))

    # -- bootstrap --------------------------------------------------------------------
    def apk_argv(self, ctx: InstallContext, *args: str) -> list[str]:
        """The checked apk.static acting on the target (its keys and repositories)."""
        return [str(ctx.path(f"{BOOTSTRAP_DIR}/{APK_STATIC_PACKAGE}/{APK_STATIC}")),
                "--root", str(ctx.target), "--arch", ARCH, "--no-progress", *args]

    def bootstrap(self, ctx: InstallContext) -> None:
        # Keys first: apk reads nothing unchecked, and apk.static is checked with them.
        install_apk_keys(ctx, list(KEYS), self.key_sources(ctx))
        self.write_repositories(ctx, self.repositories(ctx))
        self.fetch_apk_static(ctx)
        for where in ("/dev", "/proc", "/sys", "/run"):
            ctx.run(["mkdir", "-p", str(ctx.path(where))])
        mount_api_filesystems(ctx)
        ctx.run(self.apk_argv(ctx, "--initdb", "--update-cache", "add", *BASE_PACKAGES),
                timeout=7200)
        # Before the kernel's transaction, so mkinitfs's package keeps it (as
        # mkinitfs.conf.apk-new beside it) and its trigger builds nothing.
        self.mkinitfs_config(ctx)
        self.core = [*KERNEL_PACKAGES, *self.loader_packages(ctx)]
        ctx.run(self.apk_argv(ctx, "add", *self.core), timeout=7200)
        kver = self._kernel_version(ctx)
        ctx.kernel_version = kver
        # kldload-boot finds kernels by version; the package's file names none.
        ctx.run(["install", "-m", "0644", str(ctx.path(f"/boot/vmlinuz-{KERNEL_FLAVOR}")),
                 str(ctx.path(f"/boot/vmlinuz-{kver}"))])
        optional = self.optional_packages()
        if optional:
            ctx.run(self.apk_argv(ctx, "add", *optional), timeout=7200)
        ctx.run(["rm", "-rf", str(ctx.path(BOOTSTRAP_DIR))])

    def write_repositories(self, ctx: InstallContext, repos: Sequence[str]) -> None:
        ctx.runner.write_file(ctx.path(REPOSITORIES_PATH), repositories_file(repos))

    def fetch_apk_static(self, ctx: InstallContext) -> None:
        """apk.static from the first repository (main), checked before it is unpacked:
        the index's signature, the package's signature, its checksum in the index
        and its data's in its control segment (apk_signatures)."""
        from kldload_tui.backend.engine.core import InstallError

        main = self.repositories(ctx)[0]
        work = ctx.path(BOOTSTRAP_DIR)
        keys = {k.file: ctx.path(k.path) for k in KEYS}
        ctx.run(["mkdir", "-p", str(work / APK_STATIC_PACKAGE)])
        index = work / "APKINDEX.tar.gz"
        _curl(ctx, _url(f"{main}/{ARCH}/APKINDEX.tar.gz"), index)
        signer = verify_signed_file(ctx, index, keys)
        version = "APK-TOOLS-STATIC-VERSION"
        record: dict[str, str] = {}
        if not ctx.dry_run:
            ctx.runner.note(f"{index.name}: signed by {signer}, as pinned")
            found = [r for r in index_records(split_signed(index.read_bytes()))
                     if r.get("P") == APK_STATIC_PACKAGE]
            if not found:
                raise InstallError(f"{main} has no {APK_STATIC_PACKAGE}: is it Alpine's main "
                                   f"repository for {RELEASE}?")
            record = found[0]
            version = record.get("V", "")
        package = work / f"{APK_STATIC_PACKAGE}.apk"
        _curl(ctx, _url(f"{main}/{ARCH}/{APK_STATIC_PACKAGE}-{version}.apk"), package)
        verify_signed_file(ctx, package, keys)
        data = work / f"{APK_STATIC_PACKAGE}.data.tar.gz"
        if not ctx.dry_run:
            try:
                ctx.runner.write_file(data, check_package(split_signed(package.read_bytes()),
                                                          record))
            except ApkFormatError as err:
                raise InstallError(f"{package.name}: {err}; apk.static was not run") from None
        ctx.run(["tar", "-xzf", str(data), "-C", str(work / APK_STATIC_PACKAGE), APK_STATIC])

    def mkinitfs_config(self, ctx: InstallContext) -> None:
        ctx.runner.write_file(ctx.path(MKINITFS_FEATURE), "/etc/hostid\n/etc/zfs/zpool.cache\n")
        ctx.runner.write_file(ctx.path(MKINITFS_CONF), mkinitfs_conf())

    def _kernel_version(self, ctx: InstallContext) -> str:
        """The kernel the transaction installed, as linux-lts records it."""
        if ctx.dry_run:
            return "KERNEL-VERSION"
        from kldload_tui.backend.engine.core import InstallError

        release = ctx.path(f"/usr/share/kernel/{KERNEL_FLAVOR}/kernel.release")
        try:
            kver = release.read_text(encoding="utf-8").strip()
        except OSError as err:
            raise InstallError(f"linux-{KERNEL_FLAVOR} was installed but {release} cannot be "
                               f"read ({err.strerror})") from None
        if not kver or any(c.isspace() or c == "/" for c in kver):
            raise InstallError(f"{release} holds no kernel version: {kver!r}")
        return kver

    def verify_bootstrap(self, ctx: InstallContext) -> None:
        from kldload_tui.backend.engine.core import VerifyError

        kver = ctx.kernel_version
        kernel = ctx.path(self.boot_files(ctx)[0])
        if not kver or not kernel.is_file():
            raise VerifyError(f"no kernel {kernel}")
        modules = ctx.path(f"/lib/modules/{kver}")
        if not any(modules.rglob("zfs.ko*")):
            raise VerifyError(f"the ZFS module for {kver} is not in {modules}")
        names = [package_name(n) for n in
                 [*BASE_PACKAGES, *self.core, *self.optional_packages()]]
        # `apk info -e` prints each of the names that is installed.
        installed = set(ctx.chroot(["apk", "info", "-e", *names], check=False).split())
        missing = [n for n in dict.fromkeys(names) if n not in installed]
        if missing:
            raise VerifyError(f"packages not installed: {' '.join(missing)}")

    # -- configure --------------------------------------------------------------------
    def system_files(self) -> list[TargetFile]:
        a = self.answers
        return [
            *identity_files(a, ipv6="::1\tlocalhost ip6-localhost ip6-loopback\n"),
            TargetFile("etc/timezone", f"{a.timezone}\n"),
            # Read by every login shell (musl-locales' /etc/profile.d/locale.sh
            # defaults LANG when nothing set it).
            TargetFile("etc/profile.d/00-kldload-locale.sh",
                       "# Written by kldload-tui (KLDLOAD_LOCALE)\n"
                       f"export LANG={a.locale}\n"),
            TargetFile("etc/conf.d/loadkmap",
                       "# Written by kldload-tui (KLDLOAD_KEYBOARD_LAYOUT, _VARIANT)\n"
                       f"KEYMAP=/etc/keymap/{keymap_name(a)}.bmap.gz\n",
                       units_to_enable=["loadkmap"]),
            sudoers_file(a),
            # busybox init starts no getty for console= as systemd does.
            TargetFile("etc/inittab", template("inittab-openrc")),
            *network_files(a),
        ]

    def configure(self, ctx: InstallContext) -> None:
        files = self.system_files()
        ctx.write_files(files)
        for link in system_links(ctx.answers):
            ctx.run(["ln", "-sfn", link.target, str(ctx.path(link.path))])
        keymap = keymap_name(self.answers)
        layout = self.answers.keyboard_layout
        ctx.run(["install", "-D", "-m", "0644",
                 str(ctx.path(f"/usr/share/bkeymaps/{layout}/{keymap}.bmap.gz")),
                 str(ctx.path(f"/etc/keymap/{keymap}.bmap.gz"))])
        rc_update_add(ctx, [*BASE_SERVICES, *self.configured_services()])
        configure_access(ctx, admin_group=ADMIN_GROUP)
        self._final_repositories(ctx)

    def configured_services(self) -> list[tuple[str, str]]:
        """The services configure enables beyond the base: the network, the console
        keymap, sshd (the answered SSH keys are how the admin reaches the machine)."""
        return [("networking", "boot"), ("loadkmap", "boot"), ("sshd", "default")]

    def _final_repositories(self, ctx: InstallContext) -> None:
        """The installed system's repositories: the network's, plus the kept darksite."""
        repos = self.network_repositories()
        site = self.darksite(ctx)
        if site is not None and self.answers.keep_darksite:
            ctx.run(["mkdir", "-p", str(ctx.path(KEPT_DARKSITE))])
            ctx.run(["cp", "-a", f"{site}/.", str(ctx.path(KEPT_DARKSITE))])
            repos = [f"{KEPT_DARKSITE}/{r}" for r in REPOSITORIES
                     if (site / r / ARCH / "APKINDEX.tar.gz").is_file()] + repos
        self.write_repositories(ctx, repos)

    def verify_configure(self, ctx: InstallContext) -> None:
        from kldload_tui.backend.engine.core import VerifyError

        verify_system(ctx, admin_group=ADMIN_GROUP)
        inittab = ctx.path("/etc/inittab")
        if SERIAL_GETTY not in inittab.read_text(encoding="utf-8").splitlines():
            raise VerifyError(f"{inittab} starts no getty on ttyS0: the serial console "
                              "would have no login")
        path = ctx.path(f"/{INTERFACES_PATH}")
        expected = read_interfaces(interfaces(self.answers))
        try:
            found = read_interfaces(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise VerifyError(f"{path} cannot be read back: {err}") from None
        if found != expected:
            raise VerifyError(f"{path} reads back as {found}, not {expected}")
        off = [f"{s} ({lvl})" for s, lvl in [*BASE_SERVICES, *self.configured_services()]
               if service_state(ctx.target, s, lvl) != "enabled"]
        if off:
            raise VerifyError(f"OpenRC services not enabled: {', '.join(off)}")
        text = ctx.path(REPOSITORIES_PATH).read_text(encoding="utf-8")
        if "--allow-untrusted" in text or not text.strip():
            raise VerifyError(f"{REPOSITORIES_PATH} is empty or trusts unsigned packages")

    # -- services (OpenRC) ----------------------------------------------------------------
    def enable_units(self, ctx: InstallContext, units: Sequence[str]) -> None:
        rc_update_add(ctx, openrc_services(units))

    def unit_states(self, ctx: InstallContext, units: Sequence[str]) -> list[str]:
        return unit_states(ctx, units)

    # -- initramfs and boot -----------------------------------------------------------
    def initramfs(self, ctx: InstallContext) -> None:
        kver = ctx.kernel_version or "KERNEL-VERSION"
        ctx.write_files(kernel_hook_files())
        ctx.chroot(["mkinitfs", "-o", self.boot_files(ctx)[1], kver], timeout=3600)

    def initramfs_files(self, ctx: InstallContext) -> list[str]:
        image = ctx.path(self.boot_files(ctx)[1])
        try:
            return cpio_names(image.read_bytes())
        except (OSError, ValueError, EOFError, lzma.LZMAError) as err:
            from kldload_tui.backend.engine.core import VerifyError

            raise VerifyError(f"{image} cannot be listed: {err}") from None

    def verify_initramfs(self, ctx: InstallContext) -> None:
        from kldload_tui.backend.engine.core import VerifyError

        image = self.boot_files(ctx)[1]
        names = self.initramfs_files(ctx)
        absent = lacking(names, INITRAMFS_NEEDS)
        if absent:
            raise VerifyError(f"{image} lacks {', '.join(absent)}: the pool would not import "
                              "at boot")

    def boot_files(self, ctx: InstallContext) -> tuple[str, str]:
        kver = ctx.kernel_version or "KERNEL-VERSION"
        return f"/boot/vmlinuz-{kver}", f"/boot/initramfs-{kver}"

    # -- holds ------------------------------------------------------------------------
    def held_packages(self, ctx: InstallContext) -> list[str]:
        return list(dict.fromkeys([*HELD_PACKAGES, *self.loader_packages(ctx)]))

    def hold_files(self) -> list[TargetFile]:
        return apk_hold_files()


# -- files ------------------------------------------------------------------------------

def repositories_file(repos: Sequence[str]) -> str:
    """/etc/apk/repositories: one repository a line (a URL or a local path)."""
    for repo in repos:
        if not repo or any(c.isspace() for c in repo) or repo.startswith(("#", "@", "-")):
            raise ValueError(f"{repo!r} cannot be a line of {REPOSITORIES_PATH}")
    return "# Written by kldload-tui; signatures are checked against /etc/apk/keys.\n" + \
        "".join(f"{r}\n" for r in repos)


def mkinitfs_conf() -> str:
    """mkinitfs's features: Alpine's default set, with zfs (the pool's import) and
    kldload's (the host ID and cachefile); its package trigger off (kernel-files
    builds the versioned initramfs)."""
    return ("# Written by kldload-tui; see mkinitfs(1).\n"
            "# zfs: the initramfs imports the pool and mounts root=ZFS=<boot environment>;\n"
            "# kldload: /etc/hostid and the pool's cachefile (features.d/kldload.files).\n"
            'features="ata base keymap kms mmc nvme scsi usb virtio zfs kldload"\n'
            "# The kernel hook /etc/kernel-hooks.d/50-kldload-kernel builds\n"
            "# /boot/initramfs-<version> for each kernel. The package's own trigger would\n"
            "# build /boot/initramfs-lts beside it, and kldload-boot, which finds kernels\n"
            "# as /boot/vmlinuz-* with an initramfs, would boot-list \"lts\" as a second kernel.\n"
            'disable_trigger="yes"\n')


def kernel_hook_files() -> list[TargetFile]:
    """kernel-files and the kernel-hooks hook that runs it (before zz-kldload-boot)."""
    return [TargetFile(KERNEL_FILES.lstrip("/"), template("kernel-files"), 0o755),
            TargetFile(f"{KERNEL_HOOK_DIR}/50-kldload-kernel",
                       "#!/bin/sh\n# Written by kldload-tui: each kernel gets its versioned "
                       "kernel file and initramfs.\n"
                       f'exec {KERNEL_FILES} "$@"\n', 0o755)]


def apk_hold_files() -> list[TargetFile]:
    """package-holds with its apk part, and the OpenRC service that runs it at boot."""
    return [TargetFile(f"{LIB_DIR}/package-holds",
                       template("package-holds", hold=template("package-holds-apk")), 0o755),
            TargetFile("etc/init.d/kldload-package-holds",
                       template("kldload-package-holds.openrc"), 0o755)]


def keymap_name(answers: Answers) -> str:
    """The bkeymaps file name: `de` or `de-nodeadkeys` (layout-variant)."""
    a = answers
    return f"{a.keyboard_layout}-{a.keyboard_variant}" if a.keyboard_variant \
        else a.keyboard_layout


def package_name(request: str) -> str:
    """The package of an apk request (`name`, `name=1.2-r0`, `name>1`, `name~1`)."""
    for i, c in enumerate(request):
        if c in "=<>~":
            return request[:i]
    return request


def cpio_names(image: bytes) -> list[str]:
    """The paths in an initramfs: gzip, xz or no compression, newc cpio archives
    (one after another, as the kernel reads them)."""
    if image[:2] == b"\x1f\x8b":
        raw = gzip.decompress(image)
    elif image[:6] == b"\xfd7zXZ\x00":
        raw = lzma.decompress(image)
    else:
        raw = image
    names: list[str] = []
    pos = 0
    while pos + 110 <= len(raw):
        header = raw[pos:pos + 110]
        if header[:6] not in (b"070701", b"070702"):
            if header.strip(b"\x00") == b"":
                pos += 4  # padding between concatenated archives
                continue
            raise ValueError(f"not a newc cpio archive at byte {pos}")
        size = int(header[54:62], 16)
        name_size = int(header[94:102], 16)
        name = raw[pos + 110:pos + 110 + name_size - 1].decode("utf-8", errors="replace")
        pos = _align4(pos + 110 + name_size)
        pos = _align4(pos + size)
        if name == "TRAILER!!!":
            continue
        names.append(name)
    return names


def _align4(n: int) -> int:
    return (n + 3) & ~3


def _url(location: str) -> str:
    """A repository location (URL or local path) as a URL curl and the probe read."""
    return location if "://" in location else f"file://{location}"


def _curl(ctx: InstallContext, url: str, dest: Path) -> None:
    # --proto: https from Alpine's mirror, file from a darksite; never plain http.
    ctx.run(["curl", "--fail", "--silent", "--show-error", "--location",
             "--proto", "=https,file", "--max-time", "600", "--output", str(dest), url],
            timeout=660)


def _read(url: str, deadline: float) -> bytes:
    """The bytes at a file:// or http(s) URL, within the deadline."""
    from kldload_tui.backend.engine.core import InstallError

    parts = urlsplit(url)
    if parts.scheme == "file":
        path = Path(url2pathname(parts.path))
        try:
            return path.read_bytes()
        except OSError as err:
            raise InstallError(f"cannot read {path}: {err.strerror or err}") from None
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise InstallError(f"reading the package indexes took longer than "
                           f"{INDEX_DEADLINE:g} s (at {url})")
    try:
        return fetch_url(url, timeout=remaining / 2, retries=1, max_bytes=INDEX_MAX_BYTES)
    except FetchError as err:
        raise InstallError(f"cannot read the package index {url}: {err}; check the network "
                           "and the mirror (KLDLOAD_CUSTOM_MIRROR_URL)") from None
