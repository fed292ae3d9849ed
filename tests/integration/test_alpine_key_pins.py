"""The Alpine keys backend/distros/alpine.py pins, confirmed against a second,
independent source this machine can verify: Debian's `alpine-chroot-install`,
whose script embeds Alpine's public keys (ALPINE_KEYS, `id:base64 body` lines).

Alpine's key page cannot be read from here. The package comes from Debian's
signed archive as tests/integration/test_key_pins.py fetches its packages (the
InRelease checked with gpgv, the index and the .deb by their SHA-256). Each
pinned key's DER SHA-256 must be the one the installer computes from Debian's
copy, and the one openssl prints for it.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pytest

from kldload_tui.backend.distros.alpine import KEYS
from kldload_tui.backend.distros.apk_keys import ApkKey, check_key, der_sha256
from tests.integration.test_key_pins import _unpacked

PACKAGE = "alpine-chroot-install"


@pytest.fixture(scope="module")
def debian_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Key file name -> PEM text, as the script writes them."""
    script = (_unpacked(tmp_path_factory, PACKAGE) / "usr/sbin/alpine-chroot-install")
    text = script.read_text(encoding="utf-8")
    block = re.search(r"^ALPINE_KEYS='\n(.*?)\n'", text, re.MULTILINE | re.DOTALL)
    assert block, f"no ALPINE_KEYS in {script}"
    keys = {}
    for line in block.group(1).split():
        key_id, _, body = line.partition(":")
        pem = "-----BEGIN PUBLIC KEY-----\n" + body.replace("\\n", "\n") + \
            "\n-----END PUBLIC KEY-----\n"
        keys[f"alpine-devel@lists.alpinelinux.org-{key_id}.rsa.pub"] = pem
    return keys


@pytest.mark.parametrize("pin", KEYS, ids=lambda k: k.file)
def test_the_pin_is_debians_copy_of_the_key(debian_keys: dict[str, str], pin: ApkKey,
                                            tmp_path: Path) -> None:
    assert pin.file in debian_keys, f"{PACKAGE} has no {pin.file}"
    pem = debian_keys[pin.file]
    check_key(pem, pin)
    (tmp_path / pin.file).write_text(pem)
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", str(tmp_path / pin.file),
                          "-outform", "DER"], capture_output=True, check=True).stdout
    assert hashlib.sha256(der).hexdigest() == pin.der_sha256 == der_sha256(pem)
