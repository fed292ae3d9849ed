"""The install manifest: `/etc/kldload/install-manifest.env` in the target.

The record of every choice an install was made with, plus facts about the
install (date, installer version, pool, boot environment, held packages). The
firstboot script and operators read it; it is written in the answers.env syntax
(`kldload_tui.backend.answers.envfile.quote`) and read by PARSING it (`read_manifest` here, a small
awk parser in the target), never by sourcing it.

Secrets are not in it at all, not even as a redaction marker: a sealed image
must not ship one (the seed's manifest held build-time passwords, which is why
sealing deletes it), and the file outlives the install. `KLDLOAD_<SECRET>_SET`
records whether a secret was given, which is what an audit needs.

The manifest is not an answers file: its extra keys (`KLDLOAD_POOL`, ...) are
unknown to the answers model. Replay an install from the redacted answers.env.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import SecretStr

from kldload_tui.backend.answers import envfile
from kldload_tui.backend.answers.file import env_text
from kldload_tui.backend.answers.model import Answers, env_key
from kldload_tui.backend.problems import Problem, ProblemsError, Severity

MANIFEST_PATH = "etc/kldload/install-manifest.env"
"""Where the manifest lives, relative to the target root."""
ANSWERS_COPY_PATH = "etc/kldload/answers.env"
"""The redacted copy of the answers the system was installed from, relative to the root."""
MANIFEST_MODE = 0o600
MANIFEST_VERSION = "1"
DEFAULT_PASSWORD = "admin"  # the answers model's default; see Answers.password
# What kldload-package-holds accepts: Debian policy names, never an option.
_HELD_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
# Line breaks and terminal controls: the manifest holds one value per line, and
# no quoting keeps a line break inside one (manifest-get reads line by line).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

SECRET_FIELDS: tuple[str, ...] = tuple(
    name for name, f in Answers.model_fields.items() if f.annotation is SecretStr
)
"""Answers fields that never reach the manifest (password, passphrase, SCP password)."""
SECRET_KEYS: frozenset[str] = frozenset(env_key(name) for name in SECRET_FIELDS)

_HEADER = (
    "# kldload install manifest: the choices this system was installed with.",
    "# Written by kldload-tui. Parsed, never sourced: read it with",
    "# /usr/lib/kldload/manifest-get KEY, or as text.",
    "# Secrets are not recorded; KLDLOAD_<SECRET>_SET says whether one was given.",
    "# Not an answers file: replay an install from its answers.env instead.",
)


class ManifestError(ProblemsError):
    """A manifest that does not parse: hand-edited, truncated or not ours."""


def installer_version() -> str:
    """The version of the installed kldload-tui distribution."""
    try:
        return importlib.metadata.version("kldload-tui")
    except importlib.metadata.PackageNotFoundError:
        # Running from a source tree that was never installed.
        return "0+unknown"


@dataclass(frozen=True)
class InstallFacts:
    """What the engine knows about this install beyond the answers.

    `held_packages` are the installed kernel, ZFS and bootloader packages that
    kldload-package-holds keeps back, as the distribution backend names them
    (`DistroBackend.held_packages`).
    """

    pool: str
    boot_environment: str
    held_packages: tuple[str, ...] = ()
    installer_version: str = ""
    install_date: datetime | None = None

    def __post_init__(self) -> None:
        for what, text in (("pool", self.pool), ("boot environment", self.boot_environment),
                           ("installer version", self.installer_version)):
            if _CONTROL.search(text):
                raise ValueError(f"the {what} {text!r} holds a control character")
        if not self.boot_environment.startswith(f"{self.pool}/"):
            raise ValueError(f"boot environment {self.boot_environment!r} is not in pool "
                             f"{self.pool!r}")
        for name in self.held_packages:
            if not _HELD_NAME.match(name):
                raise ValueError(f"{name!r} is not a Debian package name")
        if self.install_date is not None and self.install_date.tzinfo is None:
            raise ValueError("install_date must carry a time zone (use datetime.now(UTC))")

    @classmethod
    def now(cls, pool: str, boot_environment: str,
            held_packages: Sequence[str] = ()) -> InstallFacts:
        """Facts stamped with the current time and this installer's version."""
        return cls(pool, boot_environment, tuple(held_packages), installer_version(),
                   datetime.now(UTC))


def manifest_values(answers: Answers, facts: InstallFacts) -> dict[str, str]:
    """Every manifest key and its value, in file order: facts, answers, secret flags."""
    date = facts.install_date or datetime.now(UTC)
    values: dict[str, str] = {
        "KLDLOAD_MANIFEST_VERSION": MANIFEST_VERSION,
        "KLDLOAD_INSTALL_DATE": date.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "KLDLOAD_INSTALLER_VERSION": facts.installer_version or installer_version(),
        "KLDLOAD_POOL": facts.pool,
        "KLDLOAD_BOOT_ENVIRONMENT": facts.boot_environment,
        "KLDLOAD_HELD_PACKAGES": " ".join(facts.held_packages),
    }
    for name in Answers.model_fields:
        if name in SECRET_FIELDS:
            continue
        values[env_key(name)] = env_text(getattr(answers, name))
    for name in SECRET_FIELDS:
        secret: SecretStr = getattr(answers, name)
        values[f"{env_key(name)}_SET"] = "1" if secret.get_secret_value() else "0"
    # Whether the admin still has the well-known default password (expired at
    # first login): worth knowing, and it reveals nothing that is not public.
    values["KLDLOAD_PASSWORD_IS_DEFAULT"] = (
        "1" if answers.password.get_secret_value() == DEFAULT_PASSWORD else "0")
    return values


def render_manifest(answers: Answers, facts: InstallFacts) -> str:
    """The manifest's text: a header, then one `KEY=value` line per key."""
    lines = list(_HEADER)
    lines += [f"{key}={envfile.quote(value)}"
              for key, value in manifest_values(answers, facts).items()]
    return "\n".join(lines) + "\n"


def read_manifest(text: str, source: str | None = MANIFEST_PATH) -> dict[str, str]:
    """The manifest's keys and values, parsed (never sourced).

    Raises `ManifestError` with every line that is not a `KLDLOAD_*`
    assignment; a literal `$` is data, as everywhere else.
    """
    entries, problems = envfile.parse_env(text.removeprefix("\ufeff"), source)
    errors = [p for p in problems if p.severity is Severity.ERROR]
    values: dict[str, str] = {}
    for e in entries:
        if not e.key.startswith("KLDLOAD_"):
            errors.append(Problem(f"{e.key} is not a KLDLOAD_* key", key=e.key, line=e.line,
                                  source=source))
            continue
        values[e.key] = e.value  # the last assignment wins, as in a shell
    if errors:
        raise ManifestError(errors)
    return values
