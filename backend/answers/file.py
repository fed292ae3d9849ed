"""answers.env in and out: bytes -> located problems or an `Answers`, and back.

Every problem in a file is reported in one pass: syntax, keys, values and the
rules across values, each with its line. A file is never executed.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError

from kldload_tui.backend.answers import envfile
from kldload_tui.backend.answers.model import (
    ENV_PREFIX,
    KNOWN_KEYS,
    REQUIRED_KEYS,
    Answers,
    env_key,
    group_of,
)
from kldload_tui.backend.answers.rules import check_answers
from kldload_tui.backend.answers.validators import FieldProblem, did_you_mean
from kldload_tui.backend.problems import Problem, Severity

MAX_BYTES = 1024 * 1024
REDACTED = "<redacted>"

_EXAMPLES = {
    "KLDLOAD_DISTRO": "KLDLOAD_DISTRO=debian",
    "KLDLOAD_DISK": "KLDLOAD_DISK=/dev/sda",
    "KLDLOAD_HOSTNAME": "KLDLOAD_HOSTNAME=web-prod-01",
}


@dataclass
class AnswersResult:
    """The outcome of reading answers: the model when there are no errors, and
    every problem found (errors and warnings) in file order."""

    answers: Answers | None
    problems: list[Problem] = field(default_factory=list)
    source: str | None = None
    # The line each key was set on, so later checks (the disks) can say where.
    lines: dict[str, int] = field(default_factory=dict)

    def locate(self, problem: Problem) -> Problem:
        """`problem` with this file and the line of its key, where it had none."""
        if problem.key is None or (problem.source is not None and problem.line is not None):
            return problem
        return replace(problem, source=problem.source or self.source,
                       line=problem.line if problem.line is not None
                       else self.lines.get(problem.key))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.WARNING]

    @property
    def ok(self) -> bool:
        return self.answers is not None and not self.errors


class UnreadableAnswers(Exception):
    """The file could not be read at all (missing, a directory, too large)."""


def read_answers_bytes(path: Path) -> bytes:
    """The file's bytes, refusing anything over 1 MiB before reading it all."""
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as err:
        raise UnreadableAnswers(f"{path}: cannot read: {err.strerror or err}") from None
    if len(data) > MAX_BYTES:
        raise UnreadableAnswers(
            f"{path}: larger than 1 MiB; an answers file is a few hundred bytes: is this the "
            "right file?"
        )
    return data


def load_answers(path: Path | str, *, interactive: bool = False) -> AnswersResult:
    """Read and check an answers file. Raises `UnreadableAnswers` only for I/O."""
    p = Path(path)
    return parse_answers_bytes(read_answers_bytes(p), source=str(p), interactive=interactive)


def parse_answers_bytes(
    data: bytes, *, source: str | None = None, interactive: bool = False
) -> AnswersResult:
    """Decode (UTF-8, an optional byte-order mark) and check."""
    if len(data) > MAX_BYTES:
        return AnswersResult(None, [Problem("larger than 1 MiB: refused", source=source,
                                            fix="an answers file is a few hundred bytes")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        return AnswersResult(None, [Problem(
            f"not UTF-8 text (byte 0x{data[err.start]:02x})", line=line, source=source,
            fix="save the file as UTF-8")])
    return parse_answers(text, source=source, interactive=interactive)


def parse_answers(
    text: str, *, source: str | None = None, interactive: bool = False
) -> AnswersResult:
    """Check answers.env text and build the model; never raises on bad input."""
    text = text.removeprefix("\ufeff")
    entries, problems = envfile.parse_env(text, source)
    values: dict[str, str] = {}
    lines: dict[str, int] = {}
    for e in entries:
        problem = _key_problem(e, lines, source)
        if problem:
            problems.append(problem)
            continue
        lines[e.key] = e.line
        values[e.key] = e.value
    return check_values(values, problems=problems, lines=lines, source=source,
                        interactive=interactive)


def check_values(
    values: Mapping[str, Any], *, problems: Iterable[Problem] = (),
    lines: Mapping[str, int] | None = None, source: str | None = None,
    interactive: bool = False,
) -> AnswersResult:
    """Build the model from known `KLDLOAD_*` keys and their values and check it:
    each value, then the rules across values. What `parse_answers` does once a
    file is lexed, and what answers given another way (the WebSocket API's
    fields) go through. Values are text as answers.env holds it (a list field
    may also be given as a sequence of items). `problems` found before (bad
    lines, unknown keys) are kept; a key among them is not guessed at by the
    rules. Never raises on bad input."""
    problems = list(problems)
    lines = dict(lines or {})
    data: dict[str, Any] = {}
    for key, value in values.items():
        # Empty means "the default", as for an unset variable; required keys keep
        # the empty value so their own check says what is missing.
        if value != "" or key in REQUIRED_KEYS:
            data[key] = value

    # A key whose line did not even lex has no value; rules must not guess one.
    failed: set[str] = {p.key for p in problems if p.key and p.severity is Severity.ERROR}
    answers: Answers | None = None
    try:
        answers = Answers.model_validate(data)
    except ValidationError as err:
        for detail in err.errors():
            loc_key = str(detail["loc"][0]) if detail["loc"] else None
            if loc_key:
                failed.add(loc_key)
            problems.append(_from_pydantic(detail, loc_key, lines, source))
        answers = _partial(data, failed)

    if answers is not None:
        problems += check_answers(answers, interactive=interactive, lines=lines, source=source,
                                  skip=frozenset(failed) | _missing(data))
    ok = not any(p.severity is Severity.ERROR for p in problems)
    problems.sort(key=lambda p: (p.line is None, p.line or 0))
    return AnswersResult(answers if ok else None, problems, source, lines)


def _key_problem(e: envfile.Entry, lines: dict[str, int], source: str | None) -> Problem | None:
    if not e.key.startswith(ENV_PREFIX):
        return Problem(
            f"{e.key} is not a KLDLOAD_* key: only KLDLOAD_* variables are read",
            key=e.key, line=e.line, source=source,
            fix="remove the line (answers files hold nothing else)")
    if e.key not in KNOWN_KEYS:
        guess = did_you_mean(e.key, KNOWN_KEYS, cutoff=0.75)
        fix = f"did you mean {guess}?" if guess else "see docs/answers.md for the keys"
        return Problem(f"unknown key {e.key}", key=e.key, line=e.line, source=source, fix=fix)
    if e.key in lines:
        return Problem(f"{e.key} is set twice (first on line {lines[e.key]})", key=e.key,
                       line=e.line, source=source, fix="keep one of the two lines")
    return None


def _from_pydantic(
    detail: Any, key: str | None, lines: dict[str, int], source: str | None
) -> Problem:
    line = lines.get(key) if key else None
    if detail["type"] == "missing" and key:
        return Problem(
            "required key is missing", key=key, source=source,
            fix=f"add {_EXAMPLES.get(key, key + '=...')} (a minimal file needs "
                f"{', '.join(REQUIRED_KEYS)})")
    cause = (detail.get("ctx") or {}).get("error")
    if isinstance(cause, FieldProblem):
        return Problem(cause.message, key=key, line=line, source=source, fix=cause.fix)
    return Problem(str(detail["msg"]), key=key, line=line, source=source)


# Stand-ins (by field name) for the required answers not given yet, so that the
# others, or the rules across them, can be checked first; a rule that reads one is
# skipped. Where the distribution is not the point, any will do. One set for every
# caller: the TUI's drafts, the distribution step, the disk checks, partial files.
STAND_INS: dict[str, str] = {
    "distro": "debian",
    "disk": "/dev/kldload-not-chosen-yet",
    "hostname": "kldload-not-chosen-yet",
}


def _missing(data: dict[str, Any]) -> frozenset[str]:
    return frozenset(k for k in REQUIRED_KEYS if k not in data)


def _partial(data: dict[str, Any], failed: set[str]) -> Answers | None:
    """The answers that did validate, so cross-field rules can still report.

    Failed and missing fields take a placeholder; rules skip them.
    """
    good = {k: v for k, v in data.items() if k not in failed}
    for name, value in STAND_INS.items():
        good.setdefault(env_key(name), value)
    try:
        return Answers.model_validate(good)
    except ValidationError:
        return None


def answers_to_env(answers: Answers) -> dict[str, str]:
    """Every key and its value as answers.env holds it (secrets in clear): what
    `dump_answers` writes, unquoted, and what `. answers.env` sets in a shell."""
    out: dict[str, str] = {}
    for name in Answers.model_fields:
        out[env_key(name)] = env_text(getattr(answers, name))
    return out


def env_text(value: Any) -> str:
    """A value as written in answers.env: 1/0 switches, space-separated lists, clear secrets."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, tuple):
        return " ".join(value)
    return str(value)


def dump_answers(
    answers: Answers, *, redact: bool = False, only_changed: bool = False,
    header: Iterable[str] = (),
) -> str:
    """answers.env text that `parse_answers` reads back to the same model.

    `redact` replaces secrets by a marker (the copy kept in the installed
    system); such a file does not round-trip and says so at its top.
    `only_changed` leaves out keys at their default (required keys always stay).
    """
    lines = [f"# {h}" for h in header]
    if redact:
        lines.append(f"# Secrets are replaced by {REDACTED}: set them before replaying this file.")
    values = answers_to_env(answers)
    defaults = {name: f.default for name, f in Answers.model_fields.items()}
    group = None
    for name in Answers.model_fields:
        key = env_key(name)
        value = getattr(answers, name)
        if only_changed and key not in REQUIRED_KEYS and value == defaults[name]:
            continue
        if group_of(name) != group:
            group = group_of(name)
            if lines:
                lines.append("")
            lines.append(f"# -- {group}")
        text = values[key]
        if redact and isinstance(value, SecretStr) and text:
            text = REDACTED
        lines.append(f"{key}={envfile.quote(text)}")
    return "\n".join(lines) + "\n"


def save_answers(path: Path, answers: Answers, *, header: Iterable[str] = ()) -> str:
    """Write answers.env to `path` as `dump_answers` makes it (secrets in clear) and
    return the text written.

    The file holds passwords: the runner writes it atomically with mode 0600, so it
    is never, even briefly, readable by others. A missing directory is an error
    (`FileNotFoundError`), not created: a mistyped path must not grow directories.
    """
    directory = path.parent
    if not directory.is_dir():
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(directory))
    # Imported here: `validate` reads answers on every run and never writes them.
    from kldload_tui.backend.engine.runner import LocalRunner

    text = dump_answers(answers, header=header)
    with LocalRunner() as runner:
        runner.write_file(path, text, 0o600, secret=True)
    return text
