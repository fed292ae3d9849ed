"""The Fedora backend's bootstrap, run for real against a tiny signed repository,
and its dnf5 holds script run against the real rpm database that bootstrap made.

As tests/integration/test_dnf_bootstrap.py does for EL: every package the
Fedora plan names is made here (empty, but for a kernel image and a zfs.ko
where the checks look), signed with a throwaway key, indexed and served as a
darksite; the backend's own `bootstrap` runs with a real `LocalRunner` (curl,
gpg, `rpm --root --import`, Debian's dnf 4 with --installroot, gpgcheck=1 and
repo_gpgcheck=1), then `verify_bootstrap`. The pins are the test key under the
real pins' file names; a second test keeps Fedora's real pin and shows the
test key refused before anything is imported.

The holds script (dnf5's part) then runs under sh with the real rpm reading
the target's database (its query format included) and a stub `dnf` that
lists locks as dnf5 does (dnf5 is not packaged for Debian). Its query format
is also read by the real rpm from packages with no epoch, epoch 0 and epoch 2,
and its read-back compared with dnf5's listing (epochs, several kernels) under
stubs.

Not proven: anything of Fedora's own packages, dnf5 itself, DKMS building
zfs.ko, a boot. Needs root (dnf --installroot, the API mounts).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from kldload_tui.backend.answers.file import load_answers
from kldload_tui.backend.distros import distro_backend
from kldload_tui.backend.distros.dnf_family import DARKSITE_KEYS
from kldload_tui.backend.distros.fedora import FedoraBackend
from kldload_tui.backend.distros.rpm_keys import RPM_DBPATH, KeyPin
from kldload_tui.backend.engine.core import InstallContext, InstallError
from tests.integration.bootstrap_target import target_context, unmount
from tests.integration.fakeroot import write_files
from tests.integration.rpm_repo import SignedRepo, build_repo, missing_tools, signing_key

ROOT = Path(__file__).resolve().parents[2]
ANSWERS = ROOT / "tests/golden/answers/fedora-server-mirror-kvm.env"
KVER = "6.17.1-300.kltest.fc44.x86_64"
FILES = {
    "kernel-core": {f"/usr/lib/modules/{KVER}/vmlinuz": "not a kernel"},
    # DKMS builds this on a real system; the test package carries it where
    # verify_bootstrap looks.
    "zfs-dkms": {f"/usr/lib/modules/{KVER}/extra/zfs.ko.xz": "not a module"},
}

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: dnf --installroot and mounts"),
    pytest.mark.skipif(bool(missing_tools()), reason=f"missing: {' '.join(missing_tools())}"),
]


@dataclass
class Site:
    repo: SignedRepo
    backend: FedoraBackend
    packages: list[str]


def _fedora() -> FedoraBackend:
    answers = load_answers(ANSWERS).answers
    assert answers is not None
    backend = distro_backend(answers)
    assert isinstance(backend, FedoraBackend)
    return backend


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The darksite: every package the Fedora plan installs, signed."""
    base = tmp_path_factory.mktemp("fedora-site")
    backend = _fedora()
    (base / "probe").mkdir()
    ctx = target_context(base / "probe", backend, None)
    packages = list(dict.fromkeys([
        *backend.BASE_PACKAGES, *backend.VERSIONLOCK_PACKAGES, *backend.KERNEL_PACKAGES,
        *backend.zfs_packages(), *backend.loader_packages(ctx), *backend.optional_packages()]))
    with signing_key(base) as (env, fpr):
        repo = build_repo(base, packages, FILES, env, fpr)
    keys = repo.path / DARKSITE_KEYS
    keys.mkdir()
    for pin in backend.key_pins():
        shutil.copy(repo.key_file, keys / pin.file)
    yield Site(repo, backend, packages)


def _bootstrapped(site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                  ) -> tuple[FedoraBackend, InstallContext]:
    backend = FedoraBackend(site.backend.answers)
    pins: list[KeyPin] = [replace(p, fingerprint=site.repo.fingerprint)
                          for p in backend.key_pins()]
    monkeypatch.setattr(backend, "key_pins", lambda: pins)
    ctx = target_context(tmp_path, backend, site.repo.path)
    try:
        backend.bootstrap(ctx)
    finally:
        unmount(ctx)
    return backend, ctx


def _rpm_q(target: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["rpm", "--root", str(target), "--dbpath", RPM_DBPATH, "-q", *args],
                          capture_output=True, text=True, check=False)


def test_the_plans_own_bootstrap_installs_every_package_signed(
        site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend, ctx = _bootstrapped(site, tmp_path, monkeypatch)
    backend.verify_bootstrap(ctx)
    assert ctx.kernel_version == KVER
    # The plan's names, as the plan has them: dnf5 for the holds, DKMS, both loaders.
    assert "dnf5" in site.packages and "python3-dnf-plugin-versionlock" not in site.packages
    assert {"zfs-dkms", "kernel-devel", "systemd-boot-unsigned", "grub2-pc"} <= set(
        site.packages)
    out = _rpm_q(ctx.target, "--qf", "%{NAME} %{SIGPGP:pgpsig}%{RSAHEADER:pgpsig}\n",
                 *site.packages)
    assert out.returncode == 0, out.stdout + out.stderr
    rows = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    assert sorted(rows) == sorted(site.packages)
    short = site.repo.fingerprint[-16:].lower()
    assert all(short in sig for sig in rows.values()), rows
    assert not (ctx.target / "var/lib/kldload/bootstrap").exists()


def test_fedoras_real_pin_refuses_the_test_key_before_import(site: Site, tmp_path: Path
                                                              ) -> None:
    backend = FedoraBackend(site.backend.answers)
    ctx = target_context(tmp_path, backend, site.repo.path)
    with pytest.raises(InstallError, match="not the pinned 36F612DCF27F7D1A48A835E4DBFCF71C6D9F"):
        backend.bootstrap(ctx)
    unmount(ctx)
    assert "is not installed" in _rpm_q(ctx.target, "gpg-pubkey").stdout
    assert not (ctx.target / "usr").exists()


# dnf5 as far as the holds script asks it: `versionlock add` locks each installed
# version (read from the target's rpm database) as an entry of its own, `versionlock
# list` prints them as dnf5's VersionlockPackage::to_string does. STUB_FORGET
# leaves a package's entries out of the listing.
DNF5_STUB = f"""#!{sys.executable}
import os, subprocess, sys
from pathlib import Path
state = Path(os.environ["STUB_STATE"])
args = [a for a in sys.argv[1:] if not a.startswith("-")]
entries = state.read_text().splitlines() if state.exists() else []
if args[:2] == ["versionlock", "add"]:
    for name in args[2:]:
        out = subprocess.run(["rpm", "-q", "--qf", "%{{EVR}}\\\\n", name],
                             capture_output=True, text=True)
        if out.returncode:
            print('No package found for "' + name + '".', file=sys.stderr)
            continue
        for evr in out.stdout.split():
            if name + " " + evr not in entries:
                entries.append(name + " " + evr)
                print('Adding versionlock on "' + name + " = " + evr + '".')
    state.write_text("".join(e + "\\n" for e in entries))
elif args[:2] == ["versionlock", "list"]:
    forget = os.environ.get("STUB_FORGET", "")
    shown = [e.split() for e in entries if e.split()[0] != forget]
    print("\\n\\n".join("# Added by 'versionlock add' command on 2026-12-03 07:00:00\\n"
                        "Package name: " + n + "\\nevr = " + evr for n, evr in shown))
"""


def _holds_host(tmp_path: Path, target: Path, held: list[str]) -> dict[str, str]:
    """The dnf5 holds script in a fake root; rpm is the real one on `target`'s database."""
    root = tmp_path / "holds-root"
    bin_dir = tmp_path / "holds-bin"
    bin_dir.mkdir()
    write_files(root, _fedora().hold_files())
    (root / "etc/kldload").mkdir(parents=True)
    (root / "etc/kldload/held-packages").write_text("\n".join(held) + "\n")
    rpm = bin_dir / "rpm"
    rpm.write_text(f"#!/bin/sh\nexec {shutil.which('rpm')} --root {target} "
                   f"--dbpath {RPM_DBPATH} \"$@\"\n")
    dnf = bin_dir / "dnf"
    dnf.write_text(DNF5_STUB)
    for tool in (rpm, dnf):
        tool.chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "KLDLOAD_ROOT": str(root),
            "STUB_STATE": str(tmp_path / "locks"), "LC_ALL": "C"}


def _run_holds(env: dict[str, str], **extra: str) -> subprocess.CompletedProcess[str]:
    script = Path(env["KLDLOAD_ROOT"]) / "usr/lib/kldload/package-holds"
    return subprocess.run(["sh", str(script)], env={**env, **extra}, capture_output=True,
                          text=True, timeout=60, check=False)


def test_the_dnf5_holds_lock_and_read_back_against_the_real_rpm_database(
        site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, ctx = _bootstrapped(site, tmp_path, monkeypatch)
    held = ["kernel", "kernel-core", "zfs-dkms", "zfs"]
    env = _holds_host(tmp_path, ctx.target, held)
    r = _run_holds(env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"held: {' '.join(held)}" in r.stdout
    assert Path(env["STUB_STATE"]).read_text().split("\n")[:-1] == [f"{p} 1-1" for p in held]
    # A lock missing from dnf5's listing is told, with the version rpm has.
    r = _run_holds(env, STUB_FORGET="zfs-dkms")
    assert r.returncode == 1
    assert "FAILED: not locked after dnf versionlock add: zfs-dkms-1-1" in r.stdout
    # dnf5's `add` passes over a name it cannot find; the read-back does not.
    (Path(env["KLDLOAD_ROOT"]) / "etc/kldload/held-packages").write_text("zfs\nnot-there\n")
    r = _run_holds(env)
    assert r.returncode == 1 and "not locked after dnf versionlock add: not-there" in r.stdout


def test_the_dnf5_holds_script_passes_shellcheck(tmp_path: Path) -> None:
    # Needs no root or repository: shellcheck is in scripts/setup's packages.
    script = tmp_path / "package-holds"
    script.write_text(_fedora().hold_files()[0].content)
    r = subprocess.run(["shellcheck", "--shell=sh", str(script)], capture_output=True,
                       text=True, check=False)
    assert r.returncode == 0, r.stdout


def _script_query_format() -> str:
    """The rpm query format the dnf5 holds script reads installed versions with."""
    script = _fedora().hold_files()[0].content
    start = script.index("rpm -q --qf '") + len("rpm -q --qf '")
    return script[start:script.index("'", start)]


@pytest.mark.parametrize(("epoch", "shown"), [("", "epochless=1-1"), ("0", "zero=0:1-1"),
                                              ("2", "two=2:1-1")])
def test_the_scripts_query_format_is_read_by_the_real_rpm(tmp_path: Path, epoch: str,
                                                          shown: str) -> None:
    name = shown.split("=")[0]
    spec = tmp_path / "e.spec"
    spec.write_text(f"Name: {name}\nVersion: 1\nRelease: 1\n"
                    + (f"Epoch: {epoch}\n" if epoch else "")
                    + "Summary: t\nLicense: MIT\nBuildArch: noarch\n%description\nt\n"
                      "%files\n")
    subprocess.run(["rpmbuild", "--quiet", "--define", f"_topdir {tmp_path / 'top'}",
                    "--define", f"_rpmdir {tmp_path}", "-bb", str(spec)], check=True,
                   capture_output=True)
    package = next(tmp_path.rglob("*.rpm"))
    out = subprocess.run(["rpm", "-qp", "--qf", _script_query_format(), str(package)],
                         capture_output=True, text=True, check=True).stdout
    assert out == shown + "\n"


def _stub_host(tmp_path: Path, installed: str, listing: str) -> dict[str, str]:
    """The dnf5 holds script with rpm printing `installed` (the script's query
    format) and dnf listing `listing` (dnf5's format)."""
    root = tmp_path / "root"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    write_files(root, _fedora().hold_files())
    (root / "etc/kldload").mkdir(parents=True)
    names = sorted({line.split("=")[0] for line in installed.split()})
    (root / "etc/kldload/held-packages").write_text("\n".join(names) + "\n")
    (tmp_path / "installed").write_text(installed)
    (tmp_path / "listing").write_text(listing)
    (bin_dir / "rpm").write_text(f"#!/bin/sh\ngrep \"^$4=\" {tmp_path / 'installed'}\n")
    (bin_dir / "dnf").write_text(f"#!/bin/sh\ncase \"$*\" in *list*) cat {tmp_path / 'listing'}"
                                 " ;; esac\n")
    for tool in ("rpm", "dnf"):
        (bin_dir / tool).chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "KLDLOAD_ROOT": str(root), "LC_ALL": "C"}


LISTING = """\
# Added by 'versionlock add' command on 2026-12-03 07:00:00
Package name: grub2-pc
evr = 1:2.12-30.fc44

# Added by 'versionlock add' command on 2026-12-03 07:00:00
Package name: zfs
evr = 2.4.1-1.fc44

Package name: kernel
evr = 6.17.1-300.fc44

Package name: kernel
evr = 6.17.4-300.fc44
"""


def test_dnf5_locks_match_rpms_versions_whatever_the_epoch(tmp_path: Path) -> None:
    # rpm prints an epoch of 0 when the header has one; dnf5 never does.
    installed = ("grub2-pc=1:2.12-30.fc44\nzfs=0:2.4.1-1.fc44\n"
                 "kernel=6.17.1-300.fc44\nkernel=6.17.4-300.fc44\n")
    r = _run_holds(_stub_host(tmp_path / "ok", installed, LISTING))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "held: grub2-pc kernel zfs" in r.stdout
    # A second kernel installed since, not locked: named with its version.
    r = _run_holds(_stub_host(tmp_path / "new-kernel", installed + "kernel=6.18.0-200.fc44\n",
                              LISTING))
    assert r.returncode == 1
    assert "not locked after dnf versionlock add: kernel-6.18.0-200.fc44" in r.stdout
    # Another epoch is another version.
    r = _run_holds(_stub_host(tmp_path / "epoch", installed.replace("1:2.12", "2:2.12"),
                              LISTING))
    assert r.returncode == 1 and "grub2-pc-2:2.12-30.fc44" in r.stdout
