"""pacman's configuration: the target's /etc/pacman.conf, the bootstrap's own copy,
and pacman run from the live system into the target.

Every repository checks package signatures (`SigLevel = Required`); Arch does not
sign its databases, so core and extra may leave theirs unsigned
(`DatabaseOptional`), while archzfs signs its database and is held to it. Local
and remote package files (`pacman -U`) are checked too. No weaker level is ever
written: `weak_siglevels` finds one in any text, and the tests run it over every
plan.

The bootstrap's pacman.conf (in a directory of the target's own, removed after
the bootstrap, like the dnf family's repository copies) names the target's
database, cache, keyring, hooks and log by their paths on the live system:
Debian's pacman, run with --root, would otherwise read its keyring and cache
from the live system's /etc and /var.
"""

from __future__ import annotations

import configparser
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kldload_tui.backend.engine.core import InstallContext

PACMAN_CONF = "/etc/pacman.conf"
# kldload-package-holds writes IgnorePkg here; /etc/pacman.conf includes it.
HOLDS_CONF = "/etc/pacman.d/kldload-holds.conf"
GPG_DIR = "/etc/pacman.d/gnupg"
HOOK_DIR = "/etc/pacman.d/hooks"
DB_PATH = "/var/lib/pacman"
CACHE_DIR = "/var/cache/pacman/pkg"
LOG_FILE = "/var/log/pacman.log"
# The bootstrap's pacman.conf, in the target while it is made and removed after.
BOOTSTRAP_DIR = "/var/lib/kldload/bootstrap"
BOOTSTRAP_CONF = f"{BOOTSTRAP_DIR}/pacman.conf"
ARCH = "x86_64"
# Package signatures always; databases where the publisher signs them.
SIGNED = "Required"
SIGNED_PACKAGES = "Required DatabaseOptional"
# Levels that let an unsigned or untrusted package through (pacman.conf(5)).
_WEAK = re.compile(r"\b(Never|Optional|TrustAll|PackageNever|PackageOptional|PackageTrustAll)\b")


@dataclass(frozen=True)
class Repo:
    """One repository section: its name (the database file is `<name>.db`), its
    server URLs (`$repo` and `$arch` as pacman expands them) and its SigLevel."""

    name: str
    servers: tuple[str, ...]
    siglevel: str = SIGNED_PACKAGES

    def probe_urls(self) -> list[str]:
        """What preflight fetches to know the repository can be read: its database."""
        return [f"{expand(s, self.name).rstrip('/')}/{self.name}.db" for s in self.servers[:1]]


def expand(server: str, repo: str) -> str:
    """A Server line as pacman reads it for `repo` on this architecture."""
    return server.replace("$repo", repo).replace("$arch", ARCH)


def _value(value: str) -> str:
    # pacman reads one line per setting and strips the ends; a value spans one line.
    if "\n" in value or "\r" in value or value != value.strip() or not value:
        raise ValueError(f"not a pacman.conf value: {value!r}")
    return value


def weak_siglevels(text: str) -> list[str]:
    """Every SigLevel line of `text` (pacman.conf or anything holding one) that lets
    a package through unchecked."""
    found = []
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip().endswith("SigLevel") and _WEAK.search(value):
            found.append(line.strip())
    return found


def pacman_conf(repos: Sequence[Repo], *, paths: dict[str, str] | None = None,
                include_holds: bool = True) -> str:
    """pacman.conf with `repos`, in order (pacman takes a package from the first
    repository that has it). `paths`: DBPath, CacheDir... for the bootstrap's copy."""
    lines = ["# Written by kldload-tui; see pacman.conf(5).", "[options]"]
    for key, value in (paths or {}).items():
        lines.append(f"{key} = {_value(value)}")
    lines += ["HoldPkg = pacman glibc", f"Architecture = {ARCH}", "CheckSpace",
              "# Every package is checked against the keyring; see the repositories below.",
              f"SigLevel = {SIGNED_PACKAGES}", f"LocalFileSigLevel = {SIGNED}",
              f"RemoteFileSigLevel = {SIGNED}"]
    if include_holds:
        lines += ["# kldload-package-holds keeps the kernel, ZFS and bootloader here "
                  "(IgnorePkg).", f"Include = {HOLDS_CONF}"]
    for repo in repos:
        lines += ["", f"[{_value(repo.name)}]", f"SigLevel = {_value(repo.siglevel)}"]
        lines += [f"Server = {_value(s)}" for s in repo.servers]
    text = "\n".join(lines) + "\n"
    weak = weak_siglevels(text)
    if weak:
        raise ValueError(f"a signature level that checks nothing: {weak}")
    return text


def bootstrap_paths(ctx: InstallContext) -> dict[str, str]:
    """The target's pacman directories, as the live system sees them."""
    return {"RootDir": str(ctx.target), "DBPath": f"{ctx.path(DB_PATH)}/",
            "CacheDir": f"{ctx.path(CACHE_DIR)}/", "GPGDir": f"{ctx.path(GPG_DIR)}/",
            "HookDir": f"{ctx.path(HOOK_DIR)}/", "LogFile": str(ctx.path(LOG_FILE))}


def pacman_argv(ctx: InstallContext, *args: str) -> list[str]:
    """The live system's pacman acting on the target, with the bootstrap's
    configuration only (never the live system's /etc/pacman.conf)."""
    return ["pacman", "--config", str(ctx.path(BOOTSTRAP_CONF)), "--root", str(ctx.target),
            "--dbpath", str(ctx.path(DB_PATH)), "--gpgdir", str(ctx.path(GPG_DIR)),
            "--cachedir", str(ctx.path(CACHE_DIR)), "--noconfirm", "--noprogressbar", *args]


def read_pacman_conf(text: str) -> dict[str, dict[str, str]]:
    """Sections of a pacman.conf and each one's settings (the last of a repeated
    key; a bare option such as CheckSpace reads as ""), as pacman's ini reader
    sees them: `#` comments, `key = value` or a bare key."""
    parser = configparser.ConfigParser(interpolation=None, strict=False, allow_no_value=True,
                                       comment_prefixes=("#",), delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return {s: {k: v or "" for k, v in parser[s].items()} for s in parser.sections()}
