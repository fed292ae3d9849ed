"""An install context for the export phase, without probing or installing anything."""

from __future__ import annotations

from kldload_tui.backend.answers.file import parse_answers
from kldload_tui.backend.answers.model import Answers
from kldload_tui.backend.distros import distro_backend
from kldload_tui.backend.engine.core import InstallContext, InstallOptions
from kldload_tui.backend.engine.runner import Runner
from kldload_tui.backend.machine.disks import Verdict
from kldload_tui.backend.machine.model import Disk, Machine
from kldload_tui.backend.machine.targets import WipeTarget


def export_answers(disk: str, extra: str = "") -> Answers:
    text = (f"KLDLOAD_DISTRO=debian\nKLDLOAD_DISK={disk}\nKLDLOAD_HOSTNAME=golden\n"
            f"KLDLOAD_PROFILE=server\n{extra}")
    result = parse_answers(text, source="answers.env")
    assert result.answers is not None, [p.render() for p in result.errors]
    return result.answers


def export_context(answers: Answers, disk_path: str, size_bytes: int, runner: Runner,
                   options: InstallOptions) -> InstallContext:
    """A context as the engine hands it to `export`: preflight has resolved the root disk."""
    disk = Disk(path=disk_path, size_bytes=size_bytes, model="test disk")
    ctx = InstallContext(answers, Machine(firmware="uefi", disks=[disk]), runner, options,
                         distro_backend(answers))
    ctx.targets = [WipeTarget("root", disk_path, disk, Verdict(installable=True))]
    return ctx
