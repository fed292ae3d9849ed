"""The image's file name: kexport's `kldload-<distro>-<profile>.<ext>`, or the one given.

The first of these that is set names the image (`choose_name`):

1. `--name NAME` on the command line: said for this one export;
2. `KEXPORT_NAME` in the environment: the seed's kexport override, for a
   shell or a script that exports many times;
3. `kldload-<distro>-<profile>` from an answers file (`KLDLOAD_DISTRO`,
   `KLDLOAD_PROFILE`): the install the disk came from;
4. `kldload-debian-server`: the seed reference's defaults, the name its
   `kexport /dev/sda qcow2 /tmp/export/` writes, and right for every image this
   installer makes today (it installs Debian only); the command says so.

The answers have no key for the name: the seed's `KLDLOAD_EXPORT_*` keys are the
format and the upload. An extension already on a given name is kept rather
than doubled; a name that is not a plain file name is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kldload_tui.backend.answers.model import Answers, Distro, ExportFormat, Profile
from kldload_tui.backend.export.formats import format_spec

# The seed reference's defaults: its `kexport /dev/sda qcow2 /tmp/export/` writes
# kldload-debian-server.qcow2.
SEED_DEFAULT_DISTRO = Distro.DEBIAN
SEED_DEFAULT_PROFILE = Profile.SERVER
# Safe in a file name, a remote shell word, a ustar member name and an OVF id.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,79}$")


def file_name(base: str, fmt: ExportFormat) -> str:
    """`base.<ext>` for `fmt`; `ValueError` for a name that is not a plain file name."""
    ext = format_spec(fmt).extension
    base = base.strip().removesuffix(f".{ext}")
    if not _NAME.match(base):
        raise ValueError(f"image name {base!r}: use 1 to 80 of A-Z a-z 0-9 . _ + -, "
                         "starting with a letter or digit")
    return f"{base}.{ext}"


def default_base(distro: Distro, profile: Profile) -> str:
    """kexport's name without its extension: `kldload-<distro>-<profile>`."""
    return f"kldload-{distro.value}-{profile.value}"


def image_name(answers: Answers, env_name: str | None) -> str:
    """The image's file name for an install: `kldload-<distro>-<profile>.<ext>` or
    `<env_name>.<ext>` (the KEXPORT_NAME override; blank counts as unset)."""
    base = (env_name or "").strip() or default_base(answers.distro, answers.profile)
    return file_name(base, answers.export_format)


@dataclass(frozen=True)
class ChosenName:
    """The image's file name and what chose it, for people."""

    file: str
    origin: str


def choose_name(fmt: ExportFormat, *, flag: str | None, env: str | None,
                answers: Answers | None, answers_path: str | None = None) -> ChosenName:
    """Apply the precedence above. A blank `KEXPORT_NAME` counts as unset (an
    exported empty variable); a blank `--name` is a mistake (`ValueError`)."""
    if flag is not None:
        if not flag.strip():
            raise ValueError("--name is empty: give the image's name, or leave --name out")
        return ChosenName(file_name(flag, fmt), "--name")
    if env is not None and env.strip():
        return ChosenName(file_name(env, fmt), "KEXPORT_NAME")
    if answers is not None:
        where = f"the answers in {answers_path}" if answers_path else "the answers"
        return ChosenName(file_name(default_base(answers.distro, answers.profile), fmt),
                          f"distro and profile of {where}")
    return ChosenName(file_name(default_base(SEED_DEFAULT_DISTRO, SEED_DEFAULT_PROFILE), fmt),
                      f"the seed's defaults: distro {SEED_DEFAULT_DISTRO.value}, profile "
                      f"{SEED_DEFAULT_PROFILE.value}; --name or --answers says otherwise")
