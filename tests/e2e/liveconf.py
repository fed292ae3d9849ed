"""Configuration written into the live root: what the live ISO's own start-up does.

``kldload-autoinstall.service`` runs on ttyS0 the way the ISO's autoinstall does:
``kldload-tui --headless``, with timestamped markers (``KLDLOAD-E2E: <marker>
<epoch>``) the harness waits for, then saves the logs to the exchange disk when
there is one and powers the guest off. The kernel command line chooses the mode:
``kldload.e2e=smoke`` runs ``kldload-tui --version`` and leaves the guest up;
``kldload.e2e=script`` runs a shell script from the exchange disk instead of
kldload-tui (the same install as bare commands, for the overhead measurement);
``kldload.e2e=golden`` mounts the golden layout's export disk, serves scp uploads
with this system's sshd on 127.0.0.1, installs, then times a bare ``qemu-img
convert`` of the same disk;
``kldload.autoinstall=off`` skips the unit. After it, root
is logged in on ttyS0 so the harness can run checks over the console.
"""

from __future__ import annotations

from pathlib import Path

from tests.e2e.darksite import GUEST_PATH, LABEL

HOSTNAME = "kldload-live"
MARKER = "KLDLOAD-E2E:"

# The harness's exchange disk: a raw tar archive in both directions (the host reads
# it with tar, no mount): the script for kldload.e2e=script in, the logs out.
IO_SERIAL = "kldload-io"
IO_DEVICE = f"/dev/disk/by-id/virtio-{IO_SERIAL}"
IO_DIR = "/run/kldload-e2e"

# The golden layout's export disk (tests/e2e/golden.py): ext4 made on the host with
# `ssh/` (the image server's host key, the uploader's key), `local/` (mounted where
# the engine writes images), `uploads/` (the scp destination) and `bare/`.
EXPORT_SERIAL = "kldload-export"
EXPORT_MOUNT = "/srv/kldload-e2e"
ENGINE_EXPORT_DIR = "/var/tmp/kldload-export"  # InstallOptions.export_dir's default

AUTOINSTALL_SCRIPT = f"""#!/bin/sh
# kldload e2e stand-in for the live ISO's autoinstall (see tests/e2e/liveconf.py).
marker() {{ echo "{MARKER} $* $(date +%s.%N)"; }}
# Wait until the console has sent everything: the getty that starts after this unit
# flushes the tty's output queue, which under emulation can still hold our last lines.
drain() {{ python3 -c 'import termios; termios.tcdrain(1)' || sleep 2; }}
# Logs for the host, when it attached the exchange disk (the live system's copy of
# the install log covers the whole run; the target's stops before the last phase).
save_logs() {{
    [ -b {IO_DEVICE} ] || return 0
    mkdir -p {IO_DIR}/out/proc
    cp /proc/cmdline {IO_DIR}/out/proc/
    tar -cf {IO_DEVICE} -C / var/log/kldload run/kldload-e2e/out 2>/dev/null
    sync
}}
# kldload.e2e=golden: the export disk mounted, and this system's own sshd serving
# as the image server on 127.0.0.1 with the host key and login key the host made.
golden_setup() {{
    mkdir -p {EXPORT_MOUNT} {ENGINE_EXPORT_DIR} &&
        mount /dev/disk/by-id/virtio-{EXPORT_SERIAL} {EXPORT_MOUNT} &&
        mount --bind {EXPORT_MOUNT}/local {ENGINE_EXPORT_DIR} &&
        rm -f /etc/ssh/ssh_host_* &&
        install -m 0600 {EXPORT_MOUNT}/ssh/ssh_host_ed25519_key /etc/ssh/ &&
        install -m 0644 {EXPORT_MOUNT}/ssh/ssh_host_ed25519_key.pub /etc/ssh/ &&
        install -d -m 0700 /root/.ssh &&
        install -m 0600 {EXPORT_MOUNT}/ssh/authorized_keys /root/.ssh/authorized_keys &&
        systemctl restart ssh.service
    marker golden-ready rc=$?
}}
# After the install: a bare qemu-img convert of the same disk (the export's yardstick),
# the pool's used bytes (read-only import), then the export disk unmounted.
golden_after() {{
    src=/dev/disk/by-id/virtio-target0
    begin=$(date +%s.%N)
    qemu-img convert -f raw -O qcow2 "$src" {EXPORT_MOUNT}/bare/bare.qcow2
    brc=$?
    marker bare-convert rc=$brc begin=$begin bytes=$(stat -c %s {EXPORT_MOUNT}/bare/bare.qcow2)
    rm -f {EXPORT_MOUNT}/bare/bare.qcow2
    # A read-only import loads no space maps (zpool list says 0 allocated); the
    # datasets' own accounting is there.
    if zpool import -N -o readonly=on rpool; then
        marker pool-used bytes=$(zfs get -Hp -o value used rpool)
        zpool export rpool
    fi
    sync
    umount {ENGINE_EXPORT_DIR} {EXPORT_MOUNT}
}}
mode=install
for word in $(cat /proc/cmdline); do
    case "$word" in kldload.e2e=*) mode="${{word#kldload.e2e=}}" ;; esac
done
marker autoinstall-start mode=$mode
case "$mode" in
smoke)
    kldload-tui --version
    marker autoinstall-done rc=$?
    drain
    ;;
*)
    if [ "$mode" = script ]; then
        # The same install as plain commands (the overhead measurement, overhead.py).
        mkdir -p {IO_DIR}/out
        tar -xf {IO_DEVICE} -C {IO_DIR}
        sh {IO_DIR}/run.sh
    else
        [ "$mode" = golden ] && golden_setup
        kldload-tui --headless
    fi
    rc=$?
    [ "$mode" = golden ] && golden_after
    marker autoinstall-done rc=$rc
    if [ "$rc" -ne 0 ]; then
        journalctl -b --no-pager -p warning -n 60
    fi
    save_logs
    marker poweroff
    drain
    systemctl poweroff || echo o > /proc/sysrq-trigger
    ;;
esac
"""

AUTOINSTALL_UNIT = """[Unit]
Description=kldload autoinstall (e2e stand-in for the live ISO's)
# darksite.mount (nofail, so not ordered before local-fs.target): the install reads
# from it, and under a loaded host its disk can show up late.
After=systemd-udev-settle.service local-fs.target systemd-modules-load.service darksite.mount
Wants=systemd-udev-settle.service
ConditionKernelCommandLine=!kldload.autoinstall=off

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/kldload-autoinstall
StandardInput=tty
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
TTYReset=yes
Environment=TERM=vt100 NO_COLOR=1 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
"""

# After the autoinstall has finished with the console, a root shell for the harness.
GETTY_DROPIN = """[Unit]
After=kldload-autoinstall.service

[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --noclear --keep-baud 115200,57600,38400,9600 %I $TERM
"""


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def configure(root: Path) -> None:
    """Hostname, fstab (the darksite disk by label), the autoinstall unit, the getty."""
    _write(root / "etc/hostname", HOSTNAME + "\n")
    _write(root / "etc/hosts", f"127.0.0.1 localhost\n127.0.1.1 {HOSTNAME}\n")
    # nofail: a guest without the darksite disk still boots. The wait is long: with
    # other guests and builds on the host, udev took more than 20 s to show the disk
    # (a golden run installed without its darksite).
    _write(root / "etc/fstab",
           f"LABEL={LABEL} {GUEST_PATH} ext4 ro,nofail,x-systemd.device-timeout=180s 0 0\n")
    (root / GUEST_PATH.lstrip("/")).mkdir(exist_ok=True)
    _write(root / "usr/local/sbin/kldload-autoinstall", AUTOINSTALL_SCRIPT, 0o755)
    _write(root / "etc/systemd/system/kldload-autoinstall.service", AUTOINSTALL_UNIT)
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / "kldload-autoinstall.service"
    if not link.is_symlink():
        link.symlink_to("/etc/systemd/system/kldload-autoinstall.service")
    _write(root / "etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf", GETTY_DROPIN)
    # Background apt runs would hold the lock the installer needs; the live
    # environment has no network and no business updating itself.
    for unit in ("apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer",
                 "fstrim.timer"):
        mask = root / "etc/systemd/system" / unit
        if not mask.is_symlink():
            mask.symlink_to("/dev/null")
    # A fresh machine-id per boot (the file exists but is empty), like a live medium.
    _write(root / "etc/machine-id", "", 0o444)
    passwd = root / "etc/shadow"
    # Root gets no password: the console login is automatic and there is no network.
    passwd.write_text("\n".join(
        "root::" + line.split(":", 2)[2] if line.startswith("root:") else line
        for line in passwd.read_text().splitlines()
    ) + "\n")
