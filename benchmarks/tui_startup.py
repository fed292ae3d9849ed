"""Time from starting `kldload-tui --demo` in a pty until the welcome screen is drawn.

Prints the median of N runs (default 5) against the 1.5 s target. The terminal is
an 80x24 vt100, as on a serial console; each run quits through the quit dialog.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import pexpect

EXE = Path(sys.executable).parent / "kldload-tui"
TARGET_SECONDS = 1.5
WELCOME = "Press Enter (or ctrl+n) to start"


def time_to_welcome() -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("COLORTERM", "NO_COLOR")}
    env.update(TERM="vt100", COLUMNS="80", LINES="24")
    start = time.perf_counter()
    child = pexpect.spawn(str(EXE), ["--demo"], env=env, dimensions=(24, 80),
                          encoding="utf-8", codec_errors="replace", timeout=30)
    try:
        child.expect_exact(WELCOME)
        seconds = time.perf_counter() - start
        child.send("\x11")  # ctrl+q
        child.expect_exact("Quit kldload-tui?")
        child.send("y")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    return seconds


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    times = [time_to_welcome() for _ in range(runs)]
    median = statistics.median(times)
    verdict = "ok" if median < TARGET_SECONDS else "TOO SLOW"
    print(f"kldload-tui --demo to welcome  median {median * 1000:6.0f} ms over {runs} runs "
          f"(target {TARGET_SECONDS * 1000:.0f} ms: {verdict}); "
          f"runs: {', '.join(f'{t * 1000:.0f}' for t in times)} ms")


if __name__ == "__main__":
    main()
