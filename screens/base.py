"""What every step screen shares: the step line, Next/Back, and refusing to move on.

A step keeps each valid value in the session as it is typed, so Back never
loses anything and the review always shows what the screens show. Next checks
the screen's fields with the answers model and the screen's share of the
cross-field rules, and refuses with the reason beside the field and at the
bottom of the screen.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Input

from kldload_tui.backend.answers.model import Answers, field_for_key
from kldload_tui.backend.problems import Severity
from kldload_tui.backend.session import Session
from kldload_tui.screens.form import Checker, FormField
from kldload_tui.screens.widgets import ChoiceList, StatusLine, StepHeader, Tick


class StepScreen(Screen[None]):
    """A step of the install questions. Subclasses set `STEP`, `TITLE` and `FIELDS`
    and implement `compose_step`; `extra_problems` adds checks that are not answers
    (a confirmation typed twice)."""

    STEP: ClassVar[str] = ""
    TITLE: ClassVar[str] = ""
    # The answers fields this screen edits; their cross-field problems are shown here.
    FIELDS: ClassVar[tuple[str, ...]] = ()
    BINDINGS: ClassVar[list[BindingType]] = [
        # Priority: decided as the key arrives, so text typed right after Tab lands in
        # the next field even when the app is slow (type-ahead on a serial line).
        Binding("tab", "app.focus_next", "Next field", show=False, priority=True),
        Binding("shift+tab", "app.focus_previous", "Previous field", show=False,
                priority=True),
        Binding("ctrl+n", "next", "Next", priority=True),
        Binding("escape,ctrl+b", "back", "Back", priority=True),
        # Enter moves on unless the focused widget uses it (a table row, a list pick).
        Binding("enter", "next", "Next", show=False),
    ]

    class Navigate(Message):
        """The operator asked for the next (+1) or previous (-1) step."""

        def __init__(self, step_screen: StepScreen, step: int) -> None:
            super().__init__()
            self.step_screen = step_screen
            self.step = step

    def __init__(self, session: Session, index: int, total: int,
                 next_title: str | None = None) -> None:
        super().__init__()
        self.session = session
        self.index = index
        self.total = total
        self.next_title = next_title

    def compose(self) -> ComposeResult:
        yield StepHeader(self.index, self.total, self.TITLE, next_title=self.next_title,
                         demo=self.session.demo)
        with Vertical(classes="step-body"):
            yield from self.compose_step()
        yield StatusLine()
        yield Footer(compact=True)

    def compose_step(self) -> ComposeResult:
        """The widgets of this step."""
        yield from ()

    def field(self, name: str, label: str, *, text: str | None = None, password: bool = False,
              placeholder: str = "", check: Checker | None = None) -> FormField:
        """A text field for answers field `name`, starting from the session's text."""
        return FormField(name, label, self.session.text(name) if text is None else text,
                         password=password, placeholder=placeholder, check=check)

    @property
    def status(self) -> StatusLine:
        """The line that says why the screen will not move on."""
        return self.query_one(StatusLine)

    # Hooks --------------------------------------------------------------------

    def extra_problems(self) -> list[tuple[Widget | None, str]]:
        """Checks beyond the answers model, as (widget to focus, message)."""
        return []

    def widget_for(self, name: str) -> Widget | None:
        """The widget that edits answers field `name`, to show a problem beside it."""
        for widget in self.query(FormField):
            if widget.field_name == name:
                return widget
        return None

    # Keeping values ------------------------------------------------------------

    def keep(self, name: str, value: object) -> None:
        """Keep a value the operator chose (checked by the model; refused if invalid)."""
        checked = self.session.set(name, value)
        if not checked.ok:
            self.status.show_error(f"{name}: {checked.problem}")

    def on_form_field_changed(self, event: FormField.Changed) -> None:
        name = event.form_field.field_name
        if event.check.ok and name in Answers.model_fields:
            self.session.values[name] = event.check.value
        self.status.clear()

    def on_choice_list_changed(self, event: ChoiceList.Changed) -> None:
        self.status.clear()

    def on_tick_changed(self, event: Tick.Changed) -> None:
        self.status.clear()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_next()

    # Moving on -----------------------------------------------------------------

    def problems(self) -> list[tuple[Widget | None, str]]:
        """Every reason not to move on, each with the widget to focus; shows each beside
        its field and warnings too."""
        refused: list[tuple[Widget | None, str]] = []
        for form_field in self.query(FormField):
            form_field.warning = None
            if form_field.disabled:
                continue
            checked = form_field.check()
            if not checked.ok:
                refused.append((form_field, f"{form_field.label}: {checked.problem}"))
        if not refused:
            refused += self.extra_problems()
        if not refused:
            refused += self._rule_problems()
        return refused

    def _rule_problems(self) -> list[tuple[Widget | None, str]]:
        """Cross-field errors of this step's fields; warnings are shown, never refused."""
        refused: list[tuple[Widget | None, str]] = []
        for problem in self.session.problems(self.FIELDS):
            widget = self.widget_for(field_for_key(problem.key or ""))
            text = problem.message if not problem.fix else f"{problem.message}; {problem.fix}"
            if problem.severity is Severity.WARNING:
                if isinstance(widget, FormField):
                    widget.warning = text
                continue
            if isinstance(widget, FormField):
                widget.problem = text
            refused.append((widget, text))
        return refused

    def action_next(self) -> None:
        """Check the step and move on, or refuse and say why."""
        refused = self.problems()
        if refused:
            widget, first = refused[0]
            more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
            self.status.show_error(f"Cannot go on: {first}{more}")
            if widget is not None:
                target = widget.query_one(Input) if isinstance(widget, FormField) else widget
                if target.focusable:
                    target.focus()
            return
        self.status.clear()
        self.post_message(self.Navigate(self, +1))

    def action_back(self) -> None:
        """Go to the previous step; what was typed stays on this screen."""
        self.post_message(self.Navigate(self, -1))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The first step has nowhere to go back to: hide the key rather than ignore it.
        return not (action == "back" and self.index <= 1)

