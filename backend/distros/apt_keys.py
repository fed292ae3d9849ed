"""The keys an apt-based install checks its repository against.

Nothing is installed unverified (no `--no-check-gpg`, no `Trusted: yes`). From a
network mirror, debootstrap and apt use Debian's archive keys as always. A
kldload live system built with a darksite also carries the darksite's own key
(`DARKSITE_KEYRING`, see iso/darksite.py): the install is then checked against
Debian's keys and that one together, whether the darksite is read from the
medium or served over HTTP beside the PXE files, and the installed system keeps
the darksite key so that its sources stay verifiable.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kldload_tui.backend.engine.live_medium import DARKSITE_KEYRING
from kldload_tui.backend.engine.records import CommandError

if TYPE_CHECKING:
    from kldload_tui.backend.engine.core import InstallContext

# Debian's archive keys, as the debian-archive-keyring package installs them
# (in the live system and, through apt's dependency, in every target).
ARCHIVE_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
# In the target while it is installed: the archive's keys and the darksite's.
INSTALL_KEYRING = "/etc/apt/keyrings/kldload-install.gpg"
# In the installed system: the darksite's key, which its sources name.
TARGET_DARKSITE_KEYRING = "/etc/apt/keyrings/kldload-darksite.gpg"


def darksite_keyring(ctx: InstallContext) -> Path | None:
    """The live system's darksite key, if it carries one. A plan for a described
    darksite assumes the live system built with it, which does (at the path it
    would have there)."""
    key = ctx.options.live_root / DARKSITE_KEYRING.relative_to("/")
    if key.is_file():
        return key
    if ctx.dry_run and ctx.options.darksite is not None:
        return DARKSITE_KEYRING
    return None


def write_install_keyring(ctx: InstallContext, key: Path, *,
                          archive: Path = ARCHIVE_KEYRING) -> Path:
    """The archive's keys (`archive`, Debian's unless told) and the darksite's,
    concatenated (OpenPGP keyrings concatenate), into the target for debootstrap's
    --keyring and the install's Signed-By. Returns its path on this machine."""
    parts = [ctx.options.live_root / archive.relative_to("/"), key]
    data = b"".join(p.read_bytes() for p in parts if p.is_file())
    if not data and not ctx.dry_run:
        raise FileNotFoundError(f"no OpenPGP keys in {', '.join(map(str, parts))}")
    path = ctx.path(INSTALL_KEYRING)
    ctx.runner.write_file(path, data, 0o644)
    return path


def check_darksite_signature(ctx: InstallContext, darksite: Path, suite: str, *,
                             mirror_answer: str = "KLDLOAD_DEBIAN_MIRROR") -> None:
    """Preflight: the darksite's InRelease is signed by the live system's darksite
    key. Raises InstallError naming the file and the fix; writes nothing."""
    from kldload_tui.backend.engine.core import InstallError

    release = darksite / "dists" / suite / "InRelease"
    key = darksite_keyring(ctx)
    if key is None:
        raise InstallError(
            f"the darksite at {darksite} cannot be verified: this live system carries no "
            f"darksite key ({DARKSITE_KEYRING} is missing). A darksite installs from the "
            "kldload live system built with it; to install from a network mirror instead, "
            f"set {mirror_answer}")
    try:
        ctx.run(["gpgv", "--keyring", str(key), str(release)])
    except CommandError as err:
        raise InstallError(
            f"the darksite at {darksite} is not signed by this live system's darksite key "
            f"({key}): {release} does not verify ({err.stderr_tail.strip() or err.reason}). "
            f"Boot the live system built with this darksite, or set {mirror_answer} "
            "to install from a network mirror") from None


def signed_by(ctx: InstallContext, *, kept_darksite: bool,
              archive: Path = ARCHIVE_KEYRING) -> str | None:
    """The installed system's Signed-By, putting the darksite key in place when the
    live system has one; None (apt's default keys) when it has none."""
    key = darksite_keyring(ctx)
    if key is None:
        return None
    ctx.run(["install", "-D", "-m", "0644", str(key), str(ctx.path(TARGET_DARKSITE_KEYRING))])
    if kept_darksite:
        return TARGET_DARKSITE_KEYRING
    # A network mirror is the distribution's archive, or this darksite served over HTTP.
    return f"{archive} {TARGET_DARKSITE_KEYRING}"
