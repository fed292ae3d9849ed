"""The real thing, once: build the live ISO (timed), then boot it under QEMU
software emulation from a CD, on UEFI (OVMF) and on legacy BIOS (SeaBIOS), one
guest at a time, and report the figures.

    sudo .venv/bin/python benchmarks/iso_smoke.py --out /var/tmp/kldload-iso [--darksite]

Not part of any test run: it needs root, a Debian mirror, several minutes cold
and about two minutes per boot under TCG. Checks, over the serial console:
- OVMF + the "serial console" entry (GRUB hotkey `s`): the kernel reaches
  userspace and kldload-autoinstall starts (no answers: it says so);
- SeaBIOS + the "serial, no autoinstall" entry (hotkey `n`,
  kldload.autoinstall=0): a login prompt on ttyS0.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pexpect

EXE = Path(sys.executable).parent / "kldload-tui"
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
MENU = "kldload live"


def build(out: Path, darksite: bool) -> tuple[float, dict]:
    argv = [str(EXE), "iso", "build", "--out", str(out), "--json"]
    if darksite:
        argv.append("--darksite")
    began = time.monotonic()
    done = subprocess.run(argv, stdout=subprocess.PIPE, text=True, check=True)
    return time.monotonic() - began, json.loads(done.stdout)


def boot(iso: Path, firmware: str, hotkey: str, expect: list[str], log: Path,
         timeout: float = 900) -> dict[str, float]:
    """Boot the ISO as a CD; pick the entry by its hotkey; wait for each of `expect`."""
    with tempfile.TemporaryDirectory(prefix="kldload-smoke-") as tmp:
        argv = ["-accel", "tcg", "-machine", "q35", "-m", "2048", "-smp", "2",
                "-nographic", "-no-reboot", "-cdrom", str(iso), "-boot", "d"]
        if firmware == "ovmf":
            vars_copy = Path(tmp) / "OVMF_VARS_4M.fd"
            shutil.copy2(OVMF_VARS, vars_copy)
            argv = ["-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
                    "-drive", f"if=pflash,format=raw,file={vars_copy}", *argv]
        began = time.monotonic()
        with log.open("w") as console:
            child = pexpect.spawn("qemu-system-x86_64", argv, encoding="utf-8",
                                  codec_errors="replace", timeout=timeout)
            child.logfile_read = console
            try:
                child.expect(MENU)
                menu = time.monotonic() - began
                time.sleep(1)  # GRUB draws the whole menu before it reads keys
                child.send(hotkey)
                child.expect(r"Linux version|Run /init|Loading initial ramdisk")
                kernel = time.monotonic() - began
                child.expect(r"systemd\[1\]|Welcome to|kldload-autoinstall")
                userspace = time.monotonic() - began
                reached: dict[str, float] = {}
                for pattern in expect:
                    child.expect(pattern)
                    reached[pattern] = round(time.monotonic() - began, 1)
            finally:
                child.terminate(force=True)
    return {"menu": round(menu, 1), "kernel": round(kernel, 1),
            "userspace": round(userspace, 1), **reached}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/var/tmp/kldload-iso"))
    parser.add_argument("--darksite", action="store_true")
    parser.add_argument("--skip-build", action="store_true",
                        help="boot the ISO already in --out (its summary.json)")
    parser.add_argument("--only", choices=("ovmf", "seabios"), help="one boot only")
    args = parser.parse_args()
    figures: dict[str, object] = {}
    if args.skip_build:
        summary = json.loads((args.out / "summary.json").read_text())
    else:
        first, summary = build(args.out, args.darksite)
        second, summary = build(args.out, args.darksite)
        figures["build_first_s"] = round(first, 1)
        figures["build_again_s"] = round(second, 1)
    iso = Path(summary["iso"])
    figures.update(iso_bytes=summary["iso_bytes"], squashfs_bytes=summary["squashfs_bytes"],
                   steps={s["name"]: s["seconds"] for s in summary["steps"]})
    if args.only in (None, "ovmf"):
        # No seed and no kldload.answers=: the autoinstall says so, a one-time SSH
        # password is shown, and the TUI starts on the serial console.
        figures["ovmf_cd_autoinstall"] = boot(
            iso, "ovmf", "s", [r"kldload-autoinstall: start", r"no answers",
                               r"one-time password", r"Welcome"],
            args.out / "smoke-ovmf-console.log")
    if args.only in (None, "seabios"):
        figures["seabios_cd_login"] = boot(
            iso, "seabios", "n", [r"login:"], args.out / "smoke-seabios-console.log")
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
