"""Cold-process wall time of `kldload-tui plan` on the largest sample machine
(storage-6disk, mirror-stripe with special vdevs, encrypted), median of N runs."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXE = Path(sys.executable).parent / "kldload-tui"
ANSWERS = ROOT / "tests/golden/answers/mirror-stripe-special-encrypted.env"


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    argv = [str(EXE), "plan", str(ANSWERS), "--machine", "storage-6disk"]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    print(f"plan storage-6disk: median {statistics.median(times) * 1000:.0f} ms over {runs} runs")
    full = ROOT / "answers-examples/full-reference.env"
    out = subprocess.run([str(EXE), "plan", "--json", str(full), "--machine", "old-rpool"],
                         capture_output=True, text=True, check=True).stdout
    steps = json.loads(out)["steps"]
    kinds = {k: sum(1 for s in steps if s["kind"] == k) for k in ("command", "write", "note")}
    print(f"seed full reference on old-rpool: {kinds['command']} commands, "
          f"{kinds['write']} files written ({kinds['note']} notes)")


if __name__ == "__main__":
    main()
