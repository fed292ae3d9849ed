"""Step 9: the answers file as it will be written, the disks that will be wiped, save, install.

The text shown is `dump_answers` of the session's answers with the secrets
masked; the file saved is the same text with the secrets in clear (mode 0600),
so it passes `kldload-tui validate` and replays headless to the same plan.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message

from kldload_tui.backend.answers.file import dump_answers, save_answers
from kldload_tui.backend.answers.model import Answers
from kldload_tui.backend.machine.disks import size_text
from kldload_tui.backend.machine.targets import TargetCheck, WipeTarget, check_targets
from kldload_tui.backend.problems import Problem, Severity
from kldload_tui.screens.base import StepScreen
from kldload_tui.screens.dialogs import ConfirmWipe, SaveAnswers
from kldload_tui.screens.widgets import Plain

HEADER = ("answers.env written by kldload-tui",
          "check:  kldload-tui validate FILE",
          "replay: kldload-tui --headless --answers FILE")
DEFAULT_NAME = "answers.env"
# Where each required answer is asked, to send the operator back there.
ASKED_ON = {"distro": "Distribution", "disk": "Disks", "hostname": "Identity"}


def answers_text(answers: Answers, *, redact: bool) -> str:
    """answers.env as kldload-tui writes it (`redact` masks the secrets for the screen)."""
    return dump_answers(answers, redact=redact, header=HEADER)


def wipe_table(targets: list[WipeTarget]) -> Table:
    """The disks to be wiped, for people: role; device, size, model; by-id; what is on it."""
    table = Table.grid(padding=(0, 1))
    table.add_column(width=7, no_wrap=True)
    table.add_column(ratio=1)
    table.add_row(Text("Wiped:"), Text("every disk below, entirely" if targets else "none"))
    for t in targets:
        disk, verdict = t.disk, t.verdict
        now = "; ".join(verdict.contents) if verdict.contents else "empty"
        table.add_row(Text(t.role), Text(
            f"{disk.path}  {size_text(disk.size_bytes)}  {disk.model or '-'}\n"
            f"{disk.by_id or '(no by-id name)'}\nnow: {now}"))
    return table


def _render(problem: Problem) -> str:
    return problem.message if not problem.fix else f"{problem.message}; {problem.fix}"


class ReviewScreen(StepScreen):
    """Everything at once before anything is touched; save the answers, or install."""

    STEP = "review"
    TITLE = "Review"
    CSS_PATH = "review.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "install", "Install", priority=True),
        Binding("s", "save", "Save answers"),
    ]

    class InstallRequested(Message):
        """The operator confirmed: install these answers."""

        def __init__(self, answers: Answers) -> None:
            super().__init__()
            self.answers = answers

    # What was last written, to tell the operator when the file no longer matches.
    _saved_text: str | None = None

    def compose_step(self) -> ComposeResult:
        yield Plain("", id="review-wipe")
        yield Plain("", id="review-problems")
        yield Plain("", id="review-saved")
        with VerticalScroll(id="review-scroll"):
            yield Plain("", id="review-env")

    def on_screen_resume(self) -> None:
        self.refresh_review()
        self.query_one("#review-scroll").focus()

    # What is shown -----------------------------------------------------------------

    def answers(self) -> Answers | None:
        """The complete answers, or None (with the reason shown) while one is missing."""
        missing = self.session.missing()
        if missing:
            text = ", ".join(f"no {name} ({ASKED_ON.get(name, 'an earlier')} step)"
                             for name in missing)
            self.status.show_error(f"Not complete: {text}; Esc goes back")
            return None
        return self.session.answers()

    def targets(self, answers: Answers, *, consent: bool) -> TargetCheck:
        """The disks this install wipes, judged on this machine."""
        return check_targets(answers, self.session.machine,
                             consent=consent or answers.force_wipe)

    def refresh_review(self) -> None:
        """Recompute everything from the session (a step before may have changed)."""
        answers = self.answers()
        if answers is None:
            return
        check = self.targets(answers, consent=self.session.consent_to_wipe)
        self.query_one("#review-wipe", Plain).update(wipe_table(check.targets))
        problems = self.session.problems() + self.hard_problems(answers)
        text = [f"! {_render(p)}" for p in problems if p.severity is Severity.ERROR]
        text += [f"warning: {_render(p)}" for p in problems if p.severity is Severity.WARNING]
        self.query_one("#review-problems", Plain).update("\n".join(text))
        saved = self.session.saved_to
        if saved is None:
            note = "Not saved: press s to save these answers (to replay them on other machines)"
        elif self._saved_text != answers_text(answers, redact=False):
            note = f"Changed since saved to {saved}: press s to save again"
        else:
            note = f"Saved to {saved} (mode 0600)"
        self.query_one("#review-saved", Plain).update(note)
        self.query_one("#review-env", Plain).update(answers_text(answers, redact=True))

    def hard_problems(self, answers: Answers) -> list[Problem]:
        """Disk problems that no confirmation can clear (missing, in use, too small)."""
        return self.targets(answers, consent=True).problems

    # Saving -------------------------------------------------------------------------

    def action_save(self) -> None:
        """Ask for a path and write the answers there (secrets in clear, mode 0600)."""
        answers = self.answers()
        if answers is None:
            return
        default = self.session.saved_to or Path.cwd() / DEFAULT_NAME
        self.app.push_screen(SaveAnswers(default, self._writer(answers)), self._saved)

    def _writer(self, answers: Answers) -> Callable[[Path], None]:
        def write(path: Path) -> None:
            self._saved_text = save_answers(path, answers, header=HEADER)

        return write

    def _saved(self, path: Path | None) -> None:
        if path is not None:
            self.session.saved_to = path
            self.refresh_review()

    # Installing ---------------------------------------------------------------------

    def action_next(self) -> None:
        """Enter does not install: starting to wipe disks takes a deliberate key."""
        self.status.show_note("Press ctrl+n to install, s to save the answers, Esc to go back.")

    def action_install(self) -> None:
        """Install: refuse with the reason, or ask about disks that hold data, then go."""
        answers = self.answers()
        if answers is None:
            return
        errors = [p for p in self.session.problems() + self.hard_problems(answers)
                  if p.severity is Severity.ERROR]
        if errors:
            self.status.show_error(f"Cannot install: {_render(errors[0])}"
                                   + (f" (and {len(errors) - 1} more)" if len(errors) > 1
                                      else ""))
            return
        check = self.targets(answers, consent=self.session.consent_to_wipe)
        self._confirm(answers, list(check.not_empty) if check.problems else [])

    def _confirm(self, answers: Answers, pending: list[WipeTarget]) -> None:
        """One typed confirmation per disk that holds data, then the install."""
        if not pending:
            self.post_message(self.InstallRequested(answers))
            return
        target, rest = pending[0], pending[1:]

        def answered(confirmed: bool | None) -> None:
            if not confirmed:
                self.status.show_error(f"Not installing: {target.disk.path} was not confirmed")
                return
            if not rest:
                self.session.consent_to_wipe = True
            self._confirm(answers, rest)

        self.app.push_screen(ConfirmWipe(target), answered)
