"""Step 2: distribution, profile, and the release for the distributions that have one;
for RHEL, the mirror it installs from and its registration."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.events import DescendantBlur
from textual.widgets import Label
from textual.worker import Worker, WorkerState

from kldload_tui.backend.answers.model import DebianSuite, Distro, Profile
from kldload_tui.backend.answers.types import RELEASED_DISTROS
from kldload_tui.backend.engine.distro_status import NOT_SERVED, DistroStatus, proofs
from kldload_tui.backend.machine.disks import PROFILE_MIN_SIZE_BYTES, size_text
from kldload_tui.screens.base import StepScreen
from kldload_tui.screens.form import FormField
from kldload_tui.screens.widgets import ChoiceList, Plain

PROFILE_TEXT = {
    Profile.DESKTOP: "desktop  graphical",
    Profile.SERVER: "server   headless, SSH",
    Profile.CORE: "core     smallest",
}
# Shown for RHEL only: the mirror it needs (Red Hat's CDN serves registered systems
# only) and the registration at first boot.
RHEL_FIELDS = ("custom_mirror_url", "rhel_org", "rhel_activation_key")
# The status lines fit 80 columns with the screen's margins.
STATUS_WIDTH = 76


def status_text(statuses: list[DistroStatus], pending: str) -> str:
    """One line per distribution this installer serves (how far it is proven, and
    whether its repositories answer from here), then the ones it refuses: listed,
    not hidden, so the operator knows they were not forgotten. `pending`: what to
    say while the repositories are not checked."""
    lines = []
    for status in statuses:
        if not status.supported:
            continue
        if status.reachable is None:
            where = status.source or pending
        elif status.reachable:
            where = ("installs offline from this medium's darksite"
                     if status.source == "darksite" else f"packages from {status.source}")
        else:
            where = status.source
        line = f"{status.distro.value:<7} {status.proven:<14} {where}"
        lines.append(line if len(line) <= STATUS_WIDTH else line[:STATUS_WIDTH - 3] + "...")
    refused = [s.distro.value for s in statuses if not s.supported]
    if refused:
        lines.append(f"{NOT_SERVED}: {', '.join(refused)}")
    return "\n".join(lines)


class DistroScreen(StepScreen):
    """Which distribution and how much of it; Debian's suite or the EL release."""

    STEP = "distro"
    TITLE = "Distribution"
    CSS_PATH = "distro.tcss"
    FIELDS = ("distro", "profile", "debian_suite", "release", *RHEL_FIELDS)

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
                # RHEL installs from a mirror and registers at first boot (rhel.py).
                yield self.field("custom_mirror_url", "Mirror URL",
                                 placeholder="http://host/rhel9-dvd")
                yield self.field("rhel_org", "Red Hat org", placeholder="empty: no registration")
                yield self.field("rhel_activation_key", "Activation key", password=True)
        yield Label("On this machine", classes="distro-heading")
        yield Plain(status_text(self.session.distro_proofs(), self._pending()),
                    id="distro-status")

    def on_mount(self) -> None:
        self._checked_mirror = self.session.values.get("custom_mirror_url", "")
        if "distro" not in self.session.values:
            # The first choice shown is a choice made: keep it, as the screen shows it.
            self.keep("distro", self.query_one("#choice-distro", ChoiceList).value)
        self._show_release()
        self.query_one("#choice-distro").focus()
        if not self.session.described and self.session.distro_statuses is None:
            self._check()

    def _pending(self) -> str:
        if self.session.described:
            return "not checked (a described machine)"
        return "checking its repositories..."

    def _check(self) -> None:
        """Ask the repositories off the UI thread: a mirror that does not answer
        costs its timeout, and the keys keep working meanwhile."""
        self.query_one("#distro-status", Plain).update(
            status_text(proofs(), self._pending()))
        self.run_worker(self.session.check_distros, name="distro-check", group="distro-check",
                        thread=True, exclusive=True, exit_on_error=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.name != "distro-check":
            return
        out = self.query_one("#distro-status", Plain)
        if event.state is WorkerState.SUCCESS and event.worker.result is not None:
            # Only the last check's result arrives here (`exclusive` cancels the others).
            self.session.distro_statuses = event.worker.result
            out.update(status_text(event.worker.result, self._pending()))
        elif event.state is WorkerState.ERROR:
            out.update(status_text(self.session.distro_proofs(),
                                   f"not checked: {event.worker.error}"))

    def on_choice_list_changed(self, event: ChoiceList.Changed) -> None:
        super().on_choice_list_changed(event)
        name = event.choice_list.field_name
        self.keep(name, event.value)
        if name == "distro":
            self._show_release()
        elif name == "debian_suite" and not self.session.described:
            self._check()  # the darksite carries one suite: another comes from the network

    def _show_release(self) -> None:
        distro = self.session.values.get("distro")
        debian = distro is Distro.DEBIAN
        self.query_one("#suite-heading").display = debian
        self.query_one("#choice-debian_suite").display = debian
        shown = {"release": distro in RELEASED_DISTROS,
                 **{name: distro is Distro.RHEL for name in RHEL_FIELDS}}
        for name, show in shown.items():
            form_field = self.query_one(f"#field-{name}", FormField)
            form_field.display = show
            # A hidden field is not checked: its answer does not apply to this distribution.
            form_field.disabled = not show

    def on_descendant_blur(self, event: DescendantBlur) -> None:
        """A mirror typed in changes what RHEL installs from: ask again once it is left
        (not per keystroke: every check reads each distribution's repositories)."""
        if getattr(event.widget, "id", None) != "input-custom_mirror_url":
            return
        mirror = self.session.values.get("custom_mirror_url", "")
        if mirror != self._checked_mirror and not self.session.described:
            self._checked_mirror = mirror
            self._check()
