"""The live system's own Debian mirror, read from its apt sources at run time.

An installer must not carry a mirror host name: the live medium was built
against a mirror that works where it boots, so that is the default.
"""

from __future__ import annotations

import re
from pathlib import Path

_ONE_LINE = re.compile(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)")


def _is_debian_archive(uri: str, suite: str) -> bool:
    # Security and updates archives carry only part of a release.
    return "security" not in uri and "-" not in suite and uri.rstrip("/").endswith("/debian")


def live_debian_mirror(root: Path = Path("/")) -> str | None:
    """The first main Debian archive URI in the apt sources under `root`, if any."""
    apt = root / "etc" / "apt"
    candidates: list[tuple[str, str]] = []
    files = [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*.list"))]
    for f in files:
        if f.is_file():
            for line in f.read_text(errors="replace").splitlines():
                m = _ONE_LINE.match(line)
                if m:
                    candidates.append((m[1], m[2]))
    for f in sorted((apt / "sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", f.read_text(errors="replace")):
            fields = dict(
                (k.strip().lower(), v.strip())
                for k, _, v in (ln.partition(":") for ln in stanza.splitlines()
                                if ":" in ln and not ln.lstrip().startswith("#"))
            )
            if fields.get("enabled", "yes").lower() == "no" or "deb" not in fields.get(
                    "types", "").split():
                continue
            for uri in fields.get("uris", "").split():
                candidates += [(uri, s) for s in fields.get("suites", "").split()]
    return next((uri.rstrip("/") for uri, suite in candidates
                 if _is_debian_archive(uri, suite)), None)
