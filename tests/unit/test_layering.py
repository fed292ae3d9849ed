"""The layers: the backend is usable from a plain script (it never imports
textual, the screens or the front door: harlequin's check), and everything
installs under one namespace."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import kldload_tui.backend as backend

ROOT = Path(__file__).parents[2]


def test_backend_never_imports_textual_or_the_front_ends():
    names = [m.name for m in pkgutil.walk_packages(backend.__path__, "kldload_tui.backend.")]
    code = (f"import importlib, sys\nfor n in {names!r}:\n    importlib.import_module(n)\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'textual' or "
            "(m.startswith('kldload_tui.') and not m.startswith('kldload_tui.backend')))\n"
            "print(bad)\nsys.exit(1 if bad else 0)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(names) > 30


def test_committed_answers_reference_is_current():
    from kldload_tui.backend.answers.doc import render_reference

    committed = (ROOT / "docs" / "answers.md").read_text()
    assert committed == render_reference(), (
        "docs/answers.md is stale: python -m kldload_tui.backend.answers.doc > docs/answers.md")
