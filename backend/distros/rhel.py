"""Red Hat Enterprise Linux 9 and 10: what differs from Rocky (el.py), and only that.

Red Hat's CDN serves packages only to a registered system, which proves it with
entitlement certificates that subscription-manager obtains; the live system is
Debian and has no subscription-manager, and a secret may never travel in a
command's argv here. So the install does not use the CDN. It installs from
what an operator of a RHEL estate already has:

- KLDLOAD_CUSTOM_MIRROR_URL: a mirror of the RHEL DVD's repositories (the DVD
  itself served over HTTP, a Satellite's published content, or `reposync`'s
  output), holding `BaseOS/` and `AppStream/`, each with its `repodata/`; and
  `CodeReady/` beside them when EPEL packages are asked for (EPEL's packages
  need CodeReady Builder's);
- or an rpm-md darksite on the live medium holding every package.

ZFS comes from OpenZFS's kABI-tracking kmod (built for RHEL's kernels, the ones
Rocky follows), EPEL from Fedora's servers, both as for Rocky. Preflight refuses
a RHEL install with neither a mirror nor a darksite, before any write, and says
why.

Registration. KLDLOAD_RHEL_ORG and KLDLOAD_RHEL_ACTIVATION_KEY (a secret) make
the installed machine register itself at its first boot: the install writes
them to a root-only file the plan never shows, and kldload-rhsm-register.service
runs subscription-manager with them, then deletes the file. Without them the
machine keeps installing from the mirror it was installed from. A golden image
keeps the file, so each clone registers as itself.

Signing keys: Red Hat's release key 2 and auxiliary key 3, the two primary keys
of the redhat-release package's RPM-GPG-KEY-redhat-release (RHEL 9, and RHEL 10
without its post-quantum key, which gpg cannot read yet); each is published
alone on Red Hat's security pages, and both are pinned here and confirmed
against Debian's distribution-gpg-keys (tests/integration/test_key_pins.py).

Proven as a plan only: no RHEL repository can be reached from the machines this
is built on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from kldload_tui.backend.answers.model import Distro
from kldload_tui.backend.distros.dnf_repos import Repo
from kldload_tui.backend.distros.el import (
    ARCH,
    EPEL_KEYS,
    EPEL_URL,
    OPENZFS_KEY,
    OPENZFS_URL,
    EnterpriseLinuxBackend,
)
from kldload_tui.backend.distros.rpm_keys import KeyPin
from kldload_tui.backend.target.files import LIB_DIR, UNIT_DIR, TargetFile, template

if TYPE_CHECKING:
    from kldload_tui.backend.engine.core import InstallContext

RELEASE_KEY = KeyPin("RPM-GPG-KEY-redhat-release-2",
                     "https://www.redhat.com/security/data/fd431d51.txt",
                     "567E347AD0044ADE55BA8A5F199E2F91FD431D51")
AUXILIARY_KEY = KeyPin("RPM-GPG-KEY-redhat-auxiliary-3",
                       "https://www.redhat.com/security/data/5a6340b3.txt",
                       "7E4624258C406535D56D6F135054E4A45A6340B3")
RED_HAT_KEYS = (RELEASE_KEY, AUXILIARY_KEY)

# The mirror's layout: the DVD's directory names (reposync names CodeReady so too).
MIRROR_PARTS = {"BaseOS": "rhel-baseos", "AppStream": "rhel-appstream"}
CODEREADY = ("CodeReady", "rhel-codeready-builder")
BASE_PACKAGES_EXTRA = ("subscription-manager",)

CREDENTIALS = "etc/kldload/rhsm/credentials"
REGISTER_SCRIPT = f"{LIB_DIR}/rhsm-register"
REGISTER_UNIT = "kldload-rhsm-register.service"


class RedHatBackend(EnterpriseLinuxBackend):
    """RHEL from a mirror of its repositories or a darksite, registered at first boot."""

    serves: ClassVar[tuple[Distro, ...]] = (Distro.RHEL,)
    BASE_PACKAGES: ClassVar[tuple[str, ...]] = (*EnterpriseLinuxBackend.BASE_PACKAGES,
                                                *BASE_PACKAGES_EXTRA)
    # RHEL's kernel is the one OpenZFS builds its kmod for.
    DKMS: ClassVar[frozenset[Distro]] = frozenset()

    def _require_mirror(self, ctx: InstallContext) -> None:
        from kldload_tui.backend.engine.core import InstallError

        if self.answers.custom_mirror_url or self.darksite(ctx) is not None:
            return
        raise InstallError(
            "KLDLOAD_DISTRO=rhel needs KLDLOAD_CUSTOM_MIRROR_URL or an rpm-md darksite; "
            "nothing was written\n"
            "Red Hat's CDN serves only registered systems, and the live system cannot "
            f"register. Set KLDLOAD_CUSTOM_MIRROR_URL to a mirror of RHEL {self.release()}'s "
            "repositories (the DVD served over HTTP, a Satellite, or reposync's output: "
            "BaseOS/ and AppStream/, each with repodata/), or put an rpm-md darksite on the "
            "live medium")

    def host_tools(self, ctx: InstallContext) -> list[str]:
        self._require_mirror(ctx)
        return super().host_tools(ctx)

    def source_urls(self, ctx: InstallContext) -> list[str]:
        # The distribution step asks this, not host_tools: without a mirror, OpenZFS's
        # repository alone answering must not make RHEL look installable.
        self._require_mirror(ctx)
        return super().source_urls(ctx)

    def distro_key(self) -> KeyPin:
        return RELEASE_KEY

    def key_pins(self) -> list[KeyPin]:
        keys = [*RED_HAT_KEYS, OPENZFS_KEY]
        if self._needs_epel():
            keys.append(EPEL_KEYS[self.release()])
        return keys

    def network_repos(self) -> list[Repo]:
        r = self.release()
        # host_tools refuses an install with neither this nor a darksite; a darksite
        # install still names the mirror's repositories on the installed system only
        # when one was given, so without one the installed system keeps none of these.
        base = self.answers.custom_mirror_url.rstrip("/")
        parts = dict(MIRROR_PARTS)
        if self._needs_epel():
            parts[CODEREADY[0]] = CODEREADY[1]
        repos = [Repo(repo_id, f"Red Hat Enterprise Linux {r} - {part} (mirror)",
                      f"{base}/{part}/", RED_HAT_KEYS, file="kldload-rhel.repo")
                 for part, repo_id in parts.items()] if base else []
        repos.append(Repo("zfs", f"OpenZFS for EL{r}", f"{OPENZFS_URL}/{r}/kmod/{ARCH}/",
                          (OPENZFS_KEY,), file="zfs.repo"))
        if self._needs_epel():
            repos.append(Repo("epel", f"EPEL {r}", f"{EPEL_URL}/{r}/Everything/{ARCH}/",
                              (EPEL_KEYS[r],), file="epel.repo"))
        return repos

    def registration(self) -> tuple[str, str] | None:
        """The organization ID and activation key, when the machine is to register."""
        org = self.answers.rhel_org
        key = self.answers.rhel_activation_key.get_secret_value()
        return (org, key) if org and key else None

    def configure(self, ctx: InstallContext) -> None:
        super().configure(ctx)
        registration = self.registration()
        if registration is None:
            return
        org, key = registration
        ctx.run(["install", "-d", "-m", "0700", str(ctx.path(CREDENTIALS).parent)])
        # secret=True: the plan and the log name the file, never its text.
        ctx.runner.write_file(ctx.path(CREDENTIALS),
                              f"org={org}\nactivation_key={key}\n", 0o600, secret=True)
        ctx.write_files(self.register_files())
        ctx.chroot(["systemctl", "enable", REGISTER_UNIT])

    def register_files(self) -> list[TargetFile]:
        return [TargetFile(REGISTER_SCRIPT, template("rhsm-register"), 0o755),
                TargetFile(f"{UNIT_DIR}/{REGISTER_UNIT}", template(REGISTER_UNIT))]

    def verify_configure(self, ctx: InstallContext) -> None:
        from kldload_tui.backend.engine.core import VerifyError

        super().verify_configure(ctx)
        if self.registration() is None:
            return
        cred = ctx.path(CREDENTIALS)
        if not cred.is_file() or cred.stat().st_mode & 0o777 != 0o600:
            raise VerifyError(f"{cred} is missing or not mode 0600")
        state = ctx.chroot(["systemctl", "is-enabled", REGISTER_UNIT], check=False).strip()
        if state != "enabled":
            raise VerifyError(f"{REGISTER_UNIT} is {state or 'unknown'}, not enabled: the "
                              "machine would not register")
