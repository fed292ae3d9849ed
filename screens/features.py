"""Step 7: optional software: virtualisation, eBPF, AI, NVIDIA, WireGuard, packages."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Label

from kldload_tui.screens.base import StepScreen
from kldload_tui.screens.widgets import Tick

FEATURES: tuple[tuple[str, str], ...] = (
    ("enable_kvm", "KVM: libvirt and QEMU/KVM for virtual machines"),
    ("enable_ebpf", "eBPF: bcc and bpftrace for tracing"),
    ("enable_ai", "AI: the AI/ML stack"),
    ("nvidia_drivers", "NVIDIA: the proprietary drivers"),
    ("wireguard", "WireGuard: configure a WireGuard interface"),
)


class FeaturesScreen(StepScreen):
    """Switches for the optional stacks, and extra packages by name."""

    STEP = "features"
    TITLE = "Features"
    CSS_PATH = "features.tcss"
    FIELDS = (*(name for name, _ in FEATURES), "extra_packages")

    def compose_step(self) -> ComposeResult:
        values = self.session.values
        with VerticalScroll(id="features-scroll"):
            yield Label("Space turns a feature on or off.", id="features-help")
            for name, label in FEATURES:
                yield Tick(label, values[name], id=f"tick-{name}")
            yield self.field("extra_packages", "Packages", placeholder="optional, e.g. htop tmux")

    def on_mount(self) -> None:
        self.query_one(Tick).focus()

    def on_tick_changed(self, event: Tick.Changed) -> None:
        super().on_tick_changed(event)
        self.keep((event.tick.id or "").removeprefix("tick-"), event.value)
