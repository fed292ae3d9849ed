"""The udev source and the lsblk+blkid source give the same disks where both work.

Two checks:
- one world, two views: a sysfs tree, a mount table, the udev properties udevd
  would record and the lsblk/blkid output those tools would print for the
  same three disks; both sources must build identical `Disk` models.
- real loop devices on this host (root): the facts both sources can see here
  (udev has no `ID_*` properties without its daemon) agree; on a host where
  udevd runs, every field must agree.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kldload_tui.backend.engine.runner import LocalRunner, RecordingRunner
from kldload_tui.backend.machine.probe import lsblk_disks, probe_disks, udev_disks, udev_is_running

GIB = 1024**3
SECTOR = 512


@dataclass
class FakeAttributes:
    """pyudev's `Device.attributes`: sysfs files as bytes."""

    sys_path: Path

    def get(self, name: str) -> bytes | None:
        try:
            return (self.sys_path / name).read_bytes()
        except OSError:
            return None


@dataclass
class FakeUdevDevice:
    """The parts of a pyudev `Device` that `udev_disks` reads."""

    sys_path: str
    properties: dict[str, str]

    @property
    def sys_name(self) -> str:
        return Path(self.sys_path).name

    @property
    def device_node(self) -> str:
        return f"/dev/{self.sys_name}"

    @property
    def device_type(self) -> str:
        return self.properties["DEVTYPE"]

    @property
    def attributes(self) -> FakeAttributes:
        return FakeAttributes(Path(self.sys_path))


def _node(sys_root: Path, devpath: str, *, size: int, files: dict[str, str]) -> Path:
    node = sys_root / "devices" / devpath
    (node / "holders").mkdir(parents=True)
    (node / "queue").mkdir(exist_ok=True)
    (node / "size").write_text(f"{size // SECTOR}\n")
    for name, value in files.items():
        (node / name).parent.mkdir(parents=True, exist_ok=True)
        (node / name).write_text(value + "\n")
    link = sys_root / "class" / "block" / node.name
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(node)
    return node


@pytest.fixture
def world(tmp_path: Path) -> dict[str, object]:
    """Three disks: NVMe with ESP (mounted) + ZFS partition, a SATA disk held by md,
    a USB stick; described once in sysfs and once per source."""
    sys_root = tmp_path / "sys"
    nvme = "pci0000:00/0000:00:1d.0/nvme/nvme0/nvme0n1"
    sata = "pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda"
    usb = "pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/host6/target6:0:0/6:0:0:0/block/sdb"
    disk_files = {"removable": "0", "ro": "0", "queue/rotational": "0"}
    nodes = {
        "nvme0n1": _node(sys_root, nvme, size=1_000_204_886_016, files=disk_files),
        "nvme0n1p1": _node(sys_root, f"{nvme}/nvme0n1p1", size=GIB, files={
            "partition": "1", "start": "2048", "ro": "0"}),
        "nvme0n1p2": _node(sys_root, f"{nvme}/nvme0n1p2", size=900 * GIB, files={
            "partition": "2", "start": str(2048 + GIB // SECTOR), "ro": "0"}),
        "sda": _node(sys_root, sata, size=2_000_398_934_016, files={
            **disk_files, "queue/rotational": "1", "device/vendor": "ATA     ",
            "device/model": "WDC WD20EZBX-00AYRA0"}),
        "sdb": _node(sys_root, usb, size=15_376_000_000, files={
            **disk_files, "removable": "1", "device/vendor": "SanDisk ",
            "device/model": "Cruzer Blade    "}),
    }
    (nodes["sda"] / "holders" / "md127").mkdir()
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text("25 1 254:0 / / rw - ext4 /dev/vda rw\n"
                         "36 25 259:1 / /boot/efi rw,relatime - vfat /dev/nvme0n1p1 rw\n")

    esp_uuid, guid = "B1E5-03F7", "9311460519856416215"
    esp_type = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
    zfs_type = "6a898cc3-1dd2-11b2-99a6-080020736631"
    udev = [
        FakeUdevDevice(str(nodes["nvme0n1"]), {
            "DEVTYPE": "disk", "MAJOR": "259", "MINOR": "0", "ID_BUS": "nvme",
            "ID_MODEL": "Samsung_SSD_980_PRO_1TB",
            "ID_MODEL_ENC": r"Samsung\x20SSD\x20980\x20PRO\x201TB",
            "ID_SERIAL_SHORT": "S5GXNF0R123456A", "ID_WWN": "eui.002538b111a2b3c4",
            "ID_PART_TABLE_TYPE": "gpt"}),
        FakeUdevDevice(str(nodes["nvme0n1p1"]), {
            "DEVTYPE": "partition", "MAJOR": "259", "MINOR": "1", "ID_FS_TYPE": "vfat",
            "ID_FS_LABEL": "EFI_SYSTEM", "ID_FS_LABEL_ENC": r"EFI\x20SYSTEM",
            "ID_FS_UUID": esp_uuid, "ID_PART_ENTRY_NAME": r"EFI\x20system\x20partition",
            "ID_PART_ENTRY_TYPE": esp_type, "ID_PART_ENTRY_UUID": "5f0a8e2c-1"}),
        FakeUdevDevice(str(nodes["nvme0n1p2"]), {
            "DEVTYPE": "partition", "MAJOR": "259", "MINOR": "2", "ID_FS_TYPE": "zfs_member",
            "ID_FS_LABEL": "rpool", "ID_FS_LABEL_ENC": "rpool", "ID_FS_UUID": guid,
            "ID_PART_ENTRY_NAME": "rpool", "ID_PART_ENTRY_TYPE": zfs_type,
            "ID_PART_ENTRY_UUID": "5f0a8e2c-2"}),
        FakeUdevDevice(str(nodes["sda"]), {
            "DEVTYPE": "disk", "MAJOR": "8", "MINOR": "0", "ID_BUS": "ata",
            "ID_MODEL": "WDC_WD20EZBX-00AYRA0", "ID_MODEL_ENC": "WDC\\x20WD20EZBX-00AYRA0",
            "ID_SERIAL_SHORT": "WD-WX12D81A2B3C", "ID_FS_TYPE": "linux_raid_member",
            "ID_FS_LABEL": "nas:0", "ID_FS_LABEL_ENC": "nas:0", "ID_FS_UUID": "a1b2c3d4"}),
        FakeUdevDevice(str(nodes["sdb"]), {
            "DEVTYPE": "disk", "MAJOR": "8", "MINOR": "16", "ID_BUS": "usb",
            "ID_VENDOR_ENC": r"SanDisk\x20", "ID_MODEL_ENC": r"Cruzer\x20Blade\x20\x20\x20\x20",
            "ID_SERIAL_SHORT": "4C530001240517115452"}),
    ]

    def row(kname: str, size: int, **kw: object) -> dict[str, object]:
        base: dict[str, object] = {"kname": kname, "path": f"/dev/{kname}", "type": "disk",
                                   "size": size, "model": None, "vendor": None, "serial": None,
                                   "wwn": None, "tran": None, "rota": False, "rm": False,
                                   "ro": False, "mountpoints": [None]}
        base.update(kw)
        return base

    lsblk = {"blockdevices": [
        row("nvme0n1", 1_000_204_886_016, model="Samsung SSD 980 PRO 1TB",
            serial="S5GXNF0R123456A", wwn="eui.002538b111a2b3c4", tran="nvme", children=[
                row("nvme0n1p1", GIB, type="part", mountpoints=["/boot/efi"]),
                row("nvme0n1p2", 900 * GIB, type="part")]),
        row("sda", 2_000_398_934_016, model="WDC WD20EZBX-00AYRA0", vendor="ATA     ",
            serial="WD-WX12D81A2B3C", tran="sata", rota=True,
            children=[row("md127", 2_000_263_577_600, type="raid1")]),
        row("sdb", 15_376_000_000, model="Cruzer Blade", vendor="SanDisk ",
            serial="4C530001240517115452", tran="usb", rm=True),
        row("zram0", 0),
    ]}
    runner = RecordingRunner()
    runner.respond(["lsblk"], stdout=json.dumps(lsblk))
    blkid = {
        "/dev/nvme0n1": "DEVNAME=/dev/nvme0n1\nPTUUID=0b7e\nPTTYPE=gpt\n",
        "/dev/nvme0n1p1": (f"DEVNAME=/dev/nvme0n1p1\nLABEL=EFI\\ SYSTEM\nUUID={esp_uuid}\n"
                           "TYPE=vfat\nPART_ENTRY_NAME=EFI\\ system\\ partition\n"
                           f"PART_ENTRY_TYPE={esp_type}\nPART_ENTRY_UUID=5f0a8e2c-1\n"),
        "/dev/nvme0n1p2": (f"DEVNAME=/dev/nvme0n1p2\nLABEL=rpool\nUUID={guid}\n"
                           "TYPE=zfs_member\nPART_ENTRY_NAME=rpool\n"
                           f"PART_ENTRY_TYPE={zfs_type}\nPART_ENTRY_UUID=5f0a8e2c-2\n"),
        "/dev/sda": "DEVNAME=/dev/sda\nLABEL=nas:0\nUUID=a1b2c3d4\nTYPE=linux_raid_member\n",
    }
    for path, out in blkid.items():
        runner.respond(["blkid", "-p", "-o", "export", path], stdout=out)
    runner.respond(["blkid", "-p", "-o", "export", "/dev/sdb"], returncode=2)
    return {"sys_root": sys_root, "mountinfo": mountinfo, "udev": udev, "runner": runner}


def test_both_sources_build_the_same_disks(world):
    from_udev = udev_disks(world["udev"], world["sys_root"], world["mountinfo"])
    from_lsblk = lsblk_disks(world["runner"], world["sys_root"])
    assert from_lsblk == from_udev
    nvme, sda, sdb = from_udev
    assert nvme.model == "Samsung SSD 980 PRO 1TB" and nvme.transport == "nvme"
    assert [p.fstype for p in nvme.partitions] == ["vfat", "zfs_member"]
    assert nvme.partitions[0].label == "EFI SYSTEM"
    assert nvme.partitions[0].partlabel == "EFI system partition"
    assert nvme.partitions[0].mountpoints == ["/boot/efi"]
    assert nvme.partitions[1].start_bytes == 2048 * SECTOR + GIB
    assert (sda.transport, sda.rotational, sda.holders) == ("sata", True, ["md127"])
    assert (sdb.transport, sdb.removable, sdb.vendor, sdb.model) == (
        "usb", True, "SanDisk", "Cruzer Blade")


def test_lsblk_source_asks_for_explicit_columns(world):
    lsblk_disks(world["runner"], world["sys_root"])
    argv = world["runner"].plan[0].argv
    assert argv[:4] == ("lsblk", "--json", "--bytes", "--tree")
    assert argv[4] == "-o" and "KNAME" in argv[5].split(",")


def test_a_device_blkid_cannot_read_is_marked(world):
    world["runner"].respond(["blkid", "-p", "-o", "export", "/dev/sdb"], returncode=2,
                            stderr="blkid: error: /dev/sdb: Operation not permitted")
    world["runner"].respond(["blkid", "-p", "-o", "export", "/dev/sda"], returncode=8)
    disks = {d.path: d for d in lsblk_disks(world["runner"], world["sys_root"])}
    assert disks["/dev/sdb"].probe_error == "Operation not permitted"
    assert disks["/dev/sda"].ambivalent


# Real loop devices ------------------------------------------------------------

@pytest.fixture
def loops(tmp_path: Path) -> Iterator[list[str]]:
    """An empty, an ext4 (mounted) and a GPT loop device; all undone at the end."""
    run = LocalRunner().run
    attached: list[str] = []
    mnt = tmp_path / "mnt"
    mounted = False
    try:
        for i in range(3):
            image = tmp_path / f"d{i}.img"
            with open(image, "wb") as f:
                f.truncate(128 * 1024**2)
            res = run(["losetup", "--find", "--show", str(image)], check=False)
            if res.returncode != 0:
                pytest.skip(f"cannot attach a loop device here: {res.stderr.strip()}")
            attached.append(res.stdout.strip())
        run(["mkfs.ext4", "-q", attached[1]])
        mnt.mkdir()
        run(["mount", "-t", "ext4", attached[1], str(mnt)])
        mounted = True
        run(["sgdisk", "-n1:0:+16M", attached[2]])
        if udev_is_running():
            run(["udevadm", "settle"], check=False)
        yield attached
    finally:
        if mounted:
            run(["umount", str(mnt)], check=False)
        for dev in attached:
            run(["losetup", "--detach", dev], check=False)


# What pyudev sees without udevd: sysfs and the mount table, no ID_* properties.
SYSFS_FIELDS = ("path", "size_bytes", "rotational", "removable", "read_only", "transport",
                "mountpoints", "holders", "swap", "by_id", "by_id_synthesised")


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: loop devices and mounts")
@pytest.mark.skipif(shutil.which("losetup") is None, reason="losetup is not installed")
def test_sources_agree_on_real_loop_devices(loops):
    by_udev = {d.path: d for d in probe_disks(source="udev")}
    by_lsblk = {d.path: d for d in probe_disks(source="lsblk")}
    for dev in loops:
        u, b = by_udev[dev], by_lsblk[dev]
        if udev_is_running():
            assert u == b
        else:
            assert u.model_dump(include=set(SYSFS_FIELDS)) == b.model_dump(
                include=set(SYSFS_FIELDS)), dev
    assert by_lsblk[loops[1]].fstype == "ext4" and by_lsblk[loops[2]].partition_table == "gpt"
    assert by_udev[loops[1]].mountpoints == by_lsblk[loops[1]].mountpoints != []
