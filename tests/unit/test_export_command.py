"""`kldload-tui export`'s pure parts: the name, the room, progress, ZFS labels, the
bytes a device occupies, and the arguments it refuses. Nothing here executes a
command (a `RecordingRunner` answers for qemu-img); the real runs are in
tests/integration/test_export_command.py.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest

from kldload_tui.backend.answers.model import Distro, ExportFormat, Profile
from kldload_tui.backend.engine.events import OutputLine, Progress
from kldload_tui.backend.engine.runner import RecordingRunner
from kldload_tui.backend.export.formats import MIB, ExportRefused
from kldload_tui.backend.export.inuse import Extent, device_extents
from kldload_tui.backend.export.naming import choose_name
from kldload_tui.backend.export.progress import QemuProgress, clock_text, percent_of
from kldload_tui.backend.export.room import (
    RoomEstimate,
    RoomRefused,
    check_room,
    from_measure,
    full_size,
    measure_argv,
    shortfall,
)
from kldload_tui.backend.export.zfs_label import LabelError, VdevLabel, parse_nvlist
from kldload_tui.cli import main
from kldload_tui.progress_bar import BarRenderer, PlainProgress, bar_line
from tests.unit.export_helpers import export_answers
from tests.unit.zfs_label_helpers import FIXTURES, encode_nvlist, member_config

QCOW2 = ExportFormat.QCOW2

# --- the name ------------------------------------------------------------------------


def test_name_precedence_flag_then_environment_then_answers_then_the_seeds_defaults() -> None:
    rocky = export_answers("/dev/sda").model_copy(
        update={"distro": Distro.ROCKY, "profile": Profile.CORE})
    assert choose_name(QCOW2, flag="v3", env="v2", answers=rocky).file == "v3.qcow2"
    chosen = choose_name(QCOW2, flag=None, env="debian13-base-v2", answers=rocky)
    assert (chosen.file, chosen.origin) == ("debian13-base-v2.qcow2", "KEXPORT_NAME")
    chosen = choose_name(ExportFormat.OVA, flag=None, env=None, answers=rocky,
                         answers_path="a.env")
    assert chosen.file == "kldload-rocky-core.ova"
    assert chosen.origin == "distro and profile of the answers in a.env"
    chosen = choose_name(ExportFormat.VHD, flag=None, env=None, answers=None)
    assert chosen.file == "kldload-debian-server.vhd"  # the seed's `kexport /dev/sda ...`
    assert chosen.origin == ("the seed's defaults: distro debian, profile server; --name or "
                             "--answers says otherwise")


def test_a_blank_environment_name_is_unset_but_a_blank_flag_is_a_mistake() -> None:
    assert choose_name(QCOW2, flag=None, env="  ", answers=None).file == (
        "kldload-debian-server.qcow2")
    with pytest.raises(ValueError, match="--name is empty"):
        choose_name(QCOW2, flag=" ", env="x", answers=None)


def test_a_given_extension_is_kept_and_a_path_is_refused() -> None:
    assert choose_name(QCOW2, flag="gold.qcow2", env=None, answers=None).file == "gold.qcow2"
    assert choose_name(QCOW2, flag="gold.raw", env=None, answers=None).file == (
        "gold.raw.qcow2")
    for bad in ("../x", "a/b", "-x", ".hidden", "a b"):
        with pytest.raises(ValueError, match="image name"):
            choose_name(QCOW2, flag=None, env=bad, answers=None)


# --- the room ------------------------------------------------------------------------


def test_raw_and_fixed_vhd_need_the_whole_disk_without_measuring() -> None:
    assert full_size(ExportFormat.RAW, 64 * MIB + 512) == RoomEstimate(
        64 * MIB + 512, "a raw image is the disk's full size")
    vhd = full_size(ExportFormat.VHD, 64 * MIB + 512)
    assert vhd is not None and vhd.needed == 65 * MIB + 512  # whole MiB, then the footer
    assert full_size(QCOW2, 64 * MIB) is None


def test_sparse_formats_from_qemu_img_measure() -> None:
    qcow2 = from_measure(QCOW2, 64 * MIB, block_device=False)
    assert qcow2.needed == 64 * MIB and "data the image file holds" in qcow2.basis
    vmdk = from_measure(ExportFormat.VMDK, 64 * MIB, block_device=False)
    assert vmdk.needed == 65 * MIB  # plus 1/64: grain markers, deflate's worst case
    ova = from_measure(ExportFormat.OVA, 64 * MIB, block_device=True)
    assert ova.needed == 2 * 65 * MIB + MIB  # the VMDK and its copy in the archive
    assert "every block of the disk" in ova.basis


def test_shortfall_says_what_is_needed_and_what_is_free() -> None:
    room = RoomEstimate(3 * MIB, "why")
    assert shortfall(Path("/x"), "i.qcow2", room, 3 * MIB) is None
    assert shortfall(Path("/x"), "i.qcow2", room, MIB) == (
        "i.qcow2 may need up to 3.0 MiB and /x has 1.0 MiB free (why)")


def _measured(required: int) -> RecordingRunner:
    runner = RecordingRunner()
    runner.respond(measure_argv("disk.raw"),
                   stdout=json.dumps({"required": required, "fully-allocated": 2 * required}))
    return runner


def test_check_room_refuses_warns_or_skips(tmp_path: Path) -> None:
    out = tmp_path / "not-yet" / "i.qcow2"  # judged on the nearest directory that exists
    free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    too_big = free + 1024 * MIB
    with pytest.raises(RoomRefused, match=r"may need up to .* free .*nothing was written"):
        check_room(_measured(too_big), "disk.raw", QCOW2, out, too_big, policy="refuse")
    assert not out.parent.exists()
    warned = check_room(_measured(too_big), "disk.raw", QCOW2, out, too_big, policy="warn")
    assert len(warned) == 1 and "going ahead" in warned[0]
    assert check_room(_measured(MIB), "disk.raw", QCOW2, out, 64 * MIB, policy="refuse") == []
    skipped = RecordingRunner()
    assert check_room(skipped, "disk.raw", QCOW2, out, too_big, policy="skip") == []
    assert skipped.plan == []
    assert issubclass(RoomRefused, ExportRefused)


def test_a_dry_run_plans_the_measure_and_judges_nothing(tmp_path: Path) -> None:
    runner = RecordingRunner()  # no canned answer: a plan has no output to read
    assert check_room(runner, "/dev/sda", QCOW2, tmp_path / "i.qcow2", 1 << 50,
                      policy="refuse", dry_run=True) == []
    assert [list(s.argv) for s in runner.plan] == [measure_argv("/dev/sda")]


# --- progress ------------------------------------------------------------------------


def _line(text: str) -> OutputLine:
    return OutputLine(phase="export", stream="stdout", text=text)


def test_qemu_percentages_become_progress_with_rate_and_time_left() -> None:
    now = [100.0]
    watch = QemuProgress("converting", 8 * 1024 * MIB, phase="export", clock=lambda: now[0])
    first = watch.events_for(_line("    (0.00/100%)"))
    assert isinstance(first[0], Progress) and first[0].message == (
        "converting: 0 Bytes of 8.0 GiB")
    now[0] = 110.0
    [event] = watch.events_for(_line("    (25.00/100%)"))
    assert isinstance(event, Progress) and event.fraction == 0.25
    assert event.message == "converting: 2.0 GiB of 8.0 GiB, 204.8 MiB/s, 0:30 left"
    assert watch.events_for(_line("    (25.00/100%)")) == []  # a redraw of the same
    now[0] = 140.0
    [done] = watch.events_for(_line("    (100.00/100%)"))
    assert isinstance(done, Progress) and done.message.endswith("204.8 MiB/s")  # no time left
    assert watch.events_for(_line("    (100.00/100%)")) == []  # qemu-img draws 100% twice
    other = _line("qemu-img: error while writing")
    assert watch.events_for(other) == [other]


def test_percent_and_clock_text() -> None:
    assert percent_of("    (12.34/100%)") == pytest.approx(0.1234)
    assert percent_of("(12.34/100%) and more") is None
    assert (clock_text(5), clock_text(65), clock_text(7384)) == ("0:05", "1:05", "2:03:04")


def _progress(fraction: float, seconds: float, phase: str = "export") -> Progress:
    stamp = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    return Progress(phase=phase, fraction=fraction, message=f"m{fraction}", timestamp=stamp)


def test_plain_progress_tells_start_and_end_and_thins_between() -> None:
    out = StringIO()
    show = PlainProgress(out)
    for fraction, at in ((0.0, 0), (0.01, 1), (0.06, 2), (0.07, 13), (0.955, 14), (0.9953, 15),
                         (1.0, 15), (1.0, 15)):
        show(_progress(fraction, at))
    show(_progress(0.0, 16, "verify"))
    show(OutputLine(phase="export", stream="stdout", text="not shown"))
    assert out.getvalue().splitlines() == [
        "    export: 0% m0.0", "    export: 6% m0.06", "    export: 7% m0.07",
        "    export: 95% m0.955", "    export: 100% m1.0", "    verify: 0% m0.0"]


def test_the_bar_fills_by_the_floor_and_fits_the_terminal() -> None:
    line = bar_line(_progress(0.999, 0), 200)
    assert line == "export [#######################.]  99% m0.999"
    assert len(bar_line(Progress(phase="export", fraction=0.5, message="x" * 300), 80)) == 79


def test_the_bar_redraws_in_place_and_ends_its_line_at_the_end_or_a_new_phase() -> None:
    out = StringIO()
    bar = BarRenderer(out)
    for event in (_progress(0.5, 0), _progress(1.0, 1), _progress(0.0, 2, "verify")):
        bar(event)
    bar(OutputLine(phase="verify", stream="stdout", text="not shown"))
    bar.close()
    bar.close()  # once is enough
    assert out.getvalue().split("\n") == [
        "\rexport [############............]  50% m0.5\x1b[K"
        "\rexport [########################] 100% m1.0\x1b[K",
        "\rverify [........................]   0% m0.0\x1b[K", ""]


# --- ZFS labels ----------------------------------------------------------------------


def test_real_labels_single_and_mirror_hold_the_whole_pool() -> None:
    # Read from disks the e2e mirror and single installs made (OpenZFS 2.1).
    mirror = VdevLabel.from_config(parse_nvlist((FIXTURES / "mirror-member.nvlist").read_bytes()))
    assert (mirror.pool, mirror.top_type, mirror.top_children) == ("rpool", "mirror", 2)
    assert mirror.pool_guid == 527167773694127797 and mirror.why_not_whole() is None
    single = VdevLabel.from_config(parse_nvlist((FIXTURES / "single-disk.nvlist").read_bytes()))
    assert (single.top_type, single.vdev_children, single.why_not_whole()) == ("disk", 1, None)


def test_the_test_encoder_writes_what_the_real_labels_hold() -> None:
    real = parse_nvlist((FIXTURES / "mirror-member.nvlist").read_bytes())
    assert parse_nvlist(encode_nvlist(real)) == real


@pytest.mark.parametrize(("config", "reason"), [
    (member_config("tank", 1, top="raidz", disks=3, nparity=1),
     "one of 3 disks of a raidz1 in pool 'tank'"),
    (member_config("tank", 1, top="mirror", disks=2, vdev_children=2),
     "spread over 2 top-level vdevs"),
    (member_config("tank", 1, top="disk", vdev_children=3), "spread over 3 top-level vdevs"),
    (member_config("tank", 1, top="draid", disks=5), "a member of a draid vdev"),
])
def test_members_that_are_not_the_whole_pool(config: dict[str, object], reason: str) -> None:
    why = VdevLabel.from_config(parse_nvlist(encode_nvlist(config))).why_not_whole()
    assert why is not None and reason in why


@pytest.mark.parametrize("data", [b"", b"\0" * 64, b"\x01\x01\0\0" + b"\xff" * 64,
                                  encode_nvlist({"name": "x"})])
def test_what_is_not_a_members_label_is_an_error(data: bytes) -> None:
    with pytest.raises(LabelError):
        VdevLabel.from_config(parse_nvlist(data))


# --- the bytes a device occupies -----------------------------------------------------


def _block(sys_root: Path, name: str, dev: str, size_sectors: int, parent: Path | None = None
           ) -> Path:
    where = (parent or sys_root / "devices" / "virtual" / "block") / name
    where.mkdir(parents=True)
    (where / "dev").write_text(f"{dev}\n")
    (where / "size").write_text(f"{size_sectors}\n")
    link = sys_root / "dev" / "block" / dev
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(where)
    return where


def test_partitions_and_loop_devices_resolve_to_their_bytes(tmp_path: Path) -> None:
    sys_root = tmp_path / "sys"
    disk = _block(sys_root, "vdb", "254:16", 2048)
    part = _block(sys_root, "vdb2", "254:18", 1024, parent=disk)
    (part / "partition").write_text("2\n")
    (part / "start").write_text("1024\n")
    assert device_extents(os.makedev(254, 18), sys_root) == [
        Extent(("dev", 254, 16), 512 * 1024, 512 * 2048)]
    image = tmp_path / "disk.raw"
    image.write_bytes(b"\0" * 4096)
    loop = _block(sys_root, "loop7", "7:7", 4)
    (loop / "loop").mkdir()
    (loop / "loop" / "backing_file").write_text(f"{image}\n")
    (loop / "loop" / "offset").write_text("1024\n")
    st = image.stat()
    [extent] = device_extents(os.makedev(7, 7), sys_root)
    assert extent == Extent(("file", st.st_dev, st.st_ino), 1024, 3072)
    whole_file = Extent(("file", st.st_dev, st.st_ino), 0, 4096)
    assert extent.overlaps(whole_file) and not extent.overlaps(Extent(whole_file.store, 0, 1024))


# --- arguments -----------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["export"], ["export", "disk.raw", "qcow2"],
                                  ["export", "disk.raw", "iso", "out"]])
def test_missing_or_wrong_arguments_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2


def test_refused_before_reading_the_source(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KEXPORT_NAME", raising=False)
    source = tmp_path / "disk.raw"
    source.write_bytes(b"\0" * 4096)
    a_file = tmp_path / "file"
    a_file.write_text("")
    cases = [
        (["--name", ""], str(tmp_path / "out"), "--name is empty"),
        (["--name", "../up"], str(tmp_path / "out"), "image name '../up'"),
        ([], str(a_file), "is not a directory"),
        (["--name", "disk"], str(tmp_path), "is the source itself"),
        (["--answers", str(tmp_path / "missing.env")], str(tmp_path / "out"), "cannot read"),
    ]
    for extra, directory, said in cases:
        assert main(["export", str(source), "raw", directory, *extra]) == 2
        assert said in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nothing"), "raw", str(tmp_path / "out")]) == 2
    assert "no such disk or image file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_invalid_answers_are_invalid_not_unreadable(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    answers = tmp_path / "a.env"
    answers.write_text("KLDLOAD_DISTRO=plan9\n")
    assert main(["export", "disk.raw", "qcow2", str(tmp_path), "--answers", str(answers)]) == 1
    assert "invalid answers; nothing was exported" in capsys.readouterr().err


# --- the install's export phase takes the same path ------------------------------------


def test_the_phase_measures_shows_progress_and_only_warns_of_room(tmp_path: Path) -> None:
    from kldload_tui.backend.engine.core import InstallOptions, VerifyError
    from kldload_tui.backend.phases.export import Export
    from tests.unit.export_helpers import export_context

    runner = RecordingRunner()  # not a dry run: the measure's answer is read
    runner.respond(measure_argv("/dev/sda"), stdout=json.dumps({"required": 1 << 60}))
    answers = export_answers("/dev/sda", "KLDLOAD_EXPORT_FORMAT=qcow2\n")
    ctx = export_context(answers, "/dev/sda", 64 * MIB, runner,
                         InstallOptions(export_dir=tmp_path / "export"))
    # The recording runner writes no image, so the read-back after the conversion fails.
    with pytest.raises(VerifyError, match="is not right"):
        Export().run(ctx)
    argvs = [list(s.argv) for s in runner.plan if s.kind == "command"]
    assert argvs[0] == measure_argv("/dev/sda")
    assert argvs[2][:3] == ["qemu-img", "convert", "-p"]
    [warning] = ctx.warnings
    assert "may need up to 1.0 EiB" in warning and "going ahead" in warning
