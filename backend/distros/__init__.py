"""Per-distribution knowledge: how to bootstrap, configure and boot a target.

The engine's phases are the same for every distribution; what differs (the
bootstrap tool, package names, where network configuration lives) is asked of
a `DistroBackend`. Nothing outside this package names a distribution
(tests/unit/test_layering.py checks it).

Adding a distribution is adding one module here and touching nothing else: a
module that defines a `DistroBackend` subclass whose `serves` names Distro
values is found by `distro_backend` (`backend_classes` imports every module of
this package; there is no registry to edit). Distributions of the seed's list
that no module serves are refused in preflight with a clear message, never
half-done.
"""

from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from kldload_tui.backend.answers.model import Answers, Distro, ExportFormat, Profile

if TYPE_CHECKING:
    from kldload_tui.backend.engine.core import InstallContext
    from kldload_tui.backend.target.files import TargetFile


class DistroBackend(ABC):
    """What the engine needs to know about one distribution."""

    name: str
    supported: bool = True
    # The KLDLOAD_DISTRO values this backend installs: what makes it found.
    serves: ClassVar[tuple[Distro, ...]] = ()
    # cloud-init's network renderers for a sealed image, best first: the stack the
    # installed system's own network configuration uses (empty: cloud-init's order).
    cloud_init_renderers: ClassVar[tuple[str, ...]] = ()
    # The command that rebuilds every installed kernel's initramfs. Sealing runs it
    # in the target's chroot and kldload-firstboot on a clone, so both rebuild
    # alike (empty: none known, and both refuse).
    initramfs_rebuild: ClassVar[tuple[str, ...]] = ()
    # What marks a directory as a darksite in this distribution's repository format
    # (a path relative to it): the launcher uses the first darksite that has it.
    darksite_marker: ClassVar[str] = ""
    # The live system's (Debian) packages that provide `host_tools`: the ISO build
    # installs those of every backend, so that each distribution installs from it.
    live_packages: ClassVar[tuple[str, ...]] = ()
    # GRUB's directory as the distribution's GRUB build names it (its core.img
    # reads modules and grub.cfg from there): kldload-boot's GRUB_DIR on BIOS.
    grub_dir: ClassVar[str] = "grub"
    # How far support is proven, as the README and the TUI's distribution step say
    # it: "booted here" only for a distribution whose installs the e2e boots and
    # checks; any other is "plan-verified" (its plans are golden files, its tools'
    # commands are run against test repositories), whatever its module claims.
    proven: ClassVar[str] = "plan-verified"
    # Where the kernel and initramfs tools run hooks from (paths in the target):
    # kldload-boot's refresh goes there (empty: none known, no hooks written).
    kernel_hooks: ClassVar[tuple[str, ...]] = ()
    # The target's init system: "systemd", or "openrc" (Alpine). The shared service
    # files (target/files.service_files) are chosen by it; `enable_units` and
    # `unit_states` are how the phases enable and read back what they name.
    init_system: ClassVar[str] = "systemd"

    # The one table of package names (issue 16's point 9): the loaders per firmware
    # ("uefi", "bios"), the packages per profile, per feature flag (an Answers field
    # name) and for sealing an image. Each backend fills them; the readers below are
    # the same for all.
    LOADER_PACKAGES: ClassVar[dict[str, tuple[str, ...]]] = {}
    PROFILE_PACKAGES: ClassVar[dict[Profile, tuple[str, ...]]] = {}
    FEATURE_PACKAGES: ClassVar[dict[str, tuple[str, ...]]] = {}
    SEAL_PACKAGES: ClassVar[tuple[str, ...]] = ()

    def __init__(self, answers: Answers) -> None:
        self.answers = answers

    def optional_packages(self) -> list[str]:
        """Profile, feature, seal and extra packages, in a stable order without
        repeats. Extra packages reach here only on a backend whose `check_packages`
        checks them (the base's refuses them first)."""
        a = self.answers
        wanted = list(self.PROFILE_PACKAGES.get(a.profile, ()))
        for field_name, packages in self.FEATURE_PACKAGES.items():
            if getattr(a, field_name):
                wanted += packages
        if a.export_format is not ExportFormat.NONE:
            wanted += self.SEAL_PACKAGES
        wanted += a.extra_packages
        return list(dict.fromkeys(wanted))

    def loader_packages(self, ctx: InstallContext) -> tuple[str, ...]:
        """The loaders' packages for the firmware the installed disks boot on."""
        from kldload_tui.backend.target.boot import boot_loaders

        loaders = boot_loaders(self.answers.firmware, ctx.machine.firmware)
        return tuple(dict.fromkeys(p for fw in loaders for p in self.LOADER_PACKAGES[fw]))

    def enable_units(self, ctx: InstallContext, units: Sequence[str]) -> None:
        """Enable `units` in the target: systemd units by their names; a backend on
        another init system maps each name to its own services."""
        ctx.chroot(["systemctl", "enable", *units])

    def unit_states(self, ctx: InstallContext, units: Sequence[str]) -> list[str]:
        """`enabled` or another word per unit of `units`, as `systemctl is-enabled`
        says (fewer words than units: the check failed for the rest)."""
        return ctx.chroot(["systemctl", "is-enabled", *units], check=False).split()

    @classmethod
    def medium_defaults(cls, darksite: Path) -> dict[str, Any]:
        """Answers to preselect when the live medium carries `darksite`: the choices
        of this distribution that install from it without a network. None here."""
        return {}

    @abstractmethod
    def host_tools(self, ctx: InstallContext) -> list[str]:
        """Executables the live system needs for this distribution."""

    @abstractmethod
    def zfs_compatibility(self) -> str:
        """The newest OpenZFS compatibility profile the target's ZFS imports."""

    @abstractmethod
    def bootstrap(self, ctx: InstallContext) -> None:
        """Put a base system with kernel, ZFS and bootloader packages into the target."""

    @abstractmethod
    def verify_bootstrap(self, ctx: InstallContext) -> None:
        """Kernel, ZFS module and the core packages are in the target."""

    @abstractmethod
    def configure(self, ctx: InstallContext) -> None:
        """Identity, users, network, locale, time zone, keyboard."""

    @abstractmethod
    def verify_configure(self, ctx: InstallContext) -> None:
        """What configure wrote reads back as answered."""

    @abstractmethod
    def initramfs(self, ctx: InstallContext) -> None:
        """An initramfs that imports the pool."""

    @abstractmethod
    def verify_initramfs(self, ctx: InstallContext) -> None:
        """The initramfs holds the zfs module and its import scripts."""

    def rebuild_initramfs(self, ctx: InstallContext) -> None:
        """Rebuild every installed kernel's initramfs from the target as it is now
        (sealing removes the host ID and the pool's cachefile it holds); the
        bootloader's hooks copy the result to the ESPs."""
        if not self.initramfs_rebuild:
            from kldload_tui.backend.engine.core import InstallError

            raise InstallError(f"{self.name}: no command is known to rebuild its initramfs")
        ctx.chroot(list(self.initramfs_rebuild), timeout=3600)

    @abstractmethod
    def initramfs_files(self, ctx: InstallContext) -> list[str]:
        """The paths inside the installed kernel's initramfs."""

    @abstractmethod
    def boot_files(self, ctx: InstallContext) -> tuple[str, str]:
        """The kernel and the initramfs in the target (absolute paths) that the
        bootloader loads; each distribution names them its own way."""

    @abstractmethod
    def held_packages(self, ctx: InstallContext) -> list[str]:
        """Kernel, ZFS and bootloader packages: upgraded only deliberately."""

    def hold_files(self) -> list[TargetFile]:
        """What keeps `held_packages` held on the installed system: a script at
        /usr/lib/kldload/package-holds, which kldload-firstboot starts through
        kldload-package-holds.service, and that unit. The mechanism is the package
        manager's, so it is the backend's; the default holds nothing."""
        return []

    def source_urls(self, ctx: InstallContext) -> list[str]:
        """What preflight reads to know the install's repositories can be reached:
        a small file of each (http(s):// or file://). None known: nothing to read."""
        return []

    def probe_sources(self, ctx: InstallContext,
                      probe: Callable[[str], str | None] | None = None
                      ) -> Iterator[tuple[str, str | None]]:
        """Each of `source_urls` with why it cannot be read (None: it can), read one
        at a time as asked (`probe`: `unreachable`, or a test's). Preflight reads
        them all; the distribution step stops at the first that fails."""
        probe = probe or unreachable
        for url in self.source_urls(ctx):
            yield url, probe(url)

    def check_sources(self, ctx: InstallContext) -> None:
        """Read each of `source_urls`; raise `InstallError` naming every one that
        cannot be read, and why. Called in preflight, before any write, on real
        runs only: an install that cannot fetch its packages stops here, not half-way."""
        from kldload_tui.backend.engine.core import InstallError

        failed = []
        for url, problem in self.probe_sources(ctx):
            if problem:
                failed.append(f"{url}: {problem}")
            else:
                ctx.runner.note(f"repository reachable: {url}")
        if failed:
            raise InstallError(
                f"KLDLOAD_DISTRO={self.name}: the package repositories cannot be reached from "
                "this machine; nothing was written:\n" + "\n".join(failed) +
                "\ncheck the network, or install from a darksite (the live medium's, or "
                "KLDLOAD_CUSTOM_MIRROR_URL for a mirror that can be reached)")

    def check_packages(self, ctx: InstallContext, names: Sequence[str]) -> None:
        """Each of `names` (KLDLOAD_EXTRA_PACKAGES) is exactly one package of the
        repository the install will use; raise `InstallError` naming every one that
        is not. Called in preflight, before any write, on real runs only.

        The default refuses rather than passes: a package manager may read a name
        that matches nothing as a pattern, so names are never installed unchecked.
        """
        from kldload_tui.backend.engine.core import InstallError

        raise InstallError(f"KLDLOAD_EXTRA_PACKAGES: this installer cannot check package "
                           f"names for {self.name} yet; leave KLDLOAD_EXTRA_PACKAGES empty")


# Long enough for a slow mirror's first byte, short enough that a blocked
# network is told within a minute or so.
PROBE_TIMEOUT = 20.0


def unreachable(url: str) -> str | None:
    """Why `url` cannot be read (None when it can): a file:// path must be a
    readable file, an http(s) URL must answer with its body."""
    from urllib.parse import urlsplit
    from urllib.request import url2pathname

    from kldload_tui.backend.seed.url import FetchError, fetch_url

    parts = urlsplit(url)
    if parts.scheme == "file":
        path = url2pathname(parts.path)
        try:
            with open(path, "rb") as f:
                f.read(1)
        except OSError as err:
            return err.strerror or str(err)
        return None
    try:
        fetch_url(url, timeout=PROBE_TIMEOUT, retries=1, max_bytes=16 * 2**20)
    except FetchError as err:
        # The message names the URL already; the caller puts it first once.
        return str(err).removeprefix(f"cannot reach {url}: ")
    return None


class UnsupportedDistro(DistroBackend):
    """A distribution of the seed's list that this installer cannot install yet."""

    supported = False

    def __init__(self, distro: Distro) -> None:  # no answers: nothing here reads them
        self.name = distro.value

    def _refuse(self) -> None:
        from kldload_tui.backend.engine.core import InstallError

        names = supported_distros()
        choose = " or ".join(f"KLDLOAD_DISTRO={n}" for n in names)
        raise InstallError(
            f"KLDLOAD_DISTRO={self.name}: this installer cannot install {self.name} yet "
            f"(supported: {', '.join(names)}); choose {choose}")

    def host_tools(self, ctx: InstallContext) -> list[str]:
        self._refuse()
        return []

    def zfs_compatibility(self) -> str:
        self._refuse()
        return ""

    def bootstrap(self, ctx: InstallContext) -> None:
        self._refuse()

    def verify_bootstrap(self, ctx: InstallContext) -> None:
        self._refuse()

    def configure(self, ctx: InstallContext) -> None:
        self._refuse()

    def verify_configure(self, ctx: InstallContext) -> None:
        self._refuse()

    def initramfs(self, ctx: InstallContext) -> None:
        self._refuse()

    def verify_initramfs(self, ctx: InstallContext) -> None:
        self._refuse()

    def rebuild_initramfs(self, ctx: InstallContext) -> None:
        self._refuse()

    def initramfs_files(self, ctx: InstallContext) -> list[str]:
        self._refuse()
        return []

    def boot_files(self, ctx: InstallContext) -> tuple[str, str]:
        self._refuse()
        return "", ""

    def held_packages(self, ctx: InstallContext) -> list[str]:
        self._refuse()
        return []

    def check_sources(self, ctx: InstallContext) -> None:
        self._refuse()

    def check_packages(self, ctx: InstallContext, names: Sequence[str]) -> None:
        self._refuse()


def backend_classes() -> dict[Distro, type[DistroBackend]]:
    """Each served distribution and its backend, from the modules of this package.

    Every module here is imported (helpers such as apt_sources serve nothing) and
    each `DistroBackend` subclass it defines with a non-empty `serves` is taken.
    Not cached: a scan is a directory listing, and a module added at run time
    (a test's throwaway backend) is found like any other. Two backends for one
    distribution are a programming error, reported rather than one silently winning.
    """
    found: dict[Distro, type[DistroBackend]] = {}
    for info in sorted(pkgutil.iter_modules(__path__, f"{__name__}."), key=lambda m: m.name):
        module = importlib.import_module(info.name)
        for cls in vars(module).values():
            if not (isinstance(cls, type) and issubclass(cls, DistroBackend)
                    and cls.__module__ == module.__name__ and cls.serves):
                continue  # imported from elsewhere, or serving nothing (a base class)
            for distro in cls.serves:
                other = found.setdefault(distro, cls)
                if other is not cls:
                    raise RuntimeError(f"KLDLOAD_DISTRO={distro.value} is served by both "
                                       f"{other.__module__}.{other.__qualname__} and "
                                       f"{cls.__module__}.{cls.__qualname__}")
    return found


def medium_defaults(darksite: Path | None) -> dict[str, Any]:
    """Every backend's preselections for the live medium's darksite (none without one)."""
    if darksite is None:
        return {}
    found: dict[str, Any] = {}
    for cls in dict.fromkeys(backend_classes().values()):
        found.update(cls.medium_defaults(darksite))
    return found


def live_packages() -> list[str]:
    """Every backend's `live_packages`, in the Distro enum's order, each once."""
    served = backend_classes()
    return list(dict.fromkeys(p for d in Distro if d in served for p in served[d].live_packages))


def supported_distros() -> list[str]:
    """The KLDLOAD_DISTRO values some backend installs, in the Distro enum's order."""
    served = backend_classes()
    return [d.value for d in Distro if d in served]


def distro_backend(answers: Answers) -> DistroBackend:
    """The backend for the answers' distribution; one that refuses when none serves it."""
    cls = backend_classes().get(answers.distro)
    if cls is None:
        return UnsupportedDistro(answers.distro)
    return cls(answers)
