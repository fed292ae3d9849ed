"""The OVF 1.0 descriptor and the SHA256 manifest that go into an OVA.

An OVA is a ustar archive: the descriptor first, then the manifest, then the
disk (DSP0243 1.0, 5.3). The descriptor describes one virtual system with one
streamOptimized VMDK on an LSI Logic SCSI controller, one E1000 NIC, and CPU
and memory defaults the importer lets the operator change. Both VMware and
VirtualBox import that set of devices; the EFI firmware hint is VMware's
`vmw:Config` extension (marked not required, so VirtualBox skips it and the
operator picks EFI there).

Pure functions: text in, text out. Files are written through the runner.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from xml.etree import ElementTree
from xml.sax.saxutils import escape, quoteattr

from kldload_tui.backend.answers.model import Distro

__all__ = [
    "DEFAULT_CPUS", "DEFAULT_MEMORY_MIB", "GuestOs", "check_descriptor", "guest_os",
    "manifest_text", "ovf_descriptor", "parse_manifest", "sha256_text",
]

OVF_NS = "http://schemas.dmtf.org/ovf/envelope/1"
RASD_NS = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
VSSD_NS = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
VMW_NS = "http://www.vmware.com/schema/ovf"
STREAM_OPTIMIZED = "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"
DEFAULT_CPUS = 2
DEFAULT_MEMORY_MIB = 2048
# Hardware version 14 is ESXi 6.7 / Workstation 15: old enough for most
# estates, new enough for every osType below and for EFI with secure boot off.
VMX_VERSION = "vmx-14"
_MANIFEST_LINE = re.compile(r"^SHA256\((?P<name>[^)]+)\)= (?P<digest>[0-9a-f]{64})$")


@dataclass(frozen=True)
class GuestOs:
    """How the importer should label the guest: CIM OsType and VMware guestId."""

    cim_id: int
    vmware_id: str
    description: str


# CIM_OperatingSystem.OsType values (96 Debian 64-bit, 94 Ubuntu 64-bit, 80 RHEL
# 64-bit, 107 CentOS 64-bit, 101 Linux 64-bit), which VirtualBox maps to its own
# types; VMware reads vmw:osType first.
_GUESTS: dict[Distro, GuestOs] = {
    Distro.DEBIAN: GuestOs(96, "debian10_64Guest", "Debian GNU/Linux (64-bit)"),
    Distro.UBUNTU: GuestOs(94, "ubuntu64Guest", "Ubuntu Linux (64-bit)"),
    Distro.RHEL: GuestOs(80, "rhel8_64Guest", "Red Hat Enterprise Linux (64-bit)"),
    Distro.ROCKY: GuestOs(80, "rhel8_64Guest", "Rocky Linux (64-bit)"),
    Distro.CENTOS: GuestOs(107, "centos7_64Guest", "CentOS (64-bit)"),
    Distro.FEDORA: GuestOs(101, "fedora64Guest", "Fedora Linux (64-bit)"),
    Distro.ARCH: GuestOs(101, "other4xLinux64Guest", "Arch Linux (64-bit)"),
    Distro.ALPINE: GuestOs(101, "other4xLinux64Guest", "Alpine Linux (64-bit)"),
}


def guest_os(distro: Distro) -> GuestOs:
    """The guest OS labels for `distro` (generic 64-bit Linux when unlisted)."""
    return _GUESTS.get(distro, GuestOs(101, "other4xLinux64Guest", "Linux (64-bit)"))


def _item(**fields: str | int) -> str:
    # The CIM schema lists RASD properties alphabetically and ovftool validates
    # against it, so the elements are emitted sorted by name.
    body = "".join(f"        <rasd:{key}>{escape(str(value))}</rasd:{key}>\n"
                   for key, value in sorted(fields.items()))
    return f"      <Item>\n{body}      </Item>\n"


def ovf_descriptor(*, name: str, disk_href: str, capacity_bytes: int, distro: Distro,
                   disk_file_size: int | None = None, cpus: int = DEFAULT_CPUS,
                   memory_mib: int = DEFAULT_MEMORY_MIB) -> str:
    """An OVF 1.0 envelope for one virtual system booting `disk_href` with EFI.

    `capacity_bytes` is the virtual disk size (rounded up to whole sectors);
    `disk_file_size` is the size of the VMDK file itself, left out of the
    References when unknown (it is optional in OVF 1.0; a dry run has no file).
    """
    if capacity_bytes <= 0:
        raise ValueError(f"disk capacity must be positive, got {capacity_bytes}")
    if cpus < 1 or memory_mib < 1:
        raise ValueError(f"need at least one CPU and 1 MiB of memory, got {cpus}/{memory_mib}")
    capacity = -(-capacity_bytes // 512) * 512
    guest = guest_os(distro)
    size_attr = "" if disk_file_size is None else f' ovf:size="{int(disk_file_size)}"'
    items = (
        _item(AllocationUnits="hertz * 10^6", Description="Number of virtual CPUs",
              ElementName=f"{cpus} virtual CPU(s)", InstanceID=1, ResourceType=3,
              VirtualQuantity=cpus)
        + _item(AllocationUnits="byte * 2^20", Description="Memory size",
                ElementName=f"{memory_mib} MB of memory", InstanceID=2, ResourceType=4,
                VirtualQuantity=memory_mib)
        + _item(Address=0, Description="SCSI controller", ElementName="SCSI controller 0",
                InstanceID=3, ResourceSubType="lsilogic", ResourceType=6)
        + _item(AddressOnParent=0, ElementName="Hard disk 1",
                HostResource="ovf:/disk/vmdisk1", InstanceID=4, Parent=3, ResourceType=17)
        + _item(AddressOnParent=7, AutomaticAllocation="true", Connection="VM Network",
                Description="E1000 ethernet adapter on VM Network",
                ElementName="Network adapter 1", InstanceID=5, ResourceSubType="E1000",
                ResourceType=10)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Envelope xmlns="{OVF_NS}" xmlns:ovf="{OVF_NS}" xmlns:rasd="{RASD_NS}"\n'
        f'          xmlns:vssd="{VSSD_NS}" xmlns:vmw="{VMW_NS}">\n'
        "  <References>\n"
        f'    <File ovf:id="file1" ovf:href={quoteattr(disk_href)}{size_attr}/>\n'
        "  </References>\n"
        "  <DiskSection>\n"
        "    <Info>Virtual disk information</Info>\n"
        f'    <Disk ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:capacity="{capacity}"'
        f' ovf:capacityAllocationUnits="byte" ovf:format="{STREAM_OPTIMIZED}"/>\n'
        "  </DiskSection>\n"
        "  <NetworkSection>\n"
        "    <Info>The logical network the virtual machine is connected to</Info>\n"
        '    <Network ovf:name="VM Network">\n'
        "      <Description>The VM Network network</Description>\n"
        "    </Network>\n"
        "  </NetworkSection>\n"
        f"  <VirtualSystem ovf:id={quoteattr(name)}>\n"
        "    <Info>A kldload golden image: ZFS on root, sealed for cloning, personalised "
        "by cloud-init on first boot</Info>\n"
        f"    <Name>{escape(name)}</Name>\n"
        f'    <OperatingSystemSection ovf:id="{guest.cim_id}" vmw:osType="{guest.vmware_id}">\n'
        "      <Info>The guest operating system</Info>\n"
        f"      <Description>{escape(guest.description)}</Description>\n"
        "    </OperatingSystemSection>\n"
        "    <VirtualHardwareSection>\n"
        "      <Info>Virtual hardware requirements</Info>\n"
        "      <System>\n"
        "        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>\n"
        "        <vssd:InstanceID>0</vssd:InstanceID>\n"
        f"        <vssd:VirtualSystemIdentifier>{escape(name)}</vssd:VirtualSystemIdentifier>\n"
        f"        <vssd:VirtualSystemType>{VMX_VERSION}</vssd:VirtualSystemType>\n"
        "      </System>\n"
        f"{items}"
        # The ESP boots through UEFI only; legacy BIOS would find no boot code.
        '      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="efi"/>\n'
        "    </VirtualHardwareSection>\n"
        "  </VirtualSystem>\n"
        "</Envelope>\n"
    )


def sha256_text(text: str) -> str:
    """The SHA256 of `text` as the runner writes it (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def manifest_text(digests: Iterable[tuple[str, str]]) -> str:
    """An OVF manifest: `SHA256(name)= hex` for each (name, digest), in order."""
    return "".join(f"SHA256({name})= {digest}\n" for name, digest in digests)


def parse_manifest(text: str) -> tuple[dict[str, str], list[str]]:
    """(name -> digest, problems) from a manifest; unreadable lines are problems."""
    digests: dict[str, str] = {}
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _MANIFEST_LINE.match(line.strip())
        if match is None:
            problems.append(f"manifest line {number} is not `SHA256(name)= hex`: {line!r}")
        elif match["name"] in digests:
            problems.append(f"manifest lists {match['name']} twice")
        else:
            digests[match["name"]] = match["digest"]
    return digests, problems


def check_descriptor(text: bytes, vmdk: str, vmdk_size: int, source_bytes: int) -> list[str]:
    """What is wrong with an OVF descriptor for the disk `vmdk` of `vmdk_size` bytes."""
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        return [f"the OVF descriptor is not well-formed XML: {exc}"]
    ns = {"ovf": OVF_NS}
    problems: list[str] = []
    files = root.findall("ovf:References/ovf:File", ns)
    disks = root.findall("ovf:DiskSection/ovf:Disk", ns)
    if root.tag != f"{{{OVF_NS}}}Envelope" or root.find("ovf:VirtualSystem", ns) is None:
        problems.append("the OVF descriptor has no Envelope with a VirtualSystem")
    if len(files) != 1 or len(disks) != 1:
        return [*problems, f"the OVF descriptor references {len(files)} file(s) and "
                f"{len(disks)} disk(s), expected one of each"]
    attr = f"{{{OVF_NS}}}"
    file, disk = files[0], disks[0]
    if file.get(attr + "href") != vmdk:
        problems.append(f"the OVF references {file.get(attr + 'href')!r}, not {vmdk!r}")
    if file.get(attr + "size") not in (None, str(vmdk_size)):
        problems.append(f"the OVF says {vmdk} is {file.get(attr + 'size')} bytes, "
                        f"it is {vmdk_size}")
    if disk.get(attr + "fileRef") != file.get(attr + "id"):
        problems.append("the OVF disk does not refer to the disk file")
    capacity = disk.get(attr + "capacity", "")
    if not capacity.isdigit() or int(capacity) < source_bytes:
        problems.append(f"the OVF disk capacity {capacity!r} is smaller than the disk "
                        f"({source_bytes})")
    return problems
