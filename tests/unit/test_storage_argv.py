"""The storage commands as argv lists (curtin style: pure builders, no execution)."""

import pytest

from kldload_tui.backend.answers.model import Topology
from kldload_tui.backend.phases.storage_argv import (
    choose_compatibility,
    dataset_specs,
    parse_sgdisk_print,
    partition_argv,
    partition_path,
    vdev_args,
    zfs_create_argv,
    zpool_create_argv,
)


@pytest.mark.parametrize(("disk", "n", "want"), [
    ("/dev/sda", 2, "/dev/sda2"),
    ("/dev/nvme0n1", 2, "/dev/nvme0n1p2"),
    ("/dev/loop7", 1, "/dev/loop7p1"),
    ("/dev/mmcblk0", 1, "/dev/mmcblk0p1"),
    ("/dev/disk/by-id/ata-X_Y", 2, "/dev/disk/by-id/ata-X_Y-part2"),
])
def test_partition_path(disk, n, want):
    assert partition_path(disk, n) == want


def test_partition_argv_with_and_without_esp():
    assert partition_argv("/dev/sda", with_esp=True) == [
        "sgdisk", "--set-alignment=1", "--new=1:1M:+512M", "--typecode=1:EF00",
        "--change-name=1:EFI", "--new=3:24K:1023K", "--typecode=3:EF02",
        "--change-name=3:BIOS boot", "--new=2:0:0", "--typecode=2:BF00",
        "--change-name=2:rpool", "/dev/sda"]
    assert partition_argv("/dev/nvme0n1", with_esp=False) == [
        "sgdisk", "--new=1:0:0", "--typecode=1:BF00", "--change-name=1:rpool", "/dev/nvme0n1"]


@pytest.mark.parametrize(("topology", "n", "want"), [
    (Topology.SINGLE, 1, ["d0"]),
    (Topology.MIRROR, 2, ["mirror", "d0", "d1"]),
    (Topology.MIRROR, 3, ["mirror", "d0", "d1", "d2"]),
    (Topology.RAIDZ1, 3, ["raidz1", "d0", "d1", "d2"]),
    (Topology.MIRROR_STRIPE, 4, ["mirror", "d0", "d1", "mirror", "d2", "d3"]),
])
def test_vdevs(topology, n, want):
    assert vdev_args(topology, [f"d{i}" for i in range(n)], []) == want


def test_special_vdevs_are_mirrored_when_two():
    assert vdev_args(Topology.SINGLE, ["d0"], ["s0"]) == ["d0", "special", "s0"]
    assert vdev_args(Topology.RAIDZ1, ["a", "b", "c"], ["s0", "s1"]) == [
        "raidz1", "a", "b", "c", "special", "mirror", "s0", "s1"]


def test_zpool_create_has_the_design_properties_and_no_secret():
    argv = zpool_create_argv("rpool", altroot="/mnt/k", topology=Topology.SINGLE, data=["d"],
                             special=[], compatibility="openzfs-2.1-linux", encrypted=True)
    text = " ".join(argv)
    for prop in ("ashift=12", "autotrim=on", "compatibility=openzfs-2.1-linux",
                 "compression=lz4", "acltype=posixacl", "xattr=sa", "dnodesize=auto",
                 "normalization=formD", "relatime=on", "mountpoint=none",
                 "encryption=aes-256-gcm", "keyformat=passphrase", "keylocation=prompt"):
        assert prop in text
    assert argv[-4:] == ["-R", "/mnt/k", "rpool", "d"]


def test_compatibility_is_what_both_sides_know():
    assert choose_compatibility("openzfs-2.2-linux", None) == "openzfs-2.2-linux"
    live = {"openzfs-2.0-linux", "openzfs-2.1-linux", "grub2"}
    assert choose_compatibility("openzfs-2.2-linux", live) == "openzfs-2.1-linux"
    assert choose_compatibility("openzfs-2.1-linux", live) == "openzfs-2.1-linux"


def test_datasets_boot_environment_layout():
    specs = {s.name: dict(s.properties) for s in dataset_specs("rpool", "debian")}
    assert specs["rpool/ROOT"] == {"canmount": "off", "mountpoint": "none"}
    assert specs["rpool/ROOT/debian"] == {"canmount": "noauto", "mountpoint": "/"}
    assert list(specs)[:2] == ["rpool/ROOT", "rpool/ROOT/debian"]
    assert zfs_create_argv(dataset_specs("rpool", "debian")[2]) == [
        "zfs", "create", "-o", "mountpoint=/home", "rpool/home"]


def test_parse_sgdisk_print():
    text = """Disk /dev/loop0: 4194304 sectors, 2.0 GiB
Number  Start (sector)    End (sector)  Size       Code  Name
   1            2048         1050623   512.0 MiB   EF00  EFI
   2         1050624         4194270   1.5 GiB     BF00  rpool
"""
    entries = parse_sgdisk_print(text)
    assert [(e.number, e.code, e.name) for e in entries] == [(1, "EF00", "EFI"),
                                                             (2, "BF00", "rpool")]
    assert entries[0].end_sector - entries[0].start_sector + 1 == 1048576
