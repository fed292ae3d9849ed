"""The runner's pure parts and the recording runner; nothing here executes.

The `plan_runner` fixture is the curtin-style double for unit tests: a
`RecordingRunner` under a guard that fails the test if anything reaches
`subprocess.Popen`.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kldload_tui.backend.engine.events import EventLog, OutputLine
from kldload_tui.backend.engine.redact import MASK, Redactor
from kldload_tui.backend.engine.runner import (
    CommandError,
    CommandResult,
    PlannedStep,
    RecordingRunner,
)

SECRET = "hunter2-s3cret"


@pytest.fixture
def no_subprocess(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly if the code under test starts a real process."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a unit test tried to run a real command: {args!r}")

    monkeypatch.setattr(subprocess, "Popen", refuse)


@pytest.fixture
def events() -> EventLog:
    return EventLog()


@pytest.fixture
def plan_runner(no_subprocess: None, events: EventLog) -> RecordingRunner:
    """A recording runner with one secret registered and events collected."""
    return RecordingRunner(sink=events, secrets=[SECRET])


# Redactor


def test_redacts_inside_longer_strings() -> None:
    r = Redactor([SECRET])
    assert r.redact(f"--password={SECRET}") == f"--password={MASK}"


def test_longest_secret_masked_whole() -> None:
    r = Redactor(["abc", "abcdef"])
    assert r.redact("xabcdefx") == f"x{MASK}x"


def test_empty_secret_is_ignored() -> None:
    r = Redactor(["", "   "])
    assert r.redact("plain text") == "plain text"
    assert r.secrets == ()


def test_multiline_secret_lines_registered() -> None:
    r = Redactor(["line-one\nline-two"])
    assert r.redact("got line-two here") == f"got {MASK} here"


@given(
    secret=st.text(alphabet=st.characters(blacklist_characters="*"), min_size=1).filter(
        lambda s: s.strip() != ""
    ),
    before=st.text(),
    after=st.text(),
)
def test_redacted_text_never_contains_secret(secret: str, before: str, after: str) -> None:
    r = Redactor([secret])
    assert secret not in r.redact(before + secret + after)


# argv checks


@pytest.mark.parametrize("bad", ["sgdisk --zap-all /dev/sda", b"ls"])
def test_string_argv_is_type_error(plan_runner: RecordingRunner, bad: object) -> None:
    with pytest.raises(TypeError, match="not a string"):
        plan_runner.run(bad)  # type: ignore[arg-type]


def test_non_str_element_is_type_error(plan_runner: RecordingRunner) -> None:
    with pytest.raises(TypeError, match="NoneType"):
        plan_runner.run(["zpool", "create", None])  # type: ignore[list-item]


def test_empty_argv_is_value_error(plan_runner: RecordingRunner) -> None:
    with pytest.raises(ValueError, match="empty"):
        plan_runner.run([])


def test_path_elements_are_accepted(plan_runner: RecordingRunner) -> None:
    res = plan_runner.run(["mount", Path("/dev/sda1"), Path("/mnt")])  # type: ignore[list-item]
    assert res.argv == ("mount", "/dev/sda1", "/mnt")


# CommandError


def test_command_error_str_is_actionable() -> None:
    err = CommandError(["sgdisk", "--zap-all", "/dev/sda"], 3, "boom\nbang",
                       "/var/log/kldload/install.log")
    assert str(err) == (
        "command failed (exit 3): sgdisk --zap-all /dev/sda\n"
        "boom\nbang\n"
        "full log: /var/log/kldload/install.log"
    )
    assert err.command == "sgdisk --zap-all /dev/sda"
    assert err.argv == ("sgdisk", "--zap-all", "/dev/sda")
    assert not err.timed_out


def test_command_error_without_log_or_stderr() -> None:
    assert str(CommandError(["false"], 1, "", None)) == "command failed (exit 1): false"


def test_result_helpers() -> None:
    res = CommandResult(("echo", "a b"), 0, "a b\n")
    assert res.ok
    assert res.command == "echo 'a b'"


# RecordingRunner


def test_recording_executes_nothing(plan_runner: RecordingRunner, tmp_path: Path) -> None:
    target = tmp_path / "created"
    res = plan_runner.run(["touch", str(target)])
    plan_runner.write_file(tmp_path / "file", "content")
    assert res == CommandResult(("touch", str(target)), 0, "", "", res.seconds)
    assert not target.exists()
    assert not (tmp_path / "file").exists()


def test_records_steps_in_order(plan_runner: RecordingRunner) -> None:
    plan_runner.run(["sgdisk", "--zap-all", "/dev/sda"], phase="partition")
    plan_runner.write_file("/mnt/etc/hostname", "web01\n", phase="configure")
    plan_runner.run(["chpasswd"], input=f"admin:{SECRET}\n", chroot="/mnt", phase="configure")
    kinds = [(s.kind, s.phase) for s in plan_runner.plan]
    assert kinds == [("command", "partition"), ("write", "configure"), ("command", "configure")]
    chpasswd = plan_runner.plan[2]
    assert chpasswd.argv == ("chroot", "/mnt", "chpasswd")
    assert chpasswd.chroot == "/mnt"
    assert chpasswd.stdin is True
    write = plan_runner.plan[1]
    assert (write.path, write.mode, write.size, write.content) == (
        "/mnt/etc/hostname", 0o644, 6, "web01\n")


def test_current_phase_tags_steps(plan_runner: RecordingRunner) -> None:
    plan_runner.current_phase = "pool"
    plan_runner.run(["zpool", "status"])
    plan_runner.run(["zfs", "list"], phase="datasets")
    assert [s.phase for s in plan_runner.plan] == ["pool", "datasets"]


def test_plan_keeps_secrets_out_through_stdin_and_secret_files(
        plan_runner: RecordingRunner) -> None:
    plan_runner.run(["chpasswd"], input=f"admin:{SECRET}\n", chroot="/mnt")
    plan_runner.write_file("/mnt/etc/zfs/key", SECRET, 0o400, secret=True)
    assert plan_runner.plan[0].stdin
    assert plan_runner.plan[1].content is None
    assert plan_runner.plan[1].secret
    assert SECRET not in plan_runner.to_json()
    assert SECRET not in plan_runner.render_text()


@pytest.mark.parametrize("word", ["debian", "admin", "root", "a", "zfs", "rpool"])
def test_a_password_that_is_an_ordinary_word_masks_nothing_else(word: str) -> None:
    r = RecordingRunner(secrets=[word])
    r.respond(["zfs", "list"], stdout="rpool/ROOT/debian\n")
    r.run(["zfs", "create", "-o", "canmount=noauto", "rpool/ROOT/debian"], phase="datasets")
    r.write_file("/mnt/etc/hostname", "debian-zfs-admin\n", phase="configure")
    r.note("root on rpool/ROOT/debian", phase="datasets")
    assert r.run(["zfs", "list"]).stdout == "rpool/ROOT/debian\n"
    assert MASK not in r.render_text()
    assert MASK not in r.to_json()


def test_binary_write_has_no_content(plan_runner: RecordingRunner) -> None:
    plan_runner.write_file("/mnt/boot/efi/x.efi", b"\xff\xfe\x00", 0o755)
    assert plan_runner.plan[0].content is None
    assert plan_runner.plan[0].size == 3


def test_render_text_groups_by_phase(plan_runner: RecordingRunner) -> None:
    plan_runner.run(["sgdisk", "--zap-all", "/dev/disk/by-id/ata-X"], phase="partition")
    plan_runner.run(["sgdisk", "-n1:1M:+512M", "-t1:EF00", "/dev/sda"], phase="partition")
    plan_runner.write_file("/mnt/etc/hostname", "h\n", 0o600, phase="configure")
    plan_runner.run(["chpasswd"], input="admin:x\n", chroot="/mnt", phase="configure")
    plan_runner.run(["echo", "a b"])
    assert plan_runner.render_text() == (
        "# partition\n"
        "sgdisk --zap-all /dev/disk/by-id/ata-X\n"
        "sgdisk -n1:1M:+512M -t1:EF00 /dev/sda\n"
        "\n"
        "# configure\n"
        "write /mnt/etc/hostname (mode 0600, 2 bytes)\n"
        "chroot /mnt chpasswd  # stdin given, not shown\n"
        "\n"
        "# (no phase)\n"
        "echo 'a b'\n"
    )


def test_render_text_of_empty_plan() -> None:
    assert RecordingRunner().render_text() == ""


def test_to_json(plan_runner: RecordingRunner) -> None:
    plan_runner.run(["zpool", "create", "rpool"], phase="pool")
    plan_runner.write_file("/mnt/etc/kldload/install-manifest.env", "A=1\n", 0o600,
                           phase="manifest")
    doc = json.loads(plan_runner.to_json())
    assert doc["steps"][0] == {
        "kind": "command", "phase": "pool", "argv": ["zpool", "create", "rpool"],
        "chroot": None, "stdin": False, "path": None, "mode": None, "size": 0,
        "content": None, "secret": False,
    }
    assert doc["steps"][1]["mode"] == "0600"
    assert doc["steps"][1]["content"] == "A=1\n"


def test_canned_output_by_prefix(plan_runner: RecordingRunner, events: EventLog) -> None:
    plan_runner.respond(["blkid", "-p"], stdout='TYPE="vfat"\n')
    plan_runner.respond(["blkid"], stdout="generic\n")
    assert plan_runner.run(["blkid", "-p", "/dev/sdb"]).stdout == 'TYPE="vfat"\n'
    assert plan_runner.run(["blkid", "/dev/sdb"]).stdout == "generic\n"
    assert plan_runner.run(["lsblk"]).stdout == ""
    assert [e.text for e in events.events if isinstance(e, OutputLine)] == [
        'TYPE="vfat"', "generic"]


def test_canned_output_matches_inside_chroot(plan_runner: RecordingRunner) -> None:
    plan_runner.respond(["lsinitrd"], stdout="zfs.ko\n")
    assert plan_runner.run(["lsinitrd"], chroot="/mnt").stdout == "zfs.ko\n"


def test_latest_equal_prefix_wins(plan_runner: RecordingRunner) -> None:
    plan_runner.respond(["zpool", "list"], stdout="old\n")
    plan_runner.respond(["zpool", "list"], stdout="new\n")
    assert plan_runner.run(["zpool", "list"]).stdout == "new\n"


def test_canned_failure_raises_with_check(plan_runner: RecordingRunner) -> None:
    plan_runner.respond(["zpool", "import"], stderr=f"no pools {SECRET}\n", returncode=1)
    with pytest.raises(CommandError) as info:
        plan_runner.run(["zpool", "import", "rpool"])
    assert info.value.returncode == 1
    # Not handed a secret: its output is shown as it is.
    assert info.value.stderr_tail == f"no pools {SECRET}"
    with pytest.raises(CommandError) as info:
        plan_runner.run(["zpool", "import", "rpool"], input="x")
    assert info.value.stderr_tail == f"no pools {MASK}"
    res = plan_runner.run(["zpool", "import", "rpool"], check=False)
    assert res.returncode == 1


def test_interact_is_recorded_without_answers(plan_runner: RecordingRunner) -> None:
    plan_runner.interact(["zfs", "load-key", "rpool"], [("passphrase:", "pw-answer-77")],
                         phase="pool")
    step = plan_runner.plan[0]
    assert step.argv == ("zfs", "load-key", "rpool")
    assert "pw-answer-77" not in plan_runner.to_json()
    assert "pw-answer-77" in plan_runner.redactor.secrets


def test_planned_step_render_write_secret() -> None:
    step = PlannedStep("write", None, path="/k", mode=0o400, size=32, secret=True)
    assert step.render() == "write /k (mode 0400, 32 bytes, secret)"


def test_recording_runner_logs_plan(tmp_path: Path) -> None:
    log = tmp_path / "plan.log"
    with RecordingRunner(log_path=log, secrets=[SECRET]) as rec:
        rec.run(["tool", "--flag"], input=SECRET)
    text = log.read_text()
    assert "$ tool --flag" in text
    assert "<stdin: not logged>" in text
    assert SECRET not in text


def test_carriage_returns_end_lines_only_when_asked() -> None:
    from kldload_tui.backend.engine.runner import _LineSplitter

    def split(cr: bool, chunks: list[bytes]) -> list[bytes]:
        lines: list[bytes] = []
        splitter = _LineSplitter(lines.append, cr_ends_line=cr)
        for chunk in chunks:
            splitter.feed(chunk)
        splitter.flush()
        return lines

    # qemu-img -p: each redraw ends in \r, the last one is followed by \n, which
    # ends nothing more; a \n after a whole CRLF line is a blank line, as ever.
    chunks = [b"    (0.00/100%)\r    (50", b".00/100%)\r", b"    (100.00/100%)\r", b"\n",
              b"done\r\n", b"\n"]
    assert split(True, chunks) == [b"    (0.00/100%)", b"    (50.00/100%)",
                                   b"    (100.00/100%)", b"done", b""]
    assert split(False, chunks) == [
        b"    (0.00/100%)\r    (50.00/100%)\r    (100.00/100%)\r", b"done\r", b""]
