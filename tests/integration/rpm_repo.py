"""A tiny signed rpm-md repository, made on the spot from packages made here.

One spec file with a subpackage per name is built by the real `rpmbuild`,
every package is signed by the real `rpmsign` with a throwaway key,
`createrepo_c` writes the metadata and gpg signs repomd.xml. The packages are
empty but for the files a test asks for (a kernel image, a zfs.ko): enough for
the real dnf and rpm to install them with every signature check on, and for
the installer's checks to find what they look for.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

TOOLS = ("rpmbuild", "rpmsign", "rpm", "createrepo_c", "gpg", "gpgconf", "dnf", "curl")


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


@dataclass(frozen=True)
class SignedRepo:
    """The repository (`path`, with repodata/) and its key (`key_file`, armoured)."""

    path: Path
    key_file: Path
    fingerprint: str


def _run(argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    r = subprocess.run(list(argv), capture_output=True, text=True, timeout=300, check=False,
                       env={**os.environ, **(env or {})})
    assert r.returncode == 0, f"{argv[0]} failed: {r.stdout}\n{r.stderr}"
    return r.stdout


@contextmanager
def signing_key(base: Path) -> Iterator[tuple[dict[str, str], str]]:
    """A throwaway gpg home holding one signing key: (env, fingerprint)."""
    home = base / "gnupg"
    home.mkdir(mode=0o700)
    (home / "gpg-agent.conf").write_text("allow-loopback-pinentry\n")
    env = {"GNUPGHOME": str(home)}
    try:
        _run(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "",
              "--quick-gen-key", "kldload test repository <test@example.invalid>", "rsa2048",
              "sign", "never"], env)
        colons = _run(["gpg", "--batch", "--with-colons", "--list-keys"], env)
        fpr = next(line.split(":")[9] for line in colons.splitlines() if line.startswith("fpr"))
        yield env, fpr
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False,
                       capture_output=True)


def _spec(packages: Sequence[str], files: Mapping[str, Mapping[str, str]]) -> str:
    """One spec whose subpackages are `packages`; `files[name]` maps paths to contents."""
    lines = ["Name: kldload-test-src", "Version: 1", "Release: 1", "Summary: test",
             "License: MIT", "BuildArch: noarch", "%description", "test packages", "",
             "%install"]
    for content in files.values():
        for path, text in content.items():
            lines.append(f"mkdir -p %{{buildroot}}{os.path.dirname(path)}")
            lines.append(f"printf '%s' '{text}' > %{{buildroot}}{path}")
    for name in packages:
        lines += ["", f"%package -n {name}", f"Summary: {name} for tests",
                  f"%description -n {name}", f"{name}, made by the tests", f"%files -n {name}"]
        lines += list(files.get(name, {}))
    return "\n".join(lines) + "\n"


def build_repo(base: Path, packages: Sequence[str], files: Mapping[str, Mapping[str, str]],
               env: Mapping[str, str], fingerprint: str, *, sign_packages: bool = True,
               sign_metadata: bool = True) -> SignedRepo:
    """Build, sign and index `packages` into base/repo."""
    top = base / "rpmbuild"
    repo = base / "repo"
    repo.mkdir()
    spec = base / "test.spec"
    spec.write_text(_spec(packages, files))
    _run(["rpmbuild", "--define", f"_topdir {top}", "--define", f"_rpmdir {repo}",
          "--quiet", "-bb", str(spec)], env)
    rpms = sorted(str(p) for p in repo.rglob("*.rpm"))
    if sign_packages:
        _run(["rpmsign", "--define", f"_gpg_name {fingerprint}",
              "--define", f"_gpg_path {env['GNUPGHOME']}",
              "--define", f"__gpg {shutil.which('gpg')}", "--addsign", *rpms], env)
    _run(["createrepo_c", "--quiet", str(repo)])
    if sign_metadata:
        _run(["gpg", "--batch", "--yes", "--detach-sign", "--armor", "-u", fingerprint,
              str(repo / "repodata/repomd.xml")], env)
    key = base / "key.asc"
    key.write_text(_run(["gpg", "--batch", "--armor", "--export", fingerprint], env))
    return SignedRepo(repo, key, fingerprint)
