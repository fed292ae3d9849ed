"""kldload-boot, the target's ESP keeper, run for real against loop devices (root only).

The script (backend/target/templates/kldload-boot, installed as
/usr/sbin/kldload-boot) runs under /bin/sh with KLDLOAD_BOOT_ROOT pointing its
files (boot.conf, the ESP list, /boot, the kernel command line, os-release and
the systemd-boot binary) at a temporary tree; with it set the script never
touches EFI variables. The ESPs themselves are real block devices that it finds
by filesystem UUID with blkid and mounts with filesystem auto-detection.

This kernel has no vfat driver, so ext4 loop devices stand in for the FAT ESPs:
what is tested here is the tool's bookkeeping (what lands on which ESP, what
check and status see, missing disks). That FAT ESPs really boot, with
systemd-boot and with GRUB, is proven by the e2e boots, which are also the only
place grub-install runs (it needs a whole disk with a BIOS boot partition).

Every test attaches its own loop devices and, in `finally`, unmounts and
detaches whatever is still attached to its images, also when an assertion
fails. After every run of the tool its temporary directory must be gone, so a
run that leaves a mount or a work directory behind fails too.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

import kldload_tui.backend.target as target_package
from kldload_tui.backend.target.boot import HOOK

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: loop devices and mounts"),
]

SCRIPT = Path(target_package.__file__).parent / "templates" / "kldload-boot"
SDBOOT = "usr/lib/systemd/boot/efi/systemd-bootx64.efi"
PRETTY_NAME = "Debian GNU/Linux 12 (bookworm)"
CMDLINE = "root=ZFS=rpool/ROOT/debian ro quiet"
OLD, NEW = "6.1.0-9-amd64", "6.1.0-10-amd64"  # version order, not string order
NO_INITRD = "6.1.0-11-amd64"  # newest of all, but without an initramfs: never copied
ESP_SIZE = 32 * 1024**2


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=True, timeout=60)


# -- the target tree ---------------------------------------------------------------

@dataclass
class Target:
    """The tree KLDLOAD_BOOT_ROOT points at, and how to run the tool against it."""

    root: Path
    tmp: Path  # the tool's TMPDIR: must be empty again after every run

    def boot(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KLDLOAD_BOOT_ROOT": str(self.root), "TMPDIR": str(self.tmp)}
        r = subprocess.run(["sh", str(SCRIPT), *args], env=env, capture_output=True, text=True,
                           timeout=120, check=False)
        left = list(self.tmp.iterdir())
        assert not left, f"kldload-boot {' '.join(args)} left {left} behind: {r.stderr}"
        return r

    def write(self, rel: str, data: bytes | str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            path.write_text(data)
        else:
            path.write_bytes(data)
        return path

    def add_kernel(self, kver: str, *, initrd: bool = True) -> None:
        self.write(f"boot/vmlinuz-{kver}", os.urandom(48 * 1024))
        if initrd:
            self.write(f"boot/initrd.img-{kver}", os.urandom(96 * 1024))

    def remove_kernel(self, kver: str) -> None:
        (self.root / f"boot/vmlinuz-{kver}").unlink()
        (self.root / f"boot/initrd.img-{kver}").unlink()

    def source(self, rel: str) -> bytes:
        return (self.root / rel).read_bytes()

    def listed(self) -> list[str]:
        """The ESP list's UUIDs, in order."""
        path = self.root / "etc/kldload/esps"
        lines = path.read_text().splitlines() if path.exists() else []
        return [line.strip() for line in lines if line.strip() and not line.startswith("#")]

    def firmware(self, firmware: str) -> None:
        self.write("etc/kldload/boot.conf", f"FIRMWARE={firmware}\n")


@pytest.fixture
def target(tmp_path: Path) -> Target:
    t = Target(tmp_path / "root", tmp_path / "tmp")
    t.tmp.mkdir()
    t.firmware("uefi")
    t.write("etc/kldload/esps", "# ESPs kept in sync by kldload-boot (one UUID per line)\n")
    t.write("etc/kernel/cmdline", CMDLINE + "\n")
    t.write("etc/os-release", f'PRETTY_NAME="{PRETTY_NAME}"\nID=debian\n')
    t.write(SDBOOT, b"MZ" + os.urandom(32 * 1024))
    for kver in (OLD, NEW):
        t.add_kernel(kver)
    t.add_kernel(NO_INITRD, initrd=False)
    return t


# -- loop devices standing in for ESPs ----------------------------------------------

@dataclass
class Esp:
    image: Path
    device: str
    uuid: str  # "" when it has no filesystem


class Loops:
    """Loop devices made from sparse files; `close` unmounts and detaches them all."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.images: list[Path] = []

    def esp(self, *, size: int = ESP_SIZE, formatted: bool = True) -> Esp:
        image = self.tmp_path / f"esp{len(self.images)}.img"
        with image.open("wb") as f:
            f.truncate(size)
        self.images.append(image)
        uuid = ""
        if formatted:
            run("mkfs.ext4", "-q", "-F", str(image))
            uuid = run("blkid", "-c", "/dev/null", "-s", "UUID", "-o", "value",
                       str(image)).stdout.strip()
            assert uuid
        device = run("losetup", "--find", "--show", str(image)).stdout.strip()
        return Esp(image, device, uuid)

    @staticmethod
    def devices(image: Path) -> list[str]:
        """The loop devices attached to `image` now (never someone else's device)."""
        listed = subprocess.run(["losetup", "--noheadings", "--output", "NAME",
                                 "--associated", str(image)],
                                capture_output=True, text=True, check=False, timeout=60)
        return listed.stdout.split()

    def detach(self, esp: Esp) -> None:
        """The disk dies: its loop device goes away."""
        run("losetup", "--detach", esp.device)
        assert self.devices(esp.image) == []

    def close(self) -> None:
        for image in self.images:
            for device in self.devices(image):
                mounts = subprocess.run(["findmnt", "-rn", "-o", "TARGET", "-S", device],
                                        capture_output=True, text=True, check=False)
                for where in mounts.stdout.split():
                    subprocess.run(["umount", where], check=False)
                subprocess.run(["losetup", "--detach", device], check=False)


@pytest.fixture
def loops(tmp_path: Path) -> Iterator[Loops]:
    lo = Loops(tmp_path)
    try:
        yield lo
    finally:
        lo.close()


@pytest.fixture
def two_esps(target: Target, loops: Loops) -> tuple[Esp, Esp]:
    """Two ESPs, both initialised."""
    first, second = loops.esp(), loops.esp()
    for esp in (first, second):
        r = target.boot("init", esp.device)
        assert r.returncode == 0, r.stderr
    return first, second


@contextmanager
def contents(esp: Esp, where: Path, *, writable: bool = False) -> Iterator[Path]:
    """The ESP mounted by the test itself at `where` (read-only unless asked) for the block."""
    where.mkdir(exist_ok=True)
    run("mount", "-o", "rw" if writable else "ro", esp.device, str(where))
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


def files_under(top: Path, rel: str) -> set[str]:
    base = top / rel
    return {str(p.relative_to(base)) for p in base.rglob("*")} if base.exists() else set()


def entry(path: Path) -> dict[str, str]:
    """A systemd-boot entry or loader.conf as key -> value."""
    pairs = (line.split(None, 1) for line in path.read_text().splitlines() if line.strip())
    return {p[0]: p[1] if len(p) > 1 else "" for p in pairs}


# -- init ---------------------------------------------------------------------------

def test_init_on_two_esps_lists_them_and_fills_each(target: Target, two_esps: tuple[Esp, Esp],
                                                    tmp_path: Path) -> None:
    first, second = two_esps
    assert target.listed() == [first.uuid, second.uuid]
    assert (target.root / "etc/kldload/esps").read_text().startswith("# ESPs kept in sync")
    sdboot = target.source(SDBOOT)
    for n, esp in enumerate(two_esps):
        with contents(esp, tmp_path / f"look{n}") as top:
            assert (top / "EFI/systemd/systemd-bootx64.efi").read_bytes() == sdboot
            assert (top / "EFI/BOOT/BOOTX64.EFI").read_bytes() == sdboot
            assert files_under(top, "kldload") == {
                OLD, f"{OLD}/vmlinuz", f"{OLD}/initrd.img",
                NEW, f"{NEW}/vmlinuz", f"{NEW}/initrd.img"}, "no initramfs, no copy"
            for kver in (OLD, NEW):
                assert (top / f"kldload/{kver}/vmlinuz").read_bytes() == \
                    target.source(f"boot/vmlinuz-{kver}")
                assert (top / f"kldload/{kver}/initrd.img").read_bytes() == \
                    target.source(f"boot/initrd.img-{kver}")
            assert files_under(top, "loader/entries") == {
                f"kldload-{OLD}.conf", f"kldload-{NEW}.conf"}
            for kver in (OLD, NEW):
                assert entry(top / f"loader/entries/kldload-{kver}.conf") == {
                    "title": PRETTY_NAME,
                    "version": kver,
                    "linux": f"/kldload/{kver}/vmlinuz",
                    "initrd": f"/kldload/{kver}/initrd.img",
                    "options": CMDLINE,
                }
            assert entry(top / "loader/loader.conf")["default"] == f"kldload-{NEW}.conf"


def test_init_leaves_efi_variables_alone_under_an_alternate_root(target: Target,
                                                                 loops: Loops) -> None:
    r = target.boot("init", loops.esp().device)
    assert r.returncode == 0, r.stderr
    assert "no EFI variables here: firmware entries left alone" in r.stderr


def test_init_on_a_device_without_a_filesystem_says_to_format_it(target: Target,
                                                                 loops: Loops) -> None:
    blank = loops.esp(formatted=False)
    r = target.boot("init", blank.device)
    assert r.returncode != 0
    assert f"{blank.device} has no filesystem: run 'kldload-boot format {blank.device}' first" \
        in r.stderr
    assert target.listed() == []


def test_init_is_idempotent(target: Target, two_esps: tuple[Esp, Esp]) -> None:
    first, second = two_esps
    for esp in (first, second, first):
        r = target.boot("init", esp.device)
        assert r.returncode == 0, r.stderr
    assert target.listed() == [first.uuid, second.uuid]


def test_init_refuses_what_is_not_a_block_device(target: Target, tmp_path: Path) -> None:
    r = target.boot("init", str(tmp_path / "nothing"))
    assert r.returncode != 0
    assert "is not a block device" in r.stderr


# -- check and refresh --------------------------------------------------------------

def test_check_finds_a_corrupt_file_and_refresh_repairs_it(
        target: Target, two_esps: tuple[Esp, Esp], tmp_path: Path) -> None:
    first, second = two_esps
    r = target.boot("check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 ESP(s) in sync with 2 kernel(s)" in r.stdout

    rel = f"kldload/{OLD}/initrd.img"
    with contents(second, tmp_path / "rot", writable=True) as top:
        (top / rel).write_bytes(b"bit rot")

    r = target.boot("check")
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"ESP {second.uuid}: differs {rel}" in r.stdout
    assert f"ESP {first.uuid}: differs" not in r.stdout

    r = target.boot("refresh")
    assert r.returncode == 0, r.stderr
    assert f"refreshed ESP {first.uuid}" in r.stderr and f"refreshed ESP {second.uuid}" in r.stderr
    r = target.boot("check")
    assert r.returncode == 0, r.stdout + r.stderr
    with contents(second, tmp_path / "look") as top:
        assert (top / rel).read_bytes() == target.source(f"boot/initrd.img-{OLD}")


def test_check_finds_an_esp_whose_files_differ_from_the_first(
        target: Target, two_esps: tuple[Esp, Esp], tmp_path: Path) -> None:
    """A file the plan does not name, on one ESP only: each matches the plan, not the other."""
    first, second = two_esps
    with contents(second, tmp_path / "stray", writable=True) as top:
        (top / "EFI/stray.efi").write_bytes(b"left by someone")
    r = target.boot("check")
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"ESP {second.uuid}: its files differ from ESP {first.uuid}" in r.stdout
    assert "./EFI/stray.efi" in r.stdout


def test_refresh_drops_a_removed_kernel_and_adds_a_new_one_on_every_esp(
        target: Target, two_esps: tuple[Esp, Esp], tmp_path: Path) -> None:
    newest = "6.1.0-12-amd64"
    target.remove_kernel(OLD)
    target.add_kernel(newest)
    r = target.boot("refresh")
    assert r.returncode == 0, r.stderr
    assert "missing" not in r.stderr, "the list's comment is no ESP"
    for n, esp in enumerate(two_esps):
        with contents(esp, tmp_path / f"look{n}") as top:
            assert files_under(top, "kldload") == {
                NEW, f"{NEW}/vmlinuz", f"{NEW}/initrd.img",
                newest, f"{newest}/vmlinuz", f"{newest}/initrd.img"}
            assert files_under(top, "loader/entries") == {
                f"kldload-{NEW}.conf", f"kldload-{newest}.conf"}
            assert (top / f"kldload/{newest}/initrd.img").read_bytes() == \
                target.source(f"boot/initrd.img-{newest}")
            assert entry(top / "loader/loader.conf")["default"] == f"kldload-{newest}.conf"
    r = target.boot("check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 ESP(s) in sync with 2 kernel(s)" in r.stdout


def test_refresh_removes_only_what_it_owns(target: Target, two_esps: tuple[Esp, Esp],
                                          tmp_path: Path) -> None:
    foreign = "loader/entries/memtest.conf"
    for n, esp in enumerate(two_esps):
        with contents(esp, tmp_path / f"add{n}", writable=True) as top:
            (top / foreign).write_text("title memtest\n")
            (top / f"loader/entries/kldload-{OLD}-old.conf").write_text("title stale\n")
    r = target.boot("check")
    assert r.returncode == 1
    assert f"stale loader/entries/kldload-{OLD}-old.conf" in r.stdout
    assert "memtest" not in r.stdout
    assert target.boot("refresh").returncode == 0
    for n, esp in enumerate(two_esps):
        with contents(esp, tmp_path / f"look{n}") as top:
            assert (top / foreign).read_text() == "title memtest\n"
            assert not (top / f"loader/entries/kldload-{OLD}-old.conf").exists()


def test_a_changed_cmdline_reaches_every_esp(target: Target, two_esps: tuple[Esp, Esp],
                                            tmp_path: Path) -> None:
    target.write("etc/kernel/cmdline", "root=ZFS=rpool/ROOT/debian ro\nconsole=ttyS0,115200\n")
    r = target.boot("check")
    assert r.returncode == 1, "a stale command line is out of sync"
    assert f"differs loader/entries/kldload-{NEW}.conf" in r.stdout
    r = target.boot("refresh")
    assert r.returncode == 0, r.stderr
    for n, esp in enumerate(two_esps):
        with contents(esp, tmp_path / f"look{n}") as top:
            for kver in (OLD, NEW):
                options = entry(top / f"loader/entries/kldload-{kver}.conf")["options"]
                assert options == "root=ZFS=rpool/ROOT/debian ro console=ttyS0,115200"
    assert target.boot("check").returncode == 0


def test_kernel_patterns_from_boot_conf(target: Target, loops: Loops, tmp_path: Path) -> None:
    """Another layout: the kernel in a directory per version, the initramfs with a suffix."""
    for kver in (OLD, NEW):
        target.remove_kernel(kver)
        target.write(f"boot/{kver}/linux", os.urandom(1024))
        target.write(f"boot/initramfs-{kver}.img", os.urandom(2048))
    target.write("boot/initramfs-6.1.0-13-amd64.img", b"no kernel")
    with (target.root / "etc/kldload/boot.conf").open("a") as conf:
        conf.write("KERNEL_PATTERN='/boot/{kver}/linux'\n"
                   "INITRD_PATTERN='/boot/initramfs-{kver}.img'\n")
    esp = loops.esp()
    r = target.boot("init", esp.device)
    assert r.returncode == 0, r.stderr
    with contents(esp, tmp_path / "look") as top:
        assert files_under(top, "kldload") == {
            OLD, f"{OLD}/vmlinuz", f"{OLD}/initrd.img",
            NEW, f"{NEW}/vmlinuz", f"{NEW}/initrd.img"}
        for kver in (OLD, NEW):
            assert (top / f"kldload/{kver}/vmlinuz").read_bytes() == \
                target.source(f"boot/{kver}/linux")
            assert (top / f"kldload/{kver}/initrd.img").read_bytes() == \
                target.source(f"boot/initramfs-{kver}.img")
        assert entry(top / "loader/loader.conf")["default"] == f"kldload-{NEW}.conf"


# -- a dead disk ----------------------------------------------------------------------

def test_a_missing_esp_is_skipped_reported_and_cleaned(target: Target, loops: Loops,
                                                       two_esps: tuple[Esp, Esp],
                                                       tmp_path: Path) -> None:
    first, second = two_esps
    loops.detach(second)
    newest = "6.1.0-12-amd64"
    target.add_kernel(newest)

    r = target.boot("refresh")
    assert r.returncode == 0, r.stderr
    assert f"ESP {second.uuid} is missing" in r.stderr
    assert f"refreshed ESP {first.uuid}" in r.stderr
    with contents(first, tmp_path / "look") as top:
        assert (top / f"kldload/{newest}/vmlinuz").read_bytes() == \
            target.source(f"boot/vmlinuz-{newest}")

    r = target.boot("check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 ESP(s) in sync with 3 kernel(s)" in r.stdout
    assert f"ESP {second.uuid} is missing" in r.stderr

    r = target.boot("status")
    assert r.returncode == 0, r.stderr
    assert f"disk 1: ESP {first.uuid} on {first.device} ({first.device}): in sync" in r.stdout
    assert f"disk 2: ESP {second.uuid} missing" in r.stdout

    r = target.boot("clean")
    assert r.returncode == 0, r.stderr
    assert f"forgetting missing ESP {second.uuid}" in r.stderr
    assert target.listed() == [first.uuid]

    loops.detach(first)
    r = target.boot("refresh")
    assert r.returncode != 0
    assert "no ESP could be refreshed" in r.stderr


def test_status_reports_an_esp_out_of_sync(target: Target, two_esps: tuple[Esp, Esp]) -> None:
    target.add_kernel("6.1.0-12-amd64")
    r = target.boot("status")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == \
        "firmware: uefi; kernels: 6.1.0-12-amd64 6.1.0-10-amd64 6.1.0-9-amd64 "
    assert r.stdout.count("out of sync (kldload-boot refresh)") == 2


def test_refresh_without_a_kernel_fails(target: Target, two_esps: tuple[Esp, Esp]) -> None:
    target.remove_kernel(OLD)
    target.remove_kernel(NEW)
    r = target.boot("refresh")
    assert r.returncode != 0
    assert "no kernel with an initramfs" in r.stderr


def test_a_full_esp_fails_refresh_and_keeps_its_old_files(target: Target, loops: Loops,
                                                          tmp_path: Path) -> None:
    small = loops.esp(size=4 * 1024**2)  # ext4 leaves ~2.7 MiB for files
    r = target.boot("init", small.device)
    assert r.returncode == 0, r.stderr
    before = target.source(f"boot/initrd.img-{NEW}")
    target.write(f"boot/initrd.img-{NEW}", os.urandom(4 * 1024**2))
    r = target.boot("refresh")
    with contents(small, tmp_path / "look") as top:
        kept = (top / f"kldload/{NEW}/initrd.img").read_bytes()
    assert r.returncode != 0, "a refresh that could not write must not say it refreshed"
    assert kept == before, "a failed copy must leave the old file whole"


# -- BIOS: the GRUB menu (grub-install itself only runs in the e2e) --------------------

def test_bios_refresh_writes_a_grub_menu_entry_per_kernel(target: Target, loops: Loops,
                                                         tmp_path: Path) -> None:
    target.firmware("bios")
    esp = loops.esp()
    target.write("etc/kldload/esps", esp.uuid + "\n")  # init would run grub-install
    r = target.boot("refresh")
    assert r.returncode == 0, r.stderr
    with contents(esp, tmp_path / "look") as top:
        assert not (top / "loader").exists() and not (top / "EFI").exists()
        grub_cfg = (top / "grub/grub.cfg").read_text()
        assert files_under(top, "kldload") == {
            OLD, f"{OLD}/vmlinuz", f"{OLD}/initrd.img",
            NEW, f"{NEW}/vmlinuz", f"{NEW}/initrd.img"}
    menu = [line for line in grub_cfg.splitlines() if line.startswith("menuentry ")]
    assert menu == [f"menuentry '{PRETTY_NAME} ({NEW})' {{",  # default=0: the newest
                    f"menuentry '{PRETTY_NAME} ({OLD})' {{"]
    for kver in (OLD, NEW):
        assert f"\tlinux /kldload/{kver}/vmlinuz {CMDLINE}\n" in grub_cfg
        assert f"\tinitrd /kldload/{kver}/initrd.img\n" in grub_cfg
    assert "set default=0" in grub_cfg

    r = target.boot("check")
    assert r.returncode == 1, "no GRUB was ever installed on this disk"
    assert f"ESP {esp.uuid}: missing grub/i386-pc/core.img (run kldload-boot init" in r.stdout
    assert f"ESP {esp.uuid}: no GRUB boot code in the MBR of {esp.device}" in r.stdout


def test_bios_files_go_where_the_distributions_grub_looks(target: Target, loops: Loops,
                                                          tmp_path: Path) -> None:
    """The Red Hat family's core.img reads grub2/ (GRUB_DIR from boot.conf): a menu in
    grub/ would leave it at a grub> prompt."""
    target.firmware("bios")
    with (target.root / "etc/kldload/boot.conf").open("a") as conf:
        conf.write("GRUB_DIR=grub2\n")
    esp = loops.esp()
    target.write("etc/kldload/esps", esp.uuid + "\n")
    r = target.boot("refresh")
    assert r.returncode == 0, r.stderr
    with contents(esp, tmp_path / "look") as top:
        assert not (top / "grub").exists()
        assert f"menuentry '{PRETTY_NAME} ({NEW})' {{" in (top / "grub2/grub.cfg").read_text()
    r = target.boot("check")
    assert f"ESP {esp.uuid}: missing grub2/i386-pc/core.img (run kldload-boot init" in r.stdout


# -- the script itself ------------------------------------------------------------------

def test_the_script_and_its_hooks_pass_shellcheck(tmp_path: Path) -> None:
    """test_units_verify.py checks only the usr/lib/kldload scripts; these are elsewhere."""
    hook = tmp_path / "zz-kldload-boot"
    hook.write_text(HOOK)
    for script in (SCRIPT, hook):
        r = subprocess.run(["shellcheck", "--shell=sh", str(script)], capture_output=True,
                           text=True, check=False, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr


def test_usage_lists_every_command(target: Target) -> None:
    r = target.boot("help")
    assert r.returncode == 0
    commands = [line.split()[2] for line in r.stdout.splitlines()]
    assert commands == ["status", "check", "refresh", "format", "init", "entries", "clean",
                        "replace"]
    r = target.boot("frobnicate")
    assert r.returncode == 2
    assert "unknown command: frobnicate" in r.stderr
