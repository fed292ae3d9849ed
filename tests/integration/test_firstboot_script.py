"""The target's shell scripts, run for real under /bin/sh against a fake root.

firstboot, package-holds, snapshot and manifest-get run as the installed
system would run them, except that KLDLOAD_ROOT points their paths at a
temporary tree and the commands that would act on this host (systemctl, zfs,
apt-mark, ssh-keygen, wg, findmnt) are stubs that log their argv
(see tests/integration/fakeroot.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kldload_tui.backend.answers.envfile import quote
from kldload_tui.backend.answers.file import parse_answers
from kldload_tui.backend.answers.model import Answers
from kldload_tui.backend.export.seal import seal_commands
from kldload_tui.backend.target.files import install_files, seal_files, service_files
from kldload_tui.backend.target.manifest import InstallFacts, read_manifest
from tests.integration.fakeroot import Host, make_host, write_files

HELD = ("linux-image-amd64", "zfs-dkms", "zfsutils-linux")
ANSWERS = ("KLDLOAD_DISTRO=debian\nKLDLOAD_DISK=/dev/sda\nKLDLOAD_HOSTNAME=web-01\n"
           "KLDLOAD_PASSWORD=Sup3r-secret-pw\n")
MANIFEST = "etc/kldload/install-manifest.env"


def _answers(extra: str = "") -> Answers:
    a = parse_answers(ANSWERS + extra).answers
    assert a is not None
    return a


@pytest.fixture
def host(tmp_path: Path) -> Host:
    files = install_files(_answers("KLDLOAD_WIREGUARD=1\n"),
                          InstallFacts("rpool", "rpool/ROOT/debian", HELD, "1.0"))
    h = make_host(tmp_path, files)
    h.set_state("datasets", ["rpool", "rpool/srv"])
    # What the install's hostid phase leaves in the target.
    (h.root / "etc/hostid").write_bytes(b"\x01\x02\x03\x04")
    (h.root / "etc/zfs").mkdir(parents=True)
    (h.root / "etc/zfs/zpool.cache").write_text("cache of rpool\n")
    return h


def systemctl_calls(host: Host) -> list[str]:
    return [c for c in host.calls() if c.startswith("systemctl ")]


# -- firstboot ---------------------------------------------------------------------

def test_first_boot_does_everything_then_disables_itself(host: Host):
    r = host.run("firstboot")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "host web-01, profile server" in r.stdout
    assert systemctl_calls(host) == [
        "systemctl enable --now wg-quick@wg0.service",
        "systemctl enable --now kldload-snapshot.timer kldload-scrub.timer",
        "systemctl enable --now kldload-srv-snapshot.timer",
        "systemctl enable --now kldload-package-holds.service",
        "systemctl disable kldload-firstboot.service",
    ]
    assert f"ssh-keygen -A -f {host.root}" in host.calls()
    assert f"apt-mark hold {' '.join(HELD)}" in host.calls()
    assert host.state_lines("held") == sorted(HELD)
    assert (host.root / "var/lib/kldload/firstboot.done").is_file()
    assert (host.root / "etc/wireguard/wg0.key").stat().st_mode & 0o777 == 0o600
    assert (host.root / "etc/wireguard/wg0.pub").is_file()
    assert r.stdout.rstrip().endswith("kldload-firstboot: done")


def test_second_run_does_nothing(host: Host):
    assert host.run("firstboot").returncode == 0
    before = host.calls()
    r = host.run("firstboot")
    assert r.returncode == 0
    assert "already done" in r.stdout
    assert host.calls() == before


def test_existing_host_keys_are_kept(host: Host):
    for t in ("rsa", "ecdsa", "ed25519"):
        (host.root / f"etc/ssh/ssh_host_{t}_key").write_text("kept\n")
    assert host.run("firstboot").returncode == 0
    assert not any(c.startswith("ssh-keygen") for c in host.calls())


def test_no_srv_dataset_no_srv_timer(host: Host):
    host.set_state("datasets", ["rpool"])
    r = host.run("firstboot")
    assert r.returncode == 0
    assert "rpool/srv does not exist" in r.stdout
    assert "systemctl enable --now kldload-srv-snapshot.timer" not in host.calls()


def test_sealed_image_without_manifest_still_gets_an_identity(host: Host):
    (host.root / MANIFEST).unlink()
    r = host.run("firstboot")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no manifest (sealed image)" in r.stdout
    assert f"ssh-keygen -A -f {host.root}" in host.calls()
    # The held-packages list outlives the manifest.
    assert f"apt-mark hold {' '.join(HELD)}" in host.calls()
    assert (host.root / "var/lib/kldload/firstboot.done").is_file()


@pytest.mark.parametrize("line", [
    "KLDLOAD_HOSTNAME=$(touch {marker})",
    "KLDLOAD_HOSTNAME='$(touch {marker})'",
    'KLDLOAD_HOSTNAME="`touch {marker}`"',
    "KLDLOAD_HOSTNAME=x;touch${{IFS}}{marker}",
    "touch {marker}",
    "KLDLOAD_HELD_PACKAGES='$(touch {marker})'",
])
def test_manifest_lines_are_never_executed(host: Host, tmp_path: Path, line: str):
    marker = tmp_path / "pwned"
    manifest = host.root / MANIFEST
    manifest.write_text(manifest.read_text() + line.format(marker=marker) + "\n")
    r = host.run("firstboot")
    assert not marker.exists()
    if "HELD_PACKAGES" in line:
        # Not a package name: the holds refuse it and firstboot reports the failure.
        assert r.returncode == 1 and "not a package name: $(touch" in r.stdout
    else:
        assert r.returncode == 0, r.stdout + r.stderr


def test_a_failing_step_leaves_it_to_run_again(host: Host):
    r = host.run("firstboot", STUB_FAIL="systemctl enable --now kldload-snapshot.timer*")
    assert r.returncode == 1
    assert "FAILED: snapshot and scrub timers enabled" in r.stdout
    assert not (host.root / "var/lib/kldload/firstboot.done").exists()
    assert "systemctl disable kldload-firstboot.service" not in host.calls()
    # The other steps still ran, so one boot reports every problem.
    assert "systemctl enable --now kldload-package-holds.service" in host.calls()
    r = host.run("firstboot")
    assert r.returncode == 0, r.stdout
    assert (host.root / "var/lib/kldload/firstboot.done").exists()


def test_a_lost_hold_fails_firstboot(host: Host):
    r = host.run("firstboot", STUB_FORGET="zfs-dkms")
    assert r.returncode == 1
    assert "not held after apt-mark hold: zfs-dkms" in r.stdout
    assert not (host.root / "var/lib/kldload/firstboot.done").exists()


def test_a_failed_wireguard_key_leaves_no_key(host: Host):
    r = host.run("firstboot", STUB_FAIL="wg genkey")
    assert r.returncode == 1 and "FAILED: WireGuard key generated" in r.stdout
    assert not (host.root / "etc/wireguard/wg0.key").exists()


def test_unwritable_stamp_is_a_failure(host: Host):
    (host.root / "var/lib/kldload").mkdir(parents=True)
    (host.root / "var/lib/kldload/firstboot.done").mkdir()  # exists: treated as done
    assert "already done" in host.run("firstboot").stdout
    (host.root / "var/lib/kldload/firstboot.done").rmdir()
    (host.root / "var/lib/kldload").rmdir()
    (host.root / "var/lib/kldload").write_text("a file where a directory should be\n")
    r = host.run("firstboot")
    assert r.returncode == 1 and "cannot write" in r.stdout
    assert "systemctl disable kldload-firstboot.service" not in host.calls()


def test_sealed_clone_end_to_end(host: Host):
    """Seal with the real commands, then boot the clone: it makes its own identity."""
    write_files(host.root, seal_files())
    (host.root / "etc/machine-id").write_text("0123456789abcdef0123456789abcdef\n")
    (host.root / "etc/ssh/ssh_host_ed25519_key").write_text("build host key\n")
    for argv in seal_commands(host.root):
        subprocess.run(argv, check=True)
    assert not (host.root / MANIFEST).exists()
    assert (host.root / "etc/machine-id").read_text() == ""
    assert not (host.root / "etc/ssh/ssh_host_ed25519_key").exists()
    assert (host.root / "etc/kldload/held-packages").exists()
    assert not (host.root / "etc/hostid").exists()
    assert not (host.root / "etc/zfs/zpool.cache").exists()
    r = host.run("firstboot")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no manifest (sealed image)" in r.stdout
    assert (host.root / "etc/ssh/ssh_host_ed25519_key").read_text() == "host key\n"
    assert (host.root / "etc/wireguard/wg0.key").exists()
    # Its own host ID, the cachefile again, and an initramfs that carries both.
    assert len((host.root / "etc/hostid").read_bytes()) == 4
    assert (host.root / "etc/zfs/zpool.cache").read_text() == "cache of rpool\n"
    calls = host.calls()
    order = [calls.index(c) for c in (f"zgenhostid -o {host.root}/etc/hostid",
                                      "zpool set cachefile=/etc/zfs/zpool.cache rpool",
                                      "update-initramfs -u -k all")]
    assert order == sorted(order)
    assert "ok: initramfs rebuilt with the host ID and the cachefile" in r.stdout


def test_installed_system_keeps_its_host_id_and_initramfs(host: Host):
    before = (host.root / "etc/hostid").read_bytes()
    r = host.run("firstboot")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (host.root / "etc/hostid").read_bytes() == before
    assert not [c for c in host.calls()
                if c.split()[0] in ("zgenhostid", "zpool", "update-initramfs")]


def test_failed_initramfs_rebuild_leaves_firstboot_to_run_again(host: Host):
    (host.root / "etc/hostid").unlink()
    r = host.run("firstboot", STUB_FAIL="update-initramfs *")
    assert r.returncode == 1
    assert "FAILED: initramfs rebuilt with the host ID and the cachefile" in r.stdout
    assert not (host.root / "var/lib/kldload/firstboot.done").exists()
    hostid = (host.root / "etc/hostid").read_bytes()
    # The next boot (or a manual start) tries again: the host ID is kept, the rebuild redone.
    r = host.run("firstboot")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (host.root / "etc/hostid").read_bytes() == hostid
    assert host.calls().count("update-initramfs -u -k all") == 2
    assert not (host.root / "var/lib/kldload/initramfs.pending").exists()



def test_a_clone_rebuilds_with_its_backends_command_or_fails_saying_why(tmp_path: Path):
    # The command is the distribution backend's, the one sealing ran; a system with
    # none known fails that step, says so, and stays to run again.
    facts = InstallFacts("rpool", "rpool/ROOT/debian", HELD, "1.0")
    for name, rebuild, expected in (("dracut", ("dracut", "--regenerate-all", "--force"), 0),
                                    ("none", (), 1)):
        files = [f if f.path != "usr/lib/kldload/firstboot" else
                 next(g for g in service_files(_answers(), facts, initramfs_rebuild=rebuild)
                      if g.path == f.path)
                 for f in install_files(_answers(), facts)]
        h = make_host(tmp_path / name, files)
        h.set_state("datasets", ["rpool"])
        r = h.run("firstboot")
        assert r.returncode == expected, r.stdout + r.stderr
        calls = h.calls()
        assert not [c for c in calls if c.startswith("update-initramfs")]
        if rebuild:
            assert "dracut --regenerate-all --force" in calls
            assert "ok: initramfs rebuilt with the host ID and the cachefile" in r.stdout
        else:
            assert "no initramfs command is known for this system" in r.stdout
            assert "FAILED: initramfs rebuilt with the host ID and the cachefile" in r.stdout
            assert (h.root / "var/lib/kldload/initramfs.pending").exists()

# -- package-holds -------------------------------------------------------------

def test_holds_refuse_an_option_disguised_as_a_package(host: Host):
    (host.root / "etc/kldload/held-packages").write_text("zfs-dkms\n--allow-downgrades\n")
    r = host.run("package-holds")
    assert r.returncode == 1 and "not a package name: --allow-downgrades" in r.stdout
    assert not any(c.startswith("apt-mark") for c in host.calls())


def test_holds_merge_list_and_manifest_once_each(host: Host):
    (host.root / "etc/kldload/held-packages").write_text(
        "# comment\nzfs-dkms  systemd-boot # trailing\n\nzfs-dkms\n")
    r = host.run("package-holds")
    assert r.returncode == 0, r.stdout
    assert host.calls()[0] == "apt-mark hold zfs-dkms systemd-boot linux-image-amd64 zfsutils-linux"


def test_holds_with_nothing_to_hold(host: Host):
    (host.root / "etc/kldload/held-packages").write_text("")
    (host.root / MANIFEST).unlink()
    r = host.run("package-holds")
    assert r.returncode == 0 and "no packages to hold" in r.stdout
    assert host.calls() == []


# -- snapshot ---------------------------------------------------------------------

def own(host: Host, dataset: str, label: str) -> list[str]:
    return [s for s in host.state_lines("snapshots") if s.startswith(f"{dataset}@kldload-{label}-")]


def test_boot_environment_snapshot_is_found_at_run_time(host: Host):
    r = host.run("snapshot", "hourly", "48", "--boot-environment",
                 STUB_ROOT_SOURCE="rpool/ROOT/debian-2")
    assert r.returncode == 0, r.stdout + r.stderr
    [snap] = host.state_lines("snapshots")
    assert snap.startswith("rpool/ROOT/debian-2@kldload-hourly-") and len(snap.split("-")[-1]) == 12


def test_prunes_only_its_own_beyond_the_bound(host: Host):
    ds = "rpool/ROOT/debian"
    mine = [f"{ds}@kldload-hourly-2024010100{m:02d}" for m in range(50)]
    foreign = [f"{ds}@autosnap_2024-01-01_00:00:00_hourly", f"{ds}@kldload-hourly-manual",
               f"{ds}@kldload-frequent-202401010000", f"{ds}/child@kldload-hourly-202401010000",
               "rpool/ROOT/debian-old@kldload-hourly-202401010000"]
    host.set_state("snapshots", foreign[:2] + mine + foreign[2:])
    r = host.run("snapshot", "hourly", "48", "--boot-environment")
    assert r.returncode == 0, r.stdout + r.stderr
    kept = own(host, ds, "hourly")
    assert len([k for k in kept if k != f"{ds}@kldload-hourly-manual"]) == 48
    assert mine[0] not in kept and mine[1] not in kept and mine[2] not in kept
    assert set(foreign) <= set(host.state_lines("snapshots"))


def test_recursive_snapshot_of_srv(host: Host):
    r = host.run("snapshot", "-r", "frequent", "96", "rpool/srv")
    assert r.returncode == 0
    assert any(c.startswith("zfs snapshot -r rpool/srv@kldload-frequent-") for c in host.calls())


@pytest.mark.parametrize("args", [("hourly", "0", "rpool/srv"), ("Hourly", "4", "rpool/srv"),
                                  ("hourly", "4", "-rf"), ("hourly", "4")])
def test_snapshot_refuses_bad_arguments(host: Host, args: tuple[str, ...]):
    r = host.run("snapshot", *args)
    assert r.returncode != 0
    assert not any(c.startswith("zfs") for c in host.calls())


def test_snapshot_refuses_a_root_that_is_not_zfs(host: Host):
    r = host.run("snapshot", "hourly", "48", "--boot-environment", STUB_ROOT_FSTYPE="ext4")
    assert r.returncode == 1 and "not on a ZFS boot environment" in r.stdout


def test_snapshot_failure_is_reported(host: Host):
    r = host.run("snapshot", "-r", "frequent", "96", "rpool/srv", STUB_FAIL="zfs snapshot *")
    assert r.returncode == 1 and "FAILED: zfs snapshot" in r.stdout


# -- manifest-get ------------------------------------------------------------------

VALUES = ["", "plain", "two words", "it's", 'say "hi"', "$(touch /tmp/x)", "`id`",
          "back\\slash", "tab\there", "mixed '\" $HOME `x` \\", "ünïcode", "#hash", "a=b"]


def test_manifest_get_reads_what_the_installer_writes(host: Host):
    manifest = host.root / MANIFEST
    keys = [f"KLDLOAD_V{i}" for i in range(len(VALUES))]
    manifest.write_text("".join(f"{k}={quote(v)}\n" for k, v in zip(keys, VALUES, strict=True)))
    assert read_manifest(manifest.read_text()) == dict(zip(keys, VALUES, strict=True))
    for key, value in zip(keys, VALUES, strict=True):
        r = host.run("manifest-get", key)
        assert r.returncode == 0 and r.stdout == value + "\n", key


@pytest.mark.parametrize("text, key, status, out", [
    ("KLDLOAD_A=1\n", "KLDLOAD_B", 1, ""),
    ("KLDLOAD_A=1\nKLDLOAD_A=2\n", "KLDLOAD_A", 0, "2\n"),
    ("KLDLOAD_A=1 # note\n", "KLDLOAD_A", 0, "1\n"),
    ("KLDLOAD_A='x'\"y\"z\r\n", "KLDLOAD_A", 0, "xyz\n"),
    ("KLDLOAD_A='open\n", "KLDLOAD_A", 3, ""),
    ("export KLDLOAD_A=1\n KLDLOAD_A=2\nkldload_a=3\n", "KLDLOAD_A", 1, ""),
])
def test_manifest_get_edge_cases(host: Host, text: str, key: str, status: int, out: str):
    (host.root / MANIFEST).write_text(text)
    r = host.run("manifest-get", key)
    assert (r.returncode, r.stdout) == (status, out)


def test_manifest_get_usage_and_missing_file(host: Host):
    assert host.run("manifest-get", "PATH").returncode == 64
    assert host.run("manifest-get", "KLDLOAD_A;x").returncode == 64
    (host.root / MANIFEST).unlink()
    assert host.run("manifest-get", "KLDLOAD_HOSTNAME").returncode == 2
