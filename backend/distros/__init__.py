"""Per-distribution knowledge: how to bootstrap, configure and boot a target.

The engine's phases are the same for every distribution; what differs (the
bootstrap tool, package names, where network configuration lives) is asked of
a `DistroBackend`. Only Debian is implemented; other distributions of the
seed's list are refused in preflight with a clear message, never half-done.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING

from kldload_tui.backend.answers.model import Answers, Distro

if TYPE_CHECKING:
    from kldload_tui.backend.engine.core import InstallContext


class DistroBackend(ABC):
    """What the engine needs to know about one distribution."""

    name: str
    supported: bool = True

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

    @abstractmethod
    def held_packages(self, ctx: InstallContext) -> list[str]:
        """Kernel, ZFS and bootloader packages: upgraded only deliberately."""

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


class UnsupportedDistro(DistroBackend):
    """A distribution of the seed's list that this installer cannot install yet."""

    supported = False

    def __init__(self, distro: Distro) -> None:
        self.name = distro.value

    def _refuse(self) -> None:
        from kldload_tui.backend.engine.core import InstallError

        raise InstallError(
            f"KLDLOAD_DISTRO={self.name}: this installer cannot install {self.name} yet "
            "(supported: debian); choose KLDLOAD_DISTRO=debian")

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

    def held_packages(self, ctx: InstallContext) -> list[str]:
        self._refuse()
        return []

    def check_packages(self, ctx: InstallContext, names: Sequence[str]) -> None:
        self._refuse()


def distro_backend(answers: Answers) -> DistroBackend:
    """The backend for the answers' distribution."""
    if answers.distro is Distro.DEBIAN:
        from kldload_tui.backend.distros.debian import DebianBackend

        return DebianBackend(answers)
    return UnsupportedDistro(answers.distro)
