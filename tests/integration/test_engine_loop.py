"""The engine for real on a loop device: preflight re-probes, sgdisk partitions
and the table reads back; a failure at the pool step (this host's kernel has no
ZFS, so `zpool` is a failing stand-in) gives the failed event, the teardown and
exit status, and leaves nothing mounted."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kldload_tui.backend.answers.file import parse_answers
from kldload_tui.backend.engine.core import InstallOptions, run_install
from kldload_tui.backend.engine.events import EventLog, Failed, PhaseFinished
from kldload_tui.backend.engine.runner import LocalRunner
from kldload_tui.backend.machine.model import Machine
from kldload_tui.backend.machine.probe import probe_machine
from kldload_tui.backend.phases.storage_argv import parse_sgdisk_print

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for loop devices"),
    pytest.mark.skipif(shutil.which("sgdisk") is None, reason="sgdisk (gdisk) is not installed"),
]
SIZE = 20 * 1024**3  # sparse: the server profile wants 16 GiB at least


@pytest.fixture
def loop_disk(tmp_path: Path) -> Iterator[str]:
    image = tmp_path / "disk.img"
    with image.open("wb") as f:
        f.truncate(SIZE)
    dev = subprocess.run(["losetup", "--find", "--show", str(image)], check=True,
                         capture_output=True, text=True).stdout.strip()
    try:
        yield dev
    finally:
        # Partitions the install told the kernel about outlive a detach here.
        subprocess.run(["partx", "--delete", dev], check=False, capture_output=True)
        subprocess.run(["losetup", "--detach", dev], check=False)


@pytest.fixture
def stand_ins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """zpool, zfs and zgenhostid cannot run on this kernel: failing stand-ins on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("zpool", "zfs", "zgenhostid"):
        script = bin_dir / name
        script.write_text("#!/bin/sh\ncase \"$1\" in list) exit 0;; esac\n"
                          f"echo \"{name}: injected failure: no ZFS in this kernel\" >&2\nexit 1\n")
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return bin_dir


def answers_for(dev: str):
    result = parse_answers(f"KLDLOAD_DISTRO=debian\nKLDLOAD_DISK={dev}\nKLDLOAD_HOSTNAME=t-01\n"
                           "KLDLOAD_PASSWORD='loop-Pass-2026'\n")
    assert result.answers is not None
    return result.answers


def install(machine: Machine, dev: str, tmp_path: Path):
    events = EventLog()
    target = tmp_path / "target"
    with LocalRunner(log_path=tmp_path / "install.log", sink=events) as runner:
        outcome = run_install(answers_for(dev), machine, runner=runner, sink=events,
                              options=InstallOptions(target_root=target,
                                                     log_path=tmp_path / "install.log"))
    return outcome, events, target


def mounts_under(path: Path) -> list[str]:
    text = Path("/proc/self/mountinfo").read_text()
    return [line.split()[4] for line in text.splitlines()
            if line.split()[4].startswith(str(path))]


def test_partitions_for_real_then_fails_at_the_pool_and_tears_down(loop_disk, stand_ins,
                                                                   tmp_path):
    outcome, events, target = install(probe_machine(), loop_disk, tmp_path)
    assert not outcome.ok and outcome.failed_phase == "pool"
    done = [e.name for e in events.of_type(PhaseFinished)]
    assert done == ["preflight", "partition"]  # each verified before the next began
    [failed] = events.of_type(Failed)
    assert failed.phase == "pool" and failed.exit_code == 1
    assert failed.command is not None and failed.command.startswith("zpool create")
    assert "injected failure" in failed.message
    assert failed.log_path == str(tmp_path / "install.log")
    table = parse_sgdisk_print(subprocess.run(["sgdisk", "--print", loop_disk],
                                              capture_output=True, text=True).stdout)
    assert [(e.number, e.code) for e in table] == [(1, "EF00"), (2, "BF00"), (3, "EF02")]
    esp, zfs, bios_boot = table
    # The BIOS boot partition fills the gap before the ESP: past the GPT, nothing
    # overlaps, and the ESP and ZFS still start on whole MiB.
    assert 34 <= bios_boot.start_sector < bios_boot.end_sector < esp.start_sector
    assert esp.start_sector * 512 == 1024**2 and zfs.start_sector * 512 % 1024**2 == 0
    assert esp.end_sector < zfs.start_sector
    log = (tmp_path / "install.log").read_text()
    assert "[teardown]" in log and "zpool export -f rpool" in log
    assert "loop-Pass-2026" not in log
    assert mounts_under(target) == []


def test_a_disk_that_changed_since_the_plan_stops_before_any_write(loop_disk, stand_ins,
                                                                   tmp_path):
    planned = probe_machine()
    disk = next(d for d in planned.disks if d.path == loop_disk)
    other = disk.model_copy(update={"size_bytes": disk.size_bytes * 2})
    changed = planned.model_copy(update={"disks": [other if d is disk else d
                                                   for d in planned.disks]})
    outcome, events, _ = install(changed, loop_disk, tmp_path)
    assert outcome.failed_phase == "preflight"
    message = events.of_type(Failed)[0].message
    assert message.startswith("the disks changed since the install was planned; nothing was "
                              "written:")
    assert "plan again against this machine" in message
    assert "sgdisk" not in (tmp_path / "install.log").read_text().split("[preflight]")[-1]
    out = subprocess.run(["sgdisk", "--print", loop_disk], capture_output=True, text=True)
    assert parse_sgdisk_print(out.stdout) == []  # untouched


def test_a_disk_that_vanished_stops_before_any_write(loop_disk, stand_ins, tmp_path):
    planned = probe_machine()
    subprocess.run(["losetup", "--detach", loop_disk], check=True)
    assert not Path(f"/sys/block/{Path(loop_disk).name}/loop").exists()
    outcome, events, _ = install(planned, loop_disk, tmp_path)
    assert outcome.failed_phase == "preflight"
    assert f"{loop_disk} (no by-id) is gone" in events.of_type(Failed)[0].message


def test_missing_tools_stop_before_any_write(loop_disk, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # Only what the re-probe needs: everything the install itself would run is absent.
    for tool in ("lsblk", "blkid", "findmnt", "losetup"):
        found = shutil.which(tool)
        assert found
        (bin_dir / tool).symlink_to(found)
    monkeypatch.setenv("PATH", str(bin_dir))
    outcome, events, _ = install(probe_machine(), loop_disk, tmp_path)
    assert outcome.failed_phase == "preflight"
    message = events.of_type(Failed)[0].message
    assert message.startswith("the live system lacks tools this install needs: ")
    assert "sgdisk (gdisk)" in message and "zpool (zfsutils-linux)" in message
