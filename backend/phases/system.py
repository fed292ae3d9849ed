"""The system in the target: bootstrap, configuration, ZFS at boot, bootloader."""

from __future__ import annotations

import re

from kldload_tui.backend.engine.core import InstallContext, Phase, VerifyError
from kldload_tui.backend.phases.storage import settle_devices
from kldload_tui.backend.target.boot import (
    BOOT_TOOL,
    ESP_LIST,
    KERNEL_CMDLINE,
    boot_files,
    boot_loaders,
)

ZFS_UNITS = ("zfs-import-cache.service", "zfs-mount.service", "zfs-import.target",
             "zfs.target")


class Bootstrap(Phase):
    """A base system with kernel, ZFS and bootloader packages."""

    name = "bootstrap"
    title = "install the base system, kernel, ZFS and bootloader packages"

    def run(self, ctx: InstallContext) -> None:
        ctx.distro.bootstrap(ctx)

    def verify(self, ctx: InstallContext) -> None:
        ctx.distro.verify_bootstrap(ctx)


class Configure(Phase):
    """Hostname, users, SSH keys, network, locale, time zone, keyboard."""

    name = "configure"
    title = "configure identity, users, network, locale and keyboard"

    def run(self, ctx: InstallContext) -> None:
        ctx.distro.configure(ctx)

    def verify(self, ctx: InstallContext) -> None:
        ctx.distro.verify_configure(ctx)


class ZfsAtBoot(Phase):
    """ZFS services in the target and an initramfs that imports the pool."""

    name = "zfs"
    title = "enable ZFS at boot and build the initramfs"

    def run(self, ctx: InstallContext) -> None:
        ctx.distro.enable_units(ctx, ZFS_UNITS)
        ctx.distro.initramfs(ctx)

    def verify(self, ctx: InstallContext) -> None:
        out = ctx.distro.unit_states(ctx, ZFS_UNITS)
        if out != ["enabled"] * len(ZFS_UNITS):
            states = dict(zip(ZFS_UNITS, out, strict=False))
            raise VerifyError(f"ZFS units not all enabled: {states}")
        ctx.distro.verify_initramfs(ctx)


class Bootloader(Phase):
    """Every disk of the root pool boots alone: each ESP gets the loaders (systemd-boot
    for UEFI, GRUB reading the FAT ESP for BIOS), the kernels and the entries.

    All of it goes through kldload-boot in the target, the tool the installed system
    keeps using (hooks, disk replacement), so the install and later updates share
    one code path."""

    name = "bootloader"
    title = "install the bootloader on every disk and the firmware boot entries"

    def run(self, ctx: InstallContext) -> None:
        settle_devices(ctx, ctx.esp_partitions)
        kver = ctx.kernel_version or "KERNEL-VERSION"
        kernel, initrd = ctx.distro.boot_files(ctx)  # each distribution names them its way
        loaders = boot_loaders(ctx.answers.firmware, ctx.machine.firmware)
        ctx.runner.note(f"firmware the disks boot on: {' and '.join(loaders)} "
                        f"(KLDLOAD_FIRMWARE={ctx.answers.firmware.value}, live system: "
                        f"{ctx.machine.firmware})")
        ctx.write_files(boot_files(ctx.answers, loaders=loaders, pool=ctx.pool,
                                   cmdline=kernel_cmdline(ctx), kernel=kernel, initrd=initrd,
                                   kver=kver, hooks=ctx.distro.kernel_hooks,
                                   grub_dir=ctx.distro.grub_dir))
        # The ESPs stay out of fstab: a dead disk's ESP must not fail the boot.
        ctx.runner.write_file(ctx.path("/etc/fstab"),
                              "# Written by kldload-tui; ZFS datasets mount themselves. The "
                              "ESPs (/etc/kldload/esps)\n# are mounted only by kldload-boot.\n")
        for part in ctx.esp_partitions:
            ctx.chroot([BOOT_TOOL, "format", part])
            ctx.chroot([BOOT_TOOL, "init", part])

    def verify(self, ctx: InstallContext) -> None:
        # Every ESP against the installed kernels and loaders and against the first
        # ESP, file by file by checksum; on BIOS also GRUB's boot code in each MBR.
        check = ctx.runner.run([BOOT_TOOL, "check"], chroot=ctx.target, check=False)
        if check.returncode != 0:
            raise VerifyError(f"the ESPs are not in sync:\n{check.stdout.strip()}")
        cmdline = ctx.path(f"/{KERNEL_CMDLINE}").read_text()
        if f"root=ZFS={ctx.be}" not in cmdline.split():
            raise VerifyError(f"/{KERNEL_CMDLINE} does not boot root=ZFS={ctx.be}: {cmdline!r}")
        listed = [line for line in ctx.path(f"/{ESP_LIST}").read_text().splitlines()
                  if line and not line.startswith("#")]
        if len(listed) != len(ctx.esp_partitions):
            raise VerifyError(f"/{ESP_LIST} lists {len(listed)} ESP(s), not one per disk "
                              f"({len(ctx.esp_partitions)})")
        loaders = boot_loaders(ctx.answers.firmware, ctx.machine.firmware)
        if "uefi" in loaders and self._efivars(ctx):
            entries = ctx.run(["efibootmgr"])
            for label in entry_labels(ctx.answers.bootloader_id, len(ctx.esp_partitions)):
                if not _entries_labelled(entries, label):
                    raise VerifyError(f"no EFI boot entry labelled {label!r}")

    def _efivars(self, ctx: InstallContext) -> bool:
        if ctx.machine.firmware != "uefi":
            return False
        return ctx.run(["findmnt", "-n", "-t", "efivarfs"], check=False).strip() != ""


def entry_labels(bootloader_id: str, disks: int) -> list[str]:
    """The firmware entries kldload-boot writes: disk 1 by the plain name."""
    return [bootloader_id if n == 1 else f"{bootloader_id} (disk {n})"
            for n in range(1, disks + 1)]


def kernel_cmdline(ctx: InstallContext) -> str:
    """Root on the boot environment; a serial console too, since servers are run over one."""
    return f"root=ZFS={ctx.be} rw console=tty0 console=ttyS0,115200n8"


def _entries_labelled(efibootmgr_output: str, label: str) -> list[str]:
    """Boot numbers whose label is exactly `label` (`Boot0003* KLDload`)."""
    out = []
    for line in efibootmgr_output.splitlines():
        m = re.match(r"^Boot([0-9A-Fa-f]{4})\*?\s+(.*?)(\t|\s+HD\(|$)", line)
        if m and m.group(2).strip() == label:
            out.append(m.group(1))
    return out
