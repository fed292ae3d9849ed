"""A labelled text field for one answer, checked by the answers model as it is typed."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Input, Label

from kldload_tui.backend.session import FieldCheck, check_value
from kldload_tui.screens.widgets import Plain

Checker = Callable[[str], FieldCheck]


class SecretInput(Input):
    """A password input masked with `*`: the bullet Textual uses is not on every
    serial terminal's character set."""

    @property
    def _value(self) -> Text:
        # Input draws its value through this property; only the mask character differs.
        return Text("*" * len(self.value), no_wrap=True, overflow="ignore", end="")


class FormField(Widget):
    """A labelled text input for one answers field, with its problem shown beside it.

    The value is checked by the answers model on every keystroke (`check_value`,
    or `check` for fields such as a confirmation that are not answers).
    """

    DEFAULT_CSS = """
    FormField {
        height: auto;
        width: 1fr;
    }
    FormField > Horizontal {
        height: auto;
    }
    FormField > Horizontal > .field-label {
        width: 16;
        padding: 0 1 0 0;
        text-align: right;
    }
    FormField > Horizontal > Input {
        width: 1fr;
    }
    /* Brackets show where a field is, and reverse video which one has the
       cursor, on any terminal: colour or not, Unicode or not. */
    FormField > Horizontal > .bracket {
        width: 1;
        padding: 0;
    }
    FormField > Horizontal > .bracket-right {
        margin: 0 1 0 0;
    }
    FormField.-focused > Horizontal > .field-label {
        text-style: reverse;
    }
    FormField:disabled > Horizontal > Label {
        text-style: dim;
    }
    FormField > .field-message {
        display: none;
        margin: 0 0 0 16;
        padding: 0 1;
    }
    FormField.-invalid > .field-message {
        display: block;
        color: $text-error;
    }
    FormField.-warning > .field-message {
        display: block;
        color: $text-warning;
    }
    """

    problem: reactive[str | None] = reactive(None, init=False)
    warning: reactive[str | None] = reactive(None, init=False)

    class Changed(Message):
        """The text changed; `check` says whether the answers model accepts it."""

        def __init__(self, form_field: FormField, check: FieldCheck) -> None:
            super().__init__()
            self.form_field = form_field
            self.check = check

        @property
        def control(self) -> FormField:
            return self.form_field

    def __init__(self, name: str, label: str, value: str = "", *, password: bool = False,
                 placeholder: str = "", check: Checker | None = None, id: str | None = None,
                 disabled: bool = False) -> None:
        super().__init__(id=id or f"field-{name}", disabled=disabled)
        self.field_name = name
        self.label = label
        self._initial = value
        self._password = password
        self._placeholder = placeholder
        self._check: Checker = check or (lambda raw: check_value(name, raw))

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label(self.label, classes="field-label")
            yield Label("[", classes="bracket", markup=False)
            # Compact: one line per field, so a whole step fits in 80x24.
            kind = SecretInput if self._password else Input
            yield kind(self._initial, password=self._password, placeholder=self._placeholder,
                       id=f"input-{self.field_name}", compact=True)
            yield Label("]", classes="bracket bracket-right", markup=False)
        yield Plain("", classes="field-message")

    def on_mount(self) -> None:
        if self._initial:
            # A value from an answers file the model refused shows its problem at once.
            self.check()

    @property
    def input(self) -> Input:
        """The text input inside."""
        return self.query_one(Input)

    @property
    def text(self) -> str:
        """What the operator typed."""
        return self.input.value

    @text.setter
    def text(self, value: str) -> None:
        self.input.value = value

    def check(self) -> FieldCheck:
        """Check the current text and show the outcome beside the field."""
        checked = self._check(self.text)
        self.problem = checked.problem
        return checked

    # A class rather than :focus-within, whose restyle does not reach the label
    # when focus leaves (the label stayed reversed on the field left behind).
    def on_descendant_focus(self) -> None:
        self.add_class("-focused")

    def on_descendant_blur(self) -> None:
        self.remove_class("-focused")

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        checked = self.check()
        self.post_message(self.Changed(self, checked))

    def watch_problem(self) -> None:
        self._show()

    def watch_warning(self) -> None:
        self._show()

    def _show(self) -> None:
        message = self.query_one(".field-message", Plain)
        if self.problem:
            message.update(f"! {self.problem}")
        elif self.warning:
            message.update(f"warning: {self.warning}")
        else:
            message.update("")
        self.set_class(bool(self.problem), "-invalid")
        self.set_class(not self.problem and bool(self.warning), "-warning")
