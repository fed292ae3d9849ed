"""One real install at a time on a machine, whichever front end asks (install_lock)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kldload_tui.backend.answers.file import load_answers
from kldload_tui.backend.engine import install_lock
from kldload_tui.backend.engine.install_lock import InstallBusy, InstallLock
from kldload_tui.backend.engine.launcher import Launch, LaunchRefused
from kldload_tui.backend.machine.model import load_bundled_machine

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


@pytest.fixture
def lock_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "run/kldload/install.lock"
    monkeypatch.setattr(install_lock, "INSTALL_LOCK", path)
    return path


def _launch(*, dry_run: bool, log: Path) -> Launch:
    answers = load_answers(GOLDEN / "answers/single-minimal.env").answers
    assert answers is not None
    return Launch(answers, load_bundled_machine("one-disk-vm"), dry_run=dry_run, consent=True,
                  log=log)


def test_a_second_real_install_is_refused_until_the_first_ends(lock_path: Path,
                                                                tmp_path: Path):
    first = _launch(dry_run=False, log=tmp_path / "a.log").start(lambda _e: None)
    with pytest.raises(LaunchRefused, match=r"another install is running on this machine "
                                            r"\(pid \d+, started "):
        _launch(dry_run=False, log=tmp_path / "b.log").start(lambda _e: None)
    # A dry run touches nothing: it needs no lock and is never refused.
    with _launch(dry_run=True, log=tmp_path / "c.log").start(lambda _e: None):
        pass
    first.close()
    with _launch(dry_run=False, log=tmp_path / "d.log").start(lambda _e: None):
        assert lock_path.read_text().startswith("pid ")
    assert lock_path.read_text() == ""  # released, and who held it forgotten


def test_another_process_is_refused_and_a_dead_holder_leaves_no_stale_lock(lock_path: Path):
    # A front end in another process (the console TUI beside `serve`, a browser
    # session) holds the lock; then it dies without releasing it.
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            from kldload_tui.backend.engine.install_lock import InstallLock
            lock = InstallLock(Path({str(lock_path)!r}))
            lock.acquire()
            print("held", flush=True)
            time.sleep(60)
            """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(InstallBusy, match=f"pid {holder.pid}"):
            InstallLock(lock_path).acquire()
    finally:
        holder.kill()
        holder.wait()
    lock = InstallLock(lock_path)
    lock.acquire()
    lock.release()
    lock.release()  # a second release does nothing


def test_held_by_names_the_holder_only_while_an_install_holds_the_lock(lock_path: Path):
    assert install_lock.held_by() is None  # no install since boot: no file at all
    lock = InstallLock(lock_path)
    lock.acquire()
    try:
        # Asked through a descriptor of its own, as `serve` asks while a browser
        # session's process holds the lock.
        assert install_lock.held_by() == lock_path.read_text().strip()
        assert install_lock.held_by().startswith(f"pid {os.getpid()}, started ")
    finally:
        lock.release()
    assert install_lock.held_by() is None  # the file is left, but nobody holds it
    again = InstallLock(lock_path)
    again.acquire()  # asking never took the lock
    again.release()


def test_the_lock_file_is_world_readable_so_a_user_sees_who_installs(lock_path: Path):
    lock = InstallLock(lock_path)
    lock.acquire()
    try:
        assert lock_path.stat().st_mode & 0o777 == 0o644
    finally:
        lock.release()


def test_a_user_who_may_not_read_the_file_learns_the_holder_from_proc_locks(
        lock_path: Path, monkeypatch: pytest.MonkeyPatch):
    lock = InstallLock(lock_path)
    lock.acquire()
    real_open = os.open

    def refused(path: object, *args: object, **kwargs: object) -> int:
        if Path(str(path)) == lock_path:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(install_lock.os, "open", refused)
    try:
        # The kernel's own table, not a stand-in: the lock this process holds is in it.
        assert install_lock.held_by() == (f"pid {os.getpid()} "
                                          "(the details are readable by root only)")
    finally:
        lock.release()
    assert install_lock.held_by() is None
