"""The primary keys an OpenPGP keyring file holds, read without gpg.

An apt-family install trusts whatever keys its archive keyring holds, so the
keyring itself is checked against fingerprints pinned in the code before the
install starts (`check_keyring`). Read in Python rather than with
`gpg --show-keys`: preflight must write nothing, and gpg wants a home directory
it may create; a keyring is a plain sequence of packets (RFC 4880, section 4).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterator, Mapping
from pathlib import Path

PUBLIC_KEY = 6  # a primary key; subkeys are tag 14 and are not trust anchors


class KeyringError(ValueError):
    """The bytes are not an OpenPGP keyring this reader understands."""


def _dearmour(data: bytes) -> bytes:
    """The binary packets of an ASCII-armoured block (apt reads .asc keyrings too)."""
    lines = data.decode("ascii", errors="replace").splitlines()
    try:
        start = next(i for i, ln in enumerate(lines) if ln.startswith("-----BEGIN PGP PUBLIC"))
    except StopIteration:
        raise KeyringError("armoured text without a public key block") from None
    body: list[str] = []
    headers = True
    for line in lines[start + 1:]:
        if line.startswith("-----END PGP"):
            break
        if headers:
            # Armour headers ("Version: ...") end at the first blank line.
            if not line.strip():
                headers = False
            elif ":" not in line:
                headers = False
                body.append(line.strip())
            continue
        if line.startswith("="):  # the CRC-24 line
            break
        body.append(line.strip())
    try:
        return base64.b64decode("".join(body), validate=True)
    except binascii.Error as err:
        raise KeyringError(f"armoured text that is not base64: {err}") from None


def _packets(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(tag, body) of each packet, in old or new format."""
    i = 0
    while i < len(data):
        head = data[i]
        if not head & 0x80:
            raise KeyringError(f"byte {i} does not start an OpenPGP packet")
        if head & 0x40:  # new format
            tag = head & 0x3F
            first = data[i + 1] if i + 1 < len(data) else -1
            if 0 <= first < 192:
                length, i = first, i + 2
            elif 192 <= first < 224 and i + 2 < len(data):
                length, i = ((first - 192) << 8) + data[i + 2] + 192, i + 3
            elif first == 255 and i + 5 < len(data):
                length, i = int.from_bytes(data[i + 2:i + 6], "big"), i + 6
            else:
                # Partial lengths are for data packets, never in a keyring.
                raise KeyringError(f"packet at byte {i} has no usable length")
        else:
            tag, kind = (head >> 2) & 0x0F, head & 0x03
            if kind == 3:
                length, i = len(data) - i - 1, i + 1
            else:
                size = 1 << kind
                if i + size >= len(data):
                    raise KeyringError(f"packet at byte {i} is cut short")
                length, i = int.from_bytes(data[i + 1:i + 1 + size], "big"), i + 1 + size
        if i + length > len(data):
            raise KeyringError("the last packet is cut short")
        yield tag, data[i:i + length]
        i += length


def primary_fingerprints(data: bytes) -> list[str]:
    """The primary keys' fingerprints (upper-case hex), in the file's order.

    Version 4 only: the fingerprint is the SHA-1 of 0x99, the two-byte length and
    the key packet. Other versions raise `KeyringError` rather than be skipped, so
    a key that is not understood is never taken for an absent one."""
    if data.lstrip().startswith(b"-----BEGIN"):
        data = _dearmour(data)
    found: list[str] = []
    for tag, body in _packets(data):
        if tag != PUBLIC_KEY:
            continue
        if not body or body[0] != 4:
            raise KeyringError(f"a version {body[0] if body else '?'} primary key: only "
                               "version 4 keys are read")
        found.append(hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body,
                                  usedforsecurity=False).hexdigest().upper())
    return found


def keyring_problem(path: Path, pins: Mapping[str, str]) -> str | None:
    """Why the keyring at `path` is not exactly the pinned keys (fingerprint ->
    what the key is), or None when it is: each pinned key is there and no other."""
    try:
        data = path.read_bytes()
    except OSError as err:
        return f"cannot read {path}: {err.strerror or err}"
    try:
        found = primary_fingerprints(data)
    except KeyringError as err:
        return f"{path} is not a keyring this installer can read: {err}"
    missing = [f"{fpr} ({what})" for fpr, what in pins.items() if fpr not in found]
    unknown = [fpr for fpr in dict.fromkeys(found) if fpr not in pins]
    problems = []
    if missing:
        problems.append("lacks the pinned key(s) " + ", ".join(missing))
    if unknown:
        problems.append("holds key(s) that are not pinned: " + ", ".join(unknown))
    return f"{path} " + "; ".join(problems) if problems else None
