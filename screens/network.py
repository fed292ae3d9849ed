"""Step 5: how the installed system gets its network: DHCP, or static on one NIC."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Label

from kldload_tui.backend.answers.model import NetMethod
from kldload_tui.screens.base import StepScreen
from kldload_tui.screens.form import FormField
from kldload_tui.screens.widgets import ChoiceList

EVERY_INTERFACE = ""
STATIC_FIELDS = ("net_ip", "net_prefix", "net_gw", "net_dns")


class NetworkScreen(StepScreen):
    """DHCP or a static address on a chosen interface; addresses are checked as typed."""

    STEP = "network"
    TITLE = "Network"
    CSS_PATH = "network.tcss"
    FIELDS = ("net_method", "net_iface", *STATIC_FIELDS)

    def compose_step(self) -> ComposeResult:
        values = self.session.values
        nics = [n for n in self.session.machine.nics if not n.virtual]
        choices = [(EVERY_INTERFACE, "every wired interface")]
        choices += [(n.name, f"{n.name}  {n.mac}") for n in nics]
        iface = values["net_iface"]
        if iface and iface not in {n.name for n in nics}:
            # Answers written for another machine: keep the name, say it is not here.
            choices.append((iface, f"{iface}  (not found on this machine)"))
        # Choices and addresses side by side on a wide terminal (`-wide`).
        with VerticalScroll(id="network-scroll"), Horizontal(id="network-columns"):
            with Vertical(classes="network-column"):
                yield Label("Method", classes="network-heading")
                yield ChoiceList("net_method", [(m.value, m.value) for m in NetMethod],
                                 values["net_method"].value)
                yield Label("Interface", classes="network-heading")
                yield ChoiceList("net_iface", choices, iface)
            with Vertical(classes="network-column"):
                yield Label("Static addressing", classes="network-heading")
                yield self.field("net_ip", "Address", placeholder="e.g. 10.0.1.50")
                yield self.field("net_prefix", "Prefix",
                                 placeholder="e.g. 24 (netmask 255.255.255.0)")
                yield self.field("net_gw", "Gateway", placeholder="e.g. 10.0.1.1")
                yield self.field("net_dns", "DNS servers", placeholder="e.g. 10.0.1.1,1.1.1.1")

    def on_mount(self) -> None:
        self._static_fields()
        self.query_one("#choice-net_method").focus()

    def on_choice_list_changed(self, event: ChoiceList.Changed) -> None:
        super().on_choice_list_changed(event)
        name = event.choice_list.field_name
        self.keep(name, event.value)
        if name == "net_method":
            self._static_fields()

    def _static_fields(self) -> None:
        static = self.session.values["net_method"] is NetMethod.STATIC
        for form_field in self.query(FormField):
            form_field.disabled = not static
            if static:
                # Typed while disabled or kept from before: check it now.
                checked = form_field.check()
                if checked.ok:
                    self.session.values[form_field.field_name] = checked.value
