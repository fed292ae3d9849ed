"""The install manifest: every choice but no secret, read back by parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from kldload_tui.backend.answers.envfile import quote
from kldload_tui.backend.answers.file import env_text, parse_answers
from kldload_tui.backend.answers.model import Answers, env_key
from kldload_tui.backend.target.manifest import (
    MANIFEST_MODE,
    MANIFEST_PATH,
    SECRET_FIELDS,
    SECRET_KEYS,
    InstallFacts,
    ManifestError,
    installer_version,
    manifest_values,
    read_manifest,
    render_manifest,
)
from tests.unit.answers_helpers import BASE

PASSWORD = "pw-Kx81!quoted 'and' \"double\""
PASSPHRASE = "pass phrase $(reboot) `id` Zq77"
SCP_PASS = "scp-Secret-9f3e"
SECRETS = (PASSWORD, PASSPHRASE, SCP_PASS)
# A password upload needs the image server's key pinned.
PIN = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"


def _answers(extra: str = "") -> Answers:
    text = (BASE + "KLDLOAD_PASSWORD='pw-Kx81!quoted '\\''and'\\'' \"double\"'\n"
            "KLDLOAD_ZFS_ENCRYPT=1\nKLDLOAD_ZFS_PASSPHRASE='pass phrase $(reboot) `id` Zq77'\n"
            "KLDLOAD_EXPORT_FORMAT=qcow2\nKLDLOAD_EXPORT_SCP_HOST=images.example.org\n"
            f"KLDLOAD_EXPORT_SCP_PASS={SCP_PASS}\n"
            f"KLDLOAD_EXPORT_SCP_HOST_KEY={PIN}\n" + extra)
    result = parse_answers(text)
    assert result.answers is not None, [p.render() for p in result.errors]
    return result.answers


def _facts(**kw: object) -> InstallFacts:
    values: dict[str, object] = {
        "pool": "rpool", "boot_environment": "rpool/ROOT/debian",
        "held_packages": ("linux-image-amd64", "zfs-dkms"), "installer_version": "1.2.3",
        "install_date": datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)}
    values.update(kw)
    return InstallFacts(**values)  # type: ignore[arg-type]


def test_fixture_really_has_the_secrets():
    a = _answers()
    assert (a.password.get_secret_value(), a.zfs_passphrase.get_secret_value(),
            a.export_scp_pass.get_secret_value()) == SECRETS


def test_no_secret_reaches_the_manifest_not_even_redacted():
    text = render_manifest(_answers(), _facts())
    for secret in SECRETS:
        assert secret not in text
    for fragment in ("Kx81", "Zq77", "9f3e", "<redacted>"):
        assert fragment not in text
    keys = {line.split("=", 1)[0] for line in text.splitlines() if not line.startswith("#")}
    assert not keys & SECRET_KEYS


def test_secret_fields_are_exactly_the_secretstr_ones():
    assert set(SECRET_FIELDS) == {"password", "zfs_passphrase", "export_scp_pass",
                                  "rhel_activation_key"}


def test_secret_flags_say_whether_a_secret_was_given():
    values = manifest_values(_answers(), _facts())
    assert values["KLDLOAD_PASSWORD_SET"] == "1"
    assert values["KLDLOAD_ZFS_PASSPHRASE_SET"] == "1"
    assert values["KLDLOAD_EXPORT_SCP_PASS_SET"] == "1"
    assert values["KLDLOAD_PASSWORD_IS_DEFAULT"] == "0"
    plain = parse_answers(BASE).answers
    assert plain is not None
    values = manifest_values(plain, _facts())
    assert values["KLDLOAD_ZFS_PASSPHRASE_SET"] == "0"
    assert values["KLDLOAD_EXPORT_SCP_PASS_SET"] == "0"
    assert values["KLDLOAD_PASSWORD_IS_DEFAULT"] == "1"


def test_every_other_choice_is_recorded_as_answers_env_writes_it():
    a = _answers("KLDLOAD_NET_DNS=1.1.1.1,8.8.8.8\nKLDLOAD_EXTRA_PACKAGES=htop,tmux\n")
    values = read_manifest(render_manifest(a, _facts()))
    for name in Answers.model_fields:
        if name in SECRET_FIELDS:
            continue
        assert values[env_key(name)] == env_text(getattr(a, name)), name
    assert values["KLDLOAD_NET_DNS"] == "1.1.1.1 8.8.8.8"
    assert values["KLDLOAD_ZFS_ENCRYPT"] == "1"


def test_install_facts():
    values = read_manifest(render_manifest(_answers(), _facts()))
    assert values["KLDLOAD_INSTALL_DATE"] == "2025-03-04T05:06:07Z"
    assert values["KLDLOAD_INSTALLER_VERSION"] == "1.2.3"
    assert values["KLDLOAD_POOL"] == "rpool"
    assert values["KLDLOAD_BOOT_ENVIRONMENT"] == "rpool/ROOT/debian"
    assert values["KLDLOAD_HELD_PACKAGES"] == "linux-image-amd64 zfs-dkms"
    assert values["KLDLOAD_MANIFEST_VERSION"] == "1"


def test_install_date_is_written_in_utc():
    pacific = timezone(timedelta(hours=-8))
    facts = _facts(install_date=datetime(2025, 3, 4, 21, 0, 0, tzinfo=pacific))
    assert manifest_values(_answers(), facts)["KLDLOAD_INSTALL_DATE"] == "2025-03-05T05:00:00Z"


def test_facts_now_stamps_time_and_version():
    facts = InstallFacts.now("rpool", "rpool/ROOT/debian", ["zfs-dkms"])
    assert facts.installer_version == installer_version() != ""
    assert facts.install_date is not None
    assert abs(datetime.now(UTC) - facts.install_date) < timedelta(minutes=1)


@pytest.mark.parametrize("kw, message", [
    ({"boot_environment": "tank/ROOT/debian"}, "not in pool"),
    ({"held_packages": ("--allow-downgrades",)}, "not a Debian package name"),
    ({"held_packages": ("Linux",)}, "not a Debian package name"),
    ({"install_date": datetime(2025, 1, 1)}, "time zone"),
])
def test_facts_refuse_nonsense(kw, message):
    with pytest.raises(ValueError, match=message):
        _facts(**kw)


def test_no_key_is_both_an_answer_and_a_fact():
    values = manifest_values(_answers(), _facts())
    answer_keys = {env_key(n) for n in Answers.model_fields}
    extra = set(values) - answer_keys
    assert len(values) == len(answer_keys) - len(SECRET_KEYS) + len(extra)
    assert all(key.startswith("KLDLOAD_") for key in values)


def test_manifest_path_and_mode():
    assert MANIFEST_PATH == "etc/kldload/install-manifest.env"
    assert MANIFEST_MODE == 0o600


@pytest.mark.parametrize("value", [
    "", "plain", "two words", "it's", 'say "hi"', "$(touch /tmp/x)", "`id`", "back\\slash",
    "tab\there", "mixed '\" $HOME `x` \\", "ünïcode", "#not-a-comment", "a=b",
])
def test_values_round_trip(value):
    assert read_manifest(f"KLDLOAD_TEST_VALUE={quote(value)}\n") == {"KLDLOAD_TEST_VALUE": value}


def test_reading_never_executes(tmp_path):
    marker = tmp_path / "pwned"
    values = read_manifest(f"KLDLOAD_HOSTNAME='$(touch {marker})'\n"
                           f"KLDLOAD_PROFILE=\"`touch {marker}`\"\n")
    assert values["KLDLOAD_HOSTNAME"] == f"$(touch {marker})"
    assert values["KLDLOAD_PROFILE"] == f"`touch {marker}`"
    assert not marker.exists()


@pytest.mark.parametrize("text, message", [
    ("KLDLOAD_HOSTNAME=$(touch /tmp/pwned)\n", "unquoted space"),
    ("rm -rf /\n", "not an assignment"),
    ("PATH=/tmp\n", r"not a KLDLOAD_\* key"),
    ("KLDLOAD_HOSTNAME=a; reboot\n", "';'"),
    ("KLDLOAD_HOSTNAME='unterminated\n", "unterminated"),
])
def test_reading_refuses_what_is_not_a_manifest_line(text, message):
    with pytest.raises(ManifestError, match=message) as err:
        read_manifest(text)
    assert err.value.problems[0].line == 1


def test_reading_reports_every_bad_line():
    with pytest.raises(ManifestError) as err:
        read_manifest("KLDLOAD_A=1\nbad line\nKLDLOAD_B=2\nFOO=3\n")
    assert [p.line for p in err.value.problems] == [2, 4]


def test_last_assignment_wins_as_in_a_shell():
    assert read_manifest("KLDLOAD_A=1\nKLDLOAD_A=2\n") == {"KLDLOAD_A": "2"}
