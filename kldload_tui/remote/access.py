"""How `kldload-tui serve` tells the TUI sessions it starts where they are served.

Each browser session is a `kldload-tui` process (textual-serve runs one per
browser). Its welcome screen shows the URL and token, which only the server
knows; they travel in the environment, not in argv, because every local user
can read a process's argv (`ps`) but only its owner its environment. The live
ISO's console login sets the same variables from the token `serve --token-out`
wrote, so the TUI on the console shows them too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from kldload_tui.backend.session import RemoteAccess

ENV_URL = "KLDLOAD_TUI_SERVE_URL"
ENV_TOKEN = "KLDLOAD_TUI_SERVE_TOKEN"  # "" when the server runs with --no-auth
WEB_DRIVER = "textual.drivers.web_driver:WebDriver"


def access_env(access: RemoteAccess) -> dict[str, str]:
    """The environment variables that carry `access` to a TUI session."""
    return {ENV_URL: access.url, ENV_TOKEN: access.token or ""}


def access_from_env(environ: Mapping[str, str] | None = None) -> RemoteAccess | None:
    """The access a server gave this process, or None when it was not started by one."""
    env = os.environ if environ is None else environ
    url = env.get(ENV_URL)
    if not url:
        return None
    return RemoteAccess(url, env.get(ENV_TOKEN) or None)


def in_browser(environ: Mapping[str, str] | None = None) -> bool:
    """True in a session textual-serve started: Textual draws for a browser over pipes,
    so there is no terminal, and the terminal type is the server's, not the browser's."""
    env = os.environ if environ is None else environ
    return env.get("TEXTUAL_DRIVER") == WEB_DRIVER
