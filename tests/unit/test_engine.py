"""The engine in plan mode: phase order, events, failure in each phase, teardown."""

import pytest

from kldload_tui.backend.answers.file import load_answers, parse_answers
from kldload_tui.backend.answers.model import Distro
from kldload_tui.backend.engine.core import (
    PHASES,
    InstallError,
    InstallOptions,
    plan_install,
    run_install,
)
from kldload_tui.backend.engine.events import (
    Complete,
    EventLog,
    Failed,
    InstallStarted,
    PhaseFinished,
    PhaseStarted,
)
from kldload_tui.backend.engine.runner import RecordingRunner
from kldload_tui.backend.machine.model import load_bundled_machine
from kldload_tui.backend.phases import all_phases

from .test_golden_plans import GOLDEN

BASE = "KLDLOAD_DISTRO=debian\nKLDLOAD_DISK=/dev/vda\nKLDLOAD_HOSTNAME=vm-01\n" \
    "KLDLOAD_PASSWORD='unit-Pass-2026'\n"


def answers(extra: str = ""):
    result = parse_answers(BASE + extra)
    assert result.answers is not None, [p.render() for p in result.errors]
    return result.answers


def run(a, machine="one-disk-vm", runner=None, **opts):
    events = EventLog()
    runner = runner or RecordingRunner(sink=events)
    options = InstallOptions(dry_run=True, live_root=GOLDEN / "live-root", **opts)
    outcome = run_install(a, load_bundled_machine(machine), runner=runner, sink=events,
                          options=options)
    return outcome, events, runner


def test_phase_names_are_the_phases_in_order():
    assert tuple(p.name for p in all_phases()) == PHASES


def test_events_of_a_dry_run():
    outcome, events, _ = run(answers())
    assert outcome.ok and not outcome.verified
    assert outcome.message.startswith("dry run complete: nothing was executed, nothing was "
                                      "verified")
    started = events.of_type(InstallStarted)[0]
    assert started.dry_run and started.phases == [p for p in PHASES
                                                  if p not in ("seal", "export")]
    names = [e.name for e in events.of_type(PhaseStarted)]
    assert names == started.phases
    assert [e.index for e in events.of_type(PhaseStarted)] == list(range(1, len(names) + 1))
    assert len(events.of_type(PhaseFinished)) == len(names)
    assert isinstance(events.events[-1], Complete)


# A command of each phase, made to fail: (phase, argv prefix).
FAILURES = [
    ("partition", ["sgdisk", "--zap-all"]),
    ("pool", ["zpool", "create"]),
    ("datasets", ["zfs", "create"]),
    ("hostid", ["zgenhostid"]),
    ("bootstrap", ["debootstrap"]),
    ("configure", ["useradd"]),
    ("zfs", ["update-initramfs"]),
    ("bootloader", ["/usr/sbin/kldload-boot", "init"]),
    ("services", ["systemctl", "enable", "kldload-firstboot.service"]),
    ("snapshot", ["zfs", "snapshot"]),
    ("finish", ["zpool", "export", "rpool"]),
]


@pytest.mark.parametrize(("phase", "prefix"), FAILURES)
def test_a_failing_command_fails_its_phase_and_tears_down(phase, prefix):
    runner = RecordingRunner()
    runner.respond(prefix, stderr=f"{prefix[0]}: injected failure", returncode=3)
    outcome, events, runner = run(answers(), runner=runner)
    assert not outcome.ok and outcome.failed_phase == phase
    failed = events.of_type(Failed)
    assert len(failed) == 1 and failed[0].phase == phase
    assert failed[0].exit_code == 3
    assert failed[0].command is not None and " ".join(prefix) in failed[0].command
    assert "injected failure" in failed[0].message
    assert not events.of_type(Complete)
    after = [s for s in runner.plan if s.phase == "teardown" and s.kind == "command"]
    mounted = {s.argv[-1] for s in runner.plan if s.kind == "command" and s.argv[:1] ==
               ("mount",) and "--make-rslave" not in s.argv}
    unmounted = {s.argv[-1] for s in runner.plan if s.argv[:1] == ("umount",)}
    recursive = {s.argv[-1] for s in runner.plan if s.argv[:2] == ("umount", "--recursive")}
    left = {m for m in mounted - unmounted if not any(m.startswith(r) for r in recursive)}
    assert not left, f"still mounted after the failure: {left}"
    pool_made = PHASES.index(phase) >= PHASES.index("pool")
    exported = any(s.argv[:3] == ("zpool", "export", "-f") for s in after)
    assert exported == ((pool_made and phase != "finish") or phase == "finish")


def test_teardown_copies_the_log_into_the_target_when_its_root_is_mounted(tmp_path):
    target = tmp_path / "target"
    (target / "var" / "log").mkdir(parents=True)
    runner = RecordingRunner(log_path=tmp_path / "install.log")
    runner.respond(["/usr/sbin/kldload-boot", "init"], returncode=1)
    outcome, _, runner = run(answers(), runner=runner, target_root=target)
    assert outcome.failed_phase == "bootloader"
    copies = [s.argv for s in runner.plan if s.phase == "teardown" and s.argv[:1] == ("install",)]
    assert copies == [("install", "-D", "-m", "0600", str(tmp_path / "install.log"),
                       str(target / "var/log/kldload/install.log"))]


def test_an_unsupported_distro_is_refused_in_preflight(monkeypatch):
    # Every distribution of the seed has a module now: RHEL's is hidden, as if it
    # were not there, to see what any distribution without one gets.
    from kldload_tui.backend.distros.rhel import RedHatBackend

    monkeypatch.setattr(RedHatBackend, "serves", ())
    seed = load_answers("answers-examples/rocky-seed-usb.env").answers
    assert seed is not None
    a = seed.model_copy(update={"distro": Distro.RHEL})
    outcome, events, runner = run(a, "server-3nvme-usb-seed")
    assert outcome.failed_phase == "preflight"
    assert events.of_type(Failed)[0].message == (
        "KLDLOAD_DISTRO=rhel: this installer cannot install rhel yet (supported: centos, debian, "
        "ubuntu, fedora, rocky, arch, alpine); choose KLDLOAD_DISTRO=centos or "
        "KLDLOAD_DISTRO=debian or KLDLOAD_DISTRO=ubuntu or KLDLOAD_DISTRO=fedora or "
        "KLDLOAD_DISTRO=rocky or KLDLOAD_DISTRO=arch or KLDLOAD_DISTRO=alpine")
    assert [s for s in runner.plan if s.kind != "note"] == []


@pytest.mark.parametrize(("extra", "machine", "message"), [
    ("", "server-3nvme-usb-seed", "KLDLOAD_DISK: /dev/vda does not exist on this machine; "
     "installable disks here: /dev/disk/by-id/nvme-Samsung_SSD_980_PRO_1TB_S5GXNF0R123456A, "
     "/dev/disk/by-id/nvme-Samsung_SSD_980_PRO_1TB_S5GXNF0R123457B, "
     "/dev/disk/by-id/nvme-Samsung_SSD_980_PRO_1TB_S5GXNF0R123458C "
     "(kldload-tui disks shows them all)"),
    # The live system's CD and loop devices are disks, never the choice offered.
    ("", "live-only", "KLDLOAD_DISK: /dev/vda does not exist on this machine; this machine has "
     "no installable disk (kldload-tui disks says why for each); attach one"),
    ("KLDLOAD_ZFS_TOPOLOGY=mirror\nKLDLOAD_ZFS_DATA_DISKS=/dev/sda1\n", "old-rpool",
     "KLDLOAD_ZFS_DATA_DISKS: /dev/sda1 is a partition of /dev/sda; give the whole disk "
     "(/dev/disk/by-id/ata-Samsung_SSD_860_EVO_500GB_S3Z1NB0K812345L); it is wiped entirely"),
    ("KLDLOAD_ZFS_TOPOLOGY=mirror\nKLDLOAD_ZFS_DATA_DISKS=/dev/sr0\n", "one-disk-vm",
     "KLDLOAD_ZFS_DATA_DISKS: /dev/sr0 cannot be installed to: holds the running live system"),
])
def test_preflight_refuses_wrong_disks_before_any_command(extra, machine, message):
    a = answers(extra)
    if machine == "old-rpool":
        a = a.model_copy(update={"disk": "/dev/sdb"})
    outcome, events, runner = run(a, machine)
    assert outcome.failed_phase == "preflight"
    assert message in events.of_type(Failed)[0].message
    assert [s for s in runner.plan if s.kind != "note"] == []


def test_a_missing_disk_is_answered_with_the_installable_ones_only():
    a = answers().model_copy(update={"disk": "/dev/vdb"})
    outcome, events, _ = run(a, "one-disk-vm")  # beside /dev/vda: the live CD and a loop device
    assert outcome.failed_phase == "preflight"
    assert ("KLDLOAD_DISK: /dev/vdb does not exist on this machine; installable disks here: "
            "/dev/disk/by-id/virtio-kldload-vda (kldload-tui disks shows them all)"
            in events.of_type(Failed)[0].message)


def test_a_disk_with_data_needs_consent():
    a = answers().model_copy(update={"disk": "/dev/sda"})
    outcome, events, _ = run(a, "old-rpool")
    assert outcome.failed_phase == "preflight"
    assert "KLDLOAD_DISK: /dev/sda is not empty (gpt partition table with 2 partition(s); " \
        "vfat on /dev/sda1; member of ZFS pool 'rpool' on /dev/sda2); set " \
        "KLDLOAD_FORCE_WIPE=1 to wipe it, or choose an empty disk" in events.of_type(
            Failed)[0].message
    assert run(a, "old-rpool", consent_to_wipe=True)[0].ok


def test_the_same_disk_twice_by_two_names_is_refused():
    a = answers("KLDLOAD_ZFS_TOPOLOGY=mirror\nKLDLOAD_ZFS_DATA_DISKS="
                "/dev/disk/by-id/virtio-kldload-vda\n")
    _, events, _ = run(a)
    assert "is the same disk as /dev/vda" in events.of_type(Failed)[0].message


def test_plan_install_raises_with_the_reason():
    a = answers().model_copy(update={"disk": "/dev/nvme9n9"})
    with pytest.raises(InstallError, match="does not exist on this machine"):
        plan_install(a, load_bundled_machine("one-disk-vm"), options=InstallOptions())


def test_secrets_never_reach_events_log_or_plan(tmp_path):
    a = parse_answers(BASE.replace("unit-Pass-2026", "pw-in-clear-9") +
                      "KLDLOAD_ZFS_ENCRYPT=1\nKLDLOAD_ZFS_PASSPHRASE='pass phrase 9'\n"
                      "KLDLOAD_EXPORT_FORMAT=qcow2\nKLDLOAD_EXPORT_SCP_HOST=img\n"
                      "KLDLOAD_EXPORT_SCP_PASS=scp-pw-9\n"
                      "KLDLOAD_EXPORT_SCP_HOST_KEY=SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s\n").answers
    log = tmp_path / "install.log"
    events = EventLog()
    runner = RecordingRunner(log_path=log, sink=events)
    outcome, _, _ = run(a, runner=runner)
    runner.close()
    assert outcome.ok
    texts = [log.read_text(), runner.to_json(), runner.render_text(),
             *(e.model_dump_json() for e in events.events)]
    for secret in ("pw-in-clear-9", "pass phrase 9", "scp-pw-9"):
        assert all(secret not in t for t in texts), secret


def test_a_prebuilt_zfs_module_for_the_kernel_is_preferred_to_dkms():
    runner = RecordingRunner()
    runner.respond(["apt-cache", "depends", "--important", "linux-image-amd64"],
                   stdout="linux-image-amd64\n  Depends: linux-image-6.1.0-57-amd64\n")
    runner.respond(["apt-cache", "show", "--no-all-versions", "zfs-modules-6.1.0-57-amd64"],
                   stdout="Package: zfs-modules-6.1.0-57-amd64\nProvides: zfs-modules\n")
    outcome, _, runner = run(answers(), runner=runner)
    assert outcome.ok
    installs = [s.argv for s in runner.plan if s.argv[2:4] == ("apt-get", "install")]
    assert installs[0][-7:] == ("linux-image-amd64", "zfsutils-linux", "zfs-initramfs",
                                "systemd-boot-efi", "grub-pc-bin", "grub2-common",
                                "zfs-modules-6.1.0-57-amd64")
    assert not any("zfs-dkms" in argv for argv in installs)
    held = next(s.content for s in runner.plan if s.kind == "write" and
                str(s.path).endswith("held-packages"))
    assert "zfs-modules-6.1.0-57-amd64" in held and "zfs-dkms" not in held
