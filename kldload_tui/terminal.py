"""What kind of terminal this is: a serial line, the Linux console, or a terminal
type that draws neither Unicode boxes nor colour.

The TUI (ASCII borders, no mouse, a patient ESC) and the headless printer
(plain lines instead of rich) ask the same questions, answered here once.
"""

from __future__ import annotations

import os
import re
import sys
from typing import TextIO

# Terminal types of serial consoles and dumb terminals: no box or block glyphs, no
# colour assumed. An unset TERM counts: a bare getty or a unit's console has none.
PLAIN_TERMS = frozenset({"", "dumb", "ansi", "vt52", "vt100", "vt102", "vt220", "vt320"})
# The Linux console draws colour, but its font lacks box glyphs (textual#5011).
LINUX_CONSOLE_TERM = "linux"
# Serial ports and hypervisor consoles; /dev/console is the kernel's console, a serial
# line as often as not on a server, so it is treated as one.
SERIAL_TTY = re.compile(r"^/dev/(console$|(ttyS|ttyUSB|ttyACM|ttyAMA|ttymxc|hvc|ttysclp)\d*)")


def tty_name(stream: TextIO | None = None) -> str:
    """The terminal device of `stream` (default stdin), or "" when it is none."""
    try:
        return os.ttyname((sys.stdin if stream is None else stream).fileno())
    except (OSError, ValueError):
        return ""


def on_serial_line(tty: str | None = None) -> bool:
    """True when `tty` (default: stdin's terminal) is a serial port or a hypervisor console."""
    return SERIAL_TTY.match(tty_name() if tty is None else tty) is not None


def plain_term(term: str | None = None) -> bool:
    """True when `term` (default: $TERM) is a terminal type without colour or box glyphs."""
    return (os.environ.get("TERM", "") if term is None else term) in PLAIN_TERMS


def on_console(term: str | None = None, tty: str | None = None) -> bool:
    """True on the Linux console, a serial line, or a terminal type without box glyphs."""
    term = os.environ.get("TERM", "") if term is None else term
    return term == LINUX_CONSOLE_TERM or plain_term(term) or on_serial_line(tty)


def on_serial_console(stream: TextIO) -> bool:
    """True when `stream` is a terminal on a serial line, or of a type without colour:
    slow, and better served by plain lines than by rich."""
    name = tty_name(stream)
    return bool(name) and (on_serial_line(name) or plain_term())
