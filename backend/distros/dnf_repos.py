"""dnf repositories: their `.repo` files, and dnf run from the live system into
the target.

Every repository is written with gpgcheck=1, and repo_gpgcheck=1 where its
publisher signs repomd.xml; there is no way to write one without a key. The
installed system's files name keys at /etc/pki/rpm-gpg; the bootstrap's copies
(in a directory of their own, removed after the bootstrap) name the same keys
by their path on the live system, because dnf --installroot reads gpgkey= on
the host, not in the root.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kldload_tui.backend.distros.rpm_keys import RPM_DBPATH, KeyPin

if TYPE_CHECKING:
    from kldload_tui.backend.engine.core import InstallContext

REPO_DIR = "/etc/yum.repos.d"
# The bootstrap's repository files and dnf's HOME (for its rpm macros), in the
# target while it is made and removed at the end of the bootstrap.
BOOTSTRAP_DIR = "/var/lib/kldload/bootstrap"
BOOTSTRAP_REPOS = f"{BOOTSTRAP_DIR}/repos.d"
BOOTSTRAP_HOME = f"{BOOTSTRAP_DIR}/home"
# Debian's rpm keeps its database in ~/.rpmdb and dnf has no option for it:
# its rpm reads this from $HOME/.rpmmacros (rpm --root prefixes the target).
RPM_MACROS = f"%_dbpath {RPM_DBPATH}\n"


@dataclass(frozen=True)
class Repo:
    """One repository section of a `.repo` file."""

    repo_id: str
    name: str
    baseurl: str
    # Every key a package here may be signed with (a darksite holds several
    # publishers' packages); dnf accepts a signature by any of them.
    keys: tuple[KeyPin, ...]
    # Whether the publisher signs repomd.xml (repomd.xml.asc).
    signed_metadata: bool = False
    file: str = "kldload.repo"

    def probe_url(self) -> str:
        """What preflight fetches to know the repository can be read."""
        return f"{self.baseurl.rstrip('/')}/repodata/repomd.xml"


def _escape(value: str) -> str:
    # A .repo file is read by an ini parser line by line: a value spans one line.
    if "\n" in value or "\r" in value:
        raise ValueError(f"a .repo value cannot hold a line break: {value!r}")
    return value


def repo_files(repos: Sequence[Repo], *, key_root: str = "") -> dict[str, str]:
    """File name -> text of each `.repo` file. `key_root` prefixes the key paths
    (the bootstrap's copies name the keys on the live system)."""
    files: dict[str, list[str]] = {}
    for r in repos:
        lines = files.setdefault(r.file, ["# Written by kldload-tui; see dnf.conf(5)."])
        lines += ["", f"[{_escape(r.repo_id)}]", f"name={_escape(r.name)}",
                  f"baseurl={_escape(r.baseurl)}", "enabled=1", "gpgcheck=1",
                  # Only where the publisher signs repomd.xml; dnf's default is off.
                  *(["repo_gpgcheck=1"] if r.signed_metadata else []),
                  "gpgkey=" + " ".join(f"file://{_escape(key_root + k.path)}"
                                       for k in r.keys)]
    return {name: "\n".join(lines) + "\n" for name, lines in files.items()}


def write_repo_files(ctx: InstallContext, repos: Sequence[Repo]) -> None:
    """The installed system's repository files, and the bootstrap's copies."""
    for name, text in repo_files(repos).items():
        ctx.runner.write_file(ctx.path(f"{REPO_DIR}/{name}"), text)
    for name, text in repo_files(repos, key_root=str(ctx.target)).items():
        ctx.runner.write_file(ctx.path(f"{BOOTSTRAP_REPOS}/{name}"), text)
    ctx.runner.write_file(ctx.path(f"{BOOTSTRAP_HOME}/.rpmmacros"), RPM_MACROS)


def dnf_argv(ctx: InstallContext, release: str, *args: str) -> list[str]:
    """dnf on the live system installing into the target from the bootstrap's
    repository files only (never the live system's own)."""
    return ["dnf", f"--installroot={ctx.target}", f"--releasever={release}",
            f"--setopt=reposdir={ctx.path(BOOTSTRAP_REPOS)}",
            # --noplugins: the live system's plugins (dnf-plugins-core's `local` keeps a
            # repository of everything installed) must not take part in the install.
            "--noplugins", "--setopt=install_weak_deps=False", "--setopt=keepcache=False",
            "--assumeyes", *args]


def dnf_env(ctx: InstallContext) -> dict[str, str]:
    """dnf's environment: HOME holds the rpm macros naming the target's database."""
    return {"HOME": str(ctx.path(BOOTSTRAP_HOME))}


def one_repo(keys: Sequence[KeyPin], baseurl: str, *, repo_id: str, name: str,
             signed_metadata: bool = False) -> Repo:
    """One repository at `baseurl` (a darksite holding every package) in place of
    the network's, checked with every key of the install (`keys`, the backend's
    pins): each package is still signed by its publisher. The pins, not the
    network repositories' keys: a distribution may have no network repository of
    its own to name (RHEL installed from a darksite alone)."""
    return Repo(repo_id=repo_id, name=name, baseurl=baseurl, keys=tuple(dict.fromkeys(keys)),
                signed_metadata=signed_metadata, file=f"{repo_id}.repo")
