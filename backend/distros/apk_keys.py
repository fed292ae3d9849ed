"""Alpine's package signing keys, pinned in the code, put into the target's
/etc/apk/keys before its first package.

An apk key is a bare RSA public key in a PEM file (`-----BEGIN PUBLIC KEY-----`),
named for its owner and id (`alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub`);
a signature names its key by that file name, and apk looks the name up in
/etc/apk/keys. There is no OpenPGP fingerprint to pin, so each key is pinned by
the SHA-256 of its DER SubjectPublicKeyInfo: the bytes the PEM body encodes, the
same whatever the file's line breaks, line endings or trailing newline (the
darksite's copy and the one on alpinelinux.org need not be byte-identical for
the key to be), and what `openssl pkey -pubin -outform DER | sha256sum` prints,
so a person can check a pin with one command (tests/unit/test_alpine_backend.py
does, with openssl). The digest is computed here from the base64 body, with no
tool: the check runs before anything of Alpine's is trusted or run.

A key file is fetched (from the darksite's `keys/` or alpinelinux.org/keys),
checked against its pin and only then written where apk reads it; a key that is
not the pinned one is removed again and the install stops.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kldload_tui.backend.engine.core import InstallContext

# Where apk reads keys, in the target (`apk --root` takes them from there).
KEY_DIR = "/etc/apk/keys"
KEYS_URL = "https://alpinelinux.org/keys"
_PEM = re.compile(r"-----BEGIN PUBLIC KEY-----\s*(?P<body>[A-Za-z0-9+/=\s]+?)\s*"
                  r"-----END PUBLIC KEY-----")


@dataclass(frozen=True)
class ApkKey:
    """One signing key: its file name (how signatures name it) and the SHA-256 of
    its DER SubjectPublicKeyInfo (64 lower-case hex digits)."""

    file: str
    der_sha256: str

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9@._-]+\.rsa\.pub", self.file):
            raise ValueError(f"{self.file!r} is not an apk key file name")
        if not re.fullmatch(r"[0-9a-f]{64}", self.der_sha256):
            raise ValueError(f"{self.file}: {self.der_sha256!r} is not a SHA-256 in lower-case hex")

    @property
    def path(self) -> str:
        """The key file inside the target."""
        return f"{KEY_DIR}/{self.file}"

    @property
    def url(self) -> str:
        """Where Alpine publishes it."""
        return f"{KEYS_URL}/{self.file}"


def key_der(pem: str) -> bytes:
    """The DER bytes of the one public key in `pem`; ValueError unless there is
    exactly one `PUBLIC KEY` block whose body is base64."""
    blocks = _PEM.findall(pem)
    if len(blocks) != 1 or pem.count("-----BEGIN") != 1:
        raise ValueError("not exactly one PEM public key (-----BEGIN PUBLIC KEY-----)")
    try:
        return base64.b64decode("".join(blocks[0].split()), validate=True)
    except binascii.Error as err:
        raise ValueError(f"the PEM body is not base64: {err}") from None


def der_sha256(pem: str) -> str:
    """The pin of the key in `pem` (see the module's docstring)."""
    return hashlib.sha256(key_der(pem)).hexdigest()


def check_key(pem: str, pin: ApkKey) -> None:
    """ValueError unless `pem` holds exactly the key `pin` names."""
    found = der_sha256(pem)
    if found != pin.der_sha256:
        raise ValueError(f"{pin.file}: its key has DER SHA-256 {found}, not the pinned "
                         f"{pin.der_sha256}")


def install_apk_keys(ctx: InstallContext, pins: list[ApkKey], source: dict[str, str]) -> None:
    """Fetch each pinned key from `source[file]` (an https:// or file:// URL) into the
    target's key directory and check it against its pin.

    Raises `InstallError` on a key that is not the pinned one (after removing it, so
    apk never reads it). A dry run records the commands and checks nothing."""
    from kldload_tui.backend.engine.core import InstallError

    ctx.run(["mkdir", "-p", str(ctx.path(KEY_DIR))])
    for pin in pins:
        dest = ctx.path(pin.path)
        url = source[pin.file]
        # --proto: https from alpinelinux.org, file from a darksite; never plain http.
        ctx.run(["curl", "--fail", "--silent", "--show-error", "--location",
                 "--proto", "=https,file", "--max-time", "120", "--output", str(dest), url],
                timeout=180)
        if ctx.dry_run:
            continue
        try:
            check_key(dest.read_text(encoding="ascii", errors="replace"), pin)
        except (OSError, ValueError) as err:
            ctx.run(["rm", "-f", str(dest)])
            raise InstallError(f"the key from {url} is not the pinned one ({err}); nothing "
                               "was installed from it") from None
        ctx.runner.note(f"apk key {pin.file}: DER SHA-256 {pin.der_sha256} as pinned")
