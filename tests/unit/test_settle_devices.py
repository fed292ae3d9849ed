"""Partition links are waited for before they are used.

Found by the e2e: `sgdisk --print` (the partition phase's verification) makes
udev re-read the table, which removes and re-creates the by-id partition links;
`zpool create` right after said "cannot open '/dev/disk/by-id/...-part2': No
such file or directory" and skipped clearing old labels on it.
"""

import threading
from pathlib import Path

import pytest

from kldload_tui.backend.distros import distro_backend
from kldload_tui.backend.engine.core import InstallContext, InstallError, InstallOptions
from kldload_tui.backend.engine.runner import RecordingRunner
from kldload_tui.backend.machine.model import Machine
from kldload_tui.backend.phases.storage import settle_devices

from .test_engine import answers, run


def context(dry_run: bool) -> InstallContext:
    a = answers()
    return InstallContext(a, Machine(firmware="uefi"), RecordingRunner(),
                          InstallOptions(dry_run=dry_run), distro_backend(a))


def test_waits_for_a_link_that_comes_back(tmp_path):
    link = tmp_path / "virtio-target0-part2"
    threading.Timer(0.4, link.touch).start()
    ctx = context(dry_run=False)
    settle_devices(ctx, [str(link)], timeout=5)
    assert link.exists()
    assert [s.argv[:2] for s in ctx.runner.plan] == [("udevadm", "settle")]


def test_a_link_that_never_appears_stops_the_install(tmp_path):
    with pytest.raises(InstallError, match="did not appear within 1s"):
        settle_devices(context(dry_run=False), [str(tmp_path / "gone-part2")], timeout=1)


def test_settle_comes_right_before_zpool_create_and_the_esps():
    _, _, runner = run(answers())
    argv = [s.argv for s in runner.plan if s.kind == "command"]
    create = next(i for i, a in enumerate(argv) if a[:2] == ("zpool", "create"))
    mkfs = next(i for i, a in enumerate(argv) if a[2:4] == ("/usr/sbin/kldload-boot", "format"))
    assert argv[create - 1][:2] == ("udevadm", "settle")
    assert argv[mkfs - 1][:2] == ("udevadm", "settle")


def test_a_dry_run_does_not_wait(tmp_path):
    settle_devices(context(dry_run=True), [str(Path(tmp_path) / "never")], timeout=60)
