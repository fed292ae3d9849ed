"""Writer/parser round trip, and properties over arbitrary input (hypothesis)."""

import string
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.answer_rules import check_answers
from backend.answers import Answers, DebianSuite, Distro, ExportFormat, Profile
from backend.answers_file import REDACTED, dump_answers, load_answers, parse_answers
from backend.problems import Severity

from .answers_helpers import KEY1

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
        "KLDLOAD_EXTRA_PACKAGES": draw(st.lists(st.from_regex(r"\A[a-z][a-z0-9+.-]{0,12}\Z"),
                                                max_size=4)),
        "KLDLOAD_DEBIAN_SUITE": draw(st.sampled_from(list(DebianSuite))),
        "KLDLOAD_EXPORT_FORMAT": draw(st.sampled_from(list(ExportFormat))),
        "KLDLOAD_CLUSTER_SIZE": draw(st.integers(1, 200)),
        "KLDLOAD_KEYBOARD_VARIANT": draw(st.sampled_from(["", "dvorak", "intl"])),
    }
    if data["KLDLOAD_ZFS_ENCRYPT"]:
        data["KLDLOAD_ZFS_PASSPHRASE"] = draw(_safe_text.filter(lambda s: len(s) >= 8))
    if data["KLDLOAD_EXPORT_FORMAT"] != ExportFormat.NONE and draw(st.booleans()):
        data["KLDLOAD_EXPORT_SCP_HOST"] = draw(_host)
        data["KLDLOAD_EXPORT_SCP_PASS"] = draw(_safe_text)
    return Answers.model_validate(data)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(valid_answers())
def test_valid_models_round_trip_through_the_writer(answers):
    assert not [p for p in check_answers(answers) if p.severity is Severity.ERROR]
    again = parse_answers(dump_answers(answers))
    assert again.errors == []
    assert again.answers == answers
