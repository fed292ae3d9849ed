"""Safety classification, stable names and in-use facts, without touching real disks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kldload_tui.backend.engine.runner import RecordingRunner
from kldload_tui.backend.machine.disks import (
    DEFAULT_MIN_SIZE_BYTES,
    GIB,
    by_id_links,
    classify,
    classify_machine,
    find_live_devices,
    imported_pools,
    pool_is_imported,
    preferred_by_id,
    read_swaps,
    size_text,
    synthesise_by_id,
    udev_escape,
)
from kldload_tui.backend.machine.model import Disk, Partition, load_bundled_machine
from kldload_tui.cli import main
from kldload_tui.commands.disks import parse_size

BIG = 100 * GIB


def disk(path: str = "/dev/sdb", size: int = BIG, **kw: object) -> Disk:
    return Disk.model_validate({"path": path, "size_bytes": size, **kw})


def part(path: str, number: int, **kw: object) -> Partition:
    return Partition.model_validate({"path": path, "size_bytes": GIB, "number": number, **kw})


def judge(d: Disk, *, live: tuple[str, ...] = (), seed: str | None = None,
          min_size: int = DEFAULT_MIN_SIZE_BYTES):
    return classify(d, live_devices=set(live), seed_device=seed, min_size_bytes=min_size)


def test_an_empty_disk_is_installable_and_empty():
    v = judge(disk())
    assert v.installable and v.empty and v.reasons == [] and v.contents == []


@pytest.mark.parametrize(("kw", "what"), [
    ({"partition_table": "gpt"}, "gpt partition table"),
    ({"fstype": "ext4", "label": "data"}, "ext4 'data' on /dev/sdb"),
    ({"fstype": "zfs_member", "label": "rpool"}, "member of ZFS pool 'rpool' on /dev/sdb"),
    ({"ambivalent": True}, "more than one signature on /dev/sdb"),
    ({"partitions": [{"path": "/dev/sdb1", "size_bytes": 1, "number": 1}]}, "1 partition(s)"),
])
def test_anything_on_a_disk_makes_it_not_empty_but_still_installable(kw, what):
    v = judge(disk(**kw))
    assert v.installable and not v.empty
    assert what in v.contents


def test_a_pool_member_of_an_imported_pool_is_not_installable():
    d = disk(partition_table="gpt", partitions=[
        part("/dev/sdb1", 1, fstype="zfs_member", label="tank", zfs_pool_imported=True)])
    v = judge(d)
    assert not v.installable and not v.empty
    assert v.reasons == ["member of the imported ZFS pool 'tank' (/dev/sdb1)"]


@pytest.mark.parametrize(("kw", "reason"), [
    ({"mountpoints": ["/mnt/data"]}, "mounted: /dev/sdb on /mnt/data"),
    ({"swap": True}, "in use as swap (/dev/sdb)"),
    ({"holders": ["md127"]}, "in use by md RAID (md127 on /dev/sdb)"),
    ({"holders": ["dm-0"]}, "in use by device-mapper (dm-0 on /dev/sdb)"),
    ({"holders": ["bcache0"]}, "in use by bcache0 (on /dev/sdb)"),
    ({"read_only": True}, "read-only device"),
    ({"probe_error": "Operation not permitted"},
     "contents could not be read (/dev/sdb: Operation not permitted)"),
])
def test_in_use_reasons_on_the_disk(kw, reason):
    v = judge(disk(**kw))
    assert not v.installable and v.reasons == [reason]


def test_in_use_reasons_on_a_partition_and_all_are_listed():
    d = disk(partition_table="gpt", partitions=[
        part("/dev/sdb1", 1, fstype="vfat", mountpoints=["/boot/efi"]),
        part("/dev/sdb2", 2, swap=True),
        part("/dev/sdb3", 3, holders=["dm-1"]),
    ])
    v = judge(d, live=("/dev/sdb1",), seed="/dev/sdb2", min_size=2 * BIG)
    assert v.reasons == [
        "holds the running live system (/dev/sdb1)",
        "is the seed disk (/dev/sdb2)",
        "mounted: /dev/sdb1 on /boot/efi",
        "in use as swap (/dev/sdb2)",
        "in use by device-mapper (dm-1 on /dev/sdb3)",
        f"too small: {size_text(BIG)}, needs at least {size_text(2 * BIG)}",
    ]


def test_seed_by_by_id_path_and_whole_disk():
    by_id = "/dev/disk/by-id/usb-SanDisk_Cruzer_Blade_4C53-0:0"
    d = disk(by_id=by_id)
    assert judge(d, seed=by_id).reasons == [f"is the seed disk ({by_id})"]
    assert judge(d, seed="/dev/sdb").reasons == ["is the seed disk (/dev/sdb)"]


@pytest.mark.parametrize("other", ["/dev/sdb1", "/dev/sdba", "/dev/sd", "sdb", "/dev/sdb "])
def test_identities_are_compared_exactly(other):
    d = disk(partitions=[part("/dev/sdb2", 2)])
    assert judge(d, live=(other,), seed=other).installable


def test_size_limit_is_inclusive():
    assert judge(disk(size=DEFAULT_MIN_SIZE_BYTES)).installable
    assert not judge(disk(size=DEFAULT_MIN_SIZE_BYTES - 1)).installable


@pytest.mark.parametrize(("name", "installable", "not_empty"), [
    ("one-disk-vm", {"/dev/vda"}, set()),
    ("server-3nvme-usb-seed", {"/dev/nvme0n1", "/dev/nvme1n1", "/dev/nvme2n1"}, set()),
    ("live-only", set(), set()),
    ("old-rpool", {"/dev/sda", "/dev/sdb"}, {"/dev/sda"}),
])
def test_bundled_machines(name, installable, not_empty):
    verdicts = classify_machine(load_bundled_machine(name), min_size_bytes=DEFAULT_MIN_SIZE_BYTES)
    assert {p for p, v in verdicts.items() if v.installable} == installable
    assert {p for p, v in verdicts.items() if v.installable and not v.empty} == not_empty


def test_the_seed_stick_and_the_live_medium_are_refused_for_those_reasons():
    m = load_bundled_machine("server-3nvme-usb-seed")
    verdicts = classify_machine(m, min_size_bytes=GIB)
    assert verdicts["/dev/sda"].reasons == ["is the seed disk (/dev/sda1)"]
    assert "holds the running live system (/dev/sr0)" in verdicts["/dev/sr0"].reasons
    live = classify_machine(load_bundled_machine("live-only"), min_size_bytes=GIB)
    assert live["/dev/sda"].reasons[0] == "holds the running live system (/dev/sda1)"


# Stable names ---------------------------------------------------------------

@pytest.mark.parametrize(("kw", "expected"), [
    ({"transport": "nvme", "model": "Samsung SSD 980 PRO 1TB", "serial": "S5GXNF0R123456A"},
     "nvme-Samsung_SSD_980_PRO_1TB_S5GXNF0R123456A"),
    ({"transport": "sata", "model": "Samsung SSD 860 EVO 500GB", "serial": "S3Z1NB0K812345L"},
     "ata-Samsung_SSD_860_EVO_500GB_S3Z1NB0K812345L"),
    ({"transport": "usb", "vendor": "SanDisk", "model": "Cruzer Blade",
      "serial": "4C530001240517115452"}, "usb-SanDisk_Cruzer_Blade_4C530001240517115452-0:0"),
    ({"transport": "virtio", "model": None, "serial": "kldload-vda"}, "virtio-kldload-vda"),
    ({"transport": "sas", "model": "X", "serial": "Y", "wwn": "0x5000c500a1b2c3d4"},
     "wwn-0x5000c500a1b2c3d4"),
])
def test_synthesised_by_id_names_follow_udev(kw, expected):
    assert synthesise_by_id(**kw) == "/dev/disk/by-id/" + expected


def test_no_serial_no_synthesised_name():
    assert synthesise_by_id(transport="nvme", model="Samsung", serial=None) is None
    assert synthesise_by_id(transport="loop", model=None, serial=None) is None


def test_udev_escape():
    assert udev_escape("  WDC  WD20EZBX-00AYRA0 ") == "WDC_WD20EZBX-00AYRA0"
    assert udev_escape("a/b*c") == "a_b_c"


def test_preferred_by_id_picks_model_serial_names_first():
    links = ["/dev/disk/by-id/nvme-eui.002538b111a2b3c4",
             "/dev/disk/by-id/nvme-Samsung_SSD_980_PRO_1TB_S5GXNF0R123456A",
             "/dev/disk/by-id/nvme-Samsung_SSD_980_PRO_1TB_S5GXNF0R123456A_1"]
    assert preferred_by_id(links) == links[1]
    assert preferred_by_id(["/dev/disk/by-id/wwn-0x5", "/dev/disk/by-id/ata-X_Y"]) == \
        "/dev/disk/by-id/ata-X_Y"
    assert preferred_by_id([]) is None


def test_by_id_links_group_by_target_and_skip_partitions(tmp_path: Path):
    (tmp_path / "sda").touch()
    (tmp_path / "sda1").touch()
    links = tmp_path / "by-id"
    links.mkdir()
    (links / "ata-X_Y").symlink_to(tmp_path / "sda")
    (links / "wwn-0x5").symlink_to(tmp_path / "sda")
    (links / "ata-X_Y-part1").symlink_to(tmp_path / "sda1")
    found = by_id_links(links)
    assert sorted(found[str(tmp_path / "sda")]) == ["/dev/disk/by-id/ata-X_Y",
                                                    "/dev/disk/by-id/wwn-0x5"]
    assert str(tmp_path / "sda1") not in found
    assert by_id_links(tmp_path / "missing") == {}


# In-use facts ---------------------------------------------------------------

def test_read_swaps_keeps_devices_only(tmp_path: Path):
    swaps = tmp_path / "swaps"
    swaps.write_text("Filename\tType\tSize\tUsed\tPriority\n"
                     "/dev/sdb2  partition\t8388604\t0\t-2\n"
                     "/swapfile  file\t1048572\t0\t-3\n")
    assert read_swaps(swaps) == {"/dev/sdb2"}
    assert read_swaps(tmp_path / "none") == set()


def test_imported_pools_from_zpool_list():
    runner = RecordingRunner()
    runner.respond(["zpool", "list"], stdout="rpool\t9311460519856416215\ntank\t42\n")
    assert imported_pools(runner) == {"rpool": "9311460519856416215", "tank": "42"}
    assert runner.plan[0].argv == ("zpool", "list", "-H", "-p", "-o", "name,guid")


def test_no_zpool_means_no_imported_pools():
    runner = RecordingRunner()
    runner.respond(["zpool"], stderr="zpool: command not found", returncode=127)
    assert imported_pools(runner) == {}


def test_pool_identity_uses_the_guid_when_known():
    pools: dict[str, str | None] = {"rpool": "111"}
    assert pool_is_imported("rpool", "111", pools)
    assert not pool_is_imported("rpool", "222", pools)  # an old disk's rpool
    assert pool_is_imported("rpool", None, pools)
    assert not pool_is_imported("rpoo", "111", pools)
    assert not pool_is_imported(None, None, pools)


def _block(sys_root: Path, name: str, slaves: tuple[str, ...] = (),
           backing: str | None = None) -> None:
    node = sys_root / "class" / "block" / name
    (node / "slaves").mkdir(parents=True)
    for slave in slaves:
        (node / "slaves" / slave).touch()
    if backing is not None:
        (node / "loop").mkdir()
        (node / "loop" / "backing_file").write_text(backing + "\n")


def test_find_live_devices_follows_loops_and_slaves(tmp_path: Path):
    # A Debian live system: / is an overlay, the squashfs loop lives on the
    # medium at /run/live/medium, which is a dm device over a USB partition.
    _block(tmp_path, "loop0", backing="/run/live/medium/live/filesystem.squashfs")
    _block(tmp_path, "dm-0", slaves=("sdb1",))
    _block(tmp_path, "sdb1")
    mounts = {"filesystems": [
        {"source": "overlay", "target": "/"},
        {"source": "/dev/dm-0", "target": "/run/live/medium"},
        {"source": "/dev/loop0", "target": "/run/live/rootfs/filesystem.squashfs"},
        {"source": "/dev/sdc1", "target": "/mnt/other"},
    ]}
    runner = RecordingRunner()
    runner.respond(["findmnt"], stdout=json.dumps(mounts))
    assert find_live_devices(runner, sys_root=tmp_path) == ["/dev/dm-0", "/dev/sdb1"]


def test_find_live_devices_on_an_installed_system(tmp_path: Path):
    _block(tmp_path, "nvme0n1p2")
    mounts = {"filesystems": [{"source": "/dev/nvme0n1p2[/@root]", "target": "/"}]}
    runner = RecordingRunner()
    runner.respond(["findmnt"], stdout=json.dumps(mounts))
    assert find_live_devices(runner, sys_root=tmp_path) == ["/dev/nvme0n1p2"]


# The command ------------------------------------------------------------------

@pytest.mark.parametrize(("text", "value"), [
    ("16G", 16 * GIB), ("16GiB", 16 * GIB), ("500GB", 500 * 10**9), ("1024", 1024),
    ("1.5T", int(1.5 * 1024**4)), ("64m", 64 * 1024**2),
])
def test_parse_size(text, value):
    assert parse_size(text) == value


def test_parse_size_refuses_nonsense():
    with pytest.raises(Exception, match="not a size"):
        parse_size("big")


@pytest.mark.parametrize("name", ["one-disk-vm", "server-3nvme-usb-seed", "live-only",
                                  "old-rpool"])
def test_table_fits_80_columns_and_names_every_disk(name, capsys):
    assert main(["disks", "--machine", name]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "\x1b[" not in out  # plain when not a terminal
    for d in load_bundled_machine(name).disks:
        assert d.name in out
        if d.by_id:
            # A long name may fold onto a second line; its first 40 characters do not.
            assert d.by_id.removeprefix("/dev/disk/by-id/")[:40] in out


def test_json_output(capsys):
    assert main(["disks", "--machine", "old-rpool", "--json", "--profile", "core"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["min_size_bytes"] == 8 * GIB and doc["profile"] == "core"
    by_path = {d["path"]: d for d in doc["disks"]}
    sda = by_path["/dev/sda"]
    assert sda["verdict"]["installable"] and not sda["verdict"]["empty"]
    assert sda["by_id"] == "/dev/disk/by-id/ata-Samsung_SSD_860_EVO_500GB_S3Z1NB0K812345L"
    assert sda["partitions"][1]["fstype"] == "zfs_member"
    assert by_path["/dev/sr0"]["verdict"]["reasons"][0].startswith("holds the running live")


def test_min_size_overrides_the_profile(capsys):
    assert main(["disks", "--machine", "one-disk-vm", "--json", "--min-size", "100G"]) == 0
    doc = json.loads(capsys.readouterr().out)
    vda = next(d for d in doc["disks"] if d["path"] == "/dev/vda")
    assert not vda["verdict"]["installable"]


def test_an_unreadable_machine_file_has_its_own_exit_status(tmp_path: Path, capsys):
    assert main(["disks", "--machine", str(tmp_path / "none.json")]) == 3
    assert "none.json" in capsys.readouterr().err
    assert main(["disks", "--machine", "no-such"]) == 3
