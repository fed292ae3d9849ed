"""Package holds on the dnf family (Rocky, CentOS Stream, RHEL, Fedora).

The installed system locks its kernel, ZFS and bootloader packages with the
versionlock plugin of dnf (package-holds with its dnf part) at first boot and
on every boot after, and reads every lock back. The plugin itself is one of
the held system's packages (`VERSIONLOCK_PACKAGE`), installed with them.
"""

from __future__ import annotations

from kldload_tui.backend.target.files import LIB_DIR, UNIT_DIR, TargetFile, template

# python3-dnf-plugin-versionlock on EL 9 and Fedora < 41 (dnf 4).
VERSIONLOCK_PACKAGE = "python3-dnf-plugin-versionlock"


def dnf_hold_files() -> list[TargetFile]:
    """The script that locks with dnf versionlock, and the unit that runs it on every boot."""
    return [
        TargetFile(f"{LIB_DIR}/package-holds",
                   template("package-holds", hold=template("package-holds-dnf")), 0o755),
        TargetFile(f"{UNIT_DIR}/kldload-package-holds.service",
                   template("kldload-package-holds.service",
                            before="dnf-automatic.service dnf-automatic-install.service")),
    ]
