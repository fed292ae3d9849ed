"""Read and write `KEY=value` files without ever executing them.

The accepted syntax is the part of POSIX shell assignments that answers files
use: blank lines, `#` comments, an optional `export `, unquoted, 'single' and
"double" quoted values (concatenated as a shell would), and a trailing
` # comment`. Nothing is expanded: `$(reboot)` stays the text `$(reboot)`.
Anything a shell would treat as more than an assignment (`;`, `|`, `&`, `<`,
`>`, an unquoted space) is refused, so a file means the same here as when an
operator sources it to check it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kldload_tui.backend.problems import Problem, Severity

_LINE_BREAK = re.compile(r"\r\n|\n|\r")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SHELL_OPERATORS = set(";|&<>")
# Characters that may stand unquoted in a value written back out.
# No `~`: a shell sourcing the file would expand it after `=` or a `:`.
_PLAIN = re.compile(r"^[A-Za-z0-9@%+=:,./_^-]*$")


@dataclass(frozen=True)
class Entry:
    """One `KEY=value` assignment and the line it was on."""

    key: str
    value: str
    line: int


class _LexError(Exception):
    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


def split_lines(text: str) -> list[str]:
    """Lines as editors number them, for LF, CRLF and lone CR endings."""
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def parse_env(text: str, source: str | None = None) -> tuple[list[Entry], list[Problem]]:
    """Every assignment in `text`, and a problem for every line that is not one.

    Warnings (a `$` or backquote taken literally) are returned among the problems.
    """
    entries: list[Entry] = []
    problems: list[Problem] = []
    for number, raw in enumerate(split_lines(text), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export") and line[6:7] in (" ", "\t"):
            line = line[7:].lstrip()
        m = _KEY.match(line)
        key = m.group() if m else None
        if m is None or "=" not in line:
            problems.append(Problem(
                "not an assignment", line=number, source=source,
                fix="write KEY=value, or start the line with # to make it a comment"))
            continue
        if line[m.end()] != "=":
            bad = line[m.end()]
            fix = (f"remove the space: {key}=..." if bad in " \t"
                   else "keys are letters, digits and '_', followed directly by '='")
            problems.append(Problem(f"unexpected {bad!r} after the key", key=key, line=number,
                                    source=source, fix=fix))
            continue
        assert key is not None
        try:
            value, literal_dollar = _value(line[m.end() + 1:])
        except _LexError as err:
            problems.append(Problem(err.message, key=key, line=number, source=source,
                                    fix=err.fix))
            continue
        if literal_dollar:
            problems.append(Problem(
                "'$' and '`' are taken literally: answers files are read, never run",
                key=key, line=number, source=source,
                fix="write the value itself, not a command or variable",
                severity=Severity.WARNING))
        entries.append(Entry(key, value, number))
    return entries, problems


def _value(text: str) -> tuple[str, bool]:
    """Lex a value the way a shell would read one word, without expanding it."""
    out: list[str] = []
    literal_dollar = False
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t":
            rest = text[i:].lstrip()
            if rest and not rest.startswith("#"):
                raise _LexError("unquoted space in the value",
                                "put the value in quotes: KEY='two words'")
            break
        if c == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise _LexError("unterminated single quote",
                                "close the quote on the same line (values are one line)")
            out.append(text[i + 1:end])
            i = end + 1
        elif c == '"':
            i, chunk, dollar = _double_quoted(text, i + 1)
            literal_dollar |= dollar
            out.append(chunk)
        elif c == "\\":
            if i + 1 >= n:
                raise _LexError("a backslash ends the line",
                                "line continuations are not supported: keep the value on one line")
            out.append(text[i + 1])
            i += 2
        elif c in _SHELL_OPERATORS:
            raise _LexError(f"unquoted {c!r} in the value (a shell would not read it as part "
                            "of the value)", "put the value in single quotes: KEY='...'")
        else:
            literal_dollar |= c in "$`"
            out.append(c)
            i += 1
    return "".join(out), literal_dollar


def _double_quoted(text: str, i: int) -> tuple[int, str, bool]:
    out: list[str] = []
    dollar = False
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            return i + 1, "".join(out), dollar
        if c == "\\" and i + 1 < n and text[i + 1] in '"\\$`':
            out.append(text[i + 1])
            i += 2
            continue
        dollar |= c in "$`"
        out.append(c)
        i += 1
    raise _LexError("unterminated double quote",
                    "close the quote on the same line (values are one line)")


def quote(value: str) -> str:
    """The shortest spelling of `value` that `parse_env` (and a shell) reads back exactly."""
    if _PLAIN.match(value):
        return value
    if "'" not in value:
        return f"'{value}'"
    escaped = re.sub(r'(["\\$`])', r"\\\1", value)
    return f'"{escaped}"'
