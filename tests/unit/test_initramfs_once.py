"""The initramfs is built once, in the zfs phase.

Found by the e2e's timings: the kernel/ZFS transaction built it twice (the
kernel's postinst hook, then zfs-initramfs's trigger) and the zfs phase a third
time; about 75 s each under emulation, minutes with MODULES=most, and only the
last one is kept.
"""

from kldload_tui.backend.engine.runner import RecordingRunner

from .test_engine import answers, run


def test_the_kernel_transaction_runs_with_initrd_no_and_the_zfs_phase_builds(tmp_path):
    log = tmp_path / "install.log"
    runner = RecordingRunner(log_path=log)
    run(answers(), runner=runner)
    runner.close()
    lines = log.read_text().splitlines()
    installs = [i for i, line in enumerate(lines)
                if "$ chroot /mnt/kldload apt-get install" in line]
    core, optional = installs
    assert "linux-image-amd64" in lines[core]
    assert "INITRD=No" in lines[core + 1]
    assert "INITRD=No" not in lines[optional + 1]  # nothing there builds an initramfs
    builds = [s.argv for s in runner.plan if "update-initramfs" in s.argv]
    assert builds == [("chroot", "/mnt/kldload", "update-initramfs", "-c", "-k", "KERNEL-VERSION")]
    assert {s.phase for s in runner.plan if "update-initramfs" in s.argv} == {"zfs"}
