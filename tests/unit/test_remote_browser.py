"""The browser part of `serve`, piece by piece: the session's command and size, the
connect details handed to it, and what the console shows at start."""

from pathlib import Path

from kldload_tui.backend.session import RemoteAccess
from kldload_tui.commands.serve import start_lines
from kldload_tui.remote.access import (
    ENV_TOKEN,
    ENV_URL,
    WEB_DRIVER,
    access_env,
    access_from_env,
    in_browser,
)
from kldload_tui.remote.auth import host_allowed
from kldload_tui.remote.browser import session_size, tui_argv

TOKEN = "Zy9OQ1a-CBtmkcj_VeKKFA"


def test_a_session_runs_kldload_tui_with_the_servers_options():
    argv = tui_argv(machine="server-3nvme-usb-seed", dry_run=True, log_path=Path("/tmp/i.log"))
    assert argv[1:] == ["-m", "kldload_tui", "--machine", "server-3nvme-usb-seed", "--dry-run",
                        "--log", "/tmp/i.log"]
    assert tui_argv(machine=None, dry_run=False, log_path=None)[1:] == ["-m", "kldload_tui"]


def test_the_session_size_is_read_behind_the_token_textual_js_puts_first():
    # textual.js appends "?width=..&height=.." to the URL the page gives it.
    assert session_size(f"/tui?token={TOKEN}&?width=132&height=43") == (132, 43)
    assert session_size("/tui?width=100&height=30") == (100, 30)
    assert session_size("/tui") == (80, 24)
    assert session_size("/tui?width=99999&height=-3") == (500, 10)
    assert session_size("/tui?width=wide") == (80, 24)


def test_connect_details_travel_in_the_environment_and_back():
    access = RemoteAccess("http://10.0.1.50:8080/", TOKEN)
    env = access_env(access)
    assert env == {ENV_URL: "http://10.0.1.50:8080/", ENV_TOKEN: TOKEN}
    assert access_from_env(env) == access
    assert access_from_env(access_env(RemoteAccess("http://h:1/", None))) == \
        RemoteAccess("http://h:1/", None)
    assert access_from_env({}) is None
    assert access.browser_url == f"http://10.0.1.50:8080/?token={TOKEN}"
    assert access.api_url == "ws://10.0.1.50:8080/ws"
    assert TOKEN not in repr(access)


def test_only_textual_serves_driver_counts_as_a_browser():
    assert in_browser({"TEXTUAL_DRIVER": WEB_DRIVER})
    assert not in_browser({})
    assert not in_browser({"TEXTUAL_DRIVER": "textual.drivers.linux_driver:LinuxDriver"})


def test_a_browser_may_use_an_ip_address_localhost_or_our_name():
    names = frozenset({"localhost", "live", "live.local"})
    assert all(host_allowed(h, names) for h in ("10.0.1.50:8080", "[::1]:8080", "localhost:80",
                                                "live.local:8080", "LIVE:8080"))
    assert not any(host_allowed(h, names) for h in (None, "", "evil.example:8080",
                                                    "live.evil.example", "a b"))


def test_the_start_lines_give_the_browser_url_with_the_token():
    lines = start_lines([("127.0.0.1", 8080)], token=TOKEN, token_source="generated",
                        dry_run=False, machine=None)
    assert lines == [
        "kldload-tui serve: listening on ws://127.0.0.1:8080/ws (API) and "
        "http://127.0.0.1:8080/ (TUI)",
        f"kldload-tui serve: token {TOKEN} (send 'Authorization: Bearer TOKEN', or add "
        "?token=TOKEN to the URL)",
        f"kldload-tui serve: in a browser: http://127.0.0.1:8080/?token={TOKEN}",
    ]
    # Every interface: no address a browser could open, so no such line.
    assert len(start_lines([("0.0.0.0", 8080)], token=TOKEN, token_source="generated",
                           dry_run=False, machine=None)) == 2
    # A token from a file is not printed, so neither is a URL holding it.
    assert not any(TOKEN in line for line in start_lines(
        [("127.0.0.1", 8080)], token=TOKEN, token_source="/etc/kldload/token", dry_run=False,
        machine=None))
