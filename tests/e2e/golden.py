"""The golden layout (issue "Golden images proven"): an install that seals and exports a
qcow2 and uploads it with scp; two clones of that image booted side by side under
OVMF, each personalised by its own NoCloud seed; then the same image as an OVA and a
VHD made by ``kldload-tui export``, checked on the host, and the OVA's VMDK booted.

The live guest gets an export disk (ext4, made here): the engine writes the image to
its default export directory, which the live stand-in mounts from that disk, and
uploads it to the live system's own sshd on 127.0.0.1 (liveconf.py, mode
``kldload.e2e=golden``), with a host key and a login key made here, the host key pinned
by fingerprint in the answers. The host reads the disk back with debugfs (no mount).

Each clone is a qcow2 overlay on the exported image with fresh NVRAM (no boot entry:
OVMF starts EFI/BOOT/BOOTX64.EFI, as a new VM does), a virtio disk serial the build
never had, a NIC, and a NoCloud seed ISO (genisoimage, label ``cidata``) naming its
hostname, a user with an SSH key, and a static address. Over the serial console, as
the admin user the image was built with, each clone is checked against its seed and
against the image; clone ``a`` is then booted a second time, which imports the pool
with the host ID its first boot made.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import tarfile
import threading
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kldload_tui.backend.export.formats import sha256_file
from tests.e2e import cache
from tests.e2e.answers import InstallSpec, make_seed
from tests.e2e.bootcheck import (
    BE,
    BOOT_DEAD_ENDS,
    POOL,
    CheckFailed,
    boot_to_login,
    check_firstboot_once,
    check_running,
    check_timers,
    log_in,
    ok,
    power_off,
)
from tests.e2e.installs import install_in_guest, live_firmware, target_disk
from tests.e2e.liveconf import EXPORT_SERIAL
from tests.e2e.qemu import Disk, Firmware, Guest, overlay
from tests.e2e.sh import run

if TYPE_CHECKING:
    from tests.e2e.layouts import Result, Run

PASSWORD = "e2e-golden-Passw0rd"
IMAGE = "kldload-debian-server.qcow2"  # kexport's name: kldload-<distro>-<profile>.<ext>
EXPORT_SIZE = "16G"  # the image (about 2 GB), its uploaded copy and the bare convert
GIB = 1 << 30
MIB = 1 << 20
# A clone's first boot rebuilds its initramfs with every driver (`most`): under
# emulation, with the other clone beside it, that alone can take a quarter of an hour.
CLONE_TIMEOUT = 2400.0
# The clone's disk: a serial the build never saw, so nothing may depend on by-id names.
CLONE_SERIAL = "clone0"
CLONE_NIC = "enp0s1"  # the name systemd gives QEMU's virtio-net-pci NIC on q35
HEX32 = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Clone:
    """One clone and what its NoCloud seed gives it."""

    letter: str
    address: str  # static IPv4 on QEMU's user network (10.0.2.0/24)
    user: str
    key: str  # the user's SSH public key line

    @property
    def name(self) -> str:
        return f"golden-clone-{self.letter}"

    @property
    def spec(self) -> InstallSpec:
        """Hostname e2e-golden-clone-X; the admin logs in with the image's password."""
        return InstallSpec(self.name, password=PASSWORD)


@dataclass(frozen=True)
class Identity:
    """What must differ between clones."""

    machine_id: str
    host_key: str
    hostid: str


def golden_spec(host_key_fingerprint: str) -> InstallSpec:
    """The build: server profile, exported as qcow2, uploaded to the live guest's sshd
    with the uploader's key, the image server's host key pinned."""
    return InstallSpec("golden", password=PASSWORD, initramfs_modules="most", extra_answers=(
        "KLDLOAD_EXPORT_FORMAT=qcow2",
        "KLDLOAD_EXPORT_SCP_HOST=127.0.0.1",
        "KLDLOAD_EXPORT_SCP_USER=root",
        "KLDLOAD_EXPORT_SCP_PATH=/srv/kldload-e2e/uploads/",
        "KLDLOAD_EXPORT_SCP_KEY=/srv/kldload-e2e/ssh/id_ed25519",
        f"KLDLOAD_EXPORT_SCP_HOST_KEY={host_key_fingerprint}",
    ))


def _keygen(path: Path, comment: str, log: Path) -> str:
    """A new ed25519 key pair at `path`; returns the public key line."""
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        log=log)
    return path.with_suffix(".pub").read_text().strip()


def _export_disk(ctx: Run) -> tuple[Disk, str]:
    """The export disk and the SHA256 fingerprint of the image server's host key."""
    staging = ctx.run_dir / "golden-export"
    shutil.rmtree(staging, ignore_errors=True)
    for sub in ("ssh", "local", "uploads", "bare"):
        (staging / sub).mkdir(parents=True)
    (staging / "ssh").chmod(0o700)
    _keygen(staging / "ssh/ssh_host_ed25519_key", "kldload-e2e-image-server", ctx.log)
    uploader = _keygen(staging / "ssh/id_ed25519", "kldload-e2e-uploader", ctx.log)
    (staging / "ssh/authorized_keys").write_text(uploader + "\n")
    listing = run(["ssh-keygen", "-l", "-f", str(staging / "ssh/ssh_host_ed25519_key.pub")],
                  log=ctx.log, capture=True)
    fingerprint = listing.split()[1]
    image = ctx.run_dir / "golden-export.raw"
    image.unlink(missing_ok=True)
    run(["truncate", "-s", EXPORT_SIZE, str(image)], log=ctx.log)
    run(["mkfs.ext4", "-q", "-F", "-L", "KLDLOAD-EXPORT", "-d", str(staging), str(image)],
        log=ctx.log)
    return Disk(image, EXPORT_SERIAL, fmt="raw"), fingerprint


def _dump(ctx: Run, disk: Path, inside: str, dest: Path) -> Path:
    """Copy a file out of the ext4 export disk with debugfs; CheckFailed when absent."""
    dest.unlink(missing_ok=True)
    run(["debugfs", "-R", f"dump {inside} {dest}", str(disk)], log=ctx.log, capture=True)
    if not dest.is_file():
        listing = run(["debugfs", "-R", f"ls -l {Path(inside).parent}", str(disk)],
                      log=ctx.log, capture=True, check=False)
        raise CheckFailed(f"the export disk has no {inside}:\n{listing}")
    return dest


def _qemu_info(ctx: Run, path: Path, fmt: str | None = None) -> dict[str, object]:
    argv = ["qemu-img", "info", "--output=json", *(["-f", fmt] if fmt else []), str(path)]
    info: dict[str, object] = json.loads(run(argv, log=ctx.log, capture=True))
    return info


def _console_fields(ctx: Run, marker: str) -> dict[str, str]:
    """The k=v fields of a marker the live guest printed (liveconf's golden_after)."""
    console = (ctx.run_dir / "golden-install-console.log").read_text(errors="replace")
    match = re.search(rf"KLDLOAD-E2E: {re.escape(marker)}((?: \S+=\S*)*) ([\d.]+)", console)
    if match is None:
        raise CheckFailed(f"the live guest printed no {marker} marker")
    fields = dict(f.split("=", 1) for f in match.group(1).split())
    fields["epoch"] = match.group(2)
    return fields


def _command_seconds(log: Path, prefix: str) -> float:
    """How long the engine's first command starting with `prefix` ran (install.log)."""
    lines = log.read_text(errors="replace").splitlines()
    for i, line in enumerate(lines):
        if f"$ {prefix}" in line:
            for after in lines[i + 1:]:
                took = re.search(r"\]\s+exit (\d+) after ([\d.]+)s$", after)
                if took:
                    return float(took.group(2))
    raise CheckFailed(f"no `{prefix}` with its time in {log}")


def _read_back(ctx: Run, result: Result, export: Disk) -> Path:
    """The image and its checksum, local and uploaded: present, equal, and sound."""
    out = ctx.run_dir / "golden-out"
    out.mkdir(exist_ok=True)
    image = _dump(ctx, export.path, f"/local/{IMAGE}", out / IMAGE)
    digest = sha256_file(image)
    for where in ("local", "uploads"):
        written = _dump(ctx, export.path, f"/{where}/{IMAGE}.sha256",
                        out / f"{where}-{IMAGE}.sha256").read_text()
        if written != f"{digest}  {IMAGE}\n":
            raise CheckFailed(f"{where}/{IMAGE}.sha256 holds {written!r}, the image {digest}")
    uploaded = _dump(ctx, export.path, f"/uploads/{IMAGE}", out / f"uploaded-{IMAGE}")
    if sha256_file(uploaded) != digest:
        raise CheckFailed("the uploaded image differs from the local one")
    uploaded.unlink()
    result.checks.append("image-and-checksum-uploaded")
    run(["qemu-img", "check", "-f", "qcow2", str(image)], log=ctx.log)
    info = _qemu_info(ctx, image, "qcow2")
    if info.get("format") != "qcow2" or info.get("virtual-size") != 20 * GIB:
        raise CheckFailed(f"the image is not a 20 GiB qcow2: {info}")
    result.checks.append("qcow2-check")
    return image


def _nocloud(ctx: Run, clone: Clone) -> Path:
    """The clone's NoCloud seed: an ISO9660 image labelled cidata, as cloud-localds makes."""
    src = ctx.run_dir / f"{clone.name}-nocloud"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir()
    (src / "meta-data").write_text(f"instance-id: {clone.name}-0001\n"
                                   f"local-hostname: {clone.spec.hostname}\n")
    (src / "user-data").write_text(
        "#cloud-config\n"
        "users:\n"
        f"  - name: {clone.user}\n"
        "    groups: [sudo]\n"
        "    shell: /bin/bash\n"
        "    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n"
        f"    ssh_authorized_keys: [\"{clone.key}\"]\n")
    (src / "network-config").write_text(
        "version: 2\n"
        "ethernets:\n"
        # By name: cloud-init's networkd renderer ignores `match: name:` globs and
        # names the interface after the key. q35's virtio NIC here is enp0s1.
        f"  {CLONE_NIC}:\n"
        f"    addresses: [{clone.address}/24]\n"
        "    gateway4: 10.0.2.2\n"
        "    nameservers:\n"
        "      addresses: [10.0.2.3]\n")
    iso = ctx.run_dir / f"{clone.name}-seed.iso"
    run(["genisoimage", "-quiet", "-output", str(iso), "-volid", "cidata", "-joliet", "-rock",
         str(src / "user-data"), str(src / "meta-data"), str(src / "network-config")],
        log=ctx.log)
    return iso


def _expect(what: str, got: str, want: bool) -> None:
    if not want:
        raise CheckFailed(f"{what}: got {got!r}")


def _no_forced_import(guest: Guest) -> int:
    """`zpool history` has imports, none forced; returns how many."""
    history = ok(guest, f"sudo -n zpool history {POOL} | grep ' zpool import ' || :")
    imports = history.splitlines()
    forced = [line for line in imports if re.search(r"\s-[a-zA-Z]*f", line)]
    if not imports or forced:
        raise CheckFailed(f"zpool history: imports {imports}, forced {forced}")
    return len(imports)


def _check_clone(guest: Guest, clone: Clone) -> tuple[Identity, list[str]]:
    """Point 3 of the issue on one clone; (its identity, the checks passed)."""
    passed: list[str] = []
    check_running(guest)
    passed.append("no-failed-units")
    status = ok(guest, "cloud-init status --wait --long", 600)
    _expect("cloud-init status", status, "status: done" in status)
    _expect("cloud-init datasource", status, "nocloud" in status.lower())
    passed.append("cloud-init-done")
    host = clone.spec.hostname
    names = ok(guest, "hostname; cat /etc/hostname")
    _expect("hostname", names, names.split() == [host, host])
    passed.append("hostname-from-cloud-init")
    groups = ok(guest, f"id -nG {clone.user}")
    _expect(f"{clone.user}'s groups", groups, "sudo" in groups.split())
    keys = ok(guest, f"sudo -n cat /home/{clone.user}/.ssh/authorized_keys")
    _expect(f"{clone.user}'s authorized_keys", keys, clone.key in keys)
    passed.append("user-and-key-from-cloud-init")
    addresses = ok(guest, "ip -4 -o addr show scope global")
    _expect("address", addresses, f" {clone.address}/24 " in addresses)
    rendered = ok(guest, f"grep -l 'Address={clone.address}/24' "
                         "/etc/systemd/network/10-cloud-init-*.network")
    _expect("networkd file from cloud-init", rendered, bool(rendered))
    passed.append("network-from-cloud-init")
    machine_id = ok(guest, "cat /etc/machine-id")
    _expect("machine-id", machine_id, bool(HEX32.match(machine_id)))
    host_key = ok(guest, "ssh-keygen -l -f /etc/ssh/ssh_host_ed25519_key.pub").split()[1]
    hostid = ok(guest, "hostid")
    stored = ok(guest, "od -An -tx4 /etc/hostid").strip()
    _expect("/etc/hostid against hostid(1)", f"{stored} / {hostid}", stored == hostid)
    passed.append("new-identity")
    # No -q: lsinitramfs would die of SIGPIPE (141) under the shell's pipefail.
    ok(guest, "sudo -n lsinitramfs /boot/initrd.img-$(uname -r) | grep -x etc/hostid >/dev/null")
    ok(guest, "test -s /etc/zfs/zpool.cache")
    ok(guest, "sudo -n kldload-boot check >/dev/null")  # the ESP got the new initramfs
    root = ok(guest, "findmnt -n -o SOURCE,FSTYPE /")
    _expect("root", root, root.split() == [BE, "zfs"])
    _no_forced_import(guest)
    passed.append("hostid-initramfs-import-unforced")
    check_firstboot_once(guest, sealed=True)
    passed.append("firstboot-once")
    check_timers(guest)
    passed.append("timers")
    leftovers = ok(guest, "sudo -n sh -c 'for f in /etc/kldload/install-manifest.env "
                          "/etc/kldload/answers.env /var/log/kldload/install.log "
                          "/root/.bash_history /home/admin/.bash_history; do "
                          "[ -e \"$f\" ] && echo \"$f\"; done; "
                          "find /var/lib/dhcp /var/lib/dhclient -type f 2>/dev/null; :'")
    _expect("left from the image", leftovers, not leftovers)
    passed.append("nothing-from-the-image")
    return Identity(machine_id, host_key, hostid), passed


def _clone_life(ctx: Run, result: Result, clone: Clone, image: Path, seed: Path,
                lock: threading.Lock) -> Identity:
    """Boot a clone, check it; clone a boots a second time. Runs in its own thread."""
    disk = Disk(overlay(image, ctx.run_dir / f"{clone.name}.qcow2", ctx.log, "qcow2"),
                CLONE_SERIAL)
    disks = [disk, Disk(seed, "cidata", fmt="raw", readonly=True)]
    nvram = Firmware.uefi(ctx.run_dir, f"{clone.name}-ovmf-vars.fd")
    x = clone.letter
    with Guest(clone.name, ctx.run_dir, disks=disks, firmware=nvram, network=True) as guest:
        with result.step(f"{x}-boot"):
            boot_to_login(guest, clone.spec, None, firstboot=True, timeout=CLONE_TIMEOUT)
        with result.step(f"{x}-login"):
            if log_in(guest, clone.spec):
                raise CheckFailed("the image's admin password was expired on a clone")
        with result.step(f"{x}-checks"):
            identity, passed = _check_clone(guest, clone)
        with result.step(f"{x}-poweroff"):
            power_off(guest)
    with lock:
        result.checks += [f"{x}:{name}" for name in passed]
    if x != "a":
        return identity
    with Guest(f"{clone.name}-again", ctx.run_dir, disks=disks, firmware=nvram,
               network=True) as guest:
        with result.step(f"{x}-second-boot"):
            boot_to_login(guest, clone.spec, None, firstboot=False, timeout=CLONE_TIMEOUT)
            log_in(guest, clone.spec)
        with result.step(f"{x}-second-checks"):
            again = Identity(ok(guest, "cat /etc/machine-id"), identity.host_key,
                             ok(guest, "hostid"))
            _expect("identity after a reboot", str(again), again == identity)
            root = ok(guest, "findmnt -n -o SOURCE /")
            _expect("root", root, root == BE)
            imports = _no_forced_import(guest)
            _expect("imports after two boots", str(imports), imports >= 2)
            runs = ok(guest, "sudo -n journalctl -o cat -u kldload-firstboot.service")
            _expect("firstboot on the second boot", runs, "kldload-firstboot" not in runs)
            power_off(guest)
    with lock:
        result.checks.append("a:second-boot-imports-with-its-host-id")
    return identity


def _clones(ctx: Run, result: Result, image: Path) -> None:
    """Two clones side by side; their identities all differ."""
    clones = []
    for letter, address in (("a", "10.0.2.21"), ("b", "10.0.2.22")):
        key = _keygen(ctx.run_dir / f"golden-clone-{letter}-user", f"ops-{letter}", ctx.log)
        clones.append(Clone(letter, address, f"ops-{letter}", key))
    seeds = [_nocloud(ctx, c) for c in clones]
    lock = threading.Lock()
    with ThreadPoolExecutor(max_workers=len(clones)) as pool:
        futures = [pool.submit(_clone_life, ctx, result, c, image, s, lock)
                   for c, s in zip(clones, seeds, strict=True)]
        identities = [f.result() for f in futures]
    a, b = identities
    same = [field for field in ("machine_id", "host_key", "hostid")
            if getattr(a, field) == getattr(b, field)]
    if same:
        raise CheckFailed(f"the clones share {same}: {a} {b}")
    result.checks.append("clones-differ")
    result.report.append(f"clone a: machine-id {a.machine_id}, hostid {a.hostid}, "
                         f"host key {a.host_key}")
    result.report.append(f"clone b: machine-id {b.machine_id}, hostid {b.hostid}, "
                         f"host key {b.host_key}")


def _export(ctx: Run, source: Path, fmt: str, out: Path) -> Path:
    """`kldload-tui export` on the host, as an operator runs it; the image's path."""
    out.mkdir(exist_ok=True)
    output = run([str(cache.REPO / ".venv/bin/kldload-tui"), "export", str(source), fmt,
                  str(out), "--name", "golden", "--json"], log=ctx.log, capture=True)
    done = json.loads(output.strip().splitlines()[-1])
    return Path(done["image"])


def _check_ova(ctx: Run, ova: Path, raw: Path) -> Path:
    """Members in order, OVF references and capacity, manifest digests; the VMDK."""
    out = ova.parent / "ova-members"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    with tarfile.open(ova) as archive:
        names = archive.getnames()
        archive.extractall(out, filter="data")
    if len(names) != 3 or not names[0].endswith(".ovf") or not names[1].endswith(".mf"):
        raise CheckFailed(f"OVA members are not descriptor, manifest, disk: {names}")
    tree = ET.parse(out / names[0])
    ns = {"ovf": "http://schemas.dmtf.org/ovf/envelope/1"}
    files = tree.getroot().findall("ovf:References/ovf:File", ns)
    disks = tree.getroot().findall("ovf:DiskSection/ovf:Disk", ns)
    attr = "{http://schemas.dmtf.org/ovf/envelope/1}"
    if len(files) != 1 or len(disks) != 1:
        raise CheckFailed(f"the OVF has {len(files)} files and {len(disks)} disks")
    href, size = files[0].get(attr + "href"), files[0].get(attr + "size")
    vmdk = out / str(href)
    if href != names[2] or size != str(vmdk.stat().st_size):
        raise CheckFailed(f"the OVF references {href} of {size} bytes; the OVA has "
                          f"{names[2]} of {vmdk.stat().st_size}")
    capacity = int(disks[0].get(attr + "capacity") or 0)
    unit = disks[0].get(attr + "capacityAllocationUnits") or "byte"
    scale = {"byte": 1, "byte * 2^20": MIB, "byte * 2^30": GIB}.get(unit)
    if scale is None or capacity * scale != raw.stat().st_size:
        raise CheckFailed(f"the OVF's capacity is {capacity} {unit}, the disk "
                          f"{raw.stat().st_size} bytes")
    for line in (out / names[1]).read_text().splitlines():
        match = re.fullmatch(r"SHA256\((.+)\)= ([0-9a-f]{64})", line.strip())
        if match is None or sha256_file(out / match.group(1)) != match.group(2):
            raise CheckFailed(f"OVA manifest line does not match: {line!r}")
    run(["qemu-img", "check", "-f", "vmdk", str(vmdk)], log=ctx.log)
    run(["qemu-img", "compare", "-f", "raw", "-F", "vmdk", str(raw), str(vmdk)], log=ctx.log)
    return vmdk


def _check_vhd(ctx: Run, vhd: Path, raw: Path) -> None:
    """A fixed VHD of whole MiB (Azure): the footer, then the contents."""
    with vhd.open("rb") as handle:
        handle.seek(-512, 2)
        footer = handle.read(512)
    cookie, disk_type = footer[:8], struct.unpack(">I", footer[60:64])[0]
    current = struct.unpack(">Q", footer[48:56])[0]
    size = vhd.stat().st_size
    if cookie != b"conectix" or disk_type != 2:
        raise CheckFailed(f"not a fixed VHD: cookie {cookie!r}, type {disk_type}")
    if current % MIB or size != current + 512 or current < raw.stat().st_size:
        raise CheckFailed(f"VHD size {current} (+512 = file {size}) is not whole MiB "
                          f"holding {raw.stat().st_size}")
    run(["qemu-img", "compare", "-f", "raw", "-F", "vpc", str(raw), str(vhd)], log=ctx.log)


def _ova_and_vhd(ctx: Run, result: Result, image: Path) -> None:
    """The same disk as OVA and VHD by `kldload-tui export`; the OVA's VMDK boots."""
    raw = ctx.run_dir / "golden-out/golden-disk.raw"
    raw.parent.mkdir(exist_ok=True)
    run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(image), str(raw)], log=ctx.log)
    out = ctx.run_dir / "golden-out/exports"
    with result.step("export-ova"):
        ova = _export(ctx, raw, "ova", out)
    with result.step("export-vhd"):
        vhd = _export(ctx, raw, "vhd", out)
    with result.step("ova-vhd-checks"):
        vmdk = _check_ova(ctx, ova, raw)
        result.checks.append("ova-ovf-manifest-vmdk")
        _check_vhd(ctx, vhd, raw)
        result.checks.append("vhd-fixed-aligned")
    raw.unlink()
    result.report.append(f"OVA {ova.stat().st_size >> 20} MiB, VHD {vhd.stat().st_size >> 20} "
                         f"MiB (fixed; {vhd.stat().st_blocks * 512 >> 20} MiB allocated)")
    disk = Disk(overlay(vmdk, ctx.run_dir / "golden-ova.qcow2", ctx.log, "vmdk"), CLONE_SERIAL)
    nvram = Firmware.uefi(ctx.run_dir, "golden-ova-ovmf-vars.fd")
    with Guest("golden-ova", ctx.run_dir, disks=[disk], firmware=nvram, network=True
               ) as guest, result.step("ova-boot"):
        index, match = guest.expect_any([r"\S+ login: ", *BOOT_DEAD_ENDS], CLONE_TIMEOUT,
                                        "a login prompt from the OVA's disk")
        if index:
            raise CheckFailed(f"the OVA's disk did not boot: {match.group(0)}")
    result.checks.append("ova-vmdk-boots-to-login")


# An image an earlier run of this layout exported (its run directory's golden-out/):
# only the clones and the OVA and VHD run, to work on those checks without an install.
REUSE_IMAGE = "KLDLOAD_E2E_GOLDEN_IMAGE"


def golden(ctx: Run, result: Result) -> None:
    """Install, seal, export and upload; two clones; OVA and VHD."""
    reuse = os.environ.get(REUSE_IMAGE)
    if reuse:
        result.report.append(f"clones and formats only, of {reuse} (${REUSE_IMAGE})")
        _clones(ctx, result, Path(reuse))
        _ova_and_vhd(ctx, result, Path(reuse))
        result.ok = True
        return
    export, fingerprint = _export_disk(ctx)
    spec = golden_spec(fingerprint)
    seed = make_seed(spec, ctx.suite, ctx.run_dir, ctx.log)
    firmware = live_firmware(ctx, spec)
    targets = [target_disk(ctx, spec, serial) for serial in spec.serials]
    outcome = install_in_guest(ctx, result, spec, targets, seed, firmware, extra=[export],
                               cmdline=["kldload.e2e=golden"], live="standin")
    result.guest_seconds = outcome.guest_seconds
    if outcome.rc != 0:
        raise CheckFailed(f"the install exited {outcome.rc}: {outcome.failed or 'see console'}")
    for disk in targets:
        disk.path.unlink()  # the image is what matters now; 20 GiB sparse each
    with result.step("read-back"):
        image = _read_back(ctx, result, export)
    export.path.unlink()
    _figures(ctx, result, image)
    _clones(ctx, result, image)
    _ova_and_vhd(ctx, result, image)
    result.ok = True


def _figures(ctx: Run, result: Result, image: Path) -> None:
    """The issue's figures: the image against the pool, the export against qemu-img."""
    log = ctx.run_dir / "golden-logs/var/log/kldload/install.log"
    bare = _console_fields(ctx, "bare-convert")
    if bare.get("rc") != "0":
        raise CheckFailed(f"the bare qemu-img convert failed: {bare}")
    bare_seconds = float(bare["epoch"]) - float(bare["begin"])
    product = _command_seconds(log, "qemu-img convert -p")
    used = int(_console_fields(ctx, "pool-used")["bytes"])
    size = image.stat().st_size
    result.report.append(
        f"qcow2 {size / MIB:.0f} MiB for a pool using {used / MIB:.0f} MiB (zfs used, "
        f"compressed; {size / max(used, 1):.2f}x); bare qemu-img convert "
        f"{int(bare['bytes']) / MIB:.0f} MiB")
    result.report.append(
        f"export: the engine's qemu-img convert {product:.1f}s, a bare one of the same disk "
        f"after it {bare_seconds:.1f}s (ratio {product / bare_seconds:.3f}); phase export "
        f"{result.phases.get('export', 0):.0f}s with read-back, checksum and upload")
    scp = _command_seconds(log, "scp ")
    result.report.append(f"phase seal {result.phases.get('seal', 0):.0f}s (with the initramfs "
                         f"rebuild); the image's scp to 127.0.0.1 {scp:.1f}s")

