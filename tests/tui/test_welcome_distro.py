"""Welcome and distribution steps: what they show, what they refuse, Back keeps choices."""

from __future__ import annotations

from kldload_tui.app import KldloadApp
from kldload_tui.backend.answers.model import DebianSuite, Distro, Profile
from kldload_tui.backend.distros import backend_classes
from kldload_tui.backend.engine import distro_status
from kldload_tui.backend.machine.model import load_bundled_machine
from kldload_tui.backend.session import Prefill, Session
from tests.tui.conftest import (
    DEMO_MACHINE,
    SIZE,
    WIDE,
    field_message,
    fill,
    goto,
    screen_text,
    status_text,
)


def _text(app, selector: str) -> str:
    return screen_text(app) if selector else ""


async def test_welcome_summarises_the_machine_and_the_seed(make_app):
    app = make_app(seed=True)
    async with app.run_test(size=SIZE) as pilot:
        assert app.screen.STEP == "welcome"
        machine = _text(app, "#welcome-machine")
        assert "UEFI" in machine
        assert "6 found, 3 installable" in machine
        assert "eno1 3c:ec:ef:1a:2b:3c" in machine
        answers = _text(app, "#welcome-answers")
        assert "seed disk /dev/sda1 (label KLDLOADSEED, vfat" in answers
        assert "loaded" in answers
        await pilot.press("enter")
        assert app.screen.STEP == "distro"


async def test_welcome_without_answers_says_each_step_asks(make_app):
    app = make_app()
    async with app.run_test(size=SIZE):
        assert "none found" in _text(app, "#welcome-answers")


async def test_welcome_lists_the_problems_of_an_answers_file(make_app):
    text = ("KLDLOAD_DISTRO=debian\nKLDLOAD_DISK=/dev/nvme0n1\nKLDLOAD_HOSTNAME=bad_name\n"
            "KLDLOAD_NET_IP=10.0.1.500\n")
    app = make_app(answers=Prefill.from_text(text, "answers.env"))
    async with app.run_test(size=WIDE) as pilot:
        answers = _text(app, "#welcome-answers")
        assert "2 problem(s)" in answers
        assert "answers.env:3: KLDLOAD_HOSTNAME" in answers
        assert "answers.env:4: KLDLOAD_NET_IP" in answers
        # The refused text is shown in its field with the model's message, to be fixed there.
        await goto(pilot, "identity")
        assert app.screen.query_one("#input-hostname").value == "bad_name"
        assert "not a valid hostname" in field_message(pilot, "hostname")


async def test_welcome_has_no_back(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("escape")
        assert app.screen.STEP == "welcome"


async def test_distro_choices_follow_the_cursor_and_survive_back(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")
        session = app.session
        assert session.values["distro"] is Distro.DEBIAN  # what the screen shows is kept
        assert app.screen.query_one("#choice-debian_suite").display
        await pilot.press("down")  # ubuntu: no Debian suite, no release
        assert session.values["distro"] is Distro.UBUNTU
        assert not app.screen.query_one("#choice-debian_suite").display
        assert not app.screen.query_one("#field-release").display
        await pilot.press("tab", "down")  # profile: core
        assert session.values["profile"] is Profile.CORE
        await pilot.press("escape")
        assert app.screen.STEP == "welcome"
        await pilot.press("enter")
        assert app.screen.query_one("#choice-distro").value == "ubuntu"
        assert app.screen.query_one("#choice-profile").value == "core"


async def test_debian_suite_is_kept(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "distro")
        await pilot.press("tab", "tab", "down")
        assert app.session.values["debian_suite"] is DebianSuite.BOOKWORM


async def test_release_is_asked_for_el_and_checked_by_the_model(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "distro")
        await pilot.press("up")  # centos
        assert app.session.values["distro"] is Distro.CENTOS
        assert app.screen.query_one("#field-release").display
        await fill(pilot, "release", "nine")
        assert "'nine' is not a release number" in field_message(pilot, "release")
        await pilot.press("ctrl+n")
        assert app.screen.STEP == "distro"
        assert status_text(pilot).startswith("Cannot go on: Release: 'nine' is not a release")
        await fill(pilot, "release", "10")
        await pilot.press("enter")
        assert app.screen.STEP == "disks"
        assert app.session.values["release"] == "10"


async def test_rhel_asks_for_its_mirror_and_a_whole_registration(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "distro")
        rhel_fields = ("#field-custom_mirror_url", "#field-rhel_org",
                       "#field-rhel_activation_key")
        assert not any(app.screen.query_one(f).display for f in rhel_fields)  # debian
        await pilot.press("down", "down", "down")
        assert app.session.values["distro"] is Distro.RHEL
        assert all(app.screen.query_one(f).display for f in (*rhel_fields, "#field-release"))
        await fill(pilot, "custom_mirror_url", "http://10.0.0.5/rhel9-dvd")
        await fill(pilot, "rhel_org", "12345678")
        await pilot.press("ctrl+n")
        assert app.screen.STEP == "distro"
        assert "without an activation key" in status_text(pilot)
        await fill(pilot, "rhel_activation_key", "rack-7")
        # Masked on screen: the serial console's log is no place for it.
        assert "rack-7" not in screen_text(app)
        await pilot.press("ctrl+n")
        assert app.screen.STEP == "disks"
        values = app.session.values
        assert values["rhel_org"] == "12345678"
        assert values["rhel_activation_key"].get_secret_value() == "rack-7"
        assert values["custom_mirror_url"] == "http://10.0.0.5/rhel9-dvd"


async def test_a_described_machine_shows_proof_only_and_asks_no_network(make_app, monkeypatch):
    def refuse(url: str) -> str | None:
        raise AssertionError(f"a described machine asked {url}")

    monkeypatch.setattr(distro_status, "unreachable", refuse)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "distro")
        text = screen_text(app)
        assert "debian  booted here    not checked (a described machine)" in text
        assert "rocky   plan-verified  not checked (a described machine)" in text
        assert "ubuntu  plan-verified  not checked (a described machine)" in text
        for distro in backend_classes():
            assert f"{distro.value:<7} plan-verified  not checked" in text or \
                distro is Distro.DEBIAN
        refused = [d.value for d in Distro if d not in backend_classes()]
        assert (f"not installable yet: {', '.join(refused)}" in text) == bool(refused)


async def test_on_the_live_system_the_step_says_which_repositories_answer(tmp_path, monkeypatch):
    # The live medium's darksite carries bookworm; the network answers nobody here.
    darksite = tmp_path / "darksite"
    (darksite / "dists/bookworm").mkdir(parents=True)
    (darksite / "dists/bookworm/Release").write_text("Suite: bookworm\n")
    real = distro_status.unreachable
    asked: list[str] = []

    def offline(url: str) -> str | None:
        asked.append(url)
        return real(url) if url.startswith("file://") else "Name or service not known"

    monkeypatch.setattr(distro_status, "unreachable", offline)
    session = Session(load_bundled_machine(DEMO_MACHINE), demo=True, described=False,
                      darksite=darksite)
    app = KldloadApp(session, cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "distro")
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = screen_text(app)
        assert "debian  booted here    installs offline from this medium's darksite" in text
        assert "centos  plan-verified  cannot reach https://" in text
        assert f"file://{darksite}/dists/bookworm/Release" in asked
        assert [s.distro for s in session.distro_statuses or [] if s.installable_here] == [
            Distro.DEBIAN]
        # trixie is not on the medium: it would come from the network, which is not there.
        await pilot.press("tab", "tab", "up")
        assert session.values["debian_suite"] is DebianSuite.TRIXIE
        await app.workers.wait_for_complete()
        await pilot.pause()
        # (cannot reach the live system's mirror, or none known: either way, not here)
        assert "installs offline" not in screen_text(app)
        assert session.distro_statuses is not None
        assert not any(s.installable_here for s in session.distro_statuses)
