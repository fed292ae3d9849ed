"""The distribution boundary: adding a distribution is adding one module under
backend/distros/ and touching nothing else.

A throwaway Alpine backend is written as a module into a directory added to the
distros package's path (what dropping a file into backend/distros/ does), found
by the same scan that finds Debian's, and an install is planned with it through
the engine: its commands are in the plan, and nothing Debian's is.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from textwrap import dedent

import pytest

import kldload_tui.backend.distros as distros
from kldload_tui.backend.answers.file import parse_answers
from kldload_tui.backend.answers.model import Answers, Distro
from kldload_tui.backend.distros import (
    UnsupportedDistro,
    backend_classes,
    distro_backend,
    supported_distros,
)
from kldload_tui.backend.distros.debian import DebianBackend
from kldload_tui.backend.engine.core import InstallError, InstallOptions, plan_install
from kldload_tui.backend.machine.model import load_bundled_machine

ALPINE_HOLDS = "#!/bin/sh\n# pins the kernel and ZFS in /etc/apk/world\n"
ALPINE_MODULE = dedent(f'''\
    """Alpine, as a test writes it: apk, OpenRC, mkinitfs."""

    from kldload_tui.backend.answers.model import Distro
    from kldload_tui.backend.distros import DistroBackend
    from kldload_tui.backend.target.files import LIB_DIR, TargetFile


    class AlpineBackend(DistroBackend):
        name = "alpine"
        serves = (Distro.ALPINE,)

        def host_tools(self, ctx):
            return ["apk", "chroot"]

        def zfs_compatibility(self):
            return "openzfs-2.2-linux"

        def check_sources(self, ctx):
            ctx.runner.note("alpine: the repositories answer")

        def bootstrap(self, ctx):
            ctx.run(["apk", "--root", str(ctx.target), "--initdb", "add", "alpine-base",
                     "linux-lts", "zfs", "zfs-lts"])
            ctx.kernel_version = "lts"

        def verify_bootstrap(self, ctx):
            pass

        def configure(self, ctx):
            ctx.write_files([TargetFile("etc/hostname", ctx.answers.hostname + "\\n")])
            ctx.chroot(["rc-update", "add", "zfs-import", "sysinit"])

        def verify_configure(self, ctx):
            pass

        def initramfs(self, ctx):
            ctx.chroot(["mkinitfs", "-F", "base zfs", "lts"])

        def verify_initramfs(self, ctx):
            pass

        def rebuild_initramfs(self, ctx):
            self.initramfs(ctx)

        def initramfs_files(self, ctx):
            return []

        def boot_files(self, ctx):
            return "/boot/vmlinuz-lts", "/boot/initramfs-lts"

        def held_packages(self, ctx):
            return ["linux-lts", "zfs-lts"]

        def hold_files(self):
            return [TargetFile(LIB_DIR + "/package-holds", {ALPINE_HOLDS!r}, 0o755)]
''')
# What only Debian's backend does: its tools, files and names.
DEBIAN_MARKS = ("debian", "debootstrap", "dpkg", "update-initramfs", "lsinitramfs",
                "initramfs-tools", "initrd.img", "policy-rc.d", "linux-image", "zfs-dkms")
APT = re.compile(r"(?<![a-z])apt(?![a-z])")


def _answers(distro: str) -> Answers:
    result = parse_answers(f"KLDLOAD_DISTRO={distro}\nKLDLOAD_DISK=/dev/vda\n"
                           "KLDLOAD_HOSTNAME=edge-01\nKLDLOAD_PASSWORD='unit-Pass-2026'\n")
    assert result.answers is not None, [p.render() for p in result.errors]
    return result.answers


@contextmanager
def _drop_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, modules: dict[str, str]
             ) -> Iterator[None]:
    """`modules` (name -> source) as if they were files in backend/distros/."""
    extra = tmp_path / "distros-extra"
    extra.mkdir()
    for name, source in modules.items():
        (extra / f"{name}.py").write_text(source)
    importlib.invalidate_caches()
    monkeypatch.setattr(distros, "__path__", [*distros.__path__, str(extra)])
    try:
        yield
    finally:
        for name in modules:
            sys.modules.pop(f"{distros.__name__}.{name}", None)
            if hasattr(distros, name):
                delattr(distros, name)


def _hide(monkeypatch: pytest.MonkeyPatch, *hidden: Distro) -> None:
    """Make `hidden` unserved for one test, as if their modules were not there: every
    distribution of the seed has a module now, and these tests need one without."""
    for distro in hidden:
        cls = backend_classes().get(distro)
        if cls is not None:
            monkeypatch.setattr(cls, "serves", tuple(d for d in cls.serves if d is not distro))


@pytest.fixture
def alpine_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    _hide(monkeypatch, Distro.ALPINE)
    with _drop_in(tmp_path, monkeypatch, {"throwaway_alpine": ALPINE_MODULE}):
        yield


def test_debian_is_served_by_its_module():
    served = backend_classes()
    assert served[Distro.DEBIAN] is DebianBackend
    assert all(cls.__module__.startswith(f"{distros.__name__}.") for cls in served.values())
    assert type(distro_backend(_answers("debian"))) is DebianBackend


def test_a_distribution_no_module_serves_is_refused(monkeypatch):
    _hide(monkeypatch, Distro.ALPINE)
    assert isinstance(distro_backend(_answers("alpine")), UnsupportedDistro)
    with pytest.raises(InstallError, match="cannot install alpine yet"):
        plan_install(_answers("alpine"), load_bundled_machine("one-disk-vm"),
                     options=InstallOptions())


@pytest.mark.usefixtures("alpine_module")
def test_a_module_dropped_into_distros_is_found(monkeypatch):
    _hide(monkeypatch, Distro.RHEL)
    backend = distro_backend(_answers("alpine"))
    assert type(backend).__name__ == "AlpineBackend"
    assert type(backend).__module__ == f"{distros.__name__}.throwaway_alpine"
    # The refusal for the rest lists it among the supported, with no list edited.
    names = supported_distros()
    assert "alpine" in names and "rhel" not in names
    choose = " or ".join(f"KLDLOAD_DISTRO={n}" for n in names)
    with pytest.raises(InstallError, match=re.escape(f"(supported: {', '.join(names)}); "
                                                     f"choose {choose}")):
        plan_install(_answers("rhel"), load_bundled_machine("one-disk-vm"),
                     options=InstallOptions())


@pytest.mark.usefixtures("alpine_module")
def test_an_install_plans_with_the_new_backend_and_nothing_of_debian():
    plan = plan_install(_answers("alpine"), load_bundled_machine("one-disk-vm"),
                        options=InstallOptions()).render_text()
    for line in ("apk --root /mnt/kldload --initdb add alpine-base linux-lts zfs zfs-lts",
                 "chroot /mnt/kldload rc-update add zfs-import sysinit",
                 "chroot /mnt/kldload mkinitfs -F 'base zfs' lts",
                 "zfs create -o canmount=noauto -o mountpoint=/ rpool/ROOT/alpine",
                 "zpool set bootfs=rpool/ROOT/alpine rpool",
                 # The package holds are the backend's script, not apt-mark's.
                 f"write /mnt/kldload/usr/lib/kldload/package-holds (mode 0755, "
                 f"{len(ALPINE_HOLDS.encode())} bytes)"):
        assert line in plan.splitlines(), line
    # The ESPs are the shared tool's, whatever the distribution names its kernels.
    assert any(line.startswith("chroot /mnt/kldload /usr/sbin/kldload-boot init /dev/")
               for line in plan.splitlines())
    lowered = plan.lower()
    assert [m for m in DEBIAN_MARKS if m in lowered] == []
    assert APT.findall(lowered) == []
    assert "kldload-package-holds.service" not in plan


def test_two_modules_for_one_distribution_are_an_error(tmp_path, monkeypatch):
    _hide(monkeypatch, Distro.ALPINE)
    again = ALPINE_MODULE.replace("AlpineBackend", "AnotherAlpine")
    with _drop_in(tmp_path, monkeypatch, {"throwaway_alpine": ALPINE_MODULE,
                                          "throwaway_alpine_again": again}), \
            pytest.raises(RuntimeError, match=r"alpine is served by both .*AlpineBackend and "
                                              r".*AnotherAlpine"):
        backend_classes()
