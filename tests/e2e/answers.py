"""The install layouts' answers, and seed disks made from them by ``kldload-tui seed make``.

Each layout is what a user would put on a seed: the distribution from the darksite,
by-id disk names (the live guest's virtio serials), an SSH key, and two documented
options chosen for emulation: ``KLDLOAD_INITRAMFS_MODULES=dep`` (only this machine's
drivers: the initramfs is built in a fraction of the time, docs/answers.md), and the
finish action: ``poweroff`` from the live ISO, as on a machine; ``none`` from the live
stand-in, which powers the guest off itself after it has printed the exit status and
saved the logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tests.e2e import cache
from tests.e2e.sh import run

# A throw-away key (no private half exists anywhere): authorised for the admin user.
SSH_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILN0whhzPJXkgKWfGjtQmn1pIoK0FhWBWGYIxKOdPqX9 "
           "kldload-e2e")
DEFAULT_PASSWORD = "admin"  # the answers' default: expired, so the first login changes it
NEW_PASSWORD = "e2e-Changed-4-good"
SEED_SERIAL = "kldload-seed"


@dataclass(frozen=True)
class StaticNet:
    """Static addressing on QEMU's user network (10.0.2.0/24; QEMU is .2 and its
    DNS .3), at an address its DHCP would never hand out, so the installed
    system's address proves the answers were applied."""

    iface: str
    address: str
    prefix: int
    gateway: str
    dns: str

    def answers(self) -> list[str]:
        return ["KLDLOAD_NET_METHOD=static", f"KLDLOAD_NET_IFACE={self.iface}",
                f"KLDLOAD_NET_IP={self.address}", f"KLDLOAD_NET_PREFIX={self.prefix}",
                f"KLDLOAD_NET_GW={self.gateway}", f"KLDLOAD_NET_DNS={self.dns}"]


@dataclass(frozen=True)
class InstallSpec:
    """One install layout: what its answers ask for and how the seed is made."""

    name: str
    disks: int = 1
    topology: str = "single"
    profile: str = "server"
    password: str | None = None  # None: the default password (expired at first login)
    passphrase: str | None = None  # native encryption, typed at the boot prompt
    iso_seed: bool = False  # seed make --iso (ISO9660) instead of a FAT image
    missing_disk: bool = False  # answers name a disk that does not exist: refused
    # The live stand-in's firmware: OVMF (its NVRAM then gets the installer's EFI boot
    # entries) or QEMU's default SeaBIOS (legacy BIOS, no EFI variables).
    live_firmware: Literal["uefi", "bios"] = "uefi"
    # How the ISO is attached: a CD, or the hybrid image as a USB stick.
    live_medium: Literal["cd", "usb"] = "cd"
    # More answers lines, as a user would add them (the golden layout's export).
    extra_answers: tuple[str, ...] = ()
    # dep: only this machine's drivers (fast under emulation); an exported image
    # must have `most`, which validation insists on.
    initramfs_modules: str = "dep"
    # None: DHCP on every wired interface (the default).
    static: StaticNet | None = None
    # Features switched on (answers' flag names, e.g. wireguard); the darksite must
    # serve them (packages.E2E_FEATURES).
    features: tuple[str, ...] = ()

    @property
    def hostname(self) -> str:
        return f"e2e-{self.name}"

    @property
    def serials(self) -> list[str]:
        """Virtio serials of the blank target disks."""
        return [f"target{i}" for i in range(self.disks)]

    @property
    def login_password(self) -> str:
        return self.password or DEFAULT_PASSWORD

    def secrets(self) -> list[str]:
        """Values that must appear nowhere in the installed system's kldload files."""
        return [s for s in (self.password, self.passphrase) if s]


def by_id(serial: str) -> str:
    return f"/dev/disk/by-id/virtio-{serial}"


def answers_text(spec: InstallSpec, suite: str, finish: str = "none") -> str:
    """The answers.env of a layout (parsed by the product, never executed)."""
    disks = [by_id(s) for s in spec.serials]
    root = by_id("not-attached") if spec.missing_disk else disks[0]
    lines = [
        f"# kldload-tui e2e layout {spec.name} (tests/e2e/answers.py)",
        "KLDLOAD_DISTRO=debian",
        f"KLDLOAD_DEBIAN_SUITE={suite}",
        f"KLDLOAD_DISK={root}",
        f"KLDLOAD_HOSTNAME={spec.hostname}",
        f"KLDLOAD_PROFILE={spec.profile}",
        f'KLDLOAD_SSH_PUBKEY="{SSH_KEY}"',
        f"KLDLOAD_INITRAMFS_MODULES={spec.initramfs_modules}",
        f"KLDLOAD_FINISH_ACTION={finish}",
    ]
    if spec.topology != "single":
        lines += [f"KLDLOAD_ZFS_TOPOLOGY={spec.topology}",
                  f"KLDLOAD_ZFS_DATA_DISKS='{' '.join(disks[1:])}'"]
    if spec.password:
        lines.append(f"KLDLOAD_PASSWORD='{spec.password}'")
    if spec.passphrase:
        lines += ["KLDLOAD_ZFS_ENCRYPT=1", f"KLDLOAD_ZFS_PASSPHRASE='{spec.passphrase}'"]
    if spec.static:
        lines += spec.static.answers()
    lines += [f"KLDLOAD_{name.upper()}=1" for name in spec.features]
    lines += spec.extra_answers
    return "\n".join(lines) + "\n"


def make_seed(spec: InstallSpec, suite: str, run_dir: Path, log: Path,
              finish: str = "none") -> Path:
    """answers.env and the seed image made from it by the product's own command."""
    answers = run_dir / f"{spec.name}-answers.env"
    answers.write_text(answers_text(spec, suite, finish))
    answers.chmod(0o600)
    image = run_dir / f"{spec.name}-seed.{'iso' if spec.iso_seed else 'img'}"
    argv = [str(cache.REPO / ".venv/bin/kldload-tui"), "seed", "make", "--answers", str(answers),
            "--image", str(image)]
    run([*argv, "--iso"] if spec.iso_seed else argv, log=log)
    return image
