"""Which disks an install will wipe, and whether it may.

The answers name disks (kernel paths or /dev/disk/by-id links); the machine
says what those disks are. This module joins the two, exactly (never by
substring), and applies the safety rules of `kldload_tui.backend.machine.disks` before anything
touches a disk. The engine's preflight, `plan`, headless mode and the TUI's
review screen all ask it the same question.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kldload_tui.backend.answers.model import Answers, env_key
from kldload_tui.backend.machine.disks import PROFILE_MIN_SIZE_BYTES, Verdict, classify, size_text
from kldload_tui.backend.machine.model import Disk, Machine
from kldload_tui.backend.problems import Problem

Role = Literal["root", "data", "special"]
_KEYS: dict[Role, str] = {
    "root": env_key("disk"),
    "data": env_key("zfs_data_disks"),
    "special": env_key("zfs_special_disks"),
}


@dataclass(frozen=True)
class WipeTarget:
    """A disk the install will wipe: what the answers said, and what it is."""

    role: Role
    requested: str
    disk: Disk
    verdict: Verdict

    @property
    def stable_path(self) -> str:
        """The path vdevs are given by: the real by-id link when there is one."""
        if self.disk.by_id and not self.disk.by_id_synthesised:
            return self.disk.by_id
        return self.disk.path

    def describe(self) -> str:
        """One line for people: by-id, size, model, and what is on it now."""
        name = self.disk.by_id or self.disk.path
        model = self.disk.model or "unknown model"
        now = "; ".join(self.verdict.contents) if self.verdict.contents else "empty"
        return f"{name} ({self.disk.path}, {size_text(self.disk.size_bytes)}, {model}): {now}"


@dataclass
class TargetCheck:
    """The disks to wipe and every reason the install may not go ahead."""

    targets: list[WipeTarget] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def not_empty(self) -> list[WipeTarget]:
        """Targets holding data: wiped only with explicit consent."""
        return [t for t in self.targets if not t.verdict.empty]


def _partition_owner(machine: Machine, path: str) -> Disk | None:
    return next((d for d in machine.disks if any(p.path == path for p in d.partitions)), None)


def _installable_here(machine: Machine, seed: str | None, min_size: int) -> str:
    """The fix for a disk that is not here: the disks that could take the install,
    by their stable names. The live medium, its loop devices and the seed disk are
    disks too, but naming them as the choice would mislead."""
    live = set(machine.live_devices)
    usable = [d.by_id or d.path for d in machine.disks
              if classify(d, live_devices=live, seed_device=seed,
                          min_size_bytes=min_size).installable]
    if usable:
        return (f"installable disks here: {', '.join(usable)} "
                "(kldload-tui disks shows them all)")
    return ("this machine has no installable disk (kldload-tui disks says why for each); "
            "attach one")


def check_targets(answers: Answers, machine: Machine, *, consent: bool) -> TargetCheck:
    """Resolve every disk of the answers on `machine` and judge it.

    `consent`: the operator agreed to wipe disks that hold data
    (`KLDLOAD_FORCE_WIPE=1` headless, a typed confirmation in the TUI).
    """
    result = TargetCheck()
    min_size = PROFILE_MIN_SIZE_BYTES[answers.profile.value]
    seed = machine.seed.device if machine.seed is not None else None
    requested: list[tuple[Role, str]] = [("root", answers.disk)]
    requested += [("data", d) for d in answers.zfs_data_disks]
    requested += [("special", d) for d in answers.zfs_special_disks]
    seen: dict[str, str] = {}
    here = _installable_here(machine, seed, min_size)
    for role, path in requested:
        key = _KEYS[role]
        disk = next((d for d in machine.disks if path in (d.path, d.by_id)), None)
        if disk is None:
            owner = _partition_owner(machine, path)
            if owner is not None:
                result.problems.append(Problem(
                    f"{path} is a partition of {owner.path}", key=key,
                    fix=f"give the whole disk ({owner.by_id or owner.path}); it is wiped entirely"))
            else:
                result.problems.append(Problem(
                    f"{path} does not exist on this machine", key=key,
                    fix=here))
            continue
        if disk.path in seen:
            result.problems.append(Problem(
                f"{path} is the same disk as {seen[disk.path]} ({disk.path})", key=key,
                fix="list each disk once"))
            continue
        seen[disk.path] = path
        verdict = classify(disk, live_devices=set(machine.live_devices), seed_device=seed,
                           min_size_bytes=min_size)
        target = WipeTarget(role, path, disk, verdict)
        result.targets.append(target)
        if not verdict.installable:
            result.problems.append(Problem(
                f"{path} cannot be installed to: {'; '.join(verdict.reasons)}", key=key,
                fix="choose another disk (kldload-tui disks shows which are installable)"))
        elif not verdict.empty and not consent:
            result.problems.append(Problem(
                f"{path} is not empty ({'; '.join(verdict.contents)})", key=key,
                fix="set KLDLOAD_FORCE_WIPE=1 to wipe it, or choose an empty disk"))
    return result


# What `check_targets` reads of the answers (and the consent it may take from them).
TARGET_FIELDS = ("disk", "zfs_data_disks", "zfs_special_disks", "profile", "force_wipe")


def target_problems_of_fields(fields: Mapping[str, Any], machine: Machine) -> list[Problem]:
    """The disks' problems for answers given as flat fields that failed elsewhere (a
    bad hostname): a request is refused with every problem at once, not its disks
    only after the rest is fixed. Judged on those fields alone, with placeholders for
    the other required ones; empty when the disk fields are themselves refused (their
    own problems say why) or absent."""
    from kldload_tui.backend.answers.fields import parse_answers_fields

    given = {name: fields[name] for name in TARGET_FIELDS if name in fields}
    if "disk" not in given:
        return []
    from kldload_tui.backend.answers.file import STAND_INS

    # The disks are judged alike for every distribution: the stand-in's will do.
    alone = parse_answers_fields({**STAND_INS, **given})
    if alone.answers is None or not alone.ok:
        return []
    return list(check_targets(alone.answers, machine, consent=alone.answers.force_wipe).problems)
