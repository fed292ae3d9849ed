"""Step 4: the root pool's layout, its extra disks, encryption, and what it holds.

The usable capacity is recomputed on every change, from the smallest disk,
so an operator sees what a mirror costs before choosing it.
"""

from __future__ import annotations

import re

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Label

from kldload_tui.backend.answers.model import Topology
from kldload_tui.backend.answers.rules import MIN_DISKS
from kldload_tui.backend.machine.disks import size_text
from kldload_tui.backend.machine.model import Disk
from kldload_tui.backend.phases.storage_argv import usable_bytes
from kldload_tui.backend.session import FieldCheck
from kldload_tui.screens.base import StepScreen
from kldload_tui.screens.form import FormField
from kldload_tui.screens.widgets import ChoiceList, Plain, Tick

TOPOLOGY_TEXT = {
    Topology.SINGLE: "single: one disk, no redundancy",
    Topology.MIRROR: "mirror: 2+ disks, all copies of one another",
    Topology.RAIDZ1: "raidz1: 3+ disks, survives one failure",
    Topology.MIRROR_STRIPE: "mirror-stripe: 4, 6... disks, striped mirror pairs",
}


def _tick_id(prefix: str, disk: Disk) -> str:
    # Kernel names may hold characters a widget id cannot (cciss!c0d0).
    return f"{prefix}-" + re.sub(r"[^A-Za-z0-9_-]", "_", disk.name)


class TopologyScreen(StepScreen):
    """Layout, data and special disks, and native encryption with its passphrase."""

    STEP = "topology"
    TITLE = "ZFS topology"
    CSS_PATH = "topology.tcss"
    FIELDS = ("zfs_topology", "zfs_data_disks", "zfs_special_disks", "zfs_encrypt",
              "zfs_passphrase")

    usable: reactive[int | None] = reactive(None, init=False)

    def compose_step(self) -> ComposeResult:
        values = self.session.values
        yield Plain("", id="topology-capacity")
        # Two columns side by side on a wide terminal (`-wide`), one under the other at 80.
        with VerticalScroll(id="topology-scroll"), Horizontal(id="topology-columns"):
            with Vertical(classes="topology-column"):
                yield Label("Layout", classes="topology-heading")
                yield ChoiceList("zfs_topology", [(t.value, TOPOLOGY_TEXT[t]) for t in Topology],
                                 values["zfs_topology"].value)
                yield Plain("", id="topology-target")
                yield Label("More data disks (mirror, raidz1, mirror-stripe)",
                            classes="topology-heading")
                yield Vertical(id="topology-data")
            with Vertical(classes="topology-column"):
                yield Label("Special vdev disks (metadata; two are mirrored)",
                            classes="topology-heading")
                yield Vertical(id="topology-special")
                yield Label("Encryption", classes="topology-heading")
                yield Tick("native ZFS encryption (passphrase at every boot)",
                           values["zfs_encrypt"], id="tick-zfs_encrypt")
                yield self.field("zfs_passphrase", "Passphrase", password=True,
                                 placeholder="8 or more characters")
                yield self.field("zfs_passphrase_confirm", "Again",
                                 text=self.session.text("zfs_passphrase"), password=True,
                                 check=self._check_confirm, placeholder="the same passphrase")

    def on_mount(self) -> None:
        self._encryption_fields()

    async def on_screen_resume(self) -> None:
        await self._fill_disks()
        self._recompute()
        self.query_one("#choice-zfs_topology").focus()

    def _check_confirm(self, raw: str) -> FieldCheck:
        if raw != self.query_one("#field-zfs_passphrase", FormField).text:
            return FieldCheck(problem="does not match the passphrase above; type it again")
        return FieldCheck(value=raw)

    # Disks ------------------------------------------------------------------------

    def candidates(self) -> list[Disk]:
        """Installable disks other than the target."""
        target = self.session.disk_named(self.session.values.get("disk"))
        return [d for d in self.session.installable_disks()
                if target is None or d.path != target.path]

    def _chosen(self, name: str) -> set[str]:
        return {disk.path for answer in self.session.values[name]
                if (disk := self.session.disk_named(answer)) is not None}

    async def _fill_disks(self) -> None:
        target = self.session.disk_named(self.session.values.get("disk"))
        self.query_one("#topology-target", Plain).update(
            f"Target: {target.name} {size_text(target.size_bytes)} {target.model or ''}"
            if target else "Target: none chosen yet (Disks step)")
        disks = self.candidates()
        for prefix, name in (("data", "zfs_data_disks"), ("special", "zfs_special_disks")):
            box = self.query_one(f"#topology-{prefix}", Vertical)
            await box.remove_children()
            chosen = self._chosen(name)
            ticks = [Tick(f"{d.name} {size_text(d.size_bytes)} {d.model or ''}".rstrip(),
                          d.path in chosen, id=_tick_id(prefix, d)) for d in disks]
            await box.mount_all(ticks or [Plain("  (no other installable disk)")])
        # Answers naming a disk that is no longer a candidate are dropped here, visibly.
        self._store_disks()

    def _store_disks(self) -> None:
        for prefix, name in (("data", "zfs_data_disks"), ("special", "zfs_special_disks")):
            picked = [self.session.answer_for(d) for d in self.candidates()
                      if self.query_one(f"#{_tick_id(prefix, d)}", Tick).value]
            self.keep(name, tuple(picked))

    def on_tick_changed(self, event: Tick.Changed) -> None:
        super().on_tick_changed(event)
        if event.tick.id == "tick-zfs_encrypt":
            self.keep("zfs_encrypt", event.value)
            self._encryption_fields()
        else:
            self._store_disks()
        self._recompute()

    def on_choice_list_changed(self, event: ChoiceList.Changed) -> None:
        super().on_choice_list_changed(event)
        self.keep(event.choice_list.field_name, event.value)
        self._recompute()

    # Encryption -------------------------------------------------------------------

    def _encryption_fields(self) -> None:
        on = bool(self.session.values["zfs_encrypt"])
        for form_field in self.query(FormField):
            form_field.disabled = not on
        passphrase = self.query_one("#field-zfs_passphrase", FormField)
        # Off: no passphrase goes into the answers; the typed text stays for turning it back on.
        self.keep("zfs_passphrase", passphrase.text if on and passphrase.check().ok else "")

    def on_form_field_changed(self, event: FormField.Changed) -> None:
        super().on_form_field_changed(event)
        if event.form_field.field_name == "zfs_passphrase":
            confirm = self.query_one("#field-zfs_passphrase_confirm", FormField)
            if confirm.text:
                confirm.check()

    def extra_problems(self) -> list[tuple[Widget | None, str]]:
        if not self.session.values["zfs_encrypt"]:
            return []
        passphrase = self.query_one("#field-zfs_passphrase", FormField)
        if not passphrase.text:
            passphrase.problem = "encryption is on: type the passphrase the pool will ask for"
            return [(passphrase, f"Passphrase: {passphrase.problem}")]
        return []

    # Capacity ---------------------------------------------------------------------

    def _recompute(self) -> None:
        target = self.session.disk_named(self.session.values.get("disk"))
        topology: Topology = self.session.values["zfs_topology"]
        data = [d for d in self.candidates() if d.path in self._chosen("zfs_data_disks")]
        disks = ([target] if target else []) + data
        if topology is Topology.SINGLE:
            disks = disks[:1]
        self.usable = usable_bytes(topology, [d.size_bytes for d in disks]) if disks else None
        # Same value, new layout: the watcher would not run, the text must still change.
        self.watch_usable(self.usable)

    def watch_usable(self, usable: int | None) -> None:
        topology: Topology = self.session.values["zfs_topology"]
        label = self.query_one("#topology-capacity", Plain)
        if usable is None:
            need = MIN_DISKS[topology]
            even = " (an even number)" if topology is Topology.MIRROR_STRIPE else ""
            label.update(f"Usable: -  ({topology.value} needs {need} or more disks{even}, "
                         "the target included)")
        else:
            label.update(f"Usable: about {size_text(usable)} ({topology.value}; approximate: "
                         "from the smallest disk, before ZFS overhead)")
