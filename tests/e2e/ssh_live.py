"""`ssh-live`: an operator reaches the live ISO over SSH with the key given as
`kldload.ssh_key=` on the kernel command line, and nothing else gets in.

The ISO boots as a CD under OVMF with a blank target and a NIC on QEMU's user
network (restrict=on) whose port 22 is forwarded from 127.0.0.1. At GRUB's menu
the harness opens GRUB's command line, as an operator adding a parameter would,
and boots the login entry's kernel line plus `"kldload.ssh_key=ssh-ed25519 ..."`
(the quoted form the live system documents). Then, from the host:

- the matching key logs in as root and runs `kldload-tui disks --json`, which
  must offer the blank target as installable and the CD as the live system's;
- another key is refused;
- a password is refused (with a key given, no one-time password is made);
- the console never showed a one-time password.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pexpect

from kldload_tui.backend.iso.boot import LIVE_DIR, menu_entries
from tests.e2e.bootcheck import CheckFailed
from tests.e2e.installs import ISO_BOOT_TIMEOUT, TARGET_SIZE
from tests.e2e.iso import LOGIN_ENTRY, MENU, MENU_TIMEOUT, cd_guest
from tests.e2e.qemu import Disk, Firmware, Guest, blank, free_port

if TYPE_CHECKING:
    from tests.e2e.layouts import Result, Run

SSH_WAIT = 180.0  # sshd starts after the login prompt can show
GRUB_STEP_TIMEOUT = 600.0  # loading the kernel or the initrd from the CD under load
KEY_DELAY = 0.05  # seconds between keys typed at GRUB
LOGIN_PROMPT = r"kldload login: "
ONE_TIME = "one-time password for this boot"
KEY_TAKEN = "kldload: SSH as root with the given key (1 key(s))"


def _key(path: Path, comment: str) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                    "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


def _ssh_argv(port: int, key: Path | None) -> list[str]:
    argv = ["ssh", "-p", str(port), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=30",
            "-o", "LogLevel=ERROR"]
    if key is not None:
        argv += ["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", str(key)]
    return [*argv, "root@127.0.0.1"]


def _as_root(port: int, key: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*_ssh_argv(port, key), command], capture_output=True, text=True,
                          check=False, timeout=600, stdin=subprocess.DEVNULL)


def _first_login(port: int, key: Path) -> str:
    """`kldload-tui disks --json` over SSH, once sshd answers."""
    deadline = time.monotonic() + SSH_WAIT
    while True:
        r = _as_root(port, key, "kldload-tui disks --json")
        if r.returncode == 0:
            return r.stdout
        if time.monotonic() > deadline:
            raise CheckFailed(f"the matching key did not log in (exit {r.returncode}): "
                              f"{r.stderr.strip()[-500:]}")
        time.sleep(5)


def _password_refused(port: int) -> str:
    """What a password login gets: refused, whether or not a prompt comes first."""
    child = pexpect.spawn(_ssh_argv(port, None)[0], [
        *_ssh_argv(port, None)[1:], "-o", "PubkeyAuthentication=no",
        "-o", "PreferredAuthentications=password,keyboard-interactive", "true"],
        encoding="utf-8", timeout=120)
    try:
        seen = []
        for _ in range(3):
            index = child.expect([r"[Pp]assword: ", r"Permission denied[^\r\n]*", pexpect.EOF])
            if index == 0:
                child.sendline("kldload")  # a guess; no fixed password exists
                seen.append("prompt")
                continue
            if index == 1:
                return f"refused ({'after a prompt' if seen else 'no password offered'})"
            break
        raise CheckFailed(f"a password login was not refused: {child.before!r}")
    finally:
        child.close(force=True)


def _grub_command(guest: Guest, line: str) -> None:
    """Type `line` at GRUB's prompt and run it. GRUB polls the serial port and drops
    what arrives while it redraws a long line (seen: a kernel line arrived as
    `luz`), so the keys go one at a time, with the console read meanwhile; Enter
    then waits for the next prompt, which comes once the command has run."""
    child = guest._require()

    def type_slowly() -> None:
        for ch in line:
            child.send(ch)
            time.sleep(KEY_DELAY)

    guest.while_reading(type_slowly)
    guest.send("\r")
    index, match = guest.expect_any([r"grub> ", r"error: [^\r\n]*"], GRUB_STEP_TIMEOUT,
                                    f"GRUB to run `{line[:40]}...`")
    if index != 0:
        raise CheckFailed(f"GRUB refused `{line[:60]}...`: {match.group(0)}")


def ssh_live(ctx: Run, result: Result) -> None:
    keys = ctx.run_dir / "ssh-live-keys"
    keys.mkdir(exist_ok=True)
    right, wrong = keys / "operator", keys / "stranger"
    public = _key(right, "operator@e2e")
    _key(wrong, "stranger@e2e")
    target = Disk(blank(ctx.run_dir / "ssh-live-target0.raw", TARGET_SIZE, ctx.log), "target0",
                  fmt="raw")
    port = free_port()
    guest = cd_guest("ssh-live", ctx.run_dir, ctx.need_iso(), [target],
                     Firmware.uefi(ctx.run_dir, "ssh-live-ovmf-vars.fd"))
    guest.network = True
    guest.hostfwd = [(port, 22)]
    entry = next(e for e in menu_entries() if e.hotkey == LOGIN_ENTRY)
    with guest:
        try:
            with result.step("grub-cmdline"):
                guest.expect(MENU, MENU_TIMEOUT, "GRUB's menu on the serial console")
                guest.send("c")
                guest.expect(r"grub> ", 120, "GRUB's command line")
                for line in (f"linux /{LIVE_DIR}/vmlinuz {' '.join(entry.params)} "
                             f'"kldload.ssh_key={public}"',
                             f"initrd /{LIVE_DIR}/initrd.img"):
                    _grub_command(guest, line)
                guest.send("boot\r")
            with result.step("live-boot"):
                guest.expect(LOGIN_PROMPT, ISO_BOOT_TIMEOUT, "the live system's login prompt")
                # Everything the console showed from `boot` to the login prompt.
                shown = str(guest._require().before)
                if ONE_TIME in shown:
                    raise CheckFailed("a one-time password was made although a key was given")
                if KEY_TAKEN not in shown:
                    raise CheckFailed(f"the console does not say {KEY_TAKEN!r}")
                result.checks.append("key-taken-no-one-time-password")
            with result.step("key-login"):
                disks = json.loads(guest.while_reading(lambda: _first_login(port, right)))
                by_id = {d.get("by_id"): d for d in disks["disks"]}
                blank_disk = by_id.get(target.guest_path)
                if blank_disk is None or not blank_disk["verdict"]["installable"]:
                    raise CheckFailed(f"disks --json over SSH does not offer {target.guest_path}"
                                      f" as installable: {sorted(map(str, by_id))}")
                if not disks["live_devices"]:
                    raise CheckFailed("disks --json names no device of the live system")
                result.checks += ["key-from-kernel-cmdline-logs-in", "disks-json-over-ssh"]
            with result.step("refusals"):
                r = guest.while_reading(lambda: _as_root(port, wrong, "true"))
                if r.returncode == 0 or "Permission denied" not in r.stderr:
                    raise CheckFailed(f"another key was not refused (exit {r.returncode}): "
                                      f"{r.stderr.strip()}")
                result.checks.append("other-key-refused")
                how = guest.while_reading(lambda: _password_refused(port))
                result.checks.append("password-refused")
                result.report.append(f"password login: {how}")
            with result.step("poweroff"):
                guest.while_reading(lambda: _as_root(port, right, "systemctl poweroff"))
                guest.wait_exit(300)
            result.ok = True
        finally:
            result.console_tail = guest.tail()
