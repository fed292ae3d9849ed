"""The WebSocket API's requests, the answers given as fields, and the schemas in the docs."""

import json
from pathlib import Path

import pytest

from kldload_tui.backend.answers.fields import LIST_FIELDS, parse_answers_fields
from kldload_tui.backend.answers.file import parse_answers
from kldload_tui.remote.protocol import Action, ProtocolError, parse_request
from kldload_tui.remote.schema import generated_part, render, request_schema

ROOT = Path(__file__).parents[2]
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILN0whhzPJXkgKWfGjtQmn1pIoK0FhWBWGYIxKOdPqX9 user@host"


def test_install_takes_every_other_key_as_answers_fields():
    r = parse_request(json.dumps({"action": "install", "id": 3, "distro": "debian",
                                  "disk": "/dev/sda", "hostname": "h"}))
    assert r.action is Action.INSTALL and r.request_id == 3
    assert r.fields == {"distro": "debian", "disk": "/dev/sda", "hostname": "h"}
    assert "debian" not in repr(r)  # the fields (a password among them) stay out of reprs


@pytest.mark.parametrize(("data", "says"), [
    (b"{}", "binary"), ("{", "not JSON"), ("[]", "a JSON list"), ("{}", "no action"),
    ('{"action": 1}', "not a string"), ('{"action": "instal"}', "unknown action"),
    ('{"action": "state", "events": -1}', "number of events"),
    ('{"action": "state", "events": true}', "number of events"),
    ('{"action": "list_disks", "profile": "huge"}', "not a profile"),
    ('{"action": "watch", "x": 1}', "does not read"),
    ('{"action": "state", "id": [1]}', "request id"),
    ("[" * 50_000, "not JSON"),
])
def test_what_is_not_a_request_is_a_protocol_error(data, says):
    with pytest.raises(ProtocolError) as err:
        parse_request(data)
    assert says in err.value.message


def test_fields_go_through_the_same_checks_as_a_file():
    fields = {"distro": "debian", "disk": "/dev/sda", "hostname": "web-01",
              "zfs_topology": "mirror", "zfs_data_disks": ["/dev/sdb"], "zfs_encrypt": True,
              "zfs_passphrase": "long-enough-passphrase", "net_prefix": 16, "ssh_pubkey": KEY}
    env = "\n".join([
        "KLDLOAD_DISTRO=debian", "KLDLOAD_DISK=/dev/sda", "KLDLOAD_HOSTNAME=web-01",
        "KLDLOAD_ZFS_TOPOLOGY=mirror", "KLDLOAD_ZFS_DATA_DISKS=/dev/sdb", "KLDLOAD_ZFS_ENCRYPT=1",
        "KLDLOAD_ZFS_PASSPHRASE=long-enough-passphrase", "KLDLOAD_NET_PREFIX=16",
        f"KLDLOAD_SSH_PUBKEY='{KEY}'"]) + "\n"
    from_fields, from_file = parse_answers_fields(fields), parse_answers(env)
    assert from_fields.ok and from_file.ok
    assert from_fields.answers == from_file.answers
    assert [p.message for p in from_fields.problems] == [p.message for p in from_file.problems]


def test_every_problem_of_a_request_at_once():
    result = parse_answers_fields({"distro": "debain", "disk": 5.5, "hostnme": "x",
                                   "KLDLOAD_PASSWORD": "p", "zfs_topology": "raidz1",
                                   "extra_packages": ["ok", 3], "net_method": "static"})
    assert not result.ok and result.answers is None
    keys = sorted(p.key or "" for p in result.errors)
    assert keys == ["KLDLOAD_DISK", "KLDLOAD_DISTRO", "KLDLOAD_EXTRA_PACKAGES",
                    "KLDLOAD_HOSTNAME", "KLDLOAD_NET_GW", "KLDLOAD_NET_IP", "KLDLOAD_PASSWORD",
                    "hostnme"]
    text = "\n".join(p.render() for p in result.errors)
    assert "did you mean 'hostname'?" in text and "did you mean 'password'?" in text
    assert "required field is missing; add 'hostname'" in text
    # The disk was refused for its type once; it is not also reported missing.
    assert sum(p.key == "KLDLOAD_DISK" for p in result.errors) == 1


def test_a_password_is_never_echoed_in_a_problem():
    result = parse_answers_fields({"distro": "debian", "disk": "/dev/sda", "hostname": "h",
                                   "password": "Secret\x1bValue" + "x" * 600})
    assert not result.ok
    assert "Secret" not in "\n".join(p.render() for p in result.problems)


def test_list_fields_and_null_defaults():
    assert {"zfs_data_disks", "zfs_special_disks", "net_dns", "extra_packages"} == LIST_FIELDS
    result = parse_answers_fields({"distro": "debian", "disk": "/dev/sda", "hostname": "h",
                                   "net_dns": "1.1.1.1,8.8.8.8", "extra_packages": None,
                                   "password": "not-the-default"})
    assert result.ok, [p.render() for p in result.problems]
    assert result.answers is not None and result.answers.net_dns == ("1.1.1.1", "8.8.8.8")


def test_the_request_schema_lists_every_answers_field():
    from kldload_tui.backend.answers.model import Answers

    install = request_schema()["oneOf"][0]
    assert set(install["properties"]) == {"action", "id", *Answers.model_fields}
    assert install["required"] == ["action", "distro", "disk", "hostname"]


def test_docs_remote_md_holds_the_current_schemas():
    doc = (ROOT / "docs/remote.md").read_text()
    assert generated_part(doc) == render(), (
        "docs/remote.md is stale: python -m kldload_tui.remote.schema --write docs/remote.md")
