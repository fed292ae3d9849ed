"""PXE artefacts: the kernel, initrd and squashfs the ISO boots, plus menus.

live-boot fetches the root with `fetch=URL` (the URL must end in `.squashfs`)
into RAM, so a machine needs RAM for the squashfs plus the running system.
Per-host answers come from `kldload.answers=` with placeholders: pxelinux passes
`${mac}` and `${hostname}` through for kldload's discovery to fill in; iPXE
fills `${...}` itself before booting, `${mac}` in the same form discovery uses
(lower case, colons) and `${hostname}` from DHCP. See docs/pxe.md.
"""

from __future__ import annotations

from pathlib import Path

from kldload_tui.backend.engine.runner import Runner

# Served over HTTP beside the squashfs: answers/<mac>.env for each machine.
DEFAULT_ANSWERS = "answers/${mac}.env"
ARTEFACTS = ("vmlinuz", "initrd.img", "filesystem.squashfs")
# The darksite in pxe/, served beside the artefacts: KLDLOAD_DEBIAN_MIRROR names it.
DARKSITE_DIR = "darksite"
PXELINUX_FILES = (Path("/usr/lib/PXELINUX/pxelinux.0"),
                  Path("/usr/lib/syslinux/modules/bios/ldlinux.c32"),
                  Path("/usr/lib/syslinux/modules/bios/menu.c32"),
                  Path("/usr/lib/syslinux/modules/bios/libutil.c32"))


def live_params(base_url: str, answers: str | None) -> list[str]:
    """Kernel parameters of a network boot: live-boot's fetch=, then the answers."""
    params = ["boot=live", f"fetch={base_url}/filesystem.squashfs"]
    if answers:
        params.append(f"kldload.answers={base_url}/{answers}")
    return params


def ipxe_script(title: str) -> str:
    """kldload.ipxe: set `base` (where pxe/ is served) before chaining, or edit it here."""
    auto = " ".join(live_params("${base}", DEFAULT_ANSWERS))
    manual = " ".join(live_params("${base}", None))
    return f"""#!ipxe
# {title}: boot the live system over HTTP (docs/pxe.md).
# base is where this directory is served; DHCP or a chaining script may set it.
isset ${{base}} || set base http://${{next-server}}/kldload
# kldload-entry (auto, serial or manual), set by DHCP or a chaining script, skips
# the menu: what a rack with nobody at the console needs.
isset ${{kldload-entry}} && goto ${{kldload-entry}} ||
menu kldload live over the network
item auto    Install from ${{base}}/{DEFAULT_ANSWERS} (else the installer on screen)
item serial  The same, serial console ttyS0 115200
item manual  No answers: the installer on screen, SSH with a one-time password
choose --default auto --timeout 5000 target || goto auto
goto ${{target}}
:auto
kernel ${{base}}/vmlinuz initrd=initrd.img {auto}
goto boot
:serial
kernel ${{base}}/vmlinuz initrd=initrd.img {auto} console=tty0 console=ttyS0,115200
goto boot
:manual
kernel ${{base}}/vmlinuz initrd=initrd.img {manual} kldload.autoinstall=0
goto boot
:boot
initrd ${{base}}/initrd.img
boot
"""


def pxelinux_menu(title: str, base_url: str = "http://SERVER/kldload") -> str:
    """pxelinux.cfg/default; pxelinux does not expand ${...}: discovery does."""
    auto = " ".join(live_params(base_url, DEFAULT_ANSWERS))
    manual = " ".join(live_params(base_url, None))
    return f"""# {title}: pxelinux menu (docs/pxe.md). Replace SERVER with the HTTP
# server holding this directory; kldload.answers may name answers/${{hostname}}.env.
DEFAULT menu.c32
PROMPT 0
TIMEOUT 50
MENU TITLE kldload live over the network

LABEL auto
  MENU LABEL Install from answers/${{mac}}.env (else the installer on screen)
  KERNEL vmlinuz
  APPEND initrd=initrd.img {auto}

LABEL serial
  MENU LABEL The same, serial console ttyS0 115200
  KERNEL vmlinuz
  APPEND initrd=initrd.img {auto} console=tty0 console=ttyS0,115200

LABEL manual
  MENU LABEL No answers: the installer on screen
  KERNEL vmlinuz
  APPEND initrd=initrd.img {manual} kldload.autoinstall=0
"""


def write_pxe(pxe: Path, sources: dict[str, Path], title: str, runner: Runner,
              darksite: Path | None = None) -> list[str]:
    """Fill `pxe/`: hard links to the artefacts (copies across file systems), menus,
    pxelinux's own files when this machine has them, and the darksite repository
    (`darksite`, hard-linked) for an install to use as its mirror over HTTP.
    Returns what was written."""
    pxe.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    served = pxe / DARKSITE_DIR
    if served.exists():
        runner.run(["rm", "-rf", "--", str(served)])
    if darksite is not None:
        # The same signed repository as the ISO's: the live system checks it
        # against the key it carries, whether read from a medium or over HTTP.
        runner.run(["cp", "-al", "--", str(darksite), str(served)], check=False)
        if not served.exists():
            runner.run(["cp", "-a", "--", str(darksite), str(served)])
        written.append(f"{DARKSITE_DIR}/")
    for name in ARTEFACTS:
        dest = pxe / name
        dest.unlink(missing_ok=True)
        runner.run(["cp", "--reflink=auto", "--link", "--", str(sources[name]), str(dest)],
                   check=False)
        if not dest.exists():
            runner.run(["cp", "--reflink=auto", "--", str(sources[name]), str(dest)])
        written.append(name)
    runner.write_file(pxe / "kldload.ipxe", ipxe_script(title))
    runner.write_file(pxe / "pxelinux.cfg/default", pxelinux_menu(title))
    written += ["kldload.ipxe", "pxelinux.cfg/default"]
    for path in PXELINUX_FILES:
        if path.is_file():
            runner.run(["cp", "--", str(path), str(pxe / path.name)])
            written.append(path.name)
    return written
