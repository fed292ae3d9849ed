"""A real sshd on 127.0.0.1 for integration tests, and a throwaway local user.

`running_sshd` starts `/usr/sbin/sshd -D` on a free port with a host key, a
config and authorized keys that all live in a temporary directory, and a
client key authorised for root. Clients are meant to use `-F /dev/null` and
`UserKnownHostsFile=<workdir>/known_hosts` (see `Sshd.client_options`), so
nothing under ~/.ssh or /etc/ssh is read or written. Password logins are
allowed only for the users named in `password_users` (a `Match User` block),
and `AllowUsers` admits nobody else. The daemon is stopped in `finally`.

`throwaway_user` creates a local user with a password and deletes it again,
also when the test fails. Both need root.

Kept out of conftest.py so that other test modules import what they need.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"
# sshd refuses to start without its privilege separation directory.
PRIVSEP_DIR = Path("/run/sshd")
START_TIMEOUT = 10.0


def sshd_missing() -> str | None:
    """Why a real sshd cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root: sshd and its host key"
    for tool in (SSHD, "ssh", "scp", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (openssh-server/openssh-client)"
    return None


def user_tools_missing() -> str | None:
    """Why a throwaway user cannot be made here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root: useradd/userdel"
    for tool in ("useradd", "userdel", "chpasswd"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (passwd)"
    return None


@dataclass(frozen=True)
class Sshd:
    """A running test sshd and what a client needs to reach it."""

    port: int
    workdir: Path
    host_key: Path
    client_key: Path
    known_hosts: Path
    log: Path
    host: str = "127.0.0.1"

    def client_options(self) -> list[str]:
        """ssh options that keep a client away from ~/.ssh (ssh: `-p`; scp uses `-P`)."""
        return ["-F", "/dev/null", "-p", str(self.port), "-i", str(self.client_key),
                "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=accept-new",
                "-o", f"UserKnownHostsFile={self.known_hosts}"]

    def ssh_root(self, command: str) -> subprocess.CompletedProcess[str]:
        """Run `command` on the test sshd as root, by key."""
        return subprocess.run(["ssh", *self.client_options(), "-l", "root", self.host,
                               command], capture_output=True, text=True, timeout=30,
                              check=False)

    @property
    def host_public_key(self) -> str:
        """The daemon's host key as `TYPE BASE64`, the way ssh-keyscan reports it."""
        pub = self.host_key.with_name(self.host_key.name + ".pub")
        return " ".join(pub.read_text().split()[:2])

    @property
    def host_fingerprint(self) -> str:
        """`SHA256:...` of the host key, from ssh-keygen (not from the code under test)."""
        out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(self.host_key)],
                             capture_output=True, text=True, check=True).stdout
        return out.split()[1]

    def authorize(self, user: str, public_key: str) -> None:
        """Let `user` log in with `public_key`."""
        keys = self.workdir / "authorized_keys" / user
        with keys.open("a") as handle:
            handle.write(public_key.strip() + "\n")


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f",
                    str(path)], check=True, capture_output=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(workdir: Path, port: int, users: Sequence[str],
            password_users: Sequence[str]) -> str:
    lines = [
        f"Port {port}",
        "ListenAddress 127.0.0.1",
        f"HostKey {workdir / 'host_ed25519'}",
        f"PidFile {workdir / 'sshd.pid'}",
        f"AuthorizedKeysFile {workdir / 'authorized_keys'}/%u",
        # The temporary directory sits under /tmp (mode 1777), which StrictModes rejects.
        "StrictModes no",
        # PAM's session modules (pam_loginuid) fail in containers; sshd then
        # checks passwords against /etc/shadow itself.
        "UsePAM no",
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitEmptyPasswords no",
        f"AllowUsers {' '.join(users)}",
        "Subsystem sftp internal-sftp",
        "LogLevel VERBOSE",
    ]
    if password_users:
        lines += [f"Match User {','.join(password_users)}", "    PasswordAuthentication yes"]
    return "\n".join(lines) + "\n"


def _wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited ({proc.returncode}): {log.read_text()}")
        with contextlib.suppress(OSError), \
                socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            if conn.recv(8).startswith(b"SSH-"):
                return
        time.sleep(0.05)
    raise RuntimeError(f"sshd did not answer on port {port}: {log.read_text()}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    # Only the process group this module started (sshd is its leader).
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextlib.contextmanager
def running_sshd(workdir: Path, *, password_users: Sequence[str] = ()) -> Iterator[Sshd]:
    """A started sshd that admits root by key and `password_users` by password."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "authorized_keys").mkdir(exist_ok=True)
    host_key = workdir / "host_ed25519"
    client_key = workdir / "client_ed25519"
    _keygen(host_key, "kldload-test-host")
    _keygen(client_key, "kldload-test-client")
    # Left in place afterwards: it is where any sshd on this system expects it.
    PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    log = workdir / "sshd.log"
    config = workdir / "sshd_config"
    for attempt in range(3):  # the free port may be taken before sshd binds it
        port = _free_port()
        config.write_text(_config(workdir, port, ["root", *password_users], password_users))
        subprocess.run([SSHD, "-t", "-f", str(config)], check=True, capture_output=True)
        with log.open("ab") as sink:
            proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL,
                                    stdout=sink, stderr=sink, start_new_session=True)
        try:
            _wait_ready(proc, port, log)
            break
        except RuntimeError:
            _stop(proc)
            if attempt == 2:
                raise
    server = Sshd(port, workdir, host_key, client_key, workdir / "known_hosts", log)
    try:
        server.authorize("root", (workdir / "client_ed25519.pub").read_text())
        yield server
    finally:
        _stop(proc)


@contextlib.contextmanager
def throwaway_user(password: str, home: Path) -> Iterator[str]:
    """A local user with `password` and `home` (which it then owns); deleted afterwards."""
    name = "kldx" + secrets.token_hex(4)
    home.mkdir(mode=0o755, parents=True, exist_ok=True)
    subprocess.run(["useradd", "--no-create-home", "--home-dir", str(home), "--shell",
                    "/bin/sh", "--no-user-group", "--gid", "users", name],
                   check=True, capture_output=True)
    try:
        subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True,
                       capture_output=True)
        shutil.chown(home, user=name)
        yield name
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)


@contextlib.contextmanager
def world_dir() -> Iterator[Path]:
    """A directory outside the pytest tree (which is 0700 root) that any user can reach."""
    path = Path(tempfile.mkdtemp(prefix="kldload-test-"))
    try:
        path.chmod(0o755)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
