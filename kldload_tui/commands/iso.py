"""`kldload-tui iso build`: the live ISO and PXE artefacts (docs/iso.md)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from kldload_tui import exitcodes

NAME = "iso"
# The answers model's profiles, spelled out: importing it here would load pydantic
# for every `--help` (a unit test checks the two agree).
PROFILES = ("core", "server", "desktop")
HELP = "build the kldload live ISO and PXE artefacts (iso build)"
BUILD_EPILOG = """\
Runs as root on a Debian machine, from Debian's packages only: the mirror is
read from this machine's apt sources (main and contrib). Artefacts are cached
under --cache by a hash of their inputs; a rebuild with nothing changed takes
seconds. Output: DIR/kldload-SUITE-VERSION.iso, DIR/pxe/ (vmlinuz, initrd.img,
filesystem.squashfs, kldload.ipxe, pxelinux.cfg/default), DIR/summary.json and
DIR/build.log. Exit 0 built, 1 the build failed, 2 refused (not root, tools
missing: the packages to install are named).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`iso build` and its options."""
    sub = parser.add_subparsers(dest="iso_action", metavar="ACTION")
    build = sub.add_parser("build", help="build the live ISO and pxe/",
                           epilog=BUILD_EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    build.add_argument("--out", required=True, type=Path, metavar="DIR",
                       help="where the ISO and pxe/ go")
    build.add_argument("--suite", choices=("bookworm", "trixie"),
                       help="the live system's Debian release (default: this machine's)")
    build.add_argument("--darksite", action="store_true",
                       help="put an apt repository on the ISO with every package an install "
                            "of the --profile(s) needs: installs run with no network")
    build.add_argument("--profile", action="append", choices=PROFILES,
                       help="profiles the darksite serves (repeatable; default: server)")
    build.add_argument("--feature", action="append", default=[], metavar="NAME",
                       help="features the darksite serves too (repeatable), e.g. wireguard")
    build.add_argument("--wheel", type=Path, metavar="FILE",
                       help="install this kldload-tui wheel instead of the working tree")
    build.add_argument("--cache", type=Path, default=Path("/var/cache/kldload-iso"),
                       metavar="DIR", help="build cache (default: /var/cache/kldload-iso)")
    build.add_argument("--zstd-level", type=int, default=15, choices=range(1, 23),
                       metavar="1-22", help="squashfs compression (default: 15)")
    build.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args: argparse.Namespace) -> int:
    """Dispatch to `build`."""
    if args.iso_action != "build":
        print("kldload-tui iso: choose an action: build (see --help)", file=sys.stderr)
        return exitcodes.USAGE
    return _build(args)


def _say(text: str) -> None:
    print(f"iso {time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


def _build(args: argparse.Namespace) -> int:
    import json

    from kldload_tui.backend.answers.model import Profile
    from kldload_tui.backend.engine.runner import CommandError
    from kldload_tui.backend.iso import tools
    from kldload_tui.backend.iso.aptsrc import NoMirror, host_sources, host_suite
    from kldload_tui.backend.iso.build import BuildRefused, build_iso
    from kldload_tui.backend.iso.inputs import IsoOptions, known_features, source_tree

    reasons = tools.refusals()
    unknown = [f for f in args.feature if f not in known_features()]
    if unknown:
        reasons.append(f"unknown --feature {', '.join(unknown)} (known: "
                       f"{', '.join(known_features())})")
    if args.wheel is not None and not args.wheel.is_file():
        reasons.append(f"--wheel {args.wheel}: no such file")
    suite = args.suite or host_suite(host_sources())
    if suite not in ("bookworm", "trixie"):
        reasons.append(f"this machine's suite is {suite or 'unknown'}: give --suite "
                       "bookworm or trixie")
    if args.cache.resolve() == Path.cwd() or args.out.resolve() == args.cache.resolve():
        reasons.append("--cache must be a directory of its own, outside the output")
    source = None if args.wheel is not None else source_tree()
    if args.wheel is None and source is None:
        reasons.append("kldload-tui is not running from a working tree: give --wheel FILE")
    for reason in reasons:
        print(f"kldload-tui iso build: refused: {reason}", file=sys.stderr)
    if reasons:
        return exitcodes.USAGE
    assert suite is not None
    options = IsoOptions(
        out=args.out.resolve(), suite=suite, darksite=args.darksite,
        profiles=tuple(Profile(p) for p in (args.profile or ["server"])),
        features=tuple(args.feature), wheel=args.wheel.resolve() if args.wheel else None,
        source=source, cache=args.cache.resolve(), zstd_level=args.zstd_level)
    _say(f"building kldload live for {suite} into {options.out} "
         f"(log: {options.out / 'build.log'})")
    try:
        summary = build_iso(options, _say)
    except (BuildRefused, NoMirror) as err:
        print(f"kldload-tui iso build: refused: {err}", file=sys.stderr)
        return exitcodes.USAGE
    except CommandError as err:
        print(f"kldload-tui iso build: failed: {err}", file=sys.stderr)
        return exitcodes.INVALID
    if args.json:
        print(json.dumps(summary.to_json(), indent=2))
    else:
        print(summary.render())
    return exitcodes.OK
