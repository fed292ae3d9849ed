"""`pxe`: the product's `pxe/` artefacts boot a machine with no medium, which
installs itself from per-MAC answers and the darksite, all over HTTP.

The machine has blank disks and one NIC on QEMU's user network (restrict=on, so
no way out): QEMU's DHCP names a TFTP boot file, QEMU's TFTP server serves it
from the run directory, and the NIC's iPXE ROM (SeaBIOS, `-boot n`) runs it. That
boot file is what an operator's chaining script is (docs/pxe.md): it sets `base`
and `kldload-entry serial`, then chains the product's `kldload.ipxe`, which boots
the kernel and initrd with live-boot's `fetch=` of the squashfs and
`kldload.answers=${base}/answers/${mac}.env`.

Every HTTP request goes to a server the harness runs on 127.0.0.1: QEMU's
`guestfwd` for 10.0.2.100:80 starts `relay.py` per connection, which connects to
it. It serves `pxe/` (the darksite with it) and the machine's answers, which name
the served darksite as KLDLOAD_DEBIAN_MIRROR: the install checks it against the
darksite key the live root carries. The disk is then booted alone under SeaBIOS
and checked like `single`, and the server's log must show each artefact, the
answers and the darksite fetched.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kldload_tui.backend.iso import pxe
from tests.e2e.answers import InstallSpec, answers_text
from tests.e2e.bootcheck import CheckFailed
from tests.e2e.install import (
    ISO_START,
    extract_logs,
    io_disk,
)
from tests.e2e.installs import (
    ISO_BOOT_TIMEOUT,
    boot_and_check,
    finish_action,
    follow_live_install,
    target_disk,
)
from tests.e2e.qemu import Guest

if TYPE_CHECKING:
    from tests.e2e.layouts import Result, Run

MAC = "52:54:00:6b:6c:01"
# QEMU's user network answers TCP to this address with guestfwd; nothing else.
SERVER = "10.0.2.100"
BASE = f"http://{SERVER}/kldload"
# The machine's answers name the served darksite as the mirror, as docs/pxe.md says.
SPEC = InstallSpec("pxe", profile="core", live_firmware="bios",
                   extra_answers=(f"KLDLOAD_DEBIAN_MIRROR={BASE}/{pxe.DARKSITE_DIR}",))
BOOT_FILE = "kldload-chain.ipxe"
RELAY = Path(__file__).with_name("relay.py")
# From power-on to the autoinstall: iPXE, the kernel, the initrd and the
# squashfs over HTTP into RAM, then the live system's boot.
PXE_BOOT_TIMEOUT = ISO_BOOT_TIMEOUT + 600.0
# The squashfs is held in RAM beside the running system and the install.
MEMORY_MIB = 4096


class _Logged(SimpleHTTPRequestHandler):
    """Files under the served root; each request's path and status kept."""

    requests: list[tuple[str, int]]

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        self.requests.append((self.path, int(code) if str(code).isdigit() else 0))

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def http_server(root: Path) -> Iterator[tuple[int, list[tuple[str, int]]]]:
    """(port, requests) of a threaded HTTP server on 127.0.0.1 serving `root`."""
    requests: list[tuple[str, int]] = []
    handler = type("Handler", (_Logged,), {"requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], requests
    finally:
        server.shutdown()
        server.server_close()


def chain_script() -> str:
    """The boot file QEMU's TFTP serves: an operator's chaining script."""
    return (f"#!ipxe\nset base {BASE}\nset kldload-entry serial\n"
            "chain ${base}/kldload.ipxe\n")


def serve_tree(run_dir: Path, built: Path, suite: str) -> Path:
    """The HTTP root: kldload/ holds the build's pxe/ (links) and answers/<mac>.env."""
    root = run_dir / "pxe-http"
    served = root / "kldload"
    (served / "answers").mkdir(parents=True, exist_ok=True)
    for entry in built.iterdir():
        link = served / entry.name
        if not link.exists():
            link.symlink_to(entry)
    (served / "answers" / f"{MAC}.env").write_text(answers_text(SPEC, suite,
                                                                 finish_action("iso")))
    return root


def _fetched(requests: list[tuple[str, int]], suite: str) -> list[str]:
    """What the server must have served (200) for a network install; the missing."""
    wanted = ["/kldload/kldload.ipxe", "/kldload/vmlinuz", "/kldload/initrd.img",
              "/kldload/filesystem.squashfs", f"/kldload/answers/{MAC}.env",
              f"/kldload/{pxe.DARKSITE_DIR}/dists/{suite}/InRelease"]
    ok = {path for path, code in requests if code == 200}
    missing = [w for w in wanted if w not in ok]
    if not any(p.startswith(f"/kldload/{pxe.DARKSITE_DIR}/pool/") and p.endswith(".deb")
               for p in ok):
        missing.append(f"/kldload/{pxe.DARKSITE_DIR}/pool/**.deb")
    return missing


def pxe_layout(ctx: Run, result: Result) -> None:
    iso = ctx.need_iso()
    built = iso.path.parent / "pxe"
    if not (built / pxe.DARKSITE_DIR / "dists").is_dir():
        raise CheckFailed(f"{built} has no darksite: the build must serve one beside pxe/")
    root = serve_tree(ctx.run_dir, built, iso.suite)
    tftp = ctx.run_dir / "pxe-tftp"
    tftp.mkdir(exist_ok=True)
    (tftp / BOOT_FILE).write_text(chain_script())
    targets = [target_disk(ctx, SPEC, serial) for serial in SPEC.serials]
    io = io_disk(ctx.run_dir, SPEC.name, ctx.log)
    with http_server(root) as (port, requests):
        relay = f"{sys.executable} {RELAY} {port}"
        options = (f",mac={MAC},tftp={tftp},bootfile={BOOT_FILE},"
                   f"guestfwd=tcp:{SERVER}:80-cmd:{relay}")
        with Guest(f"{SPEC.name}-install", ctx.run_dir, disks=[*targets, io],
                   netboot=True, net_options=options, memory_mib=MEMORY_MIB) as guest:
            try:
                with result.step("pxe-boot"):
                    started = float(guest.expect(ISO_START, PXE_BOOT_TIMEOUT,
                                                 "the autoinstall's start").group(1))
                outcome = follow_live_install(guest, result, started)
                result.guest_seconds = outcome.guest_seconds
            finally:
                result.console_tail = guest.tail()
        served = list(requests)
    (ctx.run_dir / "pxe-http.log").write_text("".join(f"{c} {p}\n" for p, c in served))
    if outcome.rc != 0:
        extract_logs(io.path, ctx.run_dir / f"{SPEC.name}-logs")
        raise CheckFailed(f"the install exited {outcome.rc}: {outcome.failed or 'see console'}")
    missing = _fetched(served, iso.suite)
    if missing:
        raise CheckFailed("not fetched over HTTP: " + ", ".join(missing))
    result.checks.append("booted-and-installed-over-http")
    boot_and_check(ctx, result, SPEC, targets, None)
    result.ok = True
