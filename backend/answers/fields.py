"""Answers given as flat fields, `{"distro": ..., "disk": ..., "hostname": ...}`.

The WebSocket API of `kldload-tui serve` takes an install as the kldload guide's
`install-remote.py` sends it: one JSON object whose keys are the answers keys
in lower case without the `KLDLOAD_` prefix. This module turns such an object
into the key/value pairs an answers file holds and hands them to the same
checks (`kldload_tui.backend.answers.file.check_values`): the same model, the
same rules, every problem at once. Only the spelling of keys and the JSON
types of values are its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, get_origin

from kldload_tui.backend.answers.file import AnswersResult, check_values
from kldload_tui.backend.answers.model import ENV_PREFIX, Answers, env_key
from kldload_tui.backend.answers.validators import did_you_mean
from kldload_tui.backend.problems import Problem

FIELD_NAMES: tuple[str, ...] = tuple(Answers.model_fields)
"""Every field an install request may carry, in the reference's order."""

LIST_FIELDS: frozenset[str] = frozenset(
    name for name, f in Answers.model_fields.items() if get_origin(f.annotation) is tuple
)
"""Fields that hold several items: a JSON list of strings, or one space- or
comma-separated string as in answers.env."""

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def field_key(name: str) -> str:
    """The answers.env key of field `name`: `zfs_topology` -> `KLDLOAD_ZFS_TOPOLOGY`."""
    return env_key(name)


def _unknown(name: str, source: str | None) -> Problem:
    shown = name if len(name) <= 64 else name[:61] + "..."
    lowered = name.lower().removeprefix(ENV_PREFIX.lower())
    guess = lowered if lowered in FIELD_NAMES else did_you_mean(lowered, FIELD_NAMES,
                                                                cutoff=0.75)
    fix = (f"did you mean {guess!r}?" if guess
           else "fields are the answers keys in lower case without KLDLOAD_ "
                "(docs/answers.md lists them)")
    return Problem(f"unknown field {shown!r}", key=shown, source=source, fix=fix)


def _text(name: str, value: Any, source: str | None) -> tuple[Any, Problem | None]:
    """The value as answers.env would hold it, or why a JSON value cannot be one."""
    key = field_key(name)
    if value is None:
        return "", None  # as an empty line in a file: the default
    if isinstance(value, bool):
        return ("1" if value else "0"), None
    if isinstance(value, int):
        return str(value), None
    if isinstance(value, str):
        return value, None
    if isinstance(value, list) and name in LIST_FIELDS:
        if all(isinstance(item, str) for item in value):
            return tuple(value), None
        return None, Problem("a list of this field holds something other than strings",
                             key=key, source=source, fix="give each item as a string")
    what = {float: "a fractional number", list: "a list", dict: "an object"}.get(
        type(value), type(value).__name__)
    fix = ("give a string, or a list of strings" if name in LIST_FIELDS
           else "give a string (numbers and true/false are accepted where they make sense)")
    return None, Problem(f"{what} is not a value for this field", key=key, source=source,
                         fix=fix)


def parse_answers_fields(fields: Mapping[str, Any], *, source: str | None = None,
                         interactive: bool = False) -> AnswersResult:
    """Check answers given as flat fields and build the model; never raises on bad input.

    `fields` maps field names (`hostname`, `zfs_topology`) to JSON values:
    strings as written in answers.env, true/false for switches, integers for
    numbers, a list of strings for list fields, and null for the default.
    Problems name the `KLDLOAD_*` key of a known field, the field as given for
    an unknown one.
    """
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    for name, raw in fields.items():
        if not (isinstance(name, str) and _NAME.match(name) and name in FIELD_NAMES):
            problems.append(_unknown(str(name), source))
            continue
        value, problem = _text(name, raw, source)
        if problem is not None:
            problems.append(problem)
            continue
        values[field_key(name)] = value
    result = check_values(values, problems=problems, source=source, interactive=interactive)
    # A field refused for its JSON type was reported once; the model then misses it.
    reported = {p.key for p in problems}
    kept = [p for p in result.problems if p in problems or p.key not in reported]
    result.problems = [_as_field(p) for p in kept]
    return result


def _as_field(problem: Problem) -> Problem:
    """A missing required key, said in the words of fields rather than of a file."""
    if problem.message != "required key is missing" or problem.key is None:
        return problem
    required = ", ".join(name for name, f in Answers.model_fields.items() if f.is_required())
    name = problem.key.removeprefix(ENV_PREFIX).lower()
    return replace(problem, message="required field is missing",
                   fix=f"add {name!r} (an install needs at least {required})")
