"""kldload's own files in the target: services, the manifest, and sealing."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime

from kldload_tui.backend.answers.envfile import parse_env
from kldload_tui.backend.answers.file import REDACTED, dump_answers
from kldload_tui.backend.answers.model import ExportFormat
from kldload_tui.backend.engine.core import InstallContext, Phase, VerifyError
from kldload_tui.backend.export.seal import (
    DBUS_MACHINE_ID_PATH,
    HOSTID_PATH,
    SEAL_STEPS,
    ZPOOL_CACHE_PATH,
    seal_commands,
)
from kldload_tui.backend.target.files import (
    HELD_PACKAGES_PATH,
    manifest_files,
    seal_files,
    service_files,
    units_to_enable,
)
from kldload_tui.backend.target.manifest import (
    ANSWERS_COPY_PATH,
    MANIFEST_PATH,
    SECRET_KEYS,
    InstallFacts,
    installer_version,
    read_manifest,
)

ANSWERS_COPY = "/" + ANSWERS_COPY_PATH

# Dry runs write this time so that two plans of the same answers are identical.
PLAN_TIME = datetime(1970, 1, 1, tzinfo=UTC)


def install_facts(ctx: InstallContext) -> InstallFacts:
    """What the manifest records beside the answers."""
    when = PLAN_TIME if ctx.dry_run else datetime.now(UTC)
    return InstallFacts(pool=ctx.pool, boot_environment=ctx.be,
                        held_packages=tuple(ctx.distro.held_packages(ctx)),
                        installer_version=installer_version(), install_date=when)


def _mode(ctx: InstallContext, path: str) -> int:
    return stat.S_IMODE(ctx.path(path).stat().st_mode)


class Services(Phase):
    """firstboot, snapshot and scrub timers, package holds, sanoid, WireGuard."""

    name = "services"
    title = "install kldload's services and timers"

    def run(self, ctx: InstallContext) -> None:
        files = service_files(ctx.answers, install_facts(ctx), holds=ctx.distro.hold_files(),
                              initramfs_rebuild=ctx.distro.initramfs_rebuild,
                              init_system=ctx.distro.init_system)
        ctx.write_files(files)
        ctx.distro.enable_units(ctx, units_to_enable(files))

    def verify(self, ctx: InstallContext) -> None:
        files = service_files(ctx.answers, install_facts(ctx), holds=ctx.distro.hold_files(),
                              initramfs_rebuild=ctx.distro.initramfs_rebuild,
                              init_system=ctx.distro.init_system)
        for f in files:
            if not ctx.path(f.path).is_file() or _mode(ctx, f.path) != f.mode:
                raise VerifyError(f"/{f.path} is missing or not mode {f.mode:04o}")
        units = units_to_enable(files)
        states = ctx.distro.unit_states(ctx, units)
        if states != ["enabled"] * len(units):
            raise VerifyError(f"units not enabled: {dict(zip(units, states, strict=False))}")


class Manifest(Phase):
    """The install manifest (0600, no secrets) and the replayable, redacted answers."""

    name = "manifest"
    title = "write the install manifest and the answers used"

    def run(self, ctx: InstallContext) -> None:
        ctx.write_files(manifest_files(ctx.answers, install_facts(ctx)))
        text = dump_answers(ctx.answers, redact=True,
                            header=["The answers this machine was installed with."])
        ctx.runner.write_file(ctx.path(ANSWERS_COPY), text, 0o600)

    def verify(self, ctx: InstallContext) -> None:
        for rel in (MANIFEST_PATH, ANSWERS_COPY.lstrip("/"), HELD_PACKAGES_PATH):
            if not ctx.path(rel).is_file():
                raise VerifyError(f"{ctx.path(rel)} is missing")
        if _mode(ctx, MANIFEST_PATH) != 0o600:
            raise VerifyError(f"/{MANIFEST_PATH} is not mode 0600")
        manifest = ctx.path(MANIFEST_PATH).read_text()
        values = read_manifest(manifest)
        leaked = sorted(SECRET_KEYS & set(values))
        if leaked:
            raise VerifyError(f"/{MANIFEST_PATH} holds secret keys: {', '.join(leaked)}")
        if values.get("KLDLOAD_HOSTNAME") != ctx.answers.hostname:
            raise VerifyError("the manifest does not read back the answered hostname")
        # Checked by key, not by searching for the secret's text: a password may
        # be a word the files hold anyway (`debian` is also the distribution).
        copy = ctx.path(ANSWERS_COPY).read_text()
        entries, _ = parse_env(copy)
        for e in entries:
            if e.key in SECRET_KEYS and e.value not in ("", REDACTED):
                raise VerifyError(f"{ANSWERS_COPY}: {e.key} is not redacted")


class Seal(Phase):
    """Remove machine identity so that every clone of the image gets its own."""

    name = "seal"
    title = "seal the system for cloning"

    def applies(self, ctx: InstallContext) -> bool:
        return ctx.answers.export_format is not ExportFormat.NONE

    def run(self, ctx: InstallContext) -> None:
        if ctx.dry_run:
            # What is cleared depends on the files in the target: the plan says what.
            for step in SEAL_STEPS:
                ctx.runner.note(f"seal: {step.action.value} /{step.pattern} ({step.why})")
        else:
            for argv in seal_commands(ctx.target):
                ctx.run(argv)
        files = seal_files(ctx.distro.cloud_init_renderers)
        ctx.write_files(files)
        ctx.distro.enable_units(ctx, units_to_enable(files))
        # The initramfs holds a copy of the host ID and the cachefile just removed.
        ctx.distro.rebuild_initramfs(ctx)

    def verify(self, ctx: InstallContext) -> None:
        if ctx.path("/etc/machine-id").stat().st_size != 0:
            raise VerifyError("/etc/machine-id is not empty")
        if list(ctx.path("/etc/ssh").glob("ssh_host_*")):
            raise VerifyError("SSH host keys are still in the image")
        if os.path.lexists(ctx.path(f"/{DBUS_MACHINE_ID_PATH}")):
            raise VerifyError(f"/{DBUS_MACHINE_ID_PATH} is still in the image: a clone "
                              "would take its machine-id from it")
        for rel, what in ((MANIFEST_PATH, "the install manifest"),
                          (ANSWERS_COPY_PATH, "the copy of the answers"),
                          (HOSTID_PATH, "the ZFS host ID"),
                          (ZPOOL_CACHE_PATH, "the pool's cachefile")):
            if ctx.path(rel).exists():
                raise VerifyError(f"{what} (/{rel}) is still in the image")
        files = seal_files(ctx.distro.cloud_init_renderers)
        for f in files:
            if not ctx.path(f.path).is_file():
                raise VerifyError(f"/{f.path} is missing")
        if not ctx.path("/usr/bin/cloud-init").exists():
            raise VerifyError("cloud-init is not installed: a clone would keep the "
                              "image's hostname and network")
        units = units_to_enable(files)
        states = ctx.distro.unit_states(ctx, units)
        off = [u for u, state in zip(units, states, strict=False) if state != "enabled"]
        if len(states) != len(units) or off:
            raise VerifyError(f"not enabled in the image: {', '.join(off) or units}")
        inside = {n.removeprefix("./").lstrip("/") for n in ctx.distro.initramfs_files(ctx)}
        stale = [p for p in (HOSTID_PATH, ZPOOL_CACHE_PATH) if p in inside]
        if stale:
            raise VerifyError(f"the initramfs still holds {', '.join(stale)}")
