"""Configure a Debian target from the answers, and read the result back.

File contents come from `kldload_tui.backend.target.files`; this module runs what must
run inside the target (useradd, chpasswd over stdin, locale-gen) and checks
each outcome on disk rather than trusting exit codes.
"""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING

from kldload_tui.backend.answers.rules import WELL_KNOWN_PASSWORDS
from kldload_tui.backend.distros.apt_sources import live_debian_mirror
from kldload_tui.backend.target.files import (
    SUDOERS_PATH,
    authorized_keys,
    host_names,
    locale_gen,
    system_files,
    system_links,
    units_to_enable,
    wireguard_keygen_argv,
)

if TYPE_CHECKING:
    from kldload_tui.backend.engine.core import InstallContext

POLICY_RC_D = "/usr/sbin/policy-rc.d"
KEPT_DARKSITE = "/var/lib/kldload/darksite"


def configure_debian(ctx: InstallContext) -> None:
    """Everything the answers say about the installed system's identity and access."""
    a = ctx.answers
    files = system_files(a)
    ctx.write_files(files)
    for link in system_links(a):
        ctx.run(["ln", "-sfn", link.target, str(ctx.path(link.path))])
    ctx.chroot(["systemctl", "enable", *units_to_enable(files)])
    ctx.run(["ln", "-sfn", "../run/systemd/resolve/stub-resolv.conf",
             str(ctx.path("/etc/resolv.conf"))])
    locales = locale_gen(a.locale)
    if locales is not None:
        ctx.runner.write_file(ctx.path("/etc/locale.gen"), locales)
        ctx.chroot(["locale-gen"])

    user = a.username
    ctx.chroot(["useradd", "--create-home", "--shell", "/bin/bash", "--groups", "sudo", user])
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
    _final_sources(ctx)
    ctx.run(["rm", "-f", str(ctx.path(POLICY_RC_D))])


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


def _final_sources(ctx: InstallContext) -> None:
    """The installed system's apt sources: the real mirror, or the kept darksite."""
    from kldload_tui.backend.distros.debian import DebianBackend

    distro = ctx.distro
    assert isinstance(distro, DebianBackend)
    a = ctx.answers
    if ctx.options.darksite is None:
        return  # installed from the mirror: its sources are already right
    if a.keep_darksite:
        ctx.run(["cp", "-a", f"{ctx.options.darksite}/.", str(ctx.path(KEPT_DARKSITE))])
        text = distro.sources(f"file:{KEPT_DARKSITE}", darksite=True)
    else:
        mirror = a.custom_mirror_url or a.debian_mirror or live_debian_mirror(
            ctx.options.live_root)
        if mirror:
            text = distro.sources(mirror, darksite=False)
        else:
            text = ("# Installed from a darksite; no network mirror was known.\n"
                    "# Add one here, e.g. with KLDLOAD_DEBIAN_MIRROR at the next install.\n")
            ctx.warn("no Debian mirror configured in the target: apt has no sources")
    ctx.runner.write_file(ctx.path("/etc/apt/sources.list.d/debian.sources"), text)


def verify_debian_config(ctx: InstallContext) -> None:
    """Read back what configure wrote."""
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
    if "sudo" not in groups:
        raise VerifyError(f"{a.username} is not in the sudo group ({' '.join(groups)})")
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
    if ctx.path(POLICY_RC_D).exists():
        raise VerifyError(f"{POLICY_RC_D} is still in the target: services would never start")
