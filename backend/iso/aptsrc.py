"""The machine's own Debian mirror, read from its apt sources at run time, and a
private apt (own state, lists, status) that resolves package sets against it.

No mirror host name is written anywhere in the repository: what the build
machine uses is what the build uses. Debian machines often list only `main`;
the build always asks for `main contrib` (ZFS is in contrib).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kldload_tui.backend.engine.runner import Runner

COMPONENTS = ("main", "contrib")
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
ARCH = "amd64"


class NoMirror(Exception):
    """The machine's apt sources name no Debian archive to build from."""


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
            if raw.startswith("#") or not raw.strip() or (raw[0].isspace() and fields):
                continue  # comments, and continuation lines (inline keys) are not needed
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
    """Every enabled binary source of the machine, in file order."""
    found: list[Source] = []
    if (etc / "sources.list").is_file():
        found += _one_line((etc / "sources.list").read_text(errors="replace"))
    for path in sorted((etc / "sources.list.d").glob("*")):
        if path.suffix == ".sources":
            found += _deb822(path.read_text(errors="replace"))
        elif path.suffix == ".list":
            found += _one_line(path.read_text(errors="replace"))
    return found


def _is_archive(source: Source) -> bool:
    return (source.uri.startswith(("http", "file")) and "-" not in source.suite
            and "security" not in source.uri)


def host_suite(sources: list[Source]) -> str | None:
    """The machine's own Debian suite (the default of `--suite`)."""
    return next((s.suite for s in sources if _is_archive(s)), None)


def build_sources(suite: str, sources: list[Source]) -> list[Source]:
    """`suite` from the machine's mirror, with its -updates and -security companions.

    The companions are taken from the machine's own sources, renamed to `suite`,
    so a trixie ISO built on a bookworm machine uses the same mirrors.
    """
    base = next((s for s in sources if _is_archive(s)), None)
    if base is None:
        raise NoMirror("no Debian archive in this machine's apt sources (/etc/apt): "
                       "add one, the build reads its mirror from there")
    chosen = [Source(base.uri, suite, base.signed_by)]
    for kind in ("updates", "security"):
        companion = next((s for s in sources if s.suite.endswith(f"-{kind}")), None)
        if companion is not None:
            chosen.append(Source(companion.uri, f"{suite}-{kind}", companion.signed_by))
    return list(dict.fromkeys(chosen))


def live_sources(sources: list[Source]) -> list[Source]:
    """`build_sources` and the suite's -backports, for the live root only.

    Some tools a distribution backend runs on the live system are packaged only
    in backports for a stable suite (bookworm's ubuntu-keyring). apt gives a
    backports suite priority 100 (its Release says NotAutomatic and
    ButAutomaticUpgrades), so a package is taken from there only when the suite
    has none: everything else stays the suite's own. The ZFS module and the
    darksite are built from `build_sources` alone.
    """
    base = sources[0]
    return list(dict.fromkeys([*sources, Source(base.uri, f"{base.suite}-backports",
                                                base.signed_by)]))


class PrivateApt:
    """apt-get and apt-cache with their own state under `home`, so resolving a
    package set neither reads nor changes what this machine has installed."""

    def __init__(self, home: Path, sources: list[Source], runner: Runner,
                 extra_lines: tuple[str, ...] = ()) -> None:
        self.home = home
        self.runner = runner
        for sub in ("lists/partial", "archives/partial", "empty/partial", "parts", "prefs"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        (home / "status").write_text("")  # nothing installed: resolve the whole closure
        (home / "sources.list").write_text(
            "\n".join([*(s.line() for s in sources), *extra_lines]) + "\n")

    def args(self, archives: Path | None = None) -> list[str]:
        """Options pointing apt at the private state; the machine's apt.conf.d
        still applies (it may carry a proxy this machine needs)."""
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
            "APT::Architecture": ARCH,
            "APT::Architectures": ARCH,
            "APT::Install-Recommends": "true",
            "Acquire::GzipIndexes": "false",
            "Acquire::Languages": "none",
            "Debug::NoLocking": "true",
        }
        return [arg for key, value in opts.items() for arg in ("-o", f"{key}={value}")]

    def update(self) -> None:
        """Fetch the indexes (quick when they have not changed)."""
        self.runner.run(["apt-get", *self.args(), "-q", "update"])

    def show(self, package: str) -> dict[str, str]:
        """Fields of the candidate version of `package`."""
        text = self.runner.run(["apt-cache", *self.args(), "show", "--no-all-versions",
                                package]).stdout
        stanzas = parse_stanzas(text)
        if not stanzas:
            raise NoMirror(f"{package}: not offered by the mirror's {COMPONENTS} components")
        return stanzas[0]

    def print_uris(self, packages: list[str]) -> list[tuple[str, str]]:
        """(uri, file name) of every package in the closure of `packages`."""
        out = self.runner.run(["apt-get", *self.args(self.home / "empty"), "-q", "-y",
                               "--print-uris", "install", *packages]).stdout
        return re.findall(r"^'([^']+)' (\S+) \d+ ", out, flags=re.MULTILINE)

    def download(self, packages: list[str], archives: Path) -> None:
        """Download the closure of `packages` into `archives` (files there are kept)."""
        (archives / "partial").mkdir(parents=True, exist_ok=True)
        self.runner.run(["apt-get", *self.args(archives), "-q", "-y", "--download-only",
                         "install", *packages])

    def index_files(self) -> list[Path]:
        """The binary Packages indexes fetched by `update`."""
        return sorted((self.home / "lists").glob(f"*_binary-{ARCH}_Packages"))


@dataclass(frozen=True)
class KernelInfo:
    """The live kernel (what linux-image-amd64 points at) and the ZFS it gets."""

    kver: str  # e.g. 6.1.0-35-amd64, the /lib/modules directory
    image_package: str  # linux-image-6.1.0-35-amd64
    image_version: str  # the exact Debian version the modules are built against
    zfs_version: str  # zfs-dkms's Debian version

    @property
    def module_package(self) -> str:
        """The prebuilt module package (one per kernel ABI, like Debian's own)."""
        return f"zfs-modules-{self.kver}"

    @property
    def zfs_upstream(self) -> str:
        """OpenZFS's own version (2.1.11 of 2.1.11-1)."""
        return self.zfs_version.split(":")[-1].split("-")[0]


def kernel_info(apt: PrivateApt) -> KernelInfo:
    """The kernel and ZFS versions the mirror offers now."""
    depends = apt.show("linux-image-amd64").get("Depends", "")
    match = re.search(r"(linux-image-(\S+))\s*\(=\s*([^)]+)\)", depends)
    if not match:
        raise NoMirror(f"linux-image-amd64: cannot read the kernel from Depends: {depends!r}")
    return KernelInfo(kver=match.group(2), image_package=match.group(1),
                      image_version=match.group(3).strip(),
                      zfs_version=apt.show("zfs-dkms").get("Version", ""))


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
