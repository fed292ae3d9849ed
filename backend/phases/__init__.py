"""The install phases, one module per group; `all_phases` gives them in order."""

from __future__ import annotations

from kldload_tui.backend.engine.core import Phase


def all_phases() -> list[Phase]:
    """Every phase, in the order they run."""
    from kldload_tui.backend.phases.export import Export
    from kldload_tui.backend.phases.finish import Finish, Snapshot
    from kldload_tui.backend.phases.late import Manifest, Seal, Services
    from kldload_tui.backend.phases.preflight import Preflight
    from kldload_tui.backend.phases.storage import Datasets, HostId, Partition, Pool
    from kldload_tui.backend.phases.system import Bootloader, Bootstrap, Configure, ZfsAtBoot

    return [Preflight(), Partition(), Pool(), Datasets(), HostId(), Bootstrap(), Configure(),
            ZfsAtBoot(), Bootloader(), Services(), Manifest(), Seal(), Snapshot(), Finish(),
            Export()]
