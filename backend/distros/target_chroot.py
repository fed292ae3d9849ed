"""The target as a place to run commands in: API filesystems and a resolver.

Every distribution's later commands run chrooted into the target (package
scriptlets, useradd, the initramfs tool), and they need /dev, /proc, /sys and
a private /run there, whichever tool bootstrapped it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kldload_tui.backend.engine.core import InstallContext

def mount_api_filesystems(ctx: InstallContext) -> None:
    """/dev, /proc, /sys and a private /run for commands run in the target."""
    for source, where, args in (
        ("/dev", "/dev", ["--rbind"]),
        ("proc", "/proc", ["-t", "proc"]),
        ("/sys", "/sys", ["--rbind"]),
        ("tmpfs", "/run", ["-t", "tmpfs", "-o", "mode=0755"]),
    ):
        dest = str(ctx.path(where))
        ctx.run(["mount", *args, source, dest])
        ctx.mounts.append(dest)
        if "--rbind" in args:
            # Unmounting the target later must not unmount the live system's own.
            ctx.run(["mount", "--make-rslave", dest])
