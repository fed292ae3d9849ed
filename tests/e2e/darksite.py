"""The darksite: a local Debian repository (dists/ + pool/) with everything an install
needs, ZFS modules prebuilt for the guest kernel included, packed on an ext4 disk.

Inside a guest it is mounted at /darksite and used as
``deb [trusted=yes] file:/darksite SUITE main contrib``; debootstrap takes it as
``file:///darksite`` (it carries every Priority required and important package, so
the default and minbase variants both work), which is also how live.py builds the
live root: the same bytes the guest will install from.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tests.e2e import cache
from tests.e2e.aptsrc import COMPONENTS, HostApt, Source, debian_suites, parse_stanzas
from tests.e2e.packages import LIVE_PACKAGES, TARGET_PACKAGES
from tests.e2e.sh import make_ext4, run, say
from tests.e2e.zfsmod import HARNESS as ZFSMOD_HARNESS
from tests.e2e.zfsmod import KernelInfo, ensure_zfs_module, kernel_info

HARNESS = ("darksite.py", "packages.py", *ZFSMOD_HARNESS)
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

    def guest_source_line(self) -> str:
        """The apt source a guest uses once the disk is mounted at GUEST_PATH."""
        return f"deb [trusted=yes] file:{GUEST_PATH} {self.suite} {' '.join(COMPONENTS)}"


def inputs(sources: list[Source]) -> dict[str, object]:
    """What the darksite's key is made of."""
    return {
        "harness": cache.harness_digest(*HARNESS),
        "suites": [s.suite for s in sources],
        "components": list(COMPONENTS),
        "target": list(TARGET_PACKAGES),
        "live": list(LIVE_PACKAGES),
    }


def ensure_darksite(log: Path) -> tuple[Darksite, bool]:
    """The cached darksite, built first when its inputs changed."""
    sources = debian_suites()
    entry, built = cache.ensure("darksite", inputs(sources), lambda out: _build(out, sources, log))
    return Darksite(entry, json.loads((entry / "manifest.json").read_text())), built


def _base_set(apt: HostApt, suite: str) -> list[str]:
    # debootstrap installs Priority required (minbase) and important (default variant)
    # from the suite's main component; the darksite must hold all of them.
    names: set[str] = set()
    for index in apt.index_files():
        if f"_dists_{suite}_main_binary-amd64_" in index.name:
            for rec in parse_stanzas(index.read_text()):
                if rec.get("Priority") in ("required", "important"):
                    names.add(rec["Package"])
    if not names:
        raise RuntimeError(f"no Priority required/important packages in the {suite} indexes")
    # debootstrap's own additions for bookworm: usr-is-merged marks the merged /usr it
    # makes, and ca-certificates comes with the default variant.
    return sorted(names | {"usr-is-merged", "ca-certificates"})


def _override(apt: HostApt, path: Path) -> None:
    # The archive's priorities and sections, which can differ from a .deb's own control
    # file; debootstrap chooses its base set by these priorities.
    seen: dict[str, str] = {}
    for index in apt.index_files():
        for rec in parse_stanzas(index.read_text()):
            if "Priority" in rec and "Section" in rec:
                name = rec["Package"]
                seen.setdefault(name, f"{name} {rec['Priority']} {rec['Section']}")
    path.write_text("\n".join(seen[name] for name in sorted(seen)) + "\n")


def _build(out: Path, sources: list[Source], log: Path) -> None:
    root = cache.cache_root()
    apt = HostApt(root / "apt", sources, [], log)
    say(f"darksite: reading the host mirror's {sources[0].suite} indexes (main, contrib)")
    apt.update()
    kernel = kernel_info(apt)
    module_deb = ensure_zfs_module(sources, kernel, log)

    local = out / "local"  # a flat repo with only the module, so apt resolves against it
    local.mkdir()
    shutil.copy2(module_deb, local / module_deb.name)
    (local / "Packages").write_text(run(["dpkg-scanpackages", "-m", "."], log=log, capture=True,
                                        cwd=local))
    apt = HostApt(root / "apt", sources, [f"deb [trusted=yes] file:{local} ./"], log)
    apt.update()

    wanted = sorted({*_base_set(apt, sources[0].suite), *TARGET_PACKAGES, *LIVE_PACKAGES,
                     kernel.module_package})
    say(f"darksite: resolving and downloading {len(wanted)} packages with dependencies")
    uris = apt.print_uris(wanted)
    debs = root / "debs"
    apt.download(wanted, debs)

    repo = out / "repo"
    for uri, name in uris:
        if uri.startswith("file:"):
            src, rel = local / name, f"pool/contrib/z/{kernel.module_package}/{name}"
        else:
            src, rel = debs / name, _pool_path(uri)
        dest = repo / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dest)  # same file system as the download cache: no copy
        except OSError:
            shutil.copy2(src, dest)
    shutil.rmtree(local)
    _index(repo, apt, sources[0].suite, log)
    # debootstrap's default variant must find its whole base set here (live-base
    # checks minbase by using it); --print-debs resolves without installing.
    run(["debootstrap", "--print-debs", "--no-check-gpg", "--components=main,contrib",
         sources[0].suite, str(out / "check"), f"file://{repo}"], log=log)
    shutil.rmtree(out / "check", ignore_errors=True)
    manifest = _manifest(repo, sources, kernel)
    (repo / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    say(f"darksite: {len(manifest['packages'])} packages; packing {LABEL} ext4 image")
    make_ext4(repo, out / "darksite.img", LABEL, log=log)
    _prune_downloads(debs)


def _prune_downloads(debs: Path) -> None:
    # Darksites hard-link their packages from the download cache: a file with no other
    # link belongs to no darksite (old versions, the DKMS build chroot's compiler), so
    # the cache does not grow with every mirror update.
    for deb in debs.glob("*.deb"):
        if deb.stat().st_nlink == 1:
            deb.unlink()


def _pool_path(uri: str) -> str:
    # Mirror paths are pool/COMPONENT/...; the security archive's are
    # pool/updates/COMPONENT/.... The darksite has one suite: pool/COMPONENT/... for all.
    parts = uri.split("/pool/", 1)[1].split("/")
    if parts[0] == "updates":
        parts = parts[1:]
    if parts[0] not in COMPONENTS:
        raise RuntimeError(f"{uri}: not in a component the darksite carries ({COMPONENTS})")
    return "/".join(["pool", *parts])


def _index(repo: Path, apt: HostApt, suite: str, log: Path) -> None:
    override = repo.parent / "override"
    _override(apt, override)
    dists = repo / "dists" / suite
    for component in COMPONENTS:
        binary = dists / component / "binary-amd64"
        binary.mkdir(parents=True)
        packages = ""
        if (repo / "pool" / component).is_dir():
            packages = run(["dpkg-scanpackages", "-a", "amd64", f"pool/{component}",
                            str(override)], log=log, capture=True, cwd=repo)
        (binary / "Packages").write_text(packages)
        (binary / "Packages.gz").write_bytes(gzip.compress(packages.encode(), mtime=0))
    override.unlink()
    conf = {
        "Origin": "kldload-e2e", "Label": "kldload-e2e darksite", "Suite": suite,
        "Codename": suite, "Architectures": "amd64", "Components": " ".join(COMPONENTS),
    }
    opts = [arg for key, value in conf.items()
            for arg in ("-o", f"APT::FTPArchive::Release::{key}={value}")]
    release = run(["apt-ftparchive", *opts, "release", "."], log=log, capture=True, cwd=dists)
    (dists / "Release").write_text(release)


def _manifest(repo: Path, sources: list[Source], kernel: KernelInfo) -> dict[str, Any]:
    packages: dict[str, str] = {}
    for component in COMPONENTS:
        text = (repo / "dists" / sources[0].suite / component / "binary-amd64/Packages").read_text()
        packages.update({r["Package"]: r["Version"] for r in parse_stanzas(text)})
    return {
        "suite": sources[0].suite,
        "suites_merged": [s.suite for s in sources],
        "components": list(COMPONENTS),
        "kernel": asdict(kernel),
        "zfs_module_package": kernel.module_package,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "packages": dict(sorted(packages.items())),
    }
