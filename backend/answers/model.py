"""The answers model: every `KLDLOAD_*` variable of the seed's reference, typed.

Field names are the variable names without the `KLDLOAD_` prefix, lowercased;
the env key is the alias. Each field checks its own value; rules that involve
several fields live in `kldload_tui.backend.answers.rules` so that a TUI can hold a
half-filled model while the operator is still choosing.

Additions to the seed's reference (documented in docs/answers.md):
`KLDLOAD_ZFS_PASSPHRASE` (native encryption without a person at the console),
`KLDLOAD_INITRAMFS_MODULES` (initramfs for any hardware, or only this one),
`KLDLOAD_FINISH_ACTION` (what to do once installed) and
`KLDLOAD_EXPORT_SCP_HOST_KEY` (the image server's pinned host key).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
)

from kldload_tui.backend.answers import validators as v
from kldload_tui.backend.answers.types import (
    DebianSuite,
    Distro,
    ExportFormat,
    FinishAction,
    Firmware,
    InfraMode,
    InitramfsModules,
    NetMethod,
    Profile,
    StorageMode,
    Topology,
)
from kldload_tui.backend.answers.validators import FieldProblem

__all__ = [
    "ENV_PREFIX",
    "KNOWN_KEYS",
    "REQUIRED_KEYS",
    "SECRET_FIELDS",
    "Answers",
    "DebianSuite",
    "Distro",
    "ExportFormat",
    "FinishAction",
    "Firmware",
    "InfraMode",
    "InitramfsModules",
    "NetMethod",
    "Profile",
    "StorageMode",
    "Topology",
    "env_key",
    "field_for_key",
    "group_of",
]

ENV_PREFIX = "KLDLOAD_"


def env_key(field_name: str) -> str:
    """`zfs_topology` -> `KLDLOAD_ZFS_TOPOLOGY`."""
    return ENV_PREFIX + field_name.upper()


E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")


def _choice(enum: type[E], what: str) -> Callable[[Any], Any]:
    """Before-validator: a clear message with a did-you-mean for enum values."""

    def check(value: Any) -> Any:
        if isinstance(value, enum):
            return value
        text = str(value).strip().lower()
        choices = [m.value for m in enum]
        if text in choices:
            return enum(text)
        listing = " | ".join(choices)
        guess = v.did_you_mean(text, choices) if text else None
        fix = f"did you mean {guess!r}? Choose one of: {listing}" if guess else (
            f"choose one of: {listing}"
        )
        raise FieldProblem(f"unknown {what} {v.shown(value)}" if text else f"no {what} given",
                           fix)

    return check


_TRUE = {"1", "yes", "true", "on"}
_FALSE = {"0", "no", "false", "off"}


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise FieldProblem(f"{v.shown(value)} is not a switch", "write 1 (on) or 0 (off)")


def _integer(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool):
            raise FieldProblem(f"{value!r} is not a number", f"write a number from {low} to {high}")
        if isinstance(value, int):
            number = value
        else:
            text = str(value).strip()
            # isascii: str.isdigit also holds for other scripts' digits and superscripts.
            if not (text.isascii() and text.isdigit()):
                raise FieldProblem(
                    f"{v.shown(value)} is not a number", f"write a number from {low} to {high}"
                )
            number = int(text)
        if not low <= number <= high:
            raise FieldProblem(f"{number} is out of range", f"write a number from {low} to {high}")
        return number

    return check


def _items(check: Callable[[str], str]) -> Callable[[Any], tuple[str, ...]]:
    """Lists are written space- or comma-separated in answers.env.

    Each item gets the checks of a single value (no control characters, then the
    field's own); given as a sequence (the TUI), an item must also be one that the
    space-separated form written back by `dump_answers` reads as the same item.
    """
    guarded = _guarded(check)

    def item(text: str) -> str:
        v.no_control_chars(text)
        if not text or " " in text or "," in text:
            raise FieldProblem(f"the list item {v.shown(text)} is empty or holds a space or "
                               "comma", "give each item separately")
        return text

    def parse(value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            raw = v.split_list(v.no_control_chars(value))
        else:
            raw = [item(str(x)) for x in value]
        return tuple(guarded(x) for x in raw)

    return parse


def _guarded(check: Callable[[str], T]) -> Callable[[str], T]:
    """A check that fails in an unforeseen way still gives a located error, never a
    traceback: the parser promises a list of problems for any input."""

    def run(value: str) -> T:
        try:
            return check(value)
        except ValueError:
            raise
        except Exception as exc:
            raise FieldProblem(f"{v.shown(value)} could not be checked ({type(exc).__name__})",
                               "use a different value, and report this as a bug") from exc

    return run


def _text(check: Callable[[str], str]) -> Callable[[Any], str]:
    guarded = _guarded(check)

    def parse(value: Any) -> str:
        return guarded(v.no_control_chars(str(value)))

    return parse


def _optional(check: Callable[[str], str]) -> Callable[[str], str]:
    """Empty means 'not set' for optional values."""
    return lambda value: check(value) if value else value


def _secret(what: str, min_length: int) -> Callable[[SecretStr], SecretStr]:
    def check(value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        if raw:
            v.secret_text(raw, what=what, min_length=min_length)
        return value

    return check


def _rhsm_key(value: SecretStr) -> SecretStr:
    raw = value.get_secret_value()
    if raw:
        v.rhsm_name(raw, what="activation key")
    return value


def _ssh_key(value: str) -> str:
    return v.ssh_public_key(value.strip())


def _device(value: str) -> str:
    if not value:
        raise FieldProblem("no disk given", "name the target disk, e.g. /dev/sda")
    return v.device_path(value)


def _hostname(value: str) -> str:
    return v.hostname(value)


Flag = Annotated[bool, BeforeValidator(_flag)]
Device = Annotated[str, BeforeValidator(_text(_device))]
DeviceList = Annotated[tuple[str, ...], BeforeValidator(_items(v.device_path))]
Hostname = Annotated[str, BeforeValidator(_text(_hostname))]
Secret = SecretStr


def _group(name: str) -> dict[str, Any]:
    return {"group": name}


class Answers(BaseModel):
    """Every choice an install needs. Build it from an answers.env with
    `kldload_tui.backend.answers.file.load_answers`, or field by field in the TUI."""

    model_config = ConfigDict(
        alias_generator=env_key,
        populate_by_name=True,
        extra="forbid",
        validate_assignment=True,
        validate_default=False,
    )

    # Core
    distro: Annotated[Distro, BeforeValidator(_choice(Distro, "distro"))] = Field(
        description="Distribution to install", json_schema_extra=_group("Core")
    )
    profile: Annotated[Profile, BeforeValidator(_choice(Profile, "profile"))] = Field(
        Profile.SERVER, description="desktop, server or core", json_schema_extra=_group("Core")
    )
    disk: Device = Field(
        description="Target block device (wiped entirely)", json_schema_extra=_group("Core")
    )
    hostname: Hostname = Field(description="System hostname", json_schema_extra=_group("Core"))
    username: Annotated[str, BeforeValidator(_text(v.username))] = Field(
        "admin", description="Non-root admin user (passwordless sudo)",
        json_schema_extra=_group("Core"),
    )
    password: Annotated[Secret, AfterValidator(_secret("password", 1))] = Field(
        SecretStr("admin"), description="Password of the admin user (expired at first login "
        "while it is the default)", json_schema_extra=_group("Core"),
    )
    timezone: Annotated[str, BeforeValidator(_text(v.timezone))] = Field(
        "UTC", description="TZ database name", json_schema_extra=_group("Core")
    )
    locale: Annotated[str, BeforeValidator(_text(v.locale))] = Field(
        "en_US.UTF-8", description="System locale", json_schema_extra=_group("Core")
    )
    keyboard_layout: Annotated[
        str, BeforeValidator(_text(lambda s: v.xkb_name(s, what="layout") or "us"))
    ] = Field("us", description="XKB keyboard layout", json_schema_extra=_group("Core"))
    keyboard_variant: Annotated[
        str, BeforeValidator(_text(lambda s: v.xkb_name(s, what="variant")))
    ] = Field("", description="XKB keyboard variant (optional)", json_schema_extra=_group("Core"))

    # SSH
    ssh_pubkey: Annotated[str, BeforeValidator(_text(_optional(_ssh_key)))] = Field(
        "", description="Public key authorised for the admin user", json_schema_extra=_group("SSH")
    )
    admin_ssh_pubkey: Annotated[str, BeforeValidator(_text(_optional(_ssh_key)))] = Field(
        "", description="Public key authorised for root (operations access)",
        json_schema_extra=_group("SSH"),
    )
    generate_ssh_key: Flag = Field(
        True, description="1 = generate SSH host keys on install", json_schema_extra=_group("SSH")
    )

    # ZFS
    storage_mode: Annotated[StorageMode, BeforeValidator(_choice(StorageMode, "storage mode"))] = (
        Field(StorageMode.ZFS, description="zfs (only supported mode)",
              json_schema_extra=_group("ZFS"))
    )
    zfs_topology: Annotated[Topology, BeforeValidator(_choice(Topology, "topology"))] = Field(
        Topology.SINGLE, description="single | mirror | raidz1 | mirror-stripe",
        json_schema_extra=_group("ZFS"),
    )
    zfs_encrypt: Flag = Field(
        False, description="1 = native ZFS encryption (passphrase prompt on boot)",
        json_schema_extra=_group("ZFS"),
    )
    zfs_passphrase: Annotated[Secret, AfterValidator(_secret("passphrase", 8))] = Field(
        SecretStr(""), description="Encryption passphrase for unattended installs (8+ chars; "
        "the TUI asks for it)", json_schema_extra=_group("ZFS"),
    )
    zfs_data_disks: DeviceList = Field(
        (), description="Additional disks for mirror/raidz (space-separated)",
        json_schema_extra=_group("ZFS"),
    )
    zfs_special_disks: DeviceList = Field(
        (), description="Special vdev (metadata) disks (space-separated)",
        json_schema_extra=_group("ZFS"),
    )
    enable_zfs: Flag = Field(
        True, description="Always 1: ZFS is not optional", json_schema_extra=_group("ZFS")
    )
    force_wipe: Flag = Field(
        False, description="1 = wipe disks that are not empty without confirmation",
        json_schema_extra=_group("ZFS"),
    )

    # Networking
    net_method: Annotated[NetMethod, BeforeValidator(_choice(NetMethod, "network method"))] = (
        Field(NetMethod.DHCP, description="dhcp | static", json_schema_extra=_group("Networking"))
    )
    net_iface: Annotated[str, BeforeValidator(_text(v.interface_name))] = Field(
        "", description="Interface to configure (empty: every wired interface)",
        json_schema_extra=_group("Networking"),
    )
    net_ip: Annotated[str, BeforeValidator(_text(_optional(v.static_address)))] = Field(
        "", description="Static IP (required if static)", json_schema_extra=_group("Networking")
    )
    net_prefix: Annotated[int, BeforeValidator(_integer(0, 128))] = Field(
        24, description="CIDR prefix", json_schema_extra=_group("Networking")
    )
    net_gw: Annotated[str, BeforeValidator(_text(_optional(v.gateway_address)))] = Field(
        "", description="Default gateway (required if static)",
        json_schema_extra=_group("Networking"),
    )
    net_dns: Annotated[tuple[str, ...], BeforeValidator(_items(v.dns_server))] = Field(
        (), description="DNS servers (comma-separated; empty: from DHCP)",
        json_schema_extra=_group("Networking"),
    )

    # Features
    enable_kvm: Flag = Field(
        False, description="1 = install libvirt + QEMU/KVM", json_schema_extra=_group("Features")
    )
    enable_ebpf: Flag = Field(
        False, description="1 = install eBPF tools (bcc, bpftrace)",
        json_schema_extra=_group("Features"),
    )
    enable_ai: Flag = Field(
        False, description="1 = install AI/ML stack", json_schema_extra=_group("Features")
    )
    nvidia_drivers: Flag = Field(
        False, description="1 = install NVIDIA drivers", json_schema_extra=_group("Features")
    )
    wireguard: Flag = Field(
        False, description="1 = configure WireGuard interface",
        json_schema_extra=_group("Features"),
    )

    # Packages
    extra_packages: Annotated[tuple[str, ...], BeforeValidator(_items(v.package_name))] = Field(
        (), description="Additional packages (comma or space separated)",
        json_schema_extra=_group("Packages"),
    )
    keep_darksite: Flag = Field(
        False, description="1 = copy darksite to installed system",
        json_schema_extra=_group("Packages"),
    )
    custom_mirror_url: Annotated[str, BeforeValidator(_text(_optional(v.url)))] = Field(
        "", description="Override default package mirror", json_schema_extra=_group("Packages")
    )

    # Cluster
    infra_mode: Annotated[InfraMode, BeforeValidator(_choice(InfraMode, "infra mode"))] = Field(
        InfraMode.STANDALONE, description="standalone | cluster",
        json_schema_extra=_group("Cluster"),
    )
    cluster_cidr: Annotated[str, BeforeValidator(_text(_optional(v.ip_network)))] = Field(
        "", description="WireGuard cluster CIDR (e.g., 10.100.0.0/24)",
        json_schema_extra=_group("Cluster"),
    )
    cluster_domain: Annotated[
        str, BeforeValidator(_text(lambda s: v.dns_name(s, what="cluster domain")))
    ] = Field("infra.local", description="Cluster DNS domain", json_schema_extra=_group("Cluster"))
    cluster_size: Annotated[int, BeforeValidator(_integer(1, 65534))] = Field(
        16, description="Max nodes in cluster", json_schema_extra=_group("Cluster")
    )
    hub_lan: Annotated[str, BeforeValidator(_text(v.interface_name))] = Field(
        "", description="Hub LAN interface for cluster", json_schema_extra=_group("Cluster")
    )

    # Export (golden image)
    export_format: Annotated[ExportFormat, BeforeValidator(_choice(ExportFormat, "format"))] = (
        Field(ExportFormat.NONE, description="none | qcow2 | vmdk | vhd | ova | raw",
              json_schema_extra=_group("Export"))
    )
    export_scp_host: Annotated[str, BeforeValidator(_text(_optional(v.host)))] = Field(
        "", description="Remote host for SCP upload", json_schema_extra=_group("Export")
    )
    export_scp_user: Annotated[str, BeforeValidator(_text(v.username_or_root))] = Field(
        "root", description="SCP user", json_schema_extra=_group("Export")
    )
    export_scp_path: Annotated[
        str, BeforeValidator(_text(lambda s: v.absolute_path(s, what="SCP path") or "/root/"))
    ] = Field("/root/", description="SCP destination path", json_schema_extra=_group("Export"))
    export_scp_key: Annotated[
        str, BeforeValidator(_text(lambda s: v.absolute_path(s, what="key path")))
    ] = Field("", description="Path to SSH private key for SCP", json_schema_extra=_group("Export"))
    export_scp_pass: Annotated[Secret, AfterValidator(_secret("SCP password", 1))] = Field(
        SecretStr(""), description="SSH password for SCP (if no key)",
        json_schema_extra=_group("Export"),
    )
    export_scp_host_key: Annotated[str, BeforeValidator(_text(_optional(v.ssh_host_key)))] = (
        Field("", description="The SCP host's SSH host key: a line of `ssh-keyscan HOST` or "
              "its SHA256:... fingerprint (`ssh-keygen -lf`). Required with a password; "
              "without it a key login trusts the key first offered and logs its fingerprint",
              json_schema_extra=_group("Export"))
    )

    # Distro-specific
    release: Annotated[str, BeforeValidator(_text(v.release_number))] = Field(
        "9", description="CentOS/RHEL/Rocky release version",
        json_schema_extra=_group("Distro-specific"),
    )
    rhel_org: Annotated[
        str, BeforeValidator(_text(_optional(lambda s: v.rhsm_name(s, what="organization ID"))))
    ] = Field("", description="RHEL: the Red Hat organization ID the machine registers with "
              "at first boot (with KLDLOAD_RHEL_ACTIVATION_KEY; empty: not registered)",
              json_schema_extra=_group("Distro-specific"))
    rhel_activation_key: Annotated[Secret, AfterValidator(_rhsm_key)] = Field(
        SecretStr(""), description="RHEL: the activation key registering it (a secret: kept "
        "out of logs and the manifest, deleted from the machine once registered)",
        json_schema_extra=_group("Distro-specific"),
    )
    debian_suite: Annotated[DebianSuite, BeforeValidator(_choice(DebianSuite, "Debian suite"))] = (
        Field(DebianSuite.TRIXIE, description="Debian suite (trixie, bookworm)",
              json_schema_extra=_group("Distro-specific"))
    )
    debian_mirror: Annotated[str, BeforeValidator(_text(_optional(v.url)))] = Field(
        "", description="Debian mirror (empty: the darksite, else the live system's apt sources)",
        json_schema_extra=_group("Distro-specific"),
    )

    initramfs_modules: Annotated[
        InitramfsModules, BeforeValidator(_choice(InitramfsModules, "initramfs module set"))
    ] = Field(InitramfsModules.MOST, description="most: boots on any hardware; dep: only the "
              "drivers of this machine (smaller, much faster to build; not for images moved "
              "elsewhere)", json_schema_extra=_group("Distro-specific"))

    # Bootloader
    bootloader_id: Annotated[str, BeforeValidator(_text(v.efi_label))] = Field(
        "KLDload", description="EFI boot entry name (disk 2 and later: `NAME (disk N)`)",
        json_schema_extra=_group("Bootloader")
    )
    firmware: Annotated[Firmware, BeforeValidator(_choice(Firmware, "firmware"))] = Field(
        Firmware.BOTH, description="both: every disk boots on UEFI (systemd-boot) and on "
        "legacy BIOS (GRUB); uefi or bios: only that loader; auto: the live system's firmware",
        json_schema_extra=_group("Bootloader"))

    # Finish
    finish_action: Annotated[FinishAction, BeforeValidator(_choice(FinishAction, "action"))] = (
        Field(FinishAction.POWEROFF, description="poweroff | reboot | none, once installed",
              json_schema_extra=_group("Finish"))
    )

    def all_disks(self) -> tuple[str, ...]:
        """Every disk the install wipes, the target first."""
        return (self.disk, *self.zfs_data_disks, *self.zfs_special_disks)

    def data_disks(self) -> tuple[str, ...]:
        """Disks of the data vdevs: the target and the additional data disks."""
        return (self.disk, *self.zfs_data_disks)


REQUIRED_KEYS: tuple[str, ...] = tuple(
    env_key(name) for name, f in Answers.model_fields.items() if f.is_required()
)
KNOWN_KEYS: tuple[str, ...] = tuple(env_key(name) for name in Answers.model_fields)
SECRET_FIELDS: tuple[str, ...] = tuple(
    name for name, f in Answers.model_fields.items() if f.annotation is SecretStr
)


def field_for_key(key: str) -> str:
    """`KLDLOAD_ZFS_TOPOLOGY` -> `zfs_topology`."""
    return key[len(ENV_PREFIX):].lower()


def group_of(field_name: str) -> str:
    """The section of the reference a field belongs to."""
    extra = Answers.model_fields[field_name].json_schema_extra
    assert isinstance(extra, dict)
    return str(extra["group"])
