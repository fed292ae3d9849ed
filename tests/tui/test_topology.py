"""The topology step: layouts, their disk counts, encryption, and the live capacity."""

from __future__ import annotations

import pytest

from kldload_tui.backend.answers.model import Topology
from kldload_tui.backend.machine.disks import size_text
from kldload_tui.backend.phases.storage_argv import ZFS_START_BYTES, usable_bytes
from tests.tui.conftest import SIZE, field_message, fill, goto, screen_text, status_text

NVME0 = "/dev/disk/by-id/nvme-Samsung_SSD_980_PRO_1TB_S5GXNF0R123456A"
TB = 1000204886016


@pytest.mark.parametrize(("topology", "sizes", "disks_worth"), [
    (Topology.SINGLE, [TB], 1),
    (Topology.MIRROR, [TB, TB], 1),
    (Topology.RAIDZ1, [TB, TB, TB], 2),
    (Topology.MIRROR_STRIPE, [TB] * 4, 2),
])
def test_usable_bytes_counts_from_the_smallest_disk_less_the_esp(topology, sizes, disks_worth):
    assert usable_bytes(topology, sizes) == disks_worth * (TB - ZFS_START_BYTES)


def test_usable_bytes_uses_the_smallest_disk():
    assert usable_bytes(Topology.MIRROR, [TB, 500 * 1024**3]) == 500 * 1024**3 - ZFS_START_BYTES


@pytest.mark.parametrize(("topology", "n"), [
    (Topology.MIRROR, 1), (Topology.RAIDZ1, 2), (Topology.MIRROR_STRIPE, 3),
    (Topology.MIRROR_STRIPE, 5),
])
def test_usable_bytes_is_none_with_too_few_disks(topology, n):
    assert usable_bytes(topology, [TB] * n) is None


def _capacity(app) -> str:
    return str(app.screen.query_one("#topology-capacity").render())


async def _at_topology(pilot, app):
    app.session.set("disk", NVME0)
    await goto(pilot, "topology")


async def test_capacity_follows_layout_and_disks(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await _at_topology(pilot, app)
        one = size_text(TB - ZFS_START_BYTES)
        assert f"Usable: about {one} (single; approximate" in _capacity(app)
        await pilot.press("down")  # mirror, no second disk yet
        assert "mirror needs 2 or more disks" in _capacity(app)
        await pilot.press("tab", "space")  # first other disk as data disk
        assert f"Usable: about {one} (mirror;" in _capacity(app)
        await pilot.press("shift+tab", "down")  # raidz1 with two disks: not enough
        assert "raidz1 needs 3 or more disks" in _capacity(app)
        await pilot.press("tab", "tab", "space")  # second data disk
        assert f"about {size_text(2 * (TB - ZFS_START_BYTES))} (raidz1;" in _capacity(app)


async def test_a_layout_without_enough_disks_is_refused_by_the_rules(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await _at_topology(pilot, app)
        await pilot.press("down", "ctrl+n")
        assert app.screen.STEP == "topology"
        assert "mirror needs at least 2 disks in all" in status_text(pilot)


async def test_one_special_disk_under_a_mirror_is_refused(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await _at_topology(pilot, app)
        await pilot.press("down", "tab", "space")  # mirror with nvme1n1
        app.screen.query_one("#special-nvme2n1").focus()
        await pilot.press("space", "ctrl+n")
        assert app.screen.STEP == "topology"
        assert "one special disk under a redundant mirror pool" in status_text(pilot)


async def test_the_same_disk_as_data_and_special_is_refused(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await _at_topology(pilot, app)
        await pilot.press("down", "tab", "space")
        app.screen.query_one("#special-nvme1n1").focus()
        await pilot.press("space", "ctrl+n")
        assert "is listed twice" in status_text(pilot)


async def test_encryption_needs_a_passphrase_typed_twice(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await _at_topology(pilot, app)
        app.screen.query_one("#tick-zfs_encrypt").focus()
        await pilot.press("space")
        assert app.session.values["zfs_encrypt"] is True
        await pilot.press("ctrl+n")
        assert "encryption is on: type the passphrase" in status_text(pilot)
        await fill(pilot, "zfs_passphrase", "short")
        assert "the passphrase has 5 characters; use at least 8" in field_message(
            pilot, "zfs_passphrase")
        await pilot.press("ctrl+n")
        assert "Passphrase: the passphrase has 5 characters" in status_text(pilot)
        await fill(pilot, "zfs_passphrase", "correct horse")
        await fill(pilot, "zfs_passphrase_confirm", "correct horsf")
        assert "does not match" in field_message(pilot, "zfs_passphrase_confirm")
        await pilot.press("ctrl+n")
        assert app.screen.STEP == "topology"
        await fill(pilot, "zfs_passphrase_confirm", "correct horse")
        await pilot.press("ctrl+n")
        assert app.screen.STEP == "network"
        assert app.session.values["zfs_passphrase"].get_secret_value() == "correct horse"


async def test_turning_encryption_off_drops_the_passphrase_but_keeps_the_text(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await _at_topology(pilot, app)
        app.screen.query_one("#tick-zfs_encrypt").focus()
        await pilot.press("space")
        await fill(pilot, "zfs_passphrase", "correct horse")
        app.screen.query_one("#tick-zfs_encrypt").focus()
        await pilot.press("space")
        assert app.session.values["zfs_passphrase"].get_secret_value() == ""
        assert app.screen.query_one("#input-zfs_passphrase").value == "correct horse"
        await pilot.press("space")
        assert app.session.values["zfs_passphrase"].get_secret_value() == "correct horse"


async def test_values_survive_back_and_forth(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await _at_topology(pilot, app)
        await pilot.press("down", "down", "tab", "space", "tab", "space", "ctrl+n")
        assert app.screen.STEP == "network"
        await pilot.press("escape")
        assert app.screen.STEP == "topology"
        assert app.screen.query_one("#choice-zfs_topology").value == "raidz1"
        assert app.screen.query_one("#data-nvme1n1").value
        assert app.screen.query_one("#data-nvme2n1").value
        assert "raidz1;" in screen_text(app)


async def test_choosing_another_target_removes_it_from_the_data_disks(make_app):
    app = make_app(seed=True)  # raidz1 on nvme0n1 + nvme1n1 + nvme2n1
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "disks")
        await pilot.press("down", "enter")  # nvme1n1 becomes the target
        assert app.screen.STEP == "topology"
        data = app.session.values["zfs_data_disks"]
        assert all("S5GXNF0R123457B" not in d for d in data)
        assert not app.screen.query("#data-nvme1n1")
