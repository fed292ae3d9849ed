"""deb822 Packages parsing and exact resolution of requested package names."""

import pytest

from kldload_tui.backend.distros.package_index import (
    PackageIndex,
    parse_index,
    parse_request,
    resolve,
    unresolved,
)

WHERE = "http://127.0.0.1/debian trixie main"

PACKAGES = """\
Package: htop
Version: 3.4.1-5
Architecture: amd64
Description: interactive processes viewer
 htop is an ncurses-based process viewer similar to top, but it
 allows one to scroll the list vertically and horizontally.

Package: tmux
Version: 3.5a-3
Architecture: amd64
Provides: terminal-multiplexer

Package: screen
Version: 4.9.1-3
Provides: terminal-multiplexer

Package: mawk
Version: 1.3.4.20250131-1
Provides: awk

Package: libc6
Version: 2.41-12
Provides: libc6-x32-compat (= 2.41-12),
 glibc-provided:any

Package: libcurl4t64
Version: 8.14.1-2

Package: g++
Version: 4:14.2.0-1

Package: zfsutils-linux
Version: 2.3.2-2
Version-Bogus: not read
Provides: zfsutils
"""

TESTING = """\
Package: htop
Version: 3.4.2-1
"""


@pytest.fixture
def index() -> PackageIndex:
    return parse_index(PACKAGES.splitlines(keepends=True))


def check(index: PackageIndex, spec: str) -> str | None:
    return resolve(index, spec, release="trixie", arch="amd64", where=WHERE)


def test_stanzas_are_read_with_their_versions_and_provides(index):
    assert index.versions["htop"] == ["3.4.1-5"]
    assert index.versions["g++"] == ["4:14.2.0-1"]
    assert index.providers["terminal-multiplexer"] == {"tmux", "screen"}
    assert index.providers["awk"] == {"mawk"}
    # A folded Provides goes on; versions and arch qualifiers are not part of the name.
    assert index.providers["libc6-x32-compat"] == {"libc6"}
    assert index.providers["glibc-provided"] == {"libc6"}
    assert index.versions["zfsutils-linux"] == ["2.3.2-2"]  # not Version-Bogus's value
    assert len(index) == 8


def test_a_second_index_adds_versions_without_repeats(index):
    index.add(TESTING.splitlines(keepends=True))
    index.add(TESTING.splitlines(keepends=True))
    assert index.versions["htop"] == ["3.4.1-5", "3.4.2-1"]


def test_exact_names_resolve(index):
    for name in ("htop", "tmux", "libcurl4t64", "g++", "zfsutils-linux"):
        assert check(index, name) is None, name


def test_a_missing_name_gets_the_closest_names(index):
    assert check(index, "htopp") == (
        f"no package 'htopp' in {WHERE}; did you mean 'htop'?")
    assert check(index, "tmuxx") == (
        f"no package 'tmuxx' in {WHERE}; did you mean 'tmux'?")
    assert check(index, "qqqqqq") == f"no package 'qqqqqq' in {WHERE}; no name is close to it"


def test_case_is_not_folded_but_suggested(index):
    # apt's regular expressions ignore case: 'HTOP' would select every name holding htop.
    assert check(index, "HTOP") == f"no package 'HTOP' in {WHERE}; did you mean 'htop'?"


@pytest.mark.parametrize("pattern", ["lib.", "libc.", "g.+", "libcurl4t6.", "htop."])
def test_names_only_a_regular_expression_would_match_are_refused(index, pattern):
    problem = check(index, pattern)
    assert problem is not None
    assert problem.startswith(f"no package '{pattern}' in {WHERE}; ")
    assert problem.endswith("(names are matched exactly, never as patterns)")


def test_closest_names_prefer_a_shared_start():
    many = parse_index(["Package: topp\n", "\n", "Package: htop\n", "\n", "Package: hatop\n"])
    assert check(many, "htopp") == (
        f"no package 'htopp' in {WHERE}; did you mean 'htop', 'topp' or 'hatop'?")


def test_versions(index):
    assert check(index, "htop=3.4.1-5") is None
    assert check(index, "g++=4:14.2.0-1") is None
    assert check(index, "htop=3.4.2-1") == (
        f"'htop' has no version '3.4.2-1' in {WHERE}; it has '3.4.1-5'")
    assert check(index, "htopp=1.0") == f"no package 'htopp' in {WHERE}; did you mean 'htop'?"


def test_a_name_provided_by_several_packages_is_ambiguous(index):
    assert check(index, "terminal-multiplexer") == (
        f"'terminal-multiplexer' is a virtual package in {WHERE}, provided by 'screen' or "
        "'tmux'; name the one to install")


def test_a_name_provided_by_one_package_names_that_package(index):
    # apt would install mawk, but the install records and verifies the name it was given.
    assert check(index, "awk") == (
        f"'awk' is a virtual package in {WHERE}, provided only by 'mawk'; write 'mawk'")
    assert check(index, "zfsutils=2.3.2-2") == (
        f"'zfsutils' is a virtual package in {WHERE}, provided only by 'zfsutils-linux'; "
        "write 'zfsutils-linux'")


def test_releases_and_architectures(index):
    assert check(index, "htop/trixie") is None
    assert check(index, "htop:amd64") is None
    assert check(index, "htop/bookworm-backports") == (
        "'htop/bookworm-backports' asks for release 'bookworm-backports', but the install's "
        "only source is trixie; write 'htop'")
    assert check(index, "htop:i386") == (
        "'htop:i386' asks for architecture 'i386', but the target is amd64 only; write 'htop'")
    assert check(index, "htopp/trixie") == (
        f"no package 'htopp' in {WHERE}; did you mean 'htop'?")


def test_requests_split_as_apt_splits_them():
    r = parse_request("libc6:amd64=2.41-12")
    assert (r.name, r.arch, r.version, r.release) == ("libc6", "amd64", "2.41-12", None)
    r = parse_request("g++=4:14.2.0-1")
    assert (r.name, r.arch, r.version, r.release) == ("g++", None, "4:14.2.0-1", None)
    r = parse_request("htop/trixie")
    assert (r.name, r.arch, r.version, r.release) == ("htop", None, None, "trixie")


def test_every_bad_name_is_listed_once_in_order(index):
    problems = unresolved(index, ["htopp", "tmux", "lib.", "htopp", "awk"], release="trixie",
                          arch="amd64", where=WHERE)
    assert [p.split(" in ")[0] for p in problems] == [
        "no package 'htopp'", "no package 'lib.'", "'awk' is a virtual package"]


def test_stanzas_without_a_package_field_are_skipped():
    index = parse_index(["Version: 1.0\n", "\n", "\n", "Package: a\n", "Version: 1\n"])
    assert index.versions == {"a": ["1"]}
