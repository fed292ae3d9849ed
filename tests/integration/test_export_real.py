"""Golden image export with the real tools: qemu-img, tar, scp and ssh against a real sshd.

The "disk" is a sparse raw file with known bytes at a few offsets (and, for the
phase test, that file on a loop device). Each export is compared back to it
with `qemu-img compare` independently of the code under test; the OVA is
unpacked with tarfile and its VMDK compared the same way. Uploads go to an
sshd on 127.0.0.1 started for the test (tests/integration/sshd_fixture.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pwd
import re
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from kldload_tui.backend.answers.model import Distro, ExportFormat
from kldload_tui.backend.engine.core import InstallOptions, VerifyError
from kldload_tui.backend.engine.events import EventLog, OutputLine
from kldload_tui.backend.engine.runner import CommandError, LocalRunner
from kldload_tui.backend.export.image import (
    MIB,
    OvaLayout,
    UploadTarget,
    export_image,
    remote_sha256,
    sha256_file,
    upload,
    verify_export,
)
from kldload_tui.backend.export.ovf import OVF_NS, parse_manifest
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

pytestmark = [
    pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img (qemu-utils) missing"),
    pytest.mark.skipif(shutil.which("tar") is None, reason="tar is not installed"),
]

SIZE = 64 * MIB
# (offset, bytes): the first sector, mid-cluster, far in, and the very last sector.
MARKS = [(0, b"KLDLOAD-MBR"), (MIB + 123, b"\xde\xad\xbe\xef" * 8),
         (33 * MIB + 7, b"golden image"), (SIZE - 512, b"\x55\xaa" * 256)]
QEMU_NAME = {ExportFormat.QCOW2: "qcow2", ExportFormat.VMDK: "vmdk",
             ExportFormat.VHD: "vpc", ExportFormat.RAW: "raw"}
PASSWORD = "Upl0ad-Pa55-w0rd!"
WRONG = "Wr0ng-Gue55-77"


def make_disk(path: Path, size: int = SIZE) -> Path:
    with path.open("wb") as handle:
        handle.truncate(size)
        for offset, data in MARKS:
            handle.seek(min(offset, size - len(data)))
            handle.write(data)
    return path


def compare(source: Path, image: str, fmt: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["qemu-img", "compare", "-f", "raw", "-F", fmt, str(source), image],
                          capture_output=True, text=True, check=False)


def info(image: Path, fmt: str | None = None) -> dict[str, Any]:
    argv = ["qemu-img", "info", "--output=json", *(["-f", fmt] if fmt else []), str(image)]
    data: dict[str, Any] = json.loads(
        subprocess.run(argv, capture_output=True, text=True, check=True).stdout)
    return data


@pytest.fixture
def disk(tmp_path: Path) -> Path:
    return make_disk(tmp_path / "disk.raw")


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[LocalRunner]:
    with LocalRunner(log_path=tmp_path / "install.log") as r:
        yield r


@pytest.mark.parametrize("fmt", [ExportFormat.QCOW2, ExportFormat.VMDK, ExportFormat.VHD,
                                 ExportFormat.RAW])
def test_each_format_reads_back_identical(fmt: ExportFormat, disk: Path, tmp_path: Path,
                                          runner: LocalRunner) -> None:
    out = tmp_path / "export" / f"img.{fmt.value}"
    export_image(runner, disk, fmt, out, size_bytes=SIZE, distro=Distro.DEBIAN)
    assert out.is_file() and not out.with_name(out.name + ".partial").exists()
    assert (out.parent.stat().st_mode & 0o777) == 0o700
    result = compare(disk, str(out), QEMU_NAME[fmt])
    assert result.returncode == 0, result.stdout + result.stderr
    details = info(out, "vpc" if fmt is ExportFormat.VHD else None)
    assert details["format"] == QEMU_NAME[fmt]
    assert details["virtual-size"] == SIZE
    assert verify_export(runner, disk, fmt, out) == []


def test_vhd_of_a_disk_not_in_whole_mib_is_rounded_up(tmp_path: Path,
                                                      runner: LocalRunner) -> None:
    disk = make_disk(tmp_path / "odd.raw", SIZE + 512)
    out = tmp_path / "odd.vhd"
    export_image(runner, disk, ExportFormat.VHD, out, size_bytes=SIZE + 512, distro=Distro.DEBIAN)
    virtual = info(out, "vpc")["virtual-size"]
    assert virtual == SIZE + MIB  # Azure: whole MiB, never smaller than the disk
    assert out.stat().st_size == SIZE + MIB + 512  # fixed: data, then the footer
    assert compare(disk, str(out), "vpc").returncode == 0  # the extra MiB reads as zeros
    assert verify_export(runner, disk, ExportFormat.VHD, out) == []


def test_ova_order_manifest_descriptor_and_disk(disk: Path, tmp_path: Path,
                                                runner: LocalRunner) -> None:
    out = tmp_path / "export" / "kldload-debian-server.ova"
    export_image(runner, disk, ExportFormat.OVA, out, size_bytes=SIZE, distro=Distro.DEBIAN)
    layout = OvaLayout(out)
    assert not layout.workdir.exists()  # the work files are gone, only the OVA stays
    listed = subprocess.run(["tar", "-tf", str(out)], capture_output=True, text=True,
                            check=True).stdout.split()
    assert listed == ["kldload-debian-server.ovf", "kldload-debian-server.mf",
                      "kldload-debian-server-disk1.vmdk"]
    unpacked = tmp_path / "unpacked"
    with tarfile.open(out) as archive:
        assert all(m.uid == 0 and m.gid == 0 for m in archive.getmembers())
        archive.extractall(unpacked, filter="data")
    digests, problems = parse_manifest((unpacked / layout.mf).read_text())
    assert problems == []
    assert digests == {name: hashlib.sha256((unpacked / name).read_bytes()).hexdigest()
                       for name in (layout.ovf, layout.vmdk)}
    root = ElementTree.parse(unpacked / layout.ovf).getroot()
    ns = {"ovf": OVF_NS}
    file = root.find("ovf:References/ovf:File", ns)
    assert file is not None
    assert file.get(f"{{{OVF_NS}}}href") == layout.vmdk
    assert file.get(f"{{{OVF_NS}}}size") == str((unpacked / layout.vmdk).stat().st_size)
    vmdk = unpacked / layout.vmdk
    assert info(vmdk)["format"] == "vmdk"
    result = compare(disk, str(vmdk), "vmdk")
    assert result.returncode == 0, result.stdout + result.stderr
    assert verify_export(runner, disk, ExportFormat.OVA, out) == []


def test_verification_finds_a_changed_disk(disk: Path, tmp_path: Path,
                                           runner: LocalRunner) -> None:
    out = tmp_path / "img.qcow2"
    export_image(runner, disk, ExportFormat.QCOW2, out, size_bytes=SIZE, distro=Distro.DEBIAN)
    with disk.open("r+b") as handle:  # the image no longer matches what it claims to be
        handle.seek(5 * MIB)
        handle.write(b"changed")
    assert verify_export(runner, disk, ExportFormat.QCOW2, out) == [
        "the image's contents differ from the disk"]


def test_verification_refuses_a_dynamic_vhd_and_a_short_raw(disk: Path, tmp_path: Path,
                                                            runner: LocalRunner) -> None:
    dynamic = tmp_path / "dynamic.vhd"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o",
                    "subformat=dynamic,force_size=on", str(disk), str(dynamic)], check=True)
    problems = verify_export(runner, disk, ExportFormat.VHD, dynamic)
    assert any("not a fixed VHD" in p for p in problems), problems
    short = tmp_path / "short.raw"
    shutil.copyfile(disk, short)
    os.truncate(short, SIZE - MIB)
    problems = verify_export(runner, disk, ExportFormat.RAW, short)
    assert any("smaller than the disk" in p for p in problems), problems


def test_verification_finds_a_tampered_or_reordered_ova(disk: Path, tmp_path: Path,
                                                        runner: LocalRunner) -> None:
    out = tmp_path / "img.ova"
    export_image(runner, disk, ExportFormat.OVA, out, size_bytes=SIZE, distro=Distro.DEBIAN)
    layout = OvaLayout(out)
    work = tmp_path / "work"
    with tarfile.open(out) as archive:
        archive.extractall(work, filter="data")
    manifest = work / layout.mf
    manifest.write_text(re.sub(r"(?m)^(SHA256\(img\.ovf\)= )[0-9a-f]{64}$",
                               r"\g<1>" + "0" * 64, manifest.read_text()))
    bad = tmp_path / "bad" / "img.ova"
    bad.parent.mkdir()
    subprocess.run(["tar", "--format=ustar", "-cf", str(bad), "-C", str(work),
                    *layout.members], check=True)
    problems = verify_export(runner, disk, ExportFormat.OVA, bad)
    assert any(p.startswith("img.ovf: SHA256 is") for p in problems), problems
    reordered = tmp_path / "reordered" / "img.ova"
    reordered.parent.mkdir()
    subprocess.run(["tar", "--format=ustar", "-cf", str(reordered), "-C", str(work),
                    layout.vmdk, layout.ovf, layout.mf], check=True)
    problems = verify_export(runner, disk, ExportFormat.OVA, reordered)
    assert problems and "in that order" in problems[0], problems


# --- uploads -------------------------------------------------------------------------

needs_sshd = pytest.mark.skipif(sshd_missing() is not None, reason=str(sshd_missing()))


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    with running_sshd(tmp_path / "sshd") as server:
        yield server


def _target(server: Sshd, directory: Path, **changes: Any) -> UploadTarget:
    # -F /dev/null keeps ~/.ssh/config out; the host key is checked against a private
    # known_hosts made for each command, so the one named here is never read or written.
    target = UploadTarget(server.host, "root", f"{directory}/", str(server.client_key),
                          server.port, server.known_hosts, Path("/dev/null"))
    return dataclasses.replace(target, **changes)


@needs_sshd
def test_upload_by_key_and_the_remote_checksum(sshd: Sshd, disk: Path, tmp_path: Path,
                                               runner: LocalRunner) -> None:
    out = tmp_path / "img.qcow2"
    export_image(runner, disk, ExportFormat.QCOW2, out, size_bytes=SIZE, distro=Distro.DEBIAN)
    remote_dir = tmp_path / "images"
    remote_dir.mkdir()
    target = _target(sshd, remote_dir)
    remote = upload(runner, out, target)
    assert remote == f"{remote_dir}/img.qcow2"
    assert remote_sha256(runner, target, remote) == sha256_file(out)
    assert Path(remote).read_bytes() == out.read_bytes()
    assert not sshd.known_hosts.exists()  # nothing learnt: the key was pinned privately
    log = (tmp_path / "install.log").read_text()
    assert f"trusted on first use (not pinned): {sshd.host_fingerprint}" in log
    with Path(remote).open("ab") as handle:  # what arrived is no longer what was sent
        handle.write(b"\0")
    assert remote_sha256(runner, target, remote) != sha256_file(out)


@needs_sshd
def test_key_upload_never_waits_for_a_prompt(sshd: Sshd, tmp_path: Path,
                                             runner: LocalRunner) -> None:
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)],
                   check=True)
    local = tmp_path / "x.raw"
    local.write_bytes(b"x")
    with pytest.raises(CommandError) as info:  # BatchMode: refused at once, no prompt
        upload(runner, local, _target(sshd, tmp_path, key=str(stranger)))
    assert "Permission denied" in str(info.value)


@dataclass
class PasswordSetup:
    server: Sshd
    user: str
    home: Path


@pytest.fixture
def password_sshd(tmp_path: Path) -> Iterator[PasswordSetup]:
    reason = sshd_missing() or user_tools_missing()
    if reason:
        pytest.skip(reason)
    with world_dir() as home, throwaway_user(PASSWORD, home / "images") as user, \
            running_sshd(tmp_path / "sshd", password_users=[user]) as server:
        yield PasswordSetup(server, user, home / "images")


def test_upload_with_a_password_answered_at_the_prompt(password_sshd: PasswordSetup,
                                                       disk: Path, tmp_path: Path) -> None:
    events = EventLog()
    log = tmp_path / "upload.log"
    out = tmp_path / "img.raw"
    setup = password_sshd
    target = _target(setup.server, setup.home, user=setup.user, key="",
                     host_key=setup.server.host_public_key)
    with LocalRunner(log_path=log, sink=events) as runner:
        export_image(runner, disk, ExportFormat.RAW, out, size_bytes=SIZE, distro=Distro.DEBIAN)
        remote = upload(runner, out, target, password=PASSWORD)
        assert remote_sha256(runner, target, remote, password=PASSWORD) == sha256_file(out)
        with pytest.raises(CommandError) as info:  # one attempt, then a clear failure
            upload(runner, out, target, password=WRONG)
        # Written by the throwaway user: the password logged it in.
        assert Path(remote).stat().st_uid == pwd.getpwnam(setup.user).pw_uid
    assert Path(remote).read_bytes() == out.read_bytes()
    text = log.read_text()
    assert "<interactive: 1 prompt(s), answers not logged>" in text
    assert "'s password: " in text  # ssh really asked, and was answered
    assert "BatchMode" not in text.split("scp ", 1)[1].splitlines()[0]
    for secret in (PASSWORD, WRONG):
        assert secret not in text
        assert secret not in str(info.value)
        assert all(secret not in e.text for e in events.events if isinstance(e, OutputLine))


# --- the phase, on a loop device -------------------------------------------------------


@pytest.fixture
def loop_disk(disk: Path) -> Iterator[str]:
    if os.geteuid() != 0 or shutil.which("losetup") is None:
        pytest.skip("needs root and losetup: the phase reads a block device")
    with read_only_loop(disk) as device:
        yield device


@pytest.mark.root
def test_phase_exports_the_root_disk_and_verifies_it(loop_disk: str, disk: Path,
                                                     tmp_path: Path) -> None:
    answers = export_answers(loop_disk, "KLDLOAD_EXPORT_FORMAT=ova\n")
    options = InstallOptions(export_dir=tmp_path / "export")
    with LocalRunner(log_path=tmp_path / "install.log") as runner:
        ctx = export_context(answers, loop_disk, SIZE, runner, options)
        phase = Export()
        assert phase.applies(ctx)
        phase.run(ctx)
        phase.verify(ctx)
        out = tmp_path / "export" / "kldload-debian-server.ova"
        with tarfile.open(out) as archive:
            archive.extract(OvaLayout(out).vmdk, tmp_path / "x", filter="data")
        assert compare(disk, str(tmp_path / "x" / OvaLayout(out).vmdk), "vmdk").returncode == 0
        out.unlink()
        with pytest.raises(VerifyError, match="does not exist"):
            phase.verify(ctx)
