"""Secrets mask only themselves: a password that is an ordinary word leaves the
plan, the log and the events readable, and a random secret never leaks.

Secrets reach commands on stdin or as prompt answers only, so the masking is
scoped to what those commands print; these tests hold the whole install to it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from kldload_tui.backend.answers.file import load_answers
from kldload_tui.backend.engine.core import InstallOptions, run_install
from kldload_tui.backend.engine.events import EventLog
from kldload_tui.backend.engine.redact import MASK
from kldload_tui.backend.engine.runner import RecordingRunner
from kldload_tui.backend.machine.model import load_bundled_machine

ROOT = Path(__file__).parents[2]
GOLDEN = ROOT / "tests" / "golden"
# Cases that carry each kind of secret: the password, a ZFS passphrase, an scp password.
CASES = {
    "single-minimal": ("answers/single-minimal.env", "one-disk-vm"),
    "raidz1-encrypted": ("answers/raidz1-encrypted.env", "server-3nvme-usb-seed"),
    "export-ova-scp-password": ("answers/export-ova-scp-password.env", "one-disk-vm"),
}
SECRET_FIELDS = ("password", "zfs_passphrase", "export_scp_pass")


def _install(case: str, secret: str, log: Path) -> tuple[RecordingRunner, EventLog]:
    answers_file, machine = CASES[case]
    answers = load_answers(GOLDEN / answers_file).answers
    assert answers is not None
    # Every secret the case sets takes the same value; those it leaves empty stay so.
    update = {name: SecretStr(secret) for name in SECRET_FIELDS
              if getattr(answers, name).get_secret_value()}
    answers = answers.model_copy(update=update)
    runner = RecordingRunner(log_path=log)
    events = EventLog()
    options = InstallOptions(consent_to_wipe=answers.force_wipe, live_root=GOLDEN / "live-root",
                             dry_run=True)
    outcome = run_install(answers, load_bundled_machine(machine), runner=runner, sink=events,
                          options=options)
    runner.close()
    assert outcome.ok, outcome.message
    return runner, events


def _texts(runner: RecordingRunner, events: EventLog, log: Path) -> list[str]:
    return [runner.render_text(), runner.to_json(), log.read_text(),
            *(e.model_dump_json() for e in events.events)]


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("word", ["debian", "admin", "root", "a", "zfs", "rpool"])
def test_a_password_that_is_a_word_of_the_plan_masks_nothing(tmp_path: Path, case: str,
                                                               word: str) -> None:
    runner, events = _install(case, word, tmp_path / "install.log")
    for text in _texts(runner, events, tmp_path / "install.log"):
        assert MASK not in text
    # The words themselves are still where they belong.
    plan = runner.render_text()
    assert "rpool/ROOT/debian" in plan
    assert "/dev/" in plan


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tail=st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7e),
                    min_size=0, max_size=30))
def test_a_random_secret_never_reaches_the_plan_log_or_events(tmp_path: Path,
                                                               tail: str) -> None:
    # The prefix makes it a secret and not a word the plan holds anyway
    # (hypothesis soon finds "KLDLOAD_DIST" otherwise).
    secret = "s3cr3t" + tail
    for case in CASES:
        log = tmp_path / f"{case}.log"
        log.unlink(missing_ok=True)
        runner, events = _install(case, secret, log)
        for text in _texts(runner, events, log):
            assert secret not in text, case
