"""The live root: a Debian system booted by live-boot from a squashfs.

Two levels, so a change to kldload-tui costs a venv and a squashfs, not a
bootstrap: the base (mmdebstrap with the kernel, live-boot and the installer's
tools, then the prebuilt ZFS module; cached) and the live layer (the units, the
SSH setup and kldload-tui in a venv, made on an overlay of the base and packed
with the base into the squashfs).
"""

from __future__ import annotations

import json
import re
import shutil
from importlib import resources
from pathlib import Path

from kldload_tui.backend.engine.runner import Runner
from kldload_tui.backend.iso.aptsrc import KernelInfo, Source
from kldload_tui.backend.iso.chroot import chroot_mounts, in_chroot, no_daemons
from kldload_tui.backend.iso.inputs import VENV, live_packages
from kldload_tui.backend.iso.zfsmod import mmdebstrap_argv

HOSTNAME = "kldload"
# Timers that would take apt's lock from the installer or touch disks: a live
# medium has no business updating itself.
MASKED = ("apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer", "fstrim.timer",
          "zfs-zed.service", "systemd-networkd-wait-online.service")
ENABLED = ("systemd-networkd.service", "systemd-resolved.service",
           "kldload-autoinstall.service", "kldload-live-ssh.service")


def template(name: str) -> str:
    """A file of templates/ as text."""
    return resources.files("kldload_tui.backend.iso").joinpath("templates", name).read_text()


# (template, path in the live root, mode)
LIVE_FILES: tuple[tuple[str, str, int], ...] = (
    ("kldload-autoinstall.service", "etc/systemd/system/kldload-autoinstall.service", 0o644),
    ("kldload-autoinstall", "usr/local/sbin/kldload-autoinstall", 0o755),
    ("kldload-getty", "usr/local/sbin/kldload-getty", 0o755),
    ("getty-kldload.conf", "etc/systemd/system/getty@.service.d/kldload.conf", 0o644),
    ("getty-kldload.conf", "etc/systemd/system/serial-getty@.service.d/kldload.conf", 0o644),
    ("kldload-live.sh", "etc/profile.d/kldload-live.sh", 0o644),
    ("kldload-live-ssh.service", "etc/systemd/system/kldload-live-ssh.service", 0o644),
    # Not enabled: kldload-autoinstall starts it when no answers were found.
    ("kldload-webui.service", "etc/systemd/system/kldload-webui.service", 0o644),
    ("20-kldload-dhcp.network", "etc/systemd/network/20-kldload-dhcp.network", 0o644),
    ("sshd-kldload-live.conf", "etc/ssh/sshd_config.d/kldload-live.conf", 0o644),
    # Keeps systemd's start-job lines from overwriting the install on the consoles.
    ("system-kldload-live.conf", "etc/systemd/system.conf.d/kldload-live.conf", 0o644),
    # live-boot's mount of the medium (/run/live/medium): no failed unmount at poweroff.
    ("live-medium-kldload.conf", "etc/systemd/system/run-live-medium.mount.d/kldload.conf",
     0o644),
)


def build_base(out: Path, sources: list[Source], kernel: KernelInfo, module_deb: Path,
               runner: Runner) -> dict[str, str]:
    """The Debian part of the live root in `out/root`; kernel and initrd beside it."""
    root = out / "root"
    include = [*live_packages(), f"{kernel.image_package}={kernel.image_version}"]
    runner.run(mmdebstrap_argv(sources[0].suite, root, sources, include))
    staged = root / "tmp" / module_deb.name
    shutil.copy2(module_deb, staged)
    with chroot_mounts(root, runner), no_daemons(root, runner):
        # dpkg, not apt: the package is local, and its only dependency (the exact
        # kernel) is installed already.
        in_chroot(root, runner, ["dpkg", "-i", f"/tmp/{module_deb.name}"])
        in_chroot(root, runner, ["apt-get", "clean"])
    staged.unlink(missing_ok=True)
    for name, dest in ((f"boot/vmlinuz-{kernel.kver}", "vmlinuz"),
                       (f"boot/initrd.img-{kernel.kver}", "initrd.img")):
        runner.run(["cp", "--", str(root / name), str(out / dest)])
    python = _python_version(root)
    info = {"kver": kernel.kver, "python": python, "zfs": kernel.zfs_version,
            "kernel_package": kernel.image_version}
    (out / "info.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def _python_version(root: Path) -> str:
    """The live root's Python, from its interpreter's name (python3 -> python3.11)."""
    target = (root / "usr/bin/python3")
    name = target.readlink().name if target.is_symlink() else "python3"
    match = re.fullmatch(r"python(\d+\.\d+)", name)
    return match.group(1) if match else ""


def configure(root: Path, runner: Runner, version_line: str) -> None:
    """The live system's own files: units, logins, network, SSH, hostname."""
    runner.write_file(root / "etc/hostname", HOSTNAME + "\n")
    runner.write_file(root / "etc/hosts", f"127.0.0.1 localhost\n127.0.1.1 {HOSTNAME}\n")
    for name, dest, mode in LIVE_FILES:
        runner.write_file(root / dest, template(name), mode)
    runner.write_file(root / "etc/kldload/live-version", version_line + "\n")
    # A fresh machine-id on each boot (the file exists but is empty), as a live
    # medium must: two machines booted from one ISO are not one machine.
    runner.write_file(root / "etc/machine-id", "", 0o444)
    # No host keys on the medium: kldload-live-ssh makes them on each boot.
    for key in sorted((root / "etc/ssh").glob("ssh_host_*")):
        key.unlink()
    # Enabled before masking: networkd's unit names wait-online in Also=, and
    # systemctl refuses to enable through a masked unit.
    in_chroot(root, runner, ["systemctl", "enable", *ENABLED])
    for unit in MASKED:
        link = root / "etc/systemd/system" / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    # mmdebstrap leaves this machine's resolv.conf in the root; the live system's
    # own resolver (systemd-resolved, fed by networkd's DHCP) is the stub.
    resolv = root / "etc/resolv.conf"
    resolv.unlink(missing_ok=True)
    resolv.symlink_to("../run/systemd/resolve/stub-resolv.conf")


def install_venv(root: Path, wheels: Path, runner: Runner) -> str:
    """kldload-tui and its dependencies from `wheels` into VENV, on PATH; its version."""
    stage = root / "tmp/kldload-wheels"
    shutil.copytree(wheels, stage, dirs_exist_ok=True)
    with chroot_mounts(root, runner):
        in_chroot(root, runner, ["python3", "-m", "venv", VENV])
        # --isolated: this machine's pip configuration (indexes, find-links) names
        # paths that do not exist in the chroot; everything comes from the wheels.
        in_chroot(root, runner, [f"{VENV}/bin/pip", "--isolated", "install", "-q",
                                 "--no-index", "--find-links", "/tmp/kldload-wheels",
                                 "kldload-tui"])
        version = in_chroot(root, runner, [f"{VENV}/bin/kldload-tui", "--version"]).strip()
    shutil.rmtree(stage, ignore_errors=True)
    link = root / "usr/local/bin/kldload-tui"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(f"{VENV}/bin/kldload-tui")
    return version


def squashfs_argv(root: Path, dest: Path, level: int) -> list[str]:
    """mksquashfs of the live root, zstd; the initrd stays out (it is beside the kernel)."""
    return ["mksquashfs", str(root), str(dest), "-noappend", "-comp", "zstd",
            "-Xcompression-level", str(level), "-wildcards", "-e", "boot/initrd.img*",
            "-no-progress"]
