"""Step 2: distribution, profile, and the release for the distributions that have one."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label

from kldload_tui.backend.answers.model import DebianSuite, Distro, Profile
from kldload_tui.backend.machine.disks import PROFILE_MIN_SIZE_BYTES, size_text
from kldload_tui.screens.base import StepScreen
from kldload_tui.screens.form import FormField
from kldload_tui.screens.widgets import ChoiceList, Plain

# Distributions whose answers say which major release (KLDLOAD_RELEASE).
RELEASED = {Distro.CENTOS, Distro.RHEL, Distro.ROCKY}
PROFILE_TEXT = {
    Profile.DESKTOP: "desktop  graphical",
    Profile.SERVER: "server   headless, SSH",
    Profile.CORE: "core     smallest",
}


class DistroScreen(StepScreen):
    """Which distribution and how much of it; Debian's suite or the EL release."""

    STEP = "distro"
    TITLE = "Distribution"
    CSS_PATH = "distro.tcss"
    FIELDS = ("distro", "profile", "debian_suite", "release")

    def compose_step(self) -> ComposeResult:
        values = self.session.values
        distro = values.get("distro") or Distro.DEBIAN
        yield Plain("Up/Down chooses, Tab moves to the next list, Enter goes on.",
                     classes="step-help")
        with Horizontal(id="distro-columns"):
            with Vertical(id="distro-left"):
                yield Label("Distribution", classes="distro-heading")
                yield ChoiceList("distro", [(d.value, d.value) for d in Distro], distro.value)
            with Vertical(id="distro-right"):
                yield Label("Profile", classes="distro-heading")
                yield ChoiceList(
                    "profile",
                    [(p.value, f"{PROFILE_TEXT[p]:<24}disk of "
                      f"{size_text(PROFILE_MIN_SIZE_BYTES[p.value])} or more") for p in Profile],
                    values["profile"].value)
                yield Label("Debian suite", classes="distro-heading", id="suite-heading")
                yield ChoiceList("debian_suite", [(s.value, s.value) for s in DebianSuite],
                                 values["debian_suite"].value)
                yield self.field("release", "Release", placeholder="e.g. 9")

    def on_mount(self) -> None:
        if "distro" not in self.session.values:
            # The first choice shown is a choice made: keep it, as the screen shows it.
            self.keep("distro", self.query_one("#choice-distro", ChoiceList).value)
        self._show_release()
        self.query_one("#choice-distro").focus()

    def on_choice_list_changed(self, event: ChoiceList.Changed) -> None:
        super().on_choice_list_changed(event)
        name = event.choice_list.field_name
        self.keep(name, event.value)
        if name == "distro":
            self._show_release()

    def _show_release(self) -> None:
        distro = self.session.values.get("distro")
        debian = distro is Distro.DEBIAN
        self.query_one("#suite-heading").display = debian
        self.query_one("#choice-debian_suite").display = debian
        release = self.query_one(FormField)
        release.display = distro in RELEASED
        # A hidden field is not checked: its answer does not apply to this distribution.
        release.disabled = distro not in RELEASED
