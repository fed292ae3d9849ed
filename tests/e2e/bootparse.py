"""Pure parsers for what the boot layouts read on an installed system: ``zpool status``,
``efibootmgr``, ``sha256sum`` listings and ``sgdisk -p``. No guest, no I/O: tested in
test_bootparse.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

VDEV_STATES = ("ONLINE", "DEGRADED", "FAULTED", "OFFLINE", "UNAVAIL", "REMOVED", "AVAIL",
               "INUSE")
MISSING_STATES = ("UNAVAIL", "FAULTED", "REMOVED")
# Interior vdevs of a pool's config (the rest are leaves or section headings).
GROUP = re.compile(r"^(mirror|raidz\d|draid\d[^-]*|replacing|spare)-\d+$")
_VDEV_LINE = re.compile(rf"^(\s*)(\S+)\s+({'|'.join(VDEV_STATES)})\b(.*)$")
_TARGET_PART = re.compile(r"virtio-([^/\s]+)-part(\d+)$")
_PATH_START = re.compile(r"\s+(?=(?:HD|PciRoot|FvVol|VenHw|VenMedia|File)\()")


@dataclass(frozen=True)
class Vdev:
    """One line of the config in ``zpool status``."""

    name: str
    state: str
    depth: int
    note: str = ""  # what follows the error counters, e.g. "was /dev/..."

    @property
    def was(self) -> str:
        """The path a missing device had (``was /dev/...``), else ''."""
        match = re.search(r"\bwas (\S+)", self.note)
        return match.group(1) if match else ""

    @property
    def path(self) -> str:
        """The device path: the recorded one for a missing device, else its name."""
        return self.was or self.name

    @property
    def serial(self) -> str:
        """The virtio serial of a by-id partition path (``virtio-target1-part2``), else ''."""
        match = _TARGET_PART.search(self.path)
        return match.group(1) if match else ""


def pool_vdevs(status: str) -> list[Vdev]:
    """Every line of the config section of ``zpool status`` (the pool's own line first)."""
    found: list[Vdev] = []
    in_config = False
    for line in status.replace("\r", "").splitlines():
        if re.match(r"^\s*NAME\s+STATE\s+READ\s+WRITE\s+CKSUM", line):
            in_config = True
            continue
        if not in_config:
            continue
        if re.match(r"^\s*errors:", line):
            break
        match = _VDEV_LINE.match(line.expandtabs(8))
        if match:
            note = match.group(4).strip()
            # READ WRITE CKSUM, when present, come before the note.
            counters = re.match(r"^(\S+\s+\S+\s+\S+)(?:\s+(.*))?$", note)
            if counters and all(re.fullmatch(r"[\d.]+[KMGT]?", c)
                                for c in counters.group(1).split()):
                note = counters.group(2) or ""
            found.append(Vdev(match.group(2), match.group(3), len(match.group(1)), note))
    return found


def leaf_vdevs(status: str) -> list[Vdev]:
    """The devices of the pool: no pool line, no mirror-/raidz-/replacing- groups."""
    return [v for v in pool_vdevs(status)[1:] if not GROUP.match(v.name)]


def missing_vdevs(status: str) -> list[Vdev]:
    """Devices the pool cannot use (UNAVAIL, FAULTED, REMOVED)."""
    return [v for v in leaf_vdevs(status) if v.state in MISSING_STATES]


def online_serials(status: str) -> list[str]:
    """Sorted virtio serials of the ONLINE by-id partition devices."""
    return sorted(v.serial for v in leaf_vdevs(status) if v.state == "ONLINE" and v.serial)


@dataclass(frozen=True)
class BootEntry:
    """One ``BootXXXX`` line of ``efibootmgr``."""

    number: str  # four hex digits, upper case
    label: str
    active: bool
    path: str = ""

    @property
    def partuuid(self) -> str:
        """The GPT partition GUID of an ``HD(n,GPT,GUID,...)`` path, lower case, else ''."""
        match = re.search(r"HD\(\d+,GPT,([0-9A-Fa-f-]{36})", self.path)
        return match.group(1).lower() if match else ""


def efi_entries(output: str) -> tuple[list[BootEntry], list[str]]:
    """(the boot entries, BootOrder) from ``efibootmgr [-v]``. The label ends at a tab
    (efibootmgr 17+) or, without one, where a device path starts."""
    entries: list[BootEntry] = []
    order: list[str] = []
    for line in output.replace("\r", "").splitlines():
        found = re.match(r"^BootOrder:\s*(\S*)", line)
        if found:
            order = [n.upper() for n in found.group(1).split(",") if n]
            continue
        found = re.match(r"^Boot([0-9A-Fa-f]{4})(\*?)\s(.*)$", line)
        if not found:
            continue
        rest = found.group(3)
        if "\t" in rest:
            label, path = rest.split("\t", 1)
        else:
            split = _PATH_START.split(rest, maxsplit=1)
            label, path = split[0], (split[1] if len(split) > 1 else "")
        entries.append(BootEntry(found.group(1).upper(), label.strip(), found.group(2) == "*",
                                 path.strip()))
    return entries, order


def sha256_listing(output: str) -> dict[str, str]:
    """``sha256sum`` lines (``HASH  ./path``) as {path without ./: hash}."""
    files: dict[str, str] = {}
    for line in output.replace("\r", "").splitlines():
        found = re.match(r"^\\?([0-9a-f]{64}) [ *](.+)$", line)
        if found:
            path = found.group(2)
            files[path[2:] if path.startswith("./") else path] = found.group(1)
    return files


def listing_differences(left: dict[str, str], right: dict[str, str]) -> list[str]:
    """What differs between two listings, one line per path, sorted."""
    out = []
    for path in sorted(set(left) | set(right)):
        if path not in right:
            out.append(f"only in the first: {path}")
        elif path not in left:
            out.append(f"only in the second: {path}")
        elif left[path] != right[path]:
            out.append(f"differs: {path}")
    return out


def find_path(files: dict[str, str], wanted: str) -> str | None:
    """The key of `files` equal to `wanted` ignoring case (FAT does), else None."""
    return next((p for p in files if p.lower() == wanted.lower()), None)


@dataclass(frozen=True)
class Partition:
    """One row of ``sgdisk -p``."""

    number: int
    start: int  # sectors
    end: int  # sectors, inclusive
    code: str
    name: str

    @property
    def sectors(self) -> int:
        return self.end - self.start + 1


def gpt_partitions(output: str) -> tuple[int, list[Partition]]:
    """(logical sector size, the partitions by number) from ``sgdisk -p``."""
    size = re.search(r"Sector size \(logical[^)]*\):\s*(\d+)", output)
    rows = re.findall(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+[\d.]+ \S+\s+([0-9A-Fa-f]{4})[ \t]*(.*?)\r?$",
                      output, re.M)
    parts = sorted((Partition(int(n), int(s), int(e), c.upper(), name.strip())
                    for n, s, e, c, name in rows), key=lambda p: p.number)
    return (int(size.group(1)) if size else 512), parts


# What every ESP holds (bootloader issue "Every disk boots"), relative to its root.
ESP_LOADERS = ("EFI/systemd/systemd-bootx64.efi", "EFI/BOOT/BOOTX64.EFI", "grub/grub.cfg")
# Files that differ between ESPs by design, left out of every comparison: the random
# seed systemd-boot rewrites on the ESP it boots from (when there is one), and what
# grub-install writes per disk (core.img and its embedded config name that disk's ESP).
ESP_PER_DISK = ("loader/random-seed", "grub/i386-pc/core.img", "grub/i386-pc/load.cfg")


def esp_expected(kver: str) -> list[str]:
    """The files an ESP must hold for kernel `kver`."""
    return [*ESP_LOADERS, f"kldload/{kver}/vmlinuz", f"kldload/{kver}/initrd.img",
            f"loader/entries/kldload-{kver}.conf"]


def esp_stable(files: dict[str, str]) -> dict[str, str]:
    """A listing without the files that differ from ESP to ESP by design."""
    per_disk = {v.lower() for v in ESP_PER_DISK}
    return {p: h for p, h in files.items() if p.lower() not in per_disk}


def firmware_story(console: str) -> list[str]:
    """What OVMF's boot manager did, in order: `failed 'LABEL'` / `started 'LABEL'`."""
    return [f"{'started' if what == 'starting' else 'failed'} {label!r}" for what, label in
            re.findall(r'BdsDxe: (failed to load|starting) Boot[0-9A-Fa-f]{4} "([^"]*)"',
                       console)]
