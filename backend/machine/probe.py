"""Probe the running machine into a `Machine`: disks, NICs, firmware, identity.

Disks come from one of two sources that give the same answer where both work:

- udev (pyudev): used when a udev daemon is running; its database holds the
  model, serial, filesystem and partition-entry properties (`ID_*`).
- lsblk + blkid: `lsblk --json --bytes` with explicit columns for topology,
  sizes and hardware facts, `blkid -p` per device for signatures (a low-level
  probe, never the cache, which goes stale). Used where udev is not running
  (containers, early boot, hosts like the CI machines): pyudev there sees
  sysfs only and no `ID_*` properties.

Both read holders, partition numbers and offsets from sysfs, and mountpoints
from the kernel's mount table. blkinfo is not used: it runs lsblk itself,
outside the runner (so unlogged), and returns only strings.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kldload_tui.backend.engine.runner import LocalRunner, Runner
from kldload_tui.backend.machine.disks import (
    by_id_links,
    find_live_devices,
    imported_pools,
    pool_is_imported,
    preferred_by_id,
    read_swaps,
    synthesise_by_id,
)
from kldload_tui.backend.machine.model import (
    BY_ID_DIR,
    Disk,
    Dmi,
    Machine,
    Nic,
    Partition,
    SeedDescription,
    resolve_machine,
)
from kldload_tui.backend.machine.mountinfo import read_mountinfo

Source = Literal["auto", "udev", "lsblk"]
LSBLK_COLUMNS = ("KNAME", "PATH", "TYPE", "SIZE", "MODEL", "VENDOR", "SERIAL", "WWN", "TRAN",
                 "ROTA", "RM", "RO", "MOUNTPOINTS")
SECTOR = 512  # sysfs counts sizes and offsets in 512-byte sectors, whatever the disk's
# Kernel name families that are never install targets: RAM disks, and the
# device-mapper and md devices that lsblk shows as children of real disks.
_NOT_DISKS = ("ram", "zram", "dm-", "md")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def udev_is_running(run_udev: Path = Path("/run/udev")) -> bool:
    """systemd-udevd and eudev create this socket; without it the database is empty."""
    return (run_udev / "control").exists()


def _natural(path: str) -> list[Any]:
    """`/dev/sdb` < `/dev/sdaa`, `nvme2n1` < `nvme10n1`."""
    return [(len(p), int(p)) if p.isdigit() else p for p in re.split(r"(\d+)", path)]


def _wanted(kname: str, size_bytes: int) -> bool:
    return size_bytes > 0 and not kname.startswith(_NOT_DISKS)


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _unhex(value: str | None) -> str | None:
    r"""udev's `\x20` escapes (ID_MODEL_ENC, ID_FS_LABEL_ENC) back to text."""
    if value is None:
        return None
    raw = re.sub(rb"\\x([0-9a-fA-F]{2})", lambda m: bytes([int(m.group(1), 16)]),
                 value.encode("utf-8"))
    return _clean(raw.decode("utf-8", errors="replace"))


class _Sysfs:
    """The few sysfs facts both sources read the same way."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, kname: str, attr: str) -> str | None:
        try:
            return _clean((self.root / "class" / "block" / kname / attr).read_text("utf-8"))
        except (OSError, UnicodeDecodeError):
            return None

    def holders(self, kname: str) -> list[str]:
        try:
            return sorted(p.name for p in (self.root / "class/block" / kname / "holders").iterdir())
        except OSError:
            return []

    def transport(self, kname: str) -> str | None:
        """The bus a disk hangs off, from its place in the device tree."""
        if kname.startswith("loop"):
            return "loop"
        if kname.startswith("nvme"):
            return "nvme"
        parts = os.path.realpath(self.root / "class" / "block" / kname).split("/")
        if any(p.startswith("usb") for p in parts):
            return "usb"  # before ata: a USB-SATA bridge is USB to the installer
        if any(p.startswith("virtio") for p in parts):
            return "virtio"
        if any(re.fullmatch(r"ata\d+", p) for p in parts):
            return "sata"
        if any(p.startswith("end_device-") for p in parts):
            return "sas"
        if any(p.startswith("mmc") for p in parts):
            return "mmc"
        return None

    def vendor(self, kname: str) -> str | None:
        value = self.read(kname, "device/vendor")
        # virtio and PCI report numeric ids ("0x1af4"), not a vendor name.
        return None if value is None or value.startswith("0x") else value


def _mountpoints(mountinfo: Path) -> dict[str, list[str]]:
    """`major:minor` -> mount targets, from /proc/self/mountinfo."""
    table: dict[str, list[str]] = {}
    for mount in read_mountinfo(mountinfo):
        table.setdefault(mount.devno, []).append(mount.target)
    return {k: sorted(set(v)) for k, v in table.items()}


# lsblk + blkid ---------------------------------------------------------------

class _LsblkDevice(BaseModel):
    """One row of `lsblk --json --bytes -o LSBLK_COLUMNS` (lax: old lsblk prints "0"/"1")."""

    model_config = ConfigDict(extra="ignore")

    kname: str
    path: str
    type: str
    size: int = 0
    model: str | None = None
    vendor: str | None = None
    serial: str | None = None
    wwn: str | None = None
    tran: str | None = None
    rota: bool = False
    rm: bool = False
    ro: bool = False
    mountpoints: list[str | None] = Field(default_factory=list)
    children: list[_LsblkDevice] = Field(default_factory=list)


class _LsblkOutput(BaseModel):
    blockdevices: list[_LsblkDevice] = Field(default_factory=list)


def _lsblk_mounts(mountpoints: list[str | None]) -> list[str]:
    # lsblk lists active swap as the mountpoint "[SWAP]"; swap has its own flag,
    # from /proc/swaps, as in the udev source.
    return sorted({m for m in mountpoints if m and m != "[SWAP]"})


def _blkid(runner: Runner, path: str) -> dict[str, Any]:
    """`blkid -p -o export PATH` as a dict, plus `_error` / `_ambivalent` markers."""
    res = runner.run(["blkid", "-p", "-o", "export", path], check=False)
    values: dict[str, Any] = {}
    for line in res.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            # export format backslash-escapes shell metacharacters and spaces.
            values[key] = re.sub(r"\\(.)", r"\1", value)
    if res.returncode == 8:
        values["_ambivalent"] = True
    elif res.returncode != 0 and "error" in res.stderr:
        # Exit 2 means both "nothing found" and "could not read": stderr tells which.
        values["_error"] = res.stderr.strip().rsplit(": ", 1)[-1] or "blkid failed"
    elif res.returncode not in (0, 2):
        values["_error"] = f"blkid exit {res.returncode}"
    return values


def _signature(b: Mapping[str, Any]) -> dict[str, Any]:
    return {"fstype": b.get("TYPE"), "label": b.get("LABEL"), "uuid": b.get("UUID"),
            "ambivalent": bool(b.get("_ambivalent")), "probe_error": b.get("_error")}


def lsblk_disks(runner: Runner, sys_root: Path = Path("/sys")) -> list[Disk]:
    """Disks from `lsblk --json --bytes` (topology, hardware) and `blkid -p` (signatures)."""
    sysfs = _Sysfs(sys_root)
    res = runner.run(["lsblk", "--json", "--bytes", "--tree", "-o", ",".join(LSBLK_COLUMNS)])
    rows = _LsblkOutput.model_validate_json(res.stdout or '{"blockdevices": []}').blockdevices
    disks: list[Disk] = []
    for row in rows:
        if not _wanted(row.kname, row.size):
            continue
        parts: list[Partition] = []
        for child in row.children:
            if child.type != "part":
                continue  # dm/md/lvm children: seen as holders in sysfs
            number = sysfs.read(child.kname, "partition")
            start = sysfs.read(child.kname, "start")
            b = _blkid(runner, child.path)
            parts.append(Partition(
                path=child.path, size_bytes=child.size, number=int(number or 0) or len(parts) + 1,
                start_bytes=int(start) * SECTOR if start else None,
                partlabel=b.get("PART_ENTRY_NAME"), parttype=b.get("PART_ENTRY_TYPE"),
                partuuid=b.get("PART_ENTRY_UUID"), **_signature(b),
                mountpoints=_lsblk_mounts(child.mountpoints),
                holders=sysfs.holders(child.kname)))
        b = _blkid(runner, row.path)
        disks.append(Disk(
            path=row.path, size_bytes=row.size,
            # lsblk without udev misses what only sysfs has (a virtio disk's serial).
            model=_clean(row.model) or sysfs.read(row.kname, "device/model"),
            vendor=_clean(row.vendor) if row.vendor and not row.vendor.startswith("0x")
            else sysfs.vendor(row.kname),
            serial=_clean(row.serial) or sysfs.read(row.kname, "serial")
            or sysfs.read(row.kname, "device/serial"),
            wwn=_clean(row.wwn),
            transport=sysfs.transport(row.kname) or _clean(row.tran),
            rotational=row.rota, removable=row.rm, read_only=row.ro,
            partition_table=b.get("PTTYPE"), **_signature(b),
            mountpoints=_lsblk_mounts(row.mountpoints),
            holders=sysfs.holders(row.kname),
            partitions=sorted(parts, key=lambda p: p.number)))
    return disks


# udev ------------------------------------------------------------------------

def _udev_signature(props: Mapping[str, str]) -> dict[str, Any]:
    return {"fstype": _clean(props.get("ID_FS_TYPE")),
            "label": _unhex(props.get("ID_FS_LABEL_ENC")) or _clean(props.get("ID_FS_LABEL")),
            "uuid": _clean(props.get("ID_FS_UUID"))}


def _attr(device: Any, name: str) -> str | None:
    value = device.attributes.get(name)
    return _clean(value.decode("utf-8", errors="replace")) if value is not None else None


def udev_disks(devices: Iterable[Any], sysfs_root: Path = Path("/sys"),
               mountinfo: Path = Path("/proc/self/mountinfo")) -> list[Disk]:
    """Disks from pyudev block devices (or objects with the same attributes)."""
    sysfs = _Sysfs(sysfs_root)
    mounts = _mountpoints(mountinfo)
    devices = list(devices)
    children: dict[str, list[Any]] = {}
    for dev in devices:
        if dev.device_type == "partition":
            children.setdefault(Path(dev.sys_path).parent.name, []).append(dev)
    disks: list[Disk] = []
    for dev in devices:
        size = int(_attr(dev, "size") or 0) * SECTOR
        if dev.device_type != "disk" or not _wanted(dev.sys_name, size):
            continue
        props = dev.properties
        parts: list[Partition] = []
        for child in children.get(dev.sys_name, []):
            cp = child.properties
            start = _attr(child, "start")
            parts.append(Partition(
                path=child.device_node, size_bytes=int(_attr(child, "size") or 0) * SECTOR,
                number=int(_attr(child, "partition") or 0) or len(parts) + 1,
                start_bytes=int(start) * SECTOR if start else None,
                partlabel=_unhex(cp.get("ID_PART_ENTRY_NAME")),
                parttype=_clean(cp.get("ID_PART_ENTRY_TYPE")),
                partuuid=_clean(cp.get("ID_PART_ENTRY_UUID")), **_udev_signature(cp),
                mountpoints=mounts.get(f"{cp.get('MAJOR')}:{cp.get('MINOR')}", []),
                holders=sysfs.holders(child.sys_name)))
        bus = {"ata": "sata", "usb": "usb", "scsi": "scsi", "nvme": "nvme"}
        vendor = _unhex(props.get("ID_VENDOR_ENC")) or sysfs.vendor(dev.sys_name)
        disks.append(Disk(
            path=dev.device_node, size_bytes=size,
            model=_unhex(props.get("ID_MODEL_ENC")) or _clean(props.get("ID_MODEL"))
            or _attr(dev, "device/model"),
            vendor=vendor if vendor and not vendor.startswith("0x") else None,
            serial=_clean(props.get("ID_SCSI_SERIAL")) or _clean(props.get("ID_SERIAL_SHORT"))
            or _clean(props.get("ID_SERIAL")) or _attr(dev, "serial")
            or _attr(dev, "device/serial"),
            wwn=_clean(props.get("ID_WWN_WITH_EXTENSION")) or _clean(props.get("ID_WWN")),
            transport=sysfs.transport(dev.sys_name) or bus.get(props.get("ID_BUS", "")),
            rotational=_attr(dev, "queue/rotational") == "1",
            removable=_attr(dev, "removable") == "1", read_only=_attr(dev, "ro") == "1",
            partition_table=_clean(props.get("ID_PART_TABLE_TYPE")), **_udev_signature(props),
            mountpoints=mounts.get(f"{props.get('MAJOR')}:{props.get('MINOR')}", []),
            holders=sysfs.holders(dev.sys_name),
            partitions=sorted(parts, key=lambda p: p.number)))
    return disks


def _pyudev_devices() -> list[Any]:
    import pyudev  # only this source needs it; the import is slow-ish on a live medium

    return list(pyudev.Context().list_devices(subsystem="block"))


# Shared finishing ------------------------------------------------------------

def _finish(disk: Disk, links: dict[str, list[str]], swaps: set[str],
            pools: dict[str, str | None]) -> Disk:
    """Add by-id name, swap use and imported-pool membership, the same for both sources."""
    def used(dev: Any) -> dict[str, Any]:
        return {"swap": dev.path in swaps,
                "zfs_pool_imported": pool_is_imported(dev.zfs_pool, dev.uuid, pools)}

    by_id = preferred_by_id(links.get(disk.path, []))
    synthesised = False
    if by_id is None:
        by_id = synthesise_by_id(transport=disk.transport, model=disk.model,
                                 serial=disk.serial, vendor=disk.vendor, wwn=disk.wwn)
        synthesised = by_id is not None
    parts = [p.model_copy(update=used(p)) for p in disk.partitions]
    return disk.model_copy(update={"by_id": by_id, "by_id_synthesised": synthesised,
                                   "partitions": parts, **used(disk)})


def probe_disks(runner: Runner | None = None, *, source: Source = "auto",
                sys_root: Path = Path("/sys"), proc_root: Path = Path("/proc"),
                by_id_dir: Path = Path(BY_ID_DIR)) -> list[Disk]:
    """Every disk of this machine, sorted by kernel name, from udev or lsblk+blkid."""
    runner = runner or LocalRunner()
    if source == "auto":
        source = "udev" if udev_is_running() else "lsblk"
    mountinfo = proc_root / "self" / "mountinfo"
    if source == "udev":
        raw = udev_disks(_pyudev_devices(), sys_root, mountinfo)
    else:
        raw = lsblk_disks(runner, sys_root)
    links = by_id_links(by_id_dir)
    swaps = read_swaps(proc_root / "swaps")
    pools = imported_pools(runner)
    disks = [_finish(d, links, swaps, pools) for d in raw]
    return sorted(disks, key=lambda d: _natural(d.path))


# The rest of the machine -------------------------------------------------------

def _read(path: Path) -> str | None:
    try:
        return _clean(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None


def probe_nics(sys_root: Path = Path("/sys")) -> list[Nic]:
    """Network interfaces with an Ethernet MAC; loopback left out."""
    nics: list[Nic] = []
    try:
        entries = sorted((sys_root / "class" / "net").iterdir(), key=lambda p: _natural(p.name))
    except OSError:
        return nics
    for entry in entries:
        mac = (_read(entry / "address") or "").lower()
        if entry.name == "lo" or not _MAC.match(mac):
            continue
        nics.append(Nic(name=entry.name, mac=mac, virtual=not (entry / "device").exists()))
    return nics


def probe_machine(runner: Runner | None = None, *, source: Source = "auto",
                  sys_root: Path = Path("/sys"), proc_root: Path = Path("/proc")) -> Machine:
    """The running machine as a `Machine`, with its seed disk marked (never a target)."""
    runner = runner or LocalRunner()
    disks = probe_disks(runner, source=source, sys_root=sys_root, proc_root=proc_root)
    known = {dev.path for disk in disks for dev in disk.devices()}
    live = [p for p in find_live_devices(runner, sys_root=sys_root) if p in known]
    dmi = sys_root / "class" / "dmi" / "id"
    return Machine(
        hostname=socket.gethostname(),
        firmware="uefi" if (sys_root / "firmware" / "efi").is_dir() else "bios",
        kernel_cmdline=_read(proc_root / "cmdline") or "",
        dmi=Dmi(serial=_read(dmi / "product_serial"), uuid=_read(dmi / "product_uuid"),
                vendor=_read(dmi / "sys_vendor"), product=_read(dmi / "product_name")),
        nics=probe_nics(sys_root), disks=disks, live_devices=live,
        seed=_seed_device(runner, sys_root, known))


def _seed_device(runner: Runner, sys_root: Path, known: set[str]) -> SeedDescription | None:
    """Where the seed is, so that it is never offered as a target.

    Its answers are left out: they hold passwords, and `kldload-tui probe`
    output is meant to be shared.
    """
    from kldload_tui.backend.seed.find import scan_seed_devices

    candidates, _ = scan_seed_devices(runner, sys_root)
    c = next((c for c in candidates if c.device in known), None)
    if c is None:
        return None
    return SeedDescription(device=c.device, label=c.label, filesystem=c.filesystem)


def machine_for(spec: str | None, runner: Runner | None = None, *,
                source: Source = "auto") -> Machine:
    """The machine a command works on: the description `spec` (`--machine`) when
    given, else this machine, probed."""
    if spec is not None:
        return resolve_machine(spec)
    return probe_machine(runner, source=source)
