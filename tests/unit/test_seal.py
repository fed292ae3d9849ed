"""Sealing as data and argv: what is cleared, and never anything outside the target."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kldload_tui.backend.export.seal import SEAL_STEPS, SealAction, UnsafeSealTarget, seal_commands


def touch(root: Path, rel: str, text: str = "x\n") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def target(tmp_path: Path) -> Path:
    root = tmp_path / "target"
    for rel in ("etc/machine-id", "etc/ssh/ssh_host_ed25519_key",
                "etc/ssh/ssh_host_ed25519_key.pub", "etc/ssh/sshd_config",
                "etc/wireguard/wg0.key", "etc/wireguard/wg0.conf",
                "var/lib/dhcp/dhclient.eth0.leases", "var/lib/cloud/instances/i-1/boot",
                "etc/kldload/install-manifest.env", "etc/kldload/held-packages",
                "root/.bash_history", "home/admin/.bash_history", "home/admin/.profile",
                "var/log/wtmp", "var/log/btmp", "var/log/lastlog",
                "etc/systemd/network/10-kldload-static.network",
                "etc/systemd/network/20-kldload-dhcp.network", "etc/hostid",
                "etc/zfs/zpool.cache", "etc/zfs/zfs-list.cache/rpool",
                "var/lib/dbus/machine-id"):
        touch(root, rel)
    # cloud-init's link to the current instance is absolute: dangling from here.
    os.symlink("/var/lib/cloud/instances/i-1", root / "var/lib/cloud/instance")
    return root


def flat(commands: list[list[str]]) -> list[tuple[str, str]]:
    """(command, path) pairs."""
    return [(argv[0], arg) for argv in commands for arg in argv[1:] if arg.startswith("/")]


def test_steps_cover_the_seeds_list():
    patterns = {s.pattern for s in SEAL_STEPS}
    for expected in ("etc/machine-id", "etc/ssh/ssh_host_*", "var/lib/dhcp",
                     "var/lib/cloud/instances", "etc/kldload/install-manifest.env",
                     "root/.*_history", "home/*/.*_history", "var/log/wtmp", "var/log/btmp",
                     "var/log/lastlog", "etc/hostid", "etc/zfs/zpool.cache",
                     # A clone's systemd copies an empty machine-id from D-Bus's file.
                     "var/lib/dbus/machine-id"):
        assert expected in patterns
    machine_id = next(s for s in SEAL_STEPS if s.pattern == "etc/machine-id")
    assert machine_id.action is SealAction.TRUNCATE  # systemd wants the file, empty
    assert all(s.why for s in SEAL_STEPS)


def test_commands_for_a_target(target: Path):
    pairs = flat(seal_commands(target))
    r = str(target)
    truncated = {p for c, p in pairs if c == "truncate"}
    removed = {p for c, p in pairs if c == "rm"}
    assert truncated == {f"{r}/etc/machine-id", f"{r}/var/log/wtmp", f"{r}/var/log/btmp",
                         f"{r}/var/log/lastlog"}
    assert removed == {
        f"{r}/etc/ssh/ssh_host_ed25519_key", f"{r}/etc/ssh/ssh_host_ed25519_key.pub",
        f"{r}/etc/wireguard/wg0.key", f"{r}/var/lib/dhcp/dhclient.eth0.leases",
        f"{r}/var/lib/cloud/instances/i-1", f"{r}/var/lib/cloud/instance",
        f"{r}/etc/kldload/install-manifest.env", f"{r}/root/.bash_history",
        f"{r}/home/admin/.bash_history", f"{r}/etc/systemd/network/10-kldload-static.network",
        f"{r}/etc/hostid", f"{r}/etc/zfs/zpool.cache", f"{r}/var/lib/dbus/machine-id"}
    for argv in seal_commands(target):
        assert argv[:2] == ["truncate", "-s"] or argv[:4] == ["rm", "-rf", "--one-file-system",
                                                               "--"]


def test_kept_what_clones_need(target: Path):
    paths = {p for _, p in flat(seal_commands(target))}
    for kept in ("etc/ssh/sshd_config", "etc/wireguard/wg0.conf", "etc/kldload/held-packages",
                 "home/admin/.profile", "etc/systemd/network/20-kldload-dhcp.network",
                 "var/lib/dhcp", "var/lib/cloud/instances",
                 # The datasets' mount list: the same pool layout on every clone.
                 "etc/zfs/zfs-list.cache/rpool"):
        assert f"{target}/{kept}" not in paths


def test_nothing_to_do_on_a_bare_tree(tmp_path: Path):
    assert seal_commands(tmp_path) == []


def test_refuses_the_live_root():
    with pytest.raises(UnsafeSealTarget, match="refusing to seal /"):
        seal_commands("/")


def test_refuses_a_missing_target(tmp_path: Path):
    with pytest.raises(UnsafeSealTarget):
        seal_commands(tmp_path / "absent")


def test_never_follows_a_symlink_out_of_the_target(tmp_path: Path):
    outside = tmp_path / "host-home"
    touch(outside, "victim/.bash_history")
    touch(tmp_path, "host-machine-id")
    root = tmp_path / "target"
    (root / "etc").mkdir(parents=True)
    os.symlink(outside, root / "home")                       # /home -> elsewhere
    os.symlink(tmp_path / "host-machine-id", root / "etc/machine-id")  # truncate follows links
    assert seal_commands(root) == []
