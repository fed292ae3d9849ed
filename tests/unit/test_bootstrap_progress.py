"""The bootstrap's progress, replayed from a real bootstrap's recorded output.

tests/fixtures/bootstrap/ holds what debootstrap, `apt-get update` and the
kernel/ZFS transaction printed in one real run on a 2-core host (capture.py
there made them), each line with the second it arrived. The replay feeds them
through the same line filter the runner calls, in the order and with the
timing they had, the commands one after the other as the bootstrap phase runs
them.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from kldload_tui.backend.distros.bootstrap_progress import (
    DEBOOTSTRAP_STEPS,
    AptStatusReader,
    BootstrapProgress,
    DebootstrapReader,
    OutputReader,
    time_left,
)
from kldload_tui.backend.distros.debian import (
    PROGRESS_CORE,
    PROGRESS_DEBOOTSTRAP,
    PROGRESS_UPDATE,
)
from kldload_tui.backend.engine.core import InstallOptions, run_install
from kldload_tui.backend.engine.events import (
    Event,
    EventLog,
    OutputLine,
    PhaseStarted,
    Progress,
    event_to_json,
)
from kldload_tui.backend.engine.runner import LocalRunner, RecordingRunner
from kldload_tui.backend.machine.model import load_bundled_machine
from kldload_tui.event_render import JsonRenderer, PlainRenderer

from .test_engine import answers
from .test_golden_plans import GOLDEN

FIXTURES = Path(__file__).parents[1] / "fixtures" / "bootstrap"
START = datetime(2026, 1, 1, tzinfo=UTC)
# The bootstrap phase also mounts, writes files and asks apt-cache between commands.
GAP = 1.0


@dataclass(frozen=True)
class Recorded:
    """One command's transcript: (seconds, stream, text) lines and how long it ran."""

    lines: list[tuple[float, str, str]]
    seconds: float

    @classmethod
    def load(cls, name: str) -> Recorded:
        lines: list[tuple[float, str, str]] = []
        seconds = 0.0
        for row in (FIXTURES / name).read_text().splitlines():
            if m := re.match(r"# exit \d+ after ([0-9.]+)s$", row):
                seconds = float(m[1])
            elif not row.startswith("#"):
                at, stream, *text = row.split(" ", 2)
                lines.append((float(at), stream, text[0] if text else ""))
        return cls(lines, seconds)


DEBOOTSTRAP = Recorded.load("debootstrap.txt")
UPDATE = Recorded.load("apt-update.txt")
INSTALL = Recorded.load("apt-install.txt")


@dataclass
class Replay:
    progress: BootstrapProgress
    readers: list[OutputReader]
    events: list[Event]
    lines_in: int
    seconds: float

    @property
    def sent(self) -> list[Progress]:
        return [e for e in self.events if isinstance(e, Progress)]


def replay() -> Replay:
    """The bootstrap phase's three commands as the Debian backend reads them."""
    progress = BootstrapProgress("bootstrap")
    steps: list[tuple[Recorded, OutputReader, float]] = [
        (DEBOOTSTRAP, DebootstrapReader(), PROGRESS_DEBOOTSTRAP),
        (UPDATE, AptStatusReader("updating package lists", packages=False), PROGRESS_UPDATE),
        # The optional packages' transaction would take the phase from PROGRESS_CORE to 1.
        (INSTALL, AptStatusReader("kernel, ZFS"), 1.0),
    ]
    events: list[Event] = []
    offset, count = 0.0, 0
    for recorded, reader, until in steps:
        on_line = progress.reading(reader, until)
        for at, stream, text in recorded.lines:
            line = OutputLine(phase="bootstrap", stream=stream,
                              text=text, timestamp=START + timedelta(seconds=offset + at))
            events += on_line(line)
            count += 1
        offset += recorded.seconds + GAP
    return Replay(progress, [reader for _, reader, _ in steps], events, count, offset - GAP)


REPLAY = replay()


def _names(recorded: Recorded, pattern: str) -> list[str]:
    return [m[1] for _, _, text in recorded.lines if (m := re.match(pattern, text))]


def test_package_counts_match_the_transcript():
    debootstrap, _, install = REPLAY.readers
    assert isinstance(debootstrap, DebootstrapReader) and isinstance(install, AptStatusReader)
    downloaded = _names(DEBOOTSTRAP, r"I: Retrieving (\S+) \S+$")
    extracted = _names(DEBOOTSTRAP, r"I: Extracting (\S+)\.\.\.$")
    assert len(downloaded) == len(set(downloaded)) == 161
    assert debootstrap.downloaded == downloaded
    assert debootstrap.extracted == extracted and len(extracted) == 88
    # dpkg's runs: every `I: Unpacking NAME...` / `I: Configuring NAME...` between headers.
    runs: dict[str, int] = {}
    step = ""
    for _, _, text in DEBOOTSTRAP.lines:
        if m := re.match(r"I: (Unpacking|Configuring) (required packages|the base system)\.\.\.$",
                         text):
            verb = m[1]
            step = (f"{'unpacking' if verb == 'Unpacking' else 'setting up'} "
                    f"{'required' if m[2].startswith('required') else 'base'}")
            runs[step] = 0
        elif step and re.match(rf"I: {verb} \S+\.\.\.$", text):
            runs[step] += 1
    assert runs == {"unpacking required": 88, "setting up required": 89,
                    "unpacking base": 61, "setting up base": 63}
    assert {k: v for k, v in debootstrap.runs.items() if k in runs} == {
        k: v for k, v in runs.items() if k != "setting up base"}
    assert (debootstrap.done, debootstrap.total) == (63, 63)  # the last run, when it ended
    # apt planned 78 packages, and said `Installed` for each.
    installed = set(_names(INSTALL, r"pmstatus:([^:]+):[0-9.]+:Installed "))
    assert install.planned == 78 == len(installed) == len(install.installed)
    assert install.unpacked == installed


def test_messages_count_packages_as_they_go():
    messages = [e.message for e in REPLAY.sent]
    for message in messages:
        if m := re.search(r"(\d+)/(\d+) packages", message):
            assert 0 <= int(m[1]) <= int(m[2]), message
    last = {}  # the last message of each step, without the estimate
    for message in messages:
        last[message.split(":")[0]] = re.sub(r"(: |, )about \d+ min left$", "", message)
    # No total while downloading and extracting (it is known only afterwards), and
    # the last count of those steps goes unsaid when the bar barely moved for it.
    for step, most in (("downloading", 161), ("extracting", 88)):
        m = re.fullmatch(rf"{step}: (\d+) packages", last.pop(step))
        assert m and most * 3 // 4 <= int(m[1]) <= most
    assert last == {
        "reading package lists": "reading package lists",
        "resolving dependencies": "resolving dependencies",
        "installing core packages": "installing core packages",
        "unpacking required": "unpacking required: 88/88 packages",
        # dpkg sets up a package or two more than it unpacked: the count grows.
        "setting up required": "setting up required: 89/89 packages",
        "unpacking base": "unpacking base: 60/73 packages",  # at most 73: see _total
        "setting up base": "setting up base: 63/63 packages",
        "updating package lists": "updating package lists",
        "kernel, ZFS": "kernel, ZFS: setting up 78/78",
    }


def test_messages_fit_the_progress_screen_on_a_serial_console():
    # At 80x24 the progress screen's line beside the phase list is 56 columns wide.
    assert max(len(e.message) for e in REPLAY.sent) <= 56
    assert all(e.message.isascii() for e in REPLAY.sent)
    assert len(f"setting up required: 123/456 packages, {time_left(3000)}") <= 56
    assert len(f"optional: setting up 123/456, {time_left(3000)}") <= 56


def test_the_fraction_only_grows_and_reaches_the_end():
    fractions = [e.fraction for e in REPLAY.sent]
    assert fractions == sorted(fractions)
    assert all(0.0 <= f <= 1.0 for f in fractions)
    assert fractions[-1] >= 0.99
    # Each command stays within its part of the phase.
    assert max(e.fraction for e in REPLAY.sent if not e.message.startswith(
        ("updating", "kernel"))) <= PROGRESS_DEBOOTSTRAP
    assert 0 < PROGRESS_DEBOOTSTRAP < PROGRESS_UPDATE < PROGRESS_CORE < 1


def test_events_are_bounded_not_one_per_line():
    sent = REPLAY.sent
    assert REPLAY.lines_in > 1900
    assert len(sent) <= 120
    steps = {e.message.split(":")[0] for e in sent}
    assert {"downloading", "extracting", "unpacking required", "setting up required",
            "unpacking base", "setting up base", "updating package lists",
            "kernel, ZFS"} <= steps


def test_an_estimate_of_the_time_left_after_a_few_packages():
    sent = REPLAY.sent
    with_estimate = [i for i, e in enumerate(sent) if e.message.endswith(" left")]
    assert with_estimate, "never an estimate"
    first = sent[with_estimate[0]]
    assert first.message.startswith("downloading: ")  # a few packages in, not at the start
    assert not sent[0].message.endswith(" left")
    # From then on every event has one.
    assert with_estimate == list(range(with_estimate[0], len(sent)))


def _estimates() -> list[tuple[float, float, float]]:
    """(seconds in, estimated seconds left, real seconds left) at each event with one."""
    out = []
    began = REPLAY.progress.began or START.timestamp()
    for event in REPLAY.sent:
        if event.message.endswith(" left"):
            # As the event had it: the rate up to the line that made it.
            now = event.timestamp.timestamp() - began
            out.append((now, now * (1 - event.fraction) / event.fraction, REPLAY.seconds - now))
    return out


def test_the_first_estimate_is_near_the_real_time_left_and_improves():
    estimates = _estimates()
    # The events carry the time of the line that made them: the replay stamped each.
    now, estimate, real = estimates[0]
    assert now < REPLAY.seconds / 4
    # Recorded: "about 5 min left" (274 s) 32 s in, when 249 s were left.
    assert real / 1.5 <= estimate <= real * 1.5, (now, estimate, real)
    now, estimate, real = next(e for e in estimates if e[0] >= REPLAY.seconds / 2)
    assert real / 1.5 <= estimate <= real * 1.5, (now, estimate, real)


def test_time_left_in_words():
    assert time_left(10) == "about 1 min left"
    assert time_left(60) == "about 1 min left"
    assert time_left(240) == "about 4 min left"
    assert time_left(3600) == "about 60 min left"


def test_apt_status_lines_leave_the_event_stream_and_the_rest_stays_in_order():
    shown = [e.text for e in REPLAY.events if isinstance(e, OutputLine)]
    status = re.compile(r"^(dlstatus|pmstatus|pmerror|pmconffile):")
    expected = [text for r in (DEBOOTSTRAP, UPDATE, INSTALL) for _, _, text in r.lines
                if not status.match(text)]
    assert shown == expected
    assert len(shown) == REPLAY.lines_in - 778  # apt's status lines: 25 + 753 of them


def test_json_output_carries_every_progress_event_and_its_fields():
    out = io.StringIO()
    render = JsonRenderer(out)
    for event in REPLAY.events:
        render(event)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    progress = [line for line in lines if line["type"] == "progress"]
    assert len(progress) == len(REPLAY.sent)
    assert set(progress[0]) == {"type", "timestamp", "phase", "fraction", "message"}
    assert [(p["phase"], p["fraction"], p["message"]) for p in progress] == [
        (e.phase, e.fraction, e.message) for e in REPLAY.sent]
    assert TypeAdapter(Event).validate_json(event_to_json(REPLAY.sent[-1])) == REPLAY.sent[-1]


def test_a_line_the_reader_cannot_read_never_stops_the_install():
    class Broken(OutputReader):
        def feed(self, text: str) -> None:
            raise ValueError("unexpected")

    progress = BootstrapProgress()
    on_line = progress.reading(Broken(), 1.0)
    line = OutputLine(stream="stdout", text="I: Retrieving libc6 2.36-9")
    assert on_line(line) == [line]
    assert on_line(line) == [line]  # and it stops trying
    assert progress.sent == []


def test_debootstrap_with_more_packages_than_typical_never_runs_ahead():
    reader = DebootstrapReader(expected=10)
    for i in range(40):
        reader.feed(f"I: Retrieving pkg{i:02d} 1.0")
        reader.feed(f"I: Validating pkg{i:02d} 1.0")
    before = reader.fraction
    assert before < dict(DEBOOTSTRAP_STEPS)["downloading"]  # not reached by a guess
    reader.feed("I: Chosen extractor for .deb packages: dpkg-deb")
    assert reader.fraction >= before and reader.count() == "0 packages"


# -- the front ends ---------------------------------------------------------------------


def test_plain_output_prints_a_progress_line_now_and_then():
    out = io.StringIO()
    render = PlainRenderer(out, show_output=False)
    render(PhaseStarted(name="bootstrap", index=6, total=13))
    for event in REPLAY.sent:
        render(event)
    lines = out.getvalue().splitlines()[1:]
    assert lines and all(line.startswith("    bootstrap: ") for line in lines)
    # Every 5 points of the phase or every 10 s: at most 20 + seconds / 10 lines.
    assert len(lines) <= 20 + REPLAY.seconds / 10
    assert len(lines) < len(REPLAY.sent) / 2
    assert re.match(r"    bootstrap: \d+% ", lines[-1])


@pytest.mark.parametrize(("points", "printed"), [
    (1.0, ["0", "5", "10", "15", "20", "25", "30", "35", "40", "45", "50", "55"]),  # fast
    (0.1, ["0", "10", "20", "30", "40", "50"]),  # slow: every 10 s
])
def test_plain_output_every_five_points_or_ten_seconds(points, printed):
    out = io.StringIO()
    render = PlainRenderer(out)
    for i in range(60):  # an event a second
        render(Progress(phase="bootstrap", fraction=i * points / 100, message=f"at {i}",
                        timestamp=START + timedelta(seconds=i)))
    assert [line.split()[-1] for line in out.getvalue().splitlines()] == printed


# -- wired into the runner and the Debian backend -------------------------------------


def test_the_runner_emits_what_the_line_filter_returns_and_logs_every_line(tmp_path):
    events = EventLog()
    seen: list[str] = []

    def on_line(line: OutputLine) -> list[Event]:
        seen.append(line.text)
        if line.text.startswith("pmstatus:"):
            return [Progress(phase=line.phase, fraction=0.5, message="half")]
        return [line]

    with LocalRunner(log_path=tmp_path / "install.log", sink=events) as runner:
        runner.run(["printf", "one\\npmstatus:x:50:half\\ntwo\\n"], phase="bootstrap",
                   on_line=on_line)
        runner.run(["printf", "pmstatus:x:50:half\\n"], phase="bootstrap")
    assert seen == ["one", "pmstatus:x:50:half", "two"]
    shown = [(type(e).__name__, getattr(e, "text", getattr(e, "message", ""))) for e in
             events.events]
    assert shown == [("OutputLine", "one"), ("Progress", "half"), ("OutputLine", "two"),
                     ("OutputLine", "pmstatus:x:50:half")]  # no filter: every line
    log = (tmp_path / "install.log").read_text()
    assert log.count("stdout: pmstatus:x:50:half") == 2


def _canned(recorded: Recorded, stream: str) -> str:
    return "".join(text + "\n" for _, s, text in recorded.lines if s == stream)


def test_the_bootstrap_phase_sends_progress_from_debootstrap_and_apt():
    events = EventLog()
    runner = RecordingRunner(sink=events)
    runner.respond(["debootstrap"], stdout=_canned(DEBOOTSTRAP, "stdout"))
    runner.respond(["apt-get", "update"], stdout=_canned(UPDATE, "stdout"))
    runner.respond(["apt-get", "install", "-y", "--no-install-recommends", "-o",
                    "APT::Status-Fd=1", "linux-image-amd64"],
                   stdout=_canned(INSTALL, "stdout"), stderr=_canned(INSTALL, "stderr"))
    options = InstallOptions(dry_run=True, live_root=GOLDEN / "live-root")
    outcome = run_install(answers(), load_bundled_machine("one-disk-vm"), runner=runner,
                          sink=events, options=options)
    assert outcome.ok
    progress = [e for e in events.events if isinstance(e, Progress)]
    assert progress and {e.phase for e in progress} == {"bootstrap"}
    fractions = [e.fraction for e in progress]
    assert fractions == sorted(fractions)
    assert fractions[-1] <= PROGRESS_CORE  # optional packages follow, in their own part
    assert any(e.message.startswith("setting up base: ") for e in progress)
    assert any(e.message.startswith("kernel, ZFS: setting up 78/78") for e in progress)
    assert not any(isinstance(e, OutputLine) and e.text.startswith("pmstatus:")
                   for e in events.events)
    argv = [s.argv for s in runner.plan if "apt-get" in s.argv]
    assert all("APT::Status-Fd=1" in a for a in argv)


@pytest.mark.parametrize("name", ["debootstrap.txt", "apt-update.txt", "apt-install.txt"])
def test_the_fixture_names_no_host(name):
    text = (FIXTURES / name).read_text()
    assert "mirror.invalid" in text or name == "apt-install.txt"
    hosts = set(re.findall(r"https?://([^/\s]+)", text))
    assert hosts <= {"mirror.invalid"}
    assert len(text) < 200_000
