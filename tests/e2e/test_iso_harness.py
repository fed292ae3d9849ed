"""The harness's side of booting the product's ISO, checked on the host with no
guest: the build command, the CD drive, what each layout boots, and that the
console lines the harness follows are the ones the ISO and the engine print.
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pexpect
import pytest

from kldload_tui.backend.engine.events import Complete, Failed, PhaseFinished, PhaseStarted
from kldload_tui.backend.iso.boot import menu_entries
from kldload_tui.backend.iso.liveroot import HOSTNAME, template
from kldload_tui.event_render import PlainRenderer
from tests.e2e import cache
from tests.e2e.install import ISO_ENDS, ISO_START, follow
from tests.e2e.iso import (
    ISO_CACHE_ENV,
    LOGIN_ENTRY,
    MENU,
    ROOT_PROMPT,
    SERIAL_ENTRY,
    LiveIso,
    build_argv,
    iso_cache,
)
from tests.e2e.layouts import LAYOUTS, live_needed
from tests.e2e.qemu import Guest


def test_the_build_serves_every_profile_and_feature_the_layouts_install(tmp_path: Path) -> None:
    from tests.e2e.boot_layouts import BOOT_SPECS
    from tests.e2e.installs import SPECS

    argv = build_argv(tmp_path / "out", tmp_path / "cache")
    assert argv[1:3] == ["iso", "build"] and "--darksite" in argv
    profiles = {argv[i + 1] for i, a in enumerate(argv) if a == "--profile"}
    assert {spec.profile for spec in (*SPECS.values(), *BOOT_SPECS.values())} <= profiles
    assert argv[argv.index("--cache") + 1] == str(tmp_path / "cache")


def test_the_iso_cache_is_never_in_the_repository(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    monkeypatch.setenv(ISO_CACHE_ENV, str(cache.REPO / "iso-cache"))
    with pytest.raises(SystemExit, match="inside the repository"):
        iso_cache()
    monkeypatch.setenv(ISO_CACHE_ENV, str(tmp_path / "iso"))
    assert iso_cache() == tmp_path / "iso"


def test_the_summary_says_what_was_built() -> None:
    iso = LiveIso(Path("/c/iso/x/kldload-bookworm-0.1.0.iso"), {
        "kernel": "6.1.0-57-amd64",
        "steps": [{"name": "mirror", "seconds": 3.0, "cached": False},
                  {"name": "zfs-module", "seconds": 0.0, "cached": True},
                  {"name": "wheels", "seconds": 6.0, "cached": False},
                  {"name": "output", "seconds": 0.1, "cached": False}]})
    assert iso.suite == "bookworm"
    assert iso.module_package == "zfs-modules-6.1.0-57-amd64"
    assert iso.built_steps() == ["wheels"]


def test_the_cd_boots_first(tmp_path: Path) -> None:
    argv = Guest("g", tmp_path, cdrom=tmp_path / "k.iso").argv()
    drive = argv[argv.index("-device", argv.index(next(a for a in argv if "media=cdrom" in a)))
                 + 1]
    assert "bootindex=0" in drive and any(str(tmp_path / "k.iso") in a for a in argv)
    assert not any("media=cdrom" in a for a in Guest("g", tmp_path).argv())


def test_golden_and_overhead_keep_the_stand_in() -> None:
    assert live_needed("golden", "iso") == live_needed("overhead", "iso") == "standin"
    assert live_needed("single", "iso") == "iso"
    assert live_needed("mirror-degraded", "iso") == "iso"
    assert live_needed("smoke", "standin") == "standin"
    assert live_needed("firmware", "iso") is None
    assert set(LAYOUTS) >= {"smoke", "single", "missing-disk", "golden", "overhead"}


def test_the_menu_has_the_entries_the_harness_presses() -> None:
    by_key = {e.hotkey: e for e in menu_entries()}
    assert re.search(MENU, by_key[SERIAL_ENTRY].title)
    assert "console=ttyS0,115200" in by_key[SERIAL_ENTRY].params
    assert "kldload.autoinstall=0" not in by_key[SERIAL_ENTRY].params
    assert "kldload.autoinstall=0" in by_key[LOGIN_ENTRY].params
    assert re.fullmatch(ROOT_PROMPT, f"root@{HOSTNAME}:~# ")


def test_the_autoinstall_prints_what_the_harness_waits_for() -> None:
    script = template("kldload-autoinstall")
    assert 'say "kldload-autoinstall: start $(date +%s)"' in script
    assert re.search(r"INSTALL FAILED \(exit \$rc\)", script)
    assert "kldload-autoinstall: the answers found are not valid" in script


def _console(tmp_path: Path, text: str) -> Guest:
    """A guest whose console is `text` (what a guest would have printed)."""
    path = tmp_path / "console.txt"
    path.write_text(text.replace("\n", "\r\n"))
    guest = Guest("replay", tmp_path)
    guest.child = pexpect.spawn("cat", [str(path)], encoding="utf-8")
    return guest


def _engine(*events: object) -> str:
    out = io.StringIO()
    render = PlainRenderer(out)
    for event in events:
        render(event)  # type: ignore[arg-type]
    return out.getvalue()


def test_following_a_complete_install_from_the_iso(tmp_path: Path) -> None:
    text = ("kldload-autoinstall: start 1764684000\n"
            "kldload-autoinstall: answers found; installing\n"
            + _engine(PhaseStarted(name="partition", index=1, total=2),
                      PhaseFinished(name="partition", index=1, seconds=3.2),
                      PhaseStarted(name="pool", index=2, total=2),
                      PhaseFinished(name="pool", index=2, seconds=1.0),
                      Complete(seconds=4.2))
            + "kldload: poweroff in 5 seconds\n")
    guest = _console(tmp_path, text)
    started = float(guest.expect(ISO_START, 5).group(1))
    run = follow(guest, started, ISO_ENDS, timeout=5)
    assert started == 1764684000.0
    assert run.rc == 0 and run.phases == {"partition": 3.2, "pool": 1.0}


def test_following_a_failed_install_from_the_iso(tmp_path: Path) -> None:
    text = ("kldload-autoinstall: start 1764684000\n"
            + _engine(PhaseStarted(name="preflight", index=1, total=12),
                      Failed(phase="preflight", message="/dev/disk/by-id/virtio-x does not "
                             "exist on this machine"))
            + "kldload-autoinstall: INSTALL FAILED (exit 1). The error is above; it is kept "
              "in /var/log/kldload/autoinstall.log (the install stopped before it kept a "
              "log of its own). A root shell follows on this console.\n")
    guest = _console(tmp_path, text)
    run = follow(guest, float(guest.expect(ISO_START, 5).group(1)), ISO_ENDS, timeout=5)
    assert run.rc == 1
    assert run.failed.startswith("preflight: /dev/disk/by-id/virtio-x does not exist")


def test_the_host_list_has_every_package_iso_build_needs() -> None:
    from kldload_tui.backend.iso.tools import REQUIRED

    listed = {line.split("#", 1)[0].split()[0]
              for line in (cache.HERE / "host-packages.txt").read_text().splitlines()
              if line.split("#", 1)[0].strip()}
    # coreutils, mount, apt and dpkg are on every Debian system.
    wanted = {package for _, package in REQUIRED} - {"coreutils", "mount", "apt", "dpkg"}
    assert wanted <= listed, sorted(wanted - listed)


def test_a_run_still_going_is_never_pruned(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import subprocess
    import sys

    from tests.e2e import cache as e2e_cache
    from tests.e2e import main

    monkeypatch.setattr(e2e_cache, "cache_root", lambda: tmp_path)
    runs = tmp_path / "runs"
    # A live process whose command line names the harness, as a real run's does.
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                             "tests.e2e.main"])
    try:
        # Until it has exec'd, the child's /proc cmdline is still pytest's.
        deadline = time.monotonic() + 30
        while b"tests.e2e.main" not in Path(f"/proc/{live.pid}/cmdline").read_bytes():
            assert time.monotonic() < deadline, "the stand-in run never started"
            time.sleep(0.05)
        going = runs / f"20260101-000000-golden-{live.pid}"
        going.mkdir(parents=True)
        done = [runs / f"20260102-00000{i}-single-{os.getpid() + 100000 + i}"
                for i in range(main.KEEP_RUNS)]
        for d in done:
            d.mkdir()
        new = main._run_dir("smoke")
        assert going.is_dir(), "the oldest run is still going: its disks are in use"
        assert not done[0].exists()  # the oldest finished run made room
        assert sum(1 for d in done if d.exists()) == main.KEEP_RUNS - 1
        assert new.is_dir()
    finally:
        live.kill()
        live.wait()


def test_console_messages_among_a_commands_output_are_left_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import secrets

    monkeypatch.setattr(secrets, "token_hex", lambda n: "feedbeef")
    # What the golden layout's second boot printed: cloud-init's stage line, then the
    # command's own output.
    guest = _console(tmp_path, "[   93.533616] cloud-init[578]: Cloud-init v. 22.4.2 running "
                     "'modules:config' at Wed, 02 Dec 2026 19:02:14 +0000.\n"
                     "rpool/ROOT/debian\nKLDLOAD-E2E: rc=0 feedbeef\ne2e# ")
    rc, output = guest.shell("findmnt -n -o SOURCE /", 5)
    assert (rc, output.strip()) == (0, "rpool/ROOT/debian")
