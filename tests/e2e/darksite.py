"""The stand-in's darksite: a local Debian repository (dists/ + pool/) with everything
an install needs, ZFS modules prebuilt for the guest kernel included, packed on an
ext4 disk. Only the live stand-in (golden, overhead, ``--live standin``) uses it:
the live ISO carries its own, made by ``kldload-tui iso build --darksite``.

It is the product's darksite (kldload_tui/backend/iso/darksite.py) with the live
stand-in's packages added, built with the product's mirror reading and its ZFS
module package: the one DKMS build in the ISO build's cache serves both.
Inside a guest it is mounted at /darksite and used as
``deb [signed-by=/usr/share/keyrings/kldload-darksite.gpg] file:/darksite SUITE main
contrib`` (the key it is signed with is in the live root, as on the ISO);
debootstrap takes it as ``file:///darksite`` with that key (it carries every
Priority required and important package, so the default and minbase variants both
work), which is also how live.py builds the
live root: the same bytes the guest will install from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kldload_tui.backend.engine.live_medium import DARKSITE_KEYRING
from kldload_tui.backend.engine.runner import LocalRunner
from kldload_tui.backend.iso.aptsrc import (
    COMPONENTS,
    KernelInfo,
    PrivateApt,
    Source,
    build_sources,
    host_sources,
    host_suite,
    kernel_info,
)
from kldload_tui.backend.iso.build import ensure_zfs_module
from kldload_tui.backend.iso.cache import BuildCache
from kldload_tui.backend.iso.darksite import KEYRING_NAME, build_darksite
from kldload_tui.backend.iso.inputs import code_digest
from tests.e2e import cache
from tests.e2e.iso import iso_cache
from tests.e2e.packages import LIVE_PACKAGES, TARGET_PACKAGES
from tests.e2e.sh import make_ext4, say

HARNESS = ("darksite.py", "packages.py", "sh.py", "cache.py")
LABEL = "KLDLOAD-DARKSITE"  # ext4 labels hold 16 bytes: this is exactly 16
GUEST_PATH = "/darksite"


@dataclass(frozen=True)
class Darksite:
    """A built darksite in the cache."""

    entry: Path
    manifest: dict[str, Any]

    @property
    def repo(self) -> Path:
        return self.entry / "repo"

    @property
    def image(self) -> Path:
        return self.entry / "darksite.img"

    @property
    def suite(self) -> str:
        return str(self.manifest["suite"])

    @property
    def kernel(self) -> KernelInfo:
        return KernelInfo(**self.manifest["kernel"])

    @property
    def keyring(self) -> Path:
        """The public key the repository is signed with."""
        return self.entry / KEYRING_NAME

    def guest_source_line(self) -> str:
        """The apt source a guest uses once the disk is mounted at GUEST_PATH."""
        return (f"deb [signed-by={DARKSITE_KEYRING}] file:{GUEST_PATH} {self.suite} "
                f"{' '.join(COMPONENTS)}")


def inputs(sources: list[Source], module: str) -> dict[str, object]:
    """What the darksite's key is made of (`module`: the zfs-module cache entry)."""
    return {
        "harness": cache.harness_digest(*HARNESS),
        "product": code_digest("darksite.py", "aptsrc.py"),
        "sources": [s.line() for s in sources],
        "module": module,
        "target": list(TARGET_PACKAGES),
        "live": list(LIVE_PACKAGES),
    }


def ensure_darksite(log: Path) -> tuple[Darksite, bool]:
    """The cached darksite, built first when its inputs changed."""
    machine = host_sources()
    suite = host_suite(machine)
    if suite is None:
        raise RuntimeError("no Debian archive in this machine's apt sources (/etc/apt)")
    sources = build_sources(suite, machine)
    home = iso_cache()
    with LocalRunner(log_path=log) as runner:
        apt = PrivateApt(home / "apt" / suite, sources, runner)
        say(f"darksite: reading the mirror's {suite} indexes (main, contrib)")
        apt.update()
        kernel = kernel_info(apt)
        module, _ = ensure_zfs_module(BuildCache(home), sources, kernel, runner, say)
        deb = next(module.glob("*.deb"))

        def build(out: Path) -> None:
            wanted = list(dict.fromkeys((*TARGET_PACKAGES, *LIVE_PACKAGES)))
            say(f"darksite: resolving and downloading {len(wanted)} packages with "
                "dependencies")
            manifest = build_darksite(out, sources, kernel, deb, wanted,
                                      home / "apt" / f"{suite}-standin", home / "debs", runner)
            (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True)
                                               + "\n")
            say(f"darksite: {len(manifest['packages'])} packages; packing {LABEL} ext4 image")
            make_ext4(out / "repo", out / "darksite.img", LABEL, log=log)

        entry, built = cache.ensure("darksite", inputs(sources, module.name), build)
    return Darksite(entry, json.loads((entry / "manifest.json").read_text())), built
