"""The keyboard walk through `kldload-tui --demo`, driven in a pty by pexpect.

Kept apart from the test so that it can be run by hand to watch or debug it:
`python -m tests.tui.walk /tmp/walk.env` (add NO_COLOR=1 TERM=linux to the environment).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pexpect

EXE = Path(sys.executable).parent / "kldload-tui"
ROWS, COLS = 24, 80
TIMEOUT = 20
USER_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl "
            "ops@infra")

# Keys as a terminal sends them.
ENTER, TAB, SPACE = "\r", "\t", " "
DOWN = "\x1b[B"
CTRL_N, CTRL_Q = "\x0e", "\x11"


@dataclass
class Walk:
    """One run of the walk: what the terminal received, and the keys sent."""

    output: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.output)


class Driver:
    """Sends keys one at a time and waits for what each step should show.

    `timeout` for each wait and `settle` after it: a guest under emulation drawing
    over a serial line needs far more of both than a local pty."""

    def __init__(self, child: pexpect.spawn, walk: Walk, *, timeout: float = TIMEOUT,
                 settle: float = 0.3) -> None:
        self.child = child
        self.walk = walk
        self.timeout = timeout
        self.settle = settle

    def wait(self, text: str, timeout: float | None = None) -> None:
        """Wait until the screen shows `text` (a literal string)."""
        self.child.expect_exact(text, timeout=timeout or self.timeout)
        # Let the screen finish mounting (focus is set on mount) before typing; on a
        # machine busier than it has cores that takes longer (a Space for a feature's
        # checkbox was lost with the load at 3.5 per core).
        load = os.getloadavg()[0] / (os.cpu_count() or 1)
        time.sleep(self.settle * max(1.0, load))

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.walk.keys.append(key)
            self.child.send(key)
            # Apart, so an escape sequence is never read as Escape followed by text.
            time.sleep(0.1)

    def type(self, text: str, *, echo: bool = False) -> None:
        """Type text at once, as a fast typist would; `echo`: wait until it is drawn.

        Editing keys (ctrl+u, backspace) are avoided: Textual resolves an Input's
        bindings after the text typed behind them, so they could land out of order.
        """
        self.walk.keys.append(text)
        self.child.send(text)
        if echo:
            self.child.expect_exact(text[-20:], timeout=TIMEOUT)
        time.sleep(0.2)


class Keys(Protocol):
    """What the walk needs of a terminal: the pty's `Driver`, or a browser's."""

    def wait(self, text: str, timeout: float | None = None) -> None: ...
    def keys(self, *keys: str) -> None: ...
    def type(self, text: str, *, echo: bool = False) -> None: ...


def walk_keys(d: Keys, save_to: Path) -> None:
    """The walk's keystrokes, from the welcome screen to confirming the quit: every
    step changed, the answers saved to `save_to`, a dry-run install, quit."""
    d.wait("Press Enter (or ctrl+n) to start")
    d.keys(ENTER)

    d.wait("2/9 Distribution")  # Debian stays; its suite becomes bookworm
    d.keys(TAB, TAB, DOWN, ENTER)

    d.wait("3/9 Disks")  # the seed's target is highlighted: Enter keeps it
    d.keys(ENTER)

    d.wait("4/9 ZFS topology")  # raidz1 from the seed; add encryption
    d.keys(TAB, TAB, TAB, TAB, TAB, SPACE, TAB)
    d.type("correct horse battery")
    d.keys(TAB)
    d.type("correct horse battery")
    d.keys(ENTER)

    d.wait("5/9 Network")  # static on eno1
    d.keys(DOWN, TAB, DOWN, TAB)
    d.type("10.0.1.50")
    d.keys(TAB, TAB)
    d.type("10.0.1.1")
    d.keys(TAB)
    d.type("10.0.1.1,1.1.1.1")
    d.keys(ENTER)

    d.wait("6/9 Identity")
    # A prefilled field is selected when it gets the focus: typing replaces it.
    d.type("stor-prod-02", echo=True)
    d.keys(TAB)
    d.type("ops", echo=True)
    d.keys(TAB)
    d.type("s3cret-Pass!")
    d.keys(TAB)
    d.type("s3cret-Pass!")
    d.keys(TAB)
    d.type(USER_KEY, echo=True)
    d.keys(TAB, TAB)
    d.type("vancouver", echo=True)
    d.wait("1 zone(s) match")
    d.keys(TAB, ENTER)  # pick America/Vancouver from the list: it fills the field
    time.sleep(0.5)
    d.keys(ENTER)

    d.wait("7/9 Features")  # KVM and eBPF, two extra packages
    d.keys(SPACE, TAB, SPACE, TAB, TAB, TAB, TAB)
    d.type("htop tmux", echo=True)
    d.keys(ENTER)

    # No image: the raidz1 pool spans three disks, and an image holds one
    # (validation refuses it; test_features_export covers the export fields).
    d.wait("8/9 Export")  # no image, reboot when done
    d.keys(TAB, DOWN, ENTER)

    d.wait("9/9 Review")
    d.keys("s")
    d.wait("Save the answers")
    d.type(str(save_to), echo=True)
    d.keys(ENTER)
    d.wait("Saved to")

    d.keys(CTRL_N)
    d.wait("Complete: dry run complete")
    d.keys("b")
    d.wait("would run systemctl reboot")
    d.keys(CTRL_Q)
    d.wait("Quit to the live system?")
    d.keys("y")


def live_install_keys(d: Keys, *, hostname: str, password: str, ssh_key: str,
                      install_timeout: float, mirror: bool = False,
                      static: tuple[str, str, str] | None = None,
                      features: tuple[int, ...] = ()) -> None:
    """An operator's install on a live machine with blank disks: Debian on the
    medium's suite (bookworm, the darksite's), the highlighted disk, the admin user
    with `password` and `ssh_key`, no image, power off when done. From the welcome
    screen to pressing `p` on the complete install.

    Left as offered unless asked: a single pool, DHCP, no features. `mirror`: the
    second installable disk ticked as the mirror's other half. `static`: (address,
    gateway, DNS) on the first network interface listed, its /24 prefix as offered.
    `features`: the positions of the features to switch on, in the screen's order."""
    d.wait("Press Enter (or ctrl+n) to start")
    d.keys(ENTER)
    d.wait("2/9 Distribution")
    d.keys(TAB, TAB, DOWN, ENTER)  # the suite list: bookworm (the last; Down stays there)
    d.wait("3/9 Disks")  # the first installable disk is highlighted
    d.keys(ENTER)
    d.wait("4/9 ZFS topology")
    if mirror:
        d.keys(DOWN)  # mirror, the layout after single
        d.wait("mirror needs 2 or more disks")
        d.keys(TAB, SPACE)  # the first of the more data disks: the other blank one
        d.wait("(mirror;")
    d.keys(ENTER)
    d.wait("5/9 Network")
    if static:
        address, gateway, dns = static
        d.keys(DOWN, TAB, DOWN, TAB)  # static; the first interface after "every wired"
        d.type(address, echo=True)
        d.keys(TAB, TAB)  # past the prefix, /24 as offered
        d.type(gateway, echo=True)
        d.keys(TAB)
        d.type(dns, echo=True)
    d.keys(ENTER)
    d.wait("6/9 Identity")
    d.type(hostname, echo=True)
    d.keys(TAB, TAB)  # past the admin user's name, kept
    d.type(password)
    d.keys(TAB)
    d.type(password)
    d.keys(TAB)
    d.type(ssh_key, echo=True)
    d.keys(ENTER)
    d.wait("7/9 Features")
    at = 0
    for position in sorted(features):
        d.keys(*[TAB] * (position - at), SPACE)
        at = position
    d.keys(ENTER)
    d.wait("8/9 Export")  # no image; power off when done
    d.keys(ENTER)
    d.wait("9/9 Review")
    d.keys(CTRL_N)
    d.wait("Complete: ", timeout=install_timeout)
    d.keys("p")


class _Tee:
    def __init__(self, walk: Walk) -> None:
        self.walk = walk

    def write(self, data: str) -> None:
        self.walk.output.append(data)

    def flush(self) -> None:
        pass


def run_walk(save_to: Path, *, env: dict[str, str], cwd: Path | None = None) -> Walk:
    """Walk every screen of the demo by keystrokes, save the answers to `save_to`,
    install (recording only), and quit. Returns what the terminal showed."""
    walk = Walk()
    child = pexpect.spawn(str(EXE), ["--demo"], env=env, dimensions=(ROWS, COLS),
                          encoding="utf-8", codec_errors="replace", timeout=TIMEOUT,
                          cwd=str(cwd) if cwd else None)
    child.logfile_read = _Tee(walk)
    d = Driver(child, walk)
    try:
        walk_keys(d, save_to)
        child.expect(pexpect.EOF, timeout=TIMEOUT)
    finally:
        child.close(force=True)
        dump = os.environ.get("KLDLOAD_WALK_DUMP")
        if dump:  # the raw terminal output, to replay in a terminal emulator when debugging
            Path(dump).write_text(walk.text, encoding="utf-8")
    walk.keys.append(f"exit status {child.exitstatus}")
    if child.exitstatus != 0:
        raise AssertionError(f"kldload-tui exited with {child.exitstatus}")
    return walk


def terminal_env(**extra: str) -> dict[str, str]:
    """A clean environment for an 80x24 terminal of the given kind."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("COLORTERM", "NO_COLOR", "TEXTUAL", "TERM_PROGRAM")}
    env.update({"COLUMNS": str(COLS), "LINES": str(ROWS)}, **extra)
    return env


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "walk.env").resolve()
    extra = {"TERM": os.environ.get("TERM", "vt100")}
    if "NO_COLOR" in os.environ:
        extra["NO_COLOR"] = os.environ["NO_COLOR"]
    result = run_walk(target, env=terminal_env(**extra))
    print(f"saved {target}; {len(result.text)} characters of terminal output")
