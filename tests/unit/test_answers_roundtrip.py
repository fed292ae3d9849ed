"""Writer/parser round trip, and properties over arbitrary input (hypothesis)."""

import re
import string
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from kldload_tui.backend.answers import envfile
from kldload_tui.backend.answers.file import REDACTED, dump_answers, load_answers, parse_answers
from kldload_tui.backend.answers.model import Answers, DebianSuite, Distro, ExportFormat, Profile
from kldload_tui.backend.answers.rules import check_answers
from kldload_tui.backend.problems import Severity

from .answers_helpers import BASE, KEY1

EXAMPLES = sorted((Path(__file__).parents[2] / "answers-examples").glob("*.env"))


def test_examples_exist():
    names = {p.name for p in EXAMPLES}
    assert {"minimal.env", "full-reference.env", "rocky-seed-usb.env", "golden-image-export.env",
            "static-server.env", "mirror.env", "raidz1-special.env", "encrypted.env"} <= names


def test_every_example_is_valid():
    for path in EXAMPLES:
        result = load_answers(path)
        assert result.ok, (path, [p.render() for p in result.errors])


def test_every_example_round_trips():
    for path in EXAMPLES:
        answers = load_answers(path).answers
        assert answers is not None
        for only_changed in (False, True):
            again = parse_answers(dump_answers(answers, only_changed=only_changed))
            assert again.answers == answers, path


def test_redacted_dump_hides_secrets_and_says_so():
    answers = load_answers(Path(EXAMPLES[0]).parent / "encrypted.env").answers
    text = dump_answers(answers, redact=True)
    assert "keep-it-secret" not in text
    assert "correct horse" not in text
    assert f"KLDLOAD_PASSWORD='{REDACTED}'" in text
    assert text.startswith(f"# Secrets are replaced by {REDACTED}")


def test_secrets_never_in_repr_or_dump_json():
    answers = load_answers(Path(EXAMPLES[0]).parent / "encrypted.env").answers
    for text in (repr(answers), str(answers), answers.model_dump_json()):
        assert "keep-it-secret" not in text
        assert "correct horse" not in text


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_any_text_gives_a_model_or_problems_never_a_traceback(text):
    result = parse_answers(text, source="fuzz.env")
    assert result.answers is not None or result.errors
    for p in result.problems:
        assert p.render()


_line = st.one_of(
    st.sampled_from(["KLDLOAD_DISTRO=debian", "KLDLOAD_DISK=/dev/sda", "KLDLOAD_HOSTNAME=h",
                     "KLDLOAD_ZFS_TOPOLOGY=mirror", "export KLDLOAD_PROFILE='core'", "# c", "",
                     'KLDLOAD_PASSWORD="a\\"b"', "KLDLOAD_NET_METHOD=static"]),
    st.builds(lambda k, v: f"KLDLOAD_{k}={v}", st.sampled_from(
        ["DISK", "NET_IP", "NET_PREFIX", "ZFS_DATA_DISKS", "TIMEZONE", "SSH_PUBKEY"]),
        st.text(max_size=30)),
)


@settings(max_examples=300)
@given(st.lists(_line, max_size=12), st.sampled_from(["\n", "\r\n"]))
def test_answer_like_files_never_crash(lines, eol):
    result = parse_answers(eol.join(lines), source="fuzz.env")
    assert result.answers is not None or result.errors


_safe_text = st.text(
    alphabet=string.ascii_letters + string.digits + " '\"$`\\!#;&|<>()*?~^%=,.:/@_-",
    min_size=1, max_size=40,
)
_host = st.from_regex(r"\A[a-z][a-z0-9-]{0,10}[a-z0-9](\.[a-z]{2,6}){0,2}\Z")


@st.composite
def valid_answers(draw):
    disks = draw(st.lists(st.sampled_from([f"/dev/sd{c}" for c in "abcdefgh"] +
                                          ["/dev/nvme0n1", "/dev/disk/by-id/nvme-X_1"]),
                          min_size=1, max_size=5, unique=True))
    topology = {1: "single", 2: "mirror", 3: "raidz1", 4: "mirror-stripe", 5: "raidz1"}
    data = {
        "KLDLOAD_DISTRO": draw(st.sampled_from(list(Distro))),
        "KLDLOAD_PROFILE": draw(st.sampled_from(list(Profile))),
        "KLDLOAD_DISK": disks[0],
        "KLDLOAD_ZFS_DATA_DISKS": " ".join(disks[1:]),
        "KLDLOAD_ZFS_TOPOLOGY": topology[len(disks)],
        "KLDLOAD_HOSTNAME": draw(_host),
        "KLDLOAD_PASSWORD": draw(_safe_text),
        "KLDLOAD_TIMEZONE": draw(st.sampled_from(["UTC", "Europe/Berlin", "America/Vancouver"])),
        "KLDLOAD_SSH_PUBKEY": draw(st.sampled_from(["", KEY1])),
        "KLDLOAD_ZFS_ENCRYPT": draw(st.booleans()),
        # Debian names: two or more characters; a trailing '-' would be apt's "remove".
        "KLDLOAD_EXTRA_PACKAGES": draw(st.lists(
            st.from_regex(r"\A[a-z0-9][a-z0-9+.-]{0,11}[a-z0-9+.]\Z"), max_size=4)),
        "KLDLOAD_NET_DNS": draw(st.lists(st.sampled_from(
            ["10.0.1.1", "2001:db8::53", "fe80::53%eth0", "fe80::1%2", "127.0.0.53"]),
            max_size=3)),
        "KLDLOAD_DEBIAN_SUITE": draw(st.sampled_from(list(DebianSuite))),
        "KLDLOAD_EXPORT_FORMAT": draw(st.sampled_from(list(ExportFormat))),
        "KLDLOAD_CLUSTER_SIZE": draw(st.integers(1, 200)),
        "KLDLOAD_KEYBOARD_VARIANT": draw(st.sampled_from(["", "dvorak", "intl"])),
    }
    if data["KLDLOAD_EXPORT_FORMAT"] != ExportFormat.NONE:
        # An image is one disk: validation refuses an export of a pool on more.
        data["KLDLOAD_ZFS_DATA_DISKS"] = ""
        data["KLDLOAD_ZFS_TOPOLOGY"] = topology[1]
    if data["KLDLOAD_ZFS_ENCRYPT"]:
        data["KLDLOAD_ZFS_PASSPHRASE"] = draw(_safe_text.filter(lambda s: len(s) >= 8))
    if data["KLDLOAD_EXPORT_FORMAT"] != ExportFormat.NONE and draw(st.booleans()):
        data["KLDLOAD_EXPORT_SCP_HOST"] = draw(_host)
        data["KLDLOAD_EXPORT_SCP_PASS"] = draw(_safe_text)
        if "export_scp_host_key" in Answers.model_fields:  # a password needs the host pinned
            data["KLDLOAD_EXPORT_SCP_HOST_KEY"] = "SHA256:" + "A" * 43
    return Answers.model_validate(data)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(valid_answers())
def test_valid_models_round_trip_through_the_writer(answers):
    assert not [p for p in check_answers(answers) if p.severity is Severity.ERROR]
    again = parse_answers(dump_answers(answers))
    assert again.errors == []
    assert again.answers == answers


# -- list values: refused where they are, or clean and the same when read back -------

_LISTS = {"KLDLOAD_NET_DNS": "net_dns", "KLDLOAD_ZFS_DATA_DISKS": "zfs_data_disks",
          "KLDLOAD_ZFS_SPECIAL_DISKS": "zfs_special_disks",
          "KLDLOAD_EXTRA_PACKAGES": "extra_packages"}
# What no value may carry into the target: C0, DEL, C1, line/paragraph separators, bidi.
_RAW = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Items that pass, mixed in so that accepted lists are generated too, not only
# refusals, and pieces of them mixed with what must be refused.
_GOOD = {"KLDLOAD_NET_DNS": ["10.0.1.1", "2001:db8::53", "fe80::1%eth0", "fe80::2%3"],
         "KLDLOAD_ZFS_DATA_DISKS": ["/dev/sdb", "/dev/sdc", "/dev/disk/by-id/x-1"],
         "KLDLOAD_ZFS_SPECIAL_DISKS": ["/dev/nvme0n1", "/dev/nvme1n1"],
         "KLDLOAD_EXTRA_PACKAGES": ["htop", "g++", "memtest86+", "htop=3.2-1", "vim/trixie"]}
_NASTY = "\x00\t\x0b\x1b\x7f\x85\x9b\xa0\u200b\u200f\u202e\u2028\u3000 ,%'\"\\$*^~-+:/="


def _items_for(key: str) -> st.SearchStrategy[list[str]]:
    good = _GOOD[key]
    alphabet = sorted(set("".join(good)) | set(_NASTY))
    item = st.one_of(st.sampled_from(good), st.text(max_size=16),
                     st.text(alphabet=st.sampled_from(alphabet), max_size=16))
    return st.lists(item, max_size=5)


_key_and_items = st.sampled_from(sorted(_LISTS)).flatmap(
    lambda key: st.tuples(st.just(key), _items_for(key)))


def _check_list(key: str, accepted: Answers, *, round_trip: bool) -> None:
    parsed = getattr(accepted, _LISTS[key])
    for item in parsed:
        assert item and not _RAW.search(item) and " " not in item and "," not in item
    if round_trip:
        again = parse_answers(dump_answers(accepted), source="again.env")
        assert again.errors == []
        assert again.answers == accepted
        assert getattr(again.answers, _LISTS[key]) == parsed


def _setting(key: str) -> dict[str, str]:
    """A topology that takes data disks, where they are what is generated."""
    return {"KLDLOAD_ZFS_TOPOLOGY": "mirror"} if key == "KLDLOAD_ZFS_DATA_DISKS" else {}


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(_key_and_items, st.sampled_from([" ", ",", ", ", "  "]))
def test_list_values_in_a_file_are_refused_with_a_location_or_clean(key_items, sep):
    key, items = key_items
    lines = [f"{k}={v}" for k, v in _setting(key).items()]
    lines.append(f"{key}={envfile.quote(sep.join(items))}")
    result = parse_answers(BASE + "\n".join(lines) + "\n", source="fuzz.env")
    event("refused" if result.answers is None else "accepted")
    if result.answers is None:
        assert result.errors
        for p in result.errors:
            assert p.source == "fuzz.env" and p.line is not None, p.render()
            assert not _RAW.search(p.render()), p.render()
        return
    _check_list(key, result.answers, round_trip=True)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(_key_and_items)
def test_list_values_from_the_tui_are_refused_or_clean(key_items):
    key, items = key_items
    data = {"KLDLOAD_DISTRO": "debian", "KLDLOAD_DISK": "/dev/sda", "KLDLOAD_HOSTNAME": "h",
            **_setting(key), key: items}
    try:
        accepted = Answers.model_validate(data)
    except ValidationError as err:
        event("refused")
        assert [e["loc"][0] for e in err.errors()] == [key]
        return
    event("accepted")
    rules_ok = not [p for p in check_answers(accepted) if p.severity is Severity.ERROR]
    _check_list(key, accepted, round_trip=rules_ok)
