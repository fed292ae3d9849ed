"""`kldload-tui --headless` and `plan` as an unattended machine runs them."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
GOLDEN = ROOT / "tests" / "golden"


def kldload(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "kldload-tui"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=120,
                          input=stdin if stdin is not None else "")


def test_headless_dry_run_prints_what_it_wipes_and_every_phase(tmp_path):
    log = tmp_path / "dry.log"
    r = kldload("--headless", "--dry-run", "--machine", "server-3nvme-usb-seed", "--answers",
                str(GOLDEN / "answers/mirror-server.env"), "--log", str(log))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert f"answers: file {GOLDEN / 'answers/mirror-server.env'} (--answers)" in out
    assert "  wipe      /dev/disk/by-id/nvme-Samsung_SSD_980_PRO_1TB_S5GXNF0R123456A " \
        "(/dev/nvme0n1, 931.5 GiB, Samsung SSD 980 PRO 1TB): empty" in out
    assert "[1/13] preflight" in out and "[13/13] finish" in out
    assert "kldload: complete: dry run complete: nothing was executed, nothing was verified" \
        in out
    assert "kldload: would poweroff now (dry run)" in out
    assert "mirror-Pass-2026" not in out + r.stderr + log.read_text()


def test_headless_json_lines(tmp_path):
    r = kldload("--headless", "--dry-run", "--json", "--machine", "one-disk-vm", "--answers",
                str(GOLDEN / "answers/single-minimal.env"), "--log", str(tmp_path / "l"))
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "install_started" and kinds[-1] == "complete"
    assert kinds.count("phase_started") == kinds.count("phase_finished") == 13


def test_headless_refuses_a_disk_with_data_without_force_wipe(tmp_path):
    answers = tmp_path / "a.env"
    answers.write_text("KLDLOAD_DISTRO=debian\nKLDLOAD_DISK=/dev/sda\nKLDLOAD_HOSTNAME=x\n")
    r = kldload("--headless", "--dry-run", "--machine", "old-rpool", "--answers", str(answers))
    assert r.returncode == 1
    assert f"{answers}:2: KLDLOAD_DISK: /dev/sda is not empty (gpt partition table with 2 " \
        "partition(s); vfat on /dev/sda1; member of ZFS pool 'rpool' on /dev/sda2); set " \
        "KLDLOAD_FORCE_WIPE=1 to wipe it, or choose an empty disk" in r.stderr
    assert "refusing to install from file" in r.stderr
    assert "nothing was touched" in r.stderr
    assert "[1/" not in r.stdout
    assert "wipe " not in r.stdout  # it wipes nothing, so it says it wipes nothing


def test_a_dry_run_leaves_no_log_unless_asked(tmp_path):
    before = set(Path("/tmp").glob("kldload-dry-run-*"))
    r = kldload("--headless", "--dry-run", "--machine", "one-disk-vm", "--answers",
                str(GOLDEN / "answers/single-minimal.env"))
    assert r.returncode == 0, r.stderr
    assert set(Path("/tmp").glob("kldload-dry-run-*")) == before
    assert "no log" in r.stdout
    # Warnings are diagnostics, as in every command: stderr, leaving stdout to the install.
    assert "warning: " in r.stderr and "KLDLOAD_PASSWORD" in r.stderr
    assert "warning: " not in r.stdout


def test_a_real_install_never_takes_its_disks_from_a_description(tmp_path):
    for front in (["--headless"], []):
        r = kldload(*front, "--machine", "one-disk-vm", "--answers",
                    str(GOLDEN / "answers/single-minimal.env"))
        assert r.returncode == 2
        assert "a real install probes this one: add --dry-run, or drop --machine" in r.stderr


def test_headless_invalid_answers_print_every_error(tmp_path):
    answers = tmp_path / "a.env"
    answers.write_text("KLDLOAD_DISTRO=debain\nKLDLOAD_DISK=/dev/vda\nKLDLOAD_HOSTNAM=x\n")
    r = kldload("--headless", "--dry-run", "--machine", "one-disk-vm", "--answers", str(answers))
    assert r.returncode == 1
    assert f"{answers}:1: KLDLOAD_DISTRO: unknown distro 'debain'" in r.stderr
    assert f"{answers}:3: KLDLOAD_HOSTNAM: unknown key KLDLOAD_HOSTNAM" in r.stderr
    assert "nothing was touched" in r.stderr


def test_headless_without_answers_and_without_a_terminal_fails_clearly():
    r = kldload("--headless", "--dry-run", "--machine", "one-disk-vm")
    assert r.returncode == 2
    assert "no answers found" in r.stderr


def test_the_seed_disk_of_a_machine_is_found_and_used():
    r = kldload("--headless", "--dry-run", "--machine", "server-3nvme-usb-seed")
    assert "answers: seed disk /dev/sda1" in r.stdout, r.stdout + r.stderr


def test_plan_command_text_and_json():
    r = kldload("plan", str(GOLDEN / "answers/single-minimal.env"), "--machine", "one-disk-vm")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("# preflight\n")
    assert "zpool create -f" in r.stdout
    r = kldload("plan", "--json", str(GOLDEN / "answers/single-minimal.env"), "--machine",
                "one-disk-vm")
    steps = json.loads(r.stdout)["steps"]
    assert {s["kind"] for s in steps} == {"command", "write", "note"}
    r = kldload("plan", str(ROOT / "answers-examples/minimal.env"), "--machine", "one-disk-vm")
    assert r.returncode == 1
    assert f"{ROOT / 'answers-examples/minimal.env'}:2: KLDLOAD_DISK: /dev/sda does not exist " \
        "on this machine" in r.stderr


def test_a_machine_description_that_cannot_be_used_exits_3_whatever_the_command(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    answers = str(GOLDEN / "answers/single-minimal.env")
    for args in (["plan", answers], ["--headless", "--dry-run", "--answers", answers],
                 ["disks"], ["seed", "find"]):
        for machine in (str(broken), "no-such-machine"):
            r = kldload(*args, "--machine", machine)
            assert r.returncode == 3, (args, r.stderr)
            assert r.stderr.splitlines()[-1].startswith(machine), (args, r.stderr)
            assert "Traceback" not in r.stderr


def test_one_launcher_decides_log_runner_and_finish_for_every_front_end(tmp_path):
    from kldload_tui.backend.answers.file import load_answers
    from kldload_tui.backend.engine.core import DEFAULT_LOG
    from kldload_tui.backend.engine.launcher import Launch, LaunchRefused
    from kldload_tui.backend.engine.runner import LocalRunner, RecordingRunner
    from kldload_tui.backend.machine.model import load_bundled_machine

    answers = load_answers(GOLDEN / "answers/single-minimal.env").answers
    machine = load_bundled_machine("one-disk-vm")
    dry = Launch(answers, machine, dry_run=True, consent=False, described=True)
    # A dry run keeps a log only when one is asked for; a real install always keeps one.
    assert dry.log_path is None and dry.options().log_path is None
    assert Launch(answers, machine, dry_run=True, consent=False,
                  log=tmp_path / "l").log_path == tmp_path / "l"
    real = Launch(answers, machine, dry_run=False, consent=True)
    assert real.log_path == DEFAULT_LOG
    assert real.options().reprobe and real.options().consent_to_wipe
    with dry.start(lambda _event: None) as install:
        assert isinstance(install.runner, RecordingRunner)
        assert install.run().ok
        assert install.runner.plan == dry.plan().plan
    # The CLI refuses --machine without --dry-run; the launcher is the backstop.
    with pytest.raises(LaunchRefused):
        Launch(answers, machine, dry_run=False, consent=True, described=True).start(print)
    with Launch(answers, machine, dry_run=False, consent=True,
                log=tmp_path / "real.log").start(print) as install:
        assert isinstance(install.runner, LocalRunner)  # built, never run here
    step = dry.finish_step("reboot")
    assert step is not None and not step.execute and step.argv == ("systemctl", "reboot")
    assert real.finish_step("none") is None
    assert real.finish_step().argv == ("systemctl", answers.finish_action.value)
