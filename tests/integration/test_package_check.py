"""KLDLOAD_EXTRA_PACKAGES resolved against a real repository before any write.

A small apt repository is built in tmp_path (main's index as Packages.xz, contrib's
only as Packages.gz, as mirrors may differ) and served by a real HTTP server on
127.0.0.1; the same tree is also used as a file:// darksite. The Debian backend's
check runs through a real InstallContext.
"""

from __future__ import annotations

import gzip
import lzma
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pytest

from kldload_tui.backend.answers.file import parse_answers
from kldload_tui.backend.distros import distro_backend
from kldload_tui.backend.engine.core import (
    InstallContext,
    InstallError,
    InstallOptions,
    run_install,
)
from kldload_tui.backend.engine.events import EventLog
from kldload_tui.backend.engine.live_medium import DARKSITE_KEYRING
from kldload_tui.backend.engine.runner import LocalRunner, RecordingRunner
from kldload_tui.backend.iso.darksite import sign_release
from kldload_tui.backend.machine.model import load_bundled_machine
from kldload_tui.backend.phases.preflight import Preflight
from tests.integration.local_servers import http_on_loopback

SUITE = "trixie"
MAIN = """\
Package: htop
Version: 3.4.1-5
Architecture: amd64

Package: tmux
Version: 3.5a-3
Architecture: amd64
Provides: terminal-multiplexer

Package: screen
Version: 4.9.1-3
Architecture: amd64
Provides: terminal-multiplexer

Package: libcurl4t64
Version: 8.14.1-2
Architecture: amd64
"""
CONTRIB = """\
Package: zfsutils-linux
Version: 2.3.2-2
Architecture: amd64
Provides: zfsutils
"""


def make_repository(root: Path) -> Path:
    """dists/<suite>/{main,contrib}/binary-amd64 with main as .xz, contrib as .gz
    only, and the suite's Release."""
    main = root / "dists" / SUITE / "main" / "binary-amd64"
    contrib = root / "dists" / SUITE / "contrib" / "binary-amd64"
    main.mkdir(parents=True)
    contrib.mkdir(parents=True)
    (main / "Packages.xz").write_bytes(lzma.compress(MAIN.encode()))
    (contrib / "Packages.gz").write_bytes(gzip.compress(CONTRIB.encode()))
    # Every archive has one; preflight reads it to know the mirror can be reached.
    (root / "dists" / SUITE / "Release").write_text(f"Suite: {SUITE}\nComponents: main "
                                                    "contrib\n")
    return root


@dataclass
class Mirror:
    url: str
    hits: list[str] = field(default_factory=list)


@pytest.fixture
def mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mirror]:
    """The repository at http://127.0.0.1:<port>/debian, recording every request."""
    # A proxy in the environment must not take requests meant for loopback.
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    served = tmp_path / "www"
    make_repository(served / "debian")
    state = Mirror("")

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits.append(self.path)
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    with http_on_loopback(partial(Handler, directory=str(served))) as httpd:
        state.url = f"http://127.0.0.1:{httpd.server_address[1]}/debian"
        yield state


def answers(extra: str):
    result = parse_answers("KLDLOAD_DISTRO=debian\nKLDLOAD_DISK=/dev/vda\n"
                           f"KLDLOAD_HOSTNAME=vm-01\nKLDLOAD_DEBIAN_SUITE={SUITE}\n{extra}")
    assert result.answers is not None, [p.render() for p in result.errors]
    return result.answers


def context(extra: str, **options: object) -> InstallContext:
    a = answers(extra)
    opts = InstallOptions(reprobe=False, **options)  # type: ignore[arg-type]
    return InstallContext(a, load_bundled_machine("one-disk-vm"), RecordingRunner(), opts,
                          distro_backend(a))


def check(ctx: InstallContext) -> None:
    ctx.distro.check_packages(ctx, ctx.answers.extra_packages)


def test_present_packages_resolve_over_http(mirror):
    ctx = context(f"KLDLOAD_DEBIAN_MIRROR={mirror.url}\n"
                  "KLDLOAD_EXTRA_PACKAGES=htop,zfsutils-linux=2.3.2-2,tmux/trixie\n")
    check(ctx)
    base = f"/debian/dists/{SUITE}"
    # contrib has no .xz: the .gz is read next, as apt would.
    assert mirror.hits == [f"{base}/main/binary-amd64/Packages.xz",
                           f"{base}/contrib/binary-amd64/Packages.xz",
                           f"{base}/contrib/binary-amd64/Packages.gz"]
    notes = [s.content for s in ctx.runner.plan if s.kind == "note"]
    assert any(n.startswith(f"extra packages checked against {mirror.url} {SUITE} main "
                            "contrib (5 packages) in ") for n in notes), notes


def test_missing_packages_are_all_named_with_the_closest_names(mirror):
    ctx = context(f"KLDLOAD_DEBIAN_MIRROR={mirror.url}\n"
                  "KLDLOAD_EXTRA_PACKAGES=htopp,tmux,lib.,terminal-multiplexer,zfsutils\n")
    with pytest.raises(InstallError) as err:
        check(ctx)
    where = f"{mirror.url} {SUITE} main contrib"
    assert str(err.value) == "\n".join([
        f"KLDLOAD_EXTRA_PACKAGES: no package 'htopp' in {where}; did you mean 'htop'?",
        f"KLDLOAD_EXTRA_PACKAGES: no package 'lib.' in {where}; no name is close to it "
        "(names are matched exactly, never as patterns)",
        f"KLDLOAD_EXTRA_PACKAGES: 'terminal-multiplexer' is a virtual package in {where}, "
        "provided by 'screen' or 'tmux'; name the one to install",
        f"KLDLOAD_EXTRA_PACKAGES: 'zfsutils' is a virtual package in {where}, provided only "
        "by 'zfsutils-linux'; write 'zfsutils-linux'",
    ])


def test_a_wrong_suite_or_mirror_is_told_apart_from_a_missing_package(mirror):
    ctx = context(f"KLDLOAD_DEBIAN_MIRROR={mirror.url}/nothing-here\n"
                  "KLDLOAD_EXTRA_PACKAGES=htop\n")
    with pytest.raises(InstallError, match=(
            rf"^KLDLOAD_EXTRA_PACKAGES: no package index for {SUITE} at "
            rf"{mirror.url}/nothing-here \(dists/{SUITE}/<component>/binary-amd64/Packages "
            r"for main contrib\): is it a Debian repository carrying that suite\?$")):
        check(ctx)


def test_an_unreachable_mirror_stops_with_the_reason(mirror):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = context(f"KLDLOAD_DEBIAN_MIRROR=http://127.0.0.1:{port}/debian\n"
                  "KLDLOAD_EXTRA_PACKAGES=htop\n")
    with pytest.raises(InstallError, match=(
            rf"^cannot read the package index http://127\.0\.0\.1:{port}/debian/dists/{SUITE}/"
            r"main/binary-amd64/Packages\.xz: cannot reach .*; check the network and the "
            r"mirror \(KLDLOAD_DEBIAN_MIRROR\)$")):
        check(ctx)


def test_a_damaged_index_is_reported(tmp_path):
    darksite = make_repository(tmp_path / "darksite")
    (darksite / "dists" / SUITE / "main" / "binary-amd64" / "Packages.xz").write_bytes(
        b"not xz at all")
    ctx = context("KLDLOAD_EXTRA_PACKAGES=htop\n", darksite=darksite)
    with pytest.raises(InstallError, match=r"/main/binary-amd64/Packages\.xz is damaged"):
        check(ctx)


def test_the_darksite_is_read_as_files(tmp_path, mirror):
    darksite = make_repository(tmp_path / "darksite")
    # A darksite wins over any mirror, as in bootstrap; it need not carry every component.
    shutil.rmtree(darksite / "dists" / SUITE / "contrib")
    ctx = context(f"KLDLOAD_DEBIAN_MIRROR={mirror.url}\nKLDLOAD_EXTRA_PACKAGES=htop\n",
                  darksite=darksite)
    check(ctx)
    bad = context("KLDLOAD_EXTRA_PACKAGES=htop,zfsutils-linux,tmuxx\n", darksite=darksite)
    with pytest.raises(InstallError) as err:
        check(bad)
    where = f"file://{darksite} {SUITE} main"
    assert str(err.value) == (
        f"KLDLOAD_EXTRA_PACKAGES: no package 'zfsutils-linux' in {where}; no name is close "
        "to it\n"
        f"KLDLOAD_EXTRA_PACKAGES: no package 'tmuxx' in {where}; did you mean 'tmux'?")
    notes = [s.content for s in bad.runner.plan if s.kind == "note"]
    assert f"no contrib package index for {SUITE} at file://{darksite}" in notes
    assert mirror.hits == []


def test_a_dry_run_reads_no_index(mirror):
    a = answers(f"KLDLOAD_DEBIAN_MIRROR={mirror.url}\nKLDLOAD_EXTRA_PACKAGES=htopp,lib.\n")
    events = EventLog()
    outcome = run_install(a, load_bundled_machine("one-disk-vm"), runner=RecordingRunner(),
                          sink=events, options=InstallOptions(dry_run=True))
    assert outcome.ok, outcome.message
    assert mirror.hits == []


def test_a_real_preflight_checks_the_packages_before_anything_else_runs(mirror, tmp_path,
                                                                        monkeypatch):
    # The live system's tools are not what this test is about.
    monkeypatch.setattr("kldload_tui.backend.phases.preflight.shutil.which",
                        lambda tool: f"/bin/{tool}")
    ctx = context(f"KLDLOAD_DEBIAN_MIRROR={mirror.url}\nKLDLOAD_EXTRA_PACKAGES=htop,htopp\n",
                  target_root=tmp_path / "target")
    with pytest.raises(InstallError, match=r"^KLDLOAD_EXTRA_PACKAGES: no package 'htopp' in "):
        Preflight().run(ctx)
    assert mirror.hits, "preflight read no index"
    # Nothing was written: the recording runner saw only the read-only checks.
    commands = [s for s in ctx.runner.plan if s.kind != "note"]
    assert [s.argv[0] for s in commands] == ["zpool", "findmnt"]


def _bookworm_darksite(root: Path) -> Path:
    """A darksite as an ISO built on bookworm carries it: one suite, not the answers'."""
    (root / "dists" / "bookworm" / "main" / "binary-amd64").mkdir(parents=True)
    (root / "dists" / "bookworm" / "Release").write_text("Suite: bookworm\n")
    return root


def test_a_darksite_without_the_suite_gives_way_to_a_mirror_that_answers(tmp_path, mirror):
    darksite = _bookworm_darksite(tmp_path / "medium" / "darksite")
    ctx = context(f"KLDLOAD_DEBIAN_MIRROR={mirror.url}\n", darksite=darksite)
    ctx.distro.check_sources(ctx)
    assert mirror.hits == [f"/debian/dists/{SUITE}/Release"]
    assert ctx.distro.mirror(ctx) == (mirror.url, False)
    assert ctx.warnings == [f"the darksite at {darksite} carries bookworm, not {SUITE}: "
                            f"installing {SUITE} from {mirror.url}"]
    # The suite it carries installs from it, without reading the network (once its
    # signature is checked against the key of the live system built with it).
    other = make_repository(tmp_path / "other-medium")
    live = tmp_path / "live"
    key = live / DARKSITE_KEYRING.relative_to("/")
    key.parent.mkdir(parents=True)
    with LocalRunner() as runner:
        sign_release(other / "dists" / SUITE, key, "test darksite", runner)
    same = context(f"KLDLOAD_DEBIAN_MIRROR={mirror.url}\n", darksite=other, live_root=live)
    same.distro.check_sources(same)
    assert same.distro.mirror(same) == (f"file://{tmp_path / 'other-medium'}", True)
    assert mirror.hits == [f"/debian/dists/{SUITE}/Release"] and not same.warnings


def test_a_suite_neither_the_darksite_nor_a_reachable_mirror_serves_is_refused(tmp_path):
    darksite = _bookworm_darksite(tmp_path / "medium" / "darksite")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/debian"
    ctx = context(f"KLDLOAD_DEBIAN_MIRROR={url}\n", darksite=darksite)
    with pytest.raises(InstallError) as err:
        ctx.distro.check_sources(ctx)
    text = str(err.value)
    assert text.startswith("KLDLOAD_DISTRO=debian: the package repositories cannot be "
                           "reached from this machine; nothing was written:\n"
                           f"{url}/dists/{SUITE}/Release: ")
    assert text.endswith(f"\nthe darksite at {darksite} carries bookworm: "
                         "KLDLOAD_DEBIAN_SUITE=bookworm installs without a network")


def test_a_mirror_without_the_suite_is_refused_by_name(mirror):
    url = f"{mirror.url}/elsewhere"  # answers HTTP, but has no dists/trixie
    ctx = context(f"KLDLOAD_DEBIAN_MIRROR={url}\n")
    with pytest.raises(InstallError, match=(
            rf"^KLDLOAD_DISTRO=debian: the package repositories cannot be reached from this "
            rf"machine; nothing was written:\n{url}/dists/{SUITE}/Release: .*404")):
        ctx.distro.check_sources(ctx)
