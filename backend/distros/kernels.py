"""The kernels a bootstrap installed, found where the distributions that ship the
image inside the modules directory keep it (/usr/lib/modules/<version>/vmlinuz:
the dnf family, Arch)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kldload_tui.backend.engine.core import InstallContext


def newest_module_kernel(ctx: InstallContext) -> str:
    """The newest version under the target's /usr/lib/modules with a vmlinuz; a
    dry run's placeholder in a plan. Raises `InstallError` when there is none."""
    if ctx.dry_run:
        return "KERNEL-VERSION"
    from kldload_tui.backend.engine.core import InstallError

    modules = ctx.path("/usr/lib/modules")
    found = sorted(p.name for p in modules.iterdir() if (p / "vmlinuz").is_file()) \
        if modules.is_dir() else []
    if not found:
        raise InstallError(f"the kernel transaction left no kernel in {modules}")
    return found[-1]


def check_kernel_and_zfs(ctx: InstallContext, kernel: str) -> None:
    """The bootstrap left `kernel` (a path in the target) for `ctx.kernel_version`,
    and a zfs module for that version; `VerifyError` naming what is missing."""
    from kldload_tui.backend.engine.core import VerifyError

    kver = ctx.kernel_version
    image = ctx.path(kernel)
    if not kver or not image.is_file():
        raise VerifyError(f"no kernel {image}")
    modules = ctx.path(f"/usr/lib/modules/{kver}")
    if not any(modules.rglob("zfs.ko*")):
        raise VerifyError(f"the ZFS module for {kver} is not in {modules}")
