"""The real `kldload-tui serve --dry-run` for the serve benchmarks: started on a free
port, its port and token read from its first two lines (the listen line and the token
line), stopped on exit."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

EXE = Path(sys.executable).parent / "kldload-tui"
MACHINE = "server-3nvme-usb-seed"


@dataclass(frozen=True)
class Served:
    """A running server: its process, port and token."""

    proc: subprocess.Popen[str]
    port: int
    token: str


@contextmanager
def serve() -> Iterator[Served]:
    """`serve --dry-run --machine MACHINE --port 0`, stopped when the block ends."""
    proc = subprocess.Popen([str(EXE), "serve", "--dry-run", "--machine", MACHINE,
                             "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        listen, token_line = proc.stdout.readline(), proc.stdout.readline()
        port = re.search(r"http://127\.0\.0\.1:(\d+)/", listen)
        token = re.search(r"token (\S+) ", token_line)
        if not (port and token):
            raise RuntimeError(f"serve's start lines are not as expected: {listen!r}, "
                               f"{token_line!r}")
        yield Served(proc, int(port.group(1)), token.group(1))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
