"""The target's pacman keyring: made empty, then given only keys whose
fingerprints match pins in the code, before its first package.

Arch's own keys come from the live system's keyring package (Debian's
archlinux-keyring: /usr/share/keyrings/archlinux.gpg, -trusted, -revoked), which
`pacman-key --populate` reads. It locally signs every key the -trusted file
lists and gives it the ownertrust written there, so the file must list exactly
the pinned master keys (checked first, `keyring_problem`); packagers' keys are
then valid only when three of those master keys certify them, Arch's own rule.
Another publisher's key (archzfs) is fetched, its one primary key compared with
the pin, added and locally signed. Each pinned key is read back from the
target's keyring as fully valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from kldload_tui.backend.distros.openpgp_keys import KeyringError, primary_fingerprints
from kldload_tui.backend.distros.pacman_conf import BOOTSTRAP_DIR, GPG_DIR
from kldload_tui.backend.distros.rpm_keys import KeyPin
from kldload_tui.backend.distros.rpm_keys import primary_fingerprints as colon_fingerprints

if TYPE_CHECKING:
    from kldload_tui.backend.engine.core import InstallContext

# Debian's archlinux-keyring, where Debian's pacman-key --populate reads it.
KEYRING_DIR = Path("/usr/share/keyrings")
KEYRING = "archlinux"
BOOTSTRAP_KEYS = f"{BOOTSTRAP_DIR}/keys"
# An empty home for reading key files: gpg trusts nothing stored there.
SHOW_HOME = f"{BOOTSTRAP_DIR}/gnupg-show"


def keyring_problem(live_root: Path, pins: Mapping[str, str]) -> str | None:
    """Why the live system's Arch keyring cannot be populated into the target
    (None: it can): archlinux.gpg must hold every pinned master key, and
    archlinux-trusted must list exactly those. Reads files; writes nothing."""
    base = live_root / KEYRING_DIR.relative_to("/")
    ring, trusted = base / f"{KEYRING}.gpg", base / f"{KEYRING}-trusted"
    try:
        found = set(primary_fingerprints(ring.read_bytes()))
        listed = [line.split(":")[0].strip().upper()
                  for line in trusted.read_text(encoding="ascii").splitlines()
                  if line.strip() and not line.startswith("#")]
    except OSError as err:
        return f"cannot read {err.filename}: {err.strerror or err}"
    except (KeyringError, UnicodeDecodeError) as err:
        return f"{ring} or {trusted} cannot be read as a keyring: {err}"
    problems = []
    absent = [f"{fpr} ({who})" for fpr, who in pins.items() if fpr not in found]
    if absent:
        problems.append(f"{ring} lacks the pinned master key(s) {', '.join(absent)}")
    extra = [fpr for fpr in listed if fpr not in pins]
    unlisted = [fpr for fpr in pins if fpr not in listed]
    if extra:
        problems.append(f"{trusted} trusts key(s) that are not pinned: {', '.join(extra)}")
    if unlisted:
        problems.append(f"{trusted} does not list the pinned key(s) {', '.join(unlisted)}")
    return "; ".join(problems) or None


def pacman_key_argv(ctx: InstallContext, *args: str) -> list[str]:
    return ["pacman-key", "--gpgdir", str(ctx.path(GPG_DIR)), *args]


def _gpg_argv(ctx: InstallContext, home: str, *args: str) -> list[str]:
    return ["gpg", "--batch", "--no-options", "--homedir", home, "--with-colons", *args]


def _valid_keys(ctx: InstallContext, fingerprints: list[str]) -> dict[str, str]:
    """Each fingerprint's validity in the target's keyring (gpg's field 2)."""
    out = ctx.run(_gpg_argv(ctx, str(ctx.path(GPG_DIR)), "--list-keys", *fingerprints),
                  check=False)
    validity: dict[str, str] = {}
    current = ""
    for line in out.splitlines():
        fields = line.split(":")
        if fields[0] == "pub":
            current = fields[1]
        elif fields[0] == "fpr" and current and len(fields) > 9:
            validity[fields[9].upper()] = current
            current = ""
    return validity


def install_pacman_keys(ctx: InstallContext, master_pins: Mapping[str, str],
                        other: list[KeyPin], source: Mapping[str, str]) -> None:
    """The target's keyring: initialised, Arch's master keys populated (after the
    live keyring is checked against `master_pins`), each of `other` fetched from
    `source[file]`, checked against its pin, added and locally signed; then every
    pinned key read back as fully valid. A dry run records and checks nothing."""
    from kldload_tui.backend.engine.core import InstallError, VerifyError

    ctx.run(["install", "-d", "-m", "0755", str(ctx.path(GPG_DIR).parent)])
    ctx.run(pacman_key_argv(ctx, "--init"), timeout=600)
    if not ctx.dry_run:
        problem = keyring_problem(ctx.options.live_root, master_pins)
        if problem:
            raise InstallError(f"Arch's keyring on this live system is not the pinned one: "
                               f"{problem}; nothing was installed")
    ctx.run(pacman_key_argv(ctx, "--populate", KEYRING), timeout=600)
    ctx.run(["install", "-d", "-m", "0700", str(ctx.path(BOOTSTRAP_KEYS)),
             str(ctx.path(SHOW_HOME))])
    for pin in other:
        dest = str(ctx.path(f"{BOOTSTRAP_KEYS}/{pin.file}"))
        url = source[pin.file]
        # https from the publisher, file from a darksite; never plain http.
        ctx.run(["curl", "--fail", "--silent", "--show-error", "--location",
                 "--proto", "=https,file", "--max-time", "120", "--output", dest, url],
                timeout=180)
        found = colon_fingerprints(ctx.run(_gpg_argv(ctx, str(ctx.path(SHOW_HOME)),
                                                     "--show-keys", dest)))
        if found != [pin.fingerprint] and not ctx.dry_run:
            raise InstallError(f"the key from {url} has fingerprint(s) "
                               f"{', '.join(found) or 'none'}, not the pinned "
                               f"{pin.fingerprint}; nothing was installed from it")
        ctx.run(pacman_key_argv(ctx, "--add", dest), timeout=300)
        ctx.run(pacman_key_argv(ctx, "--lsign-key", pin.fingerprint), timeout=300)
    pinned = [*master_pins, *(p.fingerprint for p in other)]
    validity = _valid_keys(ctx, pinned)
    if ctx.dry_run:
        return
    # f: full, u: ultimate; anything else would not make the packagers' keys valid.
    weak = [f"{fpr} ({validity.get(fpr, 'absent')})" for fpr in pinned
            if validity.get(fpr) not in ("f", "u")]
    if weak:
        raise VerifyError(f"pinned key(s) not fully valid in the target's keyring: "
                          f"{', '.join(weak)}")
