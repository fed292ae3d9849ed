"""SSH into the live system, set up at each boot (`kldload-live-ssh.service`).

Root's key comes from `kldload.ssh_key=` on the kernel command line (quoted:
`kldload.ssh_key="ssh-ed25519 AAAA... me@laptop"`), or from `authorized_keys` on
the seed disk. Failing both, a one-time password is generated for this boot and
shown on the consoles; there is never a fixed password. Host keys are made on
this boot: the ISO carries none, so two machines never share one.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

from kldload_tui.backend.answers.validators import FieldProblem, ssh_public_key
from kldload_tui.backend.engine.runner import CommandError, LocalRunner, Runner
from kldload_tui.backend.seed.fs import is_seed_label
from kldload_tui.backend.seed.url import parse_cmdline

STATE = Path("/run/kldload")
PASSWORD_FILE = STATE / "ssh-password"
SSHD_DROPIN = Path("/etc/ssh/sshd_config.d/kldload-live.conf")
ISSUE = Path("/run/issue.d/kldload-ssh.issue")
# Unambiguous on a console: no 0/O, 1/l/I.
ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
PASSWORD_GROUPS = 4

KEYS_ONLY = ("PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
             "KbdInteractiveAuthentication no\n")
WITH_PASSWORD = ("PermitRootLogin yes\nPasswordAuthentication yes\n"
                 "KbdInteractiveAuthentication no\n")


def keys_from_cmdline(cmdline: str) -> list[str]:
    """Valid public keys given as `kldload.ssh_key=` (any number of times)."""
    keys: list[str] = []
    for key, value in parse_cmdline(cmdline):
        if key == "kldload.ssh_key" and value:
            try:
                keys.append(ssh_public_key(value.strip()))
            except (FieldProblem, ValueError) as err:
                print(f"kldload-live-ssh: kldload.ssh_key= ignored: {err}", file=sys.stderr)
    return keys


def one_time_password() -> str:
    """Four groups of four characters, about 80 bits, easy to type from a screen."""
    groups = ("".join(secrets.choice(ALPHABET) for _ in range(4))
              for _ in range(PASSWORD_GROUPS))
    return "-".join(groups)


def seed_keys(runner: Runner) -> list[str]:
    """Keys from `authorized_keys` on a seed disk, mounted read-only for the read."""
    out = runner.run(["lsblk", "-rno", "PATH,LABEL"], check=False).stdout
    devices = [w[0] for w in (ln.split(" ", 1) for ln in out.splitlines())
               if len(w) == 2 and is_seed_label(w[1].replace("\\x20", " "))]
    keys: list[str] = []
    for device in devices:
        mnt = STATE / "seed-ssh"
        mnt.mkdir(parents=True, exist_ok=True)
        if runner.run(["mount", "-o", "ro", device, str(mnt)], check=False).returncode != 0:
            continue
        try:
            path = mnt / "authorized_keys"
            if path.is_file():
                for line in path.read_text(errors="replace").splitlines():
                    if line.strip() and not line.startswith("#"):
                        try:
                            keys.append(ssh_public_key(line.strip()))
                        except (FieldProblem, ValueError) as err:
                            print(f"kldload-live-ssh: {device}: a key ignored: {err}",
                                  file=sys.stderr)
        finally:
            runner.run(["umount", str(mnt)], check=False)
    return keys


def consoles(active: Path = Path("/sys/class/tty/console/active")) -> list[str]:
    """The kernel's consoles (`console=` on the command line), each once."""
    try:
        names = active.read_text().split()
    except OSError:
        names = []
    return [f"/dev/{name}" for name in names] or ["/dev/console"]


def _show(text: str) -> None:
    # Every console an operator may be looking at; a missing one is no error.
    for console in consoles():
        try:
            with open(console, "w", encoding="utf-8") as tty:
                tty.write(text + "\n")
        except OSError:
            continue


def setup(runner: Runner, cmdline: str, root: Path = Path("/")) -> str:
    """Host keys, root's keys or a one-time password; returns what was chosen."""
    runner.run(["ssh-keygen", "-A"])
    keys = keys_from_cmdline(cmdline) or seed_keys(runner)
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if keys:
        runner.write_file(ssh_dir / "authorized_keys", "\n".join(keys) + "\n", 0o600)
        runner.write_file(root / SSHD_DROPIN.relative_to("/"), KEYS_ONLY)
        _show(f"kldload: SSH as root with the given key ({len(keys)} key(s))")
        return "key"
    password = one_time_password()
    runner.add_secret(password)
    runner.run(["chpasswd"], input=f"root:{password}\n")
    runner.write_file(root / PASSWORD_FILE.relative_to("/"), password + "\n", 0o600,
                      secret=True)
    runner.write_file(root / SSHD_DROPIN.relative_to("/"), WITH_PASSWORD)
    runner.write_file(root / ISSUE.relative_to("/"),
                      f"kldload live: SSH as root, one-time password {password}\n", 0o644,
                      secret=True)
    _show(f"kldload: SSH as root, one-time password for this boot: {password}")
    return "password"


def main() -> int:
    """Entry point of kldload-live-ssh.service."""
    cmdline = Path("/proc/cmdline").read_text(errors="replace")
    try:
        setup(LocalRunner(), cmdline)
    except (OSError, subprocess.SubprocessError, CommandError) as err:
        print(f"kldload-live-ssh: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
