"""Debian (trixie, bookworm): debootstrap, apt, initramfs-tools.

Kernel, ZFS and bootloader packages go in one apt transaction of their own, so
the initramfs is built once with ZFS in it, and a failure there is told apart
from an optional package that failed. Optional packages (profile, features,
KLDLOAD_EXTRA_PACKAGES) follow in a second transaction.

The rest of the apt family (ubuntu.py) subclasses `DebianBackend`: what is
Debian's own is in class attributes and small methods (the package tables, the
suite, the mirror, the apt sources' stanzas, the keyring, the ZFS module), so a
subclass overrides those and shares the bootstrap, the configuration and the
checks.
"""

from __future__ import annotations

import gzip
import io
import lzma
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TextIO
from urllib.parse import urlsplit
from urllib.request import url2pathname

from kldload_tui.backend.answers.model import (
    Answers,
    DebianSuite,
    Distro,
    InitramfsModules,
    Profile,
)
from kldload_tui.backend.distros import DistroBackend
from kldload_tui.backend.distros.apt_holds import apt_hold_files, debian_held_packages
from kldload_tui.backend.distros.apt_keys import (
    ARCHIVE_KEYRING,
    INSTALL_KEYRING,
    check_darksite_signature,
    darksite_keyring,
    write_install_keyring,
)
from kldload_tui.backend.distros.apt_sources import live_debian_mirror
from kldload_tui.backend.distros.bootstrap_progress import (
    AptStatusReader,
    BootstrapProgress,
    DebootstrapReader,
)
from kldload_tui.backend.distros.debian_config import (
    POLICY_RC_D,
    configure_debian,
    verify_debian_config,
)
from kldload_tui.backend.distros.package_index import PackageIndex, parse_request, unresolved
from kldload_tui.backend.distros.target_chroot import mount_api_filesystems
from kldload_tui.backend.engine.runner import LineFilter
from kldload_tui.backend.seed.url import FetchError, fetch_url
from kldload_tui.backend.target.boot import HOOK_PATHS
from kldload_tui.backend.target.files import TargetFile, template
from kldload_tui.backend.target.initramfs_drivers import HOOK_PATH, dep_modules

if TYPE_CHECKING:
    from kldload_tui.backend.engine.core import InstallContext

# In the base system from the start: what configure, firstboot and the
# initramfs need (busybox: zfs-initramfs fails to configure without it).
BASE_PACKAGES = (
    "systemd-sysv", "udev", "kmod", "dbus", "iproute2", "systemd-resolved",
    "systemd-timesyncd", "openssh-server", "sudo", "locales", "tzdata",
    "keyboard-configuration", "console-setup", "busybox", "ca-certificates", "less",
    "apt-utils", "gdisk", "dosfstools", "efibootmgr",
)
# Prebuilt ZFS modules for one exact kernel, as a darksite carries them (DKMS
# compiles ZFS in about 4 minutes on 2 cores, most of an hour under emulation):
# zfs-modules-<kernel>, Provides: zfs-modules, Depends: that linux-image.
PREBUILT_ZFS_PREFIX = "zfs-modules-"
KERNEL = "linux-image-amd64"
CORE_PACKAGES = (KERNEL, "zfsutils-linux", "zfs-initramfs")
# The loaders kldload-boot puts on every ESP, by the firmware they serve:
# systemd-boot's EFI binary alone (its own kernel hooks would fight ours), and
# GRUB's BIOS modules with grub-install, without grub-pc taking over the MBR.
LOADER_PACKAGES: dict[str, tuple[str, ...]] = {
    "uefi": ("systemd-boot-efi",),
    "bios": ("grub-pc-bin", "grub2-common"),
}
PROFILE_PACKAGES: dict[Profile, tuple[str, ...]] = {
    Profile.CORE: (),
    Profile.SERVER: ("sanoid", "prometheus-node-exporter", "curl", "htop", "tmux"),
    Profile.DESKTOP: ("sanoid", "prometheus-node-exporter", "curl", "htop", "tmux",
                      "task-gnome-desktop"),
}
FEATURE_PACKAGES: dict[str, tuple[str, ...]] = {
    "enable_kvm": ("qemu-system-x86", "libvirt-daemon-system", "libvirt-clients", "ovmf"),
    "enable_ebpf": ("bpfcc-tools", "bpftrace"),
    "enable_ai": ("python3-torch", "python3-numpy", "python3-sklearn", "python3-pandas",
                  "jupyter-notebook"),
    "nvidia_drivers": ("nvidia-driver", "firmware-misc-nonfree"),
    "wireguard": ("wireguard-tools",),
}
# A sealed image is personalised by cloud-init on each clone's first boot.
SEAL_PACKAGES = ("cloud-init",)
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "DEBCONF_NONINTERACTIVE_SEEN": "true"}
# apt's machine-readable progress, on stdout among its output (bootstrap_progress).
APT_STATUS = ["-o", "APT::Status-Fd=1"]
# Where each command ends on the bootstrap phase's progress bar. Measured in an
# e2e install under emulation: debootstrap 1092 s, apt-get update 1 s, the kernel
# and ZFS 142 s, the server profile's packages 51 s.
PROGRESS_DEBOOTSTRAP, PROGRESS_UPDATE, PROGRESS_CORE = 0.82, 0.83, 0.96
# The target's architecture (debootstrap --arch, binary-<arch> indexes).
ARCH = "amd64"
# Checking KLDLOAD_EXTRA_PACKAGES reads each component's Packages index (main is
# ~10 MB as xz): the whole check must finish in this many seconds.
INDEX_DEADLINE = 300.0
# Far above any real index (main, uncompressed, is ~50 MB): a wrong URL serving
# something endless is refused instead of filling memory.
INDEX_MAX_BYTES = 512 * 2**20
# apt's order of preference; a mirror need not carry all three.
INDEX_SUFFIXES = (".xz", ".gz", "")
DARKSITE_IN_TARGET = "/mnt/kldload-darksite"


def darksite_suites(darksite: Path) -> list[str]:
    """The suites a darksite carries (its dists/ directories), sorted."""
    dists = darksite / "dists"
    if not dists.is_dir():
        return []
    return sorted(p.name for p in dists.iterdir() if p.is_dir())


class DebianBackend(DistroBackend):
    """Debian with ZFS from contrib."""

    name = "debian"
    serves = (Distro.DEBIAN,)
    # kldload configures systemd-networkd (target/files.network_file); without this
    # cloud-init would pick ifupdown's ENI, which Debian also installs.
    cloud_init_renderers = ("networkd",)
    # -u -k all: every kernel the system has; kldload-boot's post-update hook then
    # copies each new initrd to every ESP.
    initramfs_rebuild = ("update-initramfs", "-u", "-k", "all")
    darksite_marker = "dists"
    # tests/e2e installs it from the live ISO and boots and checks the result.
    proven = "booted here"
    live_packages: ClassVar[tuple[str, ...]] = ("debootstrap",)
    # Debian's kernel postinst/postrm and update-initramfs's post-update hooks.
    kernel_hooks = HOOK_PATHS

    # -- what the rest of the apt family overrides -------------------------------
    # The package tables (the module's constants, which the ISO's darksite reads).
    BASE_PACKAGES: ClassVar[tuple[str, ...]] = BASE_PACKAGES
    KERNEL: ClassVar[str] = KERNEL
    CORE_PACKAGES: ClassVar[tuple[str, ...]] = CORE_PACKAGES
    LOADER_PACKAGES: ClassVar[dict[str, tuple[str, ...]]] = LOADER_PACKAGES
    PROFILE_PACKAGES: ClassVar[dict[Profile, tuple[str, ...]]] = PROFILE_PACKAGES
    FEATURE_PACKAGES: ClassVar[dict[str, tuple[str, ...]]] = FEATURE_PACKAGES
    SEAL_PACKAGES: ClassVar[tuple[str, ...]] = SEAL_PACKAGES
    # The archive's keys on the live system (debootstrap's) and, by the same path,
    # in the target (its keyring package installs them there too).
    archive_keyring: ClassVar[Path] = ARCHIVE_KEYRING
    # The target's Signed-By without a darksite key: None leaves it to apt's default
    # keys, which Debian's debian-archive-keyring fills.
    signed_by_default: ClassVar[str | None] = None
    # debootstrap's script (its positional argument after the mirror); None: the
    # script named like the suite.
    debootstrap_script: ClassVar[str | None] = None
    # The target's apt sources, as the distribution's own installer names them.
    sources_file: ClassVar[str] = "/etc/apt/sources.list.d/debian.sources"
    # The answer that names a network mirror, for messages that say what to set.
    mirror_answer: ClassVar[str] = "KLDLOAD_DEBIAN_MIRROR"

    @classmethod
    def medium_defaults(cls, darksite: Path) -> dict[str, Any]:
        # An ISO's darksite carries the one suite it was built for.
        carried = [s for s in DebianSuite if s.value in darksite_suites(darksite)]
        return {"debian_suite": carried[0]} if len(carried) == 1 else {}

    def __init__(self, answers: Answers) -> None:
        super().__init__(answers)
        # Chosen in bootstrap: the prebuilt ZFS module package or DKMS.
        self.core: list[str] = list(self.CORE_PACKAGES)
        # KLDLOAD_INITRAMFS_MODULES=dep: the driver modules the initramfs gets.
        self.dep_modules: list[str] = []

    def host_tools(self, ctx: InstallContext) -> list[str]:
        return ["debootstrap", "chroot", "gpgv"]

    def suite(self) -> str:
        """The release debootstrap installs and apt follows."""
        return self.answers.debian_suite.value

    def zfs_compatibility(self) -> str:
        # bookworm ships OpenZFS 2.1, trixie 2.3 (which imports 2.2 pools).
        if self.answers.debian_suite is DebianSuite.BOOKWORM:
            return "openzfs-2.1-linux"
        return "openzfs-2.2-linux"

    def components(self) -> list[str]:
        """contrib holds ZFS; NVIDIA's driver needs non-free."""
        extra = ["non-free", "non-free-firmware"] if self.answers.nvidia_drivers else []
        return ["main", "contrib", *extra]

    def darksite(self, ctx: InstallContext) -> Path | None:
        """The live medium's darksite when it carries the answers' suite: an ISO built
        for bookworm cannot bootstrap trixie, so then the network mirror serves.

        A darksite that is not on this machine (a plan for a described one) is taken
        as given; a real run only gets one the launcher found here."""
        offered = ctx.options.darksite
        if offered is None:
            return None
        if not (offered / "dists").is_dir():
            return offered if ctx.dry_run else None
        # The suite names the distribution too: an Ubuntu install never takes a Debian
        # darksite (dists/bookworm), nor Debian an Ubuntu one (dists/noble).
        return offered if self.suite() in darksite_suites(offered) else None

    def mirror(self, ctx: InstallContext) -> tuple[str, bool]:
        """(mirror URI, whether it is the local darksite)."""
        darksite = self.darksite(ctx)
        if darksite is not None:
            return f"file://{darksite}", True
        chosen = self.network_mirror(ctx)
        if not chosen:
            from kldload_tui.backend.engine.core import InstallError

            raise InstallError("no Debian mirror: no darksite, no KLDLOAD_DEBIAN_MIRROR or "
                               "KLDLOAD_CUSTOM_MIRROR_URL, and no Debian source in the live "
                               "system's apt sources; set KLDLOAD_DEBIAN_MIRROR")
        return chosen, False

    def network_mirror(self, ctx: InstallContext) -> str | None:
        """The archive to install from without a darksite (None: none known)."""
        a = self.answers
        return a.custom_mirror_url or a.debian_mirror or live_debian_mirror(
            ctx.options.live_root)

    def apt_stanzas(self, uri: str, *, darksite: bool = False) -> list[tuple[str, list[str]]]:
        """(URI, suites) of each stanza of the target's apt sources for the archive at
        `uri` (a darksite carries its one suite only)."""
        return [(uri, [self.suite()])]

    def offline_hint(self, carried: list[str]) -> str:
        """What installs from a darksite carrying `carried` instead, for a refusal."""
        return f"KLDLOAD_DEBIAN_SUITE={carried[0]} installs without a network"

    def source_urls(self, ctx: InstallContext) -> list[str]:
        """Each suite's Release file on the darksite or the mirrors apt will use."""
        uri, darksite = self.mirror(ctx)
        return [f"{base.rstrip('/')}/dists/{suite}/Release"
                for base, suites in self.apt_stanzas(uri, darksite=darksite) for suite in suites]

    def check_sources(self, ctx: InstallContext) -> None:
        """The darksite serves only the suites it carries: for another, the mirror
        must answer, and a refusal says which suite would install offline."""
        from kldload_tui.backend.engine.core import InstallError

        suite = self.suite()
        offered = ctx.options.darksite
        carried = darksite_suites(offered) if offered is not None else []
        offline = (f"\nthe darksite at {offered} carries {', '.join(carried)}: "
                   f"{self.offline_hint(carried)}" if carried else "")
        try:
            uri, darksite = self.mirror(ctx)
        except InstallError as err:
            raise InstallError(f"{err}{offline}") from None
        if offered is not None and not darksite:
            ctx.warn(f"the darksite at {offered} carries {', '.join(carried) or 'no suite'}, "
                     f"not {suite}: installing {suite} from {uri}")
        if darksite:
            assert offered is not None
            check_darksite_signature(ctx, offered, suite, mirror_answer=self.mirror_answer)
        try:
            super().check_sources(ctx)
        except InstallError as err:
            raise InstallError(f"{err}{offline}") from None

    def check_packages(self, ctx: InstallContext, names: Sequence[str]) -> None:
        """Each name is one package of the darksite or mirror debootstrap will use.

        Reads `dists/<suite>/<component>/binary-<arch>/Packages` of every component
        the install's apt source lists, into memory only. Nothing here checks the
        Release file's signature: this answers "does apt know this name", not "is
        this repository genuine" (debootstrap and apt check that).
        """
        from kldload_tui.backend.engine.core import InstallError

        uri, _ = self.mirror(ctx)
        uri = uri.rstrip("/")
        suite = self.suite()
        began = time.monotonic()
        deadline = began + INDEX_DEADLINE
        index = PackageIndex()
        read: list[str] = []
        for component in self.components():
            if _read_index(index, f"{uri}/dists/{suite}/{component}/binary-{ARCH}/Packages",
                           deadline):
                read.append(component)
            else:
                # apt skips a component the repository lacks (a small darksite may).
                ctx.runner.note(f"no {component} package index for {suite} at {uri}")
        if not read:
            raise InstallError(f"KLDLOAD_EXTRA_PACKAGES: no package index for {suite} at "
                               f"{uri} (dists/{suite}/<component>/binary-{ARCH}/Packages for "
                               f"{' '.join(self.components())}): is it a Debian repository "
                               "carrying that suite?")
        where = f"{uri} {suite} {' '.join(read)}"
        problems = unresolved(index, names, release=suite, arch=ARCH, where=where)
        ctx.runner.note(f"extra packages checked against {where} ({len(index)} packages) "
                        f"in {time.monotonic() - began:.1f} s")
        if problems:
            raise InstallError("\n".join(f"KLDLOAD_EXTRA_PACKAGES: {p}" for p in problems))

    def bootstrap(self, ctx: InstallContext) -> None:
        mirror, darksite = self.mirror(ctx)
        argv = ["debootstrap", f"--arch={ARCH}", "--variant=minbase",
                f"--components={','.join(self.components())}",
                f"--include={','.join(self.BASE_PACKAGES)}"]
        key = darksite_keyring(ctx)
        if key is not None:
            # The archive's keys and the darksite's: the darksite on the medium, or
            # served over HTTP as the mirror (PXE), verifies like any archive.
            argv.append(f"--keyring="
                        f"{write_install_keyring(ctx, key, archive=self.archive_keyring)}")
        elif self.signed_by_default is not None:
            # Named, not left to the script's default: the keys preflight checked.
            argv.append(f"--keyring={self.archive_keyring}")
        script = [self.debootstrap_script] if self.debootstrap_script else []
        progress = BootstrapProgress(ctx.runner.current_phase)
        ctx.run([*argv, self.suite(), str(ctx.target), mirror, *script], timeout=3600,
                on_line=progress.reading(DebootstrapReader(), PROGRESS_DEBOOTSTRAP))
        # Package scripts must not start daemons inside the target; removed in configure.
        ctx.runner.write_file(ctx.path(POLICY_RC_D), "#!/bin/sh\nexit 101\n", 0o755)
        mount_api_filesystems(ctx)
        if not darksite:
            _live_resolver(ctx)
        if darksite:
            assert ctx.options.darksite is not None
            inside = ctx.path(DARKSITE_IN_TARGET)
            ctx.run(["mkdir", "-p", str(inside)])
            ctx.run(["mount", "--bind", "-o", "ro", str(ctx.options.darksite), str(inside)])
            ctx.mounts.append(str(inside))
        ctx.runner.write_file(ctx.path(self.sources_file),
                              self.sources(mirror if not darksite else
                                           f"file:{DARKSITE_IN_TARGET}",
                                           INSTALL_KEYRING if key is not None else
                                           self.signed_by_default, darksite=darksite))
        ctx.runner.write_file(ctx.path("/etc/apt/sources.list"), "")
        # Before the kernel's transaction: its postinst builds the first initramfs.
        self.initramfs_config(ctx)
        ctx.chroot(["apt-get", "update", *APT_STATUS], env=APT_ENV, timeout=1800,
                   on_line=progress.reading(AptStatusReader("updating package lists",
                                                            packages=False), PROGRESS_UPDATE))
        self.core = [*self.CORE_PACKAGES, *self.loader_packages(ctx),
                     *self.zfs_module_packages(ctx)]
        optional = self.optional_packages()
        # No initramfs yet: the kernel's hook and zfs-initramfs's trigger would each
        # build one (minutes apiece on a slow machine, and both are replaced); the
        # zfs phase builds the only one, once the system is configured.
        _apt_install(ctx, self.core, env={"INITRD": "No"}, on_line=progress.reading(
            AptStatusReader("kernel, ZFS"), PROGRESS_CORE if optional else 1.0))
        ctx.kernel_version = _kernel_version(ctx, self.KERNEL)
        if optional:
            _apt_install(ctx, optional, on_line=progress.reading(
                AptStatusReader("optional"), 1.0))

    def zfs_module_packages(self, ctx: InstallContext) -> list[str]:
        """What provides zfs.ko for the kernel: the repository's prebuilt module
        package for it (a darksite's), else DKMS with the kernel's headers."""
        prebuilt = _prebuilt_zfs_module(ctx, self.KERNEL)
        if prebuilt:
            return [prebuilt]
        ctx.runner.note("no prebuilt ZFS module package for the kernel in the repository: "
                        "building with DKMS")
        return ["zfs-dkms", "linux-headers-amd64"]

    def initramfs_config(self, ctx: InstallContext) -> None:
        """initramfs-tools' MODULES for the answers; dep as kldload does it for ZFS."""
        wanted = self.answers.initramfs_modules
        modules = wanted.value
        if wanted is InitramfsModules.DEP:
            # initramfs-tools' dep cannot find a ZFS root's device (initramfs_drivers).
            modules = "list"
            if ctx.dry_run:
                ctx.runner.note("MODULES=dep: the hook gets the modules of the target disks' "
                                "and the keyboards' drivers, read from /sys when installing")
            else:
                self.dep_modules = dep_modules(t.disk.path for t in ctx.targets)
                ctx.runner.note("MODULES=dep: drivers of the target disks and keyboards: "
                                + (" ".join(self.dep_modules) or "all built into the kernel"))
            ctx.runner.write_file(ctx.path(HOOK_PATH),
                                  template("initramfs-drivers",
                                           modules=" ".join(self.dep_modules)), 0o755)
        why = ("# dep: only the drivers that hooks/kldload-drivers adds (MODULES=dep cannot "
               "find a ZFS root)\n" if wanted is InitramfsModules.DEP else "")
        ctx.runner.write_file(ctx.path("/etc/initramfs-tools/conf.d/kldload.conf"),
                              f"# Written by kldload-tui (KLDLOAD_INITRAMFS_MODULES)\n{why}"
                              f"MODULES={modules}\n")

    def sources(self, uri: str, signed_by: str | None, *, darksite: bool = False) -> str:
        """deb822 sources for the target (`apt_stanzas` of the archive at `uri`);
        `signed_by`: the keyrings apt checks it against (None: apt's default keys)."""
        keys = f"Signed-By: {signed_by}\n" if signed_by else ""
        stanzas = [f"Types: deb\nURIs: {base}\nSuites: {' '.join(suites)}\n"
                   f"Components: {' '.join(self.components())}\n{keys}"
                   for base, suites in self.apt_stanzas(uri, darksite=darksite)]
        return "# Written by kldload-tui\n" + "\n".join(stanzas)

    def verify_bootstrap(self, ctx: InstallContext) -> None:
        from kldload_tui.backend.engine.core import VerifyError

        kver = ctx.kernel_version
        if not kver or not ctx.path(f"/boot/vmlinuz-{kver}").exists():
            raise VerifyError(f"no kernel in {ctx.path('/boot')}")
        modules = ctx.path(f"/lib/modules/{kver}")
        if not any(modules.rglob("zfs.ko*")):
            raise VerifyError(f"the ZFS module for {kver} is not in {modules}")
        # Requests may carry `=version`, `/suite` or `:arch`; dpkg knows packages by name.
        names = [parse_request(p).name for p in [*self.core, *self.optional_packages()]]
        out = ctx.chroot(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Abbrev}\\n",
                          *names], check=False)
        states = dict(line.split(maxsplit=1) for line in out.splitlines() if " " in line)
        missing = [p for p in names if not states.get(p, "").startswith("ii")]
        if missing:
            raise VerifyError(f"packages not installed: {' '.join(missing)}")

    def configure(self, ctx: InstallContext) -> None:
        configure_debian(ctx)

    def verify_configure(self, ctx: InstallContext) -> None:
        verify_debian_config(ctx)

    def initramfs(self, ctx: InstallContext) -> None:
        # The only build (bootstrap installed the kernel with INITRD=No), made now so it
        # holds the configured system: hostid, cachefile, hostname, keyboard layout.
        ctx.chroot(["update-initramfs", "-c", "-k", ctx.kernel_version or "all"], timeout=3600)

    def initramfs_files(self, ctx: InstallContext) -> list[str]:
        return ctx.chroot(["lsinitramfs", self.boot_files(ctx)[1]]).splitlines()

    def verify_initramfs(self, ctx: InstallContext) -> None:
        from kldload_tui.backend.engine.core import VerifyError

        image = self.boot_files(ctx)[1]
        names = self.initramfs_files(ctx)
        files = {n.split("/")[-1] for n in names}
        needed = {"zfs.ko": any(f.startswith("zfs.ko") for f in files),
                  "scripts/zfs": any(n.endswith("scripts/zfs") for n in names),
                  "etc/hostid": any(n.endswith("etc/hostid") for n in names)}
        for module in self.dep_modules:
            # modinfo's names use _ where some file names use -.
            needed[f"{module}.ko"] = any(
                f.replace("-", "_").startswith(module.replace("-", "_") + ".ko") for f in files)
        absent = [k for k, ok in needed.items() if not ok]
        if absent:
            raise VerifyError(f"{image} lacks {', '.join(absent)}: the pool would not import "
                              "at boot")

    def boot_files(self, ctx: InstallContext) -> tuple[str, str]:
        kver = ctx.kernel_version or "KERNEL-VERSION"
        return f"/boot/vmlinuz-{kver}", f"/boot/initrd.img-{kver}"

    def held_packages(self, ctx: InstallContext) -> list[str]:
        zfs = next((p for p in self.core if p.startswith(PREBUILT_ZFS_PREFIX)), "zfs-dkms")
        return list(debian_held_packages(zfs_module=zfs, bootloader=self.loader_packages(ctx),
                                         arch=ARCH))

    def hold_files(self) -> list[TargetFile]:
        return apt_hold_files()


def _index_data(url: str, deadline: float) -> bytes | None:
    """The bytes at a file:// or http(s) URL; None when there is no such file."""
    from kldload_tui.backend.engine.core import InstallError

    parts = urlsplit(url)
    if parts.scheme == "file":
        path = Path(url2pathname(parts.path))
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise InstallError(f"cannot read {path}: {err.strerror or err}") from None
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise InstallError(f"reading the package indexes took longer than "
                           f"{INDEX_DEADLINE:g} s (at {url}); check the network and the mirror")
    try:
        # Half the time left per attempt, one retry: a passing glitch is retried and
        # the whole check still ends near its deadline.
        return fetch_url(url, timeout=remaining / 2, retries=1, max_bytes=INDEX_MAX_BYTES)
    except FetchError as err:
        if err.status in (404, 410):
            return None
        raise InstallError(f"cannot read the package index {url}: {err}; check the network "
                           "and the mirror (KLDLOAD_DEBIAN_MIRROR)") from None


def _index_text(data: bytes, suffix: str) -> TextIO:
    """A (compressed) index as text, decompressed as it is read, never whole."""
    raw = io.BytesIO(data)
    if suffix == ".xz":
        return io.TextIOWrapper(lzma.LZMAFile(raw), encoding="utf-8", errors="replace")
    if suffix == ".gz":
        return io.TextIOWrapper(gzip.GzipFile(fileobj=raw), encoding="utf-8", errors="replace")
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace")


def _read_index(index: PackageIndex, base: str, deadline: float) -> bool:
    """Add the first of base.xz, base.gz, base found to `index`; False if none is."""
    from kldload_tui.backend.engine.core import InstallError

    for suffix in INDEX_SUFFIXES:
        data = _index_data(base + suffix, deadline)
        if data is None:
            continue
        try:
            with _index_text(data, suffix) as text:
                index.add(text)
        except (lzma.LZMAError, EOFError, OSError) as err:
            raise InstallError(f"the package index {base + suffix} is damaged ({err}); "
                               "check the mirror") from None
        return True
    return False


def _prebuilt_zfs_module(ctx: InstallContext, kernel: str) -> str | None:
    """zfs-modules-<kernel> for the kernel the `kernel` package would install, if the
    repository has it."""
    depends = ctx.chroot(["apt-cache", "depends", "--important", kernel], check=False)
    kernels = re.findall(r"Depends:\s*linux-image-(\d\S*)", depends)
    if not kernels:
        return None
    name = PREBUILT_ZFS_PREFIX + kernels[0]
    shown = ctx.chroot(["apt-cache", "show", "--no-all-versions", name], check=False)
    return name if f"Package: {name}" in shown else None


def _apt_install(ctx: InstallContext, packages: list[str],
                 env: dict[str, str] | None = None, on_line: LineFilter | None = None) -> None:
    ctx.chroot(["apt-get", "install", "-y", "--no-install-recommends", *APT_STATUS, *packages],
               env={**APT_ENV, **(env or {})}, timeout=7200, on_line=on_line)


def _kernel_version(ctx: InstallContext, kernel: str) -> str:
    """The kernel the transaction installed (a placeholder in a dry run)."""
    if ctx.dry_run:
        return "KERNEL-VERSION"
    found = sorted(p.name for p in ctx.path("/lib/modules").iterdir() if p.is_dir())
    if not found:
        from kldload_tui.backend.engine.core import InstallError

        raise InstallError(f"{kernel} was installed but {ctx.path('/lib/modules')} is empty")
    return found[-1]


# systemd-resolved (a base package) makes the target's /etc/resolv.conf a link to
# this file, and the target's /run is a private tmpfs here: without it apt in the
# target cannot resolve the mirror's name ("Temporary failure resolving").
RESOLVER_IN_RUN = "/run/systemd/resolve/stub-resolv.conf"


def _live_resolver(ctx: InstallContext) -> None:
    """The live system's resolver configuration, for the install only (it is on /run)."""
    live = ctx.options.live_root / "etc/resolv.conf"
    try:
        text = live.read_text(encoding="utf-8")
    except OSError as err:
        ctx.warn(f"cannot read {live} ({err.strerror}): the target can reach the mirror "
                 "only by address")
        return
    ctx.runner.write_file(ctx.path(RESOLVER_IN_RUN), text, 0o644)
