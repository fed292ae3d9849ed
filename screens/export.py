"""Step 8: seal the result as a golden image and upload it, and what to do when done."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Label

from kldload_tui.backend.answers.model import ExportFormat, FinishAction
from kldload_tui.backend.session import defaults
from kldload_tui.screens.base import StepScreen
from kldload_tui.screens.form import FormField
from kldload_tui.screens.widgets import ChoiceList

FORMAT_TEXT = {
    ExportFormat.NONE: "none: install only",
    ExportFormat.QCOW2: "qcow2 (KVM, Proxmox)",
    ExportFormat.VMDK: "vmdk (VMware)",
    ExportFormat.VHD: "vhd (Hyper-V, Azure)",
    ExportFormat.OVA: "ova (VirtualBox, VMware)",
    ExportFormat.RAW: "raw (dd, cloud imports)",
}
FINISH_TEXT = {
    FinishAction.POWEROFF: "power off",
    FinishAction.REBOOT: "reboot",
    FinishAction.NONE: "stay in the live system",
}
SCP_FIELDS = ("export_scp_host", "export_scp_host_key", "export_scp_user", "export_scp_path",
              "export_scp_key", "export_scp_pass")


class ExportScreen(StepScreen):
    """Image format, SCP upload target, and the finish action."""

    STEP = "export"
    TITLE = "Export"
    CSS_PATH = "export.tcss"
    FIELDS = ("export_format", *SCP_FIELDS, "finish_action")

    def compose_step(self) -> ComposeResult:
        v = self.session.values
        with VerticalScroll(id="export-scroll"):
            with Horizontal(id="export-choices"):
                with Vertical(classes="export-column"):
                    yield Label("Golden image", classes="export-heading")
                    yield ChoiceList("export_format",
                                     [(f.value, FORMAT_TEXT[f]) for f in ExportFormat],
                                     v["export_format"].value)
                with Vertical(classes="export-column"):
                    yield Label("When done", classes="export-heading")
                    yield ChoiceList("finish_action",
                                     [(f.value, FINISH_TEXT[f]) for f in FinishAction],
                                     v["finish_action"].value)
            yield Label("Upload with scp (optional)", classes="export-heading")
            yield self.field("export_scp_host", "Host", placeholder="e.g. images.example.org")
            yield self.field("export_scp_host_key", "Host key",
                             placeholder="SHA256:... or a key line (needed with a password)")
            yield self.field("export_scp_user", "User")
            yield self.field("export_scp_path", "Path")
            yield self.field("export_scp_key", "Key file",
                             placeholder="e.g. /root/.ssh/id_ed25519 (better than a password)")
            yield self.field("export_scp_pass", "Password", password=True,
                             placeholder="only without a key file")

    def on_mount(self) -> None:
        self._scp_fields()
        self.query_one("#choice-export_format").focus()

    def on_choice_list_changed(self, event: ChoiceList.Changed) -> None:
        super().on_choice_list_changed(event)
        name = event.choice_list.field_name
        self.keep(name, event.value)
        if name == "export_format":
            self._scp_fields()

    def _scp_fields(self) -> None:
        exporting = self.session.values["export_format"] is not ExportFormat.NONE
        default = defaults()
        for form_field in self.query(FormField):
            name = form_field.field_name
            # Without an image there is nothing to upload; a value given anyway
            # (from a file) stays editable so the rule's message can point at it.
            form_field.disabled = not exporting and self.session.values[name] == default[name]
