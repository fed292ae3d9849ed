"""The TUI in a browser: from the browser's request to the first rendered frame.

Starts the real binary (`serve --dry-run --machine server-3nvme-usb-seed --port 0`)
and one headless Chromium (tests/integration/chromium.py), then N times (default
5) loads `/?token=T` and reports, median of the runs, the time from the
request to:
- the first frame: the page's terminal has drawn the app's first output
  (textual.js marks the page `-first-byte`), polled every 10 ms;
- the welcome screen: xterm.js's buffer holds its last line, polled through
  DevTools (each poll takes some milliseconds itself, so this is an upper bound).
Each load starts a new session, that is a new kldload-tui process.

Run from the repository root: `python -m benchmarks.serve_browser [N]`.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.serve_process import serve
from tests.integration.chromium import Chromium

WELCOME_END = "Press Enter (or ctrl+n) to start"


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    firsts, welcomes = [], []
    with serve() as served, tempfile.TemporaryDirectory() as profile, \
            Chromium(Path(profile)) as page:
        url = f"http://127.0.0.1:{served.port}/?token={served.token}"
        for _ in range(runs):
            page.call("Page.navigate", url="about:blank")
            time.sleep(1)  # the previous session's process quits
            start = time.perf_counter()
            page.call("Page.navigate", url=url)
            while not page.evaluate("document.body !== null && "
                                    "document.body.classList.contains('-first-byte')"):
                time.sleep(0.01)
            firsts.append(time.perf_counter() - start)
            while WELCOME_END not in (page.terminal_text() or ""):
                pass
            welcomes.append(time.perf_counter() - start)
    print(f"serve, the TUI in headless Chromium, median of {runs} loads:")
    print(f"  request -> first frame:     {statistics.median(firsts) * 1000:.0f} ms "
          f"(runs: {', '.join(f'{t * 1000:.0f}' for t in firsts)})")
    print(f"  request -> welcome drawn:   {statistics.median(welcomes) * 1000:.0f} ms "
          f"(runs: {', '.join(f'{t * 1000:.0f}' for t in welcomes)})")


if __name__ == "__main__":
    main()
