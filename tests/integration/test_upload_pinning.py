"""Uploads trust only the host they were told to: host key pinning against a real sshd.

The sshd runs on 127.0.0.1 (tests/integration/sshd_fixture.py). Fingerprints
the tests expect come from `ssh-keygen -l` on the daemon's own key file, never
from the code under test. What the answers rules say is checked through the
real `validate` command and the parser.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kldload_tui.backend.answers.file import parse_answers
from kldload_tui.backend.engine.core import InstallError, InstallOptions
from kldload_tui.backend.engine.events import EventLog, OutputLine
from kldload_tui.backend.engine.runner import CommandError, LocalRunner
from kldload_tui.backend.export.upload import (
    HostKeyError,
    UploadTarget,
    remote_sha256,
    trust_host,
    upload,
)
from kldload_tui.backend.phases.export import Export
from tests.integration.local_servers import read_only_loop
from tests.integration.sshd_fixture import (
    Sshd,
    running_sshd,
    sshd_missing,
    throwaway_user,
    user_tools_missing,
    world_dir,
)
from tests.unit.export_helpers import export_answers, export_context

pytestmark = pytest.mark.skipif(sshd_missing() is not None, reason=str(sshd_missing()))

PASSWORD = "Pinned-Upl0ad-Pa55!"
BASE = "KLDLOAD_DISTRO=debian\nKLDLOAD_DISK=/dev/vda\nKLDLOAD_HOSTNAME=golden\n"
# A host key of no host here: what a man in the middle would present.
STRANGER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFL3maBYnAQo8SerdtzFil0EZn5QCY07AcXxsrdzmkYe"
STRANGER_FP = "SHA256:CE8iWQYqEIVW+WeSZ3uBLiDNR+a9lesu76AgoAhP9ps"


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    with running_sshd(tmp_path / "sshd") as server:
        yield server


@pytest.fixture
def events() -> EventLog:
    return EventLog()


@pytest.fixture
def runner(tmp_path: Path, events: EventLog) -> Iterator[LocalRunner]:
    with LocalRunner(log_path=tmp_path / "install.log", sink=events) as r:
        yield r


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "export" / "img.raw"
    path.parent.mkdir()
    path.write_bytes(b"golden image\0" * 4096)
    return path


def target_for(server: Sshd, directory: Path | str, **changes: Any) -> UploadTarget:
    # -F /dev/null: nothing under ~/.ssh is read; root logs in with the fixture's key.
    target = UploadTarget(server.host, "root", f"{directory}/", str(server.client_key),
                          server.port, None, Path("/dev/null"))
    return dataclasses.replace(target, **changes)


def connections(server: Sshd) -> int:
    """How many connections the daemon has accepted so far (LogLevel VERBOSE logs each)."""
    return server.log.read_text().count("Connection from ")


def private_dirs() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("kldload-known-hosts-*"))


def user_known_hosts() -> bytes | None:
    path = Path.home() / ".ssh" / "known_hosts"
    return path.read_bytes() if path.exists() else None


# --- a pin the host offers ------------------------------------------------------------


@pytest.mark.parametrize("form", ["key line", "keyscan line", "fingerprint"])
def test_a_matching_pin_uploads_and_the_checksum_uses_it(form: str, sshd: Sshd, image: Path,
                                                          tmp_path: Path,
                                                          runner: LocalRunner) -> None:
    pin = {"key line": sshd.host_public_key,
           "keyscan line": f"[{sshd.host}]:{sshd.port} {sshd.host_public_key}",
           "fingerprint": sshd.host_fingerprint}[form]
    remote_dir = tmp_path / "images"
    remote_dir.mkdir()
    before, temps = user_known_hosts(), private_dirs()
    session = trust_host(runner, target_for(sshd, remote_dir, host_key=pin))
    assert session.trusted == (sshd.host_public_key,)
    remote = upload(runner, image, session)
    assert Path(remote).read_bytes() == image.read_bytes()
    assert remote_sha256(runner, session, remote) is not None
    assert user_known_hosts() == before  # nothing learnt into ~/.ssh
    log = (tmp_path / "install.log").read_text()
    assert "StrictHostKeyChecking=yes" in log and "accept-new" not in log
    assert f"pinned{' by fingerprint' if form == 'fingerprint' else ''}: " \
           f"{sshd.host_fingerprint} (ssh-ed25519)" in log
    assert private_dirs() == temps  # each command's known_hosts was removed after it


@pytest.fixture
def password_sshd(tmp_path: Path) -> Iterator[tuple[Sshd, str, Path]]:
    reason = user_tools_missing()
    if reason:
        pytest.skip(reason)
    with world_dir() as home, throwaway_user(PASSWORD, home / "images") as user, \
            running_sshd(tmp_path / "sshd", password_users=[user]) as server:
        yield server, user, home / "images"


def test_a_password_goes_only_to_the_pinned_host(password_sshd: tuple[Sshd, str, Path],
                                                 image: Path, tmp_path: Path,
                                                 runner: LocalRunner) -> None:
    server, user, home = password_sshd
    target = target_for(server, home, user=user, key="", host_key=server.host_fingerprint)
    session = trust_host(runner, target, password=True)
    remote = upload(runner, image, session, password=PASSWORD)
    assert Path(remote).read_bytes() == image.read_bytes()
    assert remote_sha256(runner, session, remote, password=PASSWORD) is not None
    assert PASSWORD not in (tmp_path / "install.log").read_text()


# --- a pin the host does not offer ----------------------------------------------------


@pytest.mark.parametrize("pin", [STRANGER_KEY, STRANGER_FP])
def test_a_pin_that_does_not_match_is_refused_and_names_both(pin: str, sshd: Sshd, image: Path,
                                                             tmp_path: Path,
                                                             runner: LocalRunner) -> None:
    remote_dir = tmp_path / "images"
    remote_dir.mkdir()
    with pytest.raises(HostKeyError) as info:
        upload(runner, image, target_for(sshd, remote_dir, host_key=pin), password="unused")
    message = str(info.value)
    assert f"expected {STRANGER_FP}" in message
    assert f"offered {sshd.host_fingerprint} (ssh-ed25519)" in message
    assert list(remote_dir.iterdir()) == []  # nothing arrived
    assert image.is_file()
    assert "$ scp" not in (tmp_path / "install.log").read_text()


@pytest.fixture
def loop_disk(tmp_path: Path) -> Iterator[str]:
    """A small disk with a mark in its first sector, on a read-only loop device."""
    if shutil.which("losetup") is None or shutil.which("qemu-img") is None:
        pytest.skip("needs losetup and qemu-img: the phase exports a block device")
    disk = tmp_path / "disk.raw"
    with disk.open("wb") as handle:
        handle.truncate(4 * 1024 * 1024)
        handle.write(b"KLDLOAD-MBR")
    with read_only_loop(disk) as device:
        yield device


@pytest.mark.root
def test_the_phase_keeps_the_image_when_the_host_is_not_the_pinned_one(
        sshd: Sshd, loop_disk: str, tmp_path: Path, runner: LocalRunner,
        monkeypatch: pytest.MonkeyPatch) -> None:
    remote_dir = tmp_path / "images"
    remote_dir.mkdir()
    answers = export_answers(loop_disk, "KLDLOAD_EXPORT_FORMAT=raw\n"
                             f"KLDLOAD_EXPORT_SCP_HOST={sshd.host}\n"
                             f"KLDLOAD_EXPORT_SCP_PATH={remote_dir}/\n"
                             f"KLDLOAD_EXPORT_SCP_KEY={sshd.client_key}\n"
                             f"KLDLOAD_EXPORT_SCP_HOST_KEY={STRANGER_FP}\n")
    # The answers have no port: the phase's target gets the test sshd's port here.
    real = UploadTarget.from_answers
    monkeypatch.setattr(UploadTarget, "from_answers", lambda a: real(
        a, port=sshd.port, ssh_config=Path("/dev/null")))
    options = InstallOptions(export_dir=tmp_path / "export")
    ctx = export_context(answers, loop_disk, 4 * 1024 * 1024, runner, options)
    with pytest.raises(InstallError) as info:
        Export().run(ctx)
    out = tmp_path / "export" / "kldload-debian-server.raw"
    assert f"expected {STRANGER_FP}, offered {sshd.host_fingerprint}" in str(info.value)
    assert f"the image is kept at {out}" in str(info.value)
    assert out.read_bytes()[:11] == b"KLDLOAD-MBR"  # written, read back, and still there
    assert list(remote_dir.iterdir()) == []


def test_the_session_pin_holds_for_the_checksum(sshd: Sshd, image: Path, tmp_path: Path,
                                                runner: LocalRunner) -> None:
    """The checksum asks the host that was sent the image, not whichever answers now."""
    remote_dir = tmp_path / "images"
    remote_dir.mkdir()
    session = trust_host(runner, target_for(sshd, remote_dir))
    remote = upload(runner, image, session)
    with running_sshd(tmp_path / "impostor") as impostor:
        moved = dataclasses.replace(session, port=impostor.port)
        with pytest.raises(CommandError) as info:
            remote_sha256(runner, moved, remote)
    assert "Host key verification failed" in str(info.value)


# --- no pin ---------------------------------------------------------------------------


def test_no_pin_with_a_password_is_refused_by_validate(tmp_path: Path) -> None:
    answers = tmp_path / "answers.env"
    answers.write_text(BASE + "KLDLOAD_EXPORT_FORMAT=qcow2\nKLDLOAD_EXPORT_SCP_HOST=img.example\n"
                       "KLDLOAD_EXPORT_SCP_PASS='s3cret-pw'\n")
    exe = shutil.which("kldload-tui", path=str(Path(sys.executable).parent))
    argv = [exe] if exe else [sys.executable, "-m", "kldload_tui"]
    result = subprocess.run([*argv, "validate", str(answers)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert (f"{answers}:6: KLDLOAD_EXPORT_SCP_HOST_KEY: an SCP upload with a password needs "
            "the host's key pinned, or the password goes to whichever host answers; add "
            "KLDLOAD_EXPORT_SCP_HOST_KEY='SHA256:...'") in result.stderr
    assert "s3cret-pw" not in result.stdout + result.stderr
    pinned = parse_answers(answers.read_text() + f"KLDLOAD_EXPORT_SCP_HOST_KEY={STRANGER_FP}\n")
    assert pinned.ok, [p.render() for p in pinned.errors]


def test_host_key_rules() -> None:
    def problems(extra: str) -> list[str]:
        found = parse_answers(BASE + extra, source="a.env").problems
        return [p.render() for p in found if p.key and "EXPORT" in p.key]

    assert problems(f"KLDLOAD_EXPORT_FORMAT=raw\nKLDLOAD_EXPORT_SCP_HOST_KEY={STRANGER_FP}\n") \
        == ["a.env:5: KLDLOAD_EXPORT_SCP_HOST_KEY: SCP upload needs a host; add "
            "KLDLOAD_EXPORT_SCP_HOST=images.example.org or remove this line"]
    assert problems("KLDLOAD_EXPORT_FORMAT=raw\nKLDLOAD_EXPORT_SCP_HOST=images.example.org\n"
                    f"KLDLOAD_EXPORT_SCP_HOST_KEY='other.example.org {STRANGER_KEY}'\n") == [
        "a.env:6: KLDLOAD_EXPORT_SCP_HOST_KEY: the host key line is for other.example.org, not "
        "for KLDLOAD_EXPORT_SCP_HOST=images.example.org (it is pinned for that host all the "
        "same); check that the key is the image server's"]
    for good in (f"'images.example.org,10.0.0.5 {STRANGER_KEY}'", f"'{STRANGER_KEY} comment'",
                 f"'[images.example.org]:2222 {STRANGER_KEY}'", f"'256 {STRANGER_FP} x (ED25519)'"):
        assert problems("KLDLOAD_EXPORT_FORMAT=raw\nKLDLOAD_EXPORT_SCP_HOST=images.example.org\n"
                        f"KLDLOAD_EXPORT_SCP_HOST_KEY={good}\n") == [], good
    bad = problems("KLDLOAD_EXPORT_FORMAT=raw\nKLDLOAD_EXPORT_SCP_HOST=images.example.org\n"
                   "KLDLOAD_EXPORT_SCP_PASS=pw-123456\nKLDLOAD_EXPORT_SCP_HOST_KEY=MD5:ab:cd\n")
    # The key's own error, and not also "a password needs a pinned key".
    assert [p for p in bad if "HOST_KEY" in p] == [
        "a.env:7: KLDLOAD_EXPORT_SCP_HOST_KEY: an MD5 fingerprint is too weak to pin a host; "
        "give the SHA256 one: ssh-keygen -l -E sha256 -f KEY.pub"]


def test_no_pin_with_a_password_is_refused_by_upload_before_connecting(
        password_sshd: tuple[Sshd, str, Path], image: Path, tmp_path: Path,
        runner: LocalRunner) -> None:
    server, user, home = password_sshd
    seen = connections(server)
    with pytest.raises(HostKeyError, match="refusing to send the SCP password"):
        upload(runner, image, target_for(server, home, user=user, key=""), password=PASSWORD)
    assert connections(server) == seen  # not even ssh-keyscan knocked
    assert list(home.iterdir()) == []


def test_no_pin_with_a_key_trusts_on_first_use_and_says_which_key(
        sshd: Sshd, image: Path, tmp_path: Path, runner: LocalRunner, events: EventLog) -> None:
    remote_dir = tmp_path / "images"
    remote_dir.mkdir()
    before = user_known_hosts()
    remote = upload(runner, image, target_for(sshd, remote_dir))
    assert Path(remote).read_bytes() == image.read_bytes()
    log = (tmp_path / "install.log").read_text()
    assert f"host key of [{sshd.host}]:{sshd.port} trusted on first use (not pinned): " \
           f"{sshd.host_fingerprint} (ssh-ed25519)" in log
    assert f"KLDLOAD_EXPORT_SCP_HOST_KEY={sshd.host_fingerprint}" in log
    # On the operator's screen as well: ssh-keygen's line is an output event.
    lines = [e.text for e in events.events if isinstance(e, OutputLine)]
    assert any(sshd.host_fingerprint in line for line in lines), lines
    assert user_known_hosts() == before


# --- what the remote side sees ---------------------------------------------------------


def test_a_remote_path_full_of_shell_is_stored_literally(sshd: Sshd, image: Path,
                                                          tmp_path: Path,
                                                          runner: LocalRunner) -> None:
    marks = [tmp_path / "semicolon-ran", tmp_path / "subshell-ran", tmp_path / "backquote-ran"]
    # Slashes inside the commands make it nested directories; still one literal path.
    odd = tmp_path / (f"my images;touch {marks[0]};x $(touch {marks[1]}) `touch {marks[2]}` "
                      "it's")
    odd.mkdir(parents=True)
    target = target_for(sshd, odd, host_key=sshd.host_fingerprint)
    remote = upload(runner, image, target)
    assert remote == f"{odd}/img.raw"
    assert Path(remote).is_file() and Path(remote).read_bytes() == image.read_bytes()
    digest = remote_sha256(runner, target, remote)
    assert digest is not None and len(digest) == 64
    assert [m for m in marks if m.exists()] == []
    assert not (tmp_path / "my images").is_file()
