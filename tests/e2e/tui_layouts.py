"""Installs typed into the TUI, as an operator does it, on the live ISO with no seed:

- `tui-serial`: on the serial console (the ISO's serial entry; the console logs
  root in and starts the TUI with TERM=vt100);
- `tui-ssh`: over SSH, logged in as root with the one-time password the live
  system shows on its console (no key anywhere), `kldload-tui` started in that
  session with TERM=vt100 in an 80x24 terminal. The guest's port 22 is reached
  through a forward on 127.0.0.1 (QEMU's user network, restrict=on).

Both type their keys through tests/tui/walk.py `live_install_keys` and press `p` on
the complete install; the disks then boot alone under OVMF for the checks of every
install layout. `tui-ssh` leaves every choice as offered but the identity (a
hostname, a password and a key). `tui-serial` is the design's first use, bare metal
over a serial console, with the choices an operator makes there: a mirror of its
two blank disks, static addressing on its NIC (checked in use after the boot:
QEMU's DHCP would give another address), the identity, and WireGuard.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import pexpect

from kldload_tui.screens.features import FEATURES
from tests.e2e.answers import SSH_KEY, InstallSpec, StaticNet
from tests.e2e.bootcheck import CheckFailed
from tests.e2e.installs import ISO_BOOT_TIMEOUT, boot_and_check, live_firmware, target_disk
from tests.e2e.iso import SERIAL_ENTRY, cd_guest, choose_entry
from tests.e2e.qemu import Guest, free_port
from tests.tui.walk import Driver, Walk, live_install_keys

if TYPE_CHECKING:
    from tests.e2e.layouts import Result, Run

# The TUI's own default: Debian's broad initramfs (the walk leaves it as offered).
SERIAL = InstallSpec("tui-serial", disks=2, topology="mirror", password="e2e-Serial-Passw0rd",
                     initramfs_modules="most",
                     static=StaticNet("enp0s1", "10.0.2.50", 24, "10.0.2.2", "10.0.2.3"),
                     features=("wireguard",))
SSH = InstallSpec("tui-ssh", password="e2e-Ssh-Passw0rd-1", initramfs_modules="most")
INSTALL_TIMEOUT = 7200.0
# A screen of the TUI under emulation, drawn over a 115200 baud line or SSH.
STEP_TIMEOUT = 600.0
SETTLE = 3.0
# sshd starts after the console shows the one-time password.
SSH_WAIT = 180.0
ONE_TIME_PASSWORD = r"one-time password for this boot: (\S+)\r*\n"
# The Features step's ticks, in the order Tab visits them.
FEATURE_ORDER = [name for name, _ in FEATURES]


def _type_install(child: pexpect.spawn, spec: InstallSpec) -> None:
    assert spec.password is not None
    net = spec.static
    live_install_keys(Driver(child, Walk(), timeout=STEP_TIMEOUT, settle=SETTLE),
                      hostname=spec.hostname, password=spec.password, ssh_key=SSH_KEY,
                      install_timeout=INSTALL_TIMEOUT, mirror=spec.topology == "mirror",
                      static=(net.address, net.gateway, net.dns) if net else None,
                      features=tuple(FEATURE_ORDER.index(f) for f in spec.features))


def tui_serial(ctx: Run, result: Result) -> None:
    spec = SERIAL
    firmware = live_firmware(ctx, spec)
    targets = [target_disk(ctx, spec, serial) for serial in spec.serials]
    guest = cd_guest(f"{spec.name}-install", ctx.run_dir, ctx.need_iso(), targets, firmware)
    guest.network = True  # a NIC to address (QEMU's user network, restrict=on)
    with guest:
        try:
            with result.step("live-boot"):
                choose_entry(guest, SERIAL_ENTRY)
            with result.step("install"):
                _type_install(guest._require(), spec)
            with result.step("live-poweroff"):
                guest.wait_exit(600)
        finally:
            result.console_tail = guest.tail()
    boot_and_check(ctx, result, spec, targets, firmware)
    result.checks = ["typed-on-the-serial-console", *result.checks]
    result.ok = True


def _ssh(port: int, log_path: str) -> pexpect.spawn:
    """An operator's SSH session to the live system: password only, vt100, 80x24."""
    argv = ["-p", str(port), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "PubkeyAuthentication=no",
            "-o", "PreferredAuthentications=password,keyboard-interactive",
            "-o", "ConnectTimeout=30", "-t", "root@127.0.0.1"]
    env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "DISPLAY")}
    child = pexpect.spawn("ssh", argv, env={**env, "TERM": "vt100"}, dimensions=(24, 80),
                          encoding="utf-8", codec_errors="replace", timeout=None)
    child.logfile_read = open(log_path, "a", encoding="utf-8", errors="replace")  # noqa: SIM115
    return child


def _ssh_session(port: int, log_path: str) -> pexpect.spawn:
    """An SSH session at its password prompt. The one-time password is on the console
    before sshd listens (the first try was reset): retried until SSH_WAIT is over."""
    deadline = time.monotonic() + SSH_WAIT
    while True:
        child = _ssh(port, log_path)
        if child.expect([r"[Pp]assword: ", pexpect.EOF], timeout=300) == 0:
            return child
        child.close(force=True)
        if child.logfile_read is not None:
            child.logfile_read.close()
        if time.monotonic() > deadline:
            raise CheckFailed(f"ssh ended before asking for the password for {SSH_WAIT:.0f} s")
        time.sleep(5)


def _ssh_install(port: int, password: str, spec: InstallSpec, log_path: str) -> None:
    child = _ssh_session(port, log_path)
    try:
        child.sendline(password)
        index = child.expect([r"root@kldload:~# ", r"[Pp]ermission denied", pexpect.EOF],
                             timeout=300)
        if index != 0:
            raise CheckFailed("the live system refused its one-time password over SSH")
        child.sendline("kldload-tui")
        _type_install(child, spec)
        # `p` powers the machine off: the session ends with it.
        child.expect(pexpect.EOF, timeout=600)
    finally:
        child.close(force=True)
        if child.logfile_read is not None:
            child.logfile_read.close()


def tui_ssh(ctx: Run, result: Result) -> None:
    spec = SSH
    firmware = live_firmware(ctx, spec)
    targets = [target_disk(ctx, spec, serial) for serial in spec.serials]
    port = free_port()
    guest: Guest = cd_guest(f"{spec.name}-install", ctx.run_dir, ctx.need_iso(), targets,
                            firmware)
    guest.network = True
    guest.hostfwd = [(port, 22)]
    log_path = str(ctx.run_dir / f"{spec.name}-ssh.log")
    with guest:
        try:
            with result.step("live-boot"):
                choose_entry(guest, SERIAL_ENTRY)
                password = guest.expect(ONE_TIME_PASSWORD, ISO_BOOT_TIMEOUT,
                                        "the one-time SSH password").group(1)
            with result.step("install"):
                guest.while_reading(lambda: _ssh_install(port, password, spec, log_path))
            with result.step("live-poweroff"):
                guest.wait_exit(600)
        finally:
            result.console_tail = guest.tail()
    boot_and_check(ctx, result, spec, targets, firmware)
    result.checks = ["typed-over-ssh-with-the-one-time-password", *result.checks]
    result.ok = True
