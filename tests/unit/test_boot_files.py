"""The files that keep every disk bootable: which loaders, boot.conf as the shell
reads it, the hooks, and the firmware entry labels."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kldload_tui.backend.answers.file import parse_answers
from kldload_tui.backend.answers.model import Answers, Firmware
from kldload_tui.backend.distros import distro_backend
from kldload_tui.backend.engine.core import InstallContext, InstallOptions, VerifyError
from kldload_tui.backend.engine.runner import RecordingRunner
from kldload_tui.backend.machine.model import Machine
from kldload_tui.backend.phases.system import Bootloader, entry_labels
from kldload_tui.backend.target.boot import (
    BOOT_CONF,
    ESP_LIST,
    HOOK_PATHS,
    boot_files,
    boot_loaders,
    kernel_pattern,
)
from tests.unit.answers_helpers import BASE


@pytest.mark.parametrize(("wanted", "live", "want"), [
    (Firmware.BOTH, "uefi", ("uefi", "bios")),
    (Firmware.BOTH, "bios", ("uefi", "bios")),
    (Firmware.AUTO, "uefi", ("uefi",)),
    (Firmware.AUTO, "bios", ("bios",)),
    (Firmware.UEFI, "bios", ("uefi",)),
    (Firmware.BIOS, "uefi", ("bios",)),
])
def test_the_answer_not_the_live_firmware_decides_unless_auto(wanted, live, want):
    assert boot_loaders(wanted, live) == want


def answers(extra: str = "") -> Answers:
    result = parse_answers(BASE + extra)
    assert result.answers is not None, [p.render() for p in result.errors]
    return result.answers


def files(a: Answers, loaders: tuple[str, ...] = ("uefi", "bios")) -> dict[str, str]:
    made = boot_files(a, loaders=loaders, pool="tank", cmdline="root=ZFS=tank/ROOT/debian rw",
                      kernel="/boot/vmlinuz-6.1.0-9-amd64",
                      initrd="/boot/initrd.img-6.1.0-9-amd64", kver="6.1.0-9-amd64")
    return {f.path: f.content for f in made}


def sourced(conf: str) -> dict[str, str]:
    """boot.conf's values as the tool's shell reads them."""
    out = subprocess.run(["sh", "-c", f'{conf}\nfor k in FIRMWARE BOOTLOADER_ID POOL '
                          'KERNEL_PATTERN INITRD_PATTERN GRUB_DIR; do eval "printf \'%s=%s\\n\' $k '
                          '\\"\\$$k\\""; done'], capture_output=True, text=True, check=True)
    return dict(line.split("=", 1) for line in out.stdout.splitlines())


@pytest.mark.parametrize(("loaders", "firmware"), [
    (("uefi", "bios"), "both"), (("uefi",), "uefi"), (("bios",), "bios")])
def test_boot_conf_reads_back_in_the_shell(loaders, firmware):
    conf = files(answers("KLDLOAD_BOOTLOADER_ID='Rack 7 node-3'\n"), loaders)[BOOT_CONF]
    assert sourced(conf) == {
        "FIRMWARE": firmware, "BOOTLOADER_ID": "Rack 7 node-3", "POOL": "tank",
        "KERNEL_PATTERN": "/boot/vmlinuz-{kver}", "INITRD_PATTERN": "/boot/initrd.img-{kver}",
        "GRUB_DIR": "grub"}


def test_each_distribution_names_the_grub_directory_its_grub_install_fills():
    from kldload_tui.backend.answers.model import Distro
    from kldload_tui.backend.distros import backend_classes

    served = backend_classes()
    # Debian's grub-install fills grub/, the Red Hat family's grub2-install grub2/.
    assert served[Distro.DEBIAN].grub_dir == "grub"
    assert {served[d].grub_dir for d in (Distro.ROCKY, Distro.CENTOS)} == {"grub2"}


def test_the_tool_the_list_the_cmdline_and_every_hook_are_written():
    written = files(answers())
    assert written["usr/sbin/kldload-boot"].startswith("#!/bin/sh\n")
    assert written[ESP_LIST].startswith("#") and written[ESP_LIST].count("\n") == 1
    assert written["etc/kernel/cmdline"] == "root=ZFS=tank/ROOT/debian rw\n"
    for path in HOOK_PATHS:
        assert written[path].endswith("exec /usr/sbin/kldload-boot refresh\n")


def test_a_kernel_path_must_name_its_version():
    assert kernel_pattern("/boot/vmlinuz-lts", "lts") == "/boot/vmlinuz-{kver}"
    with pytest.raises(ValueError, match="does not name kernel"):
        kernel_pattern("/boot/vmlinuz", "6.1.0-9-amd64")


def test_entry_labels_number_the_disks_after_the_first():
    assert entry_labels("KLDload", 1) == ["KLDload"]
    assert entry_labels("KLDload", 3) == ["KLDload", "KLDload (disk 2)", "KLDload (disk 3)"]


# -- the bootloader phase's verify, against a target tree and canned commands ---------

ESPS = ["/dev/disk/by-id/virtio-a-part1", "/dev/disk/by-id/virtio-b-part1"]
EFI_TWO = ("BootCurrent: 0001\nBootOrder: 0003,0004,0001\nBoot0001* UEFI Misc Device\n"
           "Boot0003* KLDload\tHD(1,GPT,aa)/File(\\EFI\\systemd\\systemd-bootx64.efi)\n"
           "Boot0004* KLDload (disk 2)\tHD(1,GPT,bb)/File(\\EFI\\systemd\\systemd-bootx64.efi)\n")


def verify_context(tmp_path: Path, *, check_rc: int = 0, listed: int = 2,
                   cmdline: str = "root=ZFS=rpool/ROOT/debian rw",
                   efi: str = EFI_TWO) -> InstallContext:
    (tmp_path / "etc/kernel").mkdir(parents=True)
    (tmp_path / "etc/kldload").mkdir(parents=True)
    (tmp_path / "etc/kernel/cmdline").write_text(cmdline + "\n")
    (tmp_path / "etc/kldload/esps").write_text(
        "# ESPs\n" + "".join(f"AAAA-000{n}\n" for n in range(listed)))
    runner = RecordingRunner()
    runner.respond(["/usr/sbin/kldload-boot", "check"], returncode=check_rc,
                   stdout="ESP AAAA-0001: differs kldload/6.1/initrd.img\n" if check_rc else "")
    runner.respond(["findmnt", "-n", "-t", "efivarfs"], stdout="/sys/firmware/efi/efivars\n")
    runner.respond(["efibootmgr"], stdout=efi)
    a = answers()
    ctx = InstallContext(a, Machine(firmware="uefi"), runner,
                         InstallOptions(target_root=tmp_path), distro_backend(a))
    ctx.esp_partitions = list(ESPS)
    return ctx


def test_verify_passes_with_every_esp_in_sync_and_one_entry_per_disk(tmp_path):
    Bootloader().verify(verify_context(tmp_path))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"check_rc": 1}, "not in sync:\nESP AAAA-0001: differs kldload/6.1/initrd.img"),
    ({"listed": 1}, "lists 1 ESP"),
    ({"cmdline": "root=ZFS=rpool/ROOT/other rw"}, "does not boot root=ZFS=rpool/ROOT/debian"),
    ({"efi": EFI_TWO.replace("KLDload (disk 2)", "KLDload disk 2")},
     "no EFI boot entry labelled 'KLDload \\(disk 2\\)'"),
])
def test_verify_fails_on_what_would_not_boot(tmp_path, kwargs, message):
    with pytest.raises(VerifyError, match=message):
        Bootloader().verify(verify_context(tmp_path, **kwargs))
