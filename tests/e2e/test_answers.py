"""Every e2e layout's answers are valid before a guest is booted for them.

A layout whose answers the product refuses fails only after the cached builds and
a seed; raidz1 did, on an unquoted list of disks. Checked here in milliseconds.
"""

from __future__ import annotations

import pytest

from kldload_tui.backend.answers.file import parse_answers
from tests.e2e.answers import InstallSpec, answers_text, by_id
from tests.e2e.boot_layouts import BOOT_SPECS
from tests.e2e.golden import golden_spec
from tests.e2e.installs import SPECS

# The golden layout pins a host key it makes at run time; any fingerprint will do here.
ALL_SPECS = {**SPECS, **BOOT_SPECS,
             "golden": golden_spec("SHA256:Ag8lryHgrJzj/iqJSLcFN0zMMrqdZMRN58cYNJRdmQE")}


@pytest.mark.parametrize("finish", ["poweroff", "none"])  # the live ISO's, the stand-in's
@pytest.mark.parametrize("spec", ALL_SPECS.values(), ids=list(ALL_SPECS))
def test_layout_answers_parse(spec: InstallSpec, finish: str) -> None:
    parsed = parse_answers(answers_text(spec, "bookworm", finish),
                           source=f"{spec.name}-answers.env")
    assert [p.render() for p in parsed.errors] == []
    assert parsed.answers is not None
    assert parsed.answers.finish_action.value == finish
    disks = [parsed.answers.disk, *parsed.answers.zfs_data_disks]
    if spec.missing_disk:
        assert disks == [by_id("not-attached")]
    else:
        assert disks == [by_id(s) for s in spec.serials]


def test_the_installed_copy_replays_only_with_the_finish_action_used() -> None:
    from tests.e2e.bootcheck import CheckFailed, replay_check

    spec = SPECS["single"]
    copy = answers_text(spec, "bookworm", "poweroff")  # an install from the ISO
    replay_check(copy, spec, "bookworm", "poweroff")
    with pytest.raises(CheckFailed, match="finish_action"):
        replay_check(copy, spec, "bookworm", "none")
