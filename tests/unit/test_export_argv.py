"""Export argv, names, the OVF descriptor and the manifest; the phase as a plan.

Nothing here runs a command: the builders are pure and the phase runs on a
RecordingRunner in dry-run mode.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from xml.etree import ElementTree

import pytest
from pydantic import SecretStr

from kldload_tui.backend.answers.model import Answers, Distro, ExportFormat
from kldload_tui.backend.engine.core import InstallError, InstallOptions
from kldload_tui.backend.engine.runner import MASK, RecordingRunner
from kldload_tui.backend.export.image import (
    MIB,
    OvaLayout,
    UploadTarget,
    check_info,
    convert_argv,
    image_info_argv,
    image_name,
    ova_tar_argv,
    remote_sha256_argv,
    scp_argv,
)
from kldload_tui.backend.export.ovf import (
    OVF_NS,
    check_descriptor,
    manifest_text,
    ovf_descriptor,
    parse_manifest,
)
from kldload_tui.backend.export.upload import (
    PLAN_KNOWN_HOSTS,
    HostKeyError,
    fingerprint,
    keyscan_argv,
    known_hosts_text,
    parse_keyscan,
    remote_sha256,
    trust_host,
    upload,
)
from kldload_tui.backend.phases.export import Export
from tests.unit.export_helpers import export_answers, export_context

SRC = "/dev/sda"
# Host keys made with ssh-keygen; the fingerprints are what `ssh-keygen -lf` printed for them.
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMY8ceN1lxN6YYCVRbNVsK8vmpNJoQm9HpM7H3udgByB"
HOST_FP = "SHA256:EATPCyRq8SJzcDF6cYfdcamAGzLBuh0jA7p9dcx9WTI"
OTHER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFL3maBYnAQo8SerdtzFil0EZn5QCY07AcXxsrdzmkYe"
OTHER_FP = "SHA256:CE8iWQYqEIVW+WeSZ3uBLiDNR+a9lesu76AgoAhP9ps"
EC_KEY = ("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBKZol2RdMBU2"
          "vwo8F3/veu5cWrsdZz1ipNjt4Bn9Vl2TFcOcNjcdoa16i1DPDPJdx+jsxEo1K2oqyXKfWrGsYO4=")
EC_FP = "SHA256:6Dk8z9l4vNRsqd2NvPbCNT2Xa4HMCbwKwGfgpEtNp1g"
RASD = "{http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData}"
OV = f"{{{OVF_NS}}}"


def answers(extra: str = "") -> Answers:
    return export_answers("/dev/sda", extra)


# --- names ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["qcow2", "vmdk", "vhd", "ova", "raw"])
def test_default_name_is_distro_and_profile(fmt: str) -> None:
    a = export_answers("/dev/sda", f"KLDLOAD_EXPORT_FORMAT={fmt}\n")
    assert image_name(a, None) == f"kldload-debian-server.{fmt}"
    assert image_name(a, "  ") == f"kldload-debian-server.{fmt}"


def test_override_name_like_kexport_name() -> None:
    a = export_answers("/dev/sda", "KLDLOAD_EXPORT_FORMAT=qcow2\n")
    assert image_name(a, "debian13-base-v2") == "debian13-base-v2.qcow2"
    assert image_name(a, "debian13-base-v2.qcow2") == "debian13-base-v2.qcow2"
    assert image_name(a, "v1.2") == "v1.2.qcow2"


@pytest.mark.parametrize("bad", ["../etc/passwd", "a/b", "-rf", ".hidden", "a b", "x" * 81,
                                 "semi;colon", "$(reboot)"])
def test_names_that_are_not_plain_file_names_are_refused(bad: str) -> None:
    a = export_answers("/dev/sda", "KLDLOAD_EXPORT_FORMAT=raw\n")
    with pytest.raises(ValueError, match="image name"):
        image_name(a, bad)


def test_no_format_has_no_name() -> None:
    with pytest.raises(ValueError, match="writes no image"):
        image_name(export_answers("/dev/sda"), None)


# --- conversion ----------------------------------------------------------------------


def test_convert_argv_per_format() -> None:
    base = ["qemu-img", "convert", "-f", "raw"]
    assert convert_argv(SRC, ExportFormat.QCOW2, Path("/o/i.qcow2")) == [
        [*base, "-O", "qcow2", SRC, "/o/i.qcow2"]]
    assert convert_argv(SRC, ExportFormat.VMDK, Path("/o/i.vmdk")) == [
        [*base, "-O", "vmdk", "-o", "subformat=streamOptimized", SRC, "/o/i.vmdk"]]
    assert convert_argv(SRC, ExportFormat.VHD, Path("/o/i.vhd"), size_bytes=64 * MIB) == [
        [*base, "-O", "vpc", "-o", "subformat=fixed,force_size=on", SRC, "/o/i.vhd"]]
    assert convert_argv(SRC, ExportFormat.RAW, Path("/o/i.raw")) == [
        [*base, "-O", "raw", SRC, "/o/i.raw"]]


def test_vhd_not_in_whole_mib_is_created_larger_then_filled() -> None:
    assert convert_argv(SRC, ExportFormat.VHD, Path("/o/i.vhd"), size_bytes=64 * MIB + 512) == [
        ["qemu-img", "create", "-q", "-f", "vpc", "-o", "subformat=fixed,force_size=on",
         "/o/i.vhd", str(65 * MIB)],
        ["qemu-img", "convert", "-n", "--target-is-zero", "-f", "raw", "-O", "vpc", SRC,
         "/o/i.vhd"],
    ]


def test_ova_converts_into_its_work_directory_and_tars_ovf_first() -> None:
    out = Path("/o/gold.ova")
    layout = OvaLayout(out)
    assert layout.members == ("gold.ovf", "gold.mf", "gold-disk1.vmdk")
    assert convert_argv(SRC, ExportFormat.OVA, out) == [
        ["qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o",
         "subformat=streamOptimized,adapter_type=lsilogic", SRC,
         "/o/.gold.ova.work/gold-disk1.vmdk"]]
    assert ova_tar_argv(layout, Path("/o/gold.ova.partial")) == [
        "tar", "--format=ustar", "--owner=0", "--group=0", "--numeric-owner", "-c", "-f",
        "/o/gold.ova.partial", "-C", "/o/.gold.ova.work", "gold.ovf", "gold.mf",
        "gold-disk1.vmdk"]


def test_none_is_not_a_conversion() -> None:
    with pytest.raises(ValueError):
        convert_argv(SRC, ExportFormat.NONE, Path("/o/x"))


def test_info_argv_opens_fixed_vhd_as_vpc_and_raw_as_raw() -> None:
    assert image_info_argv("/o/i.qcow2", ExportFormat.QCOW2) == [
        "qemu-img", "info", "--output=json", "/o/i.qcow2"]
    assert image_info_argv("/o/i.vhd", ExportFormat.VHD)[3:5] == ["-f", "vpc"]
    assert image_info_argv("/o/i.raw", ExportFormat.RAW)[3:5] == ["-f", "raw"]


def test_check_info_per_format() -> None:
    size = 64 * MIB
    assert check_info({"format": "qcow2", "virtual-size": size}, ExportFormat.QCOW2, size) == []
    assert check_info({"format": "raw", "virtual-size": size}, ExportFormat.QCOW2, size) == [
        "format is 'raw', expected 'qcow2'"]
    assert "smaller than the disk" in check_info(
        {"format": "qcow2", "virtual-size": size - 512}, ExportFormat.QCOW2, size)[0]
    sparse = {"format": "vmdk", "virtual-size": size,
              "format-specific": {"type": "vmdk", "data": {"create-type": "monolithicSparse"}}}
    assert "streamOptimized" in check_info(sparse, ExportFormat.VMDK, size)[0]
    vhd = {"format": "vpc", "virtual-size": size + 512}
    problems = check_info(vhd, ExportFormat.VHD, size, file_size=size + 1024)
    assert any("whole MiB" in p for p in problems)
    assert check_info({"format": "vpc", "virtual-size": size}, ExportFormat.VHD, size,
                      file_size=size + 512) == []
    assert "not a fixed VHD" in check_info({"format": "vpc", "virtual-size": size},
                                           ExportFormat.VHD, size, file_size=4 * MIB)[0]
    assert "raw image is" in check_info({"format": "raw", "virtual-size": size + MIB},
                                        ExportFormat.RAW, size)[0]


# --- OVF and manifest ----------------------------------------------------------------


def find(root: ElementTree.Element, path: str) -> ElementTree.Element:
    found = root.find(path)
    assert found is not None, path
    return found


def test_ovf_is_well_formed_and_describes_one_efi_disk() -> None:
    text = ovf_descriptor(name="gold", disk_href="gold-disk1.vmdk", capacity_bytes=64 * MIB + 1,
                          distro=Distro.DEBIAN, disk_file_size=123456)
    root = ElementTree.fromstring(text.encode())
    assert root.tag == f"{OV}Envelope"
    files = root.findall(f"{OV}References/{OV}File")
    disks = root.findall(f"{OV}DiskSection/{OV}Disk")
    assert len(files) == 1 and len(disks) == 1
    assert files[0].get(f"{OV}href") == "gold-disk1.vmdk"
    assert files[0].get(f"{OV}size") == "123456"
    assert disks[0].get(f"{OV}fileRef") == files[0].get(f"{OV}id")
    assert disks[0].get(f"{OV}capacity") == str(64 * MIB + 512)  # whole sectors
    assert disks[0].get(f"{OV}format", "").endswith("#streamOptimized")
    system = root.find(f"{OV}VirtualSystem")
    assert system is not None and system.get(f"{OV}id") == "gold"
    assert find(root, f"{OV}VirtualSystem/{OV}OperatingSystemSection").get(f"{OV}id") == "96"
    items = root.findall(f"{OV}VirtualSystem/{OV}VirtualHardwareSection/{OV}Item")
    by_type = {i.findtext(f"{RASD}ResourceType"): i for i in items}
    assert by_type["3"].findtext(f"{RASD}VirtualQuantity") == "2"
    assert by_type["4"].findtext(f"{RASD}VirtualQuantity") == "2048"
    assert by_type["17"].findtext(f"{RASD}HostResource") == "ovf:/disk/vmdisk1"
    assert by_type["17"].findtext(f"{RASD}Parent") == by_type["6"].findtext(f"{RASD}InstanceID")
    for item in items:  # the CIM schema's order, which ovftool validates
        names = [child.tag for child in item]
        assert names == sorted(names)
    config = root.find(f"{OV}VirtualSystem/{OV}VirtualHardwareSection/"
                       "{http://www.vmware.com/schema/ovf}Config")
    assert config is not None
    assert config.get("{http://www.vmware.com/schema/ovf}value") == "efi"
    assert check_descriptor(text.encode(), "gold-disk1.vmdk", 123456, 64 * MIB) == []


def test_ovf_escapes_what_it_is_given_and_omits_an_unknown_file_size() -> None:
    text = ovf_descriptor(name='a&b<"c">', disk_href="d&.vmdk", capacity_bytes=MIB,
                          distro=Distro.ROCKY)
    root = ElementTree.fromstring(text.encode())
    assert root.findtext(f"{OV}VirtualSystem/{OV}Name") == 'a&b<"c">'
    assert find(root, f"{OV}References/{OV}File").get(f"{OV}size") is None
    assert find(root, f"{OV}VirtualSystem/{OV}OperatingSystemSection").get(f"{OV}id") == "80"


def test_check_descriptor_finds_wrong_references() -> None:
    text = ovf_descriptor(name="g", disk_href="g-disk1.vmdk", capacity_bytes=MIB,
                          distro=Distro.DEBIAN, disk_file_size=10).encode()
    assert check_descriptor(b"<Envelope", "g-disk1.vmdk", 10, MIB)[0].startswith(
        "the OVF descriptor is not well-formed XML")
    problems = check_descriptor(text, "other.vmdk", 11, 2 * MIB)
    assert len(problems) == 3, problems


def test_manifest_round_trip_and_bad_lines() -> None:
    digest = "ab" * 32
    text = manifest_text([("g.ovf", digest), ("g-disk1.vmdk", "cd" * 32)])
    assert text == f"SHA256(g.ovf)= {digest}\nSHA256(g-disk1.vmdk)= {'cd' * 32}\n"
    assert parse_manifest(text) == ({"g.ovf": digest, "g-disk1.vmdk": "cd" * 32}, [])
    _, problems = parse_manifest(f"SHA1(g.ovf)= {digest[:40]}\nSHA256(g.ovf)= {digest}\n"
                                 f"SHA256(g.ovf)= {digest}\n")
    assert len(problems) == 2


# --- scp and ssh ---------------------------------------------------------------------


def test_scp_by_key_is_batch_mode_over_sftp_and_never_learns_a_host_key() -> None:
    target = UploadTarget("images.infra.local", "root", "/var/lib/libvirt/images/",
                          "/root/.ssh/id_ed25519")
    argv = scp_argv(Path("/x/kldload-debian-server.qcow2"), target)
    assert argv == [
        "scp", "-s", "-i", "/root/.ssh/id_ed25519", "-o", "IdentitiesOnly=yes",
        "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=30",
        "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4", "--",
        "/x/kldload-debian-server.qcow2",
        "root@images.infra.local:/var/lib/libvirt/images/kldload-debian-server.qcow2"]


def test_scp_with_a_password_never_carries_it_and_does_not_batch() -> None:
    target = UploadTarget("10.0.0.5", "deploy", "/srv", port=2222,
                          known_hosts=Path("/tmp/k h"), ssh_config=Path("/dev/null"))
    argv = scp_argv(Path("/x/i.raw"), target, password=True)
    assert "BatchMode=yes" not in argv
    assert argv[:6] == ["scp", "-s", "-F", "/dev/null", "-P", "2222"]
    assert "PubkeyAuthentication=no" in argv and "NumberOfPasswordPrompts=1" in argv
    assert "StrictHostKeyChecking=yes" in argv
    # Only the private file: no system-wide known_hosts stands in for the pin.
    assert 'UserKnownHostsFile="/tmp/k h"' in argv and "GlobalKnownHostsFile=/dev/null" in argv
    assert argv[-1] == "deploy@10.0.0.5:/srv/i.raw"
    ipv6 = scp_argv(Path("/x/i.raw"), UploadTarget("fd00::5", directory="/"))
    assert ipv6[-1] == "root@[fd00::5]:/i.raw"


def test_remote_checksum_quotes_the_path_for_the_remote_shell() -> None:
    target = UploadTarget("h", "u", "/srv/my images/", port=22)
    argv = remote_sha256_argv(target, target.remote_file("i.qcow2"))
    assert argv[:3] == ["ssh", "-p", "22"]
    assert "StrictHostKeyChecking=yes" in argv
    assert argv[-4:] == ["u", "--", "h", "sha256sum -- '/srv/my images/i.qcow2'"]
    odd = UploadTarget("h", "u", "/srv/a b;c$(reboot)`id`'q/")
    command = remote_sha256_argv(odd, odd.remote_file("i.raw"))[-1]
    assert shlex.split(command) == ["sha256sum", "--", "/srv/a b;c$(reboot)`id`'q/i.raw"]


def test_upload_target_from_answers() -> None:
    assert UploadTarget.from_answers(answers("KLDLOAD_EXPORT_FORMAT=raw\n")) is None
    a = answers("KLDLOAD_EXPORT_FORMAT=raw\nKLDLOAD_EXPORT_SCP_HOST=img.example\n"
                "KLDLOAD_EXPORT_SCP_KEY=/root/.ssh/id_ed25519\n")
    target = UploadTarget.from_answers(a)
    assert target == UploadTarget("img.example", "root", "/root/", "/root/.ssh/id_ed25519")
    assert not target.uses_password("also-set")  # a key wins over a password
    pinned = UploadTarget.from_answers(answers(
        "KLDLOAD_EXPORT_FORMAT=raw\nKLDLOAD_EXPORT_SCP_HOST=img.example\n"
        f"KLDLOAD_EXPORT_SCP_HOST_KEY={HOST_FP}\n"))
    assert pinned is not None and pinned.host_key == HOST_FP and pinned.trusted is None


# --- host keys ------------------------------------------------------------------------


def scanned(*keys: str, host: str = "img.example") -> RecordingRunner:
    """A runner whose ssh-keyscan answers with `keys`, as the real one prints them."""
    runner = RecordingRunner()
    runner.respond(["ssh-keyscan"], stdout="".join(f"{host} {k}\n" for k in keys),
                   stderr=f"# {host}:22 SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\n")
    return runner


def test_fingerprints_are_what_ssh_keygen_prints() -> None:
    assert fingerprint(HOST_KEY.split()[1]) == HOST_FP
    assert fingerprint(EC_KEY.split()[1]) == EC_FP


def test_keyscan_argv_and_output() -> None:
    assert keyscan_argv(UploadTarget("img", port=2222)) == [
        "ssh-keyscan", "-T", "30", "-p", "2222", "--", "img"]
    out = (f"# img:22 SSH-2.0-OpenSSH_9.2\nimg {HOST_KEY}\n[img]:22 {HOST_KEY}\n"
           f"garbage\nimg {EC_KEY}\n")
    assert parse_keyscan(out) == [tuple(HOST_KEY.split()), tuple(EC_KEY.split())]


def test_known_hosts_names_the_host_as_ssh_looks_it_up() -> None:
    keys = (HOST_KEY,)
    assert known_hosts_text(UploadTarget("img", trusted=keys)) == f"img {HOST_KEY}\n"
    assert known_hosts_text(UploadTarget("img", port=22, trusted=keys)) == f"img {HOST_KEY}\n"
    assert known_hosts_text(UploadTarget("fd00::5", port=2222, trusted=keys)) == (
        f"[fd00::5]:2222 {HOST_KEY}\n")


@pytest.mark.parametrize("pin", [HOST_KEY, f"img.example {HOST_KEY} comment", HOST_FP])
def test_a_pin_the_host_offers_is_trusted_alone(pin: str) -> None:
    runner = scanned(EC_KEY, HOST_KEY)
    target = trust_host(runner, UploadTarget("img.example", host_key=pin), password=True)
    assert target.trusted == (HOST_KEY,)  # not the host's other key
    assert f"host key of img.example pinned{' by fingerprint' if pin == HOST_FP else ''}: " \
        f"{HOST_FP} (ssh-ed25519)" in [s.content for s in runner.plan if s.kind == "note"]
    assert trust_host(runner, target) is target  # settled once for the session


@pytest.mark.parametrize("pin", [OTHER_KEY, OTHER_FP])
def test_a_pin_the_host_does_not_offer_names_both_fingerprints(pin: str) -> None:
    runner = scanned(HOST_KEY, EC_KEY)
    with pytest.raises(HostKeyError) as info:
        upload(runner, Path("/x/i.raw"), UploadTarget("img.example", host_key=pin),
               password="pw-never-sent")
    message = str(info.value)
    assert f"expected {OTHER_FP}" in message
    assert f"offered {HOST_FP} (ssh-ed25519), {EC_FP} (ecdsa-sha2-nistp256)" in message
    assert not any(s.argv[:1] == ("scp",) for s in runner.plan)  # nothing was sent


def test_no_pin_with_a_password_is_refused_before_anything_connects() -> None:
    runner = scanned(HOST_KEY)
    with pytest.raises(HostKeyError, match="refusing to send the SCP password"):
        upload(runner, Path("/x/i.raw"), UploadTarget("img.example"), password="pw-never-sent")
    assert [s for s in runner.plan if s.kind == "command"] == []
    # A key wins over the password, and a key login may trust on first use.
    upload(runner, Path("/x/i.raw"), UploadTarget("img.example", key="/k"), password="pw")


def test_first_use_trusts_the_key_ssh_prefers_and_logs_its_fingerprint() -> None:
    runner = scanned(EC_KEY, HOST_KEY)
    target = trust_host(runner, UploadTarget("img.example"))
    assert target.trusted == (HOST_KEY,)
    notes = [s.content or "" for s in runner.plan if s.kind == "note"]
    assert f"host key of img.example trusted on first use (not pinned): {HOST_FP} " \
        "(ssh-ed25519)" in notes
    assert f"pin it for the next install: KLDLOAD_EXPORT_SCP_HOST_KEY={HOST_FP}" in notes
    shown = next(s for s in runner.plan if s.argv[:1] == ("ssh-keygen",))
    assert shown.argv == ("ssh-keygen", "-l", "-f", "-") and shown.stdin


def test_a_host_that_offers_no_key_gets_nothing() -> None:
    runner = RecordingRunner()
    runner.respond(["ssh-keyscan"], returncode=1)
    with pytest.raises(HostKeyError, match=r"got no host key from \[img\]:2222 \(exit 1\)"):
        upload(runner, Path("/x/i.raw"), UploadTarget("img", key="/k", port=2222))


def test_the_remote_digest_is_found_when_sha256sum_escapes_the_name() -> None:
    runner = scanned(HOST_KEY)
    digest = "ab" * 32
    # GNU sha256sum marks a line whose file name it escaped with a leading backslash.
    runner.respond(["ssh"], stdout=f"\\{digest}  /srv/a\\\\b/i.raw\n")
    target = UploadTarget("img.example", key="/k")
    assert remote_sha256(runner, target, "/srv/a\\b/i.raw") == digest


def test_the_phase_refuses_a_password_upload_without_a_pin(tmp_path: Path) -> None:
    # The answers rules refuse these answers; the phase must not rely on that alone.
    a = answers("KLDLOAD_EXPORT_FORMAT=raw\nKLDLOAD_EXPORT_SCP_HOST=img.example\n"
                "KLDLOAD_EXPORT_SCP_KEY=/k\n").model_copy(
        update={"export_scp_key": "", "export_scp_pass": SecretStr("pw-never-sent")})
    runner = RecordingRunner()
    ctx = export_context(a, "/dev/sda", 64 * MIB, runner,
                         InstallOptions(dry_run=True, export_dir=tmp_path))
    with pytest.raises(InstallError, match=r"refusing to send the SCP password.*the image is "
                                           r"kept at .*kldload-debian-server\.raw"):
        Export().run(ctx)
    assert not any(s.argv[:1] in (("scp",), ("ssh-keyscan",)) for s in runner.plan)


# --- the phase, planned --------------------------------------------------------------


def plan(extra: str, tmp_path: Path) -> tuple[RecordingRunner, Export]:
    runner = RecordingRunner()
    ctx = export_context(answers(extra), "/dev/sda", 64 * MIB + 512, runner,
                         InstallOptions(dry_run=True, export_dir=tmp_path))
    phase = Export()
    assert phase.applies(ctx)
    phase.run(ctx)
    return runner, phase


def test_phase_applies_only_when_a_format_is_asked(tmp_path: Path) -> None:
    ctx = export_context(answers(), "/dev/sda", MIB, RecordingRunner(),
                         InstallOptions(dry_run=True, export_dir=tmp_path))
    assert not Export().applies(ctx)


def test_phase_plans_a_vhd_from_the_root_disk(tmp_path: Path) -> None:
    runner, _ = plan("KLDLOAD_EXPORT_FORMAT=vhd\n", tmp_path)
    out = tmp_path / "kldload-debian-server.vhd"
    argvs = [list(s.argv) for s in runner.plan if s.kind == "command"]
    assert argvs[0] == ["install", "-d", "-m", "0700", str(tmp_path)]
    assert argvs[1][:2] == ["qemu-img", "create"]  # 64 MiB + 512 rounds up to 65 MiB
    assert argvs[2][-2:] == ["/dev/sda", f"{out}.partial"]
    assert argvs[-1] == ["mv", "-f", "-T", "--", f"{out}.partial", str(out)]
    assert not any(a[0] == "scp" for a in argvs)
    assert not out.exists()  # a plan writes nothing


def test_phase_plans_an_ova_and_an_upload_without_the_password(tmp_path: Path) -> None:
    runner, _ = plan("KLDLOAD_EXPORT_FORMAT=ova\nKLDLOAD_EXPORT_SCP_HOST=img.example\n"
                     "KLDLOAD_EXPORT_SCP_PASS=S3cret-Upl0ad\n"
                     f"KLDLOAD_EXPORT_SCP_HOST_KEY='img.example {HOST_KEY}'\n", tmp_path)
    writes = [Path(s.path or "").name for s in runner.plan if s.kind == "write"]
    # The checksum file beside the image, in sha256sum's format.
    assert writes == ["kldload-debian-server.ovf", "kldload-debian-server.mf",
                      "kldload-debian-server.ova.sha256"]
    argvs = [list(s.argv) for s in runner.plan if s.kind == "command"]
    tar = next(a for a in argvs if a[0] == "tar")
    assert tar[-3:] == ["kldload-debian-server.ovf", "kldload-debian-server.mf",
                        "kldload-debian-server-disk1.vmdk"]
    assert argvs[-4] == ["ssh-keyscan", "-T", "30", "--", "img.example"]
    assert argvs[-3] == ["ssh-keygen", "-l", "-f", "-"]  # the pinned fingerprint, shown
    # The host key is settled once; the image and then its checksum go up.
    for scp, name in zip(argvs[-2:], ("kldload-debian-server.ova",
                                      "kldload-debian-server.ova.sha256"), strict=True):
        assert scp[:2] == ["scp", "-s"] and "BatchMode=yes" not in scp
        assert "StrictHostKeyChecking=yes" in scp
        assert f"UserKnownHostsFile={PLAN_KNOWN_HOSTS}" in scp  # a plan makes no temp dir
        assert scp[-1] == f"root@img.example:/root/{name}"
    notes = [s.content or "" for s in runner.plan if s.kind == "note"]
    assert f"host key of img.example pinned: {HOST_FP} (ssh-ed25519)" in notes
    dumped = runner.to_json()
    assert "S3cret-Upl0ad" not in dumped
    assert "S3cret-Upl0ad" in runner.redactor.secrets
    assert MASK not in json.dumps([s.argv for s in runner.plan])  # never in argv at all


def test_a_failed_upload_says_where_the_image_was_kept(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import kldload_tui.backend.phases.export as export_phase
    from kldload_tui.backend.engine.core import InstallError
    from kldload_tui.backend.engine.records import CommandError

    def refused(*_args: object, **_kwargs: object) -> str:
        raise CommandError(["scp", "--", "image"], 1, "scp: /srv/images: Permission denied",
                           None)

    monkeypatch.setattr(export_phase, "upload", refused)
    with pytest.raises(InstallError) as info:
        plan("KLDLOAD_EXPORT_FORMAT=qcow2\nKLDLOAD_EXPORT_SCP_HOST=img.example\n"
             "KLDLOAD_EXPORT_SCP_KEY=/root/.ssh/id_ed25519\n", tmp_path)
    message = str(info.value)
    assert "the upload to root@img.example:/root/kldload-debian-server.qcow2 failed" in message
    assert "Permission denied" in message
    assert f"kept at {tmp_path / 'kldload-debian-server.qcow2'}" in message
