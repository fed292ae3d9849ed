"""Booting the ISO: GRUB for BIOS and UEFI, its menu, and the hybrid image.

- BIOS: `grub-mkimage -O i386-pc-eltorito` as the El Torito boot image, and
  GRUB's `boot_hybrid.img` as the MBR, so the same file boots from a CD and
  from a USB stick written with dd.
- UEFI: a GRUB EFI binary inside a small FAT image, appended to the ISO as a
  GPT partition (USB) and pointed at by an El Torito EFI entry (CD). El Torito
  counts that image in 16-bit sectors (32 MiB at most): the kernel and initrd
  stay on the ISO9660 side, where GRUB reads them. The same binary is also
  `EFI/BOOT/BOOTX64.EFI` on the ISO9660 side.
- Both GRUB images carry every module they need and an early config that finds
  the medium by a file only this build has, then reads `/boot/grub/grub.cfg`.

Secure Boot: this GRUB is unsigned, so a firmware enforcing Secure Boot will not
start it; docs/iso.md says what works and why zfs.ko is the harder part.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

GRUB_LIB = Path("/usr/lib/grub")
BOOT_HYBRID = GRUB_LIB / "i386-pc/boot_hybrid.img"
# Everything the menu uses, embedded: the ISO carries no module directories.
COMMON_MODULES = ("iso9660", "part_msdos", "part_gpt", "fat", "normal", "configfile",
                  "search", "search_fs_file", "search_label", "linux", "echo", "test",
                  "serial", "terminal", "ls", "cat", "halt", "reboot", "sleep", "true",
                  "all_video", "gzio")
BIOS_MODULES = (*COMMON_MODULES, "biosdisk")
EFI_MODULES = (*COMMON_MODULES, "efi_gop", "efi_uga")
ESP_SLACK = 512 * 1024
EFI_PART_TYPE = "0xef"
LIVE_DIR = "live"


@dataclass(frozen=True)
class MenuEntry:
    """One entry of the boot menu: its title, hotkey and kernel parameters."""

    title: str
    hotkey: str | None
    params: tuple[str, ...]


SERIAL = ("console=tty0", "console=ttyS0,115200")


def menu_entries(extra: tuple[str, ...] = ()) -> list[MenuEntry]:
    """The menu: default, serial console, copy to RAM, serial without autoinstall."""
    base = ("boot=live", f"live-media-path=/{LIVE_DIR}", *extra)
    return [
        MenuEntry("kldload live (install from answers, else the installer on screen)", None,
                  base),
        MenuEntry("kldload live, serial console ttyS0 115200", "s", (*base, *SERIAL)),
        MenuEntry("kldload live, copied to RAM (the medium can be removed)", "r",
                  (*base, "toram")),
        MenuEntry("kldload live, serial console, no autoinstall (login prompt)", "n",
                  (*base, *SERIAL, "kldload.autoinstall=0")),
    ]


def grub_cfg(title: str, entries: list[MenuEntry], timeout: int = 5) -> str:
    """/boot/grub/grub.cfg: the menu on the screen and on the first serial port."""
    lines = [
        f"# {title}",
        "# Every entry and kernel parameter: docs/iso.md.",
        "serial --unit=0 --speed=115200",
        "terminal_input console serial",
        "terminal_output console serial",
        f"set timeout={timeout}",
        "set default=0",
        "",
    ]
    for entry in entries:
        hotkey = f" --hotkey={entry.hotkey}" if entry.hotkey else ""
        lines += [
            f'menuentry "{entry.title}"{hotkey} {{',
            f"    linux /{LIVE_DIR}/vmlinuz {' '.join(entry.params)}",
            f"    initrd /{LIVE_DIR}/initrd.img",
            "}",
        ]
    return "\n".join(lines) + "\n"


def early_cfg(marker: str) -> str:
    """The config embedded in both GRUB images: find this medium, read its menu."""
    return (f"search --no-floppy --set=root --file {marker}\n"
            "set prefix=($root)/boot/grub\n"
            "configfile ($root)/boot/grub/grub.cfg\n")


def disk_info(version: str, suite: str, stamp: str) -> str:
    """/.disk/info, one line, as Debian's media have it."""
    return f"kldload live {version} \"{suite}\" - amd64 ({stamp})\n"


def grub_bios_argv(out: Path, early: Path) -> list[str]:
    """The BIOS El Torito image."""
    return ["grub-mkimage", "-O", "i386-pc-eltorito", "-d", str(GRUB_LIB / "i386-pc"),
            "-p", "/boot/grub", "-c", str(early), "-o", str(out), *BIOS_MODULES]


def grub_efi_argv(out: Path, early: Path) -> list[str]:
    """The UEFI binary (BOOTX64.EFI)."""
    return ["grub-mkimage", "-O", "x86_64-efi", "-d", str(GRUB_LIB / "x86_64-efi"),
            "-p", "/boot/grub", "-c", str(early), "-o", str(out), *EFI_MODULES]


def esp_kib(efi_binary_bytes: int) -> int:
    """Size of the FAT image holding the EFI binary, in KiB (mkfs.vfat -C counts KiB)."""
    kib = (efi_binary_bytes + ESP_SLACK + 1023) // 1024
    return max(kib, 2048)  # a FAT12 this small still formats; keep a floor for safety


def esp_argvs(image: Path, efi_binary: Path, kib: int) -> list[list[str]]:
    """mkfs.vfat, then mtools put EFI/BOOT/BOOTX64.EFI in it (no mount needed)."""
    return [
        ["mkfs.vfat", "-C", "-n", "KLDLOADEFI", str(image), str(kib)],
        ["mmd", "-i", str(image), "::/EFI", "::/EFI/BOOT"],
        ["mcopy", "-i", str(image), str(efi_binary), "::/EFI/BOOT/BOOTX64.EFI"],
    ]


def volume_id(suite: str) -> str:
    """The ISO's label (32 characters at most; upper case by convention)."""
    return f"KLDLOAD_{suite.upper()}"[:32]


def xorriso_argv(tree: Path, iso: Path, esp: Path, suite: str) -> list[str]:
    """The hybrid ISO: El Torito BIOS and EFI, an MBR for USB, the ESP as a GPT partition."""
    return [
        "xorriso", "-as", "mkisofs",
        "-iso-level", "3", "-full-iso9660-filenames", "-joliet", "-joliet-long",
        "-rational-rock", "-volid", volume_id(suite), "-o", str(iso),
        # BIOS from a USB stick: GRUB's hybrid MBR loads the El Torito image.
        "--grub2-mbr", str(BOOT_HYBRID), "-partition_offset", "16", "--mbr-force-bootable",
        # UEFI from a USB stick: the FAT image as a real ESP partition.
        "-append_partition", "2", EFI_PART_TYPE, str(esp), "-appended_part_as_gpt",
        # BIOS from a CD.
        "-c", "/boot/grub/boot.cat",
        "-b", "/boot/grub/i386-pc/eltorito.img", "-no-emul-boot", "-boot-load-size", "4",
        "-boot-info-table", "--grub2-boot-info",
        # UEFI from a CD: the same FAT image, by its place in the appended partition.
        "-eltorito-alt-boot", "-e", "--interval:appended_partition_2:all::", "-no-emul-boot",
        str(tree),
    ]
