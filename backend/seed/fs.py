"""Seed filesystems: read answers.env off a device or image, and write seeds.

FAT and ISO9660 are read without mounting (mtools, xorriso): live kernels
without the vfat or iso9660 driver, the CI hosts among them, cannot mount
them. Any other filesystem is mounted read-only in a private directory and
always unmounted. The file is copied to a private temporary directory and
read from there, never taken from a command's output: the runner logs
output lines, and answers.env holds passwords.

Seeds we write: FAT labelled `KLDLOADSEED` (a FAT label holds 11 characters,
so the guide's `KLDLOAD-SEED` cannot be written on FAT) and ISO9660 labelled
`KLDLOAD-SEED`. Every seed is read back and compared before it is reported
written.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kldload_tui.backend.answers.file import MAX_BYTES
from kldload_tui.backend.engine.runner import CommandError, Runner

ANSWERS_NAME = "answers.env"
FAT_LABEL = "KLDLOADSEED"
ISO_LABEL = "KLDLOAD-SEED"
# Case-insensitive: FAT stores labels in upper case, and an ISO volume id is
# upper case by the standard, though genisoimage takes any case.
ACCEPTED_LABELS: tuple[str, ...] = (FAT_LABEL, ISO_LABEL)
FAT_TYPES = frozenset({"vfat", "msdos"})
ISO_TYPES = frozenset({"iso9660"})
DEFAULT_IMAGE_BYTES = 16 * 1024 * 1024
MIN_IMAGE_BYTES = 2 * 1024 * 1024
READ_TIMEOUT = 60.0  # a failing USB stick can stall reads for a long time
# mtools refuses media whose geometry does not add up (loop devices, odd sticks).
MTOOLS_ENV = {"MTOOLS_SKIP_CHECK": "1"}
# Options that keep a read-only mount from writing anyway (journal replay).
_NO_REPLAY = {"ext3": "noload", "ext4": "noload", "xfs": "norecovery"}
_MDIR_FOOTER = re.compile(r"^\s*1 file\s+([\d ]+?)\s+bytes\s*$", re.MULTILINE)
_XORRISO_LSL = re.compile(r"^(\S)\S{9}\s+\d+\s+\S+\s+\S+\s+(\d+)\s+.*?'(.*)'\s*$")


def is_seed_label(label: str | None) -> bool:
    """True for a label we accept on a seed: KLDLOADSEED or KLDLOAD-SEED, any case."""
    return label is not None and label.strip().upper() in ACCEPTED_LABELS


class SeedReadError(Exception):
    """A seed device or image could not be read; names the device."""

    def __init__(self, device: str, message: str) -> None:
        self.device = device
        super().__init__(f"{device}: {message}")


class NoAnswersOnSeed(SeedReadError):
    """The filesystem was read and holds no regular file named answers.env."""


class SeedWriteError(Exception):
    """A seed could not be written or did not read back the same."""


class SeedTargetRefused(SeedWriteError):
    """Nothing was written: the target needs --force, or can never be written."""


@contextlib.contextmanager
def _private_dir() -> Iterator[Path]:
    """A 0700 temporary directory, removed afterwards (answers hold secrets)."""
    path = Path(tempfile.mkdtemp(prefix="kldload-seed-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _too_large(device: str, max_bytes: int) -> SeedReadError:
    return SeedReadError(device, f"{ANSWERS_NAME} is larger than {max_bytes / 2**20:g} MiB: "
                         "refused (an answers file is a few hundred bytes)")


def _read_bounded(path: Path, device: str, max_bytes: int) -> bytes:
    """A regular file's bytes, refusing symlinks (a seed could point at /etc/shadow)."""
    try:
        # O_NONBLOCK: opening a FIFO named answers.env must not wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise NoAnswersOnSeed(device, f"holds no {ANSWERS_NAME}") from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise NoAnswersOnSeed(device, f"{ANSWERS_NAME} is not a regular file (a symbolic "
                                  "link)") from None
        raise SeedReadError(device, f"cannot read {ANSWERS_NAME}: {err.strerror or err}") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise NoAnswersOnSeed(device, f"{ANSWERS_NAME} is not a regular file")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise _too_large(device, max_bytes)
    return data


def _run_read(runner: Runner, device: str, argv: Sequence[str], what: str,
              env: dict[str, str] | None = None) -> str:
    """Run a read-only command; its stdout, or SeedReadError naming the device."""
    try:
        res = runner.run(argv, check=False, env=env, timeout=READ_TIMEOUT)
    except CommandError as err:  # a timeout always raises
        raise SeedReadError(device, f"{what}: {err.reason}") from None
    if res.returncode != 0:
        lines = (res.stderr or res.stdout).strip().splitlines()
        # xorriso ends with "aborting"; the line before it says why.
        failures = [line for line in lines if "FAILURE :" in line] or lines
        raise SeedReadError(device, f"{what}: {failures[-1] if failures else res.command}")
    return res.stdout


def _read_fat(device: str, runner: Runner, max_bytes: int, work: Path) -> bytes:
    # mdir first: it tells a missing file from an unreadable filesystem, and the
    # size, so a huge file is refused before anything copies it.
    try:
        listing = _run_read(runner, device, ["mdir", "-f", "-i", device, f"::{ANSWERS_NAME}"],
                            "not a readable FAT filesystem", MTOOLS_ENV)
    except SeedReadError as err:
        if "not found" in str(err):
            raise NoAnswersOnSeed(device, f"holds no {ANSWERS_NAME}") from None
        raise
    footer = _MDIR_FOOTER.search(listing)
    if "Directory for ::/\n" not in listing or footer is None:
        raise NoAnswersOnSeed(device, f"{ANSWERS_NAME} is not a regular file")
    if int(footer.group(1).replace(" ", "")) > max_bytes:
        raise _too_large(device, max_bytes)
    target = work / ANSWERS_NAME
    _run_read(runner, device, ["mcopy", "-n", "-i", device, f"::{ANSWERS_NAME}", str(target)],
              f"cannot copy {ANSWERS_NAME}", MTOOLS_ENV)
    return _read_bounded(target, device, max_bytes)


def _read_iso(device: str, runner: Runner, max_bytes: int, work: Path) -> bytes:
    # xorriso shows Rock Ridge names when present, else ISO names without ";1":
    # match case-insensitively (a plain ISO says ANSWERS.ENV).
    # "stdio:" reads a device as a plain file; without it xorriso refuses
    # anything under /dev that is not an optical drive.
    indev = f"stdio:{device}"
    listing = _run_read(runner, device, ["xorriso", "-indev", indev, "-lsl", "/"],
                        "not a readable ISO9660 filesystem")
    entry = None
    for line in listing.splitlines():
        m = _XORRISO_LSL.match(line)
        if m and m.group(3).split(";")[0].lower() == ANSWERS_NAME:
            entry = m
            break
    if entry is None:
        raise NoAnswersOnSeed(device, f"holds no {ANSWERS_NAME}")
    if entry.group(1) != "-":
        raise NoAnswersOnSeed(device, f"{ANSWERS_NAME} is not a regular file")
    if int(entry.group(2)) > max_bytes:
        raise _too_large(device, max_bytes)
    target = work / ANSWERS_NAME
    _run_read(runner, device, ["xorriso", "-abort_on", "FAILURE", "-indev", indev,
                               "-osirrox", "on", "-extract", "/" + entry.group(3), str(target)],
              f"cannot extract {ANSWERS_NAME}")
    return _read_bounded(target, device, max_bytes)


def _read_mounted(device: str, filesystem: str, runner: Runner, max_bytes: int,
                  work: Path) -> bytes:
    mnt = work / "mnt"
    mnt.mkdir(mode=0o700)
    options = ",".join(o for o in ("ro", "nosuid", "nodev", "noexec",
                                   _NO_REPLAY.get(filesystem)) if o)
    _run_read(runner, device, ["mount", "-t", filesystem, "-o", options, device, str(mnt)],
              f"cannot mount {filesystem} read-only")
    try:
        names = os.listdir(mnt)
        name = ANSWERS_NAME if ANSWERS_NAME in names else next(
            (n for n in names if n.lower() == ANSWERS_NAME), ANSWERS_NAME)
        return _read_bounded(mnt / name, device, max_bytes)
    finally:
        _unmount(mnt, runner)


def _unmount(mnt: Path, runner: Runner) -> None:
    """Unmount, lazily when busy or stuck; never raises, so the read's own error shows."""
    for argv in (["umount", str(mnt)], ["umount", "-l", str(mnt)]):
        with contextlib.suppress(CommandError):
            if runner.run(argv, check=False, timeout=READ_TIMEOUT).ok:
                break
    with contextlib.suppress(OSError):
        mnt.rmdir()


def read_seed_answers(device: str, filesystem: str, runner: Runner, *,
                      max_bytes: int = MAX_BYTES) -> bytes:
    """answers.env from the top of a seed's filesystem (a device or an image file).

    Raises `NoAnswersOnSeed` when there is none, `SeedReadError` when the
    filesystem cannot be read or the file is over `max_bytes`.
    """
    with _private_dir() as work:
        if filesystem in FAT_TYPES:
            return _read_fat(device, runner, max_bytes, work)
        if filesystem in ISO_TYPES:
            return _read_iso(device, runner, max_bytes, work)
        return _read_mounted(device, filesystem, runner, max_bytes, work)


def blkid_probe(device: str, runner: Runner) -> dict[str, str]:
    """`blkid -p -o export DEVICE` (a low-level probe, never the stale cache) as a dict.

    Empty when nothing was found; `_error` holds why the probe failed, and
    `_ambivalent` is set when blkid found more than one signature.
    """
    try:
        res = runner.run(["blkid", "-p", "-o", "export", device], check=False, timeout=30)
    except CommandError as err:
        return {"_error": err.reason}
    values: dict[str, str] = {}
    for line in res.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key] = re.sub(r"\\(.)", r"\1", value)  # export escapes spaces and quotes
    if res.returncode == 8:
        values["_ambivalent"] = "1"
    elif res.returncode not in (0, 2):
        values["_error"] = res.stderr.strip() or f"blkid exit {res.returncode}"
    return values


# Writing ---------------------------------------------------------------------

def _verify(path: str, filesystem: str, data: bytes, runner: Runner) -> None:
    """Read the seed back the way discovery will, and compare label and bytes."""
    label = blkid_probe(path, runner).get("LABEL")
    if not is_seed_label(label):
        raise SeedWriteError(f"{path}: label reads back as {label!r}, not a seed label")
    try:
        back = read_seed_answers(path, filesystem, runner)
    except SeedReadError as err:
        raise SeedWriteError(f"reading the seed back failed: {err}") from None
    if back != data:
        raise SeedWriteError(f"{path}: {ANSWERS_NAME} read back differs from what was written "
                             f"({len(back)} bytes, not {len(data)})")


def _check_image_target(path: Path, force: bool) -> None:
    if path.is_dir():
        raise SeedTargetRefused(f"{path} is a directory; give an image file name")
    if path.exists() and stat.S_ISBLK(path.stat().st_mode):
        raise SeedTargetRefused(f"{path} is a block device: use --device for devices")
    if path.exists() and not force:
        raise SeedTargetRefused(f"{path} exists: refusing to overwrite it without --force")
    if not path.parent.is_dir():
        raise SeedTargetRefused(f"{path.parent} is not a directory")


@contextlib.contextmanager
def _staged(path: Path, data: bytes) -> Iterator[tuple[Path, Path]]:
    """A temporary image beside `path` (renamed over it on success) and a private
    copy of the answers: the bytes checked are the bytes written."""
    with _private_dir() as work:
        answers = work / ANSWERS_NAME
        answers.write_bytes(data)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)  # mkstemp makes it 0600: the image holds the answers' secrets
        try:
            yield Path(tmp), answers
        finally:
            Path(tmp).unlink(missing_ok=True)


def make_fat_image(path: Path, data: bytes, runner: Runner, *,
                   size_bytes: int = DEFAULT_IMAGE_BYTES, force: bool = False) -> None:
    """Write a FAT seed image (no partition table) holding `data` as answers.env."""
    _check_image_target(path, force)
    if size_bytes < MIN_IMAGE_BYTES:
        raise SeedTargetRefused(f"image size {size_bytes} bytes is too small: at least 2 MiB")
    with _staged(path, data) as (image, answers):
        os.truncate(image, size_bytes)
        runner.run(["mkfs.vfat", "-n", FAT_LABEL, str(image)])
        runner.run(["mcopy", "-i", str(image), str(answers), f"::{ANSWERS_NAME}"],
                   env=MTOOLS_ENV)
        _verify(str(image), "vfat", data, runner)
        os.replace(image, path)


def iso_tool() -> list[str]:
    """genisoimage when installed, else xorriso's mkisofs emulation (same options)."""
    return ["genisoimage"] if shutil.which("genisoimage") else ["xorriso", "-as", "mkisofs"]


def make_iso_image(path: Path, data: bytes, runner: Runner, *, force: bool = False) -> None:
    """Write an ISO9660 seed image (Joliet and Rock Ridge) labelled KLDLOAD-SEED."""
    _check_image_target(path, force)
    with _staged(path, data) as (image, answers), _private_dir() as tree:
        answers.rename(tree / ANSWERS_NAME)
        runner.run([*iso_tool(), "-quiet", "-V", ISO_LABEL, "-J", "-R", "-o", str(image),
                    str(tree)])
        _verify(str(image), "iso9660", data, runner)
        os.replace(image, path)


@dataclass(frozen=True)
class SeedTarget:
    """What writing a seed onto a device would do, and whether it may.

    `refusals` are never overridden (mounted, the running system, in use).
    `consent` needs `--force` and a typed confirmation (not removable, holds
    data); `contents` is what would be lost; `partitions` are wiped first.
    """

    device: str
    refusals: list[str] = field(default_factory=list)
    consent: list[str] = field(default_factory=list)
    contents: list[str] = field(default_factory=list)
    partitions: list[str] = field(default_factory=list)


def check_seed_target(device: str, runner: Runner) -> SeedTarget:
    """Judge `device` (a disk or partition path, symlinks resolved) as a seed target."""
    from kldload_tui.backend.machine.disks import contents_of, find_live_devices
    from kldload_tui.backend.machine.probe import probe_disks

    path = os.path.realpath(device)
    try:
        is_block = stat.S_ISBLK(os.stat(path).st_mode)
    except OSError as err:
        return SeedTarget(path, refusals=[f"{device}: {err.strerror or err}"])
    if not is_block:
        return SeedTarget(path, refusals=[f"{device} is not a block device (an image file "
                                          "is made with --image)"])
    disk = next((d for d in probe_disks(runner) if d.owns(path)), None)
    if disk is None:
        return SeedTarget(path, refusals=[f"{device} is not a disk or partition lsblk lists"])
    whole = disk.path == path
    target = disk if whole else next(p for p in disk.partitions if p.path == path)
    live = set(find_live_devices(runner))
    refusals: list[str] = []
    on_live = [d.path for d in disk.devices() if d.path in live]
    if on_live:
        refusals.append(f"{disk.path} holds the running system ({', '.join(on_live)})")
    for dev in disk.devices() if whole else [target]:
        if dev.mountpoints:
            refusals.append(f"{dev.path} is mounted on {', '.join(dev.mountpoints)}")
        if dev.swap:
            refusals.append(f"{dev.path} is in use as swap")
        if dev.holders:
            refusals.append(f"{dev.path} is in use by {', '.join(dev.holders)}")
        if dev.zfs_pool_imported:
            refusals.append(f"{dev.path} is in the imported ZFS pool {dev.zfs_pool!r}")
    if disk.read_only:
        refusals.append(f"{disk.path} is read-only")
    contents = contents_of(disk) if whole else [
        f"{target.fstype}{f' {target.label!r}' if target.label else ''} on {target.path}"
    ] if target.has_signature else []
    consent: list[str] = []
    if not disk.removable:
        consent.append(f"{disk.path} is not a removable device")
    if contents:
        consent.append(f"{path} holds data: {'; '.join(contents)}")
    return SeedTarget(path, refusals, consent, contents,
                      [p.path for p in disk.partitions] if whole else [])


def write_fat_device(device: str, data: bytes, runner: Runner, *,
                     partitions: Sequence[str] = ()) -> None:
    """Make `device` a FAT seed: whole-device FAT, no partition table.

    The caller has checked the device with `check_seed_target`.
    Signatures are wiped first (partitions, then the device, which takes the
    backup GPT at its end too), so no stale table or label outlives the seed.
    """
    with _private_dir() as work:
        answers = work / ANSWERS_NAME
        answers.write_bytes(data)
        for part in partitions:
            runner.run(["wipefs", "--all", "--quiet", part])
        runner.run(["wipefs", "--all", "--quiet", device])
        # Drop the kernel's view of the old partitions; fails harmlessly on
        # devices without partition support (a loop device without -P).
        runner.run(["blockdev", "--rereadpt", device], check=False)
        runner.run(["mkfs.vfat", "-I", "-n", FAT_LABEL, device])
        runner.run(["mcopy", "-i", device, str(answers), f"::{ANSWERS_NAME}"], env=MTOOLS_ENV)
        runner.run(["blockdev", "--flushbufs", device])  # the stick may be pulled next
    _verify(device, "vfat", data, runner)
