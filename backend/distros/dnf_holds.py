"""Package holds on the dnf family (Rocky, CentOS Stream, RHEL, Fedora).

The installed system locks its kernel, ZFS and bootloader packages with dnf's
versionlock (package-holds with its dnf part) at first boot and on every boot
after, and reads every lock back. dnf 4 (EL) has it as a plugin, one of the
held system's packages (`VERSIONLOCK_PACKAGE`), installed with them; dnf5
(Fedora 41 and later) has it built in (`DNF5_PACKAGE`), with another lock file
and another listing, so its part is a template of its own.
"""

from __future__ import annotations

from kldload_tui.backend.distros.holds import package_hold_files
from kldload_tui.backend.target.files import TargetFile

# python3-dnf-plugin-versionlock on EL 9 and Fedora < 41 (dnf 4).
VERSIONLOCK_PACKAGE = "python3-dnf-plugin-versionlock"
# dnf5 itself on Fedora 41 and later: that package has no plugin to add.
DNF5_PACKAGE = "dnf5"


def dnf_hold_files() -> list[TargetFile]:
    """The script that locks with dnf versionlock, and the unit that runs it on every boot."""
    return package_hold_files("package-holds-dnf",
                              before="dnf-automatic.service dnf-automatic-install.service")


def dnf5_hold_files() -> list[TargetFile]:
    """The same script and unit for dnf5, whose versionlock lists its locks its own way."""
    # dnf5's automatic upgrades: dnf-automatic*.service since dnf5 5.2,
    # dnf5-automatic.service before.
    return package_hold_files("package-holds-dnf5",
                              before="dnf-automatic.service dnf-automatic-install.service "
                                     "dnf5-automatic.service")
