"""What the distribution step learns of each distribution's repositories, read for
real: a mirror served over HTTP on 127.0.0.1, darksites on disk, a mirror that
answers 404."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from pathlib import Path

from kldload_tui.backend.answers.model import Distro
from kldload_tui.backend.distros import backend_classes
from kldload_tui.backend.engine.distro_status import NOT_SERVED, check_all, check_distro, proofs
from tests.integration.local_servers import http_on_loopback

SERVED = {"/debian/dists/trixie/Release": b"Suite: trixie\n",
          **{f"/ubuntu/dists/{s}/Release": f"Suite: {s}\n".encode()
             for s in ("noble", "noble-updates", "noble-security")}}


class Mirror(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = SERVED.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        self.wfile.write(body or b"not here\n")

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_mirror_that_answers_makes_debian_installable_here():
    with http_on_loopback(Mirror) as httpd:
        port = httpd.server_address[1]
        ok = check_distro(Distro.DEBIAN, {"custom_mirror_url": f"http://127.0.0.1:{port}/debian",
                                          "debian_suite": "trixie"}, darksite=None)
        missing = check_distro(Distro.DEBIAN, {"custom_mirror_url":
                                               f"http://127.0.0.1:{port}/debian",
                                               "debian_suite": "bookworm"}, darksite=None)
    assert ok.installable_here and ok.source == "127.0.0.1"
    assert ok.proven == "booted here"
    assert missing.reachable is False and not missing.installable_here
    assert missing.source.startswith(
        f"cannot reach http://127.0.0.1:{port}/debian/dists/bookworm/Release: ")
    assert "404" in missing.source


def test_darksites_serve_their_own_format_only(tmp_path: Path):
    debian = tmp_path / "debian-site"
    (debian / "dists/bookworm").mkdir(parents=True)
    (debian / "dists/bookworm/Release").write_text("Suite: bookworm\n")
    status = check_distro(Distro.DEBIAN, {"debian_suite": "bookworm"}, darksite=debian,
                          probe=None)
    assert status.installable_here and status.source == "darksite"

    rpm = tmp_path / "rpm-site"
    (rpm / "repodata").mkdir(parents=True)
    (rpm / "repodata/repomd.xml").write_text("<repomd/>\n")
    asked: list[str] = []
    rocky = check_distro(Distro.ROCKY, {}, darksite=rpm,
                         probe=lambda url: asked.append(url) or None)
    assert rocky.installable_here and rocky.source == "darksite"
    assert asked == [f"file://{rpm}/repodata/repomd.xml"]
    assert rocky.proven == "plan-verified"


def test_the_answers_so_far_decide_what_is_checked():
    def urls(values: dict[str, str]) -> list[str]:
        asked: list[str] = []
        check_distro(Distro.ROCKY, values, darksite=None,
                     probe=lambda url: asked.append(url) or None)
        return asked

    assert urls({}) and all("/9/" in url for url in urls({}))  # the default release
    # Another distribution's answer (Debian's suite) does not change Rocky's sources.
    assert urls({"release": "10", "debian_suite": "bookworm"})
    assert all("/10/" in url for url in urls({"release": "10", "debian_suite": "bookworm"}))


def test_refused_distributions_are_listed_and_never_probed():
    def probe(url: str) -> str | None:
        return None

    statuses = check_all({}, darksite=None, probe=probe)
    assert [s.distro for s in statuses] == list(Distro)
    refused = [s for s in statuses if not s.supported]
    assert {s.distro for s in refused} == set(Distro) - set(backend_classes())
    assert all(s.proven == NOT_SERVED and s.reachable is None for s in refused)
    assert [(s.distro, s.proven) for s in proofs()] == [(s.distro, s.proven) for s in statuses]


def test_a_local_mirror_is_named_by_the_file_read_not_taken_for_the_darksite(tmp_path: Path):
    mirror = tmp_path / "mirror"
    (mirror / "dists/trixie").mkdir(parents=True)
    (mirror / "dists/trixie/Release").write_text("Suite: trixie\n")
    status = check_distro(Distro.DEBIAN, {"custom_mirror_url": f"file://{mirror}",
                                          "debian_suite": "trixie"}, darksite=None)
    assert status.installable_here
    assert status.source == f"{mirror}/dists/trixie/Release"


def test_ubuntu_reads_every_pocket_of_its_mirror_and_never_a_debian_darksite(tmp_path: Path):
    debian = tmp_path / "debian-site"
    (debian / "dists/bookworm").mkdir(parents=True)
    (debian / "dists/bookworm/Release").write_text("Suite: bookworm\n")
    asked: list[str] = []
    offline = check_distro(Distro.UBUNTU, {}, darksite=debian,
                           probe=lambda url: asked.append(url) or "Name or service not known")
    assert offline.supported and offline.proven == "plan-verified"
    assert offline.reachable is False
    assert asked == ["http://archive.ubuntu.com/ubuntu/dists/noble/Release"]  # first fails
    with http_on_loopback(Mirror) as httpd:
        port = httpd.server_address[1]
        ok = check_distro(Distro.UBUNTU, {"custom_mirror_url": f"http://127.0.0.1:{port}/ubuntu"},
                          darksite=debian)
    assert ok.installable_here and ok.source == "127.0.0.1"


def test_rhel_without_a_mirror_is_not_installable_here_whatever_else_answers(tmp_path: Path):
    asked: list[str] = []
    status = check_distro(Distro.RHEL, {}, darksite=None,
                          probe=lambda url: asked.append(url) or None)
    # OpenZFS's repository would answer, but RHEL's own packages have no source.
    assert status.reachable is False and asked == []
    assert status.source.startswith("KLDLOAD_DISTRO=rhel needs KLDLOAD_CUSTOM_MIRROR_URL")
    mirror = tmp_path / "dvd"
    for part in ("BaseOS", "AppStream"):
        (mirror / part / "repodata").mkdir(parents=True)
        (mirror / part / "repodata/repomd.xml").write_text("<repomd/>\n")
    status = check_distro(Distro.RHEL, {"custom_mirror_url": f"file://{mirror}"},
                          darksite=None, probe=lambda url: asked.append(url) or None)
    assert status.installable_here
    assert asked[:2] == [f"file://{mirror}/BaseOS/repodata/repomd.xml",
                         f"file://{mirror}/AppStream/repodata/repomd.xml"]
