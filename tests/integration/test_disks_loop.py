"""Probe and classify real loop devices made from sparse files (root only).

Each test attaches its own loop devices and detaches them, unmounts and swaps
off again in `finally`, also when an assertion fails. A ZFS vdev label is
fabricated byte for byte (this host cannot run zpool): four 256 KiB labels, each
with an XDR nvlist (name, guid, pool_guid...) at 16 KiB and uberblocks carrying
the magic 0x00bab10c from 128 KiB, which is what libblkid's zfs probe reads.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kldload_tui.backend.engine.runner import CommandError, LocalRunner
from kldload_tui.backend.machine.disks import classify, find_live_devices
from kldload_tui.backend.machine.model import Disk
from kldload_tui.backend.machine.probe import probe_disks
from kldload_tui.cli import main

MIB = 1024**2
SIZE = 128 * MIB  # libblkid ignores ZFS labels on devices under 64 MiB
MIN_SIZE = 64 * MIB
POOL_GUID = 9311460519856416215
VDEV_GUID = 1234567890123456789

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: loop devices and mounts"),
    pytest.mark.skipif(shutil.which("losetup") is None, reason="losetup is not installed"),
    pytest.mark.skipif(shutil.which("blkid") is None or shutil.which("lsblk") is None,
                       reason="blkid/lsblk (util-linux) are not installed"),
]

run = LocalRunner().run


@pytest.fixture
def make_loop(tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Attach sparse files as loop devices; all are detached at the end."""
    attached: list[str] = []

    def make() -> str:
        image = tmp_path / f"disk{len(attached)}.img"
        with open(image, "wb") as f:
            f.truncate(SIZE)
        try:
            dev = run(["losetup", "--find", "--show", str(image)]).stdout.strip()
        except CommandError as err:
            pytest.skip(f"cannot attach a loop device here: {err}")
        attached.append(dev)
        return dev

    try:
        yield make
    finally:
        for dev in attached:
            run(["losetup", "--detach", dev], check=False)


@contextmanager
def mounted(dev: str, where: Path) -> Iterator[Path]:
    where.mkdir()
    run(["mount", "-t", "ext4", dev, str(where)])
    try:
        yield where
    finally:
        run(["umount", str(where)], check=False)


def probed(dev: str, runner: LocalRunner | None = None) -> Disk:
    disks = probe_disks(runner, source="lsblk")
    found = [d for d in disks if d.path == dev]
    assert len(found) == 1, [d.path for d in disks]
    return found[0]


def judge(d: Disk, seed: str | None = None):
    return classify(d, live_devices=set(find_live_devices()), seed_device=seed,
                    min_size_bytes=MIN_SIZE)


def _xdr_string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">I", len(raw)) + raw + b"\0" * (-len(raw) % 4)


def _nvpair(name: str, value: int | str) -> bytes:
    if isinstance(value, int):  # DATA_TYPE_UINT64, one element
        body = struct.pack(">II", 8, 1) + struct.pack(">Q", value)
    else:  # DATA_TYPE_STRING, one element
        body = struct.pack(">II", 9, 1) + _xdr_string(value)
    rest = _xdr_string(name) + body
    size = 8 + len(rest)  # encoded and decoded size lead each pair
    return struct.pack(">II", size, size) + rest


def write_zfs_label(dev: str, pool: str) -> None:
    """Write the four vdev labels a one-disk pool `pool` would have."""
    label = bytearray(256 * 1024)
    nvlist = (bytes([1, 1, 0, 0]) + struct.pack(">II", 0, 1)  # XDR header, version, flags
              + b"".join(_nvpair(k, v) for k, v in [
                  ("version", 5000), ("name", pool), ("state", 0), ("txg", 4),
                  ("pool_guid", POOL_GUID), ("top_guid", VDEV_GUID), ("guid", VDEV_GUID),
                  ("vdev_children", 1)])
              + b"\0" * 8)
    label[16 * 1024:16 * 1024 + len(nvlist)] = nvlist
    for slot in range(4):
        offset = 128 * 1024 + slot * 1024
        label[offset:offset + 40] = struct.pack("<QQQQQ", 0x00BAB10C, 5000, 4 + slot,
                                                VDEV_GUID, 1_700_000_000)
    end = SIZE - SIZE % len(label)
    with open(dev, "r+b") as f:
        for offset in (0, len(label), end - 2 * len(label), end - len(label)):
            f.seek(offset)
            f.write(label)
        os.fsync(f.fileno())


def test_an_empty_loop_disk_is_installable(make_loop):
    dev = make_loop()
    d = probed(dev)
    assert d.size_bytes == SIZE and d.transport == "loop"
    assert d.fstype is None and d.partition_table is None and d.probe_error is None
    v = judge(d)
    assert v.installable and v.empty, v


def test_a_mounted_ext4_disk_is_not_installable(make_loop, tmp_path: Path):
    dev = make_loop()
    run(["mkfs.ext4", "-q", "-L", "kltest", dev])
    with mounted(dev, tmp_path / "mnt") as where:
        d = probed(dev)
        assert (d.fstype, d.label) == ("ext4", "kltest")
        assert d.mountpoints == [str(where)]
        v = judge(d)
        assert not v.installable and not v.empty
        assert v.reasons == [f"mounted: {dev} on {where}"]
    # Unmounted, it is installable again, but only with consent to wipe ext4.
    v = judge(probed(dev))
    assert v.installable and not v.empty and v.contents == [f"ext4 'kltest' on {dev}"]


def test_a_zfs_pool_member_is_not_empty_and_refused_while_its_pool_is_imported(
        make_loop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    dev = make_loop()
    write_zfs_label(dev, "kltank")
    blkid = run(["blkid", "-p", "-o", "export", dev]).stdout
    assert "TYPE=zfs_member" in blkid and "LABEL=kltank" in blkid

    d = probed(dev)  # no zpool on this host: nothing is imported
    assert (d.fstype, d.zfs_pool, d.uuid) == ("zfs_member", "kltank", str(POOL_GUID))
    v = judge(d)
    assert v.installable and not v.empty
    assert v.contents == [f"member of ZFS pool 'kltank' on {dev}"]

    # The host kernel has no ZFS, so a stand-in zpool on PATH reports the pool
    # as imported; the probe runs it through the real runner like the real one.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    zpool = bin_dir / "zpool"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    zpool.write_text(f"#!/bin/sh\nprintf 'kltank\\t{POOL_GUID}\\n'\n")
    zpool.chmod(0o755)
    d = probed(dev)
    assert d.zfs_pool_imported
    v = judge(d)
    assert not v.installable
    assert v.reasons == [f"member of the imported ZFS pool 'kltank' ({dev})"]

    # An imported pool that merely shares the name is another pool.
    zpool.write_text("#!/bin/sh\nprintf 'kltank\\t42\\n'\n")
    assert judge(probed(dev)).installable


def test_a_disk_with_a_gpt_is_not_empty_and_zapping_empties_it(make_loop):
    dev = make_loop()
    run(["sgdisk", "-n1:0:+16M", "-t1:8300", "-c1:kldata", dev])
    d = probed(dev)
    assert d.partition_table == "gpt"
    v = judge(d)
    assert v.installable and not v.empty and v.contents == ["gpt partition table"]
    # blkid -p reads the device, not a cache: the wipe is seen at once.
    run(["sgdisk", "--zap-all", dev])
    assert judge(probed(dev)).empty


def test_a_disk_in_use_as_swap_is_not_installable(make_loop):
    dev = make_loop()
    run(["mkswap", dev])
    try:
        run(["swapon", dev])
    except CommandError as err:
        pytest.skip(f"swapon is not allowed here: {err}")
    try:
        d = probed(dev)
        assert d.swap and d.fstype == "swap"
        v = judge(d)
        assert not v.installable and v.reasons == [f"in use as swap ({dev})"]
    finally:
        run(["swapoff", dev], check=False)


def test_seed_marking_is_exact_between_two_loop_disks(make_loop):
    seed, other = make_loop(), make_loop()
    assert judge(probed(seed), seed=seed).reasons == [f"is the seed disk ({seed})"]
    assert judge(probed(other), seed=seed).installable


def test_the_device_behind_root_is_a_live_device():
    source = run(["findmnt", "-n", "-o", "SOURCE", "--target", "/"]).stdout.strip()
    source = source.split("[", 1)[0]
    if not source.startswith("/dev/"):
        pytest.skip(f"/ is on {source!r}, not a block device")
    assert os.path.realpath(source) in find_live_devices()


def test_disks_command_lists_loop_disks(make_loop, tmp_path: Path, capsys):
    empty, busy = make_loop(), make_loop()
    run(["mkfs.ext4", "-q", busy])
    with mounted(busy, tmp_path / "mnt"):
        assert main(["disks", "--json", "--source", "lsblk", "--min-size", "64M"]) == 0
    by_path = {d["path"]: d for d in json.loads(capsys.readouterr().out)["disks"]}
    assert by_path[empty]["verdict"] == {"installable": True, "reasons": [], "empty": True,
                                         "contents": []}
    assert not by_path[busy]["verdict"]["installable"]
