"""LocalRunner against real commands: no mocks of subprocess or pexpect."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kldload_tui.backend.engine.events import Event, EventLog, OutputLine
from kldload_tui.backend.engine.redact import MASK
from kldload_tui.backend.engine.runner import CommandError, LocalRunner

SECRET = "hunter2-Zq9"


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "var" / "log" / "kldload" / "install.log"


@pytest.fixture
def events() -> EventLog:
    return EventLog()


@pytest.fixture
def runner(log_path: Path, events: EventLog) -> Iterator[LocalRunner]:
    with LocalRunner(log_path=log_path, sink=events, secrets=[SECRET]) as r:
        yield r


def lines(events: EventLog, stream: str | None = None) -> list[str]:
    return [e.text for e in events.events
            if isinstance(e, OutputLine) and (stream is None or e.stream == stream)]


def test_result_fields(runner: LocalRunner) -> None:
    res = runner.run(["sh", "-c", "echo out; echo err >&2; exit 3"], check=False)
    assert res.argv == ("sh", "-c", "echo out; echo err >&2; exit 3")
    assert (res.returncode, res.stdout, res.stderr) == (3, "out\n", "err\n")
    assert 0 <= res.seconds < 5
    assert not res.ok


def test_failure_raises_actionable_error(runner: LocalRunner, log_path: Path) -> None:
    script = "for i in $(seq 1 30); do echo line$i >&2; done; exit 3"
    with pytest.raises(CommandError) as info:
        runner.run(["sh", "-c", script])
    err = info.value
    assert err.returncode == 3
    assert err.argv == ("sh", "-c", script)
    assert err.stderr_tail.splitlines() == [f"line{i}" for i in range(11, 31)]
    assert err.log_path == str(log_path)
    text = str(err)
    assert text.startswith(f"command failed (exit 3): sh -c '{script}'\nline11\n")
    assert text.endswith(f"line30\nfull log: {log_path}")


def test_input_on_stdin(runner: LocalRunner) -> None:
    assert runner.run(["cat"], input="one\ntwo\n").stdout == "one\ntwo\n"
    assert runner.run(["wc", "-c"], input=b"\x00\x01\x02").stdout.strip() == "3"


def test_no_input_means_empty_stdin(runner: LocalRunner) -> None:
    # stdin is /dev/null, so cat must not wait on the caller's terminal.
    assert runner.run(["cat"], timeout=5).stdout == ""


def test_large_input_and_output_do_not_deadlock(runner: LocalRunner) -> None:
    data = "".join(f"{i:08d}\n" for i in range(200_000))  # 1.8 MB each way
    assert runner.run(["cat"], input=data, timeout=30).stdout == data


def test_input_to_command_that_ignores_it(runner: LocalRunner) -> None:
    assert runner.run(["true"], input="x" * 1_000_000).returncode == 0


def test_c_locale_and_extra_env(runner: LocalRunner) -> None:
    out = runner.run(["env"], env={"KLDLOAD_TEST": "1"}).stdout.splitlines()
    assert {"LC_ALL=C", "LANG=C", "KLDLOAD_TEST=1"} <= set(out)
    assert f"PATH={os.environ['PATH']}" in out


def test_timeout_kills_the_whole_group(runner: LocalRunner, events: EventLog) -> None:
    start = time.monotonic()
    with pytest.raises(CommandError) as info:
        runner.run(["sh", "-c", "sleep 30 & echo $!; wait"], timeout=1)
    assert time.monotonic() - start < 10
    err = info.value
    assert err.timed_out
    assert err.returncode == 124
    assert str(err).startswith("command timed out after 1s: sh -c")
    child = int(lines(events)[0])
    time.sleep(0.2)
    assert _gone_or_zombie(child)


def _gone_or_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_missing_executable(runner: LocalRunner, log_path: Path) -> None:
    with pytest.raises(CommandError) as info:
        runner.run(["kldload-no-such-tool", "--zap-all", "/dev/sda"])
    err = info.value
    assert err.returncode == 127
    assert err.stderr_tail == "kldload-no-such-tool: command not found"
    assert str(err) == (
        "command not found (exit 127): kldload-no-such-tool --zap-all /dev/sda\n"
        "kldload-no-such-tool: command not found\n"
        f"full log: {log_path}"
    )
    res = runner.run(["kldload-no-such-tool"], check=False)
    assert res.returncode == 127


def test_log_file(runner: LocalRunner, log_path: Path) -> None:
    runner.run(["sh", "-c", "echo hello; echo oops >&2; exit 2"], check=False, phase="pool")
    assert stat.S_IMODE(log_path.stat().st_mode) == 0o600
    text = log_path.read_text()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[pool\] "
    assert re.search(stamp + re.escape("$ sh -c 'echo hello; echo oops >&2; exit 2'"), text)
    assert re.search(stamp + "  stdout: hello", text)
    assert re.search(stamp + "  stderr: oops", text)
    assert re.search(stamp + r"  exit 2 after \d+\.\d\ds", text)


def test_log_appends_and_tightens_mode(log_path: Path) -> None:
    log_path.parent.mkdir(parents=True)
    log_path.write_text("earlier install\n")
    log_path.chmod(0o644)
    with LocalRunner(log_path=log_path) as r:
        r.run(["true"])
    assert stat.S_IMODE(log_path.stat().st_mode) == 0o600
    text = log_path.read_text()
    assert text.startswith("earlier install\n")
    assert "$ true" in text


def test_streaming_arrives_before_exit(log_path: Path) -> None:
    seen: list[tuple[float, Event]] = []
    r = LocalRunner(log_path=log_path, sink=lambda e: seen.append((time.monotonic(), e)))
    r.run(["sh", "-c", "echo first; sleep 1; echo second"])
    finished = time.monotonic()
    assert [e.text for _, e in seen if isinstance(e, OutputLine)] == ["first", "second"]
    assert finished - seen[0][0] >= 0.8  # "first" came while the command still slept


def test_many_lines_in_order(runner: LocalRunner, events: EventLog) -> None:
    runner.run(["seq", "1", "5000"], phase="bootstrap")
    assert lines(events, "stdout") == [str(i) for i in range(1, 5001)]
    assert {e.phase for e in events.events if isinstance(e, OutputLine)} == {"bootstrap"}


def test_partial_last_line_and_carriage_returns(runner: LocalRunner, events: EventLog) -> None:
    res = runner.run(["printf", "10%%\\r50%%\\r100%%\\nno newline"])
    assert lines(events) == ["100%", "no newline"]
    assert res.stdout == "10%\r50%\r100%\nno newline"


def test_secrets_never_leak(runner: LocalRunner, log_path: Path, events: EventLog) -> None:
    script = 'read line; echo "out ${line#*:}"; echo "err ${line#*:}" >&2; exit 4'
    with pytest.raises(CommandError) as info:
        runner.run(["sh", "-c", script], input=f"admin:{SECRET}\n")
    err = info.value
    for text in (log_path.read_text(), str(err), repr(err.argv), err.stderr_tail,
                 *(repr(e) for e in events.events), *(e.model_dump_json() for e in events.events)):
        assert SECRET not in text
    assert err.stderr_tail == f"err {MASK}"
    log = log_path.read_text()
    assert "<stdin: not logged>" in log
    assert "bytes" not in log  # not even the length
    res = runner.run(["cat"], input=f"x {SECRET}")
    assert SECRET not in repr(res)
    assert res.stdout == f"x {SECRET}"  # the engine reads output as printed


def test_secret_added_later_is_masked(runner: LocalRunner, log_path: Path) -> None:
    runner.add_secret("late-secret-42")
    runner.run(["cat"], input="late-secret-42\n")
    assert "late-secret-42" not in log_path.read_text()


def test_output_of_a_call_without_secrets_is_logged_as_printed(
        log_path: Path, events: EventLog) -> None:
    with LocalRunner(log_path=log_path, sink=events, secrets=["debian"]) as r:
        res = r.run(["echo", "rpool/ROOT/debian"])
    assert res.stdout == "rpool/ROOT/debian\n"
    assert "rpool/ROOT/debian" in log_path.read_text()
    assert lines(events) == ["rpool/ROOT/debian"]


def test_failing_sink_kills_the_command(log_path: Path) -> None:
    def sink(event: Event) -> None:
        raise RuntimeError("sink broke")

    r = LocalRunner(log_path=log_path, sink=sink)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="sink broke"):
        r.run(["sh", "-c", "echo a; sleep 30"])
    assert time.monotonic() - start < 10


def test_write_file_atomic_with_exact_mode(runner: LocalRunner, tmp_path: Path) -> None:
    target = tmp_path / "mnt" / "etc" / "kldload" / "install-manifest.env"
    old = os.umask(0o077)
    try:
        runner.write_file(target, "A=1\n", 0o640)
    finally:
        os.umask(old)
    assert target.read_text() == "A=1\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    runner.write_file(target, b"\x00\x01", 0o600, secret=True)
    assert target.read_bytes() == b"\x00\x01"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["install-manifest.env"]


def test_chroot_prefix(tmp_path: Path, events: EventLog) -> None:
    if os.geteuid() != 0:
        pytest.skip("chroot needs root")
    root = tmp_path / "root"
    sh = Path(shutil.which("sh") or "/bin/sh").resolve()
    libs = re.findall(r"(/\S+)", subprocess.run(["ldd", str(sh)], capture_output=True,
                                                 text=True, check=False).stdout)
    for path in [str(sh), *libs]:
        dest = root / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
    (root / "bin").mkdir(exist_ok=True)
    if not (root / "bin" / "sh").exists():
        (root / "bin" / "sh").symlink_to(sh)
    (root / "marker").write_text("inside\n")
    r = LocalRunner(sink=events)
    res = r.run(["/bin/sh", "-c", "read x < /marker; echo $x"], chroot=root, check=False)
    if res.returncode != 0 and "Operation not permitted" in res.stderr:
        pytest.skip("chroot not permitted here")
    assert res.argv[:2] == ("chroot", str(root))
    assert res.stdout == "inside\n"


PROMPTER = textwrap.dedent("""
    import getpass, hashlib, sys
    first = getpass.getpass("Enter passphrase: ")
    second = getpass.getpass("Re-enter passphrase: ")
    if first != second:
        print("mismatch")
        sys.exit(2)
    print("sha256", hashlib.sha256(first.encode()).hexdigest())
""")


def test_interact_answers_prompts(runner: LocalRunner, log_path: Path,
                                  events: EventLog) -> None:
    passphrase = "correct horse battery"
    res = runner.interact([sys.executable, "-c", PROMPTER],
                          [(r"(Re-e|E)nter passphrase: ", passphrase)], timeout=30,
                          phase="pool")
    digest = hashlib.sha256(passphrase.encode()).hexdigest()
    assert res.returncode == 0
    assert f"sha256 {digest}" in res.stdout
    assert f"sha256 {digest}" in lines(events)
    log = log_path.read_text()
    assert passphrase not in log
    assert "answers not logged" in log
    assert all(passphrase not in e.model_dump_json() for e in events.events)


def test_interact_failure_and_timeout(runner: LocalRunner) -> None:
    with pytest.raises(CommandError) as info:
        runner.interact([sys.executable, "-c", PROMPTER],
                        [(r"Enter passphrase: ", "first-answer"),
                         (r"Re-enter passphrase: ", "second-answer")],
                        timeout=30)
    assert info.value.returncode == 2
    assert "mismatch" in info.value.stderr_tail
    with pytest.raises(CommandError) as info:
        runner.interact([sys.executable, "-c", PROMPTER], [(r"never shown", "x")], timeout=1)
    assert info.value.timed_out


def test_interact_missing_executable(runner: LocalRunner) -> None:
    with pytest.raises(CommandError, match="command not found"):
        runner.interact(["kldload-no-such-tool"], [("x", "y")])
