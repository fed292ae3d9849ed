"""kldload-package-holds, whatever the package manager: the shared script
(templates/package-holds: the list, the name checks) with the manager's part
spliced in, and the unit that runs it on every boot."""

from __future__ import annotations

from kldload_tui.backend.target.files import LIB_DIR, UNIT_DIR, TargetFile, template


def package_hold_files(manager_part: str, *, before: str) -> list[TargetFile]:
    """kldload-package-holds with the package manager's part (a template) spliced
    in, and its unit, ordered before the units in `before` (automatic upgrades)."""
    return [
        TargetFile(f"{LIB_DIR}/package-holds",
                   template("package-holds", hold=template(manager_part)), 0o755),
        TargetFile(f"{UNIT_DIR}/kldload-package-holds.service",
                   template("kldload-package-holds.service", before=before)),
    ]
