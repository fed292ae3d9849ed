"""Step 3: the machine's disks, and which one the system goes on.

Every disk is listed, with why it cannot be chosen when it cannot: an operator
looking for the NVMe disk at 3 AM needs to see that the USB stick is the seed,
not wonder where it went.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import DataTable

from kldload_tui.backend.machine.disks import Verdict, size_text
from kldload_tui.backend.machine.model import Disk
from kldload_tui.screens.base import StepScreen
from kldload_tui.screens.widgets import Plain

COLUMNS = ("", "Device", "Size", "State", "Model", "Serial")


def disk_state(verdict: Verdict) -> str:
    """A word or two for the table; the details line says the rest."""
    if not verdict.installable:
        return "not installable"
    return "installable" if verdict.empty else "holds data"


def disk_details(disk: Disk, verdict: Verdict, *, chosen: bool) -> str:
    """Everything about one disk: stable name, what is on it, why it cannot be used."""
    lines = [f"{disk.path}  {size_text(disk.size_bytes)}  {disk.transport or ''}".rstrip(),
             f"by-id: {disk.by_id or 'none (no stable name: the kernel name is used)'}"
             + (" (built by kldload; udev was not running)" if disk.by_id_synthesised else "")]
    lines.append("now: " + ("; ".join(verdict.contents) if verdict.contents else "empty"))
    if verdict.reasons:
        lines.append("cannot be chosen: " + "; ".join(verdict.reasons))
    elif not verdict.empty:
        lines.append("holds data: you will be asked to type its name before it is wiped")
    if chosen:
        lines.append("chosen as the target disk: the whole disk is wiped")
    return "\n".join(lines)


class DisksScreen(StepScreen):
    """Pick the target disk from a table of every disk on the machine."""

    STEP = "disks"
    TITLE = "Disks"
    CSS_PATH = "disks.tcss"
    FIELDS = ("disk",)

    def compose_step(self) -> ComposeResult:
        yield Plain("Highlight the disk to install to and press Enter. The whole disk "
                     "is wiped.", id="disks-help")
        table: DataTable[str | Text] = DataTable(id="disks-table", cursor_type="row",
                                                 zebra_stripes=False)
        yield table
        yield Plain("", id="disks-details")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label in COLUMNS:
            table.add_column(label, key=label or "mark")

    def on_screen_resume(self) -> None:
        # The profile (minimum size) may have changed on the step before.
        self._fill()
        self.query_one(DataTable).focus()

    @property
    def chosen(self) -> Disk | None:
        """The disk the answers name, if it is one of this machine's."""
        return self.session.disk_named(self.session.values.get("disk"))

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        verdicts = self.session.verdicts()
        chosen = self.chosen
        table.clear()
        cursor = 0
        first_installable: int | None = None
        for row, disk in enumerate(self.session.machine.disks):
            verdict = verdicts[disk.path]
            is_chosen = chosen is not None and disk.path == chosen.path
            if is_chosen:
                cursor = row
            if verdict.installable and first_installable is None:
                first_installable = row
            table.add_row("*" if is_chosen else " ", disk.name, size_text(disk.size_bytes),
                          disk_state(verdict), disk.model or "-", disk.serial or "-",
                          key=disk.path)
        if chosen is None and first_installable is not None:
            cursor = first_installable
        table.move_cursor(row=cursor, animate=False)
        self._details(cursor)

    def _details(self, row: int) -> None:
        disks = self.session.machine.disks
        if not 0 <= row < len(disks):
            return
        disk = disks[row]
        chosen = self.chosen
        verdict = self.session.verdicts()[disk.path]
        self.query_one("#disks-details", Plain).update(disk_details(
            disk, verdict, chosen=chosen is not None and chosen.path == disk.path))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._details(event.cursor_row)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        disk = self.session.machine.disks[event.cursor_row]
        verdict = self.session.verdicts()[disk.path]
        if not verdict.installable:
            self.status.show_error(f"Cannot install to {disk.path}: "
                                   + "; ".join(verdict.reasons))
            return
        self.keep("disk", self.session.answer_for(disk))
        self._drop_from_pool(disk)
        self._fill()
        self.action_next()

    def _drop_from_pool(self, disk: Disk) -> None:
        """The target cannot also be a data or special disk of the pool."""
        for name in ("zfs_data_disks", "zfs_special_disks"):
            kept = [d for d in self.session.values[name]
                    if (other := self.session.disk_named(d)) is None or other.path != disk.path]
            self.keep(name, tuple(kept))

    def extra_problems(self) -> list[tuple[Widget | None, str]]:
        table = self.query_one(DataTable)
        chosen = self.chosen
        if "disk" not in self.session.values:
            return [(table, "no target disk chosen: highlight a disk and press Enter")]
        if chosen is None:
            return [(table, f"{self.session.values['disk']} is not a disk of this machine: "
                            "choose one from the table")]
        verdict = self.session.verdicts()[chosen.path]
        if not verdict.installable:
            return [(table, f"{chosen.path} cannot be installed to: "
                            + "; ".join(verdict.reasons))]
        return []
