"""The live stand-in: a Debian root with the kernel, prebuilt ZFS modules, the
installer's tools and kldload-tui from the working tree, booted directly (vmlinuz +
initrd + ext4 root on virtio). The install layouts boot the product's ISO (iso.py);
the stand-in stays for the layouts that need its kernel-command-line modes (golden,
overhead: liveconf.py) and for ``--live standin``.

Two cache levels, so a change to the working tree costs about a minute, not a
debootstrap: ``live-base`` (livebase.py: the Debian root, built from the darksite) and
``live`` (base + a venv with kldload-tui, made into rootfs.img through an overlay mount).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kldload_tui.backend.iso.inputs import TREE_PARTS
from tests.e2e import cache, livebase
from tests.e2e.darksite import Darksite
from tests.e2e.sh import (
    chroot_mounts,
    in_chroot,
    make_ext4,
    run,
    safe_rmtree,
    say,
    unmount_all,
)

LABEL = "KLDLOAD-LIVE"
ROOT_SIZE = 6 * 2**30  # sparse; room for logs and whatever the installer writes
VENV = "/opt/kldload"


@dataclass(frozen=True)
class Live:
    """A bootable live environment in the cache."""

    entry: Path
    info: dict[str, Any]

    @property
    def kernel(self) -> Path:
        return self.entry / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.entry / "initrd.img"

    @property
    def rootfs(self) -> Path:
        return self.entry / "rootfs.img"

    def cmdline(self, *extra: str) -> str:
        """Kernel command line for a direct boot with the root on the first virtio disk."""
        return " ".join(["console=ttyS0,115200", "root=/dev/vda", "rw", "quiet", "panic=1",
                         *extra])


@dataclass(frozen=True)
class StandIn:
    """The stand-in live system and the darksite it was built from and boots with."""

    darksite: Darksite
    live: Live


def ensure_wheels(python: str, log: Path) -> tuple[Path, bool]:
    """kldload-tui's dependencies as wheels for the guest's Python (from PyPI, once),
    with its build requirements, so rebuilding the project's wheel needs no network."""
    pyproject = tomllib.loads((cache.REPO / "pyproject.toml").read_text())
    deps = [*pyproject["project"]["dependencies"], *pyproject["build-system"]["requires"]]
    inputs = {"harness": cache.harness_digest("live.py"), "python": python, "deps": deps}
    return cache.ensure("wheels", inputs, lambda out: _download_wheels(out, python, deps, log))


def _download_wheels(out: Path, python: str, deps: list[str], log: Path) -> None:
    # pip wheel, not pip download: some dependencies (blkinfo) ship only an sdist. The
    # wheels are built by the host's venv, so its Python must be the guest's (both
    # Debian 12 here: Python 3.11, glibc 2.36).
    pip = cache.REPO / ".venv/bin/pip"
    host = run([str(cache.REPO / ".venv/bin/python"), "-c",
                "import sys; print('%d.%d' % sys.version_info[:2])"], log=log, capture=True)
    if host.strip() != python:
        raise SystemExit(f"the venv's Python is {host.strip()}, the guest's {python}: "
                         "wheels built here would not install there")
    say(f"wheels: kldload-tui's dependencies for Python {python}")
    run([str(pip), "wheel", "-q", "--wheel-dir", str(out), *deps], log=log)


def build_project_wheel(dest: Path, wheels: Path, log: Path) -> Path:
    """A wheel of the working tree, built from a copy so the tree gets no build/ dirs;
    the build requirements come from the wheels directory, not from PyPI."""
    with tempfile.TemporaryDirectory(prefix="kldload-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for part in (*TREE_PARTS, "README.md"):
            origin = cache.REPO / part
            if origin.is_dir():
                shutil.copytree(origin, src / part,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
            elif origin.is_file():
                shutil.copy2(origin, src / part)
        run([str(cache.REPO / ".venv/bin/pip"), "wheel", "-q", "--no-deps", "--no-index",
             "--find-links", str(wheels), "--wheel-dir", str(dest), str(src)], log=log)
    built = sorted(dest.glob("kldload_tui-*.whl"))
    if not built:
        raise RuntimeError("pip wheel made no kldload_tui wheel")
    return built[-1]


def ensure_live(darksite: Darksite, log: Path) -> tuple[Live, dict[str, bool]]:
    """The bootable live environment for the current working tree.

    Returns it with which levels were built on this call (live-base, wheels, live).
    """
    base, base_built = livebase.ensure_base(darksite, log)
    python = json.loads((base / "info.json").read_text())["python"]
    wheels, wheels_built = ensure_wheels(python, log)
    inputs = {
        "harness": cache.harness_digest("live.py", "sh.py", "cache.py"),
        "base": base.name,
        "wheels": wheels.name,
        "tree": cache.tree_digest(),
    }
    entry, built = cache.ensure("live", inputs, lambda out: _build_live(out, base, wheels, log))
    info = json.loads((entry / "info.json").read_text())
    return Live(entry, info), {"live-base": base_built, "wheels": wheels_built, "live": built}


def _build_live(out: Path, base: Path, wheels: Path, log: Path) -> None:
    layers = out / ".layers"
    upper, work, merged = layers / "upper", layers / "work", layers / "merged"
    for d in (upper, work, merged):
        d.mkdir(parents=True)
    say("live: kldload-tui from the working tree into a venv at " + VENV)
    run(["mount", "-t", "overlay", "overlay", "-o",
         f"lowerdir={base / 'root'},upperdir={upper},workdir={work}", str(merged)], log=log)
    try:
        stage = merged / "tmp/wheels"
        shutil.copytree(wheels, stage, ignore=shutil.ignore_patterns("inputs.json"))
        build_project_wheel(stage, wheels, log)
        with chroot_mounts(merged):
            in_chroot(merged, ["python3", "-m", "venv", VENV], log=log)
            in_chroot(merged, [f"{VENV}/bin/pip", "install", "-q", "--no-index",
                               "--find-links", "/tmp/wheels", "kldload-tui"], log=log)
            version = in_chroot(merged, [f"{VENV}/bin/kldload-tui", "--version"], log=log,
                                capture=True).strip()
        shutil.rmtree(stage)
        link = merged / "usr/local/bin/kldload-tui"
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(f"{VENV}/bin/kldload-tui")
        say(f"live: {version}; packing the {LABEL} ext4 image")
        make_ext4(merged, out / "rootfs.img", LABEL, log=log, size=ROOT_SIZE)
    finally:
        unmount_all(merged)
    safe_rmtree(layers)
    for name in ("vmlinuz", "initrd.img"):
        shutil.copy2(base / name, out / name)
    info = json.loads((base / "info.json").read_text())
    (out / "info.json").write_text(json.dumps({**info, "kldload_tui": version}, indent=2) + "\n")
