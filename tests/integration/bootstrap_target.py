"""A real target directory for the bootstrap tests of the package-manager families
(test_dnf_bootstrap, test_fedora_bootstrap, test_pacman_bootstrap): a context that
runs commands for real, and the unmounting of what the bootstrap mounted."""

from __future__ import annotations

import subprocess
from pathlib import Path

from kldload_tui.backend.distros import DistroBackend
from kldload_tui.backend.engine.core import InstallContext, InstallOptions
from kldload_tui.backend.engine.runner import LocalRunner
from kldload_tui.backend.machine.model import load_bundled_machine


def target_context(tmp: Path, backend: DistroBackend, darksite: Path | None, *,
                   machine: str = "server-3nvme-usb-seed") -> InstallContext:
    """An install context for `backend` whose target is `tmp`/target, logging to
    `tmp`/install.log, its commands run for real."""
    target = tmp / "target"
    target.mkdir()
    return InstallContext(answers=backend.answers, machine=load_bundled_machine(machine),
                          runner=LocalRunner(log_path=tmp / "install.log"),
                          options=InstallOptions(target_root=target, darksite=darksite),
                          distro=backend)


def unmount(ctx: InstallContext) -> None:
    """Lazily unmount, innermost first, every API filesystem the bootstrap mounted."""
    for where in reversed(ctx.mounts):
        subprocess.run(["umount", "-R", "-l", where], check=False, capture_output=True)
    ctx.mounts.clear()
