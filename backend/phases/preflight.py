"""Preflight: everything is checked before anything is written.

The answers' rules, the disks (exist, are whole disks, installable, consent
to wipe those holding data), the tools of the live system, and, on a real run,
that each disk is still the disk that was planned on: a disk that vanished or
changed identity since the plan stops the install here, before any write. A
real run also reads each repository the install will use (one that cannot be
reached stops the install here, named) and resolves each KLDLOAD_EXTRA_PACKAGES
name in it (a dry run reads no network).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from kldload_tui.backend.answers.model import ExportFormat
from kldload_tui.backend.answers.rules import check_answers
from kldload_tui.backend.engine.core import InstallContext, InstallError, Phase, VerifyError
from kldload_tui.backend.machine.model import Disk
from kldload_tui.backend.machine.targets import check_targets
from kldload_tui.backend.problems import Severity

# Executable -> the Debian package that has it, for the error message.
BASE_TOOLS = {
    "wipefs": "util-linux", "sgdisk": "gdisk", "mkfs.vfat": "dosfstools",
    "zpool": "zfsutils-linux", "zfs": "zfsutils-linux", "zgenhostid": "zfsutils-linux",
    "mount": "mount", "umount": "mount", "findmnt": "util-linux", "lsblk": "util-linux",
    "blkid": "util-linux", "udevadm": "udev", "partx": "util-linux",
}
EXPORT_TOOLS = {"qemu-img": "qemu-utils", "tar": "tar"}
UPLOAD_TOOLS = {"scp": "openssh-client", "ssh": "openssh-client",
                "ssh-keyscan": "openssh-client", "ssh-keygen": "openssh-client"}


def live_tools() -> list[str]:
    """Every executable a preflight may ask of the live system, for any distribution
    this installer serves, with an export and an upload: what a live medium carries."""
    from kldload_tui.backend.distros import backend_classes
    from kldload_tui.backend.engine.distro_status import stand_in_context

    tools = {*BASE_TOOLS, *EXPORT_TOOLS, *UPLOAD_TOOLS}
    # A mirror answered: a distribution with no public source of its own (RHEL) is
    # refused without one, and a mirror changes where packages come from, never
    # which tools fetch them.
    values = {"custom_mirror_url": "file:///srv/mirror"}
    for distro in backend_classes():
        ctx = stand_in_context(distro, values, darksite=None)
        tools.update(ctx.distro.host_tools(ctx))
    return sorted(tools)


def _identity(disk: Disk) -> tuple[str | None, str | None, int, str | None]:
    return (disk.by_id if not disk.by_id_synthesised else None, disk.serial,
            disk.size_bytes, disk.model)


class Preflight(Phase):
    """Refuse to start an install that cannot finish or would wipe the wrong disk."""

    name = "preflight"
    title = "check answers, disks and tools before touching anything"

    def run(self, ctx: InstallContext) -> None:
        a = ctx.answers
        ctx.distro.host_tools(ctx)  # an unsupported distribution stops here
        errors = [p for p in check_answers(a) if p.severity is Severity.ERROR]
        if errors:
            raise InstallError("the answers are not valid:\n" +
                               "\n".join(p.render() for p in errors))
        check = check_targets(a, ctx.machine, consent=ctx.options.consent_to_wipe)
        if not check.ok:
            raise InstallError("refusing to touch any disk:\n" +
                               "\n".join(p.render() for p in check.problems))
        ctx.targets = check.targets
        for t in ctx.targets:
            ctx.runner.note(f"will wipe ({t.role}): {t.describe()}")
            if t.stable_path == t.disk.path:
                ctx.warn(f"{t.disk.path} has no /dev/disk/by-id name: the pool will name it "
                         f"{t.disk.path}, which may change between boots")
        if ctx.machine.firmware == "bios":
            ctx.warn("the live system did not boot through UEFI: no EFI boot entry can be "
                     "written; the disk boots through the removable-media path "
                     "\\EFI\\BOOT\\BOOTX64.EFI on UEFI firmware only")
        if ctx.dry_run:
            return
        # A disk that changed identity is the most dangerous news: say it first.
        if ctx.options.reprobe:
            self._same_disks(ctx)
        self._tools(ctx)
        self._nothing_in_the_way(ctx)
        # Last, as the only checks that read the network: the repository first (a
        # mirror out of reach is the plainer message), then each extra package name
        # (apt would read a name that matches no package as a pattern, `lib.`).
        ctx.distro.check_sources(ctx)
        if a.extra_packages:
            ctx.distro.check_packages(ctx, a.extra_packages)

    def _tools(self, ctx: InstallContext) -> None:
        needed = dict(BASE_TOOLS)
        needed.update({t: t for t in ctx.distro.host_tools(ctx)})
        if ctx.answers.export_format is not ExportFormat.NONE:
            needed.update(EXPORT_TOOLS)
            if ctx.answers.export_scp_host:
                needed.update(UPLOAD_TOOLS)
        missing = sorted(f"{tool} ({pkg})" for tool, pkg in needed.items()
                         if shutil.which(tool) is None)
        if missing:
            raise InstallError("the live system lacks tools this install needs: "
                               f"{', '.join(missing)}; install them, or boot the kldload "
                               "live medium")

    def _same_disks(self, ctx: InstallContext) -> None:
        from kldload_tui.backend.machine.probe import probe_disks

        fresh = {d.path: d for d in probe_disks(ctx.runner)}
        changed = []
        for t in ctx.targets:
            now = fresh.get(t.disk.path)
            if now is None:
                changed.append(f"{t.disk.path} ({t.disk.by_id or 'no by-id'}) is gone")
            elif _identity(now) != _identity(t.disk):
                changed.append(f"{t.disk.path} is now {now.model or '?'} serial "
                               f"{now.serial or '?'} ({now.size_bytes} bytes), planned as "
                               f"{t.disk.model or '?'} serial {t.disk.serial or '?'} "
                               f"({t.disk.size_bytes} bytes)")
        if changed:
            raise InstallError("the disks changed since the install was planned; nothing was "
                               "written:\n" + "\n".join(changed) +
                               "\nplan again against this machine (kldload-tui disks)")

    def _nothing_in_the_way(self, ctx: InstallContext) -> None:
        pools = ctx.run(["zpool", "list", "-H", "-o", "name"], check=False).split()
        if ctx.pool in pools:
            raise InstallError(f"a pool named {ctx.pool} is imported on this machine; export "
                               f"it first (zpool export {ctx.pool}) so the new one can be made")
        mounted = ctx.run(["findmnt", "-n", "-o", "TARGET", "--mountpoint", str(ctx.target)],
                          check=False).strip()
        if mounted:
            raise InstallError(f"{ctx.target} is already mounted; unmount it first "
                               f"(umount -R {ctx.target})")
        if Path(ctx.target).exists() and any(Path(ctx.target).iterdir()):
            raise InstallError(f"{ctx.target} is not empty; remove what is there first")

    def verify(self, ctx: InstallContext) -> None:
        if not ctx.targets:
            raise VerifyError("no target disk was resolved")
