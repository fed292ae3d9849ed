"""Small widgets the step screens share, drawn so that they read on any terminal.

Selection and focus are shown with reverse video and ASCII marks (`(*)`, `[x]`),
never by colour or box glyphs alone: a serial console may have no colour
(NO_COLOR, vt100) and the Linux console font has no glyph for most of
Unicode's blocks (textual#5011).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.console import RenderableType
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static

FOCUSED = "reverse"
UNFOCUSED_CURSOR = "bold"


class Plain(Static):
    """Text shown exactly as written: `[ok]`, or a path with brackets, is not markup."""

    def __init__(self, content: RenderableType = "", *, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(content, markup=False, id=id, classes=classes)


class StepHeader(Static):
    """The top line of a step: where the operator is (`3/9 Disks`) and what comes next."""

    DEFAULT_CSS = """
    StepHeader {
        dock: top;
        height: 1;
        width: 1fr;
    }
    """

    def __init__(self, index: int, total: int, title: str, *, next_title: str | None = None,
                 demo: bool = False) -> None:
        step = f"{index}/{total} {title}" if total else title
        parts = [f"kldload  {step}"]
        if next_title:
            parts.append(f"next: {next_title}")
        if demo:
            parts.append("DEMO: nothing is executed")
        self.text = "  |  ".join(parts)
        super().__init__()

    def render(self) -> Text:
        # Reverse video across the whole line, padding included.
        return Text(f" {self.text}".ljust(self.size.width), style="reverse", no_wrap=True,
                    overflow="ellipsis")


class ChoiceList(Widget, can_focus=True):
    """A one-of-many choice where the cursor is the choice: up/down changes the value.

    Unlike a radio set there is no separate "highlighted but not chosen" state,
    which an operator cannot see without colour. `field_name` is the answers field
    it sets; its id is `choice-<field_name>` unless given.
    """

    DEFAULT_CSS = """
    ChoiceList {
        height: auto;
        width: 1fr;
        padding: 0 1;
    }
    ChoiceList:disabled {
        text-style: dim;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down,right", "move(1)", "Next choice", show=False),
        Binding("up,left", "move(-1)", "Previous choice", show=False),
        Binding("home", "move_to(0)", "First choice", show=False),
        Binding("end", "move_to(-1)", "Last choice", show=False),
    ]

    index: reactive[int] = reactive(0, init=False)

    class Changed(Message):
        """The choice changed; `value` is the chosen value."""

        def __init__(self, choice_list: ChoiceList, value: str) -> None:
            super().__init__()
            self.choice_list = choice_list
            self.value = value

        @property
        def control(self) -> ChoiceList:
            return self.choice_list

    def __init__(self, field_name: str, choices: Sequence[tuple[str, str]],
                 value: str | None = None, *, id: str | None = None,
                 disabled: bool = False) -> None:
        super().__init__(id=id or f"choice-{field_name}", disabled=disabled)
        self.field_name = field_name
        self.choices = list(choices)
        values = [v for v, _ in self.choices]
        self.set_reactive(ChoiceList.index, values.index(value) if value in values else 0)

    @property
    def value(self) -> str:
        """The chosen value."""
        return self.choices[self.index][0]

    @value.setter
    def value(self, value: str) -> None:
        self.index = [v for v, _ in self.choices].index(value)

    def validate_index(self, index: int) -> int:
        """Clamp to the choices (no wrapping: wrapping surprises on a slow link)."""
        return max(0, min(index, len(self.choices) - 1))

    def watch_index(self) -> None:
        self.post_message(self.Changed(self, self.value))

    def action_move(self, step: int) -> None:
        """Choose the next or previous value."""
        self.index += step

    def action_move_to(self, index: int) -> None:
        """Choose the first (0) or last (-1) value."""
        self.index = index if index >= 0 else len(self.choices) - 1

    def render(self) -> Text:
        # One line per choice, never wrapped: the height is the number of choices.
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, (_, label) in enumerate(self.choices):
            chosen = i == self.index
            mark = "(*)" if chosen else "( )"
            style = (FOCUSED if self.has_focus else UNFOCUSED_CURSOR) if chosen else ""
            if i:
                text.append("\n")
            text.append(f"{mark} ")
            text.append(label, style=style)
        return text

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.choices)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()


class Tick(Widget, can_focus=True):
    """An on/off switch drawn `[x] label` / `[ ] label`; space toggles it."""

    DEFAULT_CSS = """
    Tick {
        height: 1;
        width: 1fr;
        padding: 0 1;
    }
    Tick:disabled {
        text-style: dim;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "flip", "Toggle", show=False),
    ]

    value: reactive[bool] = reactive(False, init=False)

    class Changed(Message):
        """The switch was turned on or off."""

        def __init__(self, tick: Tick, value: bool) -> None:
            super().__init__()
            self.tick = tick
            self.value = value

        @property
        def control(self) -> Tick:
            return self.tick

    def __init__(self, label: str, value: bool = False, *, id: str | None = None,
                 disabled: bool = False) -> None:
        super().__init__(id=id, disabled=disabled)
        self.label = label
        self.set_reactive(Tick.value, value)

    def watch_value(self, value: bool) -> None:
        self.post_message(self.Changed(self, value))

    def action_flip(self) -> None:
        """Turn the switch over."""
        self.value = not self.value

    def render(self) -> Text:
        text = Text("[x] " if self.value else "[ ] ", no_wrap=True, overflow="ellipsis")
        text.append(self.label, style=FOCUSED if self.has_focus else "")
        return text

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()


class StatusLine(Plain):
    """Why the screen refused to go on, or a note; empty when there is nothing to say."""

    DEFAULT_CSS = """
    StatusLine {
        height: auto;
        max-height: 4;
        padding: 0 1;
        display: none;
    }
    StatusLine.-error {
        display: block;
        color: $text-error;
        text-style: bold;
    }
    StatusLine.-note {
        display: block;
    }
    """

    def show_error(self, text: str) -> None:
        """Show a refusal."""
        self.update(text)
        self.set_classes("-error")

    def show_note(self, text: str) -> None:
        """Show information that does not stop the operator."""
        self.update(text)
        self.set_classes("-note")

    def clear(self) -> None:
        """Hide the line."""
        # Called on every keystroke: an update re-lays out the screen, so skip it when idle.
        if self.has_class("-error") or self.has_class("-note"):
            self.update("")
            self.set_classes("")


class TextBar(Widget):
    """A progress bar drawn with `#` and `.`: no block glyphs, readable without colour."""

    DEFAULT_CSS = """
    TextBar {
        height: 1;
        width: 1fr;
    }
    """

    fraction: reactive[float] = reactive(0.0)

    def validate_fraction(self, fraction: float) -> float:
        return max(0.0, min(fraction, 1.0))

    def render(self) -> Text:
        percent = f" {round(self.fraction * 100):3d}%"
        width = max(self.size.width - len(percent) - 2, 1)
        done = round(width * self.fraction)
        return Text(f"[{'#' * done}{'.' * (width - done)}]{percent}")
