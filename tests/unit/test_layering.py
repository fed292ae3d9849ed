"""The backend is usable from a plain script: it never imports textual (harlequin's check)."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import backend


def test_backend_never_imports_textual():
    names = [m.name for m in pkgutil.walk_packages(backend.__path__, "backend.")]
    code = (f"import importlib, sys\nfor n in {names!r}:\n    importlib.import_module(n)\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'textual', 'screens', "
            "'kldload_tui'})\nprint(bad)\nsys.exit(1 if bad else 0)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=Path(__file__).parents[2])
    assert r.returncode == 0, r.stdout + r.stderr


def test_committed_answers_reference_is_current():
    from backend.answers_doc import render_reference

    committed = (Path(__file__).parents[2] / "docs" / "answers.md").read_text()
    assert committed == render_reference(), (
        "docs/answers.md is stale: python -m backend.answers_doc > docs/answers.md")
