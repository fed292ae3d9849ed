"""Discovery over machine descriptions: order, seed descriptions, messages.

These run no command: a machine description replaces probing, and the
RecordingRunner passed in proves it (its plan stays empty).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kldload_tui.backend.engine.runner import RecordingRunner
from kldload_tui.backend.machine.model import Machine, load_bundled_machine
from kldload_tui.backend.seed.find import (
    AmbiguousSeeds,
    AnswersFile,
    AnswersUnavailable,
    NoAnswersFound,
    SeedDisk,
    find_answers,
    scan_seed_devices,
)

ROOT = Path(__file__).parents[2]
SEEDED = "server-3nvme-usb-seed"
INVALID = "KLDLOAD_DISTRO=debain\nKLDLOAD_DISK=/dev/sda\nKLDLOAD_HOSTNAME=-bad-\nKLDLOAD_NOPE=1\n"


def seeded(**seed_changes: object) -> Machine:
    m = load_bundled_machine(SEEDED)
    assert m.seed is not None
    return m.model_copy(update={"seed": m.seed.model_copy(update=seed_changes)})


def kldload(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("kldload-tui", path=str(Path(sys.executable).parent))
    argv = [exe] if exe else [sys.executable, "-m", "kldload_tui"]
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=60)


def test_seed_from_a_machine_description() -> None:
    runner = RecordingRunner()
    m = seeded()
    found = find_answers(machine=m, runner=runner)
    assert found.source == SeedDisk("/dev/sda1", "KLDLOADSEED", "vfat", described=True)
    assert found.source.name == "/dev/sda1:answers.env"
    assert m.seed is not None and m.seed.answers is not None
    assert found.data == m.seed.answers.encode()
    assert found.result.ok
    assert runner.plan == []


def test_invalid_answers_on_the_seed_report_every_error_with_the_device() -> None:
    found = find_answers(machine=seeded(answers=INVALID), runner=RecordingRunner())
    assert not found.result.ok
    rendered = [p.render() for p in found.result.errors]
    assert len(rendered) == 3
    assert all(r.startswith("/dev/sda1:answers.env:") for r in rendered)
    assert rendered[0].startswith("/dev/sda1:answers.env:1: KLDLOAD_DISTRO: ")
    assert any(r.startswith("/dev/sda1:answers.env:4: KLDLOAD_NOPE: unknown key") for r in rendered)


def test_no_seed_says_what_was_looked_for() -> None:
    m = load_bundled_machine("one-disk-vm")
    with pytest.raises(NoAnswersFound) as info:
        find_answers(machine=m, runner=RecordingRunner())
    text = str(info.value)
    for needed in ("--answers PATH|URL", "kldload.answers=URL", "KLDLOAD_ANSWERS_URL=URL",
                   "KLDLOADSEED", "KLDLOAD-SEED", "answers.env"):
        assert needed in text


def test_seed_without_answers_names_the_device() -> None:
    with pytest.raises(NoAnswersFound, match=r"/dev/sda1: holds no answers.env"):
        find_answers(machine=seeded(answers=None), runner=RecordingRunner())


def test_seed_with_a_foreign_label_is_not_a_seed() -> None:
    with pytest.raises(NoAnswersFound, match=r"label 'CIDATA' is not a seed label"):
        find_answers(machine=seeded(label="CIDATA"), runner=RecordingRunner())


def test_explicit_file_comes_first(tmp_path: Path) -> None:
    f = tmp_path / "a.env"
    f.write_text("KLDLOAD_DISTRO=arch\nKLDLOAD_DISK=/dev/vda\nKLDLOAD_HOSTNAME=a1\n")
    m = seeded().model_copy(update={"kernel_cmdline": "kldload.answers=http://192.0.2.1/a"})
    found = find_answers(str(f), machine=m, runner=RecordingRunner())
    assert found.source == AnswersFile(str(f))
    assert found.data == f.read_bytes()
    assert found.result.answers is not None and found.result.answers.hostname == "a1"


def test_missing_explicit_file_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(AnswersUnavailable, match="cannot read"):
        find_answers(str(tmp_path / "nope.env"), machine=seeded(), runner=RecordingRunner())


def test_cmdline_wins_over_the_seed_and_does_not_fall_through() -> None:
    # A cmdline URL that cannot be used is an error, not a reason to use the seed.
    m = seeded().model_copy(update={"kernel_cmdline": "quiet kldload.answers=tftp://h/a.env"})
    with pytest.raises(AnswersUnavailable, match=r"kldload.answers=tftp://h/a.env: not an http"):
        find_answers(machine=m, runner=RecordingRunner())


def test_cmdline_unknown_placeholder_is_named() -> None:
    m = seeded().model_copy(update={"kernel_cmdline": "kldload.answers=http://h/${macaddr}.env"})
    with pytest.raises(AnswersUnavailable, match=r"unknown placeholder \$\{macaddr\}"):
        find_answers(machine=m, runner=RecordingRunner())


def test_cmdline_argument_overrides_the_machine_description() -> None:
    with pytest.raises(AnswersUnavailable, match="KLDLOAD_ANSWERS_URL=nope"):
        find_answers(machine=seeded(), cmdline="KLDLOAD_ANSWERS_URL=nope",
                     runner=RecordingRunner())


def lsblk_row(path: str, **cols: object) -> dict[str, object]:
    row: dict[str, object] = {"path": path, "kname": path.rsplit("/", 1)[-1], "pkname": None,
                              "type": "disk", "size": 16 << 20, "fstype": None, "label": None,
                              "uuid": None}
    row.update(cols)
    return row


def test_scan_skips_floppies_and_counts_a_hybrid_iso_once(tmp_path: Path) -> None:
    # Partition devices and a floppy drive cannot be made on the test hosts,
    # so lsblk's answer is canned here; the integration tests scan for real.
    runner = RecordingRunner()
    iso = {"fstype": "iso9660", "label": "KLDLOAD-SEED", "uuid": "2025-01-01-00-00-00-00"}
    rows = [lsblk_row("/dev/fd0", size=1474560),
            lsblk_row("/dev/sdb", **iso), lsblk_row("/dev/sdb1", pkname="sdb", type="part", **iso),
            lsblk_row("/dev/sdc1", type="part", fstype="vfat", label="KLDLOAD-SEE"),
            lsblk_row("/dev/sdd", size=0), lsblk_row("/dev/vda"),
            lsblk_row("/dev/sde", fstype="vfat", label="KLDLOADSEED")]
    runner.respond(["lsblk"], stdout=json.dumps({"blockdevices": rows}))
    runner.respond(["blkid", "-p", "-o", "export", "/dev/vda"], stdout="PTTYPE=gpt\n")
    # A multipath leg (held by dm-3) is read through its upper device, not directly.
    (tmp_path / "class" / "block" / "sde" / "holders" / "dm-3").mkdir(parents=True)
    found, notes = scan_seed_devices(runner, sys_root=tmp_path)
    assert [c.device for c in found] == ["/dev/sdb"]
    assert notes == ["/dev/sdc1 has label 'KLDLOAD-SEE', which is not a seed label: relabel it "
                     "KLDLOADSEED (fatlabel /dev/sdc1 KLDLOADSEED)"]
    probed = [step.argv[-1] for step in runner.plan if step.argv[0] == "blkid"]
    assert probed == ["/dev/vda"]  # lsblk knew the others; fd0 and empty sdd never probed


def test_ambiguous_seeds_error_carries_the_devices() -> None:
    err = AmbiguousSeeds(["2 seed disks found"], ["/dev/sdb", "/dev/sdc"])
    assert err.devices == ["/dev/sdb", "/dev/sdc"]


# The command ------------------------------------------------------------------

def test_cli_find_with_a_machine_description() -> None:
    r = kldload("seed", "find", "--machine", SEEDED)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "answers: seed disk /dev/sda1 (label KLDLOADSEED, vfat, from the machine " \
                       "description)"
    assert lines[1] == "/dev/sda1:answers.env: valid"


def test_cli_find_json() -> None:
    r = kldload("seed", "find", "--machine", SEEDED, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["found"] and doc["valid"]
    assert doc["source"]["kind"] == "seed" and doc["source"]["device"] == "/dev/sda1"


def test_cli_find_invalid_seed_exits_1_with_every_error(tmp_path: Path) -> None:
    f = tmp_path / "m.json"
    f.write_text(seeded(answers=INVALID).to_json())
    r = kldload("seed", "find", "--machine", str(f))
    assert r.returncode == 1
    errors = [line for line in r.stderr.splitlines() if line.startswith("/dev/sda1:answers.env:")]
    assert len(errors) == 4  # three errors, then the count
    assert "/dev/sda1:answers.env: invalid (3 errors)" in r.stderr


def test_cli_find_nothing_exits_2() -> None:
    r = kldload("seed", "find", "--machine", "one-disk-vm")
    assert r.returncode == 2
    assert "KLDLOADSEED or KLDLOAD-SEED" in r.stderr and "kldload.answers=URL" in r.stderr


def test_cli_seed_needs_an_action() -> None:
    assert kldload("seed").returncode == 2


def test_cli_make_refuses_invalid_answers_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.env"
    bad.write_text(INVALID)
    out = tmp_path / "seed.img"
    r = kldload("seed", "make", "--answers", str(bad), "--image", str(out))
    assert r.returncode == 1
    assert len([x for x in r.stderr.splitlines() if x.startswith(f"{bad}:")]) == 4  # + summary
    assert "nothing written" in r.stderr
    assert list(tmp_path.iterdir()) == [bad]


def test_cli_make_iso_takes_no_size(tmp_path: Path) -> None:
    r = kldload("seed", "make", "--answers", str(ROOT / "answers-examples" / "minimal.env"),
                "--image", str(tmp_path / "s.iso"), "--iso", "--size", "4M")
    assert r.returncode == 2
    assert not (tmp_path / "s.iso").exists()
