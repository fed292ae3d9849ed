"""The live system's mirror is read from its apt sources, in both formats."""

from kldload_tui.backend.distros.apt_sources import live_debian_mirror


def _write(root, name, text):
    path = root / "etc" / "apt" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_deb822_sources(tmp_path):
    _write(tmp_path, "sources.list.d/debian.sources",
           "Types: deb\nURIs: http://mirror.test/debian-security\nSuites: bookworm-security\n"
           "Components: main\n\nTypes: deb\nURIs: http://mirror.test/debian/\n"
           "Suites: bookworm bookworm-updates\nComponents: main\n")
    assert live_debian_mirror(tmp_path) == "http://mirror.test/debian"


def test_one_line_sources_and_disabled_stanzas(tmp_path):
    _write(tmp_path, "sources.list.d/x.sources",
           "Enabled: no\nTypes: deb\nURIs: http://off.test/debian\nSuites: bookworm\n")
    _write(tmp_path, "sources.list",
           "# comment\ndeb [arch=amd64] http://one.test/debian bookworm main\n")
    assert live_debian_mirror(tmp_path) == "http://one.test/debian"


def test_none_found(tmp_path):
    assert live_debian_mirror(tmp_path) is None


def test_this_machine_has_one():
    # The test machines are Debian: their own sources name a mirror.
    assert live_debian_mirror() is not None
