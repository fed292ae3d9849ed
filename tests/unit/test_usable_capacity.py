"""The usable capacity the topology step shows, checked against the commands the
storage phases run: the ESP `partition_argv` makes and the vdevs `zpool create` gets."""

import re

import pytest

from kldload_tui.backend.answers.model import Topology
from kldload_tui.backend.phases.storage_argv import (
    ESP_BYTES,
    ZFS_START_BYTES,
    disks_worth,
    partition_argv,
    usable_bytes,
    zpool_create_argv,
)

TB = 1000204886016
GIB = 1024**3
# sgdisk's units are binary: 1M is 1 MiB.
UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def _bytes(text: str) -> int:
    m = re.fullmatch(r"\+?(\d+)([KMGT])", text)
    assert m, text
    return int(m[1]) * UNITS[m[2]]


def _partitions(argv: list[str]) -> dict[int, tuple[str, str]]:
    """`--new=N:START:END` of an sgdisk argv, by partition number."""
    out = {}
    for arg in argv:
        if arg.startswith("--new="):
            number, start, end = arg.removeprefix("--new=").split(":")
            out[int(number)] = (start, end)
    return out


def _vdevs(argv: list[str], pool: str = "rpool") -> list[str]:
    return argv[argv.index(pool) + 1:]


def test_the_esp_partition_argv_makes_is_the_one_usable_bytes_subtracts():
    parts = _partitions(partition_argv("/dev/sda", with_esp=True))
    start, size = parts[1]
    assert size.startswith("+")  # a size, not an end sector
    assert _bytes(size) == ESP_BYTES == 512 * 1024**2
    # ZFS takes the rest (`0:0`: from the first free sector, the ESP's end, to the last).
    assert parts[2] == ("0", "0")
    before_zfs = _bytes(start) + _bytes(size)
    assert before_zfs == ZFS_START_BYTES
    assert usable_bytes(Topology.SINGLE, [TB]) == TB - before_zfs


@pytest.mark.parametrize(("topology", "n", "worth"), [
    (Topology.SINGLE, 1, 1),
    (Topology.MIRROR, 2, 1),
    (Topology.MIRROR, 3, 1),
    (Topology.RAIDZ1, 3, 2),
    (Topology.RAIDZ1, 5, 4),
    (Topology.MIRROR_STRIPE, 4, 2),
    (Topology.MIRROR_STRIPE, 6, 3),
])
@pytest.mark.parametrize("special", [0, 1, 2])
def test_usable_bytes_counts_the_vdevs_zpool_create_gets(topology, n, worth, special):
    argv = zpool_create_argv("rpool", altroot="/mnt/k", topology=topology,
                             data=[f"/dev/d{i}-part2" for i in range(n)],
                             special=[f"/dev/s{i}-part1" for i in range(special)],
                             compatibility="openzfs-2.1-linux", encrypted=False)
    # Special vdevs hold metadata: they add nothing to the space shown.
    assert disks_worth(_vdevs(argv)) == worth
    assert usable_bytes(topology, [TB] * n) == worth * (TB - ZFS_START_BYTES)


def test_disks_worth_reads_vdevs_as_zpool_does():
    assert disks_worth(["a", "b"]) == 2  # a plain stripe
    assert disks_worth(["mirror", "a", "b", "c"]) == 1
    assert disks_worth(["raidz1", "a", "b", "c", "special", "mirror", "s", "t"]) == 2
    assert disks_worth(["mirror", "a", "b", "mirror", "c", "d"]) == 2


def test_usable_bytes_counts_from_the_smallest_disk():
    sizes = [TB, 500 * GIB, TB]
    assert usable_bytes(Topology.RAIDZ1, sizes) == 2 * (500 * GIB - ZFS_START_BYTES)
    assert usable_bytes(Topology.MIRROR, [TB, 500 * GIB]) == 500 * GIB - ZFS_START_BYTES


def test_a_disk_smaller_than_the_esp_gives_nothing():
    assert usable_bytes(Topology.SINGLE, [ESP_BYTES]) == 0


@pytest.mark.parametrize(("topology", "n"), [
    (Topology.SINGLE, 0), (Topology.SINGLE, 2), (Topology.MIRROR, 1), (Topology.RAIDZ1, 2),
    (Topology.MIRROR_STRIPE, 3), (Topology.MIRROR_STRIPE, 5),
])
def test_usable_bytes_is_none_for_disk_counts_the_rules_refuse(topology, n):
    assert usable_bytes(topology, [TB] * n) is None
