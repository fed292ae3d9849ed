"""The live system's scripts pass shellcheck, each in the shell it runs under."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from kldload_tui.backend.iso.liveroot import LIVE_FILES, template

SHELLS = {"kldload-autoinstall": "bash", "kldload-getty": "sh", "kldload-live.sh": "sh"}


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
@pytest.mark.parametrize("name", sorted(SHELLS))
def test_live_scripts_pass_shellcheck(tmp_path: Path, name: str):
    path = tmp_path / name
    path.write_text(template(name))
    r = subprocess.run(["shellcheck", f"--shell={SHELLS[name]}", str(path)],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout


def test_every_template_is_installed_somewhere():
    installed = {name for name, _, _ in LIVE_FILES}
    on_disk = {p.name for p in (Path(__file__).resolve().parents[2] / "backend/iso/templates")
               .iterdir()}
    assert on_disk == installed
