"""The `remote` layout: an install through the live ISO's web UI, as an operator's
script does it (docs/remote.md), and the installed disk booted and checked.

The ISO boots with no seed (the serial entry): the autoinstall finds no answers,
starts `kldload-webui.service` on port 8080 and the TUI. QEMU forwards a free port
of 127.0.0.1 to it (user network, restrict=on: the guest reaches nothing else).
The harness reads the token off the serial console, then over the API:
- a connection with a wrong token is refused (HTTP 401);
- `state` is idle, `list_disks` finds the blank target installable;
- `validate` of a request with two mistakes lists both, and installs nothing;
- `install` with the layout's answers as the seed's flat fields (finish action
  poweroff) streams to `complete`; the password appears in no message.
The guest powers itself off, and the disk boots alone under OVMF with the
NVRAM the installer wrote, for the same checks as every install layout.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tests.e2e.answers import InstallSpec, answers_text
from tests.e2e.bootcheck import CheckFailed
from tests.e2e.installs import ISO_BOOT_TIMEOUT, boot_and_check, live_firmware, target_disk
from tests.e2e.iso import SERIAL_ENTRY, cd_guest, choose_entry
from tests.e2e.qemu import free_port
from tests.e2e.remote_api import Api, request_fields, token_from_console

if TYPE_CHECKING:
    from tests.e2e.layouts import Result, Run

SPEC = InstallSpec("remote", profile="core", password="e2e-Remote-Passw0rd")
WEBUI_PORT = 8080  # kldload-webui.service
TOKEN_LINE = r"(kldload-tui serve: token \S+ \(|web UI http://\S+token=\S+)"
INSTALL_TIMEOUT = 7200.0


def _api_checks(api: Api, request: dict[str, object]) -> list[str]:
    """What the API must say before anything is installed; the names of the checks."""
    if not api.refuses_without_token():
        raise CheckFailed("a connection with a wrong token was not refused with HTTP 401")
    state = api.ask({"action": "state"})
    if state.get("status") != "idle" or state.get("elsewhere"):
        raise CheckFailed(f"`state` before the install: {state}")
    disks = api.ask({"action": "list_disks", "profile": SPEC.profile})
    target = str(request["disk"])
    entry = next((d for d in disks.get("disks", []) if d.get("by_id") == target), None)
    if entry is None or not entry["verdict"]["installable"]:
        raise CheckFailed(f"`list_disks` does not offer {target}: "
                          f"{json.dumps(entry or disks)[:1500]}")
    bad = {**request, "action": "validate", "hostname": "not a hostname!",
           "disk": "/dev/disk/by-id/virtio-not-attached"}
    verdict = api.ask(bad)
    text = json.dumps(verdict)
    if verdict.get("type") != "invalid" or "hostname" not in text or "not-attached" not in text:
        raise CheckFailed(f"`validate` of a request with two mistakes said: {text[:1500]}")
    return ["token-required", "state-idle", "list-disks", "validate-lists-every-problem"]


def remote(ctx: Run, result: Result) -> None:
    spec = SPEC
    firmware = live_firmware(ctx, spec)
    targets = [target_disk(ctx, spec, serial) for serial in spec.serials]
    fields = request_fields(answers_text(spec, ctx.suite))
    # The live system powers itself off once the install is complete; the boot
    # check then starts the same machine from its disk.
    request: dict[str, object] = {"action": "install", **fields, "finish_action": "poweroff"}
    port = free_port()
    api = Api(port, "", ctx.run_dir / "remote-api.log")
    guest = cd_guest("remote-install", ctx.run_dir, ctx.need_iso(), targets, firmware)
    guest.network = True
    guest.hostfwd = [(port, WEBUI_PORT)]
    checks: list[str] = []
    with guest:
        try:
            with result.step("live-boot"):
                choose_entry(guest, SERIAL_ENTRY)
                match = guest.expect(TOKEN_LINE, ISO_BOOT_TIMEOUT, "the web UI's token")
                token = token_from_console(match.group(0))
                if token is None:
                    raise CheckFailed(f"no token in {match.group(0)!r}")
                api.token = token
                api.wait_listening(120)
            with result.step("api-checks"):
                checks += _api_checks(api, request)
            with result.step("install"):
                got = guest.while_reading(lambda: api.install(request))
            result.phases = got.phases
            if got.status != "complete":
                last = got.messages[-1] if got.messages else {}
                raise CheckFailed(f"the API install ended {got.status or 'without a status'}: "
                                  f"{last.get('message', '')}")
            checks.append("api-install-complete")
            streamed = "\n".join(json.dumps(m) for m in got.messages)
            if spec.password and spec.password in streamed:
                raise CheckFailed("the password appears in the install's stream")
            checks.append("no-password-in-stream")
            with result.step("live-poweroff"):
                guest.wait_exit(600)
        finally:
            result.console_tail = guest.tail()
    boot_and_check(ctx, result, spec, targets, firmware)
    result.checks = [*checks, *result.checks]
    result.ok = True
