"""The e2e overhead measurement's instruments, checked on the host without QEMU.

bare.py turns an install log and a plan into a shell script of the same commands
and writes; if it dropped or reordered a command, the ratio it measures would be
meaningless. Here a real LocalRunner logs a small install into a temporary
directory, the script made from that log runs under `sh` in a second directory,
and both directories must end up identical.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from kldload_tui.backend.engine.runner import LocalRunner
from tests.e2e import bare
from tests.e2e.installs import written_regions
from tests.e2e.overhead import _bare_phases

# Quotes, a backslash, a dollar sign and no final newline: printf '%s' must keep them.
AWKWARD = "line 'one'\n\"two\" \\ $HOME `x`\nno newline at the end"
ANSWERS = "KLDLOAD_USERNAME=ops\nKLDLOAD_PASSWORD='pa ss'\n"


def _install(root: Path, log: Path) -> dict[str, list[dict[str, object]]]:
    """A tiny install: commands with env and stdin, and writes; returns its plan."""
    steps: list[dict[str, object]] = []
    with LocalRunner(log_path=log, secrets=["pa ss"]) as runner:
        runner.current_phase = "partition"
        runner.run(["mkdir", "-p", f"{root}/etc"])
        runner.run(["sh", "-c", f'echo "$STAGE" >> {root}/order'], env={"STAGE": "one"})
        runner.current_phase = "configure"
        for path, content, mode in ((f"{root}/etc/awkward", AWKWARD, 0o600),
                                    (f"{root}/etc/fstab", "UUID=ESP-UUID /boot/efi vfat\n",
                                     0o644),
                                    (f"{root}/etc/awkward", AWKWARD + " again", 0o640)):
            runner.write_file(path, content, mode)
            steps.append({"kind": "write", "path": path, "content": content})
        # Stands in for chpasswd: bare.py supplies stdin only to chpasswd.
        runner.run(["sh", "-c", f"cat > {root}/chpasswd.in", "chpasswd"], input="ops:pa ss\n")
        runner.run(["sh", "-c", f'echo "$STAGE" >> {root}/order'], env={"STAGE": "two"})
    return {"steps": steps}


def test_the_script_redoes_the_install(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    log = tmp_path / "install.log"
    plan = _install(first, log)
    # The script replays the first directory's paths; point them at the second one.
    text = bare.script(log.read_text(), plan, ANSWERS).replace(str(first), str(second))
    assert "pa ss" not in log.read_text()  # the password came from the answers, not the log
    result = subprocess.run(["sh", "-e", "-c", text], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert (second / "order").read_text() == "one\ntwo\n"
    assert (second / "etc/awkward").read_text() == AWKWARD + " again"
    assert os.stat(second / "etc/awkward").st_mode & 0o777 == 0o640
    assert (second / "chpasswd.in").read_text() == "ops:pa ss\n"
    # The phase markers frame each phase, in the order the log has them.
    markers = [line.split("name=")[1].split()[0] for line in result.stdout.splitlines()
               if "bare-phase" in line]
    assert markers == ["partition", "configure", "end"]


def test_a_write_the_plan_does_not_hold_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "install.log"
    plan = _install(tmp_path / "root", log)
    plan["steps"] = plan["steps"][:1]  # the second write of etc/awkward is missing
    with pytest.raises(bare.BareError, match="no content for write"):
        bare.script(log.read_text(), plan, ANSWERS)


def test_phase_durations_are_the_gaps_between_markers() -> None:
    console = ("KLDLOAD-E2E: bare-phase name=partition 100.5\nnoise\n"
               "KLDLOAD-E2E: bare-phase name=bootstrap 102.0\n"
               "KLDLOAD-E2E: bare-phase name=end 700.25\n")
    assert _bare_phases(console) == {"partition": 1.5, "bootstrap": 598.25}


def test_written_regions_sees_data_not_holes(tmp_path: Path) -> None:
    image = tmp_path / "disk.raw"
    with image.open("wb") as handle:
        handle.truncate(64 << 20)
        handle.seek(10 << 20)
        handle.write(b"\0" * 4096)  # allocated but zero: untouched as far as a disk goes
        handle.seek(40 << 20)
        handle.write(b"GPT")
    regions = written_regions(image)
    assert len(regions) == 1
    offset, length = regions[0]
    assert offset <= (40 << 20) < offset + length
