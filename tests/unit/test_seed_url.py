"""Kernel command line parsing and URL placeholders (no network here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kldload_tui.backend.machine.model import Dmi, Machine, Nic
from kldload_tui.backend.seed.url import (
    FetchError,
    MachineIdentity,
    PlaceholderError,
    answers_url_from_cmdline,
    expand_url,
    fetch_url,
    identity_from_machine,
    is_url,
    parse_cmdline,
    probe_identity,
)

MAC = "3c:ec:ef:1a:2b:3c"


def machine(**changes: object) -> Machine:
    base: dict[str, object] = {
        "firmware": "uefi", "hostname": "web-01",
        "nics": [Nic(name="br0", mac="02:00:00:00:00:09", virtual=True),
                 Nic(name="eno1", mac=MAC), Nic(name="eno2", mac="3c:ec:ef:1a:2b:3d")],
        "dmi": Dmi(serial="S42 1/337", uuid="4C4C4544-0042-3510-8052-B4C04F4E3332")}
    return Machine.model_validate({**base, **changes})


# Kernel command line ----------------------------------------------------------

def test_parse_cmdline_splits_like_the_kernel() -> None:
    text = ('BOOT_IMAGE=/vmlinuz quiet kldload.answers="http://h/a b.env" '
            '"KLDLOAD_ANSWERS_URL=http://h/x y" ro -- init-arg kldload.answers=http://late')
    assert parse_cmdline(text) == [
        ("BOOT_IMAGE", "/vmlinuz"), ("quiet", None), ("kldload.answers", "http://h/a b.env"),
        ("KLDLOAD_ANSWERS_URL", "http://h/x y"), ("ro", None)]


def test_parse_cmdline_keeps_equals_signs_in_values() -> None:
    assert parse_cmdline("kldload.answers=http://h/a.env?x=1&y=2\n") == [
        ("kldload.answers", "http://h/a.env?x=1&y=2")]


@pytest.mark.parametrize(("text", "key", "url"), [
    ("quiet kldload.answers=http://h/a.env", "kldload.answers", "http://h/a.env"),
    ("KLDLOAD_ANSWERS_URL=https://h/b.env quiet", "KLDLOAD_ANSWERS_URL", "https://h/b.env"),
    ('kldload.answers="http://h/${mac}.env"', "kldload.answers", "http://h/${mac}.env"),
    # The documented key wins over the environment-style one, wherever it stands.
    ("kldload.answers=http://h/1 KLDLOAD_ANSWERS_URL=http://h/2", "kldload.answers",
     "http://h/1"),
    ("KLDLOAD_ANSWERS_URL=http://h/2 kldload.answers=http://h/1", "kldload.answers",
     "http://h/1"),
    # Given twice, the last one counts, as the kernel and init see it.
    ("kldload.answers=http://h/1 kldload.answers=http://h/3", "kldload.answers", "http://h/3"),
])
def test_answers_url_from_cmdline(text: str, key: str, url: str) -> None:
    found = answers_url_from_cmdline(text)
    assert found is not None
    assert (found.key, found.url) == (key, url)


def test_both_keys_leave_a_note_about_the_ignored_one() -> None:
    found = answers_url_from_cmdline("KLDLOAD_ANSWERS_URL=http://h/2 kldload.answers=http://h/1")
    assert found is not None and found.note is not None
    assert "KLDLOAD_ANSWERS_URL=http://h/2 ignored" in found.note
    same = answers_url_from_cmdline("KLDLOAD_ANSWERS_URL=http://h/1 kldload.answers=http://h/1")
    assert same is not None and same.note is None


@pytest.mark.parametrize("text", [
    "", "quiet splash", "kldload.answers", "xkldload.answers=http://h/a",
    "-- kldload.answers=http://h/after-the-separator", "kldload_answers=http://h/a",
])
def test_no_answers_url(text: str) -> None:
    assert answers_url_from_cmdline(text) is None


def test_is_url() -> None:
    assert is_url("http://h/a") and is_url("https://h/a") and is_url("ftp://h/a")
    assert not is_url("/srv/answers.env") and not is_url("answers.env")
    assert not is_url("C:answers.env")


# Placeholders -------------------------------------------------------------------

def test_every_placeholder_from_a_machine_description() -> None:
    ident = identity_from_machine(machine())
    url = expand_url("http://h/${mac}/${mac_dashed}/${serial}/${uuid}/${hostname}.env", ident)
    assert url == ("http://h/3c:ec:ef:1a:2b:3c/3c-ec-ef-1a-2b-3c/S42%201%2F337/"
                   "4c4c4544-0042-3510-8052-b4c04f4e3332/web-01.env")


def test_pxelinux_style_url() -> None:
    ident = identity_from_machine(machine())
    assert expand_url("http://h/pxe/01-${mac_dashed}", ident) == "http://h/pxe/01-3c-ec-ef-1a-2b-3c"


def test_url_without_placeholders_is_unchanged() -> None:
    assert expand_url("http://h/a.env?x=$1", MachineIdentity()) == "http://h/a.env?x=$1"


def test_unknown_placeholder_is_named_with_a_suggestion() -> None:
    with pytest.raises(PlaceholderError) as info:
        expand_url("http://h/${MAC}/${serail}/${nope}.env", identity_from_machine(machine()))
    reasons = info.value.reasons
    assert reasons[0] == "unknown placeholder ${MAC}; did you mean ${mac}?"
    assert reasons[1] == "unknown placeholder ${serail}; did you mean ${serial}?"
    assert reasons[2].startswith("unknown placeholder ${nope}; known: ${mac}, ${mac_dashed}")


def test_unclosed_placeholder() -> None:
    with pytest.raises(PlaceholderError, match="not closed"):
        expand_url("http://h/${mac.env", identity_from_machine(machine()))


def test_missing_values_say_why() -> None:
    m = machine(nics=[Nic(name="br0", mac="02:00:00:00:00:09", virtual=True)], dmi=Dmi())
    with pytest.raises(PlaceholderError) as info:
        expand_url("http://h/${mac}/${serial}/${uuid}", identity_from_machine(m))
    assert info.value.reasons == [
        "placeholder ${mac} has no value: no physical network interface with a MAC address",
        "placeholder ${serial} has no value: the machine description has no dmi.serial",
        "placeholder ${uuid} has no value: the machine description has no dmi.uuid",
    ]


@pytest.mark.parametrize("junk", ["To Be Filled By O.E.M.", "Default string", "0",
                                  "Not Specified", "System Serial Number"])
def test_vendor_filler_serials_are_refused(junk: str) -> None:
    ident = identity_from_machine(machine(dmi=Dmi(serial=junk)))
    with pytest.raises(PlaceholderError, match="vendor placeholder"):
        expand_url("http://h/${serial}.env", ident)


def fake_sys(root: Path, *, serial: str | None, uuid_dir: bool = False) -> Path:
    net = root / "class" / "net"
    for name, mac, physical in (("lo", "00:00:00:00:00:00", False),
                                ("eth0", "52:54:00:AB:CD:EF", True),
                                ("veth1", "aa:aa:aa:aa:aa:aa", False)):
        (net / name).mkdir(parents=True)
        (net / name / "address").write_text(mac + "\n")
        if physical:
            (net / name / "device").mkdir()
    dmi = root / "class" / "dmi" / "id"
    dmi.mkdir(parents=True)
    if serial is not None:
        (dmi / "product_serial").write_text(serial + "\n")
    if uuid_dir:
        (dmi / "product_uuid").mkdir()  # unreadable as a file, whoever runs the test
    return root


def test_probe_identity_reads_sysfs(tmp_path: Path) -> None:
    ident = probe_identity(fake_sys(tmp_path, serial="ABC123"), hostname="live")
    assert dict(ident.values) == {"mac": "52:54:00:ab:cd:ef", "mac_dashed": "52-54-00-ab-cd-ef",
                                  "serial": "ABC123", "hostname": "live"}


def test_probe_identity_unreadable_dmi_errors_clearly(tmp_path: Path) -> None:
    ident = probe_identity(fake_sys(tmp_path, serial=None, uuid_dir=True), hostname="live")
    with pytest.raises(PlaceholderError) as info:
        expand_url("http://h/${serial}/${uuid}", ident)
    serial, uuid = info.value.reasons
    assert "product_serial does not exist" in serial
    assert uuid.startswith("placeholder ${uuid} has no value: cannot read ")
    assert "product_uuid" in uuid


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://h/a.env", "http:///a.env",
                                 "/srv/a.env"])
def test_fetch_refuses_what_is_not_http(url: str) -> None:
    with pytest.raises(FetchError) as info:
        fetch_url(url, retries=0)
    assert info.value.kind == "bad-url"
    assert "not an http:// or https:// URL" in str(info.value)


@pytest.mark.parametrize("timeout", [0.0, -1.0, float("nan"), float("inf")])
def test_fetch_needs_a_deadline_it_can_keep(timeout: float) -> None:
    # Raised before any request: an attempt without a finite deadline could hang forever.
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds"):
        fetch_url("http://127.0.0.1:9/a.env", timeout=timeout, retries=0)
