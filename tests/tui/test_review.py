"""The review step: the file as written, the disks wiped, saving, and typed consent."""

from __future__ import annotations

import stat

from kldload_tui.backend.answers.file import REDACTED, dump_answers, load_answers
from kldload_tui.backend.engine.core import InstallOptions, plan_install
from kldload_tui.cli import main as cli_main
from kldload_tui.screens.dialogs import ConfirmWipe, SaveAnswers
from kldload_tui.screens.progress import ProgressScreen
from kldload_tui.screens.review import HEADER
from tests.tui.conftest import SIZE, WIDE, goto, replace_text, screen_text, status_text

SDA = "/dev/disk/by-id/ata-Samsung_SSD_860_EVO_500GB_S3Z1NB0K812345L"


def _env(app) -> str:
    return str(app.screen.query_one("#review-env").render())


def _problem(app) -> str:
    return str(app.screen.query_one("#save-problem").render())


async def _save(pilot, path) -> None:
    await pilot.press("s")
    assert isinstance(pilot.app.screen, SaveAnswers)
    await replace_text(pilot, str(path))
    await pilot.press("enter")


async def test_review_shows_the_file_with_secrets_masked_and_the_disks(make_app):
    app = make_app(seed=True)
    async with app.run_test(size=WIDE) as pilot:
        await goto(pilot, "review")
        env = _env(app)
        answers = app.session.answers()
        assert env == dump_answers(answers, redact=True, header=HEADER)
        assert f"KLDLOAD_PASSWORD='{REDACTED}'" in env
        assert "Change-Me-On-First-Boot" not in screen_text(app)
        shown = screen_text(app)
        for name, serial in (("nvme0n1", "S5GXNF0R123456A"), ("nvme1n1", "S5GXNF0R123457B"),
                             ("nvme2n1", "S5GXNF0R123458C")):
            assert f"/dev/{name}  931.5 GiB  Samsung SSD 980 PRO 1TB" in shown
            assert f"/dev/disk/by-id/nvme-Samsung_SSD_980_PRO_1TB_{serial}" in shown
        assert shown.count("now: empty") == 3


async def test_enter_alone_does_not_install(make_app):
    app = make_app(seed=True)
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "review")
        await pilot.press("enter")
        assert app.screen.STEP == "review"
        assert "Press ctrl+n to install" in status_text(pilot)


async def test_saved_file_has_the_secrets_mode_0600_and_validates(make_app, tmp_path):
    app = make_app(seed=True)
    path = tmp_path / "saved.env"
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "review")
        await _save(pilot, path)
        assert app.screen.STEP == "review"
        assert app.session.saved_to == path
        assert str(app.screen.query_one("#review-saved").render()) == (
            f"Saved to {path} (mode 0600)")
        answers = app.session.answers()
        # Changed afterwards: the screen says the file is behind.
        app.session.set("hostname", "other-01")
        await goto(pilot, "identity")
        await goto(pilot, "review")
        assert str(app.screen.query_one("#review-saved").render()).startswith(
            "Changed since saved to")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "KLDLOAD_PASSWORD=Change-Me-On-First-Boot" in text
    assert text == dump_answers(answers, header=HEADER)
    assert cli_main(["validate", "--quiet", str(path)]) == 0
    loaded = load_answers(path)
    assert loaded.answers == answers
    options = InstallOptions(dry_run=True)
    machine = app.session.machine
    assert (plan_install(loaded.answers, machine, options=options).plan
            == plan_install(answers, machine, options=options).plan)


async def test_saving_over_a_file_asks_first_and_errors_are_shown(make_app, tmp_path):
    app = make_app(seed=True)
    existing = tmp_path / "answers.env"
    existing.write_text("old\n")
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "review")
        await _save(pilot, tmp_path)
        assert "is a directory" in _problem(app)
        await replace_text(pilot, str(tmp_path / "no" / "such" / "a.env"))
        await pilot.press("enter")
        assert "cannot write" in _problem(app)
        await replace_text(pilot, str(existing))
        await pilot.press("enter")
        assert "exists: press Enter again to replace it" in _problem(app)
        assert existing.read_text() == "old\n"
        await pilot.press("enter")
        assert app.screen.STEP == "review"
    assert existing.read_text().startswith("# answers.env written by kldload-tui")


async def test_escape_closes_the_save_dialog_without_saving(make_app, tmp_path):
    app = make_app(seed=True)
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "review")
        await pilot.press("s", "escape")
        assert app.screen.STEP == "review"
        assert app.session.saved_to is None


async def _old_rpool_review(pilot):
    app = pilot.app
    app.session.set("distro", "debian")
    app.session.set("hostname", "ws-01")
    app.session.set("disk", SDA)
    await goto(pilot, "review")


async def test_a_disk_that_holds_data_needs_its_name_typed(make_app):
    app = make_app("old-rpool")
    async with app.run_test(size=SIZE) as pilot:
        await _old_rpool_review(pilot)
        assert "now: gpt partition table" in screen_text(app)
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, ConfirmWipe)
        assert "member of ZFS pool" in screen_text(app)
        await pilot.press(*"sdb", "enter")
        assert isinstance(app.screen, ConfirmWipe)
        assert "sdb is not sda" in screen_text(app)
        await pilot.press("escape")
        assert app.screen.STEP == "review"
        assert "Not installing: /dev/sda was not confirmed" in status_text(pilot)
        assert not app.session.consent_to_wipe
        await pilot.press("ctrl+n")
        await pilot.press(*"sda", "enter")
        assert isinstance(app.screen, ProgressScreen)
        assert app.session.consent_to_wipe
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen.state == "complete"


async def test_an_install_the_rules_refuse_does_not_start(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        app.session.set("distro", "debian")
        app.session.set("hostname", "web-01")
        app.session.set("disk", "/dev/sda")  # the seed stick
        await goto(pilot, "review")
        assert "cannot be installed to: is the seed disk" in screen_text(app)
        await pilot.press("ctrl+n")
        assert app.screen.STEP == "review"
        assert status_text(pilot).startswith("Cannot install: /dev/sda cannot be installed to")


async def test_missing_answers_are_named(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "review")
        assert status_text(pilot) == (
            "Not complete: no distro (Distribution step), no disk (Disks step), "
            "no hostname (Identity step); Esc goes back")
