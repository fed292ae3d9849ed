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
