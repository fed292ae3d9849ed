"""The Textual app: the steps in order, quitting safely, and worker errors shown.

`build_app` is the one factory: `kldload-tui` (through `kldload_tui.tui`) and
the tests build the same app with it, so the tests run what operators run.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import events, messages
from textual.app import App
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.widgets import Input
from textual.worker import Worker, WorkerState

from kldload_tui import exitcodes
from kldload_tui.backend.answers.model import Answers
from kldload_tui.backend.engine.live_medium import darksite_path
from kldload_tui.backend.machine.model import Machine
from kldload_tui.backend.session import Prefill, RemoteAccess, Session
from kldload_tui.screens.base import StepScreen
from kldload_tui.screens.dialogs import ConfirmQuit, ErrorDialog
from kldload_tui.screens.disks import DisksScreen
from kldload_tui.screens.distro import DistroScreen
from kldload_tui.screens.export import ExportScreen
from kldload_tui.screens.features import FeaturesScreen
from kldload_tui.screens.identity import IdentityScreen
from kldload_tui.screens.network import NetworkScreen
from kldload_tui.screens.progress import ProgressScreen
from kldload_tui.screens.review import ReviewScreen
from kldload_tui.screens.topology import TopologyScreen
from kldload_tui.screens.welcome import WelcomeScreen

STEPS: tuple[type[StepScreen], ...] = (
    WelcomeScreen, DistroScreen, DisksScreen, TopologyScreen, NetworkScreen,
    IdentityScreen, FeaturesScreen, ExportScreen, ReviewScreen,
)


class PlainScrollBarRender(ScrollBarRender):
    """Scrollbars without the eighth-block glyphs the Linux console cannot draw:
    the thumb is reverse video, which also shows without colour."""

    VERTICAL_BARS: ClassVar[list[str]] = [" "] * 8
    HORIZONTAL_BARS: ClassVar[list[str]] = [" "] * 8


class KldloadApp(App[int]):
    """kldload's installer: the steps, then the install, keyboard only."""

    TITLE = "kldload"
    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = False
    # Screens get `-wide` from 110 columns: two columns where 80 has one (120x40 layout).
    # Not ClassVar-annotated: Textual's own annotation makes mypy see an instance variable.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]  # noqa: RUF012
    BINDINGS: ClassVar[list[BindingType]] = [
        # ctrl+c too: on a console it is what people press to get out, and
        # ctrl+q (XON) may never arrive over a serial line with flow control.
        Binding("ctrl+q", "request_quit", "Quit", priority=True),
        Binding("ctrl+c", "request_quit", "Quit", show=False, priority=True),
    ]

    installing: reactive[bool] = reactive(False)

    def __init__(self, session: Session, *, ascii_borders: bool = False,
                 cursor_blink: bool = True) -> None:
        super().__init__()
        self.session = session
        self.ascii_borders = ascii_borders
        self.cursor_blink = cursor_blink
        self.install_outcome: bool | None = None
        self._quit_after_stop = False
        # The documented way to change how scrollbars draw (textual.scrollbar).
        ScrollBar.renderer = PlainScrollBarRender

    def on_mount(self) -> None:
        if self.ascii_borders:
            self.add_class("-ascii")
        titles = [s.TITLE for s in STEPS]
        for index, step in enumerate(STEPS, start=1):
            following = titles[index] if index < len(STEPS) else "Install"
            self.install_screen(step(self.session, index, len(STEPS), following), step.STEP)
        self.push_screen(STEPS[0].STEP)

    # Moving between steps --------------------------------------------------------

    def on_step_screen_navigate(self, event: StepScreen.Navigate) -> None:
        names = [s.STEP for s in STEPS]
        at = names.index(event.step_screen.STEP) + event.step
        if 0 <= at < len(names):
            self.switch_screen(names[at])

    def goto(self, step: str) -> None:
        """Show a step by name (tests, and the review's edit keys)."""
        self.switch_screen(step)

    def on_review_screen_install_requested(self, event: ReviewScreen.InstallRequested) -> None:
        """Leave the questions for the progress screen; the install starts there."""
        self.push_screen(ProgressScreen(self.session, event.answers))

    def on_progress_screen_state_changed(self, event: ProgressScreen.StateChanged) -> None:
        self.installing = event.state in ("running", "stopping")
        if event.ok is not None:
            self.install_outcome = event.ok
            if self._quit_after_stop:
                self.exit(return_code=self.exit_status())

    # Quitting ---------------------------------------------------------------------

    def action_request_quit(self) -> None:
        """Ask before quitting; during an install, quitting stops it between phases."""
        if isinstance(self.screen, ConfirmQuit):
            return
        self.push_screen(ConfirmQuit(installing=self.installing,
                                     installed=self.install_outcome is True),
                         self._quit_answered)

    def _quit_answered(self, confirmed: bool | None) -> None:
        if not confirmed:
            return
        screen = self.screen
        if self.installing and isinstance(screen, ProgressScreen):
            # The worker thread would outlive the app (textual#3966): stop it
            # first, and quit once the engine has torn down (state changes).
            self._quit_after_stop = True
            screen.stop()
            return
        self.exit(return_code=self.exit_status())

    def on_exit_app(self, event: messages.ExitApp) -> None:
        """An exit asked from outside during an install lets the install run to its
        end, then quits. textual-serve asks it when the browser leaves (a closed tab,
        a dropped connection) or the server stops: nobody chose to stop the install,
        which was confirmed, and a machine left half-installed by a network blip is
        worse than one that finishes unwatched (the log and the manifest say how it
        went). Ending the process instead would cut the engine off mid-phase."""
        if not self.installing:
            return
        event.prevent_default()
        self._quit_after_stop = True

    def exit_status(self) -> int:
        """0 unless an install was tried and failed."""
        return exitcodes.INVALID if self.install_outcome is False else exitcodes.OK

    # Every worker's errors end up in front of the operator ---------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker outcomes arrive (workers are the app's): an error
        becomes a dialog, and the progress screen hears how its install went."""
        if event.state is WorkerState.ERROR:
            error = event.worker.error
            self.push_screen(ErrorDialog(
                f"{event.worker.name or 'a background task'} failed",
                f"{type(error).__name__}: {error}",
                log_path=self.session.log_path))
        for screen in self.screen_stack:
            if isinstance(screen, ProgressScreen):
                screen.worker_changed(event.worker)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        # Input has no app-wide switch for blinking; snapshots need it off.
        if not self.cursor_blink and isinstance(event.widget, Input):
            event.widget.cursor_blink = False


def build_app(*, machine: Machine, answers: Answers | Prefill | None = None, demo: bool = False,
              dry_run: bool = False, log_path: Path | None = None, described: bool = True,
              ascii_borders: bool = False, cursor_blink: bool = True,
              animations: bool = True, remote: RemoteAccess | None = None) -> KldloadApp:
    """The app for `kldload-tui` and for the tests.

    `answers` pre-fills the steps (a file's values and problems as a `Prefill`,
    or complete `Answers`). `demo`/`dry_run` install with the recording runner.
    `described`: the machine is a description, not probed (no re-probe before
    writing). `ascii_borders` draws with `+-|` for the Linux console and serial
    terminals. `remote`: this session is served by `kldload-tui serve`; the welcome
    screen says how to connect.
    """
    prefill = Prefill.from_answers(answers) if isinstance(answers, Answers) else answers
    # A described machine is not this one: this medium's darksite says nothing about it.
    session = Session(machine, prefill, demo=demo, dry_run=dry_run, log_path=log_path,
                      described=described, remote=remote,
                      darksite=None if described else darksite_path())
    app = KldloadApp(session, ascii_borders=ascii_borders, cursor_blink=cursor_blink)
    if not animations:
        app.animation_level = "none"
    return app
