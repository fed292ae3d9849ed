"""`kldload-tui export` run for real, as a person runs it, on real disk images.

The source is a sparse raw disk with a GPT (sgdisk), a FAT ESP holding a file
(mkfs.vfat and mcopy on a file of the partition's size, copied into place:
this host's kernel has no vfat) and an ext4 root made with files in it
(mkfs.ext4 -d). Every image the command writes is compared back with the
source by `qemu-img compare` here, independently of its own read-back; the
OVA's VMDK is taken out of the archive first. Refusals are checked to leave
nothing behind: a disk whose partition is mounted through a loop device at an
offset (loop partition scanning does not work here), a destination too small
(a tmpfs), a disk that is not its whole ZFS pool (labels written byte for
byte: this host cannot run zpool), and a pool that is imported (a stand-in
zpool on PATH reports it, as in test_disks_loop).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.unit.zfs_label_helpers import encode_nvlist, member_config, write_labels

MIB = 1024 * 1024
FORMATS = ("qcow2", "vmdk", "vhd", "ova", "raw")
QEMU_NAME = {"qcow2": "qcow2", "vmdk": "vmdk", "vhd": "vpc", "raw": "raw"}
ROOT = Path(__file__).parents[2]
F = TypeVar("F", bound=Callable[..., Any])

pytestmark = [
    pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img (qemu-utils) missing"),
    pytest.mark.skipif(shutil.which("sgdisk") is None, reason="sgdisk (gdisk) missing"),
    pytest.mark.skipif(shutil.which("mcopy") is None or shutil.which("mkfs.vfat") is None,
                       reason="mtools or dosfstools missing"),
]


def as_root(test: F) -> F:
    """Root only: loop devices and mounts."""
    test = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: loop devices and mounts")(test)
    return pytest.mark.root(test)


def exe() -> list[str]:
    found = shutil.which("kldload-tui", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "kldload_tui"]


def export(*args: str | Path, env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "KEXPORT_NAME"}
    return subprocess.run([*exe(), "export", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env={**clean, **(env or {})}, check=False)


def sh(*argv: str | Path) -> str:
    return subprocess.run(list(map(str, argv)), capture_output=True, text=True,
                          check=True).stdout


def partitions(disk: Path) -> list[tuple[int, int]]:
    """(offset, size) in bytes of each partition, in table order."""
    table = json.loads(sh("sfdisk", "--json", disk))["partitiontable"]
    sector = int(table["sectorsize"])
    return [(p["start"] * sector, p["size"] * sector) for p in table["partitions"]]


def put(disk: Path, offset: int, image: Path) -> None:
    """Copy `image` into `disk` at `offset`, skipping zero blocks (the disk stays sparse)."""
    with image.open("rb") as src, disk.open("r+b") as dst:
        while block := src.read(MIB):
            if block.strip(b"\0"):
                dst.seek(offset)
                dst.write(block)
            offset += len(block)


def make_disk(tmp: Path, size: int = 64 * MIB, root_type: str = "8300") -> Path:
    """A GPT disk: a 16 MiB FAT ESP with hello.txt, then a root partition (ext4 by default)."""
    disk = tmp / "disk.raw"
    with disk.open("wb") as handle:
        handle.truncate(size)
    sh("sgdisk", "-n1:1M:+16M", "-t1:EF00", "-c1:EFI", "-n2:0:0", f"-t2:{root_type}",
       "-c2:root", disk)
    (esp_at, esp_size), (root_at, root_size) = partitions(disk)
    esp = tmp / "esp.img"
    with esp.open("wb") as handle:
        handle.truncate(esp_size)
    sh("mkfs.vfat", "-n", "KLDESP", esp)
    (tmp / "hello.txt").write_text("hello from the ESP\n")
    sh("mcopy", "-i", esp, tmp / "hello.txt", "::hello.txt")
    put(disk, esp_at, esp)
    if root_type == "8300":
        tree = tmp / "tree"
        (tree / "etc").mkdir(parents=True)
        (tree / "etc" / "hostname").write_text("golden\n")
        (tree / "blob").write_bytes(os.urandom(3 * MIB))  # data that does not compress
        root = tmp / "root.img"
        with root.open("wb") as handle:
            handle.truncate(root_size)
        sh("mkfs.ext4", "-q", "-L", "kldroot", "-d", tree, root)
        put(disk, root_at, root)
    return disk


@pytest.fixture
def disk(tmp_path: Path) -> Path:
    return make_disk(tmp_path)


def compare(source: Path, image: Path, fmt: str, tmp: Path) -> None:
    """`qemu-img compare` of the image (an OVA's VMDK taken out first) with the source."""
    if fmt == "ova":
        with tarfile.open(image) as archive:
            names = archive.getnames()
            assert names[0].endswith(".ovf") and names[2].endswith("-disk1.vmdk"), names
            archive.extract(names[2], tmp / "ova", filter="data")
        image, fmt = tmp / "ova" / names[2], "vmdk"
    result = subprocess.run(["qemu-img", "compare", "-f", "raw", "-F", QEMU_NAME[fmt],
                             str(source), str(image)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_is_written_verified_and_the_same_as_the_disk(fmt: str, disk: Path,
                                                                   tmp_path: Path) -> None:
    out_dir = tmp_path / "export"
    result = export(disk, fmt, out_dir)
    assert result.returncode == 0, result.stderr
    image = out_dir / f"kldload-debian-server.{fmt}"
    # No partial, no work dir; the checksum file beside the image, for `sha256sum -c`.
    assert sorted(p.name for p in out_dir.iterdir()) == [image.name, f"{image.name}.sha256"]
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    assert (out_dir / f"{image.name}.sha256").read_text() == f"{digest}  {image.name}\n"
    check = subprocess.run(["sha256sum", "-c", f"{image.name}.sha256"], cwd=out_dir,
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (f"source: {disk} (image file, 64.0 MiB): EFI vfat 'KLDESP', "
                        "root ext4 'kldroot'")
    assert lines[1].startswith(f"image:  {image} (name from the seed's defaults")
    assert "    export: 0% converting: 0 Bytes of 64.0 MiB" in lines
    assert "    export: 100% converting: 64.0 MiB of 64.0 MiB" in lines
    assert "    verify: 100% verifying: 64.0 MiB of 64.0 MiB" in lines
    assert lines[-1] == f"{hashlib.sha256(image.read_bytes()).hexdigest()}  {image}"
    assert lines[-2].startswith(f"written and verified: {fmt}, ")
    compare(disk, image, fmt, tmp_path)
    if fmt == "raw":  # the files are there, read as any tool reads them
        esp_at = partitions(disk)[0][0]
        assert sh("mtype", "-i", f"{image}@@{esp_at}", "::hello.txt") == "hello from the ESP\n"


def test_json_lines_and_the_name_from_kexport_name(disk: Path, tmp_path: Path) -> None:
    result = export(disk, "qcow2", tmp_path / "x", "--json",
                    env={"KEXPORT_NAME": "debian13-base-v2"})
    assert result.returncode == 0, result.stderr
    docs = [json.loads(line) for line in result.stdout.splitlines()]
    progress = [d for d in docs if d["type"] == "progress"]
    for phase in ("export", "verify"):
        fractions = [d["fraction"] for d in progress if d["phase"] == phase]
        assert fractions[0] == 0.0 and fractions[-1] == 1.0
        assert fractions == sorted(fractions)
    done = docs[-1]
    image = tmp_path / "x" / "debian13-base-v2.qcow2"
    assert done["type"] == "exported" and done["image"] == str(image) and done["verified"]
    assert done["sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
    assert done["disk_bytes"] == 64 * MIB and done["bytes"] == image.stat().st_size
    assert "(name from KEXPORT_NAME)" in result.stderr  # people's lines beside the JSON


def test_the_answers_name_the_image(disk: Path, tmp_path: Path) -> None:
    answers = ROOT / "answers-examples" / "golden-image-export.env"
    result = export(disk, "ova", tmp_path, "--answers", answers)
    assert result.returncode == 0, result.stderr
    image = tmp_path / "kldload-rocky-server.ova"
    assert f"(name from distro and profile of the answers in {answers})" in result.stdout
    with tarfile.open(image) as archive:
        ovf = archive.extractfile("kldload-rocky-server.ovf")
        assert ovf is not None and b"rocky" in ovf.read().lower()


@contextmanager
def loop(image: Path, *extra: str) -> Iterator[str]:
    device = sh("losetup", "--find", "--show", *extra, image).strip()
    try:
        yield device
    finally:
        subprocess.run(["losetup", "--detach", device], check=False)


@contextmanager
def mounted(what: str | Path, where: Path, *options: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    sh("mount", *options, what, where)
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


@as_root
def test_a_mounted_partition_refuses_its_disk_then_the_disk_exports(
        disk: Path, tmp_path: Path) -> None:
    root_at, root_size = partitions(disk)[1]
    out_dir = tmp_path / "export"
    with loop(disk, "--read-only") as whole:
        with loop(disk, "-o", str(root_at), "--sizelimit", str(root_size)) as part, \
                mounted(part, tmp_path / "mnt", "-t", "ext4"):
            for source in (whole, disk):
                result = export(source, "qcow2", out_dir)
                assert result.returncode == 2, result.stdout + result.stderr
                assert (f"refused: {source} is in use: {part} is mounted on {tmp_path / 'mnt'}"
                        in result.stderr)
                assert not out_dir.exists()  # refused before anything was written
        result = export(whole, "raw", out_dir)  # unmounted: a block device exports
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"source: {whole} (block device, 64.0 MiB): EFI vfat")
        compare(disk, out_dir / "kldload-debian-server.raw", "raw", tmp_path)


@as_root
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_destination_without_room_is_refused_before_writing(
        fmt: str, disk: Path, tmp_path: Path) -> None:
    with mounted("tmpfs", tmp_path / "small", "-t", "tmpfs", "-o", "size=2m") as small:
        result = export(disk, fmt, small / "images")
        assert result.returncode == 2, result.stdout + result.stderr
        said = result.stderr
        assert f"refused: not enough room: kldload-debian-server.{fmt} may need up to " in said
        assert f"and {small / 'images'} has 2.0 MiB free" in said and "nothing was written" in said
        assert list(small.iterdir()) == []  # not even the directory


@as_root
@pytest.mark.parametrize("fmt", ["raw", "ova"])
def test_running_out_of_space_anyway_leaves_no_partial_image(
        fmt: str, disk: Path, tmp_path: Path) -> None:
    with mounted("tmpfs", tmp_path / "small", "-t", "tmpfs", "-o", "size=1m") as small:
        result = export(disk, fmt, small, "--no-room-check")
        assert result.returncode == 1, result.stdout + result.stderr
        assert "qemu-img convert" in result.stderr  # the command that failed, named
        assert list(small.iterdir()) == []


def zfs_disk(tmp: Path, config: dict[str, object]) -> Path:
    """A disk whose second partition is a pool member (libblkid wants at least 64 MiB)."""
    disk = make_disk(tmp, 160 * MIB, root_type="BF00")
    offset, size = partitions(disk)[1]
    write_labels(disk, offset, size, encode_nvlist(config))
    return disk


def test_one_side_of_a_mirror_is_the_whole_pool(tmp_path: Path) -> None:
    disk = zfs_disk(tmp_path, member_config("kltank", 42, top="mirror", disks=2))
    result = export(disk, "qcow2", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert "EFI vfat 'KLDESP', root zfs_member 'kltank'" in result.stdout
    assert ("note: root is one side of a 2-way mirror of pool 'kltank': the image holds the "
            "whole pool" in result.stdout)
    compare(disk, tmp_path / "out" / "kldload-debian-server.qcow2", "qcow2", tmp_path)


@pytest.mark.parametrize(("config", "why"), [
    (member_config("kltank", 42, top="raidz", disks=3, nparity=1),
     "it is one of 3 disks of a raidz1 in pool 'kltank'"),
    (member_config("kltank", 42, top="mirror", disks=2, vdev_children=2),
     "pool 'kltank' is spread over 2 top-level vdevs"),
])
def test_a_disk_that_is_not_its_whole_pool_is_refused(config: dict[str, object], why: str,
                                                      tmp_path: Path) -> None:
    disk = zfs_disk(tmp_path, config)
    result = export(disk, "qcow2", tmp_path / "out")
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"refused: {disk} cannot be exported on its own: {why}" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_disk_of_an_imported_pool_is_refused(tmp_path: Path) -> None:
    disk = zfs_disk(tmp_path, member_config("kltank", 42))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    zpool = bin_dir / "zpool"
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    zpool.write_text("#!/bin/sh\nprintf 'kltank\\t42\\n'\n")
    zpool.chmod(0o755)
    result = export(disk, "qcow2", tmp_path / "out", env={"PATH": path})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "its ZFS pool 'kltank' is imported on this machine" in result.stderr
    assert "`zpool export kltank` first" in result.stderr
    zpool.write_text("#!/bin/sh\nprintf 'kltank\\t7\\n'\n")  # another pool of that name
    assert export(disk, "qcow2", tmp_path / "out", env={"PATH": path}).returncode == 0
