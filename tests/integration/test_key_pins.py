"""The fingerprints the Red Hat family's backends pin, confirmed against a second,
independent source this machine can verify: Debian's `distribution-gpg-keys`.
Ubuntu's archive keys (backend/distros/ubuntu.py) likewise, against Debian's
`ubuntu-keyring`: its ubuntu-archive-keyring.gpg must hold exactly the pinned keys.

Only Debian's archive is reachable here, so the publishers' key pages cannot be
read. Debian packages those publishers' keys, and its archive is signed: the
suite's InRelease is checked with `gpgv` against debian-archive-keyring, the
Packages index against the SHA-256 InRelease gives, the .deb against the
SHA-256 the index gives. Each pinned key file in the package must then have
exactly the pinned fingerprint. OpenZFS's key is not in the package and is
listed as unconfirmed here.

The mirror is the machine's own (its apt sources), never written into the repo.
The .debs are cached under /var/cache/kldload-test (KLDLOAD_TEST_CACHE moves it).
"""

from __future__ import annotations

import hashlib
import lzma
import os
import re
import subprocess
import urllib.request
from pathlib import Path

import pytest

from kldload_tui.backend.distros import el, fedora, openpgp_keys, rhel, ubuntu
from kldload_tui.backend.distros.apt_sources import live_debian_mirror
from kldload_tui.backend.distros.rpm_keys import KeyPin, primary_fingerprints

# Suites that carry the packages (bookworm itself has neither), tried in order: a
# mirror part-way through an update has an InRelease whose indexes it cannot
# serve yet, and then the next suite is read.
SUITES = ("bookworm-backports", "trixie", "sid")
PACKAGE = "distribution-gpg-keys"
UBUNTU_PACKAGE = "ubuntu-keyring"
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
INDEX = "main/binary-all/Packages.xz"
# Where each pin's key file is in the package.
IN_PACKAGE = {
    "RPM-GPG-KEY-Rocky-9": "rocky/RPM-GPG-KEY-Rocky-9",
    "RPM-GPG-KEY-Rocky-10": "rocky/RPM-GPG-KEY-Rocky-10",
    "RPM-GPG-KEY-centosofficial-SHA256": "centos/RPM-GPG-KEY-CentOS-Official-SHA256",
    "RPM-GPG-KEY-EPEL-9": "epel/RPM-GPG-KEY-EPEL-9",
    "RPM-GPG-KEY-EPEL-10": "epel/RPM-GPG-KEY-EPEL-10",
    "RPM-GPG-KEY-fedora-44-primary": "fedora/RPM-GPG-KEY-fedora-44-primary",
}
NOT_PACKAGED = {el.OPENZFS_KEY.file}
# Red Hat publishes its release and auxiliary keys one per file; the package has
# them as redhat-release ships them, both in one file per release.
RED_HAT_FILES = ("redhat/RPM-GPG-KEY-redhat9-release",
                 "redhat/RPM-GPG-KEY-redhat10-release-without-PQC")


def _pins() -> list[KeyPin]:
    return [*el.ROCKY_KEYS.values(), el.CENTOS_KEY, *el.EPEL_KEYS.values(), el.OPENZFS_KEY,
            *rhel.RED_HAT_KEYS, fedora.FEDORA_KEY]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as response:
        data: bytes = response.read()
    return data


def _sha256_in(text: str, name: str) -> str:
    """The SHA-256 an InRelease (or a Packages stanza's field) gives for `name`."""
    section = text.split("SHA256:", 1)[1]
    for line in section.splitlines()[1:]:
        if not line.startswith(" "):
            break
        digest, _, path = line.split()
        if path == name:
            return digest
    raise AssertionError(f"{name} is not listed in the InRelease's SHA256 section")


def _package_stanza(mirror: str, suite: str, work: Path,
                    package: str = PACKAGE) -> dict[str, str] | None:
    """The package's fields from `suite`'s signed index, or None when the suite
    does not have it or the mirror cannot serve that index as signed."""
    try:
        signed = _get(f"{mirror}/dists/{suite}/InRelease")
    except OSError:
        return None
    inrelease = work / f"{suite}-InRelease"
    inrelease.write_bytes(signed)
    verified = subprocess.run(["gpgv", "--keyring", str(KEYRING), "--output", "-",
                               str(inrelease)], capture_output=True, check=False)
    assert verified.returncode == 0, verified.stderr.decode(errors="replace")
    release = verified.stdout.decode()
    # By hash, as apt fetches it: the plain name may already be the next index
    # while the InRelease still lists the last one.
    digest = _sha256_in(release, INDEX)
    try:
        index = _get(f"{mirror}/dists/{suite}/{INDEX.rsplit('/', 1)[0]}/by-hash/SHA256/{digest}")
    except OSError:
        return None
    if hashlib.sha256(index).hexdigest() != digest:
        return None
    packages = lzma.decompress(index).decode()
    stanza = next((s for s in packages.split("\n\n") if re.search(
        rf"^Package: {re.escape(package)}$", s, re.MULTILINE)), None)
    if stanza is None:
        return None
    return dict(re.findall(r"^([A-Za-z0-9-]+): (.*)$", stanza, re.MULTILINE))


def _unpacked(tmp_path_factory: pytest.TempPathFactory, package: str) -> Path:
    """The package's files, from the first suite that serves it as signed, its .deb
    checked against the signed index's SHA-256."""
    mirror = live_debian_mirror(Path("/"))
    assert mirror, "no Debian mirror in this machine's apt sources"
    assert KEYRING.is_file(), f"{KEYRING} is missing (package debian-archive-keyring)"
    mirror = mirror.rstrip("/")
    work = tmp_path_factory.mktemp("keys")
    fields = next((f for f in (_package_stanza(mirror, s, work, package) for s in SUITES)
                   if f), None)
    assert fields is not None, f"no suite of {SUITES} on {mirror} serves {package} as signed"
    cache = Path(os.environ.get("KLDLOAD_TEST_CACHE", "/var/cache/kldload-test")) / "keys"
    deb = cache / Path(fields["Filename"]).name
    if not deb.is_file() or hashlib.sha256(deb.read_bytes()).hexdigest() != fields["SHA256"]:
        data = _get(f"{mirror}/{fields['Filename']}")
        assert hashlib.sha256(data).hexdigest() == fields["SHA256"], "the .deb's SHA-256"
        cache.mkdir(parents=True, exist_ok=True)
        deb.write_bytes(data)
    out = work / "pkg"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def package_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _unpacked(tmp_path_factory, PACKAGE) / "usr/share/distribution-gpg-keys"


@pytest.fixture(scope="module")
def ubuntu_keyring(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _unpacked(tmp_path_factory, UBUNTU_PACKAGE) / ubuntu.KEYRING.relative_to("/")


def test_every_pin_is_checked_or_named_as_unconfirmed():
    assert {p.file for p in _pins()} == \
        set(IN_PACKAGE) | NOT_PACKAGED | {p.file for p in rhel.RED_HAT_KEYS}


@pytest.mark.parametrize("pin", [p for p in _pins() if p.file in IN_PACKAGE],
                         ids=lambda p: p.file)
def test_the_pinned_fingerprint_is_debians_copy_of_the_key(package_root: Path, pin: KeyPin):
    key = package_root / IN_PACKAGE[pin.file]
    shown = subprocess.run(["gpg", "--batch", "--no-default-keyring", "--with-colons",
                            "--with-fingerprint", "--show-keys", str(key)],
                           capture_output=True, text=True, check=True,
                           env={**os.environ, "GNUPGHOME": str(package_root.parent)})
    assert primary_fingerprints(shown.stdout) == [pin.fingerprint]


def test_the_ubuntu_pins_are_exactly_debians_copy_of_the_archive_keyring(ubuntu_keyring: Path):
    shown = subprocess.run(["gpg", "--batch", "--no-default-keyring", "--with-colons",
                            "--with-fingerprint", "--show-keys", str(ubuntu_keyring)],
                           capture_output=True, text=True, check=True,
                           env={**os.environ, "GNUPGHOME": str(ubuntu_keyring.parent)})
    found = primary_fingerprints(shown.stdout)
    assert sorted(found) == sorted(ubuntu.ARCHIVE_KEYS)
    # The installer's own reader sees the same keys, and its check passes on the file.
    assert openpgp_keys.primary_fingerprints(ubuntu_keyring.read_bytes()) == found
    assert openpgp_keys.keyring_problem(ubuntu_keyring, ubuntu.ARCHIVE_KEYS) is None
    # The key that signs noble's InRelease is the 2018 one.
    assert "F6ECB3762474EDA9D21B7022871920D1991BC93C" in found


@pytest.mark.parametrize("path", RED_HAT_FILES)
def test_the_red_hat_pins_are_exactly_the_keys_redhat_release_ships(package_root: Path,
                                                                     path: str):
    shown = subprocess.run(["gpg", "--batch", "--no-default-keyring", "--with-colons",
                            "--with-fingerprint", "--show-keys", str(package_root / path)],
                           capture_output=True, text=True, check=True,
                           env={**os.environ, "GNUPGHOME": str(package_root.parent)})
    assert primary_fingerprints(shown.stdout) == [k.fingerprint for k in rhel.RED_HAT_KEYS]
