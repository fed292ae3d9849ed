"""Uploading an exported image with scp, and checking what arrived with ssh.

With a key (`KLDLOAD_EXPORT_SCP_KEY`) everything runs unattended:
`-i KEY -o BatchMode=yes -o StrictHostKeyChecking=accept-new`. With a password
(`KLDLOAD_EXPORT_SCP_PASS`, used only when there is no key) ssh asks for it on
a terminal and the runner answers the prompt through pexpect: the password is
never in argv, the environment, a file or the log. With neither, the live
system's own ssh identities are tried, still in batch mode, so nothing ever
waits for a person who is not there.

`KLDLOAD_EXPORT_SCP_PATH` names a directory: the image keeps its name there.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from backend.answers import Answers
from backend.runner import Runner

__all__ = ["PASSWORD_PROMPT", "UploadTarget", "remote_sha256", "remote_sha256_argv",
           "scp_argv", "ssh_options", "upload"]

# "user@host's password: " (password) and "(user@host) Password: " (PAM
# keyboard-interactive) both end like this while ssh waits for the answer.
PASSWORD_PROMPT = r"(?i)password:\s*$"
_DIGEST = re.compile(r"^([0-9a-f]{64})\s", re.MULTILINE)


@dataclass(frozen=True)
class UploadTarget:
    """Where an image goes: `user@host:directory/`, and how ssh gets there.

    `port`, `known_hosts` and `ssh_config` exist for callers that must not use
    the defaults (tests keep their host keys out of ~/.ssh with them).
    """

    host: str
    user: str = "root"
    directory: str = "/root/"
    key: str = ""
    port: int | None = None
    known_hosts: Path | None = None
    ssh_config: Path | None = None

    @classmethod
    def from_answers(cls, answers: Answers, *, port: int | None = None,
                     known_hosts: Path | None = None, ssh_config: Path | None = None
                     ) -> UploadTarget | None:
        """The answers' upload target, or None when no host is set."""
        if not answers.export_scp_host:
            return None
        return cls(answers.export_scp_host, answers.export_scp_user,
                   answers.export_scp_path or "/root/", answers.export_scp_key,
                   port, known_hosts, ssh_config)

    def remote_file(self, name: str) -> str:
        """The uploaded image's path on the host."""
        return f"{self.directory.rstrip('/')}/{name}"

    def uses_password(self, password: str) -> bool:
        """True when ssh authenticates with `password` (a key always wins)."""
        return bool(password) and not self.key


def _option_value(path: Path) -> str:
    # ssh splits -o values on whitespace unless the value is double-quoted.
    text = str(path)
    return f'"{text}"' if any(c.isspace() for c in text) else text


def ssh_options(target: UploadTarget, *, password: bool, port_flag: str) -> list[str]:
    """Options shared by scp and ssh (`port_flag` is `-P` for scp, `-p` for ssh)."""
    options: list[str] = []
    if target.ssh_config is not None:
        options += ["-F", str(target.ssh_config)]
    if target.port is not None:
        options += [port_flag, str(target.port)]
    if password:
        # Exactly one password attempt: a wrong one fails at once instead of
        # being offered again to each re-prompt.
        options += ["-o", "PubkeyAuthentication=no",
                    "-o", "PreferredAuthentications=keyboard-interactive,password",
                    "-o", "NumberOfPasswordPrompts=1"]
    else:
        if target.key:
            options += ["-i", target.key, "-o", "IdentitiesOnly=yes"]
        options += ["-o", "BatchMode=yes"]
    options += ["-o", "StrictHostKeyChecking=accept-new"]
    if target.known_hosts is not None:
        options += ["-o", f"UserKnownHostsFile={_option_value(target.known_hosts)}"]
    # A dead link fails the upload within a minute instead of hanging it.
    options += ["-o", "ConnectTimeout=30", "-o", "ServerAliveInterval=15",
                "-o", "ServerAliveCountMax=4"]
    return options


def scp_argv(local: Path, target: UploadTarget, *, password: bool = False) -> list[str]:
    """scp `local` to `target.remote_file(local.name)`."""
    host = f"[{target.host}]" if ":" in target.host else target.host  # IPv6
    return ["scp", *ssh_options(target, password=password, port_flag="-P"), "--",
            str(local), f"{target.user}@{host}:{target.remote_file(local.name)}"]


def remote_sha256_argv(target: UploadTarget, remote_file: str, *, password: bool = False
                       ) -> list[str]:
    """ssh to the target and print the SHA256 of `remote_file` there.

    ssh hands the command to the remote shell as one string, so the path is
    quoted for that shell.
    """
    return ["ssh", *ssh_options(target, password=password, port_flag="-p"),
            "-l", target.user, "--", target.host,
            f"sha256sum -- {shlex.quote(remote_file)}"]


def _run(runner: Runner, argv: list[str], password: str, *, check: bool) -> str:
    if password:
        # No timeout: a large image takes as long as it takes; ServerAlive
        # options end the session when the link is dead.
        return runner.interact(argv, [(PASSWORD_PROMPT, password)], check=check,
                               timeout=None).stdout
    return runner.run(argv, check=check).stdout


def upload(runner: Runner, local: Path, target: UploadTarget, *, password: str = "") -> str:
    """Copy `local` to the target; return its remote path. Raises `CommandError`."""
    secret = password if target.uses_password(password) else ""
    if secret:
        runner.add_secret(secret)
    _run(runner, scp_argv(local, target, password=bool(secret)), secret, check=True)
    return target.remote_file(local.name)


def remote_sha256(runner: Runner, target: UploadTarget, remote_file: str, *,
                  password: str = "") -> str | None:
    """The SHA256 of `remote_file` on the target; None when ssh printed none.

    Raises `CommandError` (with ssh's or sha256sum's complaint) when the
    command fails: no such file, refused login, no sha256sum on the host.
    """
    secret = password if target.uses_password(password) else ""
    output = _run(runner, remote_sha256_argv(target, remote_file, password=bool(secret)),
                  secret, check=True)
    # Over a pty the output also holds the prompt; the digest starts a line.
    match = _DIGEST.search(output.replace("\r", ""))
    return match.group(1) if match else None
