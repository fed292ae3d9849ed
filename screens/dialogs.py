"""Small modal dialogs: quit, wipe a disk that holds data, save the answers, errors.

Each answers with `dismiss(...)`; the caller gets the value in its callback.
Keys only: Enter confirms, Escape cancels, and the footer says so.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label

from kldload_tui.backend.machine.targets import WipeTarget
from kldload_tui.screens.widgets import Plain

T = TypeVar("T")


class Dialog(ModalScreen[T]):
    """A framed box in the middle of the screen, with a footer of its keys."""

    CSS_PATH = "dialogs.tcss"

    def compose_box(self) -> ComposeResult:
        """The dialog's contents."""
        yield from ()

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield from self.compose_box()
        yield Footer(compact=True)


class ConfirmQuit(Dialog[bool]):
    """Quit? During an install, says what stopping means."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Quit"),
        Binding("n,escape", "answer(False)", "Stay"),
    ]

    def __init__(self, *, installing: bool, installed: bool = False) -> None:
        super().__init__()
        self.installing = installing
        self.installed = installed

    def compose_box(self) -> ComposeResult:
        if self.installing:
            yield Label("Stop the install and quit?", classes="dialog-title")
            yield Plain("The install stops after the phase that is running, unmounts and "
                        "exports the pool, then kldload-tui quits. The disks are left "
                        "partly installed; install again to use them.")
        elif self.installed:
            yield Label("Quit to the live system?", classes="dialog-title")
            yield Plain("The install is complete. The machine stays up until you reboot "
                        "or power it off.")
        else:
            yield Label("Quit kldload-tui?", classes="dialog-title")
            yield Plain("Nothing has been installed. Answers not saved from the Review "
                        "step are lost.")
        yield Plain("y: quit    n or Esc: stay", classes="dialog-keys")

    def action_answer(self, answer: bool) -> None:
        """Close with the operator's answer."""
        self.dismiss(answer)


class ConfirmWipe(Dialog[bool]):
    """Wipe a disk that holds data: only after its kernel name is typed exactly."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, target: WipeTarget) -> None:
        super().__init__()
        self.target = target

    @property
    def expected(self) -> str:
        """What must be typed: the disk's kernel name (`sda`, `nvme0n1`)."""
        return self.target.disk.name

    def compose_box(self) -> ComposeResult:
        yield Label(f"{self.target.disk.path} holds data", classes="dialog-title")
        yield Plain(self.target.describe())
        yield Plain(f"Everything on it is destroyed. Type {self.expected} and press Enter to "
                     "wipe it; Esc cancels.")
        yield Input(placeholder=self.expected, id="wipe-name")
        yield Plain("", id="wipe-problem")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip() == self.expected:
            self.dismiss(True)
            return
        self.query_one("#wipe-problem", Plain).update(
            f"! {event.value.strip() or 'nothing'} is not {self.expected}: type the disk's "
            "name exactly, or press Esc")

    def action_cancel(self) -> None:
        """Keep the disk."""
        self.dismiss(False)


class SaveAnswers(Dialog[Path | None]):
    """Ask where to save answers.env; `write` does the writing and may raise OSError."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, default: Path, write: Callable[[Path], None]) -> None:
        super().__init__()
        self.default = default
        self.write = write
        self._confirm_replace: Path | None = None

    def compose_box(self) -> ComposeResult:
        yield Label("Save the answers", classes="dialog-title")
        yield Plain("The file holds the passwords in clear and is written with mode 0600. "
                     "Enter saves; Esc cancels.")
        yield Input(str(self.default), id="save-path")
        yield Plain("", id="save-problem")

    def on_input_changed(self, event: Input.Changed) -> None:
        self._confirm_replace = None
        self.query_one("#save-problem", Plain).update("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        problem = self.query_one("#save-problem", Plain)
        text = event.value.strip()
        if not text:
            problem.update("! type a path, e.g. /root/answers.env")
            return
        path = Path(text).expanduser()
        if path.is_dir():
            problem.update(f"! {path} is a directory: add a file name, e.g. {path}/answers.env")
            return
        if path.exists() and self._confirm_replace != path:
            self._confirm_replace = path
            problem.update(f"! {path} exists: press Enter again to replace it")
            return
        try:
            self.write(path)
        except OSError as err:
            problem.update(f"! cannot write {path}: {err.strerror or err}")
            return
        self.dismiss(path)

    def action_cancel(self) -> None:
        """Close without saving."""
        self.dismiss(None)


class ErrorDialog(Dialog[None]):
    """Something failed that the operator must know about; never swallowed."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,escape", "close", "Close"),
    ]

    def __init__(self, title: str, text: str, *, log_path: Path | str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.text = text
        self.log_path = log_path

    def compose_box(self) -> ComposeResult:
        yield Label(self.title_text, classes="dialog-title")
        yield Plain(self.text)
        if self.log_path:
            yield Plain(f"log: {self.log_path}")
        yield Plain("Enter or Esc: close", classes="dialog-keys")

    def action_close(self) -> None:
        """Back to where the operator was."""
        self.dismiss(None)
