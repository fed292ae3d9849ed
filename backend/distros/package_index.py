"""Binary package indexes (deb822 `Packages` files of an apt repository) and exact
resolution of the package names an operator asks for.

apt-get reads a name that matches no package as a pattern (`lib.` is an unanchored,
case-insensitive regular expression that selects thousands of packages), so a name
is only handed to apt once it resolves here, exactly, to one package. Parsing keeps
what resolution needs (names, versions, provided names), not whole stanzas: a main
index has some 65,000 of them.

A request uses apt's syntax: `name`, `name=version`, `name/release`, and an
architecture qualifier `name:arch`. It resolves when a real package of that name
exists (and has that version). A name that only some packages provide (a virtual
package) is refused even when one package provides it: apt would install the
provider under another name, and the installer records and verifies the names it
was given, so the answers must name the real package.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# The fields resolution reads; everything else in a stanza is skipped.
_FIELDS = ("Package", "Version", "Provides")
# Characters of a valid request that apt's regular expressions treat specially.
_PATTERN_CHARS = frozenset(".+")
SUGGESTIONS = 3


@dataclass
class PackageIndex:
    """Real packages with their versions, and which real packages provide a name."""

    versions: dict[str, list[str]] = field(default_factory=dict)
    providers: dict[str, set[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.versions)

    def add(self, lines: Iterable[str]) -> None:
        """Add the stanzas of one index (an index per component goes into one)."""
        stanza: dict[str, str] = {}
        current: str | None = None
        for line in lines:
            if not line.strip():
                self._add_stanza(stanza)
                stanza, current = {}, None
            elif line[0] in " \t":
                # A folded field goes on; only the fields read here are kept.
                if current is not None:
                    stanza[current] += " " + line.strip()
            else:
                name, _, value = line.partition(":")
                current = name if name in _FIELDS else None
                if current is not None:
                    stanza[current] = value.strip()
        self._add_stanza(stanza)

    def _add_stanza(self, stanza: dict[str, str]) -> None:
        name = stanza.get("Package")
        if not name:
            return
        versions = self.versions.setdefault(name, [])
        version = stanza.get("Version")
        if version and version not in versions:
            versions.append(version)
        for item in stanza.get("Provides", "").split(","):
            # `foo (= 1.0)` or `foo:any`: the provided name is what comes first.
            provided = item.split("(")[0].strip().split(":")[0]
            if provided:
                self.providers.setdefault(provided, set()).add(name)


def parse_index(lines: Iterable[str]) -> PackageIndex:
    """The index of one deb822 `Packages` text, given line by line."""
    index = PackageIndex()
    index.add(lines)
    return index


@dataclass(frozen=True)
class Request:
    """One package as apt-get install takes it: `name[:arch][=version|/release]`."""

    spec: str
    name: str
    arch: str | None = None
    version: str | None = None
    release: str | None = None


def parse_request(spec: str) -> Request:
    """Split a request the way apt does: `=` (a version) before `/` (a release)."""
    head, eq, version = spec.partition("=")
    release: str | None = None
    if not eq:
        head, slash, after = spec.partition("/")
        release = after if slash else None
    name, colon, arch = head.partition(":")
    return Request(spec, name, arch if colon else None, version if eq else None, release)


def _quoted(names: Sequence[str]) -> str:
    quoted = [f"'{n}'" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def closest(index: PackageIndex, name: str, n: int = SUGGESTIONS) -> list[str]:
    """The real package names closest to `name` (apt names are lower case).

    Equally similar names are ordered by the start they share with `name`: for
    `htopp`, `htop` before `topp`, as a typo is rarely in the first letters.
    """
    word = name.lower()
    near = difflib.get_close_matches(word, index.versions.keys(), n=n * 4)

    def rank(candidate: str) -> tuple[float, int, str]:
        pairs = zip(word, candidate, strict=False)  # up to the shorter one's end
        shared = next((i for i, (a, b) in enumerate(pairs) if a != b),
                      min(len(word), len(candidate)))
        return (-round(difflib.SequenceMatcher(None, word, candidate).ratio(), 3), -shared,
                candidate)

    return sorted(near, key=rank)[:n]


def resolve(index: PackageIndex, spec: str, *, release: str, arch: str,
            where: str) -> str | None:
    """None when `spec` names exactly one package of `index`, else why not.

    `release` is the one release the install's apt source carries, `arch` the
    target's architecture, `where` the repository as the operator should read it.
    """
    r = parse_request(spec)
    if r.arch is not None and r.arch != arch:
        return (f"'{spec}' asks for architecture '{r.arch}', but the target is {arch} only; "
                f"write '{r.name}'")
    if r.release is not None and r.release != release:
        return (f"'{spec}' asks for release '{r.release}', but the install's only source is "
                f"{release}; write '{r.name}'")
    versions = index.versions.get(r.name)
    if versions is None:
        providers = sorted(index.providers.get(r.name, ()))
        if len(providers) == 1:
            return (f"'{r.name}' is a virtual package in {where}, provided only by "
                    f"'{providers[0]}'; write '{providers[0]}'")
        if providers:
            return (f"'{r.name}' is a virtual package in {where}, provided by "
                    f"{_quoted(providers)}; name the one to install")
        hint = closest(index, r.name)
        why = f"did you mean {_quoted(hint)}?" if hint else "no name is close to it"
        if _PATTERN_CHARS & set(r.name):
            why += " (names are matched exactly, never as patterns)"
        return f"no package '{r.name}' in {where}; {why}"
    if r.version is not None and r.version not in versions:
        return (f"'{r.name}' has no version '{r.version}' in {where}; it has "
                f"{_quoted(versions)}")
    return None


def unresolved(index: PackageIndex, specs: Iterable[str], *, release: str, arch: str,
               where: str) -> list[str]:
    """Why each request that does not resolve fails, in the order given."""
    found = (resolve(index, s, release=release, arch=arch, where=where)
             for s in dict.fromkeys(specs))
    return [problem for problem in found if problem is not None]
