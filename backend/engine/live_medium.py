"""What the live medium this program booted from brings along: a darksite, and
the key its repository is signed with.

The ISO (or a disk the e2e attaches) may carry a local apt repository, the
darksite, so that an install needs no network. Where the medium mounts it is
fixed here, once, for every front end that starts an install or a plan.
"""

from __future__ import annotations

from pathlib import Path

# Looked at in this order; the first that holds the distribution's marker
# (`dists` for an apt repository, `repodata/repomd.xml` for rpm-md) is used. live-boot
# mounts the kldload ISO at /run/live/medium, which carries the darksite of
# `iso build --darksite` at /darksite; the e2e guest mounts its darksite disk
# at /darksite.
DARKSITE_PLACES = (Path("/run/kldload/darksite"), Path("/run/live/medium/darksite"),
                   Path("/darksite"))

# The public half of the key `iso build` signs the darksite with, in the live root
# (never on the medium beside the darksite: the live system is what is trusted).
# Its private half existed only while the darksite was being signed.
DARKSITE_KEYRING = Path("/usr/share/keyrings/kldload-darksite.gpg")


def darksite_path(candidates: tuple[Path, ...] = DARKSITE_PLACES, *,
                  marker: str = "dists") -> Path | None:
    """A local repository the live medium mounted, when there is one: the first
    candidate holding `marker` (the distribution backend's `darksite_marker`)."""
    return next((p for p in candidates if (p / marker).exists()), None)
