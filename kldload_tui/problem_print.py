"""Errors and warnings about an input, printed the same way by every command.

Problems are diagnostics: they go to stderr, whatever their severity, so that
stdout carries only what a command makes (a summary, a plan, JSON) and can be
piped. A warning says so at the start of its line.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TextIO

from kldload_tui.backend.problems import Problem, Severity


def problem_line(problem: Problem) -> str:
    """`FILE:LINE: KEY: what is wrong; how to fix it`, prefixed `warning: ` for a warning."""
    prefix = "warning: " if problem.severity is Severity.WARNING else ""
    return prefix + problem.render()


def print_problems(problems: Iterable[Problem], stream: TextIO | None = None) -> None:
    """Each problem on its own line, on stderr (or `stream`)."""
    out = sys.stderr if stream is None else stream
    for problem in problems:
        print(problem_line(problem), file=out)
