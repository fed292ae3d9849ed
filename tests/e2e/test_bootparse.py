"""The boot layouts' parsers (bootparse.py) on real-shaped output, and their
registration: checked on the host in milliseconds, no guest."""

from __future__ import annotations

from tests.e2e import bootparse
from tests.e2e.bootcheck import entry_label
from tests.e2e.bootparse import (
    efi_entries,
    esp_expected,
    esp_stable,
    find_path,
    firmware_story,
    gpt_partitions,
    leaf_vdevs,
    listing_differences,
    missing_vdevs,
    online_serials,
    pool_vdevs,
    sha256_listing,
)

DEGRADED = """\
  pool: rpool
 state: DEGRADED
status: One or more devices could not be used because the label is missing or
\tinvalid.  Sufficient replicas exist for the pool to continue
\tfunctioning in a degraded state.
action: Replace the device using 'zpool replace'.
   see: https://openzfs.github.io/openzfs-docs/msg/ZFS-8000-4J
config:

\tNAME                                      STATE     READ WRITE CKSUM
\trpool                                     DEGRADED     0     0     0
\t  mirror-0                                DEGRADED     0     0     0
\t    16549275069958315386                  UNAVAIL      0     0     0  was /dev/disk/by-id/virtio-target0-part2
\t    /dev/disk/by-id/virtio-target1-part2  ONLINE       0     0     0

errors: No known data errors
"""  # noqa: E501

REPLACING = """\
  pool: rpool
 state: DEGRADED
  scan: resilver in progress since Mon Dec  1 22:01:00 2026
config:

\tNAME                                        STATE     READ WRITE CKSUM
\trpool                                       DEGRADED     0     0     0
\t  mirror-0                                  DEGRADED     0     0     0
\t    replacing-0                             DEGRADED     0     0     0
\t      16549275069958315386                  UNAVAIL      0     0     0  was /dev/disk/by-id/virtio-target0-part2
\t      /dev/disk/by-id/virtio-target2-part2  ONLINE       0     0     0  (resilvering)
\t    /dev/disk/by-id/virtio-target1-part2    ONLINE       0     0     0

errors: No known data errors
"""  # noqa: E501

RAIDZ = """\
  pool: rpool
 state: ONLINE
config:

\tNAME                                      STATE     READ WRITE CKSUM
\trpool                                     ONLINE       0     0     0
\t  raidz1-0                                ONLINE       0     0     0
\t    /dev/disk/by-id/virtio-target0-part2  ONLINE       0     0     0
\t    /dev/disk/by-id/virtio-target1-part2  ONLINE       0     0     0
\t    /dev/disk/by-id/virtio-target2-part2  ONLINE       0   1.2K    0

errors: No known data errors
"""

EFIBOOTMGR = """\
BootCurrent: 0004
Timeout: 0 seconds
BootOrder: 0004,0005,0000,0001,0002,0003
Boot0000* UiApp\tFvVol(7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1)/FvFile(462caa21-7614-4503-836e-8ab6f4662331)
Boot0001* UEFI Misc Device\tPciRoot(0x0)/Pci(0x2,0x0){auto_created_boot_option}
Boot0004* KLDload\tHD(1,GPT,1122CB2D-3264-44F5-9BDF-F5ED09164A84,0x800,0x100000)/File(\\EFI\\systemd\\systemd-bootx64.efi)
Boot0005* KLDload (disk 2)\tHD(1,GPT,0a0b0c0d-3264-44f5-9bdf-f5ed09164a84,0x800,0x100000)/File(\\EFI\\systemd\\systemd-bootx64.efi)
"""  # noqa: E501

SGDISK = """\
Disk /dev/disk/by-id/virtio-target1: 41943040 sectors, 20.0 GiB
Sector size (logical/physical): 512/512 bytes
Disk identifier (GUID): 5D2C0C8C-7C59-4D3E-8E2B-0A1B2C3D4E5F
Partition table holds up to 128 entries
First usable sector is 34, last usable sector is 41943006
Total free space is 2014 sectors (1007.0 KiB)

Number  Start (sector)    End (sector)  Size       Code  Name
   1            2048         1050623   512.0 MiB   EF00  EFI
   2         1050624        41943006   19.5 GiB    BF00  zfs
   3              48            2045   999.0 KiB   EF02  BIOS boot
"""


def test_missing_vdev_named_by_the_path_it_had() -> None:
    [gone] = missing_vdevs(DEGRADED)
    assert (gone.state, gone.name, gone.serial) == ("UNAVAIL", "16549275069958315386",
                                                    "target0")
    assert gone.was == "/dev/disk/by-id/virtio-target0-part2"
    assert online_serials(DEGRADED) == ["target1"]
    assert [v.name for v in pool_vdevs(DEGRADED)][:2] == ["rpool", "mirror-0"]


def test_replacing_group_is_not_a_device() -> None:
    leaves = leaf_vdevs(REPLACING)
    assert [v.serial for v in leaves] == ["target0", "target2", "target1"]
    assert leaves[1].note == "(resilvering)"
    assert online_serials(REPLACING) == ["target1", "target2"]
    assert [v.serial for v in missing_vdevs(REPLACING)] == ["target0"]


def test_healthy_raidz_counters_with_units() -> None:
    assert missing_vdevs(RAIDZ) == []
    assert online_serials(RAIDZ) == ["target0", "target1", "target2"]
    assert leaf_vdevs(RAIDZ)[2].note == ""


def test_efibootmgr_entries_and_order() -> None:
    entries, order = efi_entries(EFIBOOTMGR)
    assert order[:2] == ["0004", "0005"]
    ours = {e.label: e for e in entries if e.label.startswith("KLDload")}
    assert sorted(ours) == [entry_label(1), entry_label(2)] == ["KLDload", "KLDload (disk 2)"]
    assert ours["KLDload"].partuuid == "1122cb2d-3264-44f5-9bdf-f5ed09164a84"
    assert ours["KLDload (disk 2)"].number == "0005"
    assert {e.label for e in entries} >= {"UiApp", "UEFI Misc Device"}


def test_efibootmgr_without_tabs() -> None:
    entries, _ = efi_entries("Boot0003* KLDload (disk 3) HD(1,GPT,ab,0x800,0x10)/File(\\x)\n"
                             "Boot0007  Off\n")
    assert [(e.label, e.active) for e in entries] == [("KLDload (disk 3)", True),
                                                     ("Off", False)]


def test_sha256_listing_and_differences() -> None:
    a, b = "a" * 64, "b" * 64
    files = sha256_listing(f"{a}  ./EFI/BOOT/BOOTX64.EFI\r\n{b}  ./loader/random-seed\n"
                           f"{a} *./grub/grub.cfg\nnoise\n{b}  ./grub/i386-pc/core.img\n")
    assert files == {"EFI/BOOT/BOOTX64.EFI": a, "loader/random-seed": b, "grub/grub.cfg": a,
                     "grub/i386-pc/core.img": b}
    assert find_path(files, "efi/boot/bootx64.efi") == "EFI/BOOT/BOOTX64.EFI"
    assert esp_stable(files) == {"EFI/BOOT/BOOTX64.EFI": a, "grub/grub.cfg": a}
    assert listing_differences(esp_stable(files), {"EFI/BOOT/BOOTX64.EFI": b, "x": a}) == [
        "differs: EFI/BOOT/BOOTX64.EFI", "only in the first: grub/grub.cfg",
        "only in the second: x"]


def test_esp_expected_files() -> None:
    wanted = esp_expected("6.1.0-57-amd64")
    assert "kldload/6.1.0-57-amd64/initrd.img" in wanted
    assert "loader/entries/kldload-6.1.0-57-amd64.conf" in wanted
    assert "EFI/BOOT/BOOTX64.EFI" in wanted and "grub/grub.cfg" in wanted


def test_gpt_partitions() -> None:
    sector, parts = gpt_partitions(SGDISK)
    assert sector == 512
    assert [(p.number, p.code) for p in parts] == [(1, "EF00"), (2, "BF00"), (3, "EF02")]
    bios = parts[2]
    assert bios.sectors * sector == 999 << 10 and bios.end < parts[0].start
    assert bios.name == "BIOS boot"


def test_firmware_story() -> None:
    console = ('BdsDxe: failed to load Boot0004 "KLDload" from HD(1,GPT,...): Not Found\r\n'
               'BdsDxe: loading Boot0005 "KLDload (disk 2)" from HD(...)\r\n'
               'BdsDxe: starting Boot0005 "KLDload (disk 2)" from HD(...)\r\n')
    assert firmware_story(console) == ["failed 'KLDload'", "started 'KLDload (disk 2)'"]
    assert bootparse.MISSING_STATES == ("UNAVAIL", "FAULTED", "REMOVED")


def test_boot_layouts_registered() -> None:
    from tests.e2e.layouts import ALL, LAYOUTS
    from tests.e2e.main import _parse

    new = ["mirror-degraded", "raidz1-degraded", "esp-sync", "bios"]
    assert set(new) <= set(LAYOUTS) and set(new) <= set(ALL)
    assert "overhead" not in ALL
    assert _parse(["--layout", "esp-sync", "--layout", "bios"]).layout == ["esp-sync", "bios"]
