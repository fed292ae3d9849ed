"""The disks step: every disk listed, the reasons a disk cannot be chosen, the choice kept."""

from __future__ import annotations

from textual.widgets import DataTable

from kldload_tui.backend.machine.model import load_bundled_machine
from kldload_tui.screens.disks import disk_details
from tests.tui.conftest import SIZE, goto, screen_text, status_text

NVME1 = "/dev/disk/by-id/nvme-Samsung_SSD_980_PRO_1TB_S5GXNF0R123457B"


def _rows(app) -> list[list[str]]:
    table = app.screen.query_one(DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_table_lists_every_disk_with_size_model_serial_and_state(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "disks")
        rows = _rows(app)
        assert [r[1] for r in rows] == ["loop0", "nvme0n1", "nvme1n1", "nvme2n1", "sda", "sr0"]
        nvme0 = rows[1]
        assert nvme0[2:] == ["931.5 GiB", "installable", "Samsung SSD 980 PRO 1TB",
                             "S5GXNF0R123456A"]
        assert rows[4][3] == "not installable"
        # The cursor starts on the first installable disk, whose by-id is shown.
        details = str(app.screen.query_one("#disks-details").render())
        assert "by-id: /dev/disk/by-id/nvme-Samsung_SSD_980_PRO_1TB_S5GXNF0R123456A" in details


async def test_a_disk_that_cannot_be_chosen_is_refused_with_the_reason(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "disks")
        await pilot.press("down", "down", "down")  # sda, the seed stick
        details = str(app.screen.query_one("#disks-details").render())
        assert "cannot be chosen: is the seed disk (/dev/sda1)" in details
        await pilot.press("enter")
        assert app.screen.STEP == "disks"
        assert "Cannot install to /dev/sda: is the seed disk (/dev/sda1)" in status_text(pilot)
        assert "disk" not in app.session.values


async def test_next_without_a_disk_is_refused(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "disks")
        await pilot.press("ctrl+n")
        assert app.screen.STEP == "disks"
        assert "no target disk chosen" in status_text(pilot)


async def test_choosing_a_disk_keeps_its_by_id_and_back_shows_it(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "disks")
        await pilot.press("down", "enter")  # nvme1n1
        assert app.screen.STEP == "topology"
        assert app.session.values["disk"] == NVME1
        await pilot.press("escape")
        assert app.screen.STEP == "disks"
        rows = _rows(app)
        assert rows[2][0] == "*"
        assert app.screen.query_one(DataTable).cursor_row == 2


async def test_a_larger_profile_makes_a_small_disk_uninstallable(make_app):
    machine = load_bundled_machine("one-disk-vm")
    disks = [d.model_copy(update={"size_bytes": 20 * 1024**3}) if d.name == "vda" else d
             for d in machine.disks]
    app = make_app(machine.model_copy(update={"disks": disks}))
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "disks")
        assert next(r for r in _rows(app) if r[1] == "vda")[3] == "installable"
        await goto(pilot, "distro")
        await pilot.press("tab", "up")  # profile: desktop, 32 GiB or more
        await goto(pilot, "disks")
        assert next(r for r in _rows(app) if r[1] == "vda")[3] == "not installable"
        await pilot.press("down", "down")  # loop0, sr0, vda
        assert "too small: 20.0 GiB, needs at least 32.0 GiB" in screen_text(app)


async def test_a_disk_that_holds_data_says_it_will_ask(make_app):
    app = make_app("old-rpool")
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "disks")
        rows = _rows(app)
        sda = next(r for r in rows if r[1] == "sda")
        assert sda[3] == "holds data"
        machine = app.session.machine
        disk = next(d for d in machine.disks if d.name == "sda")
        text = disk_details(disk, app.session.verdicts()[disk.path], chosen=False)
        assert "member of ZFS pool 'rpool'" in text
        assert "you will be asked to type its name" in text
