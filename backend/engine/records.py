"""What commands did and what an install would do: the runner's value types.

Kept apart from `kldload_tui.backend.engine.runner` (which re-exports them) so that the runner
module holds only the running.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal


@dataclass(frozen=True)
class CommandResult:
    """What a finished command did, its output exactly as printed.

    The output is for the engine to parse, so it is never masked; `repr` leaves
    it out, since a command that was handed a secret may have echoed it. After
    `Runner.interact` the command ran on a pseudo-terminal, so stdout holds both
    streams and stderr is empty.
    """

    argv: tuple[str, ...]
    returncode: int
    stdout: str = field(default="", repr=False)
    stderr: str = field(default="", repr=False)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.returncode == 0

    @property
    def command(self) -> str:
        """argv as shell-quoted text, for messages."""
        return shlex.join(self.argv)


class CommandError(Exception):
    """A command failed, was not found, or timed out.

    argv never holds a secret; the output tail is masked when the command was
    handed one.

    `str()` is what an operator needs: the command, the tail of its stderr
    (of stdout when stderr was empty) and where the full log is.
    """

    def __init__(self, argv: Sequence[str], returncode: int, stderr_tail: str,
                 log_path: str | Path | None, *, reason: str | None = None,
                 timed_out: bool = False) -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        self.log_path = str(log_path) if log_path is not None else None
        self.reason = reason or f"command failed (exit {returncode})"
        self.timed_out = timed_out
        lines = [f"{self.reason}: {self.command}", stderr_tail,
                 f"full log: {self.log_path}" if self.log_path else ""]
        super().__init__("\n".join(line for line in lines if line))

    @property
    def command(self) -> str:
        """argv as shell-quoted text (for `Failed.command`)."""
        return shlex.join(self.argv)


@dataclass(frozen=True)
class PlannedStep:
    """One thing the install would do: run a command or write a file.

    A command keeps argv (with any chroot prefix), the chroot root and whether
    stdin was given, never its content. A write keeps path, mode, size and the
    content; content is None for a secret file or binary data. A note
    is what the install says it will do where no single command shows it.
    """

    kind: Literal["command", "write", "note"]
    phase: str | None
    argv: tuple[str, ...] = ()
    chroot: str | None = None
    stdin: bool = False
    path: str | None = None
    mode: int | None = None
    size: int = 0
    content: str | None = None
    secret: bool = False

    def render(self) -> str:
        """One line of the text plan."""
        if self.kind == "command":
            text = shlex.join(self.argv)
            return f"{text}  # stdin given, not shown" if self.stdin else text
        if self.kind == "note":
            return f"-- {self.content}"
        note = ", secret" if self.secret else ""
        return f"write {self.path} (mode {self.mode or 0:04o}, {self.size} bytes{note})"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; the mode is an octal string as people write it."""
        data = asdict(self)
        data["argv"] = list(self.argv)
        data["mode"] = None if self.mode is None else f"{self.mode:04o}"
        return data
