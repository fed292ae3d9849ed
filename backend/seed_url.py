"""Answers from the network: the kernel command line, URL placeholders, HTTP(S).

A PXE menu passes `kldload.answers=URL` (or `KLDLOAD_ANSWERS_URL=URL`) on the
kernel command line; the URL may name the machine through placeholders
(`${mac}`, `${mac_dashed}`, `${serial}`, `${uuid}`, `${hostname}`) so one HTTP
server serves a file per machine. Fetching uses urllib only: a timeout per
attempt, retries with backoff for failures that may pass (connection errors,
timeouts, 5xx) and none for those that will not (4xx, too large), and a size
limit enforced while reading, so a wrong URL pointing at an ISO is refused
after 1 MiB instead of filling memory.
"""

from __future__ import annotations

import http.client
import re
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from backend.answers_file import MAX_BYTES
from backend.machine import Machine, Nic
from backend.validators import did_you_mean

# Checked in this order: the first key present wins.
CMDLINE_KEYS: tuple[str, ...] = ("kldload.answers", "KLDLOAD_ANSWERS_URL")
PLACEHOLDERS: tuple[str, ...] = ("mac", "mac_dashed", "serial", "uuid", "hostname")
DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 0.5
USER_AGENT = "kldload-tui-seed"
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_CHUNK = 64 * 1024

# Values firmware vendors ship instead of a real serial or UUID. A URL built
# from one would give every such machine the same answers file: refuse it.
_JUNK_DMI = frozenset({
    "", "0", "none", "n/a", "na", "default string", "to be filled by o.e.m.",
    "not specified", "not applicable", "system serial number", "0123456789",
    "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "03000200-0400-0500-0006-000700080009",
})


def is_url(text: str) -> bool:
    """True for text that means a URL (`http://`, `https://`, or any `scheme://`)."""
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text) is not None


# Kernel command line ---------------------------------------------------------

def parse_cmdline(text: str) -> list[tuple[str, str | None]]:
    """Kernel parameters as (key, value) pairs, split as the kernel splits them.

    Whitespace separates parameters except inside double quotes; a quoted value
    (`key="a b"`) or a quoted parameter (`"key=a b"`) loses its quotes.
    Parameters after a lone `--` belong to init, not the kernel, and are left out.
    """
    tokens: list[str] = []
    current: list[str] = []
    in_quote = False
    for ch in text:
        if ch == '"':
            in_quote = not in_quote
        if ch.isspace() and not in_quote:
            if current:
                tokens.append("".join(current))
                current = []
            continue
        current.append(ch)
    if current:
        tokens.append("".join(current))
    params: list[tuple[str, str | None]] = []
    for token in tokens:
        if token == "--":
            break
        if token.startswith('"'):
            token = token[1:].removesuffix('"')
        key, sep, value = token.partition("=")
        if sep and value.startswith('"'):
            value = value[1:].removesuffix('"')
        params.append((key, value if sep else None))
    return params


@dataclass(frozen=True)
class CmdlineAnswers:
    """An answers URL named on the kernel command line, and by which key."""

    key: str
    url: str
    # Set when the other key was given too and was ignored.
    note: str | None = None


def answers_url_from_cmdline(text: str) -> CmdlineAnswers | None:
    """The answers URL on a kernel command line, or None when neither key is there.

    `kldload.answers` wins over `KLDLOAD_ANSWERS_URL`; a key given twice takes
    its last value, as the kernel and init do.
    """
    found: dict[str, str] = {}
    for key, value in parse_cmdline(text):
        if key in CMDLINE_KEYS and value is not None:
            found[key] = value
    for key in CMDLINE_KEYS:
        if key in found:
            others = [k for k in CMDLINE_KEYS if k in found and k != key and found[k] != found[key]]
            note = (f"{others[0]}={found[others[0]]} ignored: {key} takes precedence"
                    if others else None)
            return CmdlineAnswers(key, found[key], note)
    return None


# Placeholders ----------------------------------------------------------------

@dataclass(frozen=True)
class MachineIdentity:
    """Placeholder values for this machine, and why any is missing."""

    values: Mapping[str, str] = field(default_factory=dict)
    missing: Mapping[str, str] = field(default_factory=dict)


def _first_mac(nics: list[Nic]) -> str | None:
    return next((n.mac for n in nics if not n.virtual), None)


def _identity(mac: str | None, dmi: Mapping[str, tuple[str | None, str]],
              hostname: str | None) -> MachineIdentity:
    values: dict[str, str] = {}
    missing: dict[str, str] = {}
    if mac:
        values["mac"] = mac.lower()
        values["mac_dashed"] = mac.lower().replace(":", "-")
    else:
        for name in ("mac", "mac_dashed"):
            missing[name] = "no physical network interface with a MAC address"
    for name, (value, why) in dmi.items():
        if value is not None and value.strip().lower() not in _JUNK_DMI:
            values[name] = value.strip().lower() if name == "uuid" else value.strip()
        elif value is not None:
            missing[name] = (f"the DMI {name} is {value.strip()!r}, a vendor placeholder "
                             "that is not unique to this machine")
        else:
            missing[name] = why
    if hostname:
        values["hostname"] = hostname
    else:
        missing["hostname"] = "the machine has no hostname"
    return MachineIdentity(values, missing)


def identity_from_machine(machine: Machine) -> MachineIdentity:
    """Placeholder values from a machine description."""
    why = "the machine description has no dmi.{}"
    return _identity(_first_mac(machine.nics),
                     {"serial": (machine.dmi.serial, why.format("serial")),
                      "uuid": (machine.dmi.uuid, why.format("uuid"))},
                     machine.hostname)


def _read_dmi(path: Path) -> tuple[str | None, str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace"), ""
    except FileNotFoundError:
        return None, f"{path} does not exist (no SMBIOS tables on this machine)"
    except PermissionError:
        return None, f"cannot read {path}: permission denied (it is readable by root only)"
    except OSError as err:
        return None, f"cannot read {path}: {err.strerror or err}"


def probe_identity(sys_root: Path = Path("/sys"), hostname: str | None = None) -> MachineIdentity:
    """Placeholder values of the running machine, from sysfs."""
    import socket

    from backend.probe import probe_nics

    dmi = sys_root / "class" / "dmi" / "id"
    return _identity(_first_mac(probe_nics(sys_root)),
                     {"serial": _read_dmi(dmi / "product_serial"),
                      "uuid": _read_dmi(dmi / "product_uuid")},
                     hostname or socket.gethostname())


class PlaceholderError(ValueError):
    """A URL's placeholders could not all be filled; every reason is listed."""

    def __init__(self, url: str, reasons: list[str]) -> None:
        self.url = url
        self.reasons = reasons
        super().__init__(f"{url}: " + "; ".join(reasons))


def has_placeholders(url: str) -> bool:
    """True when the URL has anything for `expand_url` to fill."""
    return "${" in url


def expand_url(template: str, identity: MachineIdentity) -> str:
    """The URL with each `${name}` replaced by this machine's value, URL-quoted.

    Raises `PlaceholderError` naming every unknown or unavailable placeholder.
    """
    reasons: list[str] = []

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in PLACEHOLDERS:
            guess = did_you_mean(name, PLACEHOLDERS)
            hint = f"did you mean ${{{guess}}}?" if guess else "known: " + ", ".join(
                f"${{{p}}}" for p in PLACEHOLDERS)
            reasons.append(f"unknown placeholder ${{{name}}}; {hint}")
            return ""
        value = identity.values.get(name)
        if value is None:
            why = identity.missing.get(name, "no value on this machine")
            reasons.append(f"placeholder ${{{name}}} has no value: {why}")
            return ""
        # Quoted so a serial holding "/" or a space stays one path segment;
        # ":" is kept, as MAC-named files are usually written with it.
        return urllib.parse.quote(value, safe=":")

    expanded = _PLACEHOLDER.sub(fill, template)
    if "${" in _PLACEHOLDER.sub("", template):
        reasons.append("a placeholder is not closed: write ${name}")
    if reasons:
        raise PlaceholderError(template, reasons)
    return expanded


# Fetching --------------------------------------------------------------------

FetchKind = Literal["bad-url", "http", "timeout", "connection", "too-large", "tls"]


class FetchError(Exception):
    """An answers URL could not be fetched; `str()` is the operator's message."""

    def __init__(self, url: str, message: str, kind: FetchKind, status: int | None = None,
                 attempts: int = 1) -> None:
        self.url = url
        self.kind = kind
        self.status = status
        self.attempts = attempts
        suffix = f" (after {attempts} attempts)" if attempts > 1 else ""
        super().__init__(message + suffix)


class _Retryable(Exception):
    def __init__(self, message: str, kind: FetchKind, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status


def _opener() -> urllib.request.OpenerDirector:
    """HTTP and HTTPS only: a redirect to file:// or ftp:// fails instead of reading."""
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(), urllib.request.HTTPHandler(),
                    urllib.request.HTTPSHandler(), urllib.request.HTTPRedirectHandler(),
                    urllib.request.HTTPDefaultErrorHandler(),
                    urllib.request.HTTPErrorProcessor(), urllib.request.UnknownHandler()):
        opener.add_handler(handler)
    return opener


def _too_large(url: str, max_bytes: int) -> FetchError:
    return FetchError(url, f"{url}: larger than {max_bytes / 2**20:g} MiB: refused (an answers "
                      "file is a few hundred bytes: is this the right URL?)", "too-large")


def _fetch_once(opener: urllib.request.OpenerDirector, url: str, timeout: float,
                max_bytes: int) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    deadline = time.monotonic() + timeout
    timed_out = _Retryable(f"timed out after {timeout:g} s waiting for {url}", "timeout")
    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        err.close()
        message = f"HTTP {err.code} from {url}" + (f" ({err.reason})" if err.reason else "")
        if err.code >= 500:
            raise _Retryable(message, "http", err.code) from None
        raise FetchError(url, message, "http", err.code) from None
    except urllib.error.URLError as err:
        reason = err.reason
        if isinstance(reason, TimeoutError):
            raise timed_out from None
        if isinstance(reason, ssl.SSLCertVerificationError):
            # A certificate that does not verify will not verify on a retry either.
            raise FetchError(url, f"{url}: TLS certificate not trusted: "
                             f"{reason.verify_message}", "tls") from None
        if isinstance(reason, OSError):
            raise _Retryable(f"cannot reach {url}: {reason.strerror or reason}",
                             "connection") from None
        raise FetchError(url, f"{url}: {reason}", "bad-url") from None
    except TimeoutError:
        raise timed_out from None
    except (http.client.HTTPException, OSError) as err:
        raise _Retryable(f"cannot fetch {url}: {err or type(err).__name__}",
                         "connection") from None
    with response:
        length = response.headers.get("Content-Length")
        if length and length.strip().isdigit() and int(length) > max_bytes:
            raise _too_large(url, max_bytes)
        body = bytearray()
        try:
            # read1: whatever has arrived, so the deadline is checked as bytes trickle in.
            while chunk := response.read1(min(_CHUNK, max_bytes + 1 - len(body))):
                body += chunk
                if len(body) > max_bytes:
                    raise _too_large(url, max_bytes)
                if time.monotonic() > deadline:  # a server trickling bytes forever
                    raise timed_out
        except TimeoutError:
            raise timed_out from None
        except (http.client.HTTPException, OSError) as err:
            raise _Retryable(f"connection to {url} broke: {err or type(err).__name__}",
                             "connection") from None
    return bytes(body)


def fetch_url(url: str, *, timeout: float = DEFAULT_TIMEOUT, retries: int = DEFAULT_RETRIES,
              backoff: float = DEFAULT_BACKOFF, max_bytes: int = MAX_BYTES,
              sleep: Callable[[float], None] = time.sleep) -> bytes:
    """The body of an http(s) URL, at most `max_bytes` long.

    Each attempt has `timeout` seconds in all; connection errors, timeouts and
    5xx answers are retried `retries` times, waiting `backoff`, then twice as
    long each time. Raises `FetchError`.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise FetchError(url, f"{url}: not an http:// or https:// URL", "bad-url")
    opener = _opener()
    attempt = 0
    while True:
        attempt += 1
        try:
            return _fetch_once(opener, url, timeout, max_bytes)
        except _Retryable as err:
            if attempt > retries:
                raise FetchError(url, str(err), err.kind, err.status, attempts=attempt) from None
            sleep(backoff * 2 ** (attempt - 1))
