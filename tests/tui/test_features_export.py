"""Features and export steps."""

from __future__ import annotations

from kldload_tui.backend.answers.model import ExportFormat, FinishAction
from tests.tui.conftest import SIZE, field_message, fill, goto, status_text


async def test_features_are_switched_with_space_and_kept(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "features")
        await pilot.press("space", "tab", "space", "tab", "tab", "tab", "space")
        v = app.session.values
        assert (v["enable_kvm"], v["enable_ebpf"], v["enable_ai"], v["nvidia_drivers"],
                v["wireguard"]) == (True, True, False, False, True)
        await pilot.press("escape")
        await goto(pilot, "features")
        assert app.screen.query_one("#tick-enable_kvm").value


async def test_extra_packages_are_checked(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "features")
        await fill(pilot, "extra_packages", "htop -oops")
        assert "'-oops' is an option, not a package name" in field_message(pilot, "extra_packages")
        await pilot.press("enter")
        assert app.screen.STEP == "features"
        assert "Packages: '-oops' is an option, not a package name" in status_text(pilot)
        await fill(pilot, "extra_packages", "htop, tmux")
        await pilot.press("enter")
        assert app.screen.STEP == "export"
        assert app.session.values["extra_packages"] == ("htop", "tmux")


async def test_no_export_leaves_scp_off(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "export")
        assert app.screen.query_one("#field-export_scp_host").disabled
        await pilot.press("tab", "down")  # finish: reboot
        assert app.session.values["finish_action"] is FinishAction.REBOOT
        await pilot.press("ctrl+n")
        assert app.screen.STEP == "review"


async def test_export_with_scp_checks_host_and_paths(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "export")
        await pilot.press("down")  # qcow2
        assert app.session.values["export_format"] is ExportFormat.QCOW2
        assert not app.screen.query_one("#field-export_scp_host").disabled
        await fill(pilot, "export_scp_host", "images_example")
        assert "not a valid host name" in field_message(pilot, "export_scp_host")
        await fill(pilot, "export_scp_host", "images.example.org")
        await fill(pilot, "export_scp_key", "id_ed25519")
        assert "is not absolute" in field_message(pilot, "export_scp_key")
        await fill(pilot, "export_scp_key", "/root/.ssh/id_ed25519")
        await fill(pilot, "export_scp_path", "/srv/images/")
        await pilot.press("enter")
        assert app.screen.STEP == "review"
        v = app.session.values
        assert (v["export_scp_host"], v["export_scp_key"], v["export_scp_path"]) == (
            "images.example.org", "/root/.ssh/id_ed25519", "/srv/images/")


async def test_an_scp_password_with_a_key_is_a_warning(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "export")
        await pilot.press("down")
        await fill(pilot, "export_scp_host", "images.example.org")
        await fill(pilot, "export_scp_key", "/root/.ssh/id_ed25519")
        await fill(pilot, "export_scp_pass", "hunter22")
        await pilot.press("enter")
        assert app.screen.STEP == "review"
        await pilot.press("escape")
        assert "the key is used" in field_message(pilot, "export_scp_pass")


async def test_an_scp_password_needs_the_host_key_pinned(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "export")
        await pilot.press("down")
        await fill(pilot, "export_scp_host", "images.example.org")
        await fill(pilot, "export_scp_pass", "hunter22-long")
        await pilot.press("enter")
        assert app.screen.STEP == "export"  # an error keeps the operator here
        assert "needs the host's key pinned" in field_message(pilot, "export_scp_host_key")
        await fill(pilot, "export_scp_host_key", "SHA256:not a fingerprint")
        assert field_message(pilot, "export_scp_host_key")
        await fill(pilot, "export_scp_host_key",
                   "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s")
        await pilot.press("enter")
        assert app.screen.STEP == "review"
