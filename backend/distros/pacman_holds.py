"""Package holds on Arch: pacman's IgnorePkg.

The installed system's /etc/pacman.conf includes /etc/pacman.d/kldload-holds.conf
(pacman_conf.HOLDS_CONF); kldload-package-holds (package-holds with its pacman
part) writes the held packages there as IgnorePkg at first boot and on every boot
after, and reads them back with pacman-conf, which parses pacman.conf and its
includes as pacman itself does. `pacman -Syu` then skips them, and says so.
"""

from __future__ import annotations

from kldload_tui.backend.distros.holds import package_hold_files
from kldload_tui.backend.target.files import TargetFile

# What the install writes there before the first boot: pacman refuses to read a
# pacman.conf whose Include names a file that is not there.
EMPTY_HOLDS = "# Written by kldload-package-holds at boot (IgnorePkg).\n"


def pacman_hold_files() -> list[TargetFile]:
    """The script that holds with IgnorePkg, and the unit that runs it on every boot.
    Arch has no unattended upgrade service of its own to order before."""
    return package_hold_files("package-holds-pacman", before="multi-user.target")
