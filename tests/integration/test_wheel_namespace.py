"""Installed, the project is one import namespace: the wheel holds `kldload_tui`
and nothing else at the top (no `backend`, no `screens` to collide with another
project's), with the backend's package data inside it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_the_wheel_holds_one_namespace_with_its_data(tmp_path: Path) -> None:
    # A real build, isolated as pip builds for an install.
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                        str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    (wheel,) = tmp_path.glob("kldload_tui-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"kldload_tui"}
    for inside in ("kldload_tui/backend/engine/launcher.py",
                   "kldload_tui/backend/target/templates/firstboot",
                   "kldload_tui/backend/machine/descriptions/one-disk-vm.json",
                   "kldload_tui/screens/progress.tcss",
                   "kldload_tui/backend/py.typed"):
        assert inside in names, inside


def test_backend_is_not_importable_at_the_top_once_installed(tmp_path: Path) -> None:
    # Away from the checkout (whose folders a bare `import backend` would find).
    code = ("import importlib.util, sys\n"
            "print([m for m in ('backend', 'screens') if importlib.util.find_spec(m)])\n"
            "import kldload_tui.backend.engine.launcher, kldload_tui.screens.base\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=tmp_path, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
