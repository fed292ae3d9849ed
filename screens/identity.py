"""Step 6: who the machine is and who logs in: names, password, keys, time zone, locale."""

from __future__ import annotations

import zoneinfo
from functools import cache

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Label, OptionList

from kldload_tui.backend.session import FieldCheck
from kldload_tui.screens.base import StepScreen
from kldload_tui.screens.form import FormField

# The list shows a few rows; typing narrows it faster than scrolling through hundreds.
MAX_ZONES_SHOWN = 50


@cache
def all_timezones() -> tuple[str, ...]:
    """The time zone database's names, sorted (read once: the scan takes a moment)."""
    return tuple(sorted(zoneinfo.available_timezones()))


def matching_timezones(text: str) -> list[str]:
    """Zones whose name contains `text` (case-insensitive; `_` and space alike)."""
    needle = text.strip().lower().replace(" ", "_")
    return [z for z in all_timezones() if needle in z.lower()]


class IdentityScreen(StepScreen):
    """Hostname, admin user and password (typed twice), SSH keys, time zone, locale."""

    STEP = "identity"
    TITLE = "Identity"
    CSS_PATH = "identity.tcss"
    FIELDS = ("hostname", "username", "password", "ssh_pubkey", "admin_ssh_pubkey",
              "timezone", "locale", "keyboard_layout", "keyboard_variant")

    def compose_step(self) -> ComposeResult:
        with VerticalScroll(id="identity-scroll"):
            yield self.field("hostname", "Hostname", placeholder="e.g. web-prod-01")
            yield self.field("username", "Admin user")
            yield self.field("password", "Password", password=True)
            yield self.field("password_confirm", "Again", text=self.session.text("password"),
                             password=True, check=self._check_confirm,
                             placeholder="the same password")
            yield self.field("ssh_pubkey", "User SSH key",
                             placeholder="optional: ssh-ed25519 AAAA... user@host")
            yield self.field("admin_ssh_pubkey", "Root SSH key",
                             placeholder="optional: ssh-ed25519 AAAA... ops@host")
            yield self.field("timezone", "Time zone", placeholder="type to search, e.g. vancouver")
            yield Label("", id="identity-zones-count")
            yield OptionList(id="identity-zones", compact=True)
            yield self.field("locale", "Locale")
            yield self.field("keyboard_layout", "Keyboard")
            yield self.field("keyboard_variant", "Variant", placeholder="optional, e.g. dvorak")

    _zones_shown: list[str] | None = None

    def on_mount(self) -> None:
        self._filter_zones(self.session.values["timezone"])
        self.query_one("#input-hostname").focus()

    def _check_confirm(self, raw: str) -> FieldCheck:
        if raw != self.query_one("#field-password", FormField).text:
            return FieldCheck(problem="does not match the password above; type it again")
        return FieldCheck(value=raw)

    def on_form_field_changed(self, event: FormField.Changed) -> None:
        super().on_form_field_changed(event)
        name = event.form_field.field_name
        if name == "password":
            confirm = self.query_one("#field-password_confirm", FormField)
            if confirm.text:
                confirm.check()
        elif name == "timezone":
            self._filter_zones(event.form_field.text)

    def _filter_zones(self, text: str) -> None:
        zones = matching_timezones(text)
        shown = zones[:MAX_ZONES_SHOWN]
        if shown != self._zones_shown:
            self._zones_shown = shown
            options = self.query_one(OptionList)
            options.set_options(shown)
            # Tab into the list lands on the first match, ready for Enter.
            options.highlighted = 0 if shown else None
        more = f", first {len(shown)} shown" if len(zones) > len(shown) else ""
        # One line whatever it says: no need to lay the screen out again.
        self.query_one("#identity-zones-count", Label).update(
            f"{len(zones)} zone(s) match{more}; Tab to the list, Enter picks one", layout=False)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        zone = str(event.option.prompt)
        tz_field = self.query_one("#field-timezone", FormField)
        tz_field.text = zone
        tz_field.input.focus()
