"""Layout ``overhead``: what running the install through kldload-tui costs over the
bare commands of the same install, under the same emulation.

1. The ``single`` install through ``kldload-tui --headless`` (as in that layout),
   timed by the guest's clock from the autoinstall's start to its end, so Python's
   start-up, the machine probe and seed discovery count against the product.
2. An identical guest (same live image, darksite and seed, new blank disks) runs
   ``kldload-tui plan --json`` (not timed), makes a shell script of the first
   run's install log and that plan (bare.py), and runs it with ``sh``, timed from
   its first command to its last.

The ratio is 1. over 2.; per phase, the engine's phase timings are set against the
bare script's phase markers. The target is at most 1.05.
"""

from __future__ import annotations

import io
import itertools
import re
import shutil
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING

from tests.e2e import bare
from tests.e2e.answers import SEED_SERIAL
from tests.e2e.bootcheck import CheckFailed
from tests.e2e.install import DONE, INSTALL_TIMEOUT, io_disk
from tests.e2e.installs import BOOT_TIMEOUT, SPECS, TARGET_SIZE, install_in_guest
from tests.e2e.qemu import MARKER, Disk, Firmware, blank

if TYPE_CHECKING:
    from tests.e2e.layouts import Result, Run

TARGET_RATIO = 1.05
RUN_SH = """#!/bin/sh
# Made by tests/e2e/overhead.py: the plan in this guest, the script, then the script.
cd /run/kldload-e2e || exit 90
kldload-tui plan --json answers.env > plan.json || exit 91
python3 bare.py install.log plan.json answers.env > bare.sh || exit 92
echo "KLDLOAD-E2E: script-start $(date +%s.%N)"
sh bare.sh
"""
BARE_PHASE = rf"{MARKER} bare-phase name=([a-z-]+) (\d+\.\d+)"


def _exchange_disk(ctx: Run, install_log: Path, answers: Path) -> Disk:
    disk = io_disk(ctx.run_dir, "overhead-bare", ctx.log)
    files = {"run.sh": RUN_SH.encode(), "bare.py": Path(bare.__file__).read_bytes(),
             "install.log": install_log.read_bytes(), "answers.env": answers.read_bytes()}
    with disk.path.open("r+b") as raw, tarfile.open(fileobj=raw, mode="w:") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o600
            archive.addfile(info, io.BytesIO(data))
    return disk


def _bare_phases(console: str) -> dict[str, float]:
    marks = [(m.group(1), float(m.group(2))) for m in re.finditer(BARE_PHASE, console)]
    return {name: later - at for (name, at), (_, later) in itertools.pairwise(marks)}


def overhead(ctx: Run, result: Result) -> None:
    """Run the product's install and the bare one; report the ratio of their times."""
    from tests.e2e.answers import make_seed
    from tests.e2e.layouts import live_guest

    spec = SPECS["single"]
    seed = make_seed(spec, ctx.suite, ctx.run_dir, ctx.log)
    product_targets = [Disk(blank(ctx.run_dir / f"product-{s}.raw", TARGET_SIZE, ctx.log), s,
                            fmt="raw") for s in spec.serials]
    # Both guests boot the live system through OVMF, as the install layouts do: the
    # bootloader phase writes an EFI boot entry, which needs EFI variables.
    product = install_in_guest(ctx, result, spec, product_targets, seed,
                               Firmware.uefi(ctx.run_dir, "overhead-product-vars.fd"),
                               live="standin")
    if product.rc != 0:
        raise CheckFailed(f"the product's install exited {product.rc}: {product.failed}")
    log = ctx.run_dir / f"{spec.name}-logs/var/log/kldload/install.log"
    shutil.copy2(log, ctx.run_dir / "overhead-product-install.log")
    answers = ctx.run_dir / f"{spec.name}-answers.env"
    targets = [Disk(blank(ctx.run_dir / f"bare-{s}.raw", TARGET_SIZE, ctx.log), s, fmt="raw")
               for s in spec.serials]
    exchange = _exchange_disk(ctx, log, answers)
    disks = [*targets, Disk(seed, SEED_SERIAL, fmt="raw"), exchange]
    with live_guest(ctx, "overhead-bare", disks, "kldload.e2e=script",
                    firmware=Firmware.uefi(ctx.run_dir, "overhead-bare-vars.fd")) as guest:
        try:
            with result.step("bare-live-boot"):
                guest.wait_marker("autoinstall-start", BOOT_TIMEOUT)
            with result.step("bare-plan"):
                started = float(guest.wait_marker("script-start", 600)["epoch"])
            with result.step("bare-install"):
                _, done = guest.expect_any([DONE], INSTALL_TIMEOUT, "the bare script's end")
            guest.wait_marker("poweroff", 300)
            guest.wait_exit(300)
        finally:
            result.console_tail = guest.tail()
    bare_seconds = float(done.group(2)) - started
    console = (ctx.run_dir / "overhead-bare-console.log").read_text(errors="replace")
    bare_phases = _bare_phases(console)
    ratio = product.guest_seconds / bare_seconds
    result.report = [
        f"overhead: kldload-tui --headless {product.guest_seconds:.1f}s, bare commands "
        f"{bare_seconds:.1f}s (exit {done.group(1)}): ratio {ratio:.3f} "
        f"(target <= {TARGET_RATIO})",
        "overhead per phase (engine / bare): " + " ".join(
            f"{name}={secs:.0f}/{bare_phases.get(name, 0):.0f}s"
            for name, secs in product.phases.items()),
    ]
    if done.group(1) != "0":
        raise CheckFailed(f"the bare script exited {done.group(1)}")
    result.ok = ratio <= TARGET_RATIO
    if not result.ok:
        result.detail = f"ratio {ratio:.3f} is above {TARGET_RATIO}"
