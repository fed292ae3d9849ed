"""Machine descriptions: the models, the bundled files, load/save and their errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kldload_tui.backend.machine.model import (
    Disk,
    Machine,
    MachineFileError,
    Partition,
    bundled_machines,
    load_bundled_machine,
    load_machine,
    parse_machine,
    resolve_machine,
    save_machine,
)
from kldload_tui.cli import main

BUNDLED = {"one-disk-vm", "server-3nvme-usb-seed", "live-only", "old-rpool"}


def minimal(**extra: object) -> dict[str, object]:
    data: dict[str, object] = {
        "firmware": "bios",
        "disks": [{"path": "/dev/sda", "size_bytes": 10**10}],
    }
    data.update(extra)
    return data


def problems_of(data: object, source: str = "m.json") -> list[str]:
    with pytest.raises(MachineFileError) as info:
        parse_machine(json.dumps(data), source)
    return [p.render() for p in info.value.problems]


def test_the_bundled_machines_are_shipped_and_valid():
    assert set(bundled_machines()) >= BUNDLED
    for name in bundled_machines():
        machine = load_bundled_machine(name)
        assert machine.description, name
        assert machine.disks, name


def test_bundled_machines_round_trip_through_json(tmp_path: Path):
    for name in bundled_machines():
        machine = load_bundled_machine(name)
        path = tmp_path / f"{name}.json"
        save_machine(machine, path)
        assert load_machine(path) == machine
        # What we ship is exactly what save writes: no hand-edited drift.
        shipped = Path(__file__).parents[2] / "backend/machine/descriptions" / f"{name}.json"
        assert json.loads(shipped.read_text()) == json.loads(machine.to_json())


def test_server_description_is_realistic():
    m = load_bundled_machine("server-3nvme-usb-seed")
    nvme = [d for d in m.disks if d.transport == "nvme"]
    assert [d.path for d in nvme] == ["/dev/nvme0n1", "/dev/nvme1n1", "/dev/nvme2n1"]
    assert nvme[0].by_id == "/dev/disk/by-id/nvme-Samsung_SSD_980_PRO_1TB_S5GXNF0R123456A"
    assert all(d.size_bytes == 1_000_204_886_016 for d in nvme)
    assert m.seed is not None and m.seed.device == "/dev/sda1"
    assert m.seed.label == "KLDLOADSEED" and m.seed.filesystem == "vfat"
    stick = m.disk_for(m.seed.device)
    assert stick is not None and stick.transport == "usb" and stick.removable
    assert [n.mac for n in m.nics] == ["3c:ec:ef:1a:2b:3c", "3c:ec:ef:1a:2b:3d"]
    assert m.firmware == "uefi"


def test_seed_answers_of_the_server_are_valid_answers():
    from kldload_tui.backend.answers.file import parse_answers

    m = load_bundled_machine("server-3nvme-usb-seed")
    assert m.seed is not None and m.seed.answers
    result = parse_answers(m.seed.answers, source="seed")
    assert result.ok, [p.render() for p in result.problems]
    # The disks it names are this machine's disks, by exact by-id path.
    assert result.answers is not None
    for disk in result.answers.all_disks():
        assert m.disk_for(disk) is not None, disk


def test_old_rpool_disk_holds_a_pool_that_is_not_imported():
    m = load_bundled_machine("old-rpool")
    sda = m.disk_for("/dev/sda")
    assert sda is not None
    member = [p for p in sda.partitions if p.zfs_pool == "rpool"]
    assert len(member) == 1 and not member[0].zfs_pool_imported


def test_live_only_machine_has_its_live_medium_as_the_only_disk():
    m = load_bundled_machine("live-only")
    real = [d for d in m.disks if d.transport != "loop"]
    assert len(real) == 1
    assert all(real[0].owns(p) for p in m.live_devices)


def test_owns_and_disk_for_compare_exactly():
    sda = Disk(path="/dev/sda", size_bytes=1, by_id="/dev/disk/by-id/ata-X_1",
               partitions=[Partition(path="/dev/sda1", size_bytes=1, number=1)])
    sdaa = Disk(path="/dev/sdaa", size_bytes=1)
    m = Machine(firmware="bios", disks=[sda, sdaa])
    assert m.disk_for("/dev/sda1") is sda
    assert m.disk_for("/dev/disk/by-id/ata-X_1") is sda
    assert m.disk_for("/dev/sdaa") is sdaa
    for near_miss in ("/dev/sd", "/dev/sda2", "sda", "/dev/disk/by-id/ata-X", "/dev/sda1 "):
        assert m.disk_for(near_miss) is None, near_miss


def test_zfs_pool_only_for_zfs_members():
    assert Partition(path="/dev/sda2", size_bytes=1, number=2, fstype="zfs_member",
                     label="rpool").zfs_pool == "rpool"
    assert Partition(path="/dev/sda1", size_bytes=1, number=1, fstype="ext4",
                     label="rpool").zfs_pool is None


def test_errors_name_file_and_field():
    bad = minimal(disks=[{"path": "/dev/sda", "size_bytes": "lots"}])
    assert any(r.startswith("m.json: disks[0].size_bytes: ") for r in problems_of(bad))


def test_all_errors_are_reported_at_once():
    bad = {"firmware": "coreboot", "disks": [{"path": "sda", "size_bytes": -1}], "colour": 1}
    rendered = problems_of(bad)
    keys = {r.split(": ")[1] for r in rendered}
    assert {"firmware", "disks[0].path", "disks[0].size_bytes", "colour"} <= keys


@pytest.mark.parametrize(("data", "needle"), [
    (minimal(live_devices=["/dev/sdb"]), "live_devices names devices not in disks: /dev/sdb"),
    (minimal(seed={"device": "/dev/sdz1", "label": "KLDLOADSEED", "filesystem": "vfat"}),
     "seed.device /dev/sdz1 is not a disk or partition here"),
    (minimal(disks=[{"path": "/dev/sda", "size_bytes": 1}, {"path": "/dev/sda", "size_bytes": 2}]),
     "device paths listed twice: /dev/sda"),
    (minimal(disks=[{"path": "/dev/sda", "size_bytes": 1, "by_id": "/dev/sda"}]),
     "disks[0].by_id"),
    (minimal(disks=[{"path": "/dev/sda", "size_bytes": 1, "by_id_synthesised": True}]),
     "by_id_synthesised is true but by_id is not set"),
    (minimal(nics=[{"name": "eth0", "mac": "52:54:00:AB:CD"}]), "nics[0].mac"),
    (minimal(format="kldload-machine/9"), "format"),
])
def test_rule_violations(data: dict[str, object], needle: str):
    assert any(needle in r for r in problems_of(data)), problems_of(data)


def test_invalid_json_names_the_line_and_is_unreadable():
    with pytest.raises(MachineFileError) as info:
        parse_machine('{\n  "firmware": "bios",\n  oops\n}', "x.json")
    assert info.value.unreadable
    assert info.value.problems[0].render().startswith("x.json:3: not valid JSON")


def test_top_level_must_be_an_object():
    assert problems_of([1, 2]) == ["m.json: the top level must be a JSON object"]


def test_missing_file_is_unreadable(tmp_path: Path):
    with pytest.raises(MachineFileError) as info:
        load_machine(tmp_path / "nope.json")
    assert info.value.unreadable and "nope.json" in str(info.value)


def test_resolve_machine_takes_files_then_bundled_names(tmp_path: Path):
    path = tmp_path / "m.json"
    save_machine(Machine.model_validate(minimal()), path)
    assert resolve_machine(str(path)).disks[0].path == "/dev/sda"
    assert resolve_machine("one-disk-vm") == resolve_machine("one-disk-vm.json")
    with pytest.raises(MachineFileError) as info:
        resolve_machine("no-such-machine")
    assert "one-disk-vm" in str(info.value)


def test_probe_command_reemits_a_machine_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["probe", "--machine", "old-rpool"]) == 0
    out = capsys.readouterr().out
    assert parse_machine(out, "stdout") == load_bundled_machine("old-rpool")
    target = tmp_path / "copy.json"
    assert main(["probe", "--machine", "old-rpool", "-o", str(target),
                 "--description", "copied"]) == 0
    assert load_machine(target).description == "copied"


def test_probe_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    # A machine description that cannot be used has an exit status of its own.
    assert main(["probe", "--machine", str(broken)]) == 3
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"firmware": "uefi", "disks": "none"}))
    assert main(["probe", "--machine", str(wrong)]) == 3
    assert "wrong.json: disks:" in capsys.readouterr().err
