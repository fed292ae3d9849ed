"""The configure, services and manifest phases, run for real in a Debian tree.

Each test mounts a throw-away overlay of a cached debootstrapped bookworm tree
(tests/integration/debian_tree.py) with the API file systems the bootstrap
phase mounts, builds an `InstallContext` with a real `LocalRunner`, and runs
the real `Configure`, `Services` and `Manifest` phases (`run`, then `verify`).
The outcome is then read back independently of the phases' own verify: the
files, modes and owners on disk, and the target's own tools in a chroot
(`visudo -c`, `locale -a`, `systemctl is-enabled`, `wg pubkey`,
`manifest-get`), the password hash checked with libcrypt.

Not run here: kldload-firstboot. In a chroot there is no systemd as PID 1, so
each `systemctl enable --now` it runs enables the unit and then fails to start
it ("System has not been booted with systemd"); the script then reports every
step failed and exits 1 by design, which says nothing about the script. Its
logic is covered against a fake root (test_firstboot_script.py); what only the
real tree can show is covered here: the target's own awk parsing the real
manifest (manifest-get) and the units' [Install] sections enabling in the
target's systemd.

Needs root, debootstrap and the host's Debian mirror for the first build
(about a minute, then cached); skipped otherwise.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from kldload_tui.backend.answers.file import REDACTED, parse_answers
from kldload_tui.backend.answers.model import Answers, Distro, InfraMode, NetMethod
from kldload_tui.backend.answers.rules import WELL_KNOWN_PASSWORDS
from kldload_tui.backend.distros import distro_backend
from kldload_tui.backend.distros.debian_config import POLICY_RC_D
from kldload_tui.backend.engine.core import InstallContext, InstallOptions, Phase
from kldload_tui.backend.engine.events import Event, OutputLine
from kldload_tui.backend.engine.redact import MASK
from kldload_tui.backend.engine.runner import LocalRunner
from kldload_tui.backend.machine.model import load_bundled_machine
from kldload_tui.backend.phases.late import ANSWERS_COPY, Manifest, Services
from kldload_tui.backend.phases.system import Configure
from kldload_tui.backend.target.files import (
    DHCP_NETWORK_PATH,
    HELD_PACKAGES_PATH,
    STATIC_NETWORK_PATH,
    SUDOERS_PATH,
    UNIT_DIR,
)
from kldload_tui.backend.target.manifest import MANIFEST_PATH, read_manifest
from tests.integration.debian_tree import (
    CACHE_ENV,
    DEFAULT_CACHE,
    MARKER,
    DebianTree,
    Overlay,
    TreeUnavailable,
    cache_dir,
    cache_key,
    ensure_tree,
    marker_text,
    mounts_under,
    overlay,
    tree_packages,
    why_unavailable,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "answers-examples"
HOST_KEY_TYPES = ("rsa", "ecdsa", "ed25519")
USER_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILN0whhzPJXkgKWfGjtQmn1pIoK0FhWBWGYIxKOdPqX9 "
            "user@host")
ROOT_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPhjNVuCSu8POtIAA8Twfej5JqcNbTbaXi2ClPN51Cg2 "
            "ops@infra")
BASE = "KLDLOAD_DISTRO=debian\nKLDLOAD_DISK=/dev/sda\nKLDLOAD_HOSTNAME=node-07\n"
STRONG = "KLDLOAD_PASSWORD='Tr0ub4dor-and-three'\n"
# Variants that each pin down one behaviour, whatever the examples hold.
VARIANTS: dict[str, str] = {
    "default-password": BASE,  # "admin": expired at first login
    "strong-password": BASE + STRONG,
    "no-host-keys": BASE + STRONG + "KLDLOAD_GENERATE_SSH_KEY=0\n",
    "wireguard-cluster": BASE + STRONG + "KLDLOAD_WIREGUARD=1\nKLDLOAD_INFRA_MODE=cluster\n"
                         "KLDLOAD_CLUSTER_CIDR=10.20.0.0/24\nKLDLOAD_CLUSTER_DOMAIN=lab.test\n",
    "static-network": BASE + STRONG + "KLDLOAD_NET_METHOD=static\nKLDLOAD_NET_IFACE=enp3s0\n"
                      "KLDLOAD_NET_IP=192.0.2.10\nKLDLOAD_NET_PREFIX=24\n"
                      "KLDLOAD_NET_GW=192.0.2.1\nKLDLOAD_NET_DNS=192.0.2.53,192.0.2.54\n",
    "ssh-keys-user-and-root": BASE + STRONG + f'KLDLOAD_SSH_PUBKEY="{USER_KEY}"\n'
                              f'KLDLOAD_ADMIN_SSH_PUBKEY="{ROOT_KEY}"\n',
    "c-locale": BASE + STRONG + "KLDLOAD_LOCALE=C.UTF-8\nKLDLOAD_TIMEZONE=UTC\n",
}
# Distinctive, so that a hit in a log or file can only be a leak.
PASSWORD = "Pw-7f3a9c1e-kldload-leakcheck"
PASSPHRASE = "Pp-2b8d4e6f-kldload-leakcheck"
SCP_PASSWORD = "Scp-9c0e1a2b-kldload-leakcheck"
LEAK_ANSWERS = (BASE + f"KLDLOAD_PASSWORD='{PASSWORD}'\nKLDLOAD_ZFS_ENCRYPT=1\n"
                f"KLDLOAD_ZFS_PASSPHRASE='{PASSPHRASE}'\nKLDLOAD_EXPORT_FORMAT=qcow2\n"
                "KLDLOAD_INITRAMFS_MODULES=most\nKLDLOAD_EXPORT_SCP_HOST=images.example.org\n"
                f"KLDLOAD_EXPORT_SCP_PASS='{SCP_PASSWORD}'\nKLDLOAD_WIREGUARD=1\n"
                "KLDLOAD_EXPORT_SCP_HOST_KEY=SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s\n"
                f'KLDLOAD_SSH_PUBKEY="{USER_KEY}"\n')
CHROOT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}

F = TypeVar("F", bound=Callable[..., object])


def real_tree(fn: F) -> F:
    """Marks for tests that use the debootstrapped tree (root; slow on the first build)."""
    marked: F = pytest.mark.root(pytest.mark.slow(fn))
    return marked


def _parse(text: str, source: str) -> Answers:
    result = parse_answers(text, source=source)
    assert result.answers is not None, [str(p) for p in result.problems]
    return result.answers


def _cases() -> list[Any]:
    """Every Debian example (others are refused before configure) and every variant."""
    named = [(path.stem, path.read_text()) for path in sorted(EXAMPLES.glob("*.env"))]
    cases = []
    for name, text in [*named, *VARIANTS.items()]:
        answers = parse_answers(text, source=name).answers
        if answers is None or answers.distro is not Distro.DEBIAN:
            continue
        cases.append(pytest.param(text, id=name))
    return cases


# -- fixtures --------------------------------------------------------------------------

@pytest.fixture(scope="session")
def debian_tree(request: pytest.FixtureRequest) -> DebianTree:
    """The cached tree; built on first use (timed), skipped where it cannot be."""
    if os.geteuid() != 0:
        pytest.skip("needs root: chroot and overlay mounts")
    try:
        tree = ensure_tree()  # a build also needs debootstrap and the host's mirror
    except TreeUnavailable as exc:
        pytest.skip(str(exc))
    if tree.built:  # a minute or two once; say where it went
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"built the Debian test tree {tree.entry} in "
                                f"{tree.seconds:.0f}s (reused from now on)")
    return tree


@pytest.fixture
def target(debian_tree: DebianTree, tmp_path: Path) -> Iterator[Overlay]:
    """A writable overlay of the tree at a temporary root, left with no mount behind."""
    where = tmp_path / "overlay"
    try:
        with overlay(debian_tree, where) as view:
            # openssh-server's postinst made host keys while the tree was built;
            # removing them (in the overlay only) makes configure's own
            # ssh-keygen -A the only possible source of the keys checked later.
            for key in (view.root / "etc/ssh").glob("ssh_host_*"):
                key.unlink()
            yield view
    except TreeUnavailable as exc:
        pytest.skip(str(exc))
    assert mounts_under(where) == [], "mounts left under the target"
    assert view.lazily_unmounted == [], (
        f"busy at unmount (a process left running in the chroot?): {view.lazily_unmounted}")


@dataclass
class Install:
    """The context the phases ran with, and what they emitted."""

    ctx: InstallContext
    log: Path
    events: list[Event]


def _install(answers: Answers, target: Overlay, tmp_path: Path, *,
             register_secrets: bool = True, phases: tuple[type[Phase], ...] = (
                 Configure, Services, Manifest)) -> Install:
    """Run `phases` in the target as the engine runs them: `run`, then `verify`."""
    log = tmp_path / "install.log"
    events: list[Event] = []
    runner = LocalRunner(log_path=log, sink=events.append)
    if register_secrets:  # what run_install does before the first phase
        for secret in (answers.password, answers.zfs_passphrase, answers.export_scp_pass):
            if secret.get_secret_value():
                runner.add_secret(secret.get_secret_value())
    options = InstallOptions(target_root=target.root, log_path=log, reprobe=False)
    ctx = InstallContext(answers, load_bundled_machine("one-disk-vm"), runner, options,
                         distro_backend(answers))
    # What the bootstrap phase leaves for configure to remove.
    runner.write_file(ctx.path(POLICY_RC_D), "#!/bin/sh\nexit 101\n", 0o755)
    try:
        for phase in (cls() for cls in phases):
            runner.current_phase = phase.name
            phase.run(ctx)
            phase.verify(ctx)
    finally:
        runner.current_phase = None
        runner.close()
    return Install(ctx, log, events)


# -- independent checks ------------------------------------------------------------------

def chroot(root: Path, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["chroot", str(root), *argv], input=stdin, capture_output=True,
                          text=True, env=CHROOT_ENV, timeout=120, check=False)


def _table(path: Path) -> dict[str, list[str]]:
    """/etc/passwd, /etc/group or /etc/shadow as name -> fields."""
    return {line.split(":")[0]: line.split(":")
            for line in path.read_text().splitlines() if line}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _libcrypt() -> Callable[[str, str], str | None] | None:
    name = ctypes.util.find_library("crypt")
    if name is None:
        return None
    lib = ctypes.CDLL(name)
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]

    def crypt(password: str, setting: str) -> str | None:
        out = lib.crypt(password.encode(), setting.encode())
        return out.decode() if out else None

    return crypt


def check_identity(root: Path, a: Answers) -> None:
    short = a.hostname.split(".", 1)[0]
    assert (root / "etc/hostname").read_text() == f"{short}\n"
    hosts = (root / "etc/hosts").read_text().splitlines()
    assert any(line.startswith("127.0.1.1") and short in line.split()[1:] for line in hosts)
    if "." in a.hostname:
        assert any(a.hostname in line.split()[1:] for line in hosts)

    passwd, group = _table(root / "etc/passwd"), _table(root / "etc/group")
    user = passwd[a.username]
    uid, gid = int(user[2]), int(user[3])
    assert user[5:] == [f"/home/{a.username}", "/bin/bash"]
    home = (root / "home" / a.username).lstat()
    assert (home.st_uid, home.st_gid) == (uid, gid)
    assert a.username in group["sudo"][3].split(",")
    sudoers = root / SUDOERS_PATH
    assert _mode(sudoers) == 0o440
    r = chroot(root, "visudo", "-c")  # the whole sudoers configuration, as sudo reads it
    assert r.returncode == 0, r.stdout + r.stderr

    shadow = _table(root / "etc/shadow")
    hashed, last_change = shadow[a.username][1], shadow[a.username][2]
    password = a.password.get_secret_value()
    assert hashed.startswith("$") and password not in hashed
    crypt = _libcrypt()
    if crypt is not None:
        assert crypt(password, hashed) == hashed, "the hash is not of the answered password"
    if password in WELL_KNOWN_PASSWORDS:
        assert last_change == "0", "a well-known password must be changed at first login"
        r = chroot(root, "chage", "-l", a.username)
        assert "password must be changed" in r.stdout, r.stdout + r.stderr
    else:
        # Days since 1970: chpasswd stamped today (give or take a midnight).
        assert abs(int(last_change) - int(time.time() // 86400)) <= 1
    assert shadow["root"][1].startswith("!"), "root's password must be locked"


def check_ssh(root: Path, a: Answers) -> None:
    uid = int(_table(root / "etc/passwd")[a.username][2])
    for home, key, owner in ((f"home/{a.username}", a.ssh_pubkey, uid),
                             ("root", a.admin_ssh_pubkey, 0)):
        keys = root / home / ".ssh/authorized_keys"
        if not key:
            assert not keys.exists()
            continue
        assert keys.read_text() == key + "\n"
        assert _mode(keys) == 0o600 and keys.lstat().st_uid == owner
        ssh_dir = keys.parent.lstat()
        assert stat.S_IMODE(ssh_dir.st_mode) == 0o700 and ssh_dir.st_uid == owner
    host_keys = sorted(p.name for p in (root / "etc/ssh").glob("ssh_host_*"))
    if a.generate_ssh_key:
        for kind in HOST_KEY_TYPES:
            private = root / f"etc/ssh/ssh_host_{kind}_key"
            assert private.stat().st_size > 0 and _mode(private) == 0o600
            assert (root / f"etc/ssh/ssh_host_{kind}_key.pub").is_file()
    else:
        assert host_keys == []


def check_locale_and_time(root: Path, a: Answers) -> None:
    assert (root / "etc/default/locale").read_text() == f"LANG={a.locale}\n"
    if a.locale not in ("C", "POSIX", "C.UTF-8"):
        r = chroot(root, "locale", "-a")
        assert r.returncode == 0, r.stderr
        # locale -a normalises the charset: de_DE.UTF-8 is listed as de_DE.utf8.
        lang, _, charset = a.locale.partition(".")
        wanted = lang + ("." + charset.lower().replace("-", "") if charset else "")
        assert wanted in r.stdout.split(), r.stdout
    localtime = root / "etc/localtime"
    assert os.readlink(localtime) == f"/usr/share/zoneinfo/{a.timezone}"
    assert (root / "usr/share/zoneinfo" / a.timezone).is_file()  # tzdata has the zone
    assert (root / "etc/timezone").read_text() == f"{a.timezone}\n"
    keyboard = (root / "etc/default/keyboard").read_text()
    assert f'XKBLAYOUT="{a.keyboard_layout}"' in keyboard


def _settings(path: Path) -> list[tuple[str, str]]:
    """A .network file's `Key=value` lines, in order (DNS= may repeat)."""
    pairs = [line.partition("=") for line in path.read_text().splitlines()
             if "=" in line and not line.startswith("#")]
    return [(key, value) for key, _, value in pairs]


def check_network(root: Path, a: Answers) -> None:
    static = a.net_method is NetMethod.STATIC
    used, unused = ((STATIC_NETWORK_PATH, DHCP_NETWORK_PATH) if static
                    else (DHCP_NETWORK_PATH, STATIC_NETWORK_PATH))
    assert not (root / unused).exists()
    settings = _settings(root / used)
    assert ("Name", a.net_iface or "en* eth*") in settings
    if static:
        assert ("Address", f"{a.net_ip}/{a.net_prefix}") in settings
        assert ("Gateway", a.net_gw) in settings
    else:
        assert ("DHCP", "yes") in settings
    assert [v for k, v in settings if k == "DNS"] == list(a.net_dns)
    assert os.readlink(root / "etc/resolv.conf") == "../run/systemd/resolve/stub-resolv.conf"
    units = ("systemd-networkd.service", "systemd-resolved.service", "kldload-firstboot.service")
    r = chroot(root, "systemctl", "is-enabled", *units)
    assert r.stdout.split() == ["enabled"] * len(units), r.stdout + r.stderr
    # The link systemd follows at boot, independently of systemctl's answer; its
    # target is absolute inside the tree (/lib is usr/lib on a merged-/usr system).
    wants = root / "etc/systemd/system/multi-user.target.wants/kldload-firstboot.service"
    linked = root / os.readlink(wants).lstrip("/")
    assert linked.samefile(root / UNIT_DIR / "kldload-firstboot.service")


def check_manifest(root: Path, a: Answers) -> None:
    manifest = root / MANIFEST_PATH
    st = manifest.lstat()
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0
    values = read_manifest(manifest.read_text())
    assert values["KLDLOAD_HOSTNAME"] == a.hostname
    assert values["KLDLOAD_BOOT_ENVIRONMENT"] == "rpool/ROOT/debian"
    assert values["KLDLOAD_PASSWORD_SET"] == "1" and "KLDLOAD_PASSWORD" not in values
    assert values["KLDLOAD_PASSWORD_IS_DEFAULT"] == (
        "1" if a.password.get_secret_value() == "admin" else "0")
    # The installed system reads it with its own parser (awk in the target, not ours).
    r = chroot(root, "/usr/lib/kldload/manifest-get", "KLDLOAD_HOSTNAME")
    assert (r.returncode, r.stdout) == (0, f"{a.hostname}\n"), r.stderr
    held = (root / HELD_PACKAGES_PATH).read_text().split()
    assert "zfsutils-linux" in held

    copy = root / ANSWERS_COPY.lstrip("/")
    assert _mode(copy) == 0o600
    text = copy.read_text()
    # Structural, not a substring search: the default password "admin" is also
    # the default user name.
    secret_lines = [line for line in text.splitlines() if line.split("=", 1)[0] in
                    ("KLDLOAD_PASSWORD", "KLDLOAD_ZFS_PASSPHRASE", "KLDLOAD_EXPORT_SCP_PASS")]
    assert all(line.split("=", 1)[1] in ("", REDACTED, f"'{REDACTED}'")
               for line in secret_lines), secret_lines
    assert f"KLDLOAD_PASSWORD={REDACTED}" in text or f"KLDLOAD_PASSWORD='{REDACTED}'" in text
    replay = parse_answers(text, source=str(copy)).answers
    assert replay is not None and replay.hostname == a.hostname


def check_wireguard(root: Path, a: Answers) -> None:
    wg = root / "etc/wireguard"
    if not a.wireguard:
        assert not (wg / "wg0.key").exists() and not (wg / "wg0.conf").exists()
        return
    key, pub, conf = wg / "wg0.key", wg / "wg0.pub", wg / "wg0.conf"
    assert _mode(key) == 0o600 and _mode(conf) == 0o600
    private = key.read_text().strip()
    assert len(private) == 44 and private not in conf.read_text()
    r = chroot(root, "wg", "pubkey", stdin=private + "\n")
    assert r.returncode == 0 and r.stdout.strip() == pub.read_text().strip(), r.stderr
    if a.infra_mode is InfraMode.CLUSTER:
        assert f"hub.{a.cluster_domain}" in conf.read_text()


def check_target(root: Path, a: Answers) -> None:
    check_identity(root, a)
    check_ssh(root, a)
    check_locale_and_time(root, a)
    check_network(root, a)
    check_manifest(root, a)
    check_wireguard(root, a)
    assert not (root / POLICY_RC_D.lstrip("/")).exists(), "services could never start"


# -- tests ----------------------------------------------------------------------------------

def test_cache_key_follows_suite_and_packages() -> None:
    packages = tree_packages()
    assert cache_key("bookworm", packages) == cache_key("bookworm", tuple(reversed(packages)))
    assert cache_key("bookworm", packages) != cache_key("trixie", packages)
    assert cache_key("bookworm", packages) != cache_key("bookworm", (*packages, "htop"))


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    monkeypatch.delenv(CACHE_ENV, raising=False)
    assert cache_dir() == DEFAULT_CACHE
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    assert cache_dir() == tmp_path


def test_a_complete_entry_is_reused_and_nothing_else(tmp_path: Path) -> None:
    packages = ("systemd-sysv", "sudo")
    entry = tmp_path / f"debian-bookworm-{cache_key('bookworm', packages)}"
    (entry / "root/etc").mkdir(parents=True)
    (entry / "root/etc/debian_version").write_text("12.0\n")
    (entry / MARKER).write_text(marker_text("bookworm", sorted(packages)))
    # Reused from the marker alone: no debootstrap, no mirror, no root needed.
    tree = ensure_tree("bookworm", packages, base=tmp_path, mirror="file:///nonexistent")
    assert (tree.root, tree.built) == (entry / "root", False)
    # A marker for another package list is not this tree.
    (entry / MARKER).write_text(marker_text("bookworm", ("sudo",)))
    if why_unavailable() is not None:
        with pytest.raises(TreeUnavailable):
            ensure_tree("bookworm", packages, base=tmp_path, mirror="file:///nonexistent")
    else:  # as root the incomplete entry is removed and a build tried: the mirror is absent
        with pytest.raises(TreeUnavailable, match="not reachable"):
            ensure_tree("bookworm", packages, base=tmp_path, mirror="file:///nonexistent")
        assert not entry.exists() and list(tmp_path.glob(".build-*")) == []


@real_tree
def test_cached_tree_is_reused_quickly(debian_tree: DebianTree) -> None:
    again = ensure_tree()
    assert again.entry == debian_tree.entry and not again.built
    assert again.seconds < 0.2, f"reusing the cache took {again.seconds:.3f}s"
    print(f"\ntree {debian_tree.entry}: {'built' if debian_tree.built else 'reused'} in "
          f"{debian_tree.seconds:.1f}s; reused again in {again.seconds * 1000:.1f} ms")


@real_tree
@pytest.mark.parametrize("text", _cases())
def test_phases_configure_the_real_tree(text: str, target: Overlay, tmp_path: Path) -> None:
    answers = _parse(text, "case")
    _install(answers, target, tmp_path)
    check_target(target.root, answers)


@real_tree
def test_the_default_password_is_expired(target: Overlay, tmp_path: Path) -> None:
    answers = _parse(BASE, "default")
    assert answers.password.get_secret_value() == "admin"
    _install(answers, target, tmp_path)
    check_identity(target.root, answers)  # last change 0, and chage -l says so
    check_ssh(target.root, answers)
    check_locale_and_time(target.root, answers)


@real_tree
def test_a_password_that_is_a_common_word_configures_and_verifies(
        target: Overlay, tmp_path: Path) -> None:
    # "debian" is in the sources, the package names and the paths the verify
    # steps read back: masking it there would fail them after the wipe.
    answers = _parse(BASE + "KLDLOAD_PASSWORD=debian\n", "word")
    done = _install(answers, target, tmp_path)
    check_target(target.root, answers)
    log = done.log.read_text()
    assert MASK not in log
    assert not [e for e in done.events if isinstance(e, OutputLine) and MASK in e.text]


@real_tree
def test_no_secret_reaches_the_log_or_the_target(target: Overlay, tmp_path: Path) -> None:
    answers = _parse(LEAK_ANSWERS, "leak")
    # Secrets are deliberately not registered for redaction: the phases must not
    # put them anywhere in the first place (stdin, never argv or a written file).
    done = _install(answers, target, tmp_path, register_secrets=False)
    secrets = (PASSWORD, PASSPHRASE, SCP_PASSWORD)
    log = done.log.read_text()
    assert "$ chroot" in log and "chpasswd" in log  # the log did record the work
    lines = [e.text for e in done.events if isinstance(e, OutputLine)]
    hits: list[str] = []
    for secret in secrets:
        if secret in log:
            hits.append(f"{secret} in {done.log}")
        hits += [f"{secret} in an output event" for text in lines if secret in text]
    scanned = 0
    for path in target.upper.rglob("*"):
        info = path.lstat()
        name = str(path.relative_to(target.upper))
        if stat.S_ISLNK(info.st_mode):
            data = os.readlink(path).encode()
        elif stat.S_ISREG(info.st_mode):
            data = path.read_bytes()
            scanned += 1
        else:
            continue  # directories, and the whiteouts for deleted files
        hits += [f"{secret} in /{name}" for secret in secrets
                 if secret.encode() in data or secret in name]
    assert hits == []
    assert scanned > 20  # passwd, shadow, the manifest... really were looked at
    # /etc/shadow holds a hash of the password, never the text.
    shadow = (target.upper / "etc/shadow").read_text()
    assert PASSWORD not in shadow and _table(target.upper / "etc/shadow")["admin"][1][0] == "$"


def _kldload_units(root: Path) -> list[str]:
    return sorted(p.name for p in (root / UNIT_DIR).glob("kldload-*"))


def _verify_units(root: Path, units: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", "verify", f"--root={root}", "--man=no", *units],
                          capture_output=True, text=True, timeout=120, check=False)


@real_tree
def test_installed_units_verify_in_the_real_tree(target: Overlay, tmp_path: Path) -> None:
    answers = _parse((EXAMPLES / "full-reference.env").read_text(), "full-reference")
    _install(answers, target, tmp_path)
    root = target.root
    units = _kldload_units(root)
    assert len(units) == 8
    # Every Exec* path, WantedBy and After target is the tree's own here
    # (zpool and zfs.target from zfsutils-linux, /bin/sh from dash).
    r = _verify_units(root, units)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), r.stdout + r.stderr

    # What firstboot enables on the machine: their [Install] sections must
    # resolve against the target's systemd.
    later = [u for u in units if u.endswith(".timer")] + ["kldload-package-holds.service"]
    r = chroot(root, "systemctl", "enable", *later)
    assert r.returncode == 0, r.stderr
    r = chroot(root, "systemctl", "is-enabled", *later)
    assert r.stdout.split() == ["enabled"] * len(later), r.stdout + r.stderr
    assert (root / "etc/systemd/system/timers.target.wants/kldload-scrub.timer").is_symlink()

    # The negative control: verify really looks in the tree, not on the host.
    (root / "usr/sbin/zpool").unlink()  # a whiteout in the overlay; the cache keeps it
    r = _verify_units(root, ["kldload-scrub.service"])
    assert r.returncode != 0 and "/usr/sbin/zpool" in r.stderr, r.stderr
