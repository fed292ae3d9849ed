"""Identity and access in any target, and the check that reads them back.

What every distribution does alike once its files are chosen: write them, make
the admin user (password through chpasswd's stdin), lock root, install the SSH
keys, make or remove host keys, make the WireGuard key. What differs (which
files, the admin group's name) is passed in by the distribution's module.
"""

from __future__ import annotations

import stat
from collections.abc import Sequence
from typing import TYPE_CHECKING

from kldload_tui.backend.answers.rules import WELL_KNOWN_PASSWORDS
from kldload_tui.backend.target.files import (
    SUDOERS_PATH,
    TargetFile,
    authorized_keys,
    host_names,
    locale_gen,
    system_links,
    units_to_enable,
    wireguard_keygen_argv,
)

if TYPE_CHECKING:
    from kldload_tui.backend.engine.core import InstallContext


def write_system_files(ctx: InstallContext, files: Sequence[TargetFile]) -> None:
    """Write `files` and the time zone link, and enable the units the files ask for."""
    ctx.write_files(files)
    for link in system_links(ctx.answers):
        ctx.run(["ln", "-sfn", link.target, str(ctx.path(link.path))])
    ctx.chroot(["systemctl", "enable", *units_to_enable(files)])


def use_resolved_stub(ctx: InstallContext) -> None:
    """/etc/resolv.conf as systemd-resolved's stub, where networkd configures the
    network (the Debian family, Arch)."""
    ctx.run(["ln", "-sfn", "../run/systemd/resolve/stub-resolv.conf",
             str(ctx.path("/etc/resolv.conf"))])


def generate_locale(ctx: InstallContext) -> None:
    """The answered locale in /etc/locale.gen, compiled by locale-gen in the target
    (glibc systems that ship locales uncompiled: Debian's family, Arch)."""
    locales = locale_gen(ctx.answers.locale)
    if locales is not None:
        ctx.runner.write_file(ctx.path("/etc/locale.gen"), locales)
        ctx.chroot(["locale-gen"])


def configure_access(ctx: InstallContext, *, admin_group: str) -> None:
    """The admin user (a member of `admin_group`), root locked, SSH and WireGuard
    keys as answered."""
    a = ctx.answers
    user = a.username
    ctx.chroot(["useradd", "--create-home", "--shell", "/bin/bash", "--groups", admin_group,
                user])
    # The password reaches chpasswd on stdin: never in argv, never logged.
    ctx.chroot(["chpasswd"], input=chpasswd_input(user, a.password.get_secret_value()))
    if a.password.get_secret_value() in WELL_KNOWN_PASSWORDS:
        ctx.chroot(["chage", "--lastday", "0", user])  # first login must change it
    ctx.chroot(["passwd", "--lock", "root"])  # root by SSH key only
    _authorized_key(ctx, f"/home/{user}", a.ssh_pubkey, user)
    _authorized_key(ctx, "/root", a.admin_ssh_pubkey, "root")

    if a.generate_ssh_key:
        ctx.chroot(["ssh-keygen", "-A"])
    else:
        # No keys in the image: each machine makes its own at first boot.
        ctx.run(["find", str(ctx.path("/etc/ssh")), "-maxdepth", "1", "-name",
                 "ssh_host_*", "-delete"])
    if a.wireguard:
        ctx.run(wireguard_keygen_argv(str(ctx.target)))


def chpasswd_input(user: str, password: str) -> str:
    """chpasswd's stdin: it splits each line at the first ':' (user names have
    none), so a password may hold any character but a newline."""
    return f"{user}:{password}\n"


def _authorized_key(ctx: InstallContext, home: str, key: str, owner: str) -> None:
    if not key:
        return
    ssh = f"{home}/.ssh"
    ctx.chroot(["install", "-d", "-m", "0700", "-o", owner, "-g", owner, ssh])
    ctx.runner.write_file(ctx.path(f"{ssh}/authorized_keys"), authorized_keys(key), 0o600)
    ctx.chroot(["chown", f"{owner}:{owner}", f"{ssh}/authorized_keys"])


def verify_system(ctx: InstallContext, *, admin_group: str) -> None:
    """Read back what `write_system_files` and `configure_access` wrote."""
    from kldload_tui.backend.engine.core import VerifyError

    a = ctx.answers
    short, _ = host_names(a)
    hostname = ctx.path("/etc/hostname").read_text().strip()
    if hostname != short:
        raise VerifyError(f"/etc/hostname says {hostname!r}, answered {short!r}")
    passwd = {line.split(":")[0]: line.split(":")
              for line in ctx.path("/etc/passwd").read_text().splitlines() if line}
    if a.username not in passwd:
        raise VerifyError(f"user {a.username} does not exist in the target")
    groups = ctx.chroot(["id", "-nG", a.username]).split()
    if admin_group not in groups:
        raise VerifyError(f"{a.username} is not in the {admin_group} group ({' '.join(groups)})")
    sudoers = ctx.path(f"/{SUDOERS_PATH}")
    if stat.S_IMODE(sudoers.stat().st_mode) != 0o440:
        raise VerifyError(f"{sudoers} is not mode 0440")
    ctx.chroot(["visudo", "-c", "-f", f"/{SUDOERS_PATH}"])
    shadow = {line.split(":")[0]: line.split(":")
              for line in ctx.path("/etc/shadow").read_text().splitlines() if line}
    entry = shadow.get(a.username, [])
    if len(entry) < 3 or entry[1] in ("", "!", "*") or entry[1].startswith("!"):
        raise VerifyError(f"{a.username} has no usable password")
    if a.password.get_secret_value() in WELL_KNOWN_PASSWORDS and entry[2] != "0":
        raise VerifyError(f"{a.username}'s well-known password is not expired")
    uid = int(passwd[a.username][2])
    for home, key, owner_uid in ((f"/home/{a.username}", a.ssh_pubkey, uid),
                                 ("/root", a.admin_ssh_pubkey, 0)):
        if not key:
            continue
        keys = ctx.path(f"{home}/.ssh/authorized_keys")
        st = keys.stat()
        if key not in keys.read_text() or stat.S_IMODE(st.st_mode) != 0o600 \
                or st.st_uid != owner_uid:
            raise VerifyError(f"{keys}: key, mode 0600 or owner uid {owner_uid} is wrong")
    host_keys = list(ctx.path("/etc/ssh").glob("ssh_host_*_key"))
    if a.generate_ssh_key and not host_keys:
        raise VerifyError("no SSH host keys were generated")
    if not a.generate_ssh_key and host_keys:
        raise VerifyError("SSH host keys are present although KLDLOAD_GENERATE_SSH_KEY=0")
    if a.wireguard:
        key_file = ctx.path("/etc/wireguard/wg0.key")
        if not key_file.is_file() or stat.S_IMODE(key_file.stat().st_mode) != 0o600:
            raise VerifyError(f"{key_file} is missing or not mode 0600")
