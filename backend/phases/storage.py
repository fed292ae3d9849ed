"""Partitions, the pool, its datasets and the host ID.

Everything destructive here acts on the disks preflight resolved and judged
in the same run (`ctx.targets`), by their exact paths.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path

from kldload_tui.backend.answers.model import Topology
from kldload_tui.backend.engine.core import InstallContext, InstallError, Phase, VerifyError
from kldload_tui.backend.machine.targets import WipeTarget
from kldload_tui.backend.phases.storage_argv import (
    BIOS_BOOT_PARTNUM,
    BIOS_BOOT_TYPE,
    ESP_BYTES,
    ESP_PARTNUM,
    ESP_TYPE,
    MIB,
    SPECIAL_PARTNUM,
    ZFS_PARTNUM,
    ZFS_TYPE,
    choose_compatibility,
    dataset_specs,
    parse_sgdisk_print,
    partition_argv,
    partition_path,
    wipe_argv,
    zfs_create_argv,
    zpool_create_argv,
)

COMPAT_DIR = Path("/usr/share/zfs/compatibility.d")


def _boots(t: WipeTarget) -> bool:
    # Every data disk gets an ESP, so any surviving mirror half can carry one.
    return t.role != "special"


def zfs_partition(t: WipeTarget) -> str:
    """The vdev path of the target's ZFS partition: by-id when the disk has one."""
    return partition_path(t.stable_path, ZFS_PARTNUM if _boots(t) else SPECIAL_PARTNUM)


def settle_devices(ctx: InstallContext, paths: Sequence[str], timeout: float = 30.0) -> None:
    """Wait until udev is done with the disks and every path in `paths` exists.

    Whatever opens a disk for writing (sgdisk, even `sgdisk --print`; partx)
    makes udev re-read its partition table when it is closed, which removes
    and re-creates every partition device and its /dev/disk/by-id link. A
    command given such a path in that window finds nothing: `zpool create`
    then skips clearing old labels ("cannot open ...-part2").
    """
    ctx.run(["udevadm", "settle", f"--timeout={timeout:.0f}"], check=False)
    if ctx.dry_run:
        return
    deadline = time.monotonic() + timeout
    while missing := [p for p in paths if not Path(p).exists()]:
        if time.monotonic() > deadline:
            raise InstallError(f"{', '.join(missing)} did not appear within {timeout:.0f}s "
                               "after partitioning; check `udevadm monitor` and dmesg")
        time.sleep(0.2)


class Partition(Phase):
    """Wipe each target and lay out an ESP and a ZFS partition."""

    name = "partition"
    title = "wipe the target disks and partition them (BIOS boot, ESP, ZFS)"

    def run(self, ctx: InstallContext) -> None:
        for t in ctx.targets:
            for part in t.disk.partitions:
                # Old pool labels and signatures inside partitions outlive a new
                # partition table at the same offsets; clear them first.
                if part.fstype == "zfs_member":
                    ctx.run(["zpool", "labelclear", "-f", part.path], check=False)
                ctx.run(["wipefs", "--all", "--force", part.path], check=False)
            for argv in wipe_argv(t.disk.path):
                ctx.run(argv)
            ctx.run(partition_argv(t.disk.path, with_esp=_boots(t)))
            # Tell the kernel; loop devices without partition scanning refuse,
            # and nothing below needs the kernel's view until udev settles.
            ctx.run(["partx", "--update", t.disk.path], check=False)
        ctx.run(["udevadm", "settle", "--timeout=30"], check=False)
        ctx.esp_partitions = [partition_path(t.stable_path, ESP_PARTNUM)
                              for t in ctx.targets if _boots(t)]

    def verify(self, ctx: InstallContext) -> None:
        for t in ctx.targets:
            table = parse_sgdisk_print(ctx.run(["sgdisk", "--print", t.disk.path]))
            want = ([(ESP_PARTNUM, ESP_TYPE), (ZFS_PARTNUM, ZFS_TYPE),
                     (BIOS_BOOT_PARTNUM, BIOS_BOOT_TYPE)] if _boots(t)
                    else [(SPECIAL_PARTNUM, ZFS_TYPE)])
            got = [(e.number, e.code) for e in table]
            if got != want:
                raise VerifyError(f"{t.disk.path}: partition table reads back as {got}, "
                                  f"planned {want}")
            if _boots(t):
                esp = table[0]
                size = (esp.end_sector - esp.start_sector + 1) * 512
                # sgdisk aligns partition ends: a few MiB either way is the plan kept.
                if abs(size - ESP_BYTES) > 12 * MIB:
                    raise VerifyError(f"{t.disk.path}: the ESP has {size} bytes, planned "
                                      f"{ESP_BYTES // MIB} MiB")


class Pool(Phase):
    """`zpool create` with kldload's properties, by-id vdevs and optional encryption."""

    name = "pool"
    title = "create the root pool"

    def run(self, ctx: InstallContext) -> None:
        a = ctx.answers
        data = [zfs_partition(t) for t in ctx.targets if t.role != "special"]
        special = [zfs_partition(t) for t in ctx.targets if t.role == "special"]
        live = None
        if not ctx.dry_run and COMPAT_DIR.is_dir():
            live = {p.name for p in COMPAT_DIR.iterdir()}
        compat = choose_compatibility(ctx.distro.zfs_compatibility(), live)
        settle_devices(ctx, data + special)
        argv = zpool_create_argv(ctx.pool, altroot=str(ctx.target), topology=a.zfs_topology,
                                 data=data, special=special, compatibility=compat,
                                 encrypted=a.zfs_encrypt)
        ctx.pool_created = True  # from here on, teardown exports it
        if a.zfs_encrypt:
            phrase = a.zfs_passphrase.get_secret_value()
            ctx.runner.interact(argv, [(r"(?i)passphrase:", phrase)])
        else:
            ctx.run(argv)

    def verify(self, ctx: InstallContext) -> None:
        health = ctx.run(["zpool", "list", "-H", "-o", "health", ctx.pool]).strip()
        if health != "ONLINE":
            raise VerifyError(f"pool {ctx.pool} is {health}, not ONLINE")
        status = ctx.run(["zpool", "status", "-P", ctx.pool])
        topo = ctx.answers.zfs_topology
        groups = {Topology.MIRROR: r"\bmirror-\d+", Topology.RAIDZ1: r"\braidz1-\d+",
                  Topology.MIRROR_STRIPE: r"\bmirror-\d+"}
        if topo in groups:
            found = len(re.findall(groups[topo], status))
            want = len(ctx.answers.data_disks()) // 2 if topo is Topology.MIRROR_STRIPE else 1
            if found < want:
                raise VerifyError(f"pool {ctx.pool} has {found} {topo.value} group(s), "
                                  f"asked {want}")
        for t in ctx.targets:
            if zfs_partition(t) not in status:
                raise VerifyError(f"{zfs_partition(t)} is not a vdev of {ctx.pool}")
        if ctx.answers.zfs_special_disks and "special" not in status:
            raise VerifyError(f"pool {ctx.pool} has no special vdev")
        if ctx.answers.zfs_encrypt:
            enc = ctx.run(["zfs", "get", "-H", "-o", "value", "encryption", ctx.pool]).strip()
            if enc in ("", "off"):
                raise VerifyError(f"pool {ctx.pool} is not encrypted")


class Datasets(Phase):
    """The boot environment and the datasets that outlive it."""

    name = "datasets"
    title = "create datasets and mount the boot environment"

    def run(self, ctx: InstallContext) -> None:
        private_target(ctx)
        for spec in dataset_specs(ctx.pool, ctx.be_name):
            ctx.run(zfs_create_argv(spec))
            if spec.name == ctx.be:
                # The root must be mounted before any child mounts under it.
                ctx.run(["zfs", "mount", ctx.be])
        ctx.run(["zpool", "set", f"bootfs={ctx.be}", ctx.pool])
        ctx.run(["chmod", "0700", str(ctx.path("/root"))])
        ctx.run(["chmod", "1777", str(ctx.path("/var/tmp"))])

    def verify(self, ctx: InstallContext) -> None:
        listing = ctx.run(["zfs", "list", "-H", "-o", "name,mountpoint,canmount", "-r",
                           ctx.pool])
        have = {line.split("\t")[0]: line.split("\t")[1:] for line in listing.splitlines()}
        for spec in dataset_specs(ctx.pool, ctx.be_name):
            if spec.name not in have:
                raise VerifyError(f"dataset {spec.name} was not created")
            props = dict(spec.properties)
            mountpoint, canmount = have[spec.name]
            if "canmount" in props and canmount != props["canmount"]:
                raise VerifyError(f"{spec.name}: canmount={canmount}, asked {props['canmount']}")
            if props.get("mountpoint") not in (None, "none"):
                want = str(ctx.path(props["mountpoint"])).rstrip("/") or "/"
                if mountpoint.rstrip("/") != want.rstrip("/"):
                    raise VerifyError(f"{spec.name}: mountpoint {mountpoint}, asked {want}")
        bootfs = ctx.run(["zpool", "get", "-H", "-o", "value", "bootfs", ctx.pool]).strip()
        if bootfs != ctx.be:
            raise VerifyError(f"bootfs is {bootfs}, not {ctx.be}")
        # Two mounts at the target: the private bind, and on top of it the root.
        stacked = ctx.run(["findmnt", "-n", "-o", "SOURCE", "--mountpoint",
                           str(ctx.target)]).split()
        source = stacked[-1] if stacked else ""
        if source != ctx.be:
            raise VerifyError(f"{ctx.target} is mounted from {source or 'nothing'}, "
                              f"not {ctx.be}")


def private_target(ctx: InstallContext) -> None:
    """Make the target root a private mount, so nothing mounted under it propagates.

    The live system's / is shared, and services with a mount namespace of
    their own (systemd-udevd, systemd-logind: PrivateMounts and friends) are
    its slaves: every mount under the target would be copied into them, no
    unmount in ours reaches those copies, and `zpool export` then fails with
    "pool is busy" for as long as those services run.
    """
    target = str(ctx.target)
    ctx.run(["mkdir", "-p", target])
    ctx.run(["mount", "--bind", target, target])
    ctx.target_bound = True
    ctx.run(["mount", "--make-private", target])


class HostId(Phase):
    """A host ID for the target, and the pool's cachefile beside it."""

    name = "hostid"
    title = "write the host ID and the pool cachefile into the target"

    def run(self, ctx: InstallContext) -> None:
        ctx.run(["mkdir", "-p", str(ctx.path("/etc/zfs"))])
        ctx.run(["zgenhostid", "-f", "-o", str(ctx.path("/etc/hostid"))])
        ctx.run(["zpool", "set", "cachefile=/etc/zfs/zpool.cache", ctx.pool])
        ctx.run(["install", "-m", "0644", "/etc/zfs/zpool.cache",
                 str(ctx.path("/etc/zfs/zpool.cache"))])

    def verify(self, ctx: InstallContext) -> None:
        hostid = ctx.path("/etc/hostid")
        if not hostid.is_file() or hostid.stat().st_size != 4:
            raise VerifyError(f"{hostid} is missing or not 4 bytes")
        cache = ctx.path("/etc/zfs/zpool.cache")
        if not cache.is_file() or cache.stat().st_size == 0:
            raise VerifyError(f"{cache} is missing or empty")
