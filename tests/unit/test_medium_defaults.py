"""What the live medium's darksite preselects: the suite that installs offline."""

from __future__ import annotations

from pathlib import Path

from kldload_tui.backend.answers.model import DebianSuite
from kldload_tui.backend.distros import medium_defaults
from kldload_tui.backend.machine.model import load_bundled_machine
from kldload_tui.backend.session import Prefill, Session


def _darksite(root: Path, *suites: str) -> Path:
    for suite in suites:
        (root / "dists" / suite / "main" / "binary-amd64").mkdir(parents=True)
        (root / "dists" / suite / "Release").write_text(f"Suite: {suite}\n")
    return root


def test_a_bookworm_darksite_preselects_bookworm_and_answers_still_win(tmp_path: Path):
    darksite = _darksite(tmp_path / "darksite", "bookworm")
    machine = load_bundled_machine("one-disk-vm")
    assert Session(machine).values["debian_suite"] is DebianSuite.TRIXIE  # the model's
    assert Session(machine, darksite=darksite).values["debian_suite"] is DebianSuite.BOOKWORM
    chosen = Prefill.from_text("KLDLOAD_DEBIAN_SUITE=trixie\n", "answers.env")
    assert (Session(machine, chosen, darksite=darksite).values["debian_suite"]
            is DebianSuite.TRIXIE)


def test_nothing_is_preselected_unless_the_darksite_says_one_known_suite(tmp_path: Path):
    assert medium_defaults(None) == {}
    assert medium_defaults(tmp_path / "no-such-medium") == {}
    assert medium_defaults(_darksite(tmp_path / "two", "bookworm", "trixie")) == {}
    assert medium_defaults(_darksite(tmp_path / "future", "forky")) == {}
    assert medium_defaults(_darksite(tmp_path / "one", "trixie")) == {
        "debian_suite": DebianSuite.TRIXIE}
