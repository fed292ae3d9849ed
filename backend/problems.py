"""One shape for every error and warning shown to an operator.

A problem names where (file, line), what (key), what is wrong and how to fix it,
so a message read on a serial console at 3 AM is enough to act on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """Errors stop an install; warnings are shown and the install goes on."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """An error or warning about an input, located as precisely as we can."""

    message: str
    key: str | None = None
    line: int | None = None
    source: str | None = None
    fix: str | None = None
    severity: Severity = Severity.ERROR

    def render(self) -> str:
        """`FILE:LINE: KEY: message; fix`, leaving out the parts we do not know."""
        where = ""
        if self.source is not None:
            where = self.source if self.line is None else f"{self.source}:{self.line}"
            where += ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        key = f"{self.key}: " if self.key else ""
        text = self.message if not self.fix else f"{self.message}; {self.fix}"
        return f"{where}{key}{text}"

    def to_json(self) -> dict[str, Any]:
        """A plain dict for `--json` output."""
        data = asdict(self)
        data["severity"] = str(self.severity)
        return data


class ProblemsError(Exception):
    """Raised with every problem found, never just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(p.render() for p in problems))
