"""`kldload-tui seed make`: images with the real tools, devices on real loop devices."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from kldload_tui.backend.engine.runner import LocalRunner
from kldload_tui.backend.seed.fs import (
    blkid_probe,
    make_fat_image,
    make_iso_image,
    read_seed_answers,
)

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "answers-examples" / "static-server.env"
OTHER = ROOT / "answers-examples" / "minimal.env"
IMAGE_TOOLS = ("mkfs.vfat", "mdir", "mcopy", "xorriso", "blkid")
MISSING = [t for t in IMAGE_TOOLS if shutil.which(t) is None]
DEVICE_TOOLS = ("losetup", "lsblk", "wipefs", "blockdev", "sgdisk", "mkfs.ext4", "mount")
MISSING_DEV = [t for t in DEVICE_TOOLS if shutil.which(t) is None]

pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"tools missing: {', '.join(MISSING)}")
DEVICE_MARKS = (
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="loop devices need root"),
    pytest.mark.skipif(bool(MISSING_DEV), reason=f"tools missing: {', '.join(MISSING_DEV)}"),
)
F = TypeVar("F", bound=Callable[..., object])


def needs_devices(test: F) -> F:
    """Root and the device tools, or the test is skipped with the reason."""
    for mark in DEVICE_MARKS:
        test = mark(test)
    return test


def exe() -> list[str]:
    found = shutil.which("kldload-tui", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "kldload_tui"]


def kldload(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*exe(), *args], capture_output=True, text=True, timeout=120,
                          input=stdin)


# Images ---------------------------------------------------------------------------

@pytest.mark.parametrize(("extra", "fs", "label"), [
    ((), "vfat", "KLDLOADSEED"),
    (("--size", "4M"), "vfat", "KLDLOADSEED"),
    (("--iso",), "iso9660", "KLDLOAD-SEED"),
])
def test_image_reads_back_with_label_and_bytes(tmp_path: Path, extra: tuple[str, ...], fs: str,
                                               label: str) -> None:
    out = tmp_path / "seed.img"
    r = kldload("seed", "make", "--answers", str(EXAMPLE), "--image", str(out), *extra)
    assert r.returncode == 0, r.stderr
    assert "read back identical" in r.stdout
    runner = LocalRunner()
    probed = blkid_probe(str(out), runner)
    assert (probed["TYPE"], probed["LABEL"]) == (fs, label)
    assert "PTTYPE" not in probed  # no partition table: the filesystem is the image
    assert read_seed_answers(str(out), fs, runner) == EXAMPLE.read_bytes()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # the image holds the password
    if extra == ("--size", "4M"):
        assert out.stat().st_size == 4 * 1024 * 1024
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed.img"]  # no temp files left


def test_iso_is_readable_by_isoinfo_too(tmp_path: Path) -> None:
    if shutil.which("isoinfo") is None:
        pytest.skip("isoinfo missing")
    out = tmp_path / "seed.iso"
    assert kldload("seed", "make", "--answers", str(EXAMPLE), "--image", str(out),
                   "--iso").returncode == 0
    for mode in (["-J", "-x", "/answers.env"], ["-R", "-x", "/answers.env"],
                 ["-x", "/ANSWERS.ENV;1"]):
        got = subprocess.run(["isoinfo", *mode, "-i", str(out)], capture_output=True, check=True)
        assert got.stdout == EXAMPLE.read_bytes()


@pytest.mark.parametrize("fs", ["vfat", "iso9660"])
def test_bytes_survive_exactly(tmp_path: Path, fs: str) -> None:
    # CRLF, NUL and bytes that are not UTF-8: the seed carries the file, not text.
    data = b"KLDLOAD_DISTRO=debian\r\n\x00\xff\xfe caf\xc3\xa9\n"
    out = tmp_path / "raw.img"
    make = make_iso_image if fs == "iso9660" else make_fat_image
    make(out, data, LocalRunner())  # reads back and compares, or raises
    assert read_seed_answers(str(out), fs, LocalRunner()) == data


def test_existing_image_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "seed.img"
    out.write_bytes(b"precious")
    r = kldload("seed", "make", "--answers", str(EXAMPLE), "--image", str(out))
    assert r.returncode == 2
    assert f"{out} exists: refusing to overwrite it without --force" in r.stderr
    assert out.read_bytes() == b"precious"
    r = kldload("seed", "make", "--answers", str(OTHER), "--image", str(out), "--force")
    assert r.returncode == 0, r.stderr
    assert read_seed_answers(str(out), "vfat", LocalRunner()) == OTHER.read_bytes()


def test_too_small_and_directory_targets_are_refused(tmp_path: Path) -> None:
    r = kldload("seed", "make", "--answers", str(EXAMPLE), "--image", str(tmp_path / "s.img"),
                "--size", "512K")
    assert r.returncode == 2 and "too small" in r.stderr
    r = kldload("seed", "make", "--answers", str(EXAMPLE), "--image", str(tmp_path))
    assert r.returncode == 2 and "is a directory" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_unreadable_answers_exit_2(tmp_path: Path) -> None:
    r = kldload("seed", "make", "--answers", str(tmp_path / "nope.env"), "--image",
                str(tmp_path / "s.img"))
    assert r.returncode == 2 and "cannot read" in r.stderr


# Devices -----------------------------------------------------------------------------

@pytest.fixture
def blank_loop(tmp_path: Path) -> Iterator[Callable[..., str]]:
    attached: list[str] = []

    def attach(name: str = "dev.img", size: str = "32M") -> str:
        image = tmp_path / name
        subprocess.run(["truncate", "-s", size, str(image)], check=True)
        r = subprocess.run(["losetup", "-f", "--show", str(image)], capture_output=True,
                           text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot attach a loop device: {r.stderr.strip()}")
        attached.append(r.stdout.strip())
        return attached[-1]

    try:
        yield attach
    finally:
        for dev in attached:
            subprocess.run(["losetup", "-d", dev], check=False)


@needs_devices
def test_device_needs_force_then_consent(blank_loop: Callable[..., str]) -> None:
    dev = blank_loop()
    r = kldload("seed", "make", "--answers", str(EXAMPLE), "--device", dev)
    assert r.returncode == 2
    assert f"needs --force: {dev} is not a removable device" in r.stderr
    r = kldload("seed", "make", "--answers", str(EXAMPLE), "--device", dev, "--force")
    assert r.returncode == 2
    assert f"no terminal to confirm on: add --yes-i-know to erase {dev}" in r.stderr
    assert blkid_probe(dev, LocalRunner()) == {}  # still blank: nothing was written


@needs_devices
def test_device_with_a_gpt_is_wiped_and_becomes_a_seed(blank_loop: Callable[..., str]) -> None:
    dev = blank_loop()
    subprocess.run(["sgdisk", "-n", "1:2048:+8M", "-n", "2:0:0", dev], check=True,
                   capture_output=True)
    r = kldload("seed", "make", "--answers", str(EXAMPLE), "--device", dev)
    assert r.returncode == 2 and f"{dev} holds data: gpt partition table" in r.stderr
    r = kldload("seed", "make", "--answers", str(EXAMPLE), "--device", dev, "--force",
                "--yes-i-know")
    assert r.returncode == 0, r.stderr
    runner = LocalRunner()
    probed = blkid_probe(dev, runner)
    assert (probed.get("TYPE"), probed.get("LABEL"), probed.get("PTTYPE")) == (
        "vfat", "KLDLOADSEED", None)
    with open(dev, "rb") as disk:  # the backup GPT header at the end is gone too
        disk.seek(-512, os.SEEK_END)
        assert b"EFI PART" not in disk.read(512)
    found = kldload("seed", "find", "--answers", dev)
    assert found.returncode == 0, found.stderr
    assert read_seed_answers(dev, "vfat", runner) == EXAMPLE.read_bytes()


@needs_devices
def test_mounted_device_is_refused_even_with_force(blank_loop: Callable[..., str],
                                                   tmp_path: Path) -> None:
    dev = blank_loop()
    subprocess.run(["mkfs.ext4", "-q", dev], check=True)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", dev, str(mnt)], check=True)
    try:
        r = kldload("seed", "make", "--answers", str(EXAMPLE), "--device", dev, "--force",
                    "--yes-i-know")
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    assert r.returncode == 2
    assert f"refused: {dev} is mounted on {mnt}" in r.stderr
    assert blkid_probe(dev, LocalRunner())["TYPE"] == "ext4"


@needs_devices
def test_typed_confirmation_on_a_terminal(blank_loop: Callable[..., str]) -> None:
    pexpect = pytest.importorskip("pexpect")
    dev = blank_loop()
    argv = [*exe(), "seed", "make", "--answers", str(EXAMPLE), "--device", dev, "--force"]

    wrong = pexpect.spawn(argv[0], argv[1:], encoding="utf-8", timeout=60)
    wrong.expect(f"Type {dev} to erase it")
    wrong.sendline("/dev/sda")
    wrong.expect(pexpect.EOF)
    wrong.close()
    assert wrong.exitstatus == 2
    assert "not confirmed: nothing written" in (wrong.before or "")
    assert blkid_probe(dev, LocalRunner()) == {}

    right = pexpect.spawn(argv[0], argv[1:], encoding="utf-8", timeout=60)
    right.expect(f"Type {dev} to erase it")
    right.sendline(dev)
    right.expect(pexpect.EOF)
    right.close()
    assert right.exitstatus == 0, right.before
    assert read_seed_answers(dev, "vfat", LocalRunner()) == EXAMPLE.read_bytes()


@needs_devices
def test_the_running_system_is_refused() -> None:
    from kldload_tui.backend.machine.disks import find_live_devices

    live = find_live_devices(LocalRunner())
    if not live:
        pytest.skip("no block device holds the running system here")
    r = kldload("seed", "make", "--answers", str(EXAMPLE), "--device", live[0], "--force",
                "--yes-i-know")
    assert r.returncode == 2
    assert "holds the running system" in r.stderr or "is mounted on" in r.stderr
