"""The target root is a private mount, undone at the end and on failure.

Found by the e2e: systemd-udevd and systemd-logind run in mount namespaces that
are slaves of the live system's; the target's mounts were copied into them, no
unmount reached the copies, and every install ended with `zpool export` failing
"pool is busy" (in finish, and again in teardown, whose `zfs unmount -a` also
skips the canmount=noauto boot environment).
"""

from kldload_tui.backend.engine.runner import RecordingRunner

from .test_engine import answers, run

TARGET = "/mnt/kldload"


def commands(runner, phase=None):
    return [s.argv for s in runner.plan
            if s.kind == "command" and (phase is None or s.phase == phase)]


def test_the_target_is_made_private_before_anything_is_mounted_on_it():
    _, _, runner = run(answers())
    argv = commands(runner)
    private = argv.index(("mount", "--make-private", TARGET))
    assert argv[private - 1] == ("mount", "--bind", TARGET, TARGET)
    first_mount = next(i for i, a in enumerate(argv) if a[:2] == ("zfs", "mount"))
    assert private < first_mount


def test_finish_exports_then_removes_the_bind():
    _, _, runner = run(answers())
    assert commands(runner, "finish")[-3:] == [
        ("umount", "--recursive", TARGET), ("zpool", "export", "rpool"), ("umount", TARGET)]


def test_teardown_unmounts_the_boot_environment_exports_and_removes_the_bind():
    runner = RecordingRunner()
    runner.respond(["/usr/sbin/kldload-boot", "init"], returncode=1)
    outcome, _, runner = run(answers(), runner=runner)
    assert outcome.failed_phase == "bootloader"
    after = commands(runner, "teardown")
    assert after[-3:] == [("umount", "--recursive", "--lazy", TARGET),
                          ("zpool", "export", "-f", "rpool"), ("umount", "--lazy", TARGET)]
    assert ("zfs", "unmount", "-a", "-f") not in after


def test_a_failure_before_the_datasets_leaves_no_bind_to_undo():
    runner = RecordingRunner()
    runner.respond(["zpool", "create"], returncode=1)
    _, _, runner = run(answers(), runner=runner)
    assert ("umount", "--lazy", TARGET) not in commands(runner, "teardown")
