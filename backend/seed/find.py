"""Finding the answers: an explicit file or URL, the kernel command line, a seed disk.

The order is fixed and the first place that names answers decides; a failure
there is reported, never skipped over to the next place, so a machine never
installs from answers other than those its operator pointed at:

1. `--answers PATH|URL` (a URL may hold placeholders, see `kldload_tui.backend.seed.url`);
2. the kernel command line: `kldload.answers=URL`, else `KLDLOAD_ANSWERS_URL=URL`
   (from /proc/cmdline, or the machine description's `kernel_cmdline`);
3. a seed disk: any block device, removable or not, whole-disk filesystem or
   partition, whose filesystem label is `KLDLOADSEED` or `KLDLOAD-SEED` (any
   case) and that holds `answers.env` at the top. Two seed disks are an error
   naming both. With a machine description, its `seed` is the seed disk.

Devices are listed with `lsblk --json`; where lsblk has no label (no udev
database: containers, early boot, these CI hosts) `blkid -p` probes the device.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from kldload_tui.backend.answers.file import (
    AnswersResult,
    UnreadableAnswers,
    parse_answers_bytes,
    read_answers_bytes,
)
from kldload_tui.backend.engine.runner import CommandError, LocalRunner, Runner
from kldload_tui.backend.machine.model import Machine, SeedDescription
from kldload_tui.backend.seed.fs import (
    ACCEPTED_LABELS,
    ANSWERS_NAME,
    FAT_TYPES,
    ISO_TYPES,
    NoAnswersOnSeed,
    SeedReadError,
    blkid_probe,
    is_seed_label,
    read_seed_answers,
)
from kldload_tui.backend.seed.url import (
    CMDLINE_KEYS,
    DEFAULT_BACKOFF,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    FetchError,
    PlaceholderError,
    answers_url_from_cmdline,
    expand_url,
    fetch_url,
    has_placeholders,
    identity_from_machine,
    is_url,
    probe_identity,
)

LSBLK_COLUMNS = "PATH,KNAME,PKNAME,TYPE,SIZE,FSTYPE,LABEL,UUID"
# Never seeds, and probing them costs: RAM disks, compressed swap, and floppy
# drives, which a VM may show without a disk and which stall probes for seconds.
_SKIP_KNAMES = ("ram", "zram", "fd")


@dataclass(frozen=True)
class AnswersFile:
    """Answers from a file named with `--answers`."""

    path: str
    kind: Literal["file"] = "file"

    @property
    def name(self) -> str:
        """How problems name this source."""
        return self.path

    def describe(self) -> str:
        """One line for people."""
        return f"file {self.path} (--answers)"


@dataclass(frozen=True)
class AnswersUrl:
    """Answers fetched from a URL given with `--answers` or on the kernel command line."""

    url: str
    template: str
    via: Literal["argument", "cmdline"]
    key: str | None = None
    kind: Literal["url"] = "url"

    @property
    def name(self) -> str:
        """How problems name this source."""
        return self.url

    def describe(self) -> str:
        """One line for people."""
        where = f"kernel command line {self.key}=" if self.via == "cmdline" else "--answers"
        return f"URL {self.url} ({where}{self.template if self.via == 'cmdline' else ''})"


@dataclass(frozen=True)
class SeedDisk:
    """Answers read from a seed disk (or image). `described`: from a machine
    description; `named`: given with `--answers` rather than found by label."""

    device: str
    label: str
    filesystem: str
    described: bool = False
    named: bool = False
    kind: Literal["seed"] = "seed"

    @property
    def name(self) -> str:
        """How problems name this source: `/dev/sdb1:answers.env`."""
        return f"{self.device}:{ANSWERS_NAME}"

    def describe(self) -> str:
        """One line for people."""
        extra = (", from the machine description" if self.described
                 else ", named with --answers" if self.named else "")
        what = "seed" if self.named else "seed disk"
        return f"{what} {self.device} (label {self.label or 'none'}, {self.filesystem}{extra})"


AnswersSource = AnswersFile | AnswersUrl | SeedDisk


@dataclass(frozen=True)
class FoundAnswers:
    """Where the answers came from, their raw bytes, and the checked result."""

    source: AnswersSource
    data: bytes
    result: AnswersResult
    # Things found on the way that did not stop discovery (an ignored key, a
    # labelled device without answers.env next to the real seed).
    notes: tuple[str, ...] = ()


class SeedError(Exception):
    """Discovery stopped; `lines` says why, each line complete on its own."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        super().__init__("\n".join(lines))


class NoAnswersFound(SeedError):
    """No place named answers; the message says what was looked for."""


class AmbiguousSeeds(SeedError):
    """More than one seed disk: nothing may be installed until one is removed."""

    def __init__(self, lines: list[str], devices: list[str]) -> None:
        super().__init__(lines)
        self.devices = devices


class AnswersUnavailable(SeedError):
    """A place named answers and they could not be read (file, URL, seed device)."""


def _labels_text() -> str:
    return " or ".join(ACCEPTED_LABELS) + " (any case)"


def _near_miss(label: str) -> bool:
    """Labels one slip away from a seed label: `KLDLOAD_SEED`, or `KLDLOAD-SEE` as
    tools that cut FAT labels to 11 characters leave the guide's spelling."""
    return re.sub(r"[^A-Z]", "", label.upper()) in ("KLDLOADSEED", "KLDLOADSEE")


@dataclass(frozen=True)
class SeedCandidate:
    """A block device whose filesystem label is a seed label."""

    device: str
    label: str
    filesystem: str
    uuid: str | None = None
    parent: str | None = None  # kernel name of the disk of a partition


def _holders(sys_root: Path, kname: str) -> bool:
    try:
        return any(os.scandir(sys_root / "class" / "block" / kname / "holders"))
    except OSError:
        return False


def scan_seed_devices(runner: Runner, sys_root: Path = Path("/sys")
                      ) -> tuple[list[SeedCandidate], list[str]]:
    """Block devices labelled as seeds, and notes on labels that nearly are."""
    res = runner.run(["lsblk", "--json", "--bytes", "--list", "-o", LSBLK_COLUMNS], timeout=60)
    rows: list[dict[str, Any]] = json.loads(res.stdout or "{}").get("blockdevices", [])
    found: list[SeedCandidate] = []
    notes: list[str] = []
    for row in rows:
        path, kname = str(row.get("path") or ""), str(row.get("kname") or "")
        if not path or not int(row.get("size") or 0) or kname.startswith(_SKIP_KNAMES):
            continue
        if _holders(sys_root, kname):
            continue  # multipath, md, dm-crypt: read through the device built on it
        fstype, label, uuid = row.get("fstype"), row.get("label"), row.get("uuid")
        if not fstype and not label:
            probed = blkid_probe(path, runner)
            fstype, label, uuid = probed.get("TYPE"), probed.get("LABEL"), probed.get("UUID")
        if is_seed_label(label):
            found.append(SeedCandidate(path, str(label), str(fstype or "auto"), uuid,
                                       row.get("pkname")))
        elif label and _near_miss(str(label)):
            notes.append(f"{path} has label {label!r}, which is not a seed label: relabel it "
                         f"{ACCEPTED_LABELS[0]} (fatlabel {path} {ACCEPTED_LABELS[0]})")
    # A hybrid ISO shows the same filesystem on the disk and on its partition 1.
    kept = {c.device.rsplit("/", 1)[-1]: c for c in found}
    unique = [c for c in found if not (
        c.parent in kept and (kept[c.parent].filesystem, kept[c.parent].label,
                              kept[c.parent].uuid) == (c.filesystem, c.label, c.uuid))]
    return unique, notes


def _read_seeds(candidates: list[SeedCandidate], runner: Runner
                ) -> tuple[list[tuple[SeedCandidate, bytes]], list[str]]:
    seeds: list[tuple[SeedCandidate, bytes]] = []
    empty: list[str] = []
    for c in candidates:
        try:
            seeds.append((c, read_seed_answers(c.device, c.filesystem, runner)))
        except NoAnswersOnSeed as err:
            empty.append(f"{err} (labelled {c.label}, {c.filesystem}): put the answers file "
                         f"at the top of the filesystem, named {ANSWERS_NAME}")
        except SeedReadError as err:
            raise AnswersUnavailable([f"seed disk {err} (labelled {c.label}, {c.filesystem})",
                                      "nothing was read from any seed disk"]) from None
    return seeds, empty


def find_seed_disk(runner: Runner, *, machine: Machine | None = None,
                   sys_root: Path = Path("/sys")) -> tuple[SeedDisk, bytes, list[str]]:
    """The one seed disk, its answers.env bytes, and notes.

    With `machine`, its `seed` description; otherwise a scan of this machine.
    Raises `NoAnswersFound` (none, or labelled devices without answers.env)
    and `AmbiguousSeeds` (two or more).
    """
    looked = (f"a block device labelled {_labels_text()} holding {ANSWERS_NAME}")
    if machine is not None:
        seed = machine.seed
        if seed is None:
            raise NoAnswersFound([f"the machine description has no seed (looked for {looked})"])
        if not is_seed_label(seed.label):
            raise NoAnswersFound([f"{seed.device}: label {seed.label!r} is not a seed label "
                                  f"({_labels_text()})"])
        if seed.answers is None:
            raise NoAnswersFound([f"{seed.device}: holds no {ANSWERS_NAME} (labelled "
                                  f"{seed.label}, {seed.filesystem})"])
        return (SeedDisk(seed.device, seed.label, seed.filesystem, described=True),
                seed.answers.encode("utf-8"), [])
    candidates, notes = scan_seed_devices(runner, sys_root)
    seeds, empty = _read_seeds(candidates, runner)
    if len(seeds) > 1:
        names = [c.device for c, _ in seeds]
        raise AmbiguousSeeds(
            [f"{len(seeds)} seed disks found: " + ", ".join(
                f"{c.device} ({c.label}, {c.filesystem})" for c, _ in seeds),
             "refusing to choose, so nothing is installed: remove all but one seed disk, "
             "or name the answers with --answers"],
            names)
    if not seeds:
        raise NoAnswersFound(empty + notes + [f"no seed disk: looked for {looked}"])
    cand, data = seeds[0]
    return SeedDisk(cand.device, cand.label, cand.filesystem), data, empty + notes


def _fetch(template: str, via: Literal["argument", "cmdline"], key: str | None,
           machine: Machine | None, sys_root: Path, timeout: float, retries: int,
           backoff: float) -> tuple[AnswersUrl, bytes]:
    where = f"kernel command line {key}={template}" if via == "cmdline" else "--answers"
    if not template.startswith(("http://", "https://")):
        raise AnswersUnavailable([f"{where}: not an http:// or https:// URL"])
    try:
        url = template
        if has_placeholders(template):
            identity = (identity_from_machine(machine) if machine is not None
                        else probe_identity(sys_root))
            url = expand_url(template, identity)
        return AnswersUrl(url, template, via, key), fetch_url(
            url, timeout=timeout, retries=retries, backoff=backoff)
    except PlaceholderError as err:
        raise AnswersUnavailable([f"{where}: {reason}" for reason in err.reasons]) from None
    except FetchError as err:
        raise AnswersUnavailable([f"{where}: {err}"]) from None


def _explicit_path(answers: str, runner: Runner) -> tuple[AnswersSource, bytes]:
    """`--answers PATH`: an answers file, or a seed device or FAT/ISO seed image."""
    try:
        mode = os.stat(answers).st_mode
    except OSError:
        mode = 0
    if stat.S_ISBLK(mode) or stat.S_ISREG(mode):
        probed = blkid_probe(answers, runner)
        fs = probed.get("TYPE")
        if stat.S_ISBLK(mode) or fs in FAT_TYPES | ISO_TYPES:
            if fs is None:
                raise AnswersUnavailable([f"{answers}: no filesystem found on it (blkid -p)"])
            try:
                data = read_seed_answers(answers, fs, runner)
            except SeedReadError as err:
                raise AnswersUnavailable([str(err)]) from None
            return SeedDisk(answers, probed.get("LABEL", ""), fs, named=True), data
    try:
        return AnswersFile(answers), read_answers_bytes(Path(answers))
    except UnreadableAnswers as err:
        raise AnswersUnavailable([str(err)]) from None


def find_answers(answers: str | None = None, *, machine: Machine | None = None,
                 runner: Runner | None = None, cmdline: str | None = None,
                 sys_root: Path = Path("/sys"), proc_root: Path = Path("/proc"),
                 timeout: float = DEFAULT_TIMEOUT, retries: int = DEFAULT_RETRIES,
                 backoff: float = DEFAULT_BACKOFF, interactive: bool = False) -> FoundAnswers:
    """Find, read and check the answers, in the documented order.

    `answers` is `--answers`: a URL, an answers file, or a seed device or
    FAT/ISO seed image (read like a seed disk, whatever its label). The
    kernel command line is `cmdline` when given, else the machine
    description's, else /proc/cmdline.
    `machine` replaces probing: its seed, NICs, DMI and hostname are used.
    Raises `NoAnswersFound`, `AmbiguousSeeds` or `AnswersUnavailable`; invalid
    answers are not an exception: see `FoundAnswers.result`.
    """
    runner = runner or LocalRunner()
    notes: list[str] = []
    source: AnswersSource
    if answers is not None and is_url(answers):
        source, data = _fetch(answers, "argument", None, machine, sys_root, timeout, retries,
                              backoff)
    elif answers is not None:
        source, data = _explicit_path(answers, runner)
    else:
        where = "as given"
        if cmdline is None and machine is not None:
            where, cmdline = "the machine description's kernel_cmdline", machine.kernel_cmdline
        elif cmdline is None:
            where = str(proc_root / "cmdline")
            try:
                cmdline = (proc_root / "cmdline").read_text(encoding="utf-8", errors="replace")
            except OSError:
                cmdline = ""
        named = answers_url_from_cmdline(cmdline)
        if named is not None:
            if named.note:
                notes.append(named.note)
            source, data = _fetch(named.url, "cmdline", named.key, machine, sys_root, timeout,
                                  retries, backoff)
        else:
            try:
                source, data, found_notes = find_seed_disk(runner, machine=machine,
                                                             sys_root=sys_root)
            except NoAnswersFound as err:
                keys = " or ".join(f"{k}=URL" for k in CMDLINE_KEYS)
                raise NoAnswersFound(["no answers found", "  --answers PATH|URL: not given",
                                      f"  kernel command line ({where}): no {keys}",
                                      *(f"  {line}" for line in err.lines)]) from None
            except CommandError as err:
                raise AnswersUnavailable([f"cannot list block devices: {err}"]) from None
            notes += found_notes
    result = parse_answers_bytes(data, source=source.name, interactive=interactive)
    return FoundAnswers(source, data, result, tuple(notes))


def record_seed(machine: Machine, source: AnswersSource) -> Machine:
    """`machine`, knowing the seed disk the answers came from, so that the disk is
    never offered as a target. Unchanged (the same object) when the answers came
    from elsewhere, or the machine already names its seed."""
    if not isinstance(source, SeedDisk) or machine.seed is not None:
        return machine
    return machine.model_copy(update={"seed": SeedDescription(
        device=source.device, label=source.label, filesystem=source.filesystem)})


def source_json(source: AnswersSource) -> dict[str, Any]:
    """A source as a plain dict for `--json` output."""
    return {**asdict(source), "name": source.name, "description": source.describe()}
