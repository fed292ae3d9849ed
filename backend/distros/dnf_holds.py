"""Package holds on the dnf family (Rocky, CentOS Stream, RHEL, Fedora).

The installed system locks its kernel, ZFS and bootloader packages with the
versionlock plugin of dnf (package-holds with its dnf part) at first boot and
on every boot after, and reads every lock back. The plugin itself is one of
the held system's packages (`VERSIONLOCK_PACKAGE`), installed with them.
"""

from __future__ import annotations

from kldload_tui.backend.distros.holds import package_hold_files
from kldload_tui.backend.target.files import TargetFile

# python3-dnf-plugin-versionlock on EL 9 and Fedora < 41 (dnf 4).
VERSIONLOCK_PACKAGE = "python3-dnf-plugin-versionlock"


def dnf_hold_files() -> list[TargetFile]:
    """The script that locks with dnf versionlock, and the unit that runs it on every boot."""
    return package_hold_files("package-holds-dnf",
                              before="dnf-automatic.service dnf-automatic-install.service")
