"""QEMU guests under software emulation, driven over the serial console with pexpect.

KVM guests hang at boot on these machines (nested virtualisation is broken), so
always ``-accel tcg``; each guest keeps about one core busy. Every guest is killed
when its context ends, and its console is logged to the run directory (outside the
repository).
"""

from __future__ import annotations

import re
import secrets
import shutil
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import pexpect

from tests.e2e.sh import run

T = TypeVar("T")

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
MARKER = "KLDLOAD-E2E:"
# The first serial port (ttyS0), where SeaBIOS shows its console when asked to.
SERIAL_PORT = 0x3F8
# A line the kernel or journald printed on the console while a command ran (a
# cloud-init stage, a driver): `[   93.533616] cloud-init[578]: ...`. Never output.
CONSOLE_MESSAGE = re.compile(r"^\[\s*\d+\.\d+\] ")


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now, for a `hostfwd`."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GuestError(RuntimeError):
    """A guest did not do what was expected in time; carries the console's tail."""


@dataclass(frozen=True)
class Disk:
    """A virtio disk; the serial shows up in the guest as /dev/disk/by-id/virtio-SERIAL."""

    path: Path
    serial: str
    fmt: str = "qcow2"
    readonly: bool = False

    @property
    def guest_path(self) -> str:
        return f"/dev/disk/by-id/virtio-{self.serial}"


def overlay(base: Path, dest: Path, log: Path, base_fmt: str = "raw") -> Path:
    """A throw-away qcow2 on top of a cached image: the image itself stays pristine."""
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", base_fmt, "-b", str(base), str(dest)],
        log=log)
    return dest


def blank(dest: Path, size: str, log: Path, fmt: str = "raw") -> Path:
    """A blank (sparse) virtual disk, like a new drive."""
    run(["qemu-img", "create", "-q", "-f", fmt, str(dest), size], log=log)
    return dest


@dataclass(frozen=True)
class Firmware:
    """UEFI firmware: Debian's OVMF code read-only plus a private copy of the variables."""

    code: Path
    vars: Path

    @classmethod
    def uefi(cls, run_dir: Path, name: str = "ovmf-vars.fd") -> Firmware:
        dest = run_dir / name
        shutil.copy2(OVMF_VARS, dest)
        return cls(OVMF_CODE, dest)

    def args(self) -> list[str]:
        return ["-drive", f"if=pflash,format=raw,readonly=on,file={self.code}",
                "-drive", f"if=pflash,format=raw,file={self.vars}"]


@dataclass
class Guest:
    """One QEMU guest: direct kernel boot (kernel/initrd/append) or firmware boot."""

    name: str
    run_dir: Path
    disks: list[Disk] = field(default_factory=list)
    kernel: Path | None = None
    initrd: Path | None = None
    append: str = ""
    firmware: Firmware | None = None
    # An ISO in a CD drive, booted first (bootindex 0): the product's live medium.
    cdrom: Path | None = None
    # The same ISO written to a USB stick instead (dd of the hybrid image): an
    # xHCI controller with a usb-storage disk, booted first.
    usb_stick: Path | None = None
    # A NIC on QEMU's user network with restrict=on: DHCP from QEMU, no way out.
    # Installed systems get one (a server has a NIC; networkd waits for it), the
    # live guest none (installs need no network).
    network: bool = False
    # (host port, guest port): TCP forwarded from 127.0.0.1 only, as an operator's
    # client reaches a service of the guest.
    hostfwd: list[tuple[int, int]] = field(default_factory=list)
    # More options of the user network, as `,key=value...` (the PXE layout's tftp=,
    # bootfile= and guestfwd=), and booting from the NIC first (its iPXE ROM).
    net_options: str = ""
    netboot: bool = False
    memory_mib: int = 4096
    cpus: int = 2
    child: pexpect.spawn | None = None
    started: float = 0.0

    @property
    def console_log(self) -> Path:
        return self.run_dir / f"{self.name}-console.log"

    def argv(self) -> list[str]:
        """The full QEMU command line."""
        argv = ["qemu-system-x86_64", "-name", self.name, "-accel", "tcg", "-machine", "q35",
                "-m", str(self.memory_mib), "-smp", str(self.cpus),
                "-nographic", "-no-reboot",
                "-nic", self._nic(),
                # No default devices (q35's empty CD drive would show up as a disk to the
                # installer's probe); the serial console and monitor on stdio only.
                "-nodefaults", "-serial", "mon:stdio"]
        if self.firmware:
            argv += self.firmware.args()
        if self.netboot:
            argv += ["-boot", "order=n"]
            if self.firmware is None:
                # SeaBIOS's serial console (there is no VGA): iPXE's messages on ttyS0.
                port = self.run_dir / "sercon-port"
                port.write_bytes(SERIAL_PORT.to_bytes(2, "little"))
                argv += ["-fw_cfg", f"name=etc/sercon-port,file={port}"]
        if self.kernel:
            argv += ["-kernel", str(self.kernel)]
        if self.initrd:
            argv += ["-initrd", str(self.initrd)]
        if self.append:
            argv += ["-append", self.append]
        if self.cdrom:
            # q35's own AHCI controller; the firmware boots the CD before any disk.
            argv += ["-drive", f"file={self.cdrom},format=raw,if=none,id=cd,media=cdrom,"
                               "readonly=on",
                     "-device", "ide-cd,drive=cd,bus=ide.0,bootindex=0"]
        if self.usb_stick:
            # Read-only, as a write-protected stick: nothing may change the medium.
            argv += ["-device", "qemu-xhci,id=xhci",
                     "-drive", f"file={self.usb_stick},format=raw,if=none,id=stick,readonly=on",
                     "-device", "usb-storage,bus=xhci.0,drive=stick,bootindex=0"]
        for i, disk in enumerate(self.disks):
            ro = ",readonly=on" if disk.readonly else ""
            argv += ["-drive", f"file={disk.path},format={disk.fmt},if=none,id=d{i},"
                               f"cache=unsafe{ro}",
                     "-device", f"virtio-blk-pci,drive=d{i},serial={disk.serial}"]
        return argv

    def _nic(self) -> str:
        if not self.network and not self.netboot:
            return "none"
        forwards = "".join(f",hostfwd=tcp:127.0.0.1:{host}-:{guest}"
                           for host, guest in self.hostfwd)
        return f"user,restrict=on,model=virtio-net-pci{forwards}{self.net_options}"

    def start(self) -> Guest:
        """Start the guest with its console logged; returns self for chaining."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        argv = self.argv()
        (self.run_dir / f"{self.name}-argv.txt").write_text(" ".join(argv) + "\n")
        log = self.console_log.open("a", encoding="utf-8", errors="replace")
        self.child = pexpect.spawn(argv[0], argv[1:], encoding="utf-8", codec_errors="replace",
                                   timeout=None, maxread=65536, dimensions=(50, 250))
        self.child.logfile_read = log
        self.started = time.monotonic()
        return self

    def _require(self) -> pexpect.spawn:
        if self.child is None:
            raise GuestError(f"{self.name}: not started")
        return self.child

    def tail(self, lines: int = 40) -> str:
        """The end of the console log, for failure reports."""
        text = self.console_log.read_text(errors="replace") if self.console_log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def expect(self, pattern: str, timeout: float, what: str = "") -> re.Match[str]:
        """Wait for a regex on the console; GuestError on timeout or guest exit."""
        child = self._require()
        try:
            child.expect(pattern, timeout=timeout)
        except pexpect.TIMEOUT:
            raise GuestError(f"{self.name}: timed out after {timeout:.0f}s waiting for "
                             f"{what or pattern}") from None
        except pexpect.EOF:
            raise GuestError(f"{self.name}: guest exited while waiting for "
                             f"{what or pattern}") from None
        match: re.Match[str] = child.match
        return match

    def expect_any(self, patterns: list[str], timeout: float, what: str
                   ) -> tuple[int, re.Match[str]]:
        """Wait for the first of several regexes; (its index, the match)."""
        child = self._require()
        try:
            index: int = child.expect(patterns, timeout=timeout)
        except pexpect.TIMEOUT:
            raise GuestError(f"{self.name}: timed out after {timeout:.0f}s waiting for "
                             f"{what}") from None
        except pexpect.EOF:
            raise GuestError(f"{self.name}: guest exited while waiting for {what}") from None
        match: re.Match[str] = child.match
        return index, match

    def wait_marker(self, marker: str, timeout: float) -> dict[str, str]:
        """Wait for ``KLDLOAD-E2E: marker [k=v ...] EPOCH``; returns the k=v fields."""
        match = self.expect(rf"{MARKER} {re.escape(marker)}((?: \S+=\S*)*) (\d+(?:\.\d+)?)\r*\n",
                            timeout, f"marker {marker}")
        fields = dict(f.split("=", 1) for f in match.group(1).split())
        fields["epoch"] = match.group(2)
        return fields

    def send(self, text: str) -> None:
        """Type keys at the console, no Enter (a GRUB menu's hotkey)."""
        self._require().send(text)

    def sendline(self, text: str) -> None:
        """Type a line at the console."""
        self._require().sendline(text)

    def login_shell(self, prompt: str, timeout: float) -> None:
        """Wait for the autologin prompt, then make the shell easy to drive: no line
        editing or echo (so output is only output), no kernel messages, a plain prompt,
        and pipefail (a pipeline fails when any part does). The prompt is set as
        'e2e''# ' so that the echo of this very line does not look like it."""
        self.expect(prompt, timeout, "the root shell prompt")
        self.harness_prompt("dmesg -n 1")

    def harness_prompt(self, also: str = "") -> None:
        """In a shell that is already logged in: the settings `login_shell` describes
        (`also` runs with them, e.g. what only root may do), then wait for the prompt."""
        extra = f"{also}; " if also else ""
        self.sendline(f"set +o emacs +o vi -o pipefail; stty -echo cols 250; {extra}"
                      "PS1='e2e''# '; PS2=''; PROMPT_COMMAND=''; export TERM=dumb")
        self.expect(r"e2e# ", 30, "the harness prompt")

    def shell(self, command: str, timeout: float) -> tuple[int, str]:
        """Run a command in the console shell; returns (exit status, output)."""
        token = secrets.token_hex(4)
        self.sendline(f"{command}; echo \"{MARKER} rc=$? {token}\"")
        match = self.expect(rf"{MARKER} rc=(\d+) {token}\r*\n", timeout, f"`{command}`")
        output = (self._require().before or "").replace("\r", "")
        self.expect(r"e2e# ", 30, "the prompt after a command")
        # The console is shared with the system's own messages; a check reads only
        # what the command printed.
        output = "\n".join(line for line in output.split("\n")
                           if not CONSOLE_MESSAGE.match(line))
        return int(match.group(1)), output

    def while_reading(self, work: Callable[[], T]) -> T:
        """`work()` in a thread while this thread reads the console. A console nobody
        reads fills its pty; the guest's writes to the serial port then stall (a TUI
        redrawing, the kernel's messages), and with them the guest."""
        child = self._require()
        with ThreadPoolExecutor(1, thread_name_prefix=self.name) as pool:
            future = pool.submit(work)
            while not future.done():
                try:
                    child.read_nonblocking(65536, timeout=1)
                except pexpect.TIMEOUT:
                    continue
                except pexpect.EOF:
                    break  # the guest is gone: `work` ends on its own (a closed socket)
            return future.result()

    def wait_exit(self, timeout: float) -> None:
        """Wait for QEMU to exit by itself (the guest powered off)."""
        self.expect(pexpect.EOF, timeout, "the guest to power off")

    def kill(self) -> None:
        """Stop QEMU if it still runs (always called on leaving the context)."""
        if self.child is not None and self.child.isalive():
            self.child.terminate(force=True)
        if self.child is not None and self.child.logfile_read:
            self.child.logfile_read.close()

    def __enter__(self) -> Guest:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.kill()
