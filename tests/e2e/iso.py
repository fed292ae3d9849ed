"""The product's live ISO, as the install layouts boot it.

Built by the product's own ``kldload-tui iso build`` (kldload_tui/backend/iso,
docs/iso.md) with a darksite serving every profile and feature the layouts
install, cached by that build under ``$KLDLOAD_E2E_ISO_CACHE`` (default: ``iso/``
under the e2e cache root): a build with nothing changed reads the mirror's
indexes and links the cached ISO, a few seconds.

Each guest boots it as a CD under OVMF (or SeaBIOS): the harness waits for GRUB's
menu on the serial console and presses the hotkey of the entry it wants (``s``:
the serial console, with the autoinstall; ``n``: the serial console with a login
prompt and no autoinstall).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kldload_tui.backend.answers.model import Profile
from kldload_tui.backend.iso.boot import menu_entries
from kldload_tui.backend.iso.liveroot import HOSTNAME
from tests.e2e import cache
from tests.e2e.packages import E2E_FEATURES, E2E_PROFILES
from tests.e2e.qemu import Disk, Firmware, Guest, GuestError
from tests.e2e.sh import run

ISO_CACHE_ENV = "KLDLOAD_E2E_ISO_CACHE"
SERIAL_ENTRY = "s"  # console=ttyS0,115200: the autoinstall's output on the serial console
LOGIN_ENTRY = "n"  # the same, kldload.autoinstall=0: a login prompt
# GRUB draws its menu on the serial port too (boot.grub_cfg); the default entry
# starts after 5 s, so the hotkey is pressed once the menu is there.
MENU = re.escape(next(e.title for e in menu_entries() if e.hotkey == SERIAL_ENTRY))
MENU_TIMEOUT = 180.0
# Where live-boot mounts the medium; the engine finds the darksite there.
MEDIUM_DARKSITE = "/run/live/medium/darksite"
ROOT_PROMPT = rf"root@{HOSTNAME}:~# "


def iso_cache() -> Path:
    """The ISO build's cache (never inside the repository: images must not be committed)."""
    default = cache.cache_root() / "iso"
    root = Path(os.environ.get(ISO_CACHE_ENV, str(default))).resolve()
    if root == cache.REPO or cache.REPO in root.parents:
        raise SystemExit(f"{ISO_CACHE_ENV}={root} is inside the repository; put it elsewhere")
    root.mkdir(parents=True, exist_ok=True)
    return root


@dataclass(frozen=True)
class LiveIso:
    """A built ISO and what its build said (`iso build --json`'s summary)."""

    path: Path
    summary: dict[str, Any]

    @property
    def kver(self) -> str:
        return str(self.summary["kernel"])

    @property
    def module_package(self) -> str:
        """The prebuilt ZFS module package in the live root and the darksite."""
        return f"zfs-modules-{self.kver}"

    @property
    def suite(self) -> str:
        # kldload-<suite>-<version>.iso (build.iso_name)
        return self.path.name.split("-")[1]

    def built_steps(self) -> list[str]:
        """The build's steps that made something (not taken from the cache)."""
        return [s["name"] for s in self.summary["steps"]
                if not s["cached"] and s["name"] not in ("mirror", "output")]

    def step_seconds(self) -> dict[str, float]:
        return {s["name"]: float(s["seconds"]) for s in self.summary["steps"]}


def build_argv(out: Path, cache_dir: Path, profiles: tuple[Profile, ...] = E2E_PROFILES,
               features: tuple[str, ...] = E2E_FEATURES) -> list[str]:
    """`kldload-tui iso build` with a darksite for every layout's profile and feature."""
    argv = [str(cache.REPO / ".venv/bin/kldload-tui"), "iso", "build", "--out", str(out),
            "--darksite", "--cache", str(cache_dir), "--json"]
    argv += [arg for p in profiles for arg in ("--profile", p.value)]
    argv += [arg for f in features for arg in ("--feature", f)]
    return argv


def ensure_iso(run_dir: Path, log: Path) -> LiveIso:
    """The ISO of the current working tree, built or taken from the build's cache.

    Its output (hard links to the cache) and its own build.log go to RUN_DIR/iso."""
    out = run_dir / "iso"
    summary = json.loads(run(build_argv(out, iso_cache()), log=log, capture=True))
    return LiveIso(Path(summary["iso"]), summary)


def cd_guest(name: str, run_dir: Path, iso: LiveIso, disks: list[Disk],
             firmware: Firmware | None, medium: str = "cd") -> Guest:
    """A machine with the ISO in its CD drive, or written to a USB stick (`medium`
    `usb`), booted first, and `disks`."""
    if medium == "usb":
        return Guest(name, run_dir, disks=disks, usb_stick=iso.path, firmware=firmware)
    return Guest(name, run_dir, disks=disks, cdrom=iso.path, firmware=firmware)


def choose_entry(guest: Guest, hotkey: str) -> None:
    """Wait for GRUB's menu on the serial console and start the entry of `hotkey`."""
    guest.expect(MENU, MENU_TIMEOUT, "GRUB's menu on the serial console")
    guest.send(hotkey)


def log_in_with_one_time_password(guest: Guest, timeout: float) -> None:
    """At the login prompt of the `n` entry: root with the password that
    kldload-live-ssh generated for this boot and showed on the console."""
    match = guest.expect(r"one-time password for this boot: (\S+)\r*\n", timeout,
                         "the live system's one-time password")
    password = match.group(1)
    guest.expect(rf"{HOSTNAME} login: ", timeout, "the live system's login prompt")
    guest.sendline("root")
    guest.expect(r"Password: ", 60, "the password prompt")
    guest.sendline(password)
    index, _ = guest.expect_any([ROOT_PROMPT, r"Login incorrect"], 120, "the root shell")
    if index != 0:
        raise GuestError(f"{guest.name}: the one-time password was refused")
    guest.harness_prompt("dmesg -n 1")
