"""What keeps every disk of the root pool bootable: the kldload-boot tool, its
configuration and the kernel and initramfs hooks that run it.

The tool (templates/kldload-boot) is the one code path for the ESPs: the install
runs `kldload-boot format` and `init` on each disk's ESP, and the installed system
runs `refresh` from the hooks after every kernel or initramfs change, `replace`
for a new disk, and `check` by hand. Nothing here touches a disk.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from kldload_tui.backend.answers.model import Answers, Firmware
from kldload_tui.backend.target.files import TargetFile, template

BOOT_TOOL = "/usr/sbin/kldload-boot"
BOOT_CONF = "etc/kldload/boot.conf"
ESP_LIST = "etc/kldload/esps"
KERNEL_CMDLINE = "etc/kernel/cmdline"
KVER_PLACEHOLDER = "{kver}"
# Debian's kernel postinst (after initramfs-tools' own hook, hence zz-), its
# postrm, and update-initramfs's post-update hooks.
HOOK_PATHS = ("etc/kernel/postinst.d/zz-kldload-boot", "etc/kernel/postrm.d/zz-kldload-boot",
              "etc/initramfs/post-update.d/zz-kldload-boot")
HOOK = ("#!/bin/sh\n"
        "# Written by kldload-tui: a kernel or initramfs change reaches every disk's ESP.\n"
        "# A missing ESP (a dead disk) is reported and skipped; see kldload-boot status.\n"
        f"exec {BOOT_TOOL} refresh\n")
LOADERS = ("uefi", "bios")


def boot_loaders(wanted: Firmware, live_firmware: str) -> tuple[str, ...]:
    """The firmware the installed disks boot on: `auto` is the live system's."""
    if wanted is Firmware.BOTH:
        return LOADERS
    if wanted is Firmware.AUTO:
        return (live_firmware,) if live_firmware in LOADERS else LOADERS
    return (wanted.value,)


def firmware_value(loaders: tuple[str, ...]) -> str:
    """boot.conf's FIRMWARE for a set of loaders."""
    return "both" if set(loaders) == set(LOADERS) else loaders[0]


def kernel_pattern(path: str, kver: str) -> str:
    """`/boot/vmlinuz-6.1.0-9-amd64` for 6.1.0-9-amd64 -> `/boot/vmlinuz-{kver}`."""
    if kver not in path:
        raise ValueError(f"{path} does not name kernel {kver}")
    return path.replace(kver, KVER_PLACEHOLDER)


def boot_files(answers: Answers, *, loaders: tuple[str, ...], pool: str, cmdline: str,
               kernel: str, initrd: str, kver: str,
               hooks: Sequence[str] = HOOK_PATHS, grub_dir: str = "grub") -> list[TargetFile]:
    """The tool, its configuration, the kernel command line and the hooks.

    `kernel` and `initrd` are the distribution's paths for kernel `kver`; the tool
    finds every installed kernel by the same pattern. `hooks` are where the
    distribution's kernel and initramfs tools run hooks from (the backend's
    `kernel_hooks`). `grub_dir`: where the distribution's GRUB build keeps its
    files (the backend's `grub_dir`)."""
    values = {"FIRMWARE": firmware_value(loaders), "BOOTLOADER_ID": answers.bootloader_id,
              "POOL": pool, "KERNEL_PATTERN": kernel_pattern(kernel, kver),
              "INITRD_PATTERN": kernel_pattern(initrd, kver), "GRUB_DIR": grub_dir}
    conf = "# Written by kldload-tui; read by kldload-boot.\n" + "".join(
        f"{key}={shlex.quote(value)}\n" for key, value in values.items())
    return [
        TargetFile(BOOT_TOOL.lstrip("/"), template("kldload-boot"), 0o755),
        TargetFile(BOOT_CONF, conf),
        # The ESPs kldload-boot keeps, by UUID; `init` adds each one.
        TargetFile(ESP_LIST, "# ESPs kept in sync by kldload-boot (one UUID per line)\n"),
        TargetFile(KERNEL_CMDLINE, cmdline + "\n"),
        *(TargetFile(path, HOOK, 0o755) for path in hooks),
    ]
