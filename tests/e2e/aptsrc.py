"""The host's own Debian mirror, read from its apt sources at run time, and a private
apt (own state, lists and status) that resolves package sets against it.

No mirror host name is written anywhere in the repository: whatever the machine
uses is what the harness uses. The machine's sources list only ``main``; the
harness always asks for ``main contrib`` (ZFS is in contrib).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.sh import run

COMPONENTS = ("main", "contrib")
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


@dataclass(frozen=True)
class Source:
    """One Debian suite on one mirror."""

    uri: str
    suite: str
    signed_by: str = KEYRING

    def line(self) -> str:
        """A one-line apt source for this suite with main and contrib."""
        return f"deb [signed-by={self.signed_by}] {self.uri} {self.suite} {' '.join(COMPONENTS)}"


def _deb822(text: str) -> list[Source]:
    found: list[Source] = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for raw in stanza.splitlines():
            if raw.startswith("#") or not raw.strip():
                continue
            if raw[0].isspace() and fields:
                continue  # continuation lines (inline keys) are not needed here
            key, _, value = raw.partition(":")
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        keyring = fields.get("signed-by", KEYRING)
        keyring = keyring if keyring.startswith("/") else KEYRING
        for uri in fields.get("uris", "").split():
            found.extend(Source(uri, suite, keyring) for suite in fields.get("suites", "").split())
    return found


def _one_line(text: str) -> list[Source]:
    found: list[Source] = []
    for raw in text.splitlines():
        words = re.sub(r"\[[^]]*\]", " ", raw.split("#", 1)[0]).split()
        if len(words) >= 3 and words[0] == "deb":
            found.append(Source(words[1], words[2]))
    return found


def host_sources(etc: Path = Path("/etc/apt")) -> list[Source]:
    """Every enabled binary source of the host, in file order."""
    found: list[Source] = []
    if (etc / "sources.list").is_file():
        found += _one_line((etc / "sources.list").read_text())
    for path in sorted((etc / "sources.list.d").glob("*")):
        if path.suffix == ".sources":
            found += _deb822(path.read_text())
        elif path.suffix == ".list":
            found += _one_line(path.read_text())
    return found


def debian_suites(sources: list[Source] | None = None) -> list[Source]:
    """The host's base Debian suite first, then its -updates and -security companions."""
    sources = host_sources() if sources is None else sources
    bases = [s for s in sources if "-" not in s.suite and s.uri.startswith(("http", "file"))]
    if not bases:
        raise SystemExit("no Debian suite in the host's apt sources")
    base = bases[0]
    companions = [s for s in sources if s.suite.startswith(base.suite + "-") and s != base]
    return [base, *companions]


class HostApt:
    """apt-get and apt-cache with their own state under a directory, so resolving a
    package set neither reads nor changes what the host has installed."""

    def __init__(self, home: Path, sources: list[Source], extra_lines: list[str], log: Path):
        self.home = home
        self.log = log
        for sub in ("lists/partial", "archives/partial", "empty/partial", "parts", "prefs"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        (home / "status").write_text("")  # nothing installed: resolve the full closure
        (home / "sources.list").write_text(
            "\n".join([*(s.line() for s in sources), *extra_lines]) + "\n"
        )

    def args(self, archives: Path | None = None) -> list[str]:
        """Options pointing apt at the private state; host apt.conf.d still applies
        (it may carry a proxy this machine needs)."""
        opts = {
            "Dir::State": str(self.home),
            "Dir::State::lists": str(self.home / "lists"),
            "Dir::State::status": str(self.home / "status"),
            "Dir::Cache": str(self.home),
            "Dir::Cache::archives": str(archives or self.home / "archives"),
            "Dir::Etc::sourcelist": str(self.home / "sources.list"),
            "Dir::Etc::sourceparts": str(self.home / "parts"),
            "Dir::Etc::preferences": str(self.home / "prefs/none"),
            "Dir::Etc::preferencesparts": str(self.home / "prefs"),
            "APT::Architecture": "amd64",
            "APT::Architectures": "amd64",
            "APT::Install-Recommends": "true",
            "Acquire::GzipIndexes": "false",
            "Acquire::Languages": "none",
            "Debug::NoLocking": "true",
        }
        return [arg for key, value in opts.items() for arg in ("-o", f"{key}={value}")]

    def update(self) -> None:
        """Fetch the indexes (quick when they have not changed)."""
        run(["apt-get", *self.args(), "-q", "update"], log=self.log)

    def show(self, package: str) -> dict[str, str]:
        """Fields of the candidate version of package."""
        policy = run(["apt-cache", *self.args(), "policy", package], log=self.log, capture=True)
        match = re.search(r"Candidate:\s*(\S+)", policy)
        if not match or match.group(1) == "(none)":
            raise SystemExit(f"{package}: no candidate in the host's mirror")
        text = run(["apt-cache", *self.args(), "show", f"{package}={match.group(1)}"],
                   log=self.log, capture=True)
        return parse_stanzas(text.split("\n\n", 1)[0])[0]

    def print_uris(self, packages: list[str]) -> list[tuple[str, str]]:
        """(uri, file name) of every package in the closure of packages."""
        out = run(["apt-get", *self.args(self.home / "empty"), "-q", "-y", "--print-uris",
                   "install", *packages], log=self.log, capture=True)
        return re.findall(r"^'([^']+)' (\S+) \d+ ", out, flags=re.MULTILINE)

    def download(self, packages: list[str], archives: Path) -> None:
        """Download the closure of packages into archives (files already there are kept)."""
        (archives / "partial").mkdir(parents=True, exist_ok=True)
        run(["apt-get", *self.args(archives), "-q", "-y", "--download-only", "install",
             *packages], log=self.log)

    def index_files(self) -> list[Path]:
        """The binary Packages indexes fetched by update."""
        return sorted((self.home / "lists").glob("*_binary-amd64_Packages"))


def parse_stanzas(text: str) -> list[dict[str, str]]:
    """Debian control stanzas (Packages files) as dicts; continuation lines joined."""
    records: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = ""
    for line in text.splitlines():
        if not line.strip():
            if current:
                records.append(current)
            current, last = {}, ""
        elif line[0].isspace() and last:
            current[last] += "\n" + line
        else:
            key, _, value = line.partition(":")
            last = key
            current[key] = value.strip()
    if current:
        records.append(current)
    return records
