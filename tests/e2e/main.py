"""``tests/e2e/run``: build (or reuse) what the layouts boot (the product's live ISO;
the stand-in and its darksite for golden, overhead and ``--live standin``), run the
layouts, print one verdict line per layout with step timings."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from kldload_tui.backend.engine.runner import CommandError
from tests.e2e import cache
from tests.e2e.darksite import ensure_darksite
from tests.e2e.iso import ensure_iso
from tests.e2e.layouts import ALL, LAYOUTS, LIVE_KINDS, Result, Run, live_needed, run_layout
from tests.e2e.live import StandIn, ensure_live
from tests.e2e.sh import safe_rmtree, say

KEEP_RUNS = 6
DISK_SUFFIXES = (".qcow2", ".raw", ".img", ".fd")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tests/e2e/run", description=__doc__)
    parser.add_argument("--layout", action="append", choices=[*LAYOUTS, "all"],
                        help="layout to run, repeatable; all: every layout but overhead "
                             "(default: smoke)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the run's disks even when it passes")
    parser.add_argument("--build-only", action="store_true",
                        help="build or reuse the artefacts, boot nothing")
    parser.add_argument("--live", choices=LIVE_KINDS, default="iso",
                        help="what the install layouts and smoke boot: the product's ISO "
                             "(default) or the harness's stand-in; golden and overhead "
                             "always boot the stand-in")
    return parser.parse_args(argv)


def _running(run: Path) -> bool:
    """Whether the run that made `run` (its name ends with the harness's pid) is
    still going: its directory holds the disks its guests have open."""
    pid = run.name.rsplit("-", 1)[-1]
    if not pid.isdigit():
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"tests.e2e.main" in cmdline


def _run_dir(label: str) -> Path:
    runs = cache.cache_root() / "runs"
    runs.mkdir(exist_ok=True)
    # Runs still going are never pruned (a long golden run once lost its disks to a
    # short run started beside it), nor counted against the runs kept.
    old = sorted(p for p in runs.iterdir() if p.is_dir() and not _running(p))
    for stale in old[: max(0, len(old) - KEEP_RUNS + 1)]:
        safe_rmtree(stale)
    path = runs / f"{time.strftime('%Y%m%d-%H%M%S')}-{label}-{os.getpid()}"
    path.mkdir()
    return path


def _line(result: Result, total: float, builds: dict[str, float]) -> str:
    verdict = "PASS" if result.ok else "FAIL"
    steps = " ".join(f"{k}={v:.0f}s" for k, v in {**builds, **result.steps}.items())
    line = f"e2e {result.layout} {verdict} {total:.0f}s {steps}"
    if result.phases:
        # The engine's own timings (its phase_finished events), in the order it ran them.
        line += " | phases " + " ".join(f"{k}={v:.0f}s" for k, v in result.phases.items())
    if result.checks:
        line += f" | checks {len(result.checks)} passed: {','.join(result.checks)}"
    return line


def main(argv: list[str] | None = None) -> int:
    """Entry point; exit status 0 when every layout passed."""
    args = _parse(argv)
    # On SIGTERM (a CI time limit) unwind like on ^C: guests killed, chroot mounts undone.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if os.geteuid() != 0:
        print("e2e: needs root (debootstrap, chroots, mounts)", file=sys.stderr)
        return 2
    asked = args.layout or ["smoke"]
    names = list(dict.fromkeys(n for a in asked for n in (ALL if a == "all" else [a])))
    run_dir = _run_dir("all" if "all" in asked else "-".join(names[:3]))
    log = run_dir / "build.log"
    say(f"run directory {run_dir}")
    ctx = Run(run_dir, log, live=args.live)
    needed = {live_needed(name, args.live) for name in names}
    builds: dict[str, float] = {}
    try:
        built: list[str] = []
        if "iso" in needed:
            started = time.monotonic()
            say("iso: kldload-tui iso build (its own log: iso/build.log in the run directory)")
            ctx.iso = ensure_iso(run_dir, log)
            builds["build:iso"] = time.monotonic() - started
            built += [f"iso:{step}" for step in ctx.iso.built_steps()]
            say("iso: " + " ".join(f"{k}={v:.0f}s" for k, v in ctx.iso.step_seconds().items()))
        if "standin" in needed:
            started = time.monotonic()
            darksite, darksite_built = ensure_darksite(log)
            builds["build:darksite"] = time.monotonic() - started
            started = time.monotonic()
            live, live_built = ensure_live(darksite, log)
            builds["build:live"] = time.monotonic() - started
            ctx.standin = StandIn(darksite, live)
            built += [k for k, v in {"darksite": darksite_built, **live_built}.items() if v]
        say("built: " + (", ".join(built) or "nothing (all cached)"))
    except (RuntimeError, CommandError) as err:  # both carry the command and its output
        print(f"e2e build FAIL: {err}\nfull log: {log}", file=sys.stderr)
        return 1
    if args.build_only:
        print("e2e build PASS " + " ".join(f"{k}={v:.0f}s" for k, v in builds.items()))
        return 0
    failed = 0
    for name in names:
        started = time.monotonic()
        say(f"layout {name}: starting")
        result = run_layout(name, ctx)
        print(_line(result, time.monotonic() - started + sum(builds.values()), builds), flush=True)
        for line in result.report:
            print(f"e2e {name} {line}", flush=True)
        builds = {}  # the builds are charged to the first layout only
        if not result.ok:
            failed += 1
            print(f"e2e {name}: {result.detail}\n--- console tail ---\n{result.console_tail}"
                  f"\n--- logs kept in {run_dir} ---", file=sys.stderr)
    if not failed and not args.keep:
        for disk in run_dir.iterdir():
            if disk.suffix in DISK_SUFFIXES:
                disk.unlink()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
