"""Step 1: what machine this is, and where the answers came from."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll

from kldload_tui.backend.machine.disks import size_text
from kldload_tui.backend.problems import Severity
from kldload_tui.backend.session import Session
from kldload_tui.screens.base import StepScreen
from kldload_tui.screens.widgets import Plain

LABEL_WIDTH = 9


def _rows(rows: list[tuple[str, str]]) -> Table:
    """Label and value columns; a long value wraps under itself, not under the label."""
    table = Table.grid(padding=(0, 1))
    table.add_column(width=LABEL_WIDTH, no_wrap=True)
    table.add_column(ratio=1)
    for label, text in rows:
        table.add_row(Text(label), Text(text))
    return table


def machine_summary(session: Session) -> Table:
    """The machine as an operator checks it before installing: firmware, disks, NICs."""
    m = session.machine
    verdicts = session.verdicts()
    installable = [d for d in m.disks if verdicts[d.path].installable]
    identity = " ".join(x for x in (m.dmi.vendor, m.dmi.product) if x) or "unknown"
    if m.dmi.serial:
        identity += f", serial {m.dmi.serial}"
    # One line per machine, not per disk: a server with twelve disks must still fit.
    disks = ", ".join(f"{d.name} {size_text(d.size_bytes)}"
                      + ("" if verdicts[d.path].installable else "*") for d in m.disks)
    nics = ", ".join(f"{n.name} {n.mac}" for n in m.nics if not n.virtual) or "none found"
    rows = [
        ("Machine", m.description or m.hostname),
        ("Hardware", identity),
        ("Firmware", "UEFI" if m.firmware == "uefi" else "BIOS (legacy)"),
        ("Disks", f"{len(m.disks)} found, {len(installable)} installable "
                  f"(* not installable: the Disks step says why)\n{disks}"),
        ("NICs", nics),
    ]
    return _rows(rows)


def answers_summary(session: Session) -> Group:
    """Where the answers came from, and what is wrong with them."""
    prefill = session.prefill
    if prefill.error is not None:
        return Group(_rows([("Answers", "none used: each step asks\n" + prefill.error)]))
    if prefill.source is None:
        return Group(_rows([("Answers", "none found: each step asks, with the defaults "
                                        "filled in")]))
    errors = [p for p in prefill.problems if p.severity is Severity.ERROR]
    state = (f"{len(errors)} problem(s): fix them on the steps (the values that were valid "
             "are filled in)" if errors else "loaded; review and adjust them on each step")
    return Group(_rows([("Answers", f"{prefill.source}\n{state}")]),
                 *(Text(f"! {p.render()}") for p in errors))


def remote_summary(session: Session) -> Table | None:
    """How to reach this installer from elsewhere, when `kldload-tui serve` runs it."""
    remote = session.remote
    if remote is None:
        return None
    if remote.token is None:
        return _rows([("Remote", f"in a browser at {remote.browser_url}, the API at "
                                 f"{remote.api_url}; no token (--no-auth)")])
    return _rows([("Remote", f"in a browser at {remote.browser_url}\nthe API at "
                             f"{remote.api_url}, token {remote.token}")])


class WelcomeScreen(StepScreen):
    """The machine summary and the seed status; Enter starts the questions."""

    STEP = "welcome"
    TITLE = "Welcome"
    CSS_PATH = "welcome.tcss"

    def compose_step(self) -> ComposeResult:
        with VerticalScroll(id="welcome-scroll"):
            yield Plain("Install Linux with ZFS on root. Each step checks its answers "
                         "before moving on; nothing is written until you confirm on Review.",
                         id="welcome-intro")
            if self.session.demo:
                yield Plain("Demo: a built-in sample machine; the install only records "
                             "what it would run.", id="welcome-demo")
            yield Plain(machine_summary(self.session), id="welcome-machine")
            yield Plain(answers_summary(self.session), id="welcome-answers")
            if (remote := remote_summary(self.session)) is not None:
                yield Plain(remote, id="welcome-remote")
            yield Plain("Press Enter (or ctrl+n) to start.", id="welcome-start")
