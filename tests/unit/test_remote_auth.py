"""Who may connect to `serve`: the token's sources and checks, and the Origin rule."""

import pytest

from kldload_tui.remote.auth import (
    TokenError,
    load_token,
    origin_allowed,
    presented_token,
    token_file_warning,
    token_matches,
)

NAMES = frozenset({"localhost", "kldload-live", "kldload-live.local"})


def test_a_token_is_generated_when_none_is_given(tmp_path):
    cmdline = tmp_path / "cmdline"
    cmdline.write_text("BOOT_IMAGE=/vmlinuz quiet\n")
    one, two = load_token(cmdline=cmdline), load_token(cmdline=cmdline)
    assert one.generated and len(one.value) >= 16 and one.value != two.value
    assert one.value not in repr(one)
    assert load_token(cmdline=tmp_path / "absent").generated


def test_the_kernel_command_line_then_the_file_win(tmp_path):
    cmdline = tmp_path / "cmdline"
    cmdline.write_text('quiet kldload.token=first-token-0123456789 "kldload.token=from-the-'
                       'kernel-0123456789" -- kldload.token=for-init-0123456789\n')
    token = load_token(cmdline=cmdline)
    assert token.value == "from-the-kernel-0123456789" and "kernel command line" in token.source
    path = tmp_path / "token"
    path.write_text("from-the-file-0123456789\n")
    path.chmod(0o600)
    assert load_token(path, cmdline=cmdline).value == "from-the-file-0123456789"
    assert token_file_warning(path) is None
    path.chmod(0o644)
    assert "chmod 600" in (token_file_warning(path) or "")


@pytest.mark.parametrize("bad", ["short", "has spaces in it 0123456789", "ünïcode-0123456789ab"])
def test_an_unusable_token_is_refused(tmp_path, bad):
    path = tmp_path / "token"
    path.write_text(bad)
    with pytest.raises(TokenError):
        load_token(path, cmdline=tmp_path / "absent")


def test_the_token_is_read_from_the_bearer_header_or_the_query():
    assert presented_token("Bearer abc", "/ws") == "abc"
    assert presented_token("bearer  abc ", "/ws") == "abc"
    assert presented_token("Basic abc", "/ws?token=q") == "q"
    assert presented_token(None, "/ws?x=1&token=q") == "q"
    assert presented_token(None, "/ws") is None
    assert token_matches("abc", "abc") and not token_matches("abd", "abc")
    assert not token_matches(None, "abc") and not token_matches("\udcff", "abc")


@pytest.mark.parametrize(("origin", "host", "ok"), [
    (None, "anything", True),  # not a browser: the token decides
    ("http://127.0.0.1:8080", "127.0.0.1:8080", True),
    ("http://[::1]:8080", "[::1]:8080", True),
    ("http://10.0.1.50:8080", "10.0.1.50:8080", True),
    ("http://localhost:8080", "localhost:8080", True),
    ("http://kldload-live.local:8080", "kldload-live.local:8080", True),
    ("https://10.0.1.50", "10.0.1.50:443", True),
    ("http://evil.example:8080", "evil.example:8080", False),  # DNS rebinding
    ("http://evil.example", "127.0.0.1:8080", False),
    ("http://127.0.0.1:8081", "127.0.0.1:8080", False),
    ("null", "127.0.0.1:8080", False),
    ("file://", "127.0.0.1:8080", False),
    ("http://127.0.0.1:99999", "127.0.0.1:99999", False),
    ("http://127.0.0.1:8080", None, False),
])
def test_a_browser_only_from_this_servers_own_address(origin, host, ok):
    assert origin_allowed(origin, host, NAMES) is ok
