"""What a front end holds while the operator fills in the answers.

Front-end state, kept in the backend (and Textual-free) so that any front end,
the TUI or a web or API one, edits answers the same way: the screens read and
write a `Session`, and the tests can check it without running an app. Every
value is checked by the answers model the headless mode uses
(`kldload_tui.backend.answers.model.Answers`); nothing here restates a rule, it
only asks the model and the cross-field rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kldload_tui.backend.answers.envfile import parse_env
from kldload_tui.backend.answers.file import STAND_INS, env_text, parse_answers
from kldload_tui.backend.answers.model import REQUIRED_KEYS, Answers, env_key, field_for_key
from kldload_tui.backend.answers.rules import check_answers
from kldload_tui.backend.answers.validators import FieldProblem
from kldload_tui.backend.distros import medium_defaults
from kldload_tui.backend.engine.distro_status import DistroStatus, check_all, proofs
from kldload_tui.backend.machine.disks import PROFILE_MIN_SIZE_BYTES, Verdict, classify_machine
from kldload_tui.backend.machine.model import Disk, Machine
from kldload_tui.backend.problems import Problem, Severity

_REQUIRED_FIELDS = tuple(field_for_key(k) for k in REQUIRED_KEYS)


@dataclass(frozen=True)
class FieldCheck:
    """The outcome of checking one value: the model's value, or what is wrong."""

    value: Any = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _problem_text(detail: Mapping[str, Any]) -> str:
    cause = (detail.get("ctx") or {}).get("error")
    if isinstance(cause, FieldProblem):
        return f"{cause.message}; {cause.fix}" if cause.fix else cause.message
    return str(detail.get("msg", "invalid value"))


def check_value(name: str, raw: Any) -> FieldCheck:
    """Check `raw` as the value of answers field `name`, exactly as answers.env is checked.

    Returns the normalised value (an enum, a tuple, a `SecretStr`...) or the
    model's message and fix as one line.
    """
    data = {**STAND_INS, name: raw}
    try:
        answers = Answers.model_validate(data)
    except OSError as err:
        # zoneinfo raises IsADirectoryError for a tz *directory* ("Europe", typed on the
        # way to "Europe/Paris") and the validator lets it through; as typed, it is
        # simply not a time zone yet.
        return FieldCheck(problem=f"{raw!r} is not a usable value ({err.strerror or err})")
    except ValidationError as err:
        for detail in err.errors():
            loc = str(detail["loc"][0]) if detail["loc"] else ""
            if loc in (name, env_key(name)):
                return FieldCheck(problem=_problem_text(detail))
        return FieldCheck(problem=_problem_text(err.errors()[0]))
    return FieldCheck(value=getattr(answers, name))


def defaults() -> dict[str, Any]:
    """Every optional field at the model's default."""
    return {name: f.default for name, f in Answers.model_fields.items() if not f.is_required()}


@dataclass(frozen=True)
class RemoteAccess:
    """How to reach this installer through `kldload-tui serve`, for the welcome screen.

    `url` is the server's base URL (`http://HOST:PORT/`); `token` None means the
    server was started with --no-auth. The token is shown on purpose: whoever
    sees the screen may install anyway, and it lets them open a second session.
    """

    url: str
    token: str | None

    @property
    def browser_url(self) -> str:
        """The TUI in a browser, the token in the query as a browser must give it."""
        return self.url if self.token is None else f"{self.url}?token={self.token}"

    @property
    def api_url(self) -> str:
        """The WebSocket API on the same port."""
        return "ws" + self.url.removeprefix("http") + "ws"

    def __repr__(self) -> str:
        return f"RemoteAccess(url={self.url!r})"


@dataclass
class Prefill:
    """Answers to start from: where they came from, the values that are valid,
    and every problem the file has (the operator fixes those in the TUI)."""

    values: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    problems: list[Problem] = field(default_factory=list)
    # Discovery failed (two seed disks, an unreachable URL): why none were used.
    error: str | None = None
    # The text of values the model refused, so the operator sees and fixes them.
    raw: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_answers(cls, answers: Answers, source: str | None = None) -> Prefill:
        """Every field of a valid `Answers`."""
        return cls({name: getattr(answers, name) for name in Answers.model_fields}, source)

    @classmethod
    def from_text(cls, text: str, source: str) -> Prefill:
        """answers.env text, checked as a person will edit it (`interactive=True`).

        A file with errors still pre-fills every value that is valid on its own;
        its problems are kept to show on the welcome screen.
        """
        result = parse_answers(text, source=source, interactive=True)
        if result.answers is not None and result.ok:
            prefill = cls.from_answers(result.answers, source)
            prefill.problems = result.problems
            return prefill
        entries, _ = parse_env(text, source)
        values: dict[str, Any] = {}
        raw: dict[str, str] = {}
        for entry in entries:
            name = field_for_key(entry.key)
            if name not in Answers.model_fields or entry.value == "":
                continue
            checked = check_value(name, entry.value)
            if checked.ok:
                values[name] = checked.value
            else:
                raw[name] = entry.value
        return cls(values, source, result.problems, raw=raw)


class Session:
    """The answers being edited, the machine they are for, and how to run.

    `values` holds only values the model accepted, keyed by field name; the
    required fields are absent until the operator gives them.
    """

    def __init__(self, machine: Machine, prefill: Prefill | None = None, *, demo: bool = False,
                 dry_run: bool = False, log_path: Path | None = None,
                 described: bool = True, remote: RemoteAccess | None = None,
                 darksite: Path | None = None) -> None:
        self.machine = machine
        # Set when this session runs under `kldload-tui serve`: the welcome screen
        # says how to connect (issue #15: the token is shown there as on the console).
        self.remote = remote
        # From a description (--machine, --demo) rather than probed: it cannot be re-probed.
        self.described = described
        self.prefill = prefill or Prefill()
        self.demo = demo
        self.dry_run = dry_run or demo
        self.log_path = log_path
        # `darksite`: the live medium's; what installs from it offline is preselected
        # (an ISO built for bookworm offers bookworm), and a prefill still wins.
        self.values: dict[str, Any] = {**defaults(), **medium_defaults(darksite),
                                       **self.prefill.values}
        self.darksite = darksite
        # What the distribution step learnt of the repositories (`check_distros`),
        # kept so that coming back to the step does not ask the network again.
        self.distro_statuses: list[DistroStatus] | None = None
        # The operator typed the names of the disks that hold data (review screen).
        self.consent_to_wipe = False
        self.saved_to: Path | None = None

    # Values -----------------------------------------------------------------

    def text(self, name: str) -> str:
        """What a text field starts with: the file's refused text, else the value as written
        in answers.env (lists space-separated, secrets in clear: the field masks them)."""
        if name in self.prefill.raw:
            return self.prefill.raw[name]
        value = self.values.get(name)
        return "" if value is None else env_text(value)

    def set(self, name: str, value: Any) -> FieldCheck:
        """Check and keep a value; an invalid value is not kept."""
        checked = check_value(name, value)
        if checked.ok:
            self.values[name] = checked.value
        return checked

    def missing(self) -> list[str]:
        """Required fields not given yet."""
        return [name for name in _REQUIRED_FIELDS if name not in self.values]

    def draft(self) -> Answers:
        """The answers so far, with stand-ins for required fields not given yet."""
        return Answers.model_validate({**STAND_INS, **self.values})

    def answers(self) -> Answers:
        """The complete answers; raises `ValidationError` while a required one is missing."""
        return Answers.model_validate(self.values)

    def problems(self, names: Iterable[str] | None = None) -> list[Problem]:
        """Cross-field errors and warnings (as in answers files), for the given fields only."""
        skip = frozenset(env_key(n) for n in self.missing())
        found = check_answers(self.draft(), interactive=True, skip=skip)
        if names is None:
            return found
        keys = {env_key(n) for n in names}
        return [p for p in found if p.key in keys]

    @staticmethod
    def errors(problems: Iterable[Problem]) -> list[Problem]:
        """Only the problems that stop an install."""
        return [p for p in problems if p.severity is Severity.ERROR]

    # Distributions ------------------------------------------------------------

    def distro_proofs(self) -> list[DistroStatus]:
        """What the distribution step shows before (or instead of) a check."""
        return self.distro_statuses or proofs()

    def check_distros(self) -> list[DistroStatus]:
        """Whether each distribution's repositories can be read from here (slow: the
        network; run it off the UI thread, on a copy of the answers, and keep the
        result in `distro_statuses` from the UI thread). A described machine is not
        this one: nothing is checked for it."""
        if self.described:
            return proofs()
        return check_all(dict(self.values), darksite=self.darksite)

    # Disks ------------------------------------------------------------------

    def verdicts(self) -> dict[str, Verdict]:
        """Each disk of the machine judged against the chosen profile's minimum size."""
        profile = self.values.get("profile")
        minimum = PROFILE_MIN_SIZE_BYTES[getattr(profile, "value", "server")]
        return classify_machine(self.machine, min_size_bytes=minimum)

    def disk_named(self, name: str | None) -> Disk | None:
        """The whole disk an answer names (kernel path or by-id path), compared exactly."""
        if not name:
            return None
        return next((d for d in self.machine.disks if name in (d.path, d.by_id)), None)

    @staticmethod
    def answer_for(disk: Disk) -> str:
        """How answers name a disk: its real by-id link (stable across boots), else its path."""
        if disk.by_id and not disk.by_id_synthesised:
            return disk.by_id
        return disk.path

    def installable_disks(self) -> list[Disk]:
        """Disks the install may use, in the machine's order."""
        verdicts = self.verdicts()
        return [d for d in self.machine.disks if verdicts[d.path].installable]
