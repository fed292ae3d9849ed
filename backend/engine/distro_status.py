"""Which distributions this machine can install, for a front end's distribution step.

Two separate facts per distribution of the seed's list. How far this installer's
support is proven (`DistroBackend.proven`: booted by the e2e here, or checked as a
plan and against the real package tools only), and whether the repositories an
install of it would use can be read from here right now: the live medium's
darksite, or the network archive. The second is what preflight checks before any
write (`DistroBackend.check_sources`); asking it earlier lets the operator choose
knowingly instead of learning it at the end of the walk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from kldload_tui.backend.answers.file import STAND_INS
from kldload_tui.backend.answers.model import Answers, Distro
from kldload_tui.backend.distros import DistroBackend, backend_classes, distro_backend, unreachable

if TYPE_CHECKING:
    from kldload_tui.backend.engine.core import InstallContext

NOT_SERVED = "not installable yet"


@dataclass(frozen=True)
class DistroStatus:
    """One distribution as the distribution step shows it.

    `proven`: `DistroBackend.proven`, or `NOT_SERVED` (refused in preflight).
    `reachable`: None while not checked (a described machine is not this one),
    else whether every repository the install would read answered. `source` says
    from where (`darksite` or the archive's host), or why not.
    """

    distro: Distro
    supported: bool
    proven: str
    reachable: bool | None = None
    source: str = ""

    @property
    def installable_here(self) -> bool:
        return self.supported and self.reachable is True


def proofs() -> list[DistroStatus]:
    """Every distribution with how far its support is proven; nothing is read."""
    served = backend_classes()
    return [DistroStatus(d, d in served, served[d].proven if d in served else NOT_SERVED)
            for d in Distro]


def _answers_for(distro: Distro, values: Mapping[str, Any]) -> Answers:
    """The answers so far with `distro` chosen; where they do not fit it (a release
    another distribution takes), that distribution's defaults."""
    try:
        return Answers.model_validate({**STAND_INS, **values, "distro": distro})
    except ValidationError:
        return Answers.model_validate({**STAND_INS, "distro": distro})


def stand_in_context(distro: Distro, values: Mapping[str, Any], *, darksite: Path | None,
                     live_root: Path = Path("/")) -> InstallContext:
    """A context for `distro` with the answers so far, on no machine in particular,
    judged as a real run would be (a darksite of another format is not taken):
    enough to ask a backend what it reads and needs; its runner executes nothing."""
    from kldload_tui.backend.engine.core import InstallContext, InstallOptions
    from kldload_tui.backend.engine.runner import RecordingRunner
    from kldload_tui.backend.machine.model import Machine

    answers = _answers_for(distro, values)
    backend: DistroBackend = distro_backend(answers)
    return InstallContext(answers, Machine(firmware="uefi"), RecordingRunner(),
                          InstallOptions(darksite=darksite, live_root=live_root),
                          backend)


def check_distro(distro: Distro, values: Mapping[str, Any], *, darksite: Path | None,
                 live_root: Path = Path("/"),
                 probe: Callable[[str], str | None] | None = None) -> DistroStatus:
    """Read what an install of `distro` (with the answers `values` so far) would
    install from, as preflight does (`probe`: `unreachable`, or a test's)."""
    from kldload_tui.backend.engine.core import InstallError

    ctx = stand_in_context(distro, values, darksite=darksite, live_root=live_root)
    backend = ctx.distro
    if not backend.supported:
        return DistroStatus(distro, False, NOT_SERVED)
    urls = []
    try:
        for url, problem in backend.probe_sources(ctx, probe or unreachable):
            if problem:
                return DistroStatus(distro, True, backend.proven, False,
                                    f"cannot reach {url}: {problem}")
            urls.append(url)
    except InstallError as err:  # e.g. Debian with no darksite and no mirror known
        return DistroStatus(distro, True, backend.proven, False, str(err).splitlines()[0])
    if not urls:
        return DistroStatus(distro, True, backend.proven, None, "no repository to check")
    hosts = list(dict.fromkeys(_where(u, darksite) for u in urls))
    return DistroStatus(distro, True, backend.proven, True, ", ".join(hosts))


def _where(url: str, darksite: Path | None) -> str:
    """`darksite` for the medium's, the file read of a local mirror, or the host."""
    parts = urlsplit(url)
    if parts.scheme != "file":
        return parts.hostname or url
    if darksite is not None and Path(parts.path).is_relative_to(darksite):
        return "darksite"
    return parts.path


def check_all(values: Mapping[str, Any], *, darksite: Path | None,
              live_root: Path = Path("/"),
              probe: Callable[[str], str | None] | None = None) -> list[DistroStatus]:
    """`check_distro` for every distribution, at once: each probe may wait for a
    slow mirror's timeout, and the operator waits for the slowest only."""
    with ThreadPoolExecutor(max_workers=len(Distro)) as pool:
        return list(pool.map(lambda d: check_distro(d, values, darksite=darksite,
                                                    live_root=live_root, probe=probe),
                             list(Distro)))
