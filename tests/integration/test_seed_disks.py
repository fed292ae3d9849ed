"""Seed disks on real loop devices, found by `kldload-tui seed find` as an install would.

Needs root (loop devices) and the filesystem tools; skipped with the reason
otherwise. Every loop device attached here is detached again, also on failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kldload_tui.backend.engine.runner import LocalRunner
from kldload_tui.backend.seed.find import (
    AnswersUrl,
    SeedDisk,
    find_answers,
    scan_seed_devices,
)
from kldload_tui.backend.seed.fs import read_seed_answers

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "answers-examples" / "rocky-seed-usb.env"
TOOLS = ("losetup", "blkid", "lsblk", "mkfs.vfat", "mdir", "mcopy", "xorriso", "sgdisk",
         "mkfs.ext4", "mount", "umount")
MISSING = [t for t in TOOLS if shutil.which(t) is None]
MTOOLS = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="loop devices need root"),
    pytest.mark.skipif(bool(MISSING), reason=f"tools missing: {', '.join(MISSING)}"),
]

Attach = Callable[..., str]


@pytest.fixture
def loop() -> Iterator[Attach]:
    """attach(image, offset=None, size=None) -> /dev/loopN, detached after the test."""
    attached: list[str] = []

    def attach(image: Path, offset: int | None = None, size: int | None = None) -> str:
        argv = ["losetup", "-f", "--show"]
        argv += ["-o", str(offset)] if offset is not None else []
        argv += ["--sizelimit", str(size)] if size is not None else []
        r = subprocess.run([*argv, str(image)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot attach a loop device: {r.stderr.strip()}")
        attached.append(r.stdout.strip())
        return attached[-1]

    try:
        yield attach
    finally:
        for dev in attached:
            subprocess.run(["losetup", "-d", dev], check=False)


def kldload(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("kldload-tui", path=str(Path(sys.executable).parent))
    argv = [exe] if exe else [sys.executable, "-m", "kldload_tui"]
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=120)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_seed(tmp_path: Path, *extra: str, answers: Path = EXAMPLE) -> Path:
    out = tmp_path / ("seed.iso" if "--iso" in extra else "seed.img")
    r = kldload("seed", "make", "--answers", str(answers), "--image", str(out), *extra)
    assert r.returncode == 0, r.stderr
    return out


def fat_by_hand(path: Path, label: str, content: bytes | None, size_mib: int = 8) -> Path:
    """A FAT image made with the tools directly, for seeds `seed make` refuses to write."""
    subprocess.run(["truncate", "-s", f"{size_mib}M", str(path)], check=True)
    subprocess.run(["mkfs.vfat", "-n", label, str(path)], check=True, capture_output=True)
    if content is not None:
        src = path.with_suffix(".src")
        src.write_bytes(content)
        subprocess.run(["mcopy", "-i", str(path), str(src), "::answers.env"], check=True,
                       env=MTOOLS)
    return path


def find_json(*args: str) -> tuple[int, dict[str, Any]]:
    r = kldload("seed", "find", "--json", *args)
    return r.returncode, json.loads(r.stdout)


@pytest.mark.parametrize("kind", ["fat", "iso"])
def test_seed_made_by_seed_make_is_found_by_a_device_scan(tmp_path: Path, loop: Attach,
                                                            kind: str) -> None:
    dev = loop(make_seed(tmp_path, *(["--iso"] if kind == "iso" else [])))
    status, doc = find_json()
    assert status == 0, doc
    label, fs = ("KLDLOAD-SEED", "iso9660") if kind == "iso" else ("KLDLOADSEED", "vfat")
    assert doc["source"] == {"device": dev, "label": label, "filesystem": fs, "described": False,
                             "named": False, "kind": "seed", "name": f"{dev}:answers.env",
                             "description": f"seed disk {dev} (label {label}, {fs})"}
    assert doc["sha256"] == sha(EXAMPLE.read_bytes())
    text = kldload("seed", "find")
    assert text.stdout.splitlines()[:2] == [f"answers: seed disk {dev} (label {label}, {fs})",
                                            f"{dev}:answers.env: valid"]


def test_fat_partition_of_a_gpt_disk_is_found(tmp_path: Path, loop: Attach) -> None:
    disk = tmp_path / "disk.img"
    subprocess.run(["truncate", "-s", "64M", str(disk)], check=True)
    subprocess.run(["sgdisk", "-n", "1:2048:+32M", "-t", "1:0700", "-c", "1:seed", str(disk)],
                   check=True, capture_output=True)
    offset, size = 2048 * 512, 32 * 1024 * 1024
    subprocess.run(["mkfs.vfat", "--offset", "2048", "-n", "KLDLOADSEED", str(disk),
                    str(size // 1024)], check=True, capture_output=True)
    subprocess.run(["mcopy", "-i", f"{disk}@@{offset}", str(EXAMPLE), "::answers.env"],
                   check=True, env=MTOOLS)
    whole = loop(disk)  # a GPT disk with no filesystem of its own: not a candidate
    part = loop(disk, offset=offset, size=size)
    candidates, _ = scan_seed_devices(LocalRunner())
    assert [c.device for c in candidates] == [part]
    status, doc = find_json()
    assert status == 0, doc
    assert doc["source"]["device"] == part != whole
    assert doc["sha256"] == sha(EXAMPLE.read_bytes())


def test_two_seeds_are_an_error_naming_both(tmp_path: Path, loop: Attach) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = loop(make_seed(tmp_path / "a"))
    second = loop(make_seed(tmp_path / "b", "--iso"))
    r = kldload("seed", "find")
    assert r.returncode == 1
    assert r.stdout == ""
    assert f"2 seed disks found: {first} (KLDLOADSEED, vfat), {second} (KLDLOAD-SEED, iso9660)" \
        in r.stderr
    assert "nothing is installed" in r.stderr
    status, doc = find_json()
    assert status == 1 and doc["ambiguous"] is True
    assert doc["devices"] == [first, second]


def test_naming_one_of_two_seeds_resolves_it(tmp_path: Path, loop: Attach) -> None:
    loop(make_seed(tmp_path, "--iso"))
    second = loop(fat_by_hand(tmp_path / "other.img", "KLDLOADSEED", b"KLDLOAD_DISTRO=arch\n"
                              b"KLDLOAD_DISK=/dev/vda\nKLDLOAD_HOSTNAME=b2\n"))
    status, doc = find_json("--answers", second)
    assert status == 0, doc
    assert doc["source"]["named"] is True
    assert doc["summary"]["hostname"].startswith("b2")


def test_explicit_paths_image_and_file(tmp_path: Path, loop: Attach) -> None:
    image = make_seed(tmp_path)
    loop(make_seed(tmp_path, "--iso"))  # a seed disk is present: --answers still wins
    status, doc = find_json("--answers", str(image))
    assert status == 0, doc
    assert doc["source"]["kind"] == "seed" and doc["source"]["device"] == str(image)
    assert doc["sha256"] == sha(EXAMPLE.read_bytes())
    status, doc = find_json("--answers", str(EXAMPLE))
    assert status == 0 and doc["source"]["kind"] == "file"
    assert doc["sha256"] == sha(EXAMPLE.read_bytes())


def test_machine_description_made_from_this_machine(tmp_path: Path, loop: Attach) -> None:
    from kldload_tui.backend.machine.probe import probe_machine

    dev = loop(make_seed(tmp_path))
    runner = LocalRunner()
    machine = probe_machine(runner, source="lsblk")
    seed = machine.seed  # marked, its answers left out: probe output is meant to be shared
    assert seed is not None and seed.device == dev and seed.answers is None
    answers = read_seed_answers(seed.device, seed.filesystem, runner).decode()
    seed = seed.model_copy(update={"answers": answers})
    machine = machine.model_copy(update={"seed": seed, "kernel_cmdline": ""})
    described = tmp_path / "machine.json"
    described.write_text(machine.to_json())
    status, doc = find_json("--machine", str(described))
    assert status == 0, doc
    assert doc["source"]["device"] == dev and doc["source"]["described"] is True
    assert doc["sha256"] == sha(EXAMPLE.read_bytes())


@pytest.fixture
def answers_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = EXAMPLE.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_kernel_cmdline_url_wins_over_a_seed_disk(tmp_path: Path, loop: Attach,
                                                   answers_server: str) -> None:
    loop(make_seed(tmp_path))
    url = f"{answers_server}/answers/${{hostname}}.env"
    found = find_answers(cmdline=f"quiet kldload.answers={url} ro", runner=LocalRunner())
    assert isinstance(found.source, AnswersUrl) and found.source.template == url
    assert found.data == EXAMPLE.read_bytes() and found.result.ok
    seed_only = find_answers(cmdline="quiet ro", runner=LocalRunner())
    assert isinstance(seed_only.source, SeedDisk)


def test_seed_without_answers_names_the_device(tmp_path: Path, loop: Attach) -> None:
    dev = loop(fat_by_hand(tmp_path / "empty.img", "KLDLOADSEED", None))
    r = kldload("seed", "find")
    assert r.returncode == 2
    assert f"{dev}: holds no answers.env (labelled KLDLOADSEED, vfat)" in r.stderr


def test_invalid_answers_on_a_seed_print_every_error(tmp_path: Path, loop: Attach) -> None:
    bad = tmp_path / "bad.env"
    bad.write_bytes(b"KLDLOAD_DISTRO=debain\nKLDLOAD_DISK=sda\nKLDLOAD_HOSTNAME=-x-\n"
                    b"KLDLOAD_ZFS_TOPOLOGY=mirror\nKLDLOAD_NET_METHOD=static\n")
    dev = loop(fat_by_hand(tmp_path / "bad.img", "kldloadseed", bad.read_bytes()))
    r = kldload("seed", "find")
    assert r.returncode == 1
    expected = kldload("validate", str(bad)).stderr.replace(f"{bad}:", f"{dev}:answers.env:")
    found = [line for line in r.stderr.splitlines() if line.startswith(f"{dev}:answers.env:")]
    assert found == [line for line in expected.splitlines() if line.startswith(dev)]
    assert len(found) >= 5


def test_other_filesystems_are_mounted_read_only_and_unmounted(tmp_path: Path,
                                                              loop: Attach) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    shutil.copy(EXAMPLE, tree / "answers.env")
    image = tmp_path / "ext4.img"
    subprocess.run(["truncate", "-s", "16M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-L", "KLDLOADSEED", "-d", str(tree), str(image)],
                   check=True)
    dev = loop(image)
    before = image.read_bytes()
    status, doc = find_json()
    assert status == 0, doc
    assert doc["source"]["device"] == dev and doc["source"]["filesystem"] == "ext4"
    assert doc["sha256"] == sha(EXAMPLE.read_bytes())
    assert "kldload-seed-" not in Path("/proc/self/mounts").read_text()
    assert image.read_bytes() == before  # read-only: not even a journal replay or mount count


def test_a_symlink_named_answers_env_is_refused(tmp_path: Path, loop: Attach) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "answers.env").symlink_to("/etc/hostname")
    image = tmp_path / "ext4.img"
    subprocess.run(["truncate", "-s", "16M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-L", "KLDLOAD-SEED", "-d", str(tree), str(image)],
                   check=True)
    dev = loop(image)
    r = kldload("seed", "find")
    assert r.returncode == 2
    assert f"{dev}: answers.env is not a regular file" in r.stderr
    assert "kldload-seed-" not in Path("/proc/self/mounts").read_text()


def test_oversized_answers_on_a_seed_are_refused(tmp_path: Path, loop: Attach) -> None:
    dev = loop(fat_by_hand(tmp_path / "big.img", "KLDLOADSEED", b"#" * (2 * 1024 * 1024)))
    r = kldload("seed", "find")
    assert r.returncode == 2
    assert f"{dev}: answers.env is larger than 1 MiB" in r.stderr


def test_a_truncated_guide_label_is_pointed_out(tmp_path: Path, loop: Attach) -> None:
    dev = loop(fat_by_hand(tmp_path / "near.img", "KLDLOAD-SEE", EXAMPLE.read_bytes()))
    r = kldload("seed", "find")
    assert r.returncode == 2
    assert f"{dev} has label 'KLDLOAD-SEE', which is not a seed label: relabel it " \
           f"KLDLOADSEED (fatlabel {dev} KLDLOADSEED)" in r.stderr
