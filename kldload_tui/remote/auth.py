"""Who may talk to `kldload-tui serve`: the token, and browsers only from our own origin.

The API wipes disks, so every connection presents a token, as
`Authorization: Bearer TOKEN` or `?token=TOKEN` (browsers cannot set headers
on a WebSocket), and is refused with HTTP 401 before a single message is read.
The token comes from `--token-file`, else `kldload.token=` on the kernel
command line, else it is generated at start and printed on the console.

A browser also sends `Origin`. A page from another site must not reach the API
through a visitor's browser, nor through a DNS name rebound to this machine, so
a browser is accepted only when its Origin is the host and port it addressed
(`Host`) and that host is an IP address, `localhost`, or this machine's name.
Clients that are not browsers send no Origin and are judged by the token alone.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
import secrets
import socket
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from kldload_tui.backend.seed.url import parse_cmdline

CMDLINE = Path("/proc/cmdline")
CMDLINE_KEY = "kldload.token"
TOKEN_BYTES = 16  # 128 bits: 22 characters to read off a console and type
MIN_TOKEN_LENGTH = 16
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9._~-]+$")  # usable in a header and a query unescaped


class TokenError(Exception):
    """A token given (file, kernel command line) that cannot be used."""


@dataclass(frozen=True)
class Token:
    """The token and where it came from (`generated`, the file, the kernel command line)."""

    value: str
    source: str

    @property
    def generated(self) -> bool:
        return self.source == "generated"

    def __repr__(self) -> str:
        return f"Token(source={self.source!r})"


def _checked(value: str, where: str) -> str:
    if len(value) < MIN_TOKEN_LENGTH:
        raise TokenError(f"{where}: the token has {len(value)} characters; use at least "
                         f"{MIN_TOKEN_LENGTH} (python3 -c 'import secrets; "
                         "print(secrets.token_urlsafe())')")
    if not _TOKEN_CHARS.match(value):
        raise TokenError(f"{where}: the token may hold only letters, digits and . _ ~ -")
    return value


def load_token(token_file: Path | None = None, *, cmdline: Path = CMDLINE) -> Token:
    """The token to require: from `token_file`, else `kldload.token=` on the kernel
    command line read from `cmdline`, else a new one. Raises `TokenError`."""
    if token_file is not None:
        try:
            text = token_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise TokenError(f"{token_file}: cannot read the token: "
                             f"{getattr(err, 'strerror', None) or err}") from None
        return Token(_checked(text.strip(), str(token_file)), str(token_file))
    try:
        line = cmdline.read_text(encoding="utf-8", errors="replace")
    except OSError:
        line = ""
    found = [v for k, v in parse_cmdline(line) if k == CMDLINE_KEY and v is not None]
    if found:  # the last one wins, as for every kernel parameter
        return Token(_checked(found[-1], f"{CMDLINE_KEY}= on the kernel command line"),
                     f"{CMDLINE_KEY}= on the kernel command line")
    return Token(secrets.token_urlsafe(TOKEN_BYTES), "generated")


def token_file_warning(token_file: Path) -> str | None:
    """A warning when others may read the token file."""
    try:
        mode = os.stat(token_file).st_mode
    except OSError:
        return None
    if mode & 0o077:
        return (f"{token_file} is readable by others (mode {mode & 0o777:04o}): "
                f"chmod 600 {token_file}")
    return None


def presented_token(authorization: str | None, path: str) -> str | None:
    """The token a request presents: the bearer header, else the `token` query parameter."""
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    values = parse_qs(urlsplit(path).query).get("token")
    return values[-1] if values else None


def token_matches(presented: str | None, expected: str) -> bool:
    """Constant-time comparison (`hmac.compare_digest`); None never matches."""
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode("utf-8", "surrogateescape"),
                               expected.encode("utf-8"))


def own_names() -> frozenset[str]:
    """Names a browser may use for this machine besides an IP address."""
    host = socket.gethostname().lower()
    return frozenset({"localhost", host, f"{host}.local"})


def _endpoint(scheme: str, netloc: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(f"//{netloc}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.hostname.lower(), port or (443 if scheme == "https" else 80)


def host_allowed(host: str | None, names: Collection[str]) -> bool:
    """Whether a `Host` header names this machine: an IP address or one of `names`."""
    if not host:
        return False
    return origin_allowed(f"http://{host.strip()}", host, names)


def origin_allowed(origin: str | None, host: str | None, names: Collection[str]) -> bool:
    """Whether a request with this `Origin` and `Host` may connect (see the module doc).

    No Origin: not a browser, allowed (the token decides). Otherwise the Origin
    must be `http(s)://HOST[:PORT]` equal to the Host header, and that host an IP
    address or one of `names`.
    """
    if origin is None:
        return True
    try:
        parsed = urlsplit(origin.strip())
    except ValueError:
        return False
    if parsed.scheme not in ("http", "https") or not host:
        return False
    seen = _endpoint(parsed.scheme, parsed.netloc)
    addressed = _endpoint(parsed.scheme, host.strip())
    if seen is None or seen != addressed:
        return False
    name = seen[0].strip("[]")
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return name in names
    return True
