"""Signing keys of rpm repositories, pinned by fingerprint, put into the target's
rpm database before its first package.

A key file is fetched (from the darksite or the distribution's site), its one
primary key's fingerprint compared with the pin in the code, then imported with
`rpm --root TARGET --import`; read back from the target's database, the key
must show the same fingerprint. dnf then checks every package against these
keys (gpgcheck=1) and, where the repository signs its metadata, repomd.xml too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kldload_tui.backend.engine.core import InstallContext

# Where the target keeps repository keys; the .repo files name them from here.
KEY_DIR = "/etc/pki/rpm-gpg"
# The target's rpm database. Debian's rpm keeps its own in ~/.rpmdb, so every
# rpm and dnf run from the live system names this one explicitly.
RPM_DBPATH = "/var/lib/rpm"


@dataclass(frozen=True)
class KeyPin:
    """One repository signing key: its file name, where it is published, and the
    fingerprint (40 hex digits, OpenPGP v4) it must have."""

    file: str
    url: str
    fingerprint: str

    def __post_init__(self) -> None:
        fpr = self.fingerprint
        if len(fpr) != 40 or fpr.upper() != fpr or any(c not in "0123456789ABCDEF" for c in fpr):
            raise ValueError(f"{self.file}: {fpr!r} is not a v4 fingerprint in upper-case hex")

    @property
    def path(self) -> str:
        """The key file inside the target."""
        return f"{KEY_DIR}/{self.file}"

    @property
    def rpm_version(self) -> str:
        """rpm names an imported key gpg-pubkey-<last 8 hex digits, lower case>."""
        return self.fingerprint[-8:].lower()


def rpm_root_argv(ctx: InstallContext, *args: str) -> list[str]:
    """rpm on the live system acting on the target's database."""
    return ["rpm", "--root", str(ctx.target), "--dbpath", RPM_DBPATH, *args]


def primary_fingerprints(colons: str) -> list[str]:
    """The primary keys' fingerprints in `gpg --with-colons --show-keys` output
    (each `pub` record's first `fpr` record; subkeys' follow `sub`)."""
    found: list[str] = []
    want = False
    for line in colons.splitlines():
        fields = line.split(":")
        if fields[0] in ("pub", "sub"):
            want = fields[0] == "pub"
        elif fields[0] == "fpr" and want and len(fields) > 9:
            found.append(fields[9].upper())
            want = False
    return found


GNUPG_HOME = "/var/lib/kldload/gnupg"


def _show_keys(ctx: InstallContext, *, path: str | None = None, text: str | None = None) -> str:
    # An empty, throwaway home: show-keys reads the file and trusts nothing stored.
    argv = ["gpg", "--batch", "--no-options", "--homedir", str(ctx.path(GNUPG_HOME)),
            "--with-colons", "--with-fingerprint", "--show-keys"]
    return ctx.run([*argv, path] if path else argv, input=text)


def install_keys(ctx: InstallContext, pins: list[KeyPin], source: dict[str, str]) -> None:
    """Fetch each pinned key from `source[file]` (a URL), check it, import it
    into the target's rpm database and read the fingerprint back from there.

    Raises `InstallError` on a key that is not the pinned one, before it is
    imported. A dry run records the commands and checks nothing."""
    from kldload_tui.backend.engine.core import InstallError, VerifyError

    ctx.run(["mkdir", "-p", str(ctx.path(KEY_DIR))])
    ctx.run(["install", "-d", "-m", "0700", str(ctx.path(GNUPG_HOME))])
    for pin in pins:
        dest = str(ctx.path(pin.path))
        url = source[pin.file]
        # --proto: https from the distribution's site, file from a darksite; never
        # plain http, whose answer anyone on the way could change.
        ctx.run(["curl", "--fail", "--silent", "--show-error", "--location",
                 "--proto", "=https,file", "--max-time", "120", "--output", dest, url],
                timeout=180)
        found = primary_fingerprints(_show_keys(ctx, path=dest))
        if found != [pin.fingerprint] and not ctx.dry_run:
            raise InstallError(f"the key from {url} has fingerprint(s) "
                               f"{', '.join(found) or 'none'}, not the pinned "
                               f"{pin.fingerprint}; nothing was installed from it")
        ctx.run(rpm_root_argv(ctx, "--import", dest))
        # Read back: the armoured key rpm stored, shown by gpg again.
        stored = ctx.run(rpm_root_argv(ctx, "-q", "gpg-pubkey", "--qf",
                                       "%{VERSION} %{DESCRIPTION}\n"), check=False)
        if ctx.dry_run:
            continue
        if pin.fingerprint not in _stored_fingerprints(ctx, stored, pin.rpm_version):
            raise VerifyError(f"{pin.file} ({pin.fingerprint}) is not in the target's rpm "
                              "database after import")
    ctx.run(["rm", "-rf", str(ctx.path(GNUPG_HOME))])


def _stored_fingerprints(ctx: InstallContext, stored: str, version: str) -> list[str]:
    """The fingerprints of the keys rpm stored as gpg-pubkey-`version`."""
    found: list[str] = []
    # Each key's record starts with its version, then its armoured text.
    for record in stored.split("-----END PGP PUBLIC KEY BLOCK-----"):
        head, _, armour = record.strip().partition(" ")
        if head == version and "BEGIN PGP PUBLIC KEY BLOCK" in armour:
            block = armour + "\n-----END PGP PUBLIC KEY BLOCK-----\n"
            found += primary_fingerprints(_show_keys(ctx, text=block))
    return found
