"""The kernel modules `KLDLOAD_INITRAMFS_MODULES=dep` puts into the initramfs.

initramfs-tools' own `MODULES=dep` cannot work on a ZFS root: it looks for the
block device under `/`, and a dataset is none (Debian 12's mkinitramfs stops
with "failed to determine device for /", so the kernel package fails to
configure). kldload does what dep means itself: it reads from sysfs the
drivers between each target disk and its bus, and those of the keyboards (the
passphrase of an encrypted pool is typed in the initramfs), and the target
gets `MODULES=list` plus a hook that adds exactly those modules. The zfs hook
adds ZFS itself.

Drivers built into the kernel have no module and need nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

HOOK_PATH = "etc/initramfs-tools/hooks/kldload-drivers"
SYS = Path("/sys")
# initramfs-tools' own test for a keyboard (hook-functions, dep_add_modules): an
# input device that can send at least the keys 1-31.
_KEYBOARD = re.compile(r"^KEY=.*fffffff[ef]$", re.MULTILINE)
_MODULE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def device_modules(device: Path, sys_root: Path = SYS) -> list[str]:
    """Modules of the drivers bound to `device` and every device above it."""
    devices = (sys_root / "devices").resolve()
    here = device.resolve()
    found: list[str] = []
    while here != devices and devices in here.parents:
        module = here / "driver" / "module"
        if module.exists():
            name = module.resolve().name
            if _MODULE_NAME.match(name) and name not in found:
                found.append(name)
        here = here.parent
    return found


def disk_modules(kernel_name: str, sys_root: Path = SYS) -> list[str]:
    """Modules a disk needs to show up: `vdb` -> virtio_blk, virtio_pci."""
    return device_modules(sys_root / "class" / "block" / kernel_name, sys_root)


def keyboard_modules(sys_root: Path = SYS) -> list[str]:
    """Modules of the keyboards' drivers (USB HID and its host controller, ...)."""
    found: list[str] = []
    inputs = sys_root / "class" / "input"
    for device in sorted(inputs.glob("input*")) if inputs.is_dir() else []:
        try:
            uevent = (device / "uevent").read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if _KEYBOARD.search(uevent):
            found += [m for m in device_modules(device, sys_root) if m not in found]
    return found


def dep_modules(disks: Iterable[str], sys_root: Path = SYS) -> list[str]:
    """The modules for `MODULES=dep` on a ZFS root: the target disks' and keyboards'."""
    found: list[str] = []
    for disk in disks:
        found += [m for m in disk_modules(os.path.basename(disk), sys_root) if m not in found]
    found += [m for m in keyboard_modules(sys_root) if m not in found]
    return found
