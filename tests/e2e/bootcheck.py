"""Boot the installed disks alone (OVMF, or SeaBIOS) and check the system against its answers.

Everything is checked from inside the booted system, over the serial console, as
the admin user the answers created (root is locked): the first login itself shows
whether the default password was expired, ``sudo -n`` whether the sudo rule works.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from kldload_tui.backend.answers.file import REDACTED, parse_answers
from tests.e2e.answers import NEW_PASSWORD, SSH_KEY, InstallSpec, StaticNet, answers_text
from tests.e2e.qemu import Guest, GuestError

BOOT_TIMEOUT = 600.0
CHECK_TIMEOUT = 180.0
POOL = "rpool"
BE = f"{POOL}/ROOT/debian"
PASSPHRASE_PROMPT = r"Enter passphrase for '?rpool'?:"
BOOT_ENTRY = r'BdsDxe: starting Boot[0-9A-F]{4} "([^"]*)"'
BOOTLOADER_ID = "KLDload"  # the answers' default KLDLOAD_BOOTLOADER_ID
# Where a boot stops for good: OVMF and SeaBIOS out of boot options, the kernel dead.
BOOT_DEAD_ENDS = (r"BdsDxe: No bootable option or device was found",
                  r"Boot failed: not a bootable disk", r"No bootable device\.",
                  r"Kernel panic - not syncing[^\r\n]*")
FIRSTBOOT_END = r"kldload-firstboot: (done|already done|\d+ step\(s\) failed)"
# systemd's line when the unit failed without the script's last word (killed, timed out).
FIRSTBOOT_FAILED = r"Failed to start \S*kldload-firstboot[^\r\n]*"
SECRET_KEYS = ("KLDLOAD_PASSWORD", "KLDLOAD_ZFS_PASSPHRASE", "KLDLOAD_EXPORT_SCP_PASS")
TOPOLOGY_GROUP = {"mirror": "mirror-0", "raidz1": "raidz1-0"}


class CheckFailed(RuntimeError):
    """The installed system is not what the answers asked for."""


def entry_label(disk: int) -> str:
    """The EFI boot entry of the `disk`-th disk of the root pool (1-based): the answers'
    KLDLOAD_BOOTLOADER_ID for the first, `KLDload (disk N)` for the others."""
    return BOOTLOADER_ID if disk == 1 else f"{BOOTLOADER_ID} (disk {disk})"


def boot_to_login(guest: Guest, spec: InstallSpec, entry: str | None = BOOTLOADER_ID, *,
                  firstboot: bool = True, timeout: float = BOOT_TIMEOUT) -> str | None:
    """From power-on to a fresh login prompt; returns the EFI entry OVMF started.

    `entry`: the exact label of the EFI boot entry OVMF must start (`BdsDxe: starting
    ...`), or None to look at no firmware output (SeaBIOS, or OVMF with fresh NVRAM
    falling back to EFI/BOOT/BOOTX64.EFI). `timeout`: for each wait after the
    firmware's (a clone's first boot rebuilds its initramfs). Then the passphrase
    prompt when encrypted;
    with `firstboot` (the first boot of an installed system only: it runs once) the end
    of kldload-firstboot (it writes to the console); then a fresh login prompt. A boot
    that cannot go on (no bootable device, a kernel panic) fails at once."""
    started: str | None = None
    if entry is not None:
        index, match = guest.expect_any([BOOT_ENTRY, *BOOT_DEAD_ENDS], 120,
                                        "OVMF starting a boot entry")
        _dead_end(index, match)
        started = match.group(1)
        if started != entry:
            raise CheckFailed(f"OVMF started {started!r}, not the entry {entry!r}")
    if spec.passphrase:
        guest.expect(PASSPHRASE_PROMPT, timeout, "the ZFS passphrase prompt")
        guest.sendline(spec.passphrase)
    login = rf"{re.escape(spec.hostname)} login: "
    # The getty does not wait for firstboot: its prompt may come before or after.
    first = FIRSTBOOT_END if firstboot else login
    dead_ends = [FIRSTBOOT_FAILED, *BOOT_DEAD_ENDS] if firstboot else list(BOOT_DEAD_ENDS)
    index, match = guest.expect_any([first, *dead_ends], timeout,
                                    "kldload-firstboot's end on the console" if firstboot
                                    else "the login prompt")
    _dead_end(index, match)
    if firstboot and match.group(1) != "done":
        raise CheckFailed(f"kldload-firstboot ended with: {match.group(0)}")
    guest.sendline("")  # the getty's prompt may have scrolled past: ask for a new one
    guest.expect(login, 120, "the login prompt")
    return started


def _dead_end(index: int, match: re.Match[str]) -> None:
    if index > 0:
        raise CheckFailed(f"the boot cannot go on: {match.group(0).strip()}")


def log_in(guest: Guest, spec: InstallSpec) -> bool:
    """Log in as the admin user; True when the password had to be changed first."""
    guest.sendline("admin")
    guest.expect(r"Password: ", 60, "the password prompt")
    guest.sendline(spec.login_password)
    index, _ = guest.expect_any([r"(?i)you are required to change your password",
                                 r"admin@\S+:~\$ ", r"Login incorrect"], 120,
                                "the shell or the password change")
    if index == 2:
        which = "the answered" if spec.password else "the default"
        raise CheckFailed(f"login as admin with {which} password was refused")
    expired = index == 0
    if expired:
        guest.expect(r"(?i)current password: ", 60, "the current password prompt")
        guest.sendline(spec.login_password)
        guest.expect(r"(?i)new password: ", 60, "the new password prompt")
        guest.sendline(NEW_PASSWORD)
        guest.expect(r"(?i)retype new password: ", 60, "the retype prompt")
        guest.sendline(NEW_PASSWORD)
        guest.expect(r"admin@\S+:~\$ ", 120, "the shell after the password change")
    guest.harness_prompt()
    return expired


def ok(guest: Guest, command: str, timeout: float = CHECK_TIMEOUT) -> str:
    """Run a command; its output, stripped. CheckFailed when it exits non-zero."""
    rc, output = guest.shell(command, timeout)
    if rc != 0:
        raise CheckFailed(f"`{command}` exited {rc}:\n{output[-2000:]}")
    return output.strip()


def _expect(what: str, got: str, want: Callable[[str], bool]) -> None:
    if not want(got):
        raise CheckFailed(f"{what}: got {got!r}")


def check_running(guest: Guest) -> None:
    """The system reached `running` with no failed unit."""
    state = guest.shell("systemctl is-system-running --wait", 300)[1].strip()
    failed = ok(guest, "systemctl --failed --no-legend --plain")
    if failed or state.splitlines()[-1:] != ["running"]:
        raise CheckFailed(f"system state {state!r}; failed units:\n{failed}")


def check_firstboot_once(guest: Guest, *, sealed: bool = False) -> None:
    """kldload-firstboot ran to its end exactly once: its stamp written, its unit
    disabled; on a clone of a sealed image it also said it found no manifest."""
    ok(guest, "test -s /var/lib/kldload/firstboot.done")
    _expect("firstboot unit", ok(guest, "systemctl is-enabled kldload-firstboot.service || :"),
            lambda s: s == "disabled")
    journal = "sudo -n journalctl -o cat -u kldload-firstboot.service"
    _expect("firstboot runs", ok(guest, f"{journal} | grep -c '^kldload-firstboot: done$'"),
            lambda s: s == "1")
    if sealed:
        # grep reads to the end (no -q): the guest's shell has pipefail, and a writer
        # cut off by an early exit would fail with SIGPIPE (141).
        ok(guest, f"{journal} | grep -F 'no manifest (sealed image)' >/dev/null")


def check_timers(guest: Guest) -> None:
    """The snapshot and scrub timers are active."""
    _expect("timers", ok(guest, "systemctl is-active kldload-snapshot.timer "
                                 "kldload-scrub.timer"), lambda s: s.split() == ["active"] * 2)


def replay_check(copy: str, spec: InstallSpec, suite: str, finish: str) -> None:
    """The target's answers.env, its secrets filled in again, is the answers used
    (`finish`: their KLDLOAD_FINISH_ACTION, which depends on the live system)."""
    filled = {"KLDLOAD_PASSWORD": spec.login_password, "KLDLOAD_ZFS_PASSPHRASE":
              spec.passphrase or ""}
    lines = []
    for line in copy.splitlines():
        key = line.split("=", 1)[0]
        if key in filled and REDACTED in line:
            line = f"{key}='{filled[key]}'"
        lines.append(line)
    replayed = parse_answers("\n".join(lines) + "\n", source="answers.env")
    asked = parse_answers(answers_text(spec, suite, finish), source="answers").answers
    if replayed.answers is None or replayed.answers != asked:
        problems = [p.render() for p in replayed.errors]
        if replayed.answers is not None and asked is not None:
            theirs, ours = replayed.answers.model_dump(), asked.model_dump()
            problems += [f"{k}: {theirs[k]!r} != {ours.get(k)!r}"
                         for k in theirs if theirs[k] != ours.get(k)]
        raise CheckFailed(f"/etc/kldload/answers.env does not replay the answers: {problems}")


def check_static_network(guest: Guest, net: StaticNet) -> None:
    """The answered address, route and resolver are the ones in use: QEMU's DHCP
    would have given another address."""
    _expect("static address", ok(guest, f"ip -4 -o addr show dev {net.iface}"),
            lambda s: f"inet {net.address}/{net.prefix} " in s and "dynamic" not in s)
    _expect("default route", ok(guest, "ip -4 route show default"),
            lambda s: s.startswith(f"default via {net.gateway} dev {net.iface}"))
    _expect("resolver", ok(guest, "resolvectl dns " + net.iface),
            lambda s: s.split()[-1] == net.dns)


def check_system(guest: Guest, spec: InstallSpec, expired: bool, suite: str,
                 finish: str) -> list[str]:
    """Every check of the issue, in order; returns the names of the checks passed."""
    passed: list[str] = []

    def check(name: str) -> None:
        passed.append(name)

    if expired != (spec.password is None):
        raise CheckFailed("the default password was not expired" if spec.password is None
                          else "the answered password was expired too")
    check("password-expiry")
    check_running(guest)
    check("no-failed-units")
    _expect("root filesystem", ok(guest, "findmnt -n -o SOURCE,FSTYPE /"),
            lambda s: s.split() == [BE, "zfs"])
    _expect("bootfs", ok(guest, f"zpool get -H -o value bootfs {POOL}"), lambda s: s == BE)
    check("root-on-zfs")
    _expect("pool health", ok(guest, f"zpool list -H -o health {POOL}"),
            lambda s: s == "ONLINE")
    status = ok(guest, f"sudo -n zpool status -P {POOL}")
    vdevs = re.findall(r"/dev/disk/by-id/virtio-(target\d+)-part2\s+ONLINE", status)
    group = TOPOLOGY_GROUP.get(spec.topology)
    if sorted(vdevs) != spec.serials or (group and group not in status):
        raise CheckFailed(f"pool topology is not {spec.topology} of {spec.serials}:\n{status}")
    check("pool-topology")
    if spec.passphrase:
        _expect("encryption", ok(guest, f"zfs get -H -o value encryption,keystatus {POOL}"),
                lambda s: s.split() == ["aes-256-gcm", "available"])
        check("encrypted")
    _expect("hostname", ok(guest, "hostname; cat /etc/hostname"),
            lambda s: s.split() == [spec.hostname, spec.hostname])
    check("hostname")
    _expect("admin groups", ok(guest, "id -nG admin"), lambda s: "sudo" in s.split())
    _expect("sudo rule", ok(guest, "sudo -n cat /etc/sudoers.d/kldload-admin; "
                                    "sudo -n stat -c %a /etc/sudoers.d/kldload-admin"),
            lambda s: "admin ALL=(ALL) NOPASSWD:ALL" in s and s.endswith("440"))
    check("admin-sudo")
    _expect("authorized_keys", ok(guest, "cat ~/.ssh/authorized_keys; "
                                          "stat -c '%a %U' ~/.ssh/authorized_keys"),
            lambda s: SSH_KEY in s and s.endswith("600 admin"))
    check("ssh-key")
    check_firstboot_once(guest)
    check("firstboot-once")
    check_timers(guest)
    check("timers")
    held = ok(guest, "apt-mark showhold").split()
    wanted = ok(guest, "grep -v '^#' /etc/kldload/held-packages").split()
    if not wanted or set(wanted) - set(held):
        raise CheckFailed(f"held {held}, /etc/kldload/held-packages asks {wanted}")
    check("package-holds")
    manifest = "/etc/kldload/install-manifest.env"
    _expect("manifest mode", ok(guest, f"sudo -n stat -c '%a %U' {manifest}"),
            lambda s: s == "600 root")
    text = ok(guest, f"sudo -n cat {manifest}")
    leaked = [k for k in SECRET_KEYS if re.search(rf"^{k}=", text, re.M)]
    leaked += ["a secret value" for s in spec.secrets() if s in text]
    if leaked or f"KLDLOAD_HOSTNAME={spec.hostname}" not in text.replace("'", "").replace(
            '"', ""):
        raise CheckFailed(f"manifest: secrets {leaked} or no hostname:\n{text}")
    check("manifest")
    if spec.static:
        check_static_network(guest, spec.static)
        check("static-address")
    if "wireguard" in spec.features:
        _expect("wireguard", ok(guest, "sudo -n stat -c '%a %U' /etc/wireguard/wg0.conf; "
                                       "command -v wg"),
                lambda s: s.splitlines()[0] == "600 root" and s.endswith("/wg"))
        check("feature-wireguard")
    mode = ok(guest, "sudo -n stat -c %a /etc/kldload/answers.env")
    answers = ok(guest, "sudo -n cat /etc/kldload/answers.env")
    if mode != "600" or any(s in answers for s in spec.secrets()):
        raise CheckFailed(f"/etc/kldload/answers.env is mode {mode} or holds a secret:\n"
                          f"{answers}")
    replay_check(answers, spec, suite, finish)
    ok(guest, "sudo -n test -s /var/log/kldload/install.log")
    ok(guest, "sudo -n grep -q 'phase configure: verified' /var/log/kldload/install.log")
    check("install-log-and-answers")
    return passed


def power_off(guest: Guest) -> None:
    """Shut the installed system down cleanly (the pool is exported by its shutdown)."""
    guest.sendline("sudo -n systemctl poweroff")
    try:
        guest.wait_exit(180)
    except GuestError:
        guest.kill()
        raise
