"""ZFS for the live kernel: DKMS run once in a chroot on the build machine, and
its output packaged as `zfs-modules-<kver>`, a binary .deb with no compiler.

DKMS inside a guest under emulation takes the better part of an hour; in a
chroot at native speed about 220 s on 2 cores. The package `Provides:
zfs-modules` (which zfsutils-linux recommends) and depends on the exact kernel
package it was built for. The module is signed by no key a firmware trusts:
see docs/iso.md, "Secure Boot".
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

from kldload_tui.backend.engine.runner import Runner
from kldload_tui.backend.iso.aptsrc import COMPONENTS, KernelInfo, Source
from kldload_tui.backend.iso.cache import remove_tree
from kldload_tui.backend.iso.chroot import chroot_mounts, in_chroot

NO_RECOMMENDS = 'APT::Install-Recommends "false"'


def mmdebstrap_argv(suite: str, root: Path, sources: list[Source], include: list[str], *,
                    variant: str = "minbase") -> list[str]:
    """mmdebstrap of `suite` into `root` with `include`, recommends left out."""
    return ["mmdebstrap", f"--variant={variant}", f"--components={','.join(COMPONENTS)}",
            f"--aptopt={NO_RECOMMENDS}", f"--include={','.join(include)}", suite, str(root),
            *(s.line() for s in sources)]


def build_chroot_packages(kernel: KernelInfo) -> list[str]:
    """The exact headers and zfs-dkms the module is compiled from."""
    return [f"linux-headers-{kernel.kver}={kernel.image_version}",
            f"zfs-dkms={kernel.zfs_version}"]


def control_text(kernel: KernelInfo) -> str:
    """DEBIAN/control of the module package."""
    return (f"Package: {kernel.module_package}\n"
            f"Version: {kernel.zfs_version}\n"
            "Architecture: amd64\n"
            "Section: contrib/kernel\n"
            "Priority: optional\n"
            "Maintainer: kldload-tui iso build <root@localhost>\n"
            f"Provides: zfs-modules (= {kernel.zfs_upstream})\n"
            f"Depends: {kernel.image_package} (= {kernel.image_version})\n"
            f"Description: OpenZFS {kernel.zfs_upstream} kernel modules for {kernel.kver}\n"
            " Built with DKMS in a chroot by kldload-tui iso build, so that the live\n"
            " system and installed targets get ZFS without a compiler.\n")


def deb_name(kernel: KernelInfo) -> str:
    """The package's file name."""
    return f"{kernel.module_package}_{kernel.zfs_version.split(':')[-1]}_amd64.deb"


def build_module(out: Path, sources: list[Source], kernel: KernelInfo, runner: Runner) -> Path:
    """Build the module package into `out`; returns the .deb's path."""
    root = out / "chroot"
    runner.run(mmdebstrap_argv(sources[0].suite, root, sources, build_chroot_packages(kernel)))
    moddir = root / "lib/modules" / kernel.kver / "updates/dkms"
    if not list(moddir.glob("zfs.ko*")):
        # zfs-dkms's postinst builds for the running kernel's headers only: this
        # machine's kernel is not the live one, so ask for the live one by name.
        with chroot_mounts(root, runner):
            in_chroot(root, runner, ["dkms", "install", "-m", "zfs", "-v", kernel.zfs_upstream,
                                     "-k", kernel.kver])
    modules = sorted(moddir.glob("*.ko*"))
    if not any(m.name.startswith("zfs.ko") for m in modules) and moddir.exists():
        raise RuntimeError(f"DKMS produced no zfs module in {moddir}")
    deb = package_modules(out, kernel, modules, runner)
    remove_tree(root)
    return deb


def package_modules(out: Path, kernel: KernelInfo, modules: list[Path], runner: Runner) -> Path:
    """The modules as a .deb that runs depmod for their kernel on install and removal."""
    pkg = out / "pkg"
    dest = pkg / "lib/modules" / kernel.kver / "updates/dkms"
    dest.mkdir(parents=True, exist_ok=True)
    for module in modules:
        shutil.copy2(module, dest / module.name)
    runner.write_file(pkg / "DEBIAN/control", control_text(kernel))
    for script in ("postinst", "postrm"):
        runner.write_file(pkg / "DEBIAN" / script,
                          f"#!/bin/sh\nset -e\ndepmod -a {kernel.kver} || true\n", 0o755)
    deb = out / deb_name(kernel)
    runner.run(["dpkg-deb", "--root-owner-group", "--build", str(pkg), str(deb)])
    (out / "info.json").write_text(json.dumps(
        {**asdict(kernel), "package": kernel.module_package,
         "modules": [m.name for m in modules]}, indent=2) + "\n")
    shutil.rmtree(pkg, ignore_errors=True)
    return deb
