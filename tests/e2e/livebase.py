"""The Debian part of the live environment (no kldload-tui yet): debootstrap from the
darksite, then the kernel, the prebuilt ZFS modules and the installer's tools in one
apt transaction, in a chroot on the host (native speed). Cached as ``live-base``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from kldload_tui.backend.engine.live_medium import DARKSITE_KEYRING
from tests.e2e import cache, liveconf
from tests.e2e.darksite import GUEST_PATH, Darksite
from tests.e2e.packages import LIVE_INITRAMFS_MODULES, LIVE_PACKAGES
from tests.e2e.sh import apt_install_args, chroot_mounts, in_chroot, no_daemons, run, say

HARNESS = ("livebase.py", "liveconf.py", "packages.py", "sh.py", "cache.py")


def ensure_base(darksite: Darksite, log: Path) -> tuple[Path, bool]:
    """The Debian part of the live root (no kldload-tui), built from the darksite."""
    inputs = {
        "harness": cache.harness_digest(*HARNESS),
        "darksite": darksite.entry.name,
        "packages": list(LIVE_PACKAGES),
        "initramfs_modules": list(LIVE_INITRAMFS_MODULES),
    }
    return cache.ensure("live-base", inputs, lambda out: _build_base(out, darksite, log))


def _build_base(out: Path, darksite: Darksite, log: Path) -> None:
    root = out / "root"
    say("live-base: debootstrap --variant=minbase from the darksite")
    run(["debootstrap", "--variant=minbase", f"--keyring={darksite.keyring}",
         "--components=main,contrib", darksite.suite, str(root), f"file://{darksite.repo}"],
        log=log)
    # The darksite's key, where the ISO's live root has it: apt and the engine check
    # the darksite against it.
    key = root / DARKSITE_KEYRING.relative_to("/")
    key.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(darksite.keyring, key)
    (root / "etc/apt/sources.list").write_text(darksite.guest_source_line() + "\n")
    conf = root / "etc/initramfs-tools"
    (conf / "conf.d").mkdir(parents=True, exist_ok=True)
    (conf / "conf.d/kldload-e2e").write_text("MODULES=list\n")
    (conf / "modules").write_text("\n".join(LIVE_INITRAMFS_MODULES) + "\n")
    kernel = darksite.kernel
    with chroot_mounts(root, {darksite.repo: GUEST_PATH}), no_daemons(root):
        in_chroot(root, ["apt-get", "-q", "update"], log=log)
        say("live-base: installing the kernel, ZFS modules and tools (one transaction)")
        in_chroot(root, [*apt_install_args(), "--no-install-recommends", *LIVE_PACKAGES,
                         kernel.module_package], log=log)
        in_chroot(root, ["apt-get", "clean"], log=log)
    liveconf.configure(root)
    shutil.rmtree(root / "var/lib/apt/lists", ignore_errors=True)
    (root / "var/lib/apt/lists/partial").mkdir(parents=True)
    shutil.copy2(root / f"boot/vmlinuz-{kernel.kver}", out / "vmlinuz")
    shutil.copy2(root / f"boot/initrd.img-{kernel.kver}", out / "initrd.img")
    python = darksite.manifest["packages"]["python3"]
    (out / "info.json").write_text(json.dumps({
        "kver": kernel.kver,
        "python": ".".join(re.split(r"[.-]", python)[:2]),
    }, indent=2) + "\n")
