"""The bad-input corpus (tests/bad-input/): each file, every error, word for word.

Each `NAME.env` holds one class of problem and `NAME.expected` the exact error
lines `kldload-tui validate NAME.env` prints from that folder. The files are
read through `load_answers`, the path `validate` takes, and once more through
the installed command itself.
"""

import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from kldload_tui.backend.answers.file import load_answers

CORPUS = Path(__file__).parents[1] / "bad-input"
FILES = sorted(CORPUS.glob("*.env"))
# What must never reach the console raw: C0, DEL, C1, line and paragraph
# separators, bidi controls.
RAW = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def expected(env: Path) -> list[str]:
    return env.with_suffix(".expected").read_text(encoding="utf-8").splitlines()


def rendered(env: Path) -> tuple[list[str], list[str]]:
    """(errors, warnings) as `validate` prints them when run in the corpus folder."""
    result = load_answers(env)
    assert not result.ok, f"{env.name} is valid"
    show = [replace(p, source=env.name).render() for p in result.problems]
    errors = [line for line, p in zip(show, result.problems, strict=True) if p in result.errors]
    return errors, [line for line in show if line not in errors]


def test_the_corpus_is_complete():
    assert len(FILES) >= 25
    for env in FILES:
        assert env.with_suffix(".expected").is_file(), f"{env.name} has no .expected"
    orphans = {p.stem for p in CORPUS.glob("*.expected")} - {p.stem for p in FILES}
    assert not orphans


@pytest.mark.parametrize("env", FILES, ids=[p.stem for p in FILES])
def test_every_error_exactly(env):
    errors, warnings = rendered(env)
    assert errors == expected(env)
    for line in errors + warnings:
        assert not RAW.search(line), f"raw control or bidi character in: {line!r}"


@pytest.mark.parametrize("env", [p for p in FILES if "password" in p.stem
                                 or "passphrase" in p.stem])
def test_a_refused_secret_is_never_echoed(env):
    text = env.read_text(encoding="utf-8")
    secret = re.search(r"_(?:PASSWORD|PASSPHRASE)='([^']*)'", text)
    assert secret
    errors, warnings = rendered(env)
    # Any 4 characters in a row of the secret, escaped or not, would be an echo.
    words = {secret.group(1)[i:i + 4] for i in range(len(secret.group(1)) - 3)}
    for line in errors + warnings:
        assert not any(w in line for w in words if w.isprintable()), line


def test_the_installed_command_prints_the_same_lines():
    exe = shutil.which("kldload-tui", path=str(Path(sys.executable).parent))
    argv = [exe] if exe else [sys.executable, "-m", "kldload_tui"]
    r = subprocess.run([*argv, "validate", "--quiet", *[p.name for p in FILES]], cwd=CORPUS,
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 1
    assert r.stdout == ""
    printed = [line for line in r.stderr.splitlines() if not line.endswith(" error)")
               and not line.endswith(" errors)")]
    assert printed == [line for env in FILES for line in expected(env)]
