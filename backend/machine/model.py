"""A machine as the installer sees it: disks, NICs, firmware, kernel command line.

`kldload_tui.backend.machine.probe` fills these models from the running machine; a JSON file in the
same shape describes a simulated one (`kldload-tui --machine FILE`), which is how
the demo, the TUI tests and the plan tests run on hosts without spare disks.
Sizes are bytes (int). Device identities are compared exactly: a path, a
`/dev/disk/by-id` path or a serial, never a substring.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kldload_tui.backend.problems import Problem, ProblemsError

MACHINE_FORMAT: Final = "kldload-machine/1"
# Package data next to this module. Not importlib.resources: an editable install
# made before backend/__init__.py existed maps `backend` as a namespace package,
# which resources.files() cannot read on Python 3.11.
MACHINES_DIR = Path(__file__).parent / "descriptions"
BY_ID_DIR = "/dev/disk/by-id/"

DevPath = Annotated[str, Field(pattern=r"^/dev/[^\s/][^\s]*$")]
ByIdPath = Annotated[str, Field(pattern=r"^/dev/disk/by-id/[^\s/]+$")]
MacAddress = Annotated[str, Field(pattern=r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")]
Firmware = Literal["uefi", "bios"]


class _Model(BaseModel):
    # extra="forbid": a misspelt field in a machine file is an error, not a default.
    model_config = ConfigDict(extra="forbid", frozen=True)


class BlockDevice(_Model):
    """What disks and partitions share: identity, signature and what uses them."""

    path: DevPath
    size_bytes: int = Field(ge=0)
    fstype: str | None = None
    label: str | None = None
    uuid: str | None = None
    # blkid found more than one signature and would not pick one.
    ambivalent: bool = False
    # Why the contents could not be read (blkid error), or None when they were.
    probe_error: str | None = None
    mountpoints: list[str] = []
    # Kernel names of devices built on this one (dm-0, md127), from sysfs holders/.
    holders: list[str] = []
    swap: bool = False
    # For a zfs_member: its pool is imported on this machine right now.
    zfs_pool_imported: bool = False

    @property
    def zfs_pool(self) -> str | None:
        """The pool name of a ZFS vdev label, None when this is not a pool member."""
        return self.label if self.fstype == "zfs_member" else None

    @property
    def has_signature(self) -> bool:
        """A filesystem, RAID or pool signature, or contents we could not read."""
        return self.fstype is not None or self.ambivalent or self.probe_error is not None


class Partition(BlockDevice):
    """A partition of a disk."""

    number: int = Field(ge=1)
    start_bytes: int | None = Field(default=None, ge=0)
    partlabel: str | None = None
    parttype: str | None = None
    partuuid: str | None = None


class Disk(BlockDevice):
    """A whole disk (or loop device) that could be an install target."""

    by_id: ByIdPath | None = None
    # True when no /dev/disk/by-id link existed and the name was built the way
    # udev would build it: the link itself may not exist on this machine.
    by_id_synthesised: bool = False
    model: str | None = None
    vendor: str | None = None
    serial: str | None = None
    wwn: str | None = None
    transport: str | None = None
    rotational: bool = False
    removable: bool = False
    read_only: bool = False
    partition_table: str | None = None
    partitions: list[Partition] = []

    @model_validator(mode="after")
    def _consistent(self) -> Disk:
        if self.by_id_synthesised and self.by_id is None:
            raise ValueError("by_id_synthesised is true but by_id is not set")
        numbers = [p.number for p in self.partitions]
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"{self.path}: partition numbers repeat: {numbers}")
        return self

    @property
    def name(self) -> str:
        """Kernel name: `/dev/nvme0n1` -> `nvme0n1`."""
        return self.path.removeprefix("/dev/")

    def devices(self) -> list[BlockDevice]:
        """The disk itself, then its partitions."""
        return [self, *self.partitions]

    def owns(self, path: str) -> bool:
        """True when `path` is exactly this disk, its by-id path or one of its partitions."""
        if path in (self.path, self.by_id):
            return True
        return any(p.path == path for p in self.partitions)


class Nic(_Model):
    """A network interface; the MAC feeds per-machine answers URLs."""

    name: str = Field(min_length=1)
    mac: MacAddress
    # No device behind it in sysfs (bridge, veth, ifb): never the machine's identity.
    virtual: bool = False


class Dmi(_Model):
    """SMBIOS identity, for per-machine answers URLs."""

    serial: str | None = None
    uuid: str | None = None
    vendor: str | None = None
    product: str | None = None


class SeedDescription(_Model):
    """A seed disk: where it is, its label and filesystem, and its answers.env text."""

    device: DevPath
    label: str
    filesystem: str
    answers: str | None = None


class Machine(_Model):
    """Everything the installer needs to know about the machine it runs on."""

    format: Literal["kldload-machine/1"] = MACHINE_FORMAT
    description: str = ""
    hostname: str = "localhost"
    firmware: Firmware
    kernel_cmdline: str = ""
    dmi: Dmi = Dmi()
    nics: list[Nic] = []
    disks: list[Disk] = []
    # Devices (disks or partitions) that hold the running live system.
    live_devices: list[DevPath] = []
    seed: SeedDescription | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Machine:
        paths = [d.path for disk in self.disks for d in disk.devices()]
        repeated = sorted({p for p in paths if paths.count(p) > 1})
        if repeated:
            raise ValueError(f"device paths listed twice: {', '.join(repeated)}")
        by_ids = [d.by_id for d in self.disks if d.by_id is not None]
        repeated = sorted({p for p in by_ids if by_ids.count(p) > 1})
        if repeated:
            raise ValueError(f"by-id paths listed twice: {', '.join(repeated)}")
        known = set(paths)
        unknown = [p for p in self.live_devices if p not in known]
        if unknown:
            raise ValueError(f"live_devices names devices not in disks: {', '.join(unknown)}")
        if self.seed is not None and self.seed.device not in known:
            raise ValueError(f"seed.device {self.seed.device} is not a disk or partition here")
        return self

    def disk_for(self, path: str) -> Disk | None:
        """The disk that is, or holds, `path` (kernel or by-id path), compared exactly."""
        return next((d for d in self.disks if d.owns(path)), None)

    def to_json(self) -> str:
        """The machine description as pretty JSON, ending in a newline."""
        return json.dumps(self.model_dump(mode="json"), indent=2) + "\n"


class MachineFileError(ProblemsError):
    """A machine description could not be used; every problem names file and field.

    `unreadable` is True when the file could not be read or is not JSON at all,
    False when it is JSON that breaks the format's rules.
    """

    def __init__(self, problems: list[Problem], *, unreadable: bool = False) -> None:
        super().__init__(problems)
        self.unreadable = unreadable


def _location(loc: tuple[int | str, ...]) -> str:
    """`("disks", 0, "size_bytes")` -> `disks[0].size_bytes`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def parse_machine(text: str, source: str) -> Machine:
    """Parse a machine description; `source` names it in errors."""
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MachineFileError([Problem(f"not valid JSON: {exc.msg}", line=exc.lineno,
                                        source=source)], unreadable=True) from exc
    if not isinstance(data, dict):
        raise MachineFileError([Problem("the top level must be a JSON object", source=source)])
    try:
        return Machine.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            # Model-level checks carry a "Value error, " prefix meant for developers.
            message = str(err["msg"]).removeprefix("Value error, ")
            problems.append(Problem(message, key=_location(err["loc"]) or None, source=source))
        raise MachineFileError(problems) from exc


def load_machine(path: str | Path) -> Machine:
    """Read a machine description from a JSON file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MachineFileError([Problem(f"cannot read: {exc}", source=str(path))],
                               unreadable=True) from exc
    return parse_machine(text, str(path))


def save_machine(machine: Machine, path: str | Path) -> None:
    """Write a machine description as JSON."""
    Path(path).write_text(machine.to_json(), encoding="utf-8")


def bundled_machines() -> list[str]:
    """Names of the machine descriptions shipped with the package."""
    return sorted(p.stem for p in MACHINES_DIR.glob("*.json"))


def load_bundled_machine(name: str) -> Machine:
    """A shipped machine description by name (`one-disk-vm` or `one-disk-vm.json`)."""
    stem = name.removesuffix(".json")
    if stem not in bundled_machines():
        raise MachineFileError([Problem(
            f"no machine description named {name!r}", source=name,
            fix=f"give a JSON file, or one of: {', '.join(bundled_machines())}")],
            unreadable=True)
    return load_machine(MACHINES_DIR / f"{stem}.json")


def resolve_machine(spec: str) -> Machine:
    """`--machine` argument: an existing file, else the name of a bundled description."""
    if Path(spec).exists() or "/" in spec:
        return load_machine(spec)
    return load_bundled_machine(spec)
