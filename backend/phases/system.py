"""The system in the target: bootstrap, configuration, ZFS at boot, bootloader."""

from __future__ import annotations

import re

from kldload_tui.backend.engine.core import InstallContext, Phase, VerifyError
from kldload_tui.backend.phases.storage import settle_devices

ZFS_UNITS = ("zfs-import-cache.service", "zfs-mount.service", "zfs-import.target",
             "zfs.target")
ESP_MOUNT = "/boot/efi"
SYSTEMD_BOOT = "EFI/systemd/systemd-bootx64.efi"
FALLBACK = "EFI/BOOT/BOOTX64.EFI"


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
        ctx.chroot(["systemctl", "enable", *ZFS_UNITS])
        ctx.distro.initramfs(ctx)

    def verify(self, ctx: InstallContext) -> None:
        out = ctx.chroot(["systemctl", "is-enabled", *ZFS_UNITS], check=False).split()
        if out != ["enabled"] * len(ZFS_UNITS):
            states = dict(zip(ZFS_UNITS, out, strict=False))
            raise VerifyError(f"ZFS units not all enabled: {states}")
        ctx.distro.verify_initramfs(ctx)


class Bootloader(Phase):
    """systemd-boot on the ESP, loading kernel and initrd with `root=ZFS=<be>`."""

    name = "bootloader"
    title = "install the bootloader and the EFI boot entry"

    def run(self, ctx: InstallContext) -> None:
        esp = ctx.esp_partitions[0]
        settle_devices(ctx, ctx.esp_partitions)
        for part in ctx.esp_partitions:
            ctx.run(["mkfs.vfat", "-F", "32", "-n", "EFI", part])
        mount = ctx.path(ESP_MOUNT)
        ctx.run(["mkdir", "-p", str(mount)])
        ctx.run(["mount", esp, str(mount)])
        ctx.mounts.append(str(mount))
        uuid = ctx.run(["blkid", "-p", "-s", "UUID", "-o", "value", esp]).strip() or "ESP-UUID"
        ctx.runner.write_file(ctx.path("/etc/fstab"),
                              "# Written by kldload-tui; ZFS datasets mount themselves.\n"
                              f"UUID={uuid} {ESP_MOUNT} vfat umask=0077,nofail 0 1\n")
        ctx.runner.write_file(ctx.path("/etc/kernel/cmdline"), kernel_cmdline(ctx) + "\n")
        ctx.chroot(["bootctl", "install", f"--esp-path={ESP_MOUNT}", "--no-variables"])
        ctx.runner.write_file(ctx.path(f"{ESP_MOUNT}/loader/loader.conf"),
                              "timeout 3\nconsole-mode keep\neditor no\n")
        kver = ctx.kernel_version or "KERNEL-VERSION"
        kernel, initrd = ctx.distro.boot_files(ctx)  # each distribution names them its way
        ctx.chroot(["kernel-install", "add", kver, kernel, initrd])
        if self._efivars(ctx):
            disk = next(t.disk.path for t in ctx.targets if t.role != "special")
            label = ctx.answers.bootloader_id
            for number in _entries_labelled(ctx.run(["efibootmgr"]), label):
                ctx.run(["efibootmgr", "--quiet", "--bootnum", number, "--delete-bootnum"])
            ctx.run(["efibootmgr", "--quiet", "--create", "--disk", disk, "--part", "1",
                     "--label", label, "--loader", "\\EFI\\systemd\\systemd-bootx64.efi"])

    def _efivars(self, ctx: InstallContext) -> bool:
        if ctx.machine.firmware != "uefi":
            return False
        if ctx.dry_run:
            return True
        return ctx.run(["findmnt", "-n", "-t", "efivarfs"], check=False).strip() != ""

    def verify(self, ctx: InstallContext) -> None:
        esp = ctx.path(ESP_MOUNT)
        for rel in (SYSTEMD_BOOT, FALLBACK):
            if not (esp / rel).is_file():
                raise VerifyError(f"{esp / rel} is missing")
        entries = list((esp / "loader" / "entries").glob("*.conf"))
        if not entries:
            raise VerifyError(f"no boot entry in {esp / 'loader/entries'}")
        for entry in entries:
            text = entry.read_text()
            if f"root=ZFS={ctx.be}" not in text:
                raise VerifyError(f"{entry} does not boot root=ZFS={ctx.be}")
            for key in ("linux", "initrd"):
                m = re.search(rf"^{key}\s+(\S+)", text, re.M)
                if not m or not (esp / m.group(1).lstrip("/")).is_file():
                    raise VerifyError(f"{entry}: its {key} file is not on the ESP")
        if self._efivars(ctx) and not _entries_labelled(
                ctx.run(["efibootmgr"]), ctx.answers.bootloader_id):
            raise VerifyError(f"no EFI boot entry labelled {ctx.answers.bootloader_id!r}")


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
