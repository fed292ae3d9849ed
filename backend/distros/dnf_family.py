"""What every dnf distribution does alike: bootstrap with `dnf --installroot`,
dracut, NetworkManager keyfiles, dnf versionlock.

A distribution's module subclasses `DnfBackend` and says only what differs:
its repositories and keys, its package names (one table), its ZFS flavour.
This class serves nothing itself (`serves` is empty), so it is never found as
a backend of its own.

The bootstrap: keys pinned in the code are fetched, checked and imported into
the target's rpm database before anything else; the repository files are
written; then three dnf transactions: the base system, the kernel with ZFS and
the bootloader (a failure there is told apart from an optional package's), and
the optional packages. All run from the live system with --installroot, so
the target needs no network configuration of its own until it boots.
"""

from __future__ import annotations

import configparser
import re
from abc import abstractmethod
from typing import TYPE_CHECKING, ClassVar

from kldload_tui.backend.answers.model import Answers, InitramfsModules, Profile
from kldload_tui.backend.distros import DistroBackend
from kldload_tui.backend.distros.dnf_holds import VERSIONLOCK_PACKAGE, dnf_hold_files
from kldload_tui.backend.distros.dnf_repos import (
    BOOTSTRAP_DIR,
    Repo,
    dnf_argv,
    dnf_env,
    one_repo,
    repo_files,
    write_repo_files,
)
from kldload_tui.backend.distros.initramfs_check import lacking
from kldload_tui.backend.distros.kernels import check_kernel_and_zfs, newest_module_kernel
from kldload_tui.backend.distros.nm_keyfile import nm_keyfile
from kldload_tui.backend.distros.rpm_keys import KeyPin, install_keys, rpm_root_argv
from kldload_tui.backend.distros.system_config import (
    configure_access,
    verify_system,
    write_system_files,
)
from kldload_tui.backend.distros.target_chroot import mount_api_filesystems
from kldload_tui.backend.target.files import (
    TargetFile,
    identity_files,
    locale_files,
    sudoers_file,
)

if TYPE_CHECKING:
    from kldload_tui.backend.engine.core import InstallContext

DARKSITE_MARKER = "repodata/repomd.xml"
KEPT_DARKSITE = "/var/lib/kldload/darksite"
# Where a darksite's keys are: the same file names as the pins, so the same
# fingerprints are checked whichever source a key comes from.
DARKSITE_KEYS = "keys"
DRACUT_CONF = "/etc/dracut.conf.d/kldload.conf"
# kernel-install runs this plugin when the kernel transaction installs the
# kernel; masked (a link to /dev/null) for the bootstrap only, so the one
# initramfs is built once the system is configured, as on Debian.
DRACUT_PLUGIN = "/etc/kernel/install.d/50-dracut.install"
# kernel-install plugins run after every kernel change: kldload-boot's refresh.
KERNEL_INSTALL_HOOK = "etc/kernel/install.d/99-kldload-boot.install"
ADMIN_GROUP = "wheel"
# The initramfs holds these when it can import the pool (see verify_initramfs).
INITRAMFS_NEEDS = ("zfs.ko", "zpool", "etc/hostid")


class DnfBackend(DistroBackend):
    """A distribution installed with dnf; subclasses give the data."""

    cloud_init_renderers = ("network-manager",)
    initramfs_rebuild = ("dracut", "--force", "--regenerate-all")
    darksite_marker = DARKSITE_MARKER
    kernel_hooks = (KERNEL_INSTALL_HOOK,)
    # Red Hat builds GRUB with --with-grubdir=grub2: grub2-install fills grub2/.
    grub_dir = "grub2"
    # host_tools on a Debian live system: dnf --installroot, rpm and gpg for the
    # keys, curl to fetch them.
    live_packages = ("dnf", "rpm", "gpg", "curl")

    # -- what each distribution says ------------------------------------------
    # Base system, kernel, ZFS packages; loaders by firmware.
    BASE_PACKAGES: ClassVar[tuple[str, ...]] = ()
    KERNEL_PACKAGES: ClassVar[tuple[str, ...]] = ()
    LOADER_PACKAGES: ClassVar[dict[str, tuple[str, ...]]] = {}
    # The one table of optional packages: per profile, per feature flag, for sealing.
    PROFILE_PACKAGES: ClassVar[dict[Profile, tuple[str, ...]]] = {}
    FEATURE_PACKAGES: ClassVar[dict[str, tuple[str, ...]]] = {}
    SEAL_PACKAGES: ClassVar[tuple[str, ...]] = ("cloud-init",)
    # What gives the installed system `dnf versionlock` (see dnf_holds), installed
    # with the base system: dnf 4's plugin unless the distribution says otherwise.
    VERSIONLOCK_PACKAGES: ClassVar[tuple[str, ...]] = (VERSIONLOCK_PACKAGE,)

    @abstractmethod
    def release(self) -> str:
        """dnf's --releasever."""

    @abstractmethod
    def key_pins(self) -> list[KeyPin]:
        """Every key a package of this install may be signed with."""

    @abstractmethod
    def network_repos(self) -> list[Repo]:
        """The distribution's own repositories (and EPEL, OpenZFS where needed)."""

    @abstractmethod
    def zfs_packages(self) -> tuple[str, ...]:
        """The ZFS module and tools for this distribution's kernel."""

    # -- shared -----------------------------------------------------------------
    def __init__(self, answers: Answers) -> None:
        super().__init__(answers)
        self.core: list[str] = []

    def host_tools(self, ctx: InstallContext) -> list[str]:
        return ["dnf", "rpm", "gpg", "curl", "chroot"]

    def zfs_compatibility(self) -> str:
        # OpenZFS's EL and Fedora repositories ship 2.2 and later.
        return "openzfs-2.2-linux"

    def darksite(self, ctx: InstallContext) -> str | None:
        """The darksite's directory when it is an rpm-md repository."""
        site = ctx.options.darksite
        if site is not None and (site / DARKSITE_MARKER).is_file():
            return str(site)
        return None

    def repos(self, ctx: InstallContext) -> list[Repo]:
        """The darksite as the one repository when there is one, else the network's."""
        site = self.darksite(ctx)
        if site is not None:
            # A darksite whose repomd.xml is signed (repomd.xml.asc, by one of the
            # pinned keys) has its metadata checked too.
            signed = (ctx.options.darksite / f"{DARKSITE_MARKER}.asc").is_file() \
                if ctx.options.darksite else False
            return [one_repo(self.key_pins(), f"file://{site}", repo_id="kldload-darksite",
                             name="kldload darksite", signed_metadata=signed)]
        return self.network_repos()

    def source_urls(self, ctx: InstallContext) -> list[str]:
        return [r.probe_url() for r in self.repos(ctx)]

    def key_sources(self, ctx: InstallContext) -> dict[str, str]:
        site = self.darksite(ctx)
        return {k.file: f"file://{site}/{DARKSITE_KEYS}/{k.file}" if site else k.url
                for k in self.key_pins()}

    def bootstrap(self, ctx: InstallContext) -> None:
        release = self.release()
        repos = self.repos(ctx)
        # Keys first: nothing reaches the target's rpm database unchecked.
        install_keys(ctx, self.key_pins(), self.key_sources(ctx))
        write_repo_files(ctx, repos)
        for where in ("/dev", "/proc", "/sys", "/run"):
            ctx.run(["mkdir", "-p", str(ctx.path(where))])
        mount_api_filesystems(ctx)
        env = dnf_env(ctx)
        ctx.run(dnf_argv(ctx, release, "install", *self.BASE_PACKAGES,
                         *self.VERSIONLOCK_PACKAGES),
                env=env, timeout=7200)
        self.dracut_config(ctx)
        ctx.run(["mkdir", "-p", str(ctx.path(DRACUT_PLUGIN).parent)])
        ctx.run(["ln", "-sfn", "/dev/null", str(ctx.path(DRACUT_PLUGIN))])
        self.core = [*self.KERNEL_PACKAGES, *self.zfs_packages(), *self.loader_packages(ctx)]
        ctx.run(dnf_argv(ctx, release, "install", *self.core), env=env, timeout=7200)
        ctx.run(["rm", "-f", str(ctx.path(DRACUT_PLUGIN))])
        ctx.kernel_version = newest_module_kernel(ctx)
        optional = self.optional_packages()
        if optional:
            ctx.run(dnf_argv(ctx, release, "install", *optional), env=env, timeout=7200)
        ctx.run(["rm", "-rf", str(ctx.path(BOOTSTRAP_DIR))])

    def dracut_config(self, ctx: InstallContext) -> None:
        """The zfs dracut module always; host-only images for KLDLOAD_INITRAMFS_MODULES=dep."""
        hostonly = "yes" if self.answers.initramfs_modules is InitramfsModules.DEP else "no"
        ctx.runner.write_file(ctx.path(DRACUT_CONF),
                              "# Written by kldload-tui; see dracut.conf(5).\n"
                              "# zfs: the pool is imported by the initramfs.\n"
                              'add_dracutmodules+=" zfs "\n'
                              "# KLDLOAD_INITRAMFS_MODULES: no = every driver (boots "
                              "anywhere), yes = this machine's\n"
                              f'hostonly="{hostonly}"\n')

    def verify_bootstrap(self, ctx: InstallContext) -> None:
        from kldload_tui.backend.engine.core import VerifyError

        check_kernel_and_zfs(ctx, self.boot_files(ctx)[0])
        names = [*self.BASE_PACKAGES, *self.VERSIONLOCK_PACKAGES, *self.core,
                 *self.optional_packages()]
        out = ctx.run(rpm_root_argv(ctx, "-q", "--qf", "%{NAME}\n", *names), check=False)
        installed = set(out.split())
        missing = [n for n in names if n not in installed]
        if missing:
            raise VerifyError(f"packages not installed: {' '.join(missing)}")
        repo_paths = sorted(ctx.path("/etc/yum.repos.d").glob("*.repo"))
        if not repo_paths:
            raise VerifyError("the target has no repository files")
        for path in repo_paths:
            # dnf's own reader is an ini parser; every repository must check signatures.
            parser = configparser.ConfigParser(interpolation=None)
            parser.read(path)
            unchecked = [s for s in parser.sections() if parser[s].get("gpgcheck") != "1"]
            if unchecked:
                raise VerifyError(f"{path}: {', '.join(unchecked)} do not check signatures")

    def system_files(self, ctx: InstallContext) -> list[TargetFile]:
        """Identity, locale, console keyboard, sudo rule and network, at this family's paths."""
        a = self.answers
        return [*identity_files(a, ipv6="::1\tlocalhost localhost6\n"),
                *locale_files(a), sudoers_file(a), nm_keyfile(a)]

    def configure(self, ctx: InstallContext) -> None:
        write_system_files(ctx, self.system_files(ctx))
        # Enabled here, not left to the package's preset: the answered SSH keys are
        # how the admin reaches the machine.
        ctx.chroot(["systemctl", "enable", "sshd.service"])
        configure_access(ctx, admin_group=ADMIN_GROUP)
        self._final_repos(ctx)
        # Files were written without SELinux labels: the first boot relabels them.
        ctx.runner.write_file(ctx.path("/.autorelabel"), "")

    def _final_repos(self, ctx: InstallContext) -> None:
        """The installed system's repositories: the network's, plus the kept darksite."""
        site = self.darksite(ctx)
        if site is None:
            return  # the bootstrap wrote the network repositories' files already
        for name, text in repo_files(self.network_repos()).items():
            ctx.runner.write_file(ctx.path(f"/etc/yum.repos.d/{name}"), text)
        darksite_file = ctx.path("/etc/yum.repos.d/kldload-darksite.repo")
        if self.answers.keep_darksite:
            ctx.run(["mkdir", "-p", str(ctx.path(KEPT_DARKSITE))])
            ctx.run(["cp", "-a", f"{site}/.", str(ctx.path(KEPT_DARKSITE))])
            kept = one_repo(self.key_pins(), f"file://{KEPT_DARKSITE}",
                            repo_id="kldload-darksite", name="kldload darksite (kept)")
            ctx.runner.write_file(darksite_file, repo_files([kept])[kept.file])
        else:
            ctx.run(["rm", "-f", str(darksite_file)])

    def verify_configure(self, ctx: InstallContext) -> None:
        from kldload_tui.backend.engine.core import VerifyError

        verify_system(ctx, admin_group=ADMIN_GROUP)
        keyfile = nm_keyfile(self.answers)
        path = ctx.path(keyfile.path)
        if not path.is_file() or path.stat().st_mode & 0o777 != 0o600:
            raise VerifyError(f"{path} is missing or not mode 0600: NetworkManager ignores it")
        if path.read_text() != keyfile.content:
            raise VerifyError(f"{path} is not the keyfile kldload-tui wrote")

    def initramfs(self, ctx: InstallContext) -> None:
        kver = ctx.kernel_version or "KERNEL-VERSION"
        ctx.chroot(["dracut", "--force", self.boot_files(ctx)[1], kver], timeout=3600)

    def initramfs_files(self, ctx: InstallContext) -> list[str]:
        return _lsinitrd_paths(ctx.chroot(["lsinitrd", self.boot_files(ctx)[1]]))

    def verify_initramfs(self, ctx: InstallContext) -> None:
        from kldload_tui.backend.engine.core import VerifyError

        image = self.boot_files(ctx)[1]
        listing = ctx.chroot(["lsinitrd", image])
        names = _lsinitrd_paths(listing)
        absent = lacking(names, INITRAMFS_NEEDS)
        if "zfs" not in _dracut_modules(listing):
            absent.append("the zfs dracut module")
        if absent:
            raise VerifyError(f"{image} lacks {', '.join(absent)}: the pool would not import "
                              "at boot")

    def boot_files(self, ctx: InstallContext) -> tuple[str, str]:
        kver = ctx.kernel_version or "KERNEL-VERSION"
        # The kernel package's own copy: kernel-install's /boot copy depends on plugins.
        return f"/usr/lib/modules/{kver}/vmlinuz", f"/boot/initramfs-{kver}.img"

    def held_packages(self, ctx: InstallContext) -> list[str]:
        return list(dict.fromkeys([*self.KERNEL_PACKAGES, *self.zfs_packages(),
                                   *self.loader_packages(ctx)]))

    def hold_files(self) -> list[TargetFile]:
        return dnf_hold_files()


# An lsinitrd line of the file listing: mode, links, owner, group, size, date, path.
_LISTING = re.compile(r"^[-dlcbps][rwxsStT-]{9}\s")


def _lsinitrd_paths(listing: str) -> list[str]:
    """The paths in `lsinitrd IMAGE` output (links without their target)."""
    paths = []
    for line in listing.splitlines():
        if _LISTING.match(line):
            path = line.split(" -> ")[0].split()[-1]
            paths.append(path)
    return paths


def _dracut_modules(listing: str) -> list[str]:
    """The modules lsinitrd lists under `dracut modules:` (one per line, up to a blank)."""
    lines = listing.splitlines()
    try:
        start = next(i for i, ln in enumerate(lines) if ln.strip() == "dracut modules:")
    except StopIteration:
        return []
    found = []
    for line in lines[start + 1:]:
        if not line.strip() or line.startswith("="):
            break
        found.append(line.strip())
    return found
