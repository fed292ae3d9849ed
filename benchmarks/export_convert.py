"""`kldload-tui export` against the bare tools doing the same work, on one raw image.

    .venv/bin/python benchmarks/export_convert.py [--size-gib 8] [--data-mib 1536] [--runs 5]

The command converts (`qemu-img convert`), reads the image back against the
source (`qemu-img compare`) and hashes it (SHA-256, written beside it). The bare
side runs `qemu-img convert -O qcow2`, `qemu-img compare` and `sha256sum` by
hand. Runs alternate (command, bare, command, ...) so both meet the same page
cache and the same load; medians are printed, with the ratio. Not part of any
test run: it writes a few GB under --work and takes minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXE = Path(sys.executable).parent / "kldload-tui"
CHUNK = 64 * 2**20


def make_source(path: Path, size: int, data: int) -> None:
    """A sparse raw disk with `data` bytes of random chunks spread over it: holes are
    what qemu-img skips, data what it must copy, as on an installed disk."""
    chunks = max(data // CHUNK, 1)
    stride = size // chunks
    with path.open("wb") as disk:
        disk.truncate(size)
        for i in range(chunks):
            disk.seek(i * stride)
            disk.write(os.urandom(CHUNK))


def timed(argv: list[str]) -> float:
    began = time.monotonic()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.monotonic() - began


def command_run(source: Path, out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    return timed([str(EXE), "export", str(source), "qcow2", str(out), "--name", "bench"])


def bare_run(source: Path, out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    image = out / "bench.qcow2"
    began = time.monotonic()
    for argv in (["qemu-img", "convert", "-O", "qcow2", str(source), str(image)],
                 ["qemu-img", "compare", "-q", str(source), str(image)],
                 ["sha256sum", str(image)]):
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gib", type=int, default=8)
    parser.add_argument("--data-mib", type=int, default=1536)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--work", type=Path, default=Path("/var/tmp"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kldload-bench-export-", dir=args.work) as tmp:
        work = Path(tmp)
        source = work / "source.raw"
        make_source(source, args.size_gib * 2**30, args.data_mib * 2**20)
        command, bare = [], []
        bare_run(source, work / "warm")  # the first read fills the page cache for both
        for _ in range(args.runs):
            command.append(command_run(source, work / "command"))
            bare.append(bare_run(source, work / "bare"))
        image = work / "command/bench.qcow2"
        result = {
            "source": f"{args.size_gib} GiB raw, {args.data_mib} MiB of data",
            "image_bytes": image.stat().st_size,
            "runs": args.runs,
            "command_median_s": round(statistics.median(command), 2),
            "bare_median_s": round(statistics.median(bare), 2),
            "ratio": round(statistics.median(command) / statistics.median(bare), 3),
            "command_s": [round(x, 2) for x in command],
            "bare_s": [round(x, 2) for x in bare],
        }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
