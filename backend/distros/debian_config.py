"""Configure a Debian target from the answers, and read the result back.

File contents come from `kldload_tui.backend.target.files`; what every
distribution does alike (the admin user, SSH keys, the read-back) is in
`system_config`. What is Debian's own is here: locale-gen, the resolver link,
the apt sources the installed system keeps, policy-rc.d.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kldload_tui.backend.distros.apt_keys import INSTALL_KEYRING, darksite_keyring, signed_by
from kldload_tui.backend.distros.system_config import (
    configure_access,
    generate_locale,
    use_resolved_stub,
    verify_system,
    write_system_files,
)
from kldload_tui.backend.target.files import system_files

if TYPE_CHECKING:
    from kldload_tui.backend.engine.core import InstallContext

POLICY_RC_D = "/usr/sbin/policy-rc.d"
KEPT_DARKSITE = "/var/lib/kldload/darksite"


def configure_debian(ctx: InstallContext) -> None:
    """Everything the answers say about the installed system's identity and access."""
    a = ctx.answers
    write_system_files(ctx, system_files(a))
    use_resolved_stub(ctx)
    generate_locale(ctx)
    configure_access(ctx, admin_group="sudo")
    _final_sources(ctx)
    ctx.run(["rm", "-f", str(ctx.path(POLICY_RC_D))])


def _final_sources(ctx: InstallContext) -> None:
    """The installed system's apt sources: the real mirror, or the kept darksite,
    checked against the darksite's key too when the live system has one."""
    from kldload_tui.backend.distros.debian import DebianBackend

    distro = ctx.distro
    assert isinstance(distro, DebianBackend)
    a = ctx.answers
    used, from_darksite = distro.mirror(ctx)
    if not from_darksite and darksite_keyring(ctx) is None:
        return  # installed from the mirror with the archive's keys: its sources are right
    kept = from_darksite and a.keep_darksite
    keys = signed_by(ctx, kept_darksite=kept, archive=distro.archive_keyring)
    if kept:
        ctx.run(["cp", "-a", f"{ctx.options.darksite}/.", str(ctx.path(KEPT_DARKSITE))])
        text = distro.sources(f"file:{KEPT_DARKSITE}", keys, darksite=True)
    else:
        mirror = used if not from_darksite else distro.network_mirror(ctx)
        if mirror:
            text = distro.sources(mirror, keys)
        else:
            text = ("# Installed from a darksite; no network mirror was known.\n"
                    f"# Add one here, e.g. with {distro.mirror_answer} at the next install.\n")
            ctx.warn(f"no {distro.name} mirror configured in the target: apt has no sources")
    ctx.runner.write_file(ctx.path(distro.sources_file), text)
    ctx.run(["rm", "-f", str(ctx.path(INSTALL_KEYRING))])


def verify_debian_config(ctx: InstallContext) -> None:
    """Read back what configure wrote."""
    from kldload_tui.backend.engine.core import VerifyError

    verify_system(ctx, admin_group="sudo")
    if ctx.path(POLICY_RC_D).exists():
        raise VerifyError(f"{POLICY_RC_D} is still in the target: services would never start")
