"""apk's signed files (APKINDEX.tar.gz, v2 .apk packages), read and checked here
before the installer runs anything it fetched from an Alpine repository.

Both are gzip members concatenated. The first member is a tar segment holding
the signature, one file named `.SIGN.RSA.<key file>` (RSA PKCS#1 v1.5 over the
SHA-1 of the next member's compressed bytes) or `.SIGN.RSA256.<key file>` (the
same over SHA-256). An APKINDEX.tar.gz has one more member, the index; a package
has two: its control segment (.PKGINFO, whose `datahash` is the SHA-256 of the
data member) and its data. The index's `C:` field for a package is `Q1` and the
base64 SHA-1 of that package's control member, so a signed index vouches for
every package it lists.

The signature itself is checked by openssl (`openssl dgst -verify`, through the
runner) against a key in the target's /etc/apk/keys that apk_keys put there,
pinned; the splitting, the digests and the index are read here.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kldload_tui.backend.engine.core import InstallContext

# Signature entry prefixes and the digest each signs with.
SIGNATURE_DIGESTS = {".SIGN.RSA256.": "sha256", ".SIGN.RSA.": "sha1"}
# Far above any real index (main's is ~1 MB) or apk.static's package (~2 MB).
MAX_MEMBER_BYTES = 256 * 2**20


class ApkFormatError(ValueError):
    """A file that is not a signed apk archive."""


@dataclass(frozen=True)
class Signature:
    key: str  # the key's file name
    digest: str  # "sha1" or "sha256"
    value: bytes


@dataclass(frozen=True)
class SignedArchive:
    """A signed apk file split into its members (each the compressed bytes)."""

    signatures: tuple[Signature, ...]
    signed: bytes  # the member the signatures cover
    rest: tuple[bytes, ...]  # what follows it (a package's data member)


def gzip_members(data: bytes) -> list[bytes]:
    """The compressed bytes of each gzip member of `data`, in order."""
    members: list[bytes] = []
    rest = data
    while rest:
        d = zlib.decompressobj(wbits=31)
        try:
            d.decompress(rest, MAX_MEMBER_BYTES)
        except zlib.error as err:
            raise ApkFormatError(f"gzip member {len(members) + 1} is damaged: {err}") from None
        if not d.eof:
            raise ApkFormatError(f"gzip member {len(members) + 1} is truncated or too large")
        used = len(rest) - len(d.unused_data)
        members.append(rest[:used])
        rest = d.unused_data
    return members


def tar_entries(member: bytes) -> dict[str, bytes]:
    """The regular files of the tar segment in one gzip member (apk's segments
    end without tar's end-of-archive blocks, which tarfile reads as the end)."""
    raw = zlib.decompress(member, wbits=31)
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
            for info in tar:
                if info.isfile():
                    f = tar.extractfile(info)
                    found[info.name] = f.read() if f else b""
    except tarfile.TarError as err:
        raise ApkFormatError(f"not a tar segment: {err}") from None
    return found


def split_signed(data: bytes) -> SignedArchive:
    """The signatures, the signed member and the rest of an apk signed file."""
    members = gzip_members(data)
    if len(members) < 2:
        raise ApkFormatError("no signature segment: fewer than two gzip members")
    signatures = []
    for name, value in tar_entries(members[0]).items():
        for prefix, digest in SIGNATURE_DIGESTS.items():
            if name.startswith(prefix):
                signatures.append(Signature(name[len(prefix):], digest, value))
                break
    if not signatures:
        raise ApkFormatError("the first segment holds no .SIGN.RSA signature")
    return SignedArchive(tuple(signatures), members[1], tuple(members[2:]))


def verify_signed_file(ctx: InstallContext, path: Path, keys: dict[str, Path]) -> str:
    """Check the signature of the apk signed file at `path` with openssl against the
    one of `keys` (key file name -> its path) it names; return that key's name.

    The signature and the signed member are written beside `path` (.sig, .signed)
    for openssl to read. Raises `InstallError` when no signature is by a pinned key
    or openssl does not accept it. A dry run records the command for the key the
    signature will name, which it cannot know."""
    from kldload_tui.backend.engine.core import InstallError

    sig_path, signed_path = Path(f"{path}.sig"), Path(f"{path}.signed")
    if ctx.dry_run:
        ctx.runner.note(f"{path.name}: its signature and signed segment are split off and "
                        "checked with openssl against the pinned key the signature names")
        ctx.run(_openssl_argv("sha1", "KEY-NAMED-BY-THE-SIGNATURE", sig_path, signed_path))
        return ""
    try:
        archive = split_signed(path.read_bytes())
    except (OSError, ApkFormatError) as err:
        raise InstallError(f"{path}: not a signed apk file ({err})") from None
    ours = [s for s in archive.signatures if s.key in keys]
    if not ours:
        named = ", ".join(s.key for s in archive.signatures)
        raise InstallError(f"{path.name} is signed by {named}, none of them a key pinned in "
                           "kldload-tui; nothing from it was used")
    ctx.runner.write_file(signed_path, archive.signed)
    for sig in ours:
        ctx.runner.write_file(sig_path, sig.value)
        result = ctx.runner.run(_openssl_argv(sig.digest, str(keys[sig.key]), sig_path,
                                              signed_path), check=False)
        if result.returncode == 0 and "Verified OK" in result.stdout:
            return sig.key
    raise InstallError(f"{path.name}: openssl does not accept its signature by "
                       f"{', '.join(s.key for s in ours)}; nothing from it was used")


def _openssl_argv(digest: str, key: str, sig: Path, data: Path) -> list[str]:
    return ["openssl", "dgst", f"-{digest}", "-verify", key, "-signature", str(sig), str(data)]


# -- the index ------------------------------------------------------------------------

def parse_apkindex(text: str) -> list[dict[str, str]]:
    """The records of an APKINDEX (blank-line separated `X:value` lines)."""
    records: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                records.append(current)
            current = {}
            continue
        key, sep, value = line.partition(":")
        if sep and len(key) == 1:
            current.setdefault(key, value)
    if current:
        records.append(current)
    return records


def index_records(archive: SignedArchive) -> list[dict[str, str]]:
    """The records of a split APKINDEX.tar.gz."""
    files = tar_entries(archive.signed)
    if "APKINDEX" not in files:
        raise ApkFormatError("the signed segment holds no APKINDEX")
    return parse_apkindex(files["APKINDEX"].decode("utf-8", errors="replace"))


def index_names(records: list[dict[str, str]]) -> set[str]:
    """Every name the index offers: packages (`P:`) and what they provide (`p:`,
    `name=version` or `cmd:`/`so:` entries, which are kept as written)."""
    names = {r["P"] for r in records if "P" in r}
    for r in records:
        for provided in r.get("p", "").split():
            names.add(provided.split("=", 1)[0])
    return names


def control_checksum(control: bytes) -> str:
    """How an index names a package's control member: `Q1` + base64 SHA-1."""
    return "Q1" + base64.b64encode(hashlib.sha1(control).digest()).decode("ascii")


def check_package(archive: SignedArchive, record: dict[str, str]) -> bytes:
    """The data member of a split package whose control member the signed index
    `record` vouches for (`C:`) and whose data matches its .PKGINFO `datahash`;
    ApkFormatError otherwise."""
    wanted = record.get("C", "")
    found = control_checksum(archive.signed)
    if found != wanted:
        raise ApkFormatError(f"{record.get('P')}: control checksum {found}, the signed index "
                             f"says {wanted or 'nothing'}")
    if len(archive.rest) != 1:
        raise ApkFormatError(f"{record.get('P')}: {len(archive.rest)} data members, not one")
    info = tar_entries(archive.signed).get(".PKGINFO", b"").decode("utf-8", errors="replace")
    datahash = next((line.split("=", 1)[1].strip() for line in info.splitlines()
                     if line.replace(" ", "").startswith("datahash=")), "")
    data = archive.rest[0]
    if hashlib.sha256(data).hexdigest() != datahash:
        raise ApkFormatError(f"{record.get('P')}: the data does not match .PKGINFO's datahash")
    return data
