"""Answers from the network: the kernel command line, URL placeholders, HTTP(S).

A PXE menu passes `kldload.answers=URL` (or `KLDLOAD_ANSWERS_URL=URL`) on the
kernel command line; the URL may name the machine through placeholders
(`${mac}`, `${mac_dashed}`, `${serial}`, `${uuid}`, `${hostname}`) so one HTTP
server serves a file per machine. Fetching uses urllib only: one deadline per
attempt that every wait on the network keeps (so a hostile or broken server
cannot hang discovery), retries with backoff for failures that may pass
(connection errors, timeouts, 5xx) and none for those that will not (4xx, too
large, a refused redirect), at most MAX_REDIRECTS redirects and never from
https to http, and a size limit enforced while reading, so a wrong URL
pointing at an ISO is refused after 1 MiB instead of filling memory.
"""

from __future__ import annotations

import functools
import http.client
import io
import math
import re
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from kldload_tui.backend.answers.file import MAX_BYTES
from kldload_tui.backend.answers.validators import did_you_mean
from kldload_tui.backend.machine.model import Machine, Nic

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

# Checked in this order: the first key present wins.
CMDLINE_KEYS: tuple[str, ...] = ("kldload.answers", "KLDLOAD_ANSWERS_URL")
PLACEHOLDERS: tuple[str, ...] = ("mac", "mac_dashed", "serial", "uuid", "hostname")
DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 0.5
MAX_REDIRECTS = 10
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

    from kldload_tui.backend.machine.probe import probe_nics

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

FetchKind = Literal["bad-url", "http", "timeout", "connection", "too-large", "tls", "redirect"]


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


def _shown(text: str, limit: int = 200) -> str:
    """Server-sent text fit for a one-line message: control characters escaped, length capped."""
    clean = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)
    return clean if len(clean) <= limit else clean[:limit] + "…"


# One deadline per attempt ----------------------------------------------------
# A socket timeout bounds each wait on its own: a server sending a byte a
# second, or `100 Continue` after `100 Continue`, never trips it. So every wait
# of an attempt (connect, TLS handshake, send, each read of headers and body,
# every redirect) gets only the time left before one monotonic deadline.
# Name resolution is the one wait outside it: getaddrinfo takes no timeout
# (resolv.conf's `timeout`/`attempts` bound it instead).

def _remaining(deadline: float) -> float:
    """Seconds left before `deadline`; TimeoutError once none are."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the attempt's deadline has passed")
    return left


def _connect(address: tuple[str, int], deadline: float,
             source_address: tuple[str, int] | None = None) -> socket.socket:
    """`socket.create_connection`, with all addresses tried within one deadline.

    create_connection gives every address the whole timeout: a name with ten
    silent addresses would take ten times as long.
    """
    host, port = address
    last: OSError = OSError(f"no address found for {host}")
    for family, kind, proto, _, sockaddr in socket.getaddrinfo(host, port, 0,
                                                               socket.SOCK_STREAM):
        left = _remaining(deadline)
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(left)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            # A TLS handshake follows, waiting on this timeout: only what is left.
            sock.settimeout(_remaining(deadline))
        except OSError as err:  # TimeoutError too: the next address finds no time left
            sock.close()
            last = err
            continue
        return sock
    raise last


class _DeadlineReader(io.RawIOBase):
    """A response's socket stream that waits, per read, only for what is left."""

    def __init__(self, inner: io.RawIOBase, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._inner = inner
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int | None:
        self._sock.settimeout(_remaining(self._deadline))
        return self._inner.readinto(buffer)

    def fileno(self) -> int:
        return self._inner.fileno()

    def close(self) -> None:
        # The inner stream holds the socket's last reference: closing it closes the socket.
        self._inner.close()
        super().close()


def _response_class(deadline: float) -> type[http.client.HTTPResponse]:
    """An HTTPResponse that reads status, headers and body through `_DeadlineReader`."""

    class Response(http.client.HTTPResponse):
        def __init__(self, sock: socket.socket, debuglevel: int = 0, method: str | None = None,
                     url: str | None = None) -> None:
            super().__init__(sock, debuglevel, method, url)
            # Nothing is read yet: detaching the plain stream loses no bytes.
            self.fp = io.BufferedReader(_DeadlineReader(self.fp.detach(), sock, deadline))

    return Response


class _DeadlineHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection whose every wait ends by `deadline`."""

    def __init__(self, host: str, *, deadline: float, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self._deadline = deadline
        self._create_connection = self._connect
        self.response_class = _response_class(deadline)

    def _connect(self, address: tuple[str, int], _timeout: float | None,
                 source_address: tuple[str, int] | None = None) -> socket.socket:
        return _connect(address, self._deadline, source_address)

    def send(self, data: Any) -> None:
        if self.sock is not None:
            self.sock.settimeout(_remaining(self._deadline))
        super().send(data)

    def _tunnel(self) -> None:
        super()._tunnel()  # type: ignore[misc]  # a proxy's CONNECT; not in typeshed
        # The TLS handshake that follows waits on the socket's timeout: only what is left.
        self.sock.settimeout(_remaining(self._deadline))


class _DeadlineHTTPSConnection(_DeadlineHTTPConnection, http.client.HTTPSConnection):
    """HTTPS the same way: the handshake waits on the timeout `_connect` (or
    `_tunnel`) left set, and CPython bounds a whole handshake by the socket's
    timeout, not each read of it."""


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: float) -> None:
        super().__init__()
        self._deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_DeadlineHTTPConnection, deadline=self._deadline),
                            req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: float) -> None:
        super().__init__()
        self._deadline = deadline

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        # No context: HTTPSConnection's default, which checks certificates against system CAs.
        return self.do_open(functools.partial(_DeadlineHTTPSConnection, deadline=self._deadline),
                            req)


# Redirects -------------------------------------------------------------------

class _Refused(Exception):
    """A redirect not followed: from where, to where, and why."""

    def __init__(self, source: str, target: str, why: str) -> None:
        super().__init__(why)
        self.source = source
        self.target = target
        self.why = why


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows at most MAX_REDIRECTS redirects, to http(s) only, never from https to http."""

    # The count below is the limit: urllib's own checks answer with a multi-line message.
    max_redirections = max_repeats = MAX_REDIRECTS + 1

    def __init__(self) -> None:
        super().__init__()
        self._followed = 0  # one handler per attempt: this counts the attempt's redirects

    def http_error_302(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                       headers: http.client.HTTPMessage) -> Any:
        location = headers["location"] if "location" in headers else headers.get("uri")
        if location is None:
            return None  # not a redirect: the default handler reports the status
        # Closed unread: a hostile redirect's body may never end (urllib would read it all).
        fp.close()
        target = urllib.parse.urljoin(req.full_url, location)
        self._check(req.full_url, target)
        self._followed += 1
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

    def _check(self, source: str, target: str) -> None:
        scheme = urllib.parse.urlsplit(target).scheme.lower()
        if scheme not in ("http", "https"):
            raise _Refused(source, target, "only http:// and https:// are followed")
        if urllib.parse.urlsplit(source).scheme.lower() == "https" and scheme != "https":
            raise _Refused(source, target, "an https URL is never followed to plain http "
                           "(the answers would cross the network unencrypted)")
        if self._followed >= MAX_REDIRECTS:
            raise _Refused(source, target, f"more than {MAX_REDIRECTS} redirects")


def _opener(deadline: float) -> urllib.request.OpenerDirector:
    """HTTP and HTTPS only, every wait within `deadline`, redirects checked."""
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(), _HTTPHandler(deadline),
                    _HTTPSHandler(deadline), _Redirects(),
                    urllib.request.HTTPDefaultErrorHandler(),
                    urllib.request.HTTPErrorProcessor(), urllib.request.UnknownHandler()):
        opener.add_handler(handler)
    return opener


# One attempt -----------------------------------------------------------------

def _too_large(url: str, max_bytes: int) -> FetchError:
    return FetchError(url, f"{url}: larger than {max_bytes / 2**20:g} MiB: refused (an answers "
                      "file is a few hundred bytes: is this the right URL?)", "too-large")


def _timed_out(url: str, timeout: float, what: str) -> _Retryable:
    return _Retryable(f"timed out after {timeout:g} s waiting for {url}: {what}", "timeout")


def _refused(url: str, err: _Refused) -> FetchError:
    hop = f"{url} redirected" if err.source == url else f"{url}: {err.source} redirected"
    return FetchError(url, f"{hop} to {_shown(err.target)}: refused, {err.why}", "redirect")


def _open(url: str, timeout: float, deadline: float) -> http.client.HTTPResponse:
    """The response to a GET of `url`, its headers read, redirects followed."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        response: http.client.HTTPResponse = _opener(deadline).open(request, timeout=timeout)
    except _Refused as err:
        raise _refused(url, err) from None
    except urllib.error.HTTPError as err:
        err.close()
        reason = f" ({_shown(str(err.reason))})" if err.reason else ""
        message = f"HTTP {err.code} from {url}{reason}"
        if err.code >= 500:
            raise _Retryable(message, "http", err.code) from None
        raise FetchError(url, message, "http", err.code) from None
    except urllib.error.URLError as err:
        # Raised while connecting and sending, TLS handshake included.
        raise _unreached(url, timeout, err.reason) from None
    except TimeoutError:
        raise _timed_out(url, timeout, "no complete response headers") from None
    except (http.client.HTTPException, OSError) as err:
        raise _Retryable(f"cannot fetch {url}: {_shown(str(err)) or type(err).__name__}",
                         "connection") from None
    return response


def _unreached(url: str, timeout: float, reason: str | BaseException) -> Exception:
    """The error for a request that got no connection (urllib's URLError.reason)."""
    if isinstance(reason, TimeoutError):
        return _timed_out(url, timeout, "could not connect (TCP connect or TLS handshake)")
    if isinstance(reason, ssl.SSLCertVerificationError):
        # A certificate that does not verify will not verify on a retry either.
        return FetchError(url, f"{url}: TLS certificate not trusted: {reason.verify_message}",
                          "tls")
    if isinstance(reason, OSError):
        return _Retryable(f"cannot reach {url}: {reason.strerror or reason}", "connection")
    return FetchError(url, f"{url}: {reason}", "bad-url")


def _read_body(response: http.client.HTTPResponse, url: str, timeout: float,
               max_bytes: int) -> bytes:
    length = response.headers.get("Content-Length")
    if length and length.strip().isdigit() and int(length) > max_bytes:
        raise _too_large(url, max_bytes)
    body = bytearray()
    try:
        while chunk := response.read1(min(_CHUNK, max_bytes + 1 - len(body))):
            body += chunk
            if len(body) > max_bytes:
                raise _too_large(url, max_bytes)
    except TimeoutError:
        raise _timed_out(url, timeout, f"the body did not finish ({len(body)} bytes arrived)"
                         ) from None
    except (http.client.HTTPException, OSError) as err:
        raise _Retryable(f"connection to {url} broke: {_shown(str(err)) or type(err).__name__}",
                         "connection") from None
    return bytes(body)


def _fetch_once(url: str, timeout: float, max_bytes: int) -> bytes:
    deadline = time.monotonic() + timeout
    with _open(url, timeout, deadline) as response:
        return _read_body(response, url, timeout, max_bytes)


def fetch_url(url: str, *, timeout: float = DEFAULT_TIMEOUT, retries: int = DEFAULT_RETRIES,
              backoff: float = DEFAULT_BACKOFF, max_bytes: int = MAX_BYTES,
              sleep: Callable[[float], None] = time.sleep) -> bytes:
    """The body of an http(s) URL, at most `max_bytes` long.

    Each attempt has `timeout` seconds in all, whatever the server does:
    connecting, TLS, headers, redirects and body share one deadline. Connection
    errors, timeouts and 5xx answers are retried `retries` times, waiting
    `backoff`, then twice as long each time. At most `MAX_REDIRECTS` redirects
    are followed, never from https to http. Raises `FetchError`.
    """
    if not 0 < timeout < math.inf:  # also false for NaN
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout}")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise FetchError(url, f"{url}: not an http:// or https:// URL", "bad-url")
    attempt = 0
    while True:
        attempt += 1
        try:
            return _fetch_once(url, timeout, max_bytes)
        except _Retryable as err:
            if attempt > retries:
                raise FetchError(url, str(err), err.kind, err.status, attempts=attempt) from None
            sleep(backoff * 2 ** (attempt - 1))
