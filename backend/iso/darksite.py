"""The darksite: an apt repository on the medium (dists/ + pool/) holding every
package an install of the chosen profiles needs, so an install runs with no
network. On the ISO it is `/darksite`; live-boot mounts the medium at
/run/live/medium, where the engine's live_medium discovery finds it and the
Debian backend bootstraps from `file:///run/live/medium/darksite`.

Its Release is signed (InRelease, Release.gpg) with a key made for this one
darksite and thrown away once it has signed: no private key outlives the build,
so nothing can sign another repository this live system would accept. The public
half goes into the live root (`DARKSITE_KEYRING`), and the engine checks the
darksite against it like any archive: nothing is installed unverified.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from kldload_tui.backend.engine.runner import Runner
from kldload_tui.backend.iso.aptsrc import (
    ARCH,
    COMPONENTS,
    KernelInfo,
    PrivateApt,
    Source,
    parse_stanzas,
)
from kldload_tui.backend.iso.cache import timestamp

# Beside repo/ in a build's output, not in it: the live root carries this key.
KEYRING_NAME = "darksite-keyring.gpg"
# debootstrap adds these to the Priority required/important set on bookworm and
# later: usr-is-merged marks the merged /usr, ca-certificates the default variant.
DEBOOTSTRAP_EXTRA = ("usr-is-merged", "ca-certificates")


def base_set(apt: PrivateApt, suite: str) -> list[str]:
    """debootstrap's base: Priority required and important of the suite's main."""
    names: set[str] = set()
    for index in apt.index_files():
        if f"_dists_{suite}_main_binary-{ARCH}_" in index.name:
            for rec in parse_stanzas(index.read_text()):
                if rec.get("Priority") in ("required", "important"):
                    names.add(rec["Package"])
    return sorted(names | set(DEBOOTSTRAP_EXTRA))


def write_override(apt: PrivateApt, path: Path) -> None:
    """The archive's priorities and sections, which can differ from a .deb's own
    control file: debootstrap picks its base set by these priorities."""
    seen: dict[str, str] = {}
    for index in apt.index_files():
        for rec in parse_stanzas(index.read_text()):
            if "Priority" in rec and "Section" in rec:
                seen.setdefault(rec["Package"],
                                f"{rec['Package']} {rec['Priority']} {rec['Section']}")
    path.write_text("\n".join(seen[name] for name in sorted(seen)) + "\n")


def pool_path(uri: str) -> str:
    """pool/COMPONENT/... for a package, whichever archive it came from (the security
    archive's paths are pool/updates/COMPONENT/...): the darksite has one suite.

    The archive's own file name, unquoted: apt's URIs quote `+` as `%2b`, and a
    file named so on disk is only found through file://, never over HTTP, where
    the server decodes the request back to `+`."""
    parts = unquote(uri.split("/pool/", 1)[1]).split("/")
    if parts[0] == "updates":
        parts = parts[1:]
    if parts[0] not in COMPONENTS:
        raise RuntimeError(f"{uri}: not in a component the darksite carries ({COMPONENTS})")
    return "/".join(["pool", *parts])


def build_darksite(out: Path, sources: list[Source], kernel: KernelInfo, module_deb: Path,
                   packages: list[str], apt_home: Path, debs: Path,
                   runner: Runner) -> dict[str, Any]:
    """The repository in `out/repo`; returns its manifest."""
    suite = sources[0].suite
    apt = PrivateApt(apt_home, sources, runner)
    apt.update()
    # The module package is not in the mirror: resolve what it depends on (the
    # exact kernel) instead, and put the .deb itself in the pool beside the rest.
    # No unsigned source is ever added to the resolving apt.
    wanted = sorted({*base_set(apt, suite), *packages,
                     f"{kernel.image_package}={kernel.image_version}"})
    uris = apt.print_uris(wanted)
    apt.download(wanted, debs)
    repo = out / "repo"
    placed = [(debs / name, pool_path(uri)) for uri, name in uris]
    placed.append((module_deb, f"pool/contrib/z/{kernel.module_package}/{module_deb.name}"))
    for src, rel in placed:
        dest = repo / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dest)  # same file system as the download cache: no copy
        except OSError:
            shutil.copy2(src, dest)
    override = out / "override"
    write_override(apt, override)
    index_repo(repo, suite, runner, override)
    override.unlink(missing_ok=True)
    keyring = out / KEYRING_NAME
    fingerprint = sign_release(repo / "dists" / suite, keyring, f"kldload darksite {suite}",
                               runner)
    # The engine bootstraps targets from here: debootstrap must find its whole base
    # set, signed by the key the live root will carry. --print-debs resolves
    # without installing anything.
    runner.run(debootstrap_check_argv(suite, out / "check", repo, keyring))
    shutil.rmtree(out / "check", ignore_errors=True)
    manifest = {"suite": suite, "components": list(COMPONENTS), "kernel": asdict(kernel),
                "created": timestamp(), "packages": read_versions(repo, suite),
                "signing_key": fingerprint}
    (repo / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def debootstrap_check_argv(suite: str, scratch: Path, repo: Path,
                           keyring: Path) -> list[str]:
    """debootstrap resolving its base set from the repository alone, checking the
    signature as an install will."""
    return ["debootstrap", "--print-debs", f"--keyring={keyring}", "--variant=minbase",
            f"--components={','.join(COMPONENTS)}", suite, str(scratch), f"file://{repo}"]


def sign_release(dists: Path, keyring: Path, name: str, runner: Runner) -> str:
    """Sign `dists`/Release (InRelease and Release.gpg) with a new Ed25519 key, write
    its public half to `keyring` (binary, as apt's Signed-By and debootstrap's
    --keyring read it), and return its fingerprint. The private key lives in a
    temporary GnuPG home that is removed, its agent stopped, before returning."""
    home = Path(tempfile.mkdtemp(prefix="kldload-darksite-gpg-"))
    gpg = ["gpg", "--batch", "--quiet", "--no-tty", "--homedir", str(home)]
    try:
        runner.run([*gpg, "--pinentry-mode", "loopback", "--passphrase", "",
                    "--quick-gen-key", f"{name} (signs one darksite; private key discarded)",
                    "ed25519", "sign", "never"])
        listing = runner.run([*gpg, "--with-colons", "--list-secret-keys"]).stdout
        fingerprint = next(line.split(":")[9] for line in listing.splitlines()
                           if line.startswith("fpr:"))
        release = dists / "Release"
        signer = [*gpg, "--yes", "--local-user", fingerprint, "--digest-algo", "SHA512"]
        runner.run([*signer, "--clearsign", "--output", str(dists / "InRelease"),
                    str(release)])
        runner.run([*signer, "--armor", "--detach-sign", "--output",
                    str(dists / "Release.gpg"), str(release)])
        runner.run([*gpg, "--yes", "--output", str(keyring), "--export", fingerprint])
        # Proof that what apt and debootstrap will be given checks out.
        runner.run(["gpgv", "--keyring", str(keyring), str(dists / "InRelease")])
    finally:
        runner.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)
        shutil.rmtree(home, ignore_errors=True)
    return fingerprint


def index_repo(repo: Path, suite: str, runner: Runner, override: Path | None = None) -> None:
    """Packages(.gz) per component and a Release over them (signed afterwards by
    `sign_release`)."""
    dists = repo / "dists" / suite
    for component in COMPONENTS:
        binary = dists / component / f"binary-{ARCH}"
        binary.mkdir(parents=True, exist_ok=True)
        text = ""
        if (repo / "pool" / component).is_dir():
            text = _scan(repo, component, override, runner)
        (binary / "Packages").write_text(text)
        (binary / "Packages.gz").write_bytes(gzip.compress(text.encode(), mtime=0))
    conf = {"Origin": "kldload", "Label": "kldload darksite", "Suite": suite,
            "Codename": suite, "Architectures": ARCH, "Components": " ".join(COMPONENTS)}
    opts = [arg for key, value in conf.items()
            for arg in ("-o", f"APT::FTPArchive::Release::{key}={value}")]
    release = runner.run(["apt-ftparchive", *opts, "release", str(dists)]).stdout
    (dists / "Release").write_text(release)


def _scan(repo: Path, component: str, override: Path | None, runner: Runner) -> str:
    argv = ["dpkg-scanpackages", "-a", ARCH, str(repo / "pool" / component)]
    out = runner.run([*argv, str(override)] if override else argv).stdout
    # Filename: fields relative to the repository's top (pool/...), as apt expects.
    return out.replace(f"Filename: {repo}/", "Filename: ")


def read_versions(repo: Path, suite: str) -> dict[str, str]:
    """Package -> version over every component of the repository."""
    versions: dict[str, str] = {}
    for component in COMPONENTS:
        path = repo / "dists" / suite / component / f"binary-{ARCH}/Packages"
        if path.is_file():
            versions.update({r["Package"]: r["Version"] for r in parse_stanzas(path.read_text())})
    return dict(sorted(versions.items()))
