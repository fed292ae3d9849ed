"""Cold-process wall time of the front door: `--help` and `validate` on the full
reference example. Prints the median of N runs (default 5) for each."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXE = Path(sys.executable).parent / "kldload-tui"
CASES = {
    "--help": [str(EXE), "--help"],
    "validate full-reference.env": [str(EXE), "validate",
                                    str(ROOT / "answers-examples" / "full-reference.env")],
}


def median_seconds(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    for name, argv in CASES.items():
        print(f"{name:<32} median {median_seconds(argv, runs) * 1000:6.0f} ms over {runs} runs")


if __name__ == "__main__":
    main()
