"""How far the bootstrap has got, read from the lines debootstrap and apt print.

Pure: nothing here runs a command or reads a clock. A `BootstrapProgress`
covers one phase made of several commands; each command gets a reader for its
output and the point of the phase where it ends. Fed one output line at a time
with the time it arrived, it returns a `Progress` event when the phase has moved
on by a percent, changed step or finished counting a step's packages, else
None: about a hundred events for a phase that prints thousands of lines. The
fraction never goes back.

- debootstrap prints `I: Retrieving NAME VERSION` and `I: Validating NAME
  VERSION` for each package it downloads, `I: Extracting NAME...` for each
  required package, then `I: Unpacking NAME...` and `I: Configuring NAME...`,
  the required packages first and the base system after. How many packages it
  will download is printed nowhere: until they are all down, the count is
  weighed against a typical one, never reaching the end of the step. Each step
  has a share of the command's time, as measured under emulation.
- apt with `-o APT::Status-Fd=1` prints `dlstatus:FILE:PCT:TEXT` while it
  downloads and `pmstatus:PACKAGE:PCT:TEXT` while dpkg works, PCT being apt's
  own estimate (once for the download, once for dpkg). These lines are a
  protocol, not output for people: `events_for` leaves them out of the event
  stream, and the install log keeps them.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from datetime import datetime

from kldload_tui.backend.engine.events import Event, OutputLine, Progress
from kldload_tui.backend.engine.runner import LineFilter

# What debootstrap downloads for bookworm --variant=minbase with the Debian
# backend's --include: 161 packages (tests/fixtures/bootstrap/debootstrap.txt).
TYPICAL_PACKAGES = 160
# The phase moves on by this much between two events; a new step always sends one.
MIN_STEP = 0.01
# No estimate of the time left before the phase is this far on, and this long:
# the first steps (reading the package lists, resolving dependencies) take
# seconds from a small darksite and minutes from a full mirror, so an estimate
# made from them is off by a factor of three either way. From 10% (two thirds of
# the way through the downloads) it was 10% and 37% off in the two runs measured.
ESTIMATE_AFTER_FRACTION = 0.10
ESTIMATE_AFTER_SECONDS = 15.0
# apt-get install: the part of its time spent downloading (dpkg's is the rest):
# 2% from a network mirror on the host, 4% from a darksite under emulation.
APT_DOWNLOAD_SHARE = 0.05


class OutputReader(ABC):
    """Reads one command's output: how far the command has got, and at what."""

    def __init__(self, step: str = "") -> None:
        self.fraction = 0.0
        self.step = step

    @abstractmethod
    def feed(self, text: str) -> None:
        """Take one output line into account (any line: unknown ones change nothing)."""

    def count(self) -> str:
        """Packages done, for the message: `12/88 packages`, or ""."""
        return ""

    @property
    def complete(self) -> bool:
        """The step's count is complete (worth an event even if the bar barely moved)."""
        return False

    def protocol(self, text: str) -> bool:
        """True for a line written for this reader rather than for people."""
        return False

    def _advance(self, fraction: float) -> None:
        self.fraction = max(self.fraction, min(fraction, 1.0))


def _towards(done: int, expected: int) -> float:
    """How far `done` is through a count only guessed: near done/expected, never 1."""
    left = max(expected - done, expected / 10, 1.0)
    return done / (done + left)


# debootstrap's steps and where each ends, as a share of its time. Measured: an
# e2e install under emulation from a local darksite (1089 s; the steps took 0.5,
# 1.3, 15, 9, 8, 28, 8, 15 and 16% of it), and a native one from a network mirror
# on the host that recorded tests/fixtures/bootstrap (189 s: 3, 11, 6, 9, 7, 26,
# 6, 24 and 9%). The emulated one counts most: that is where the wait is long.
DEBOOTSTRAP_STEPS: tuple[tuple[str, float], ...] = (
    ("reading package lists", 0.01),
    ("resolving dependencies", 0.04),
    ("downloading", 0.17),
    ("extracting", 0.26),
    ("installing core packages", 0.34),
    ("unpacking required", 0.61),
    ("setting up required", 0.68),
    ("unpacking base", 0.84),
    ("setting up base", 1.0),
)
_STARTS = dict(zip([s for s, _ in DEBOOTSTRAP_STEPS],
                   [0.0] + [end for _, end in DEBOOTSTRAP_STEPS[:-1]], strict=True))
_ENDS = dict(DEBOOTSTRAP_STEPS)
_INFO = re.compile(r"^I: (\S+)(?: (.*?))?\s*$")
# The headers of dpkg's four runs, and the step each starts.
_RUNS = {
    ("Unpacking", "required packages..."): "unpacking required",
    ("Configuring", "required packages..."): "setting up required",
    ("Unpacking", "the base system..."): "unpacking base",
    ("Configuring", "the base system..."): "setting up base",
}


class DebootstrapReader(OutputReader):
    """debootstrap's `I:` lines, a step at a time, counting packages.

    `downloaded` lists the packages in the order they were downloaded, which is
    also the order the required ones are extracted in (`extracted`); `runs`
    keeps how many packages each finished step went through, and `done` and
    `total` count the current one (`total` is None where it is not known).
    """

    def __init__(self, expected: int = TYPICAL_PACKAGES) -> None:
        super().__init__()
        self.expected = expected
        self.downloaded: list[str] = []
        self.extracted: list[str] = []
        self.done = 0
        self.total: int | None = None
        self.runs: dict[str, int] = {}

    def feed(self, text: str) -> None:
        m = _INFO.match(text)
        if m is None:
            return
        verb, rest = m[1], m[2] or ""
        if (verb, rest) in _RUNS:
            self._enter(_RUNS[verb, rest])
        elif verb in ("Retrieving", "Validating") and len(rest.split()) == 2:
            self._download(rest.split()[0])
        elif verb in ("Retrieving", "Validating", "Checking", "Valid") and not self.step:
            self._enter("reading package lists")
        elif verb in ("Resolving", "Found") or (verb == "Checking" and
                                                 rest.startswith("component ")):
            self._enter("resolving dependencies")
        elif verb in ("Chosen", "Extracting"):
            self._enter("extracting")
            if verb == "Extracting":
                self._extract(rest.removesuffix("..."))
        elif verb == "Installing" and rest.startswith("core packages"):
            self._enter("installing core packages")
        elif verb in ("Unpacking", "Configuring") and self.step in _ENDS and (
                self.step.startswith("unpacking" if verb == "Unpacking" else "setting up")):
            self._count(self.done + 1)
        elif verb == "Base" and rest.startswith("system installed successfully"):
            self._enter("setting up base")
            if self.total is not None:
                self.done = self.total = max(self.done, self.total)
            self._advance(1.0)

    def count(self) -> str:
        if self.step in ("", "reading package lists", "resolving dependencies",
                         "installing core packages"):
            return ""
        if self.total is None:
            return f"{self.done} package{'' if self.done == 1 else 's'}"
        return f"{self.done}/{self.total} packages"

    @property
    def complete(self) -> bool:
        return self.total is not None and self.done >= self.total

    def _enter(self, step: str) -> None:
        if step == self.step:
            return
        if self.step in _ENDS:
            self.runs[self.step] = self.done
        self.step = step
        self._advance(_STARTS[step])
        self.done, self.total = 0, self._total(step)

    def _total(self, step: str) -> int | None:
        """How many packages the step goes through, where that is known."""
        if step == "unpacking required":
            return len(self.extracted) or None
        if step == "setting up required":
            return self.runs.get("unpacking required")
        if step == "unpacking base" and self.downloaded:
            # At most: pre-dependencies are installed before, without a line each.
            return len(self.downloaded) - len(self.extracted)
        if step == "setting up base":
            return self.runs.get("unpacking base")
        return None

    def _download(self, name: str) -> None:
        self._enter("downloading")
        if name not in self.downloaded:
            self.downloaded.append(name)
        self.done = len(self.downloaded)
        self._within(_towards(self.done, self.expected))

    def _extract(self, name: str) -> None:
        self.extracted.append(name)
        self.done = len(self.extracted)
        # Extracted in the order downloaded: how far through that list this one is.
        if name in self.downloaded:
            self._within((self.downloaded.index(name) + 1) / (len(self.downloaded) + 1))

    def _count(self, done: int) -> None:
        self.done = done
        if self.total is not None and done > self.total:
            self.total = done  # dpkg configures a package or two more than it unpacked
        self._within(done / self.total if self.total else _towards(done, self.expected))

    def _within(self, within: float) -> None:
        start, end = _STARTS[self.step], _ENDS[self.step]
        self._advance(start + (end - start) * min(max(within, 0.0), 1.0))


_STATUS = re.compile(r"^(dlstatus|pmstatus|pmerror|pmconffile|media-change):([^:]*):"
                     r"([0-9.]*):(.*)$")
_PLANNED = re.compile(r"^(\d+) upgraded, (\d+) newly installed")
_FILES = re.compile(r"Retrieving file (\d+) of (\d+)")


class AptStatusReader(OutputReader):
    """apt's status lines (`-o APT::Status-Fd=1`) and its summary line.

    Its download percentage takes the command to `download_share`, dpkg's the
    rest. With `packages=True` (an install) the message counts packages out of
    what its summary (`N upgraded, M newly installed`) planned: downloaded, then
    unpacked, then configured (apt says `Installed`).
    """

    def __init__(self, step: str, *, packages: bool = True,
                 download_share: float = APT_DOWNLOAD_SHARE) -> None:
        super().__init__(step)
        self.packages = packages
        self.download_share = download_share
        self.planned: int | None = None
        self.files: tuple[int, int] | None = None
        self.unpacked: set[str] = set()
        self.installed: set[str] = set()
        self.dpkg = False

    def feed(self, text: str) -> None:
        m = _STATUS.match(text)
        if m is None:
            planned = _PLANNED.match(text)
            if planned:
                self.planned = int(planned[1]) + int(planned[2])
            return
        kind, what, percent, message = m[1], m[2], m[3], m[4]
        share = float(percent) / 100 if percent else None
        if kind == "dlstatus" and not self.dpkg:
            files = _FILES.match(message)
            if files:
                self.files = int(files[1]), int(files[2])
            if share is not None:
                self._advance(self.download_share * share)
        elif kind == "pmstatus":
            self.dpkg = True
            if message.startswith("Unpacking "):
                self.unpacked.add(what)
            elif message.startswith("Installed "):
                self.installed.add(what)
            self._advance(self.download_share + (1 - self.download_share) * (share or 0.0))

    def count(self) -> str:
        if not self.packages:
            return ""
        # Short: the progress screen has 56 columns for the whole message at 80x24.
        if self.files and not self.dpkg:
            return f"fetching {self.files[0]}/{self.files[1]}"
        if not (self.dpkg and self.planned):
            return ""
        if len(self.unpacked) < self.planned:
            return f"unpacking {len(self.unpacked)}/{self.planned}"
        return f"setting up {min(len(self.installed), self.planned)}/{self.planned}"

    @property
    def complete(self) -> bool:
        return bool(self.planned) and len(self.installed) >= (self.planned or 0)

    def protocol(self, text: str) -> bool:
        return _STATUS.match(text) is not None


def time_left(seconds: float) -> str:
    """`about 4 min left`: words that do not pretend to be exact (nor take room)."""
    return f"about {max(round(seconds / 60), 1)} min left"


class BootstrapProgress:
    """One phase's progress over its commands, as `Progress` events.

    Before each command, `reading(reader, until)`: that command's output takes
    the phase from where the previous one ended to `until`. Its return value is
    what `Runner.run(on_line=...)` takes. `sent` keeps every event made.
    """

    def __init__(self, phase: str | None = "bootstrap") -> None:
        self.phase = phase
        self.reader: OutputReader | None = None
        self.start = self.end = self.fraction = 0.0
        self.began: float | None = None
        self.sent: list[Progress] = []
        self._sent_key: tuple[str, str] | None = None

    def reading(self, reader: OutputReader, until: float) -> LineFilter:
        """Start a command read by `reader`; returns the runner's line filter."""
        self.start, self.end = self.end, min(max(until, self.end), 1.0)
        self.reader = reader
        return self.events_for

    def feed(self, text: str, now: float, *, stamp: datetime | None = None
             ) -> Progress | None:
        """One output line that arrived at `now` (seconds): a Progress, or None.

        `stamp` is the event's timestamp (by default, when it is made).
        """
        reader = self.reader
        if reader is None:
            return None
        if self.began is None:
            self.began = now
        reader.feed(text)
        self.fraction = max(self.fraction,
                            self.start + (self.end - self.start) * reader.fraction)
        last = self.sent[-1] if self.sent else None
        # A step's last count is always told, though the bar may barely move for it.
        key = (reader.step, reader.count() if reader.complete else "")
        if last is not None and self._sent_key == key and (
                self.fraction < last.fraction + MIN_STEP):
            return None
        left = self.seconds_left(now)
        parts = [p for p in (reader.count(), time_left(left) if left is not None else "")
                 if p]
        event = Progress(phase=self.phase, fraction=round(min(self.fraction, 1.0), 4),
                         message=reader.step + (": " + ", ".join(parts) if parts else ""),
                         **({"timestamp": stamp} if stamp is not None else {}))
        self.sent.append(event)
        self._sent_key = key
        return event

    def seconds_left(self, now: float) -> float | None:
        """The time left at the rate so far, or None before there is enough to go on."""
        if self.began is None:
            return None
        elapsed = now - self.began
        if self.fraction < ESTIMATE_AFTER_FRACTION or elapsed < ESTIMATE_AFTER_SECONDS:
            return None
        return elapsed * (1.0 - self.fraction) / self.fraction

    def events_for(self, line: OutputLine) -> list[Event]:
        """The events that stand for one output line: the line, unless it is apt's
        status protocol, then a Progress when the phase moved on.

        Progress is a nicety: a line it cannot read never stops the install.
        """
        reader = self.reader
        shown: list[Event] = [] if reader is not None and reader.protocol(line.text) else [line]
        try:
            progress = self.feed(line.text, line.timestamp.timestamp(), stamp=line.timestamp)
        except Exception:  # a progress bar must never fail an install
            self.reader = None
            return [line]
        return [*shown, progress] if progress is not None else shown
