"""ZFS modules for the guest kernel: DKMS built once in a chroot on the host (native
speed), packaged as a binary .deb a target installs without a compiler.

DKMS inside a guest under TCG takes the better part of an hour (still configuring
after 18 minutes); in a chroot on the host about 220 s. The package ``Provides:
zfs-modules`` (which zfsutils-linux recommends) and depends on the exact kernel
package it was built for.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.e2e import cache
from tests.e2e.aptsrc import HostApt, Source
from tests.e2e.sh import (
    apt_install_args,
    chroot_mounts,
    in_chroot,
    no_daemons,
    run,
    safe_rmtree,
    say,
)

HARNESS = ("zfsmod.py", "aptsrc.py", "sh.py", "cache.py")


@dataclass(frozen=True)
class KernelInfo:
    """The guest kernel (what linux-image-amd64 points at) and the ZFS it gets."""

    kver: str  # e.g. 6.1.0-35-amd64, the /lib/modules directory
    image_package: str  # linux-image-6.1.0-35-amd64
    image_version: str  # the exact Debian version the modules are built against
    zfs_version: str  # zfs-dkms's Debian version

    @property
    def module_package(self) -> str:
        """Name of the prebuilt module package (one per kernel ABI, like Debian's own)."""
        return f"zfs-modules-{self.kver}"


def kernel_info(apt: HostApt) -> KernelInfo:
    """Read the kernel and ZFS versions the mirror offers now."""
    depends = apt.show("linux-image-amd64")["Depends"]
    match = re.search(r"(linux-image-(\S+))\s*\(=\s*([^)]+)\)", depends)
    if not match:
        raise SystemExit(f"linux-image-amd64: cannot read the kernel from Depends: {depends}")
    return KernelInfo(
        kver=match.group(2),
        image_package=match.group(1),
        image_version=match.group(3).strip(),
        zfs_version=apt.show("zfs-dkms")["Version"],
    )


def ensure_zfs_module(sources: list[Source], kernel: KernelInfo, log: Path) -> Path:
    """The module .deb for kernel, built when not cached; returns its path."""
    inputs = {
        "harness": cache.harness_digest(*HARNESS),
        "suites": [s.suite for s in sources],
        "kernel": asdict(kernel),
    }
    entry, built = cache.ensure("zfs-module", inputs, lambda out: _build(out, sources, kernel, log))
    if not built:
        say(f"zfs-module: reusing {entry.name}")
    return next(entry.glob("*.deb"))


def _build(out: Path, sources: list[Source], kernel: KernelInfo, log: Path) -> None:
    root = out / "chroot"
    debs = cache.cache_root() / "debs"
    boot = cache.cache_root() / "debootstrap"
    debs.mkdir(exist_ok=True)
    boot.mkdir(exist_ok=True)
    say(f"zfs-module: debootstrap a build chroot for {kernel.kver}")
    run(["debootstrap", "--variant=minbase", f"--cache-dir={boot}", sources[0].suite,
         str(root), sources[0].uri], log=log)
    (root / "etc/apt/sources.list").write_text("\n".join(s.line() for s in sources) + "\n")
    with chroot_mounts(root, {debs: "/var/cache/apt/archives"}), no_daemons(root):
        in_chroot(root, ["apt-get", "-q", "update"], log=log)
        say("zfs-module: installing headers and zfs-dkms (DKMS builds now, a few minutes)")
        in_chroot(root, [*apt_install_args(), "--no-install-recommends",
                         f"linux-headers-{kernel.kver}={kernel.image_version}",
                         f"zfs-dkms={kernel.zfs_version}"], log=log)
        moddir = root / "lib/modules" / kernel.kver / "updates/dkms"
        if not list(moddir.glob("zfs.ko*")):
            # The postinst builds only for kernels it recognises; ask explicitly.
            upstream = kernel.zfs_version.split(":")[-1].split("-")[0]
            in_chroot(root, ["dkms", "install", "-m", "zfs", "-v", upstream, "-k", kernel.kver],
                      log=log)
    modules = sorted(moddir.glob("*.ko*"))
    if not any(m.name.startswith("zfs.ko") for m in modules):
        raise RuntimeError(f"DKMS produced no zfs module in {moddir}")
    _package(out, kernel, modules, log)
    safe_rmtree(root)


def _package(out: Path, kernel: KernelInfo, modules: list[Path], log: Path) -> None:
    pkg = out / "pkg"
    dest = pkg / "lib/modules" / kernel.kver / "updates/dkms"
    dest.mkdir(parents=True)
    for module in modules:
        shutil.copy2(module, dest / module.name)
    upstream = kernel.zfs_version.split(":")[-1].split("-")[0]
    control = pkg / "DEBIAN"
    control.mkdir()
    (control / "control").write_text(
        f"Package: {kernel.module_package}\n"
        f"Version: {kernel.zfs_version}\n"
        "Architecture: amd64\n"
        "Section: contrib/kernel\n"
        "Priority: optional\n"
        "Maintainer: kldload e2e harness <root@localhost>\n"
        f"Provides: zfs-modules (= {upstream})\n"
        f"Depends: {kernel.image_package} (= {kernel.image_version})\n"
        f"Description: OpenZFS {upstream} kernel modules for {kernel.kver}\n"
        " Built with DKMS on the build host by the kldload-tui e2e harness, so that\n"
        " targets get ZFS without a compiler.\n"
    )
    for script in ("postinst", "postrm"):
        path = control / script
        path.write_text(f"#!/bin/sh\nset -e\ndepmod -a {kernel.kver} || true\n")
        path.chmod(0o755)
    deb = out / f"{kernel.module_package}_{kernel.zfs_version.split(':')[-1]}_amd64.deb"
    run(["dpkg-deb", "--root-owner-group", "--build", str(pkg), str(deb)], log=log)
    (out / "info.json").write_text(json.dumps(
        {**asdict(kernel), "package": kernel.module_package,
         "modules": [m.name for m in modules]}, indent=2) + "\n")
    safe_rmtree(pkg)
