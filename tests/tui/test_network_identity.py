"""Network and identity steps: values checked as typed, rules on Next, Back keeps text."""

from __future__ import annotations

from kldload_tui.backend.answers.model import NetMethod
from tests.tui.conftest import SIZE, field_message, fill, goto, screen_text, status_text

KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl "
       "ops@infra")


async def _static(pilot, app):
    await goto(pilot, "network")
    await pilot.press("down")  # static
    assert app.session.values["net_method"] is NetMethod.STATIC


async def test_dhcp_leaves_the_static_fields_off(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "network")
        assert app.screen.query_one("#field-net_ip").disabled
        await pilot.press("ctrl+n")
        assert app.screen.STEP == "identity"


async def test_interfaces_are_the_machines_nics(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "network")
        await pilot.press("tab", "down")
        assert app.session.values["net_iface"] == "eno1"
        assert "eno2  3c:ec:ef:1a:2b:3d" in screen_text(app)


async def test_addresses_are_checked_as_typed(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await _static(pilot, app)
        await fill(pilot, "net_ip", "10.0.1.500")
        assert "'10.0.1.500' is not an IP address" in field_message(pilot, "net_ip")
        await fill(pilot, "net_ip", "10.0.1.50")
        assert field_message(pilot, "net_ip") == ""
        await fill(pilot, "net_prefix", "129")
        assert "129 is out of range" in field_message(pilot, "net_prefix")
        await fill(pilot, "net_dns", "1.1.1.1,dns.example")
        assert "'dns.example' is not an IP address" in field_message(pilot, "net_dns")
        await pilot.press("ctrl+n")
        assert app.screen.STEP == "network"
        assert status_text(pilot).startswith("Cannot go on: Prefix: 129 is out of range")


async def test_static_without_a_gateway_is_refused_by_the_rules(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await _static(pilot, app)
        await fill(pilot, "net_ip", "10.0.1.50")
        await pilot.press("ctrl+n")
        assert "static networking needs a gateway" in status_text(pilot)
        assert "needs a gateway" in field_message(pilot, "net_gw")


async def test_a_gateway_outside_the_network_is_refused(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await _static(pilot, app)
        await fill(pilot, "net_ip", "10.0.1.50")
        await fill(pilot, "net_gw", "10.0.2.1")
        await pilot.press("ctrl+n")
        assert "gateway 10.0.2.1 is not in 10.0.1.0/24" in status_text(pilot)


async def test_a_complete_static_setup_goes_on_and_back_keeps_it(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await _static(pilot, app)
        await fill(pilot, "net_ip", "10.0.1.50")
        await fill(pilot, "net_gw", "10.0.1.1")
        await fill(pilot, "net_dns", "10.0.1.1, 1.1.1.1")
        await pilot.press("enter")
        assert app.screen.STEP == "identity"
        assert app.session.values["net_dns"] == ("10.0.1.1", "1.1.1.1")
        await pilot.press("escape")
        assert app.screen.query_one("#input-net_gw").value == "10.0.1.1"
        assert app.screen.query_one("#choice-net_method").value == "static"


async def test_a_missing_dns_is_a_warning_not_a_refusal(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await _static(pilot, app)
        await fill(pilot, "net_ip", "10.0.1.50")
        await fill(pilot, "net_gw", "10.0.1.1")
        await pilot.press("ctrl+n")
        assert app.screen.STEP == "identity"
        await pilot.press("escape")
        assert "names will not resolve" in field_message(pilot, "net_dns")


async def test_identity_field_checks(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "identity")
        await pilot.press("ctrl+n")
        assert "Hostname: the hostname is empty" in status_text(pilot)
        await fill(pilot, "hostname", "-web")
        assert "not a valid hostname" in field_message(pilot, "hostname")
        await fill(pilot, "hostname", "web-prod-01")
        await fill(pilot, "username", "root")
        assert "'root' is a system account" in field_message(pilot, "username")
        await fill(pilot, "username", "Ops")
        assert "not a valid user name" in field_message(pilot, "username")
        await fill(pilot, "username", "ops")
        await fill(pilot, "ssh_pubkey", "ssh-ed25591 AAAA")
        assert "did you mean 'ssh-ed25519'?" in field_message(pilot, "ssh_pubkey")
        await fill(pilot, "ssh_pubkey", KEY, paste=True)
        assert field_message(pilot, "ssh_pubkey") == ""
        await fill(pilot, "locale", "english")
        assert "is not a locale name" in field_message(pilot, "locale")
        await fill(pilot, "locale", "en_CA.UTF-8")
        await fill(pilot, "keyboard_layout", "US!")
        assert "is not an XKB layout" in field_message(pilot, "keyboard_layout")
        await fill(pilot, "keyboard_layout", "us")


async def test_passwords_must_match(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "identity")
        await fill(pilot, "hostname", "web-prod-01")
        await fill(pilot, "password", "s3cret-pass")
        assert "does not match" in field_message(pilot, "password_confirm")
        await pilot.press("ctrl+n")
        assert "Again: does not match the password above" in status_text(pilot)
        await fill(pilot, "password_confirm", "s3cret-pass")
        await pilot.press("ctrl+n")
        assert app.screen.STEP == "features"
        assert app.session.values["password"].get_secret_value() == "s3cret-pass"


async def test_the_default_password_is_a_warning(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "identity")
        await fill(pilot, "hostname", "web-prod-01")
        await pilot.press("ctrl+n")
        assert app.screen.STEP == "features"
        await pilot.press("escape")
        assert "the default password is in use" in field_message(pilot, "password")


async def test_time_zone_search_and_pick(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "identity")
        await fill(pilot, "timezone", "vancouver")
        zones = app.screen.query_one("#identity-zones")
        assert [str(zones.get_option_at_index(i).prompt) for i in range(zones.option_count)] == [
            "America/Vancouver"]
        assert "is unknown" not in field_message(pilot, "timezone")
        assert "unknown time zone 'vancouver'" in field_message(pilot, "timezone")
        await pilot.press("tab", "enter")  # into the list, pick
        assert app.screen.query_one("#input-timezone").value == "America/Vancouver"
        assert app.session.values["timezone"] == "America/Vancouver"
        assert field_message(pilot, "timezone") == ""


async def test_a_misspelt_time_zone_gets_a_suggestion_and_is_refused(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, "identity")
        await fill(pilot, "hostname", "web-prod-01")
        await fill(pilot, "timezone", "Europe/Amsterdm")
        assert "did you mean 'Europe/Amsterdam'?" in field_message(pilot, "timezone")
        await pilot.press("ctrl+n")
        assert app.screen.STEP == "identity"
        assert "Time zone: unknown time zone" in status_text(pilot)
