"""Cold-process wall time of `kldload-tui plan` on the largest sample machine
(storage-6disk, mirror-stripe with special vdevs, encrypted), median of N runs:
first the Debian answers, then the same answers for each distribution of the
seed's list, with the number of commands each plan runs (a distribution this
version refuses plans nothing: its refusal is printed instead)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
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
    per_distro(max(runs, 7))


def per_distro(runs: int) -> None:
    """`plan --json` of the largest machine's answers with each KLDLOAD_DISTRO."""
    from kldload_tui.backend.answers.model import Distro

    base = ANSWERS.read_text().replace("KLDLOAD_DISTRO=debian\n", "")
    with tempfile.TemporaryDirectory() as tmp:
        for distro in Distro:
            answers = Path(tmp) / f"{distro.value}.env"
            # RHEL installs from a mirror of its DVD (Red Hat's CDN serves registered
            # systems only); planning reads nothing from it.
            mirror = ("KLDLOAD_CUSTOM_MIRROR_URL=http://10.0.0.5/rhel-dvd\n"
                      if distro is Distro.RHEL else "")
            answers.write_text(f"KLDLOAD_DISTRO={distro.value}\n{mirror}{base}")
            argv = [str(EXE), "plan", "--json", str(answers), "--machine", "storage-6disk"]
            times, out = [], None
            for _ in range(runs):
                start = time.perf_counter()
                out = subprocess.run(argv, capture_output=True, text=True, check=False)
                times.append(time.perf_counter() - start)
            assert out is not None
            median = f"median {statistics.median(times) * 1000:.0f} ms over {runs} runs"
            try:
                steps = json.loads(out.stdout)["steps"]
            except (json.JSONDecodeError, KeyError):
                reason = (out.stdout + out.stderr).strip().splitlines()
                print(f"plan {distro.value:<7} refused (exit {out.returncode}, {median}): "
                      f"{reason[-1] if reason else '?'}")
                continue
            commands = sum(1 for s in steps if s["kind"] == "command")
            print(f"plan {distro.value:<7} {median}; {commands} commands")


if __name__ == "__main__":
    main()
