"""The kernel's table of mounts (/proc/self/mountinfo), read once for every user.

Paths in it (and in /proc/swaps) escape blanks and backslashes as octal
(`\\040`); `unescape` undoes that.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_OCTAL = re.compile(r"\\([0-7]{3})")


def unescape(text: str) -> str:
    """A path as the kernel wrote it in /proc, with its octal escapes undone."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), text)


@dataclass(frozen=True)
class Mount:
    """One line of mountinfo: the device number (`major:minor`), where, and from what."""

    devno: str
    target: str
    source: str


def read_mountinfo(path: Path = Path("/proc/self/mountinfo")) -> Iterator[Mount]:
    """Each mount; nothing when the table cannot be read."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return
    for line in lines:
        head, _, tail = line.partition(" - ")
        fields, rest = head.split(), tail.split()
        if len(fields) < 5:
            continue
        yield Mount(fields[2], unescape(fields[4]), unescape(rest[1]) if len(rest) > 1 else "")
