"""KLDLOAD_INITRAMFS_MODULES=dep on a ZFS root: drivers read from a fake sysfs.

Found by the e2e: initramfs-tools' MODULES=dep stops with "failed to determine
device for /" on a ZFS root, so the kernel package failed to configure.
"""

import os
from pathlib import Path

from kldload_tui.backend.answers.file import parse_answers
from kldload_tui.backend.engine.core import InstallOptions, plan_install
from kldload_tui.backend.machine.model import load_bundled_machine
from kldload_tui.backend.target.initramfs_drivers import (
    HOOK_PATH,
    dep_modules,
    disk_modules,
    keyboard_modules,
)

from .test_golden_plans import GOLDEN


def _bind(sys_root: Path, device: str, driver: str, module: str | None) -> None:
    """devices/<device>/driver -> bus/x/drivers/<driver>, whose module -> module/<module>."""
    drv = sys_root / "bus/x/drivers" / driver
    drv.mkdir(parents=True, exist_ok=True)
    if module is not None and not (drv / "module").exists():
        (sys_root / "module" / module).mkdir(parents=True, exist_ok=True)
        os.symlink(sys_root / "module" / module, drv / "module")
    os.symlink(drv, sys_root / "devices" / device / "driver")


def fake_sysfs(root: Path) -> Path:
    """A virtio disk, an NVMe disk, a SATA disk, a USB keyboard and a mouse."""
    sys_root = root / "sys"
    devices = {
        "vdb": "pci0000:00/0000:00:02.0/virtio1/block/vdb",
        "nvme0n1": "pci0000:00/0000:00:03.0/nvme/nvme0/nvme0n1",
        "sda": "pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda",
    }
    for name, rel in devices.items():
        (sys_root / "devices" / rel).mkdir(parents=True)
        (sys_root / "class/block").mkdir(parents=True, exist_ok=True)
        os.symlink(sys_root / "devices" / rel, sys_root / "class/block" / name)
    _bind(sys_root, "pci0000:00/0000:00:02.0/virtio1", "virtio_blk", "virtio_blk")
    _bind(sys_root, "pci0000:00/0000:00:02.0", "virtio-pci", "virtio_pci")
    _bind(sys_root, "pci0000:00/0000:00:03.0", "nvme", "nvme")
    _bind(sys_root, "pci0000:00/0000:00:1f.2", "ahci", "ahci")
    _bind(sys_root, "pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0", "sd", "sd_mod")
    _bind(sys_root, "pci0000:00/0000:00:1f.2/ata1", "ata_port", None)  # built in
    inputs = {"input0": ("pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/0003:1:2.0001/input/input0",
                         "KEY=1000000000007 ff9f207ac14057ff febeffdfffefffff fffffffffffffffe"),
              "input1": ("pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/0003:1:3.0002/input/input1",
                         "KEY=1f0000 0 0 0 0")}
    (sys_root / "class/input").mkdir(parents=True)
    for name, (rel, key) in inputs.items():
        (sys_root / "devices" / rel).mkdir(parents=True)
        (sys_root / "devices" / rel / "uevent").write_text(f"PRODUCT=3/1/2/110\n{key}\n")
        os.symlink(sys_root / "devices" / rel, sys_root / "class/input" / name)
    _bind(sys_root, "pci0000:00/0000:00:14.0", "xhci_hcd", "xhci_pci")
    _bind(sys_root, "pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0", "usbhid", "usbhid")
    _bind(sys_root, "pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0", "usbhid", "usbhid")
    _bind(sys_root, "pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/0003:1:2.0001", "hid-generic",
          "hid_generic")
    return sys_root


def test_disk_modules_walk_up_to_the_bus(tmp_path):
    sys_root = fake_sysfs(tmp_path)
    assert disk_modules("vdb", sys_root) == ["virtio_blk", "virtio_pci"]
    assert disk_modules("nvme0n1", sys_root) == ["nvme"]
    assert disk_modules("sda", sys_root) == ["sd_mod", "ahci"]  # libata's port: built in


def test_only_keyboards_count(tmp_path):
    # input1 (a mouse: no letter keys) adds nothing; the keyboard its HID stack.
    assert keyboard_modules(fake_sysfs(tmp_path)) == ["hid_generic", "usbhid", "xhci_pci"]


def test_dep_modules_once_each_disks_first(tmp_path):
    sys_root = fake_sysfs(tmp_path)
    assert dep_modules(["/dev/vdb", "/dev/sda", "/dev/vdb"], sys_root) == [
        "virtio_blk", "virtio_pci", "sd_mod", "ahci", "hid_generic", "usbhid", "xhci_pci"]
    assert dep_modules([], tmp_path / "no-sys") == []


def test_plan_with_dep_lists_modules_and_never_asks_initramfs_tools_for_dep():
    answers = parse_answers("KLDLOAD_DISTRO=debian\nKLDLOAD_DISK=/dev/vda\n"
                            "KLDLOAD_HOSTNAME=vm-01\nKLDLOAD_INITRAMFS_MODULES=dep\n").answers
    assert answers is not None
    plan = plan_install(answers, load_bundled_machine("one-disk-vm"),
                        options=InstallOptions(live_root=GOLDEN / "live-root"))
    writes = {s.path: s for s in plan.plan if s.kind == "write"}
    conf = writes["/mnt/kldload/etc/initramfs-tools/conf.d/kldload.conf"]
    assert "\nMODULES=list\n" in (conf.content or "")
    hook = writes[f"/mnt/kldload/{HOOK_PATH}"]
    assert hook.mode == 0o755 and "manual_add_modules" in (hook.content or "")
    # Written before the transaction whose kernel postinst builds the first initramfs.
    order = [s.path or " ".join(s.argv) for s in plan.plan]
    kernel = next(i for i, s in enumerate(order) if "linux-image-amd64" in s)
    assert order.index(f"/mnt/kldload/{HOOK_PATH}") < kernel
