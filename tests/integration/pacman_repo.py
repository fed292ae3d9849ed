"""A tiny signed pacman repository, made on the spot from packages made here.

Each package is a tar (xz) holding `.PKGINFO` and the files a test asks for,
the layout makepkg writes (makepkg itself refuses to run as root, and these
tests are root). Every package is signed with a throwaway gpg key (a detached
`.sig`, as Arch's packages), the real `repo-add --sign` indexes them into
`<name>.db` and signs the database. Enough for the real pacman to install them
with every signature check on, and for the installer's checks to find what they
look for.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

TOOLS = ("pacman", "pacman-key", "pacman-conf", "repo-add", "bsdtar", "gpg", "gpgconf", "curl")


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


@dataclass(frozen=True)
class PacmanRepo:
    """The repository directory (`<name>.db` and the packages) and its key."""

    path: Path
    name: str
    key_file: Path
    fingerprint: str


def _run(argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    r = subprocess.run(list(argv), capture_output=True, text=True, timeout=300, check=False,
                       env={**os.environ, **(env or {})})
    assert r.returncode == 0, f"{argv[0]} failed: {r.stdout}\n{r.stderr}"
    return r.stdout


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
    tar.addfile(info, io.BytesIO(data))


def make_package(where: Path, name: str, files: Mapping[str, str]) -> Path:
    """`name`-1-1-any.pkg.tar.xz with `files` (absolute path -> text)."""
    size = sum(len(t.encode()) for t in files.values())
    pkginfo = (f"pkgname = {name}\npkgbase = {name}\npkgver = 1-1\n"
               f"pkgdesc = {name}, made by the kldload tests\nurl = https://example.invalid/\n"
               f"builddate = 1700000000\npackager = kldload tests <test@example.invalid>\n"
               f"size = {size}\narch = any\nlicense = MIT\n")
    path = where / f"{name}-1-1-any.pkg.tar.xz"
    with tarfile.open(path, "w:xz") as tar:
        _add(tar, ".PKGINFO", pkginfo.encode())
        dirs: set[str] = set()
        for file in files:
            parts = file.strip("/").split("/")[:-1]
            for i in range(1, len(parts) + 1):
                dirs.add("/".join(parts[:i]))
        for d in sorted(dirs):
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1_700_000_000
            tar.addfile(info)
        for file, text in files.items():
            _add(tar, file.strip("/"), text.encode())
    return path


def build_repo(base: Path, name: str, packages: Sequence[str],
               files: Mapping[str, Mapping[str, str]], env: Mapping[str, str],
               fingerprint: str, *, sign_packages: bool = True) -> PacmanRepo:
    """Make, sign and index `packages` into base/repo/<name>.db."""
    repo = base / "repo"
    repo.mkdir()
    made = [make_package(repo, p, files.get(p, {})) for p in packages]
    if sign_packages:
        for pkg in made:
            _run(["gpg", "--batch", "--yes", "--detach-sign", "--no-armor", "-u", fingerprint,
                  "--output", f"{pkg}.sig", str(pkg)], env)
    _run(["repo-add", "--quiet", "--sign", "--key", fingerprint, str(repo / f"{name}.db.tar.gz"),
          *map(str, made)], env)
    key = base / "key.asc"
    key.write_text(_run(["gpg", "--batch", "--armor", "--export", fingerprint], env))
    return PacmanRepo(repo, name, key, fingerprint)
