"""The install phases, one module per group; `all_phases` gives them in order."""

from __future__ import annotations

from backend.engine import Phase


def all_phases() -> list[Phase]:
    """Every phase, in the order they run."""
    from backend.phases.export import Export
    from backend.phases.finish import Finish, Snapshot
    from backend.phases.late import Manifest, Seal, Services
    from backend.phases.preflight import Preflight
    from backend.phases.storage import Datasets, HostId, Partition, Pool
    from backend.phases.system import Bootloader, Bootstrap, Configure, ZfsAtBoot

    return [Preflight(), Partition(), Pool(), Datasets(), HostId(), Bootstrap(), Configure(),
            ZfsAtBoot(), Bootloader(), Services(), Manifest(), Seal(), Snapshot(), Finish(),
            Export()]
