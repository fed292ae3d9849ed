"""`iso build` in order: each step timed, each artefact reused while its inputs hold.

Steps: mirror (read the kernel and ZFS versions the mirror offers), zfs-module,
live-base, wheels, darksite (when asked), live (venv, units, squashfs, GRUB and
the ISO) and output (the ISO and pxe/ in --out). A rebuild with nothing changed
reads the mirror's indexes and links the cached files: seconds.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kldload_tui import __version__
from kldload_tui.backend.engine.live_medium import DARKSITE_KEYRING
from kldload_tui.backend.engine.runner import LocalRunner, Runner
from kldload_tui.backend.export.formats import sha256_file
from kldload_tui.backend.iso import boot, liveroot, pxe
from kldload_tui.backend.iso.aptsrc import (
    KernelInfo,
    PrivateApt,
    Source,
    build_sources,
    host_sources,
    kernel_info,
    live_sources,
)
from kldload_tui.backend.iso.cache import BuildCache, remove_tree, timestamp
from kldload_tui.backend.iso.chroot import chroot_mounts
from kldload_tui.backend.iso.darksite import KEYRING_NAME, build_darksite
from kldload_tui.backend.iso.inputs import (
    IsoOptions,
    code_digest,
    darksite_packages,
    live_packages,
    tree_digest,
    tree_files,
    wheel_digest,
)
from kldload_tui.backend.iso.zfsmod import build_module

Say = Callable[[str], None]


class BuildRefused(Exception):
    """The build cannot go on for a reason the operator can fix (said in the message)."""


@dataclass
class StepTime:
    """How long one step took, and whether its artefact came from the cache."""

    name: str
    seconds: float
    cached: bool


@dataclass
class Summary:
    """What a build made, for people (`render`) and machines (`to_json`)."""

    iso: Path
    iso_bytes: int
    sha256: str
    squashfs_bytes: int
    kernel: str
    zfs: str
    packages: int
    darksite_packages: int
    kldload_tui: str
    pxe: list[str]
    steps: list[StepTime] = field(default_factory=list)

    def render(self) -> str:
        """The closing lines of a build."""
        lines = [
            f"ISO       {self.iso} ({self.iso_bytes / 2**20:.0f} MiB)",
            f"SHA-256   {self.sha256}",
            f"squashfs  {self.squashfs_bytes / 2**20:.0f} MiB (zstd)",
            f"kernel    {self.kernel}",
            f"ZFS       {self.zfs}",
            f"packages  {self.packages} in the live root"
            + (f", {self.darksite_packages} in the darksite" if self.darksite_packages else ""),
            f"installer {self.kldload_tui}",
            f"PXE       {self.iso.parent / 'pxe'}: {', '.join(self.pxe)}",
            "steps     " + ", ".join(
                f"{s.name} {s.seconds:.0f}s{' (cached)' if s.cached else ''}"
                for s in self.steps),
            f"total     {sum(s.seconds for s in self.steps):.0f}s",
            # Said at every build, so nobody meets it first at a server's console.
            "note      Secure Boot: GRUB and zfs.ko are unsigned; boot with Secure Boot off "
            "(docs/iso.md)",
        ]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """The summary as JSON-ready data."""
        data = asdict(self)
        data["iso"] = str(self.iso)
        return data


class IsoBuild:
    """One build: options, runner, cache, progress."""

    def __init__(self, options: IsoOptions, runner: Runner, say: Say) -> None:
        self.o = options
        self.runner = runner
        self.say = say
        self.cache = BuildCache(options.cache)
        self.steps: list[StepTime] = []

    @contextmanager
    def step(self, name: str) -> Iterator[list[bool]]:
        """Time a step; the caller sets `flag[0] = True` when it came from the cache."""
        self.say(f"{name}: ...")
        self.runner.current_phase = name
        flag = [False]
        began = time.monotonic()
        yield flag
        seconds = time.monotonic() - began
        self.steps.append(StepTime(name, round(seconds, 1), flag[0]))
        self.say(f"{name}: {'reused' if flag[0] else 'done'} in {seconds:.0f}s")

    # -- the steps -----------------------------------------------------------

    def run(self) -> Summary:
        """Every step in order; the summary at the end."""
        with self.step("mirror"):
            sources = build_sources(self.o.suite, host_sources())
            apt = PrivateApt(self.o.cache / "apt" / self.o.suite, sources, self.runner)
            apt.update()
            kernel = kernel_info(apt)
            self.say(f"mirror: {sources[0].uri} {self.o.suite}; kernel {kernel.kver}, "
                     f"ZFS {kernel.zfs_version}")
        lines = [s.line() for s in sources]
        with self.step("zfs-module") as cached:
            zfs_entry, built = ensure_zfs_module(self.cache, sources, kernel, self.runner,
                                                 self.say)
            cached[0] = not built
            module_deb = next(zfs_entry.glob("*.deb"))
        with self.step("live-base") as cached:
            base_sources = live_sources(sources)
            base_inputs = {"zfs": zfs_entry.name,
                           "sources": [s.line() for s in base_sources], "kernel": asdict(kernel),
                           "packages": list(live_packages()),
                           "code": code_digest("liveroot.py", "zfsmod.py", "chroot.py")}
            base, built = self.cache.ensure(
                "live-base", base_inputs,
                lambda out: self._base(out, base_sources, kernel, module_deb))
            cached[0] = not built
            base_info = json.loads((base / "info.json").read_text())
        with self.step("wheels") as cached:
            wheels, built = self._wheels(base_info.get("python", ""))
            cached[0] = not built
        darksite: Path | None = None
        if self.o.darksite:
            with self.step("darksite") as cached:
                wanted = darksite_packages(self.o.profiles, self.o.features)
                ds_inputs = {"zfs": zfs_entry.name, "sources": lines, "packages": wanted,
                             "kernel": asdict(kernel), "code": code_digest("darksite.py")}
                darksite, built = self.cache.ensure(
                    "darksite", ds_inputs,
                    lambda out: self._darksite(out, sources, kernel, module_deb, wanted))
                cached[0] = not built
        with self.step("live") as cached:
            live_inputs = self.live_inputs(base.name, wheels.name,
                                           darksite.name if darksite else None)
            squash, built = self.cache.ensure(
                "squashfs", live_inputs, lambda out: self._live(out, base, wheels, darksite))
            cached[0] = not built
        with self.step("iso") as cached:
            # Its own level: a change to the menu or the image costs seconds, not a squashfs.
            iso_inputs = self.iso_inputs(squash.name, darksite.name if darksite else None)
            live, built = self.cache.ensure(
                "iso", iso_inputs, lambda out: self._assemble(out, squash, base, darksite))
            cached[0] = not built
        with self.step("output"):
            summary = self._output(live, darksite)
        summary.steps = list(self.steps)
        (self.o.out / "summary.json").write_text(
            json.dumps(summary.to_json(), indent=2) + "\n")
        return summary

    def live_inputs(self, base: str, wheels: str, darksite: str | None) -> dict[str, object]:
        """The squashfs's key: the base, kldload-tui, the darksite (whose key the live
        root carries), and how it is packed."""
        return {
            "base": base, "wheels": wheels, "darksite": darksite, "suite": self.o.suite,
            "version": __version__,
            "zstd": self.o.zstd_level, "code": code_digest("liveroot.py", "livessh.py",
                                                           "templates"),
        }

    def iso_inputs(self, squashfs: str, darksite: str | None) -> dict[str, object]:
        """The ISO's key: the squashfs, the darksite (and the profiles and features
        it serves), the menu and the code that assembles them."""
        return {
            "squashfs": squashfs, "darksite": darksite, "darksite_flag": self.o.darksite,
            "profiles": [p.value for p in self.o.profiles], "features": list(self.o.features),
            "cmdline": list(self.o.extra_cmdline),
            "code": code_digest("boot.py", "pxe.py", "build.py"),
        }

    def _base(self, out: Path, sources: list[Source], kernel: KernelInfo,
              module_deb: Path) -> None:
        self.say(f"live-base: mmdebstrap {len(live_packages())} packages and their "
                 "dependencies, then the ZFS module")
        liveroot.build_base(out, sources, kernel, module_deb, self.runner)

    def _wheels(self, live_python: str) -> tuple[Path, bool]:
        """kldload-tui's wheel and its dependencies' wheels for the live root's Python."""
        here = f"{sys.version_info.major}.{sys.version_info.minor}"
        if live_python and live_python != here:
            raise BuildRefused(
                f"the live root's Python is {live_python}, this kldload-tui runs on {here}: "
                "wheels built here would not install there; build the ISO on a machine of "
                f"the same Debian release as --suite {self.o.suite}")
        if self.o.wheel is not None:
            source_id = "wheel:" + wheel_digest(self.o.wheel)
        elif self.o.source is not None:
            source_id = "tree:" + tree_digest(self.o.source)
        else:
            raise BuildRefused("kldload-tui does not run from a working tree here: "
                               "give --wheel FILE")
        inputs = {"python": here, "source": source_id, "code": code_digest("build.py")}
        return self.cache.ensure("wheels", inputs, self._make_wheels)

    def _make_wheels(self, out: Path) -> None:
        pip = [sys.executable, "-m", "pip"]
        if self.o.wheel is not None:
            shutil.copy2(self.o.wheel, out / self.o.wheel.name)
            project = out / self.o.wheel.name
        else:
            assert self.o.source is not None
            src = out / ".src"
            for path in tree_files(self.o.source, ("kldload_tui", "backend", "screens",
                                                   "pyproject.toml", "README.md")):
                dest = src / path.relative_to(self.o.source)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest)
            for link in ("backend", "screens"):  # the package's symlinks into the tree
                (src / "kldload_tui" / link).symlink_to(f"../{link}")
            self.runner.run([*pip, "wheel", "-q", "--no-deps", "--wheel-dir", str(out),
                             str(src)])
            shutil.rmtree(src)
            project = next(out.glob("kldload_tui-*.whl"))
        self.runner.run([*pip, "wheel", "-q", "--wheel-dir", str(out),
                         *requirements(project)])

    def _darksite(self, out: Path, sources: list[Source], kernel: KernelInfo,
                  module_deb: Path, wanted: list[str]) -> None:
        self.say(f"darksite: resolving and downloading {len(wanted)} packages with their "
                 "dependencies")
        build_darksite(out, sources, kernel, module_deb, wanted,
                       self.o.cache / "apt" / f"{self.o.suite}-darksite",
                       self.o.cache / "debs", self.runner)

    def _live(self, out: Path, base: Path, wheels: Path, darksite: Path | None) -> None:
        layers = out / ".layers"
        upper, work, merged = layers / "upper", layers / "work", layers / "merged"
        for d in (upper, work, merged):
            d.mkdir(parents=True, exist_ok=True)
        self.runner.run(["mount", "-t", "overlay", "overlay", "-o",
                         f"lowerdir={base / 'root'},upperdir={upper},workdir={work}",
                         str(merged)])
        try:
            version = liveroot.install_venv(merged, wheels, self.runner)
            self.say(f"live: {version} in the live root; its units and files")
            with chroot_mounts(merged, self.runner):
                liveroot.configure(merged, self.runner, f"{version} {self.o.suite}")
            if darksite is not None:
                # What the engine checks the medium's darksite against.
                key = merged / DARKSITE_KEYRING.relative_to("/")
                key.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(darksite / KEYRING_NAME, key)
                key.chmod(0o644)
            self.say(f"live: squashfs, zstd level {self.o.zstd_level}")
            self.runner.run(liveroot.squashfs_argv(merged, out / "filesystem.squashfs",
                                                   self.o.zstd_level))
        finally:
            self.runner.run(["umount", str(merged)], check=False)
        remove_tree(layers)
        info = json.loads((base / "info.json").read_text())
        info.update(kldload_tui=version, packages=count_packages(base / "root"),
                    darksite_packages=_darksite_count(darksite))
        (out / "info.json").write_text(json.dumps(info, indent=2) + "\n")

    def iso_name(self) -> str:
        """kldload-<suite>-<version>.iso"""
        return f"kldload-{self.o.suite}-{__version__}.iso"

    def _assemble(self, out: Path, squash: Path, base: Path, darksite: Path | None) -> None:
        info = json.loads((squash / "info.json").read_text())
        tree = out / "tree"
        live_dir = tree / boot.LIVE_DIR
        live_dir.mkdir(parents=True, exist_ok=True)
        for name in ("vmlinuz", "initrd.img"):
            shutil.copy2(base / name, out / name)  # pxe/ takes them from here
            shutil.copy2(base / name, live_dir / name)
        (out / "filesystem.squashfs").hardlink_to(squash / "filesystem.squashfs")
        (live_dir / "filesystem.squashfs").hardlink_to(squash / "filesystem.squashfs")
        marker = f"/.disk/kldload-{out.name.removeprefix('.tmp-').split('-')[0]}"
        title = f"kldload live {__version__} ({self.o.suite}, kernel {info['kver']})"
        self.runner.write_file(tree / ".disk/info", boot.disk_info(__version__, self.o.suite,
                                                                   timestamp()))
        self.runner.write_file(tree / marker.lstrip("/"), title + "\n")
        entries = boot.menu_entries(self.o.extra_cmdline)
        self.runner.write_file(tree / "boot/grub/grub.cfg", boot.grub_cfg(title, entries))
        early = out / "early.cfg"
        self.runner.write_file(early, boot.early_cfg(marker))
        (tree / "boot/grub/i386-pc").mkdir(parents=True, exist_ok=True)
        self.runner.run(boot.grub_bios_argv(tree / "boot/grub/i386-pc/eltorito.img", early))
        efi = tree / "EFI/BOOT/BOOTX64.EFI"
        efi.parent.mkdir(parents=True, exist_ok=True)
        self.runner.run(boot.grub_efi_argv(efi, early))
        esp = out / "efi.img"
        for argv in boot.esp_argvs(esp, efi, boot.esp_kib(efi.stat().st_size)):
            self.runner.run(argv)
        if darksite is not None:
            # Hard links: the repository is not copied, only named twice.
            self.runner.run(["cp", "-al", "--", str(darksite / "repo"), str(tree / "darksite")])
        iso = out / self.iso_name()
        self.say(f"live: xorriso {iso.name}")
        self.runner.run(boot.xorriso_argv(tree, iso, esp, self.o.suite))
        remove_tree(tree)
        (out / "pxe-title").write_text(title + "\n")
        (out / "info.json").write_text(json.dumps(info, indent=2) + "\n")

    def _output(self, live: Path, darksite: Path | None) -> Summary:
        self.o.out.mkdir(parents=True, exist_ok=True)
        iso = live / self.iso_name()
        dest = self.o.out / iso.name
        _link_or_copy(iso, dest)
        info = json.loads((live / "info.json").read_text())
        if "sha256" not in info:
            info["sha256"] = sha256_file(iso)  # once per artefact: hashing 1 GB takes seconds
            (live / "info.json").write_text(json.dumps(info, indent=2) + "\n")
        title = (live / "pxe-title").read_text().strip()
        written = pxe.write_pxe(self.o.out / "pxe",
                                {n: live / n for n in pxe.ARTEFACTS}, title, self.runner,
                                darksite / "repo" if darksite is not None else None)
        return Summary(iso=dest, iso_bytes=iso.stat().st_size, sha256=info["sha256"],
                       squashfs_bytes=(live / "filesystem.squashfs").stat().st_size,
                       kernel=info["kver"], zfs=info["zfs"], packages=info["packages"],
                       darksite_packages=info["darksite_packages"],
                       kldload_tui=info["kldload_tui"], pxe=written)


def zfs_module_inputs(sources: list[Source], kernel: KernelInfo) -> dict[str, object]:
    """The key of a zfs-module entry: what the DKMS build depends on."""
    return {"suite": sources[0].suite, "sources": [s.line() for s in sources],
            "kernel": asdict(kernel), "code": code_digest("zfsmod.py", "chroot.py")}


def ensure_zfs_module(cache: BuildCache, sources: list[Source], kernel: KernelInfo,
                      runner: Runner, say: Say) -> tuple[Path, bool]:
    """The cache entry holding `zfs-modules-<kver>`, built by DKMS when missing:
    (entry, built). The e2e harness's stand-in live system takes its module from
    here too, so one DKMS build serves both."""
    def build(out: Path) -> None:
        say(f"zfs-module: DKMS builds zfs {kernel.zfs_upstream} for {kernel.kver} "
            "in a chroot (a few minutes)")
        build_module(out, sources, kernel, runner)

    return cache.ensure("zfs-module", zfs_module_inputs(sources, kernel), build)


def build_iso(options: IsoOptions, say: Say) -> Summary:
    """Build for real, every command logged to `--out`/build.log; the summary.

    The one place a front end's `iso build` gets its runner, as installs get
    theirs from the launcher.
    """
    options.out.mkdir(parents=True, exist_ok=True)
    options.cache.mkdir(parents=True, exist_ok=True)
    with LocalRunner(log_path=options.out / "build.log") as runner:
        return IsoBuild(options, runner, say).run()


def requirements(wheel: Path) -> list[str]:
    """The Requires-Dist lines of a wheel without extras (what pip must fetch)."""
    with zipfile.ZipFile(wheel) as archive:
        meta = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(meta).decode("utf-8")
    reqs = [line.split(":", 1)[1].strip() for line in text.splitlines()
            if line.startswith("Requires-Dist:")]
    return [r for r in reqs if "extra ==" not in r]


def count_packages(root: Path) -> int:
    """Packages installed in a root, from dpkg's status file."""
    status = root / "var/lib/dpkg/status"
    if not status.is_file():
        return 0
    return status.read_text(errors="replace").count("Status: install ok installed")


def _darksite_count(darksite: Path | None) -> int:
    if darksite is None:
        return 0
    manifest = json.loads((darksite / "repo/manifest.json").read_text())
    return len(manifest["packages"])


def _link_or_copy(src: Path, dest: Path) -> None:
    dest.unlink(missing_ok=True)
    try:
        dest.hardlink_to(src)
    except OSError:
        shutil.copy2(src, dest)
