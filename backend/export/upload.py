"""Uploading an exported image with scp, and checking what arrived with ssh.

Trust comes first: before any login the image server's host key is settled,
so a password is only ever typed into the host the answers named.

- Pinned (`KLDLOAD_EXPORT_SCP_HOST_KEY`): a known_hosts-style key line or a
  `SHA256:` fingerprint. The host's keys are fetched with `ssh-keyscan`; a pin
  the host does not offer refuses the upload with both fingerprints named.
- Not pinned: only for key logins (a password without a pin is refused). The
  key `ssh-keyscan` fetches first is trusted on first use, and its fingerprint
  is logged and shown, so the operator can pin it next time.

The trusted key then becomes the pin for the session (`trust_host` returns a
target that carries it): every scp and ssh runs with
`StrictHostKeyChecking=yes` against a private known_hosts file (mode 0600, in a
fresh temporary directory, removed afterwards) that holds only that key, so
the upload and the later checksum talk to the same host. scp runs in SFTP
mode (`-s`, OpenSSH 8.7 and later) so no remote shell ever reads the path.

With a key (`KLDLOAD_EXPORT_SCP_KEY`) everything runs unattended:
`-i KEY -o BatchMode=yes`. With a password (`KLDLOAD_EXPORT_SCP_PASS`, used
only when there is no key) ssh asks for it on a terminal and the runner answers
the prompt through pexpect: the password is never in argv, the environment, a
file or the log. With neither, the live system's own ssh identities are tried,
still in batch mode, so nothing ever waits for a person who is not there.

`KLDLOAD_EXPORT_SCP_PATH` names a directory: the image keeps its name there.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import re
import shlex
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kldload_tui.backend.answers.model import Answers
from kldload_tui.backend.answers.validators import FieldProblem, split_host_key
from kldload_tui.backend.engine.runner import Runner

__all__ = ["PASSWORD_PROMPT", "PLAN_KNOWN_HOSTS", "HostKeyError", "UploadTarget",
           "fingerprint", "keyscan_argv", "known_hosts_text", "parse_keyscan",
           "remote_sha256", "remote_sha256_argv", "scp_argv", "ssh_options", "trust_host",
           "upload"]

# "user@host's password: " (password) and "(user@host) Password: " (PAM
# keyboard-interactive) both end like this while ssh waits for the answer.
PASSWORD_PROMPT = r"(?i)password:\s*$"
# GNU sha256sum starts the line with a backslash when it escapes the file name.
_DIGEST = re.compile(r"^\\?([0-9a-f]{64})\s", re.MULTILINE)
# A plan executes nothing and makes no directory: this stands for the one a run makes.
PLAN_KNOWN_HOSTS = Path("<private-temp-dir>/known_hosts")
# Trusted on first use when a host offers several: the type ssh itself prefers.
_PREFERRED_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                    "ecdsa-sha2-nistp521", "ssh-rsa")
KEYSCAN_TIMEOUT = 30


class HostKeyError(Exception):
    """The host cannot be trusted with the upload; nothing was sent to it."""


@dataclass(frozen=True)
class UploadTarget:
    """Where an image goes: `user@host:directory/`, and how ssh gets there.

    `host_key` is the pin as answered (empty: trust on first use, key logins
    only). `trusted` holds the `TYPE BASE64` keys ssh may accept once
    `trust_host` has settled them; None until then. `known_hosts` is the file
    ssh checks them against (set per command to a private file), and `port`
    and `ssh_config` exist for callers that must not use the defaults (tests
    keep ~/.ssh out of it with them).
    """

    host: str
    user: str = "root"
    directory: str = "/root/"
    key: str = ""
    port: int | None = None
    known_hosts: Path | None = None
    ssh_config: Path | None = None
    host_key: str = ""
    trusted: tuple[str, ...] | None = None

    @classmethod
    def from_answers(cls, answers: Answers, *, port: int | None = None,
                     known_hosts: Path | None = None, ssh_config: Path | None = None
                     ) -> UploadTarget | None:
        """The answers' upload target, or None when no host is set."""
        if not answers.export_scp_host:
            return None
        return cls(answers.export_scp_host, answers.export_scp_user,
                   answers.export_scp_path or "/root/", answers.export_scp_key,
                   port, known_hosts, ssh_config, answers.export_scp_host_key)

    def remote_file(self, name: str) -> str:
        """The uploaded image's path on the host."""
        return f"{self.directory.rstrip('/')}/{name}"

    def uses_password(self, password: str) -> bool:
        """True when ssh authenticates with `password` (a key always wins)."""
        return bool(password) and not self.key

    @property
    def host_pattern(self) -> str:
        """The host as ssh looks it up in known_hosts (`[host]:port` off port 22)."""
        if self.port is None or self.port == 22:
            return self.host
        return f"[{self.host}]:{self.port}"


# --- host keys -----------------------------------------------------------------------


def fingerprint(blob: str) -> str:
    """The `SHA256:...` fingerprint of a base64 key blob, as `ssh-keygen -l` prints it."""
    digest = hashlib.sha256(base64.b64decode(blob)).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def keyscan_argv(target: UploadTarget) -> list[str]:
    """ssh-keyscan the target's host keys (ssh_config plays no part in it)."""
    argv = ["ssh-keyscan", "-T", str(KEYSCAN_TIMEOUT)]
    if target.port is not None:
        argv += ["-p", str(target.port)]
    return [*argv, "--", target.host]


def parse_keyscan(output: str) -> list[tuple[str, str]]:
    """(type, blob) of each key `ssh-keyscan` printed, in order, once each."""
    keys: list[tuple[str, str]] = []
    for line in output.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):  # "# host:22 SSH-2.0-..." banners
            continue
        with contextlib.suppress(FieldProblem):  # noise is not a key
            _, kind, blob = split_host_key(line)
            if (kind, blob) not in keys:
                keys.append((kind, blob))
    return keys


def _listing(keys: list[tuple[str, str]]) -> str:
    return ", ".join(f"{fingerprint(blob)} ({kind})" for kind, blob in keys) or "none"


def trust_host(runner: Runner, target: UploadTarget, *, password: bool = False,
               dry_run: bool = False) -> UploadTarget:
    """The target with the host keys to trust for this session in `trusted`.

    Raises `HostKeyError` when a password would go to an unpinned host, when
    the host offers no key, or when it does not offer the pinned one. With
    `dry_run` the scan is only planned and a pin is taken on trust.
    """
    if target.trusted is not None:
        return target
    where = target.host_pattern
    pin = target.host_key
    if password and not pin:
        raise HostKeyError(f"refusing to send the SCP password to {where}: its host key is "
                           "not pinned; set KLDLOAD_EXPORT_SCP_HOST_KEY to the host's key or "
                           "its SHA256 fingerprint, or log in with KLDLOAD_EXPORT_SCP_KEY")
    scan = runner.run(keyscan_argv(target), check=False)
    offered = parse_keyscan(scan.stdout)
    if not offered and not dry_run:
        why = scan.stderr.strip().splitlines()[-1:] or [f"exit {scan.returncode}"]
        raise HostKeyError(f"ssh-keyscan got no host key from {where} ({why[0]}); "
                           "nothing was uploaded")
    chosen: list[tuple[str, str]]
    if not pin:
        chosen = sorted(offered, key=_preference)[:1]
        how = "trusted on first use (not pinned)"
    elif pin.startswith("SHA256:"):
        chosen = [k for k in offered if fingerprint(k[1]) == pin]
        how = "pinned by fingerprint"
        if not chosen and not dry_run:
            raise HostKeyError(f"the host key of {where} does not match the pinned one: "
                               f"expected {pin}, offered {_listing(offered)}; nothing was "
                               "uploaded")
    else:
        _, kind, blob = split_host_key(pin)
        chosen = [(kind, blob)]
        how = "pinned"
        if (kind, blob) not in offered and not dry_run:
            raise HostKeyError(f"the host key of {where} does not match the pinned one: "
                               f"expected {fingerprint(blob)} ({kind}), offered "
                               f"{_listing(offered)}; nothing was uploaded")
    for kind, blob in chosen:
        runner.note(f"host key of {where} {how}: {fingerprint(blob)} ({kind})")
    if chosen and not pin:
        runner.note(f"pin it for the next install: KLDLOAD_EXPORT_SCP_HOST_KEY="
                    f"{fingerprint(chosen[0][1])}")
    if not chosen:  # only in a plan: the scan's answer is not known yet
        which = f"the one with {pin}" if pin else "the one ssh-keyscan offers first"
        runner.note(f"host key of {where}: {which}, {how}")
    trusted = dataclasses.replace(target, trusted=tuple(f"{k} {b}" for k, b in chosen))
    if chosen:
        # On the operator's screen too (an output line), not only in the log;
        # only a display, so a missing ssh-keygen does not stop the upload.
        runner.run(["ssh-keygen", "-l", "-f", "-"], input=known_hosts_text(trusted),
                   check=False)
    return trusted


def _preference(key: tuple[str, str]) -> int:
    kind = key[0]
    return _PREFERRED_TYPES.index(kind) if kind in _PREFERRED_TYPES else len(_PREFERRED_TYPES)


def known_hosts_text(target: UploadTarget) -> str:
    """known_hosts lines for the trusted keys, under the name ssh looks the host up by."""
    return "".join(f"{target.host_pattern} {key}\n" for key in target.trusted or ())


@contextlib.contextmanager
def _pinned(runner: Runner, target: UploadTarget, *, dry_run: bool) -> Iterator[UploadTarget]:
    """The target with `known_hosts` a private file of its trusted keys, for one command."""
    if dry_run:
        yield dataclasses.replace(target, known_hosts=PLAN_KNOWN_HOSTS)
        return
    workdir = Path(tempfile.mkdtemp(prefix="kldload-known-hosts-"))  # mode 0700
    try:
        path = workdir / "known_hosts"
        runner.write_file(path, known_hosts_text(target), 0o600)
        yield dataclasses.replace(target, known_hosts=path)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --- scp and ssh ---------------------------------------------------------------------


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
    # Never learn a key on the way: an unknown or changed one ends the connection.
    options += ["-o", "StrictHostKeyChecking=yes"]
    if target.known_hosts is not None:
        # Only this file: a key in /etc/ssh/ssh_known_hosts must not stand in for the pin.
        options += ["-o", f"UserKnownHostsFile={_option_value(target.known_hosts)}",
                    "-o", "GlobalKnownHostsFile=/dev/null"]
    # A dead link fails the upload within a minute instead of hanging it.
    options += ["-o", "ConnectTimeout=30", "-o", "ServerAliveInterval=15",
                "-o", "ServerAliveCountMax=4"]
    return options


def scp_argv(local: Path, target: UploadTarget, *, password: bool = False) -> list[str]:
    """scp `local` to `target.remote_file(local.name)`, over SFTP (no remote shell)."""
    host = f"[{target.host}]" if ":" in target.host else target.host  # IPv6
    return ["scp", "-s", *ssh_options(target, password=password, port_flag="-P"), "--",
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


def upload(runner: Runner, local: Path, target: UploadTarget, *, password: str = "",
           dry_run: bool = False) -> str:
    """Copy `local` to the target; return its remote path.

    The host is trusted first (`trust_host`, unless `target` already carries
    its trusted keys). Raises `HostKeyError` before anything is sent when it
    cannot be, and `CommandError` when scp fails.
    """
    secret = password if target.uses_password(password) else ""
    if secret:
        runner.add_secret(secret)
    target = trust_host(runner, target, password=bool(secret), dry_run=dry_run)
    with _pinned(runner, target, dry_run=dry_run) as pinned:
        _run(runner, scp_argv(local, pinned, password=bool(secret)), secret, check=True)
    return target.remote_file(local.name)


def remote_sha256(runner: Runner, target: UploadTarget, remote_file: str, *,
                  password: str = "", dry_run: bool = False) -> str | None:
    """The SHA256 of `remote_file` on the target; None when ssh printed none.

    Pass the target `trust_host` returned for the upload, so the checksum
    comes from the host that was sent the file. Raises `HostKeyError` as
    `upload` does, and `CommandError` (with ssh's or sha256sum's complaint)
    when the command fails: no such file, refused login, no sha256sum.
    """
    secret = password if target.uses_password(password) else ""
    if secret:
        runner.add_secret(secret)
    target = trust_host(runner, target, password=bool(secret), dry_run=dry_run)
    with _pinned(runner, target, dry_run=dry_run) as pinned:
        output = _run(runner, remote_sha256_argv(pinned, remote_file, password=bool(secret)),
                      secret, check=True)
    # Over a pty the output also holds the prompt; the digest starts a line.
    match = _DIGEST.search(output.replace("\r", ""))
    return match.group(1) if match else None
