"""Each kind of bad answers file, with the exact message an operator sees."""

import pytest

from kldload_tui.backend.answers.file import parse_answers, parse_answers_bytes

from .answers_helpers import BASE, KEY1, errors, parse, warnings


def test_minimal_three_lines_is_complete():
    result = parse()
    assert result.ok
    assert result.answers is not None
    assert result.answers.profile.value == "server"
    assert result.answers.timezone == "UTC"
    assert result.answers.username == "admin"


@pytest.mark.parametrize("value", ["$(reboot)", "`reboot`", '"$(reboot)"', "'`reboot`'"])
def test_command_substitution_is_literal_text_and_an_invalid_hostname(value):
    result = parse_answers(
        f"KLDLOAD_DISTRO=debian\nKLDLOAD_DISK=/dev/sda\nKLDLOAD_HOSTNAME={value}\n",
        source="answers.env")
    literal = value.strip("'\"")
    assert [p.render() for p in result.errors] == [
        f"answers.env:3: KLDLOAD_HOSTNAME: {literal!r} is not a valid hostname; use letters, "
        "digits and hyphens, not starting or ending with a hyphen (RFC 1123), e.g. web-prod-01"
    ]


def test_nothing_in_a_value_is_executed(tmp_path):
    marker = tmp_path / "ran"
    for value in (f'"$(touch {marker})"', f'"`touch {marker}`"', f"'$(touch {marker})'"):
        assert not parse(f"KLDLOAD_PASSWORD={value}\n").errors
    assert not marker.exists()


def test_literal_dollar_is_flagged():
    assert "answers.env:4: KLDLOAD_PASSWORD: '$' and '`' are taken literally: answers files " \
        "are read, never run; write the value itself, not a command or variable" in warnings(
            "KLDLOAD_PASSWORD=$HOME\n")
    assert parse("KLDLOAD_PASSWORD=$HOME\n").answers.password.get_secret_value() == "$HOME"


def test_misspelt_distro_suggests_the_right_one():
    assert errors(base="KLDLOAD_DISTRO=debain\nKLDLOAD_DISK=/dev/sda\nKLDLOAD_HOSTNAME=a\n") == [
        "answers.env:1: KLDLOAD_DISTRO: unknown distro 'debain'; did you mean 'debian'? Choose "
        "one of: centos | debian | ubuntu | fedora | rhel | rocky | arch | alpine"
    ]


def test_unknown_key_suggests_and_foreign_key_is_refused():
    assert errors("KLDLOAD_HOSTNAM=x\nHOSTNAME=y\n") == [
        "answers.env:4: KLDLOAD_HOSTNAM: unknown key KLDLOAD_HOSTNAM; did you mean "
        "KLDLOAD_HOSTNAME?",
        "answers.env:5: HOSTNAME: HOSTNAME is not a KLDLOAD_* key: only KLDLOAD_* variables are "
        "read; remove the line (answers files hold nothing else)",
    ]


@pytest.mark.parametrize(("topology", "data", "message"), [
    ("mirror", "", "mirror needs at least 2 disks in all (KLDLOAD_DISK plus "
     "KLDLOAD_ZFS_DATA_DISKS); found 1; list 1 more disk in KLDLOAD_ZFS_DATA_DISKS"),
    ("raidz1", "/dev/sdb", "raidz1 needs at least 3 disks in all (KLDLOAD_DISK plus "
     "KLDLOAD_ZFS_DATA_DISKS); found 2; list 1 more disk in KLDLOAD_ZFS_DATA_DISKS"),
    ("mirror-stripe", "/dev/sdb", "mirror-stripe needs an even number of disks, at least 4, "
     "(KLDLOAD_DISK plus KLDLOAD_ZFS_DATA_DISKS); found 2; list 2 more disks in "
     "KLDLOAD_ZFS_DATA_DISKS"),
    ("mirror-stripe", "'/dev/sdb /dev/sdc /dev/sdd /dev/sde'", "mirror-stripe needs an even "
     "number of disks, at least 4, (KLDLOAD_DISK plus KLDLOAD_ZFS_DATA_DISKS); found 5; add or "
     "remove one disk in KLDLOAD_ZFS_DATA_DISKS"),
])
def test_topology_needs_enough_disks(topology, data, message):
    extra = f"KLDLOAD_ZFS_TOPOLOGY={topology}\n"
    if data:
        extra += f"KLDLOAD_ZFS_DATA_DISKS={data}\n"
    assert errors(extra) == [f"answers.env:4: KLDLOAD_ZFS_TOPOLOGY: {message}"]


def test_valid_topologies():
    assert parse("KLDLOAD_ZFS_TOPOLOGY=mirror\nKLDLOAD_ZFS_DATA_DISKS=/dev/sdb\n").ok
    assert parse("KLDLOAD_ZFS_TOPOLOGY=raidz1\nKLDLOAD_ZFS_DATA_DISKS=/dev/sdb,/dev/sdc\n").ok
    assert parse("KLDLOAD_ZFS_TOPOLOGY=mirror-stripe\n"
                 "KLDLOAD_ZFS_DATA_DISKS='/dev/sdb /dev/sdc /dev/sdd'\n").ok




def test_disk_listed_twice_exact():
    assert errors("KLDLOAD_ZFS_TOPOLOGY=mirror\nKLDLOAD_ZFS_DATA_DISKS='/dev/sdb /dev/sda'\n") == [
        "answers.env:5: KLDLOAD_ZFS_DATA_DISKS: /dev/sda is listed twice (also in KLDLOAD_DISK); "
        "list each disk once",
    ]


def test_single_topology_with_extra_disks_is_refused():
    assert errors("KLDLOAD_ZFS_DATA_DISKS=/dev/sdb\n") == [
        "answers.env:4: KLDLOAD_ZFS_DATA_DISKS: topology single uses only KLDLOAD_DISK, but "
        "KLDLOAD_ZFS_DATA_DISKS lists 1 more; set KLDLOAD_ZFS_TOPOLOGY=mirror or raidz1 to use "
        "them, or remove them"
    ]


def test_one_special_disk_under_a_redundant_pool():
    assert errors("KLDLOAD_ZFS_TOPOLOGY=mirror\nKLDLOAD_ZFS_DATA_DISKS=/dev/sdb\n"
                  "KLDLOAD_ZFS_SPECIAL_DISKS=/dev/nvme0n1\n") == [
        "answers.env:6: KLDLOAD_ZFS_SPECIAL_DISKS: one special disk under a redundant mirror "
        "pool: losing it loses the pool; give two special disks (they are mirrored) or none"
    ]


@pytest.mark.parametrize(("pool", "spans"), [
    ("KLDLOAD_ZFS_TOPOLOGY=mirror\nKLDLOAD_ZFS_DATA_DISKS=/dev/sdb\n", "2 disks (mirror)"),
    ("KLDLOAD_ZFS_TOPOLOGY=raidz1\nKLDLOAD_ZFS_DATA_DISKS='/dev/sdb /dev/sdc'\n",
     "3 disks (raidz1)"),
    ("KLDLOAD_ZFS_SPECIAL_DISKS='/dev/nvme0n1 /dev/nvme1n1'\n", "3 disks (single, 2 special)"),
])
def test_an_image_is_one_disk_so_its_pool_must_be(pool, spans):
    assert errors(pool + "KLDLOAD_EXPORT_FORMAT=qcow2\n")[-1] == (
        f"answers.env:{4 + pool.count(chr(10))}: KLDLOAD_EXPORT_FORMAT: the exported image is "
        f"KLDLOAD_DISK alone, but the pool spans {spans}: a clone of one of them would not "
        "import it; build golden images on one disk (KLDLOAD_ZFS_TOPOLOGY=single, no "
        "KLDLOAD_ZFS_DATA_DISKS or KLDLOAD_ZFS_SPECIAL_DISKS), or set KLDLOAD_EXPORT_FORMAT=none")
    assert not [e for e in errors(pool) if "KLDLOAD_EXPORT_FORMAT" in e]  # no image: fine


def test_a_golden_image_with_a_static_address_is_warned_of():
    static = ("KLDLOAD_NET_METHOD=static\nKLDLOAD_NET_IP=10.0.1.50\nKLDLOAD_NET_GW=10.0.1.1\n")
    assert "answers.env:4: KLDLOAD_NET_METHOD: sealing removes the static address (every " \
        "clone would share it), and a static install has no DHCP fallback: a clone gets no " \
        "network unless cloud-init's datasource gives it one; build golden images with " \
        "KLDLOAD_NET_METHOD=dhcp" in warnings(static + "KLDLOAD_EXPORT_FORMAT=qcow2\n")
    assert not parse(static + "KLDLOAD_EXPORT_FORMAT=qcow2\n").errors
    assert not [w for w in warnings(static) if "sealing" in w]


def test_static_network_needs_ip_and_gateway():
    assert errors("KLDLOAD_NET_METHOD=static\n") == [
        "answers.env:4: KLDLOAD_NET_IP: static networking needs an address; add "
        "KLDLOAD_NET_IP=10.0.1.50 (and KLDLOAD_NET_PREFIX)",
        "answers.env:4: KLDLOAD_NET_GW: static networking needs a gateway; add "
        "KLDLOAD_NET_GW=10.0.1.1",
    ]


def test_gateway_outside_the_network():
    assert errors("KLDLOAD_NET_METHOD=static\nKLDLOAD_NET_IP=10.0.1.50\nKLDLOAD_NET_PREFIX=24\n"
                  "KLDLOAD_NET_GW=10.0.2.1\nKLDLOAD_NET_DNS=10.0.1.1\n") == [
        "answers.env:7: KLDLOAD_NET_GW: gateway 10.0.2.1 is not in 10.0.1.0/24, the network of "
        "KLDLOAD_NET_IP=10.0.1.50/24; check KLDLOAD_NET_GW and KLDLOAD_NET_PREFIX"
    ]


def test_prefix_33():
    assert errors("KLDLOAD_NET_METHOD=static\nKLDLOAD_NET_IP=10.0.1.50\nKLDLOAD_NET_PREFIX=33\n"
                  "KLDLOAD_NET_GW=10.0.1.1\nKLDLOAD_NET_DNS=10.0.1.1\n") == [
        "answers.env:6: KLDLOAD_NET_PREFIX: prefix 33 is too long for an IPv4 address; use 1-32 "
        "(24 means netmask 255.255.255.0)"
    ]


def test_static_ipv6_is_fine():
    assert parse("KLDLOAD_NET_METHOD=static\nKLDLOAD_NET_IP=2001:db8::10\nKLDLOAD_NET_PREFIX=64\n"
                 "KLDLOAD_NET_GW=2001:db8::1\nKLDLOAD_NET_DNS=2001:db8::53\n").ok


def test_unknown_timezone():
    assert errors("KLDLOAD_TIMEZONE=Mars/Olympus\n") == [
        "answers.env:4: KLDLOAD_TIMEZONE: unknown time zone 'Mars/Olympus'; use a tz database "
        "name such as UTC"
    ]
    assert errors("KLDLOAD_TIMEZONE=America/Vancuver\n") == [
        "answers.env:4: KLDLOAD_TIMEZONE: unknown time zone 'America/Vancuver'; did you mean "
        "'America/Vancouver'?"
    ]


def test_hostname_of_64_characters():
    name = "a" * 64
    assert errors(base=f"KLDLOAD_DISTRO=debian\nKLDLOAD_DISK=/dev/sda\nKLDLOAD_HOSTNAME={name}\n") \
        == ["answers.env:3: KLDLOAD_HOSTNAME: the hostname label 'aaaaaaaaaaaaaaaa'... is 64 "
            "characters long; each dot-separated part may have at most 63 characters (RFC 1123)"]


@pytest.mark.parametrize(("key", "message"), [
    ("ssh-ed25519 AAAA... user@host", "the key's base64 part is malformed or truncated"),
    ("ssh-ed25519", "not an OpenSSH public key (expected 'TYPE BASE64 [COMMENT]')"),
    ("ssh-ed2551 AAAAC3NzaC1lZDI1NTE5AAAAILN0whhzPJXkgKWfGjtQmn1pIoK0FhWBWGYIxKOdPqX9",
     "unknown SSH key type 'ssh-ed2551'; did you mean 'ssh-ed25519'?"),
    (KEY1.replace("ssh-ed25519", "ssh-rsa"), "the key says 'ssh-rsa' but its data is a "
     "'ssh-ed25519' key"),
])
def test_malformed_ssh_key(key, message):
    [error] = errors(f'KLDLOAD_SSH_PUBKEY="{key}"\n')
    assert error.startswith(f"answers.env:4: KLDLOAD_SSH_PUBKEY: {message}")


def test_duplicate_key_and_line_without_equals():
    assert errors("KLDLOAD_PROFILE=core\nthis line has no equals\nKLDLOAD_PROFILE=server\n") == [
        "answers.env:5: not an assignment; write KEY=value, or start the line with # to make it "
        "a comment",
        "answers.env:6: KLDLOAD_PROFILE: KLDLOAD_PROFILE is set twice (first on line 4); keep "
        "one of the two lines",
    ]


def test_crlf_and_byte_order_mark_are_accepted():
    data = ("\ufeff" + BASE + "KLDLOAD_PASSWORD='s3cret pass'\n").replace("\n", "\r\n")
    result = parse_answers_bytes(data.encode(), source="answers.env")
    assert result.ok
    assert result.answers.password.get_secret_value() == "s3cret pass"


def test_bytes_that_are_not_utf8():
    result = parse_answers_bytes(BASE.encode() + b"KLDLOAD_PASSWORD=caf\xe9\n", source="a.env")
    assert [p.render() for p in result.errors] == [
        "a.env:4: not UTF-8 text (byte 0xe9); save the file as UTF-8"
    ]


def test_empty_file_names_the_required_keys():
    assert [p.render() for p in parse_answers("", source="a.env").errors] == [
        f"a.env: {key}: required key is missing; add {key}={example} (a minimal file needs "
        "KLDLOAD_DISTRO, KLDLOAD_DISK, KLDLOAD_HOSTNAME)"
        for key, example in (("KLDLOAD_DISTRO", "debian"), ("KLDLOAD_DISK", "/dev/sda"),
                             ("KLDLOAD_HOSTNAME", "web-prod-01"))
    ]


def test_all_errors_at_once():
    text = ("KLDLOAD_DISTRO=debain\nKLDLOAD_DISK=sda\nKLDLOAD_HOSTNAME=-bad\n"
            "KLDLOAD_NET_PREFIX=x\nKLDLOAD_ZFS_ENCRYPT=maybe\nKLDLOAD_FOO=1\n")
    keys = [p.key for p in parse_answers(text).errors]
    assert keys == ["KLDLOAD_DISTRO", "KLDLOAD_DISK", "KLDLOAD_HOSTNAME", "KLDLOAD_NET_PREFIX",
                    "KLDLOAD_ZFS_ENCRYPT", "KLDLOAD_FOO"]


@pytest.mark.parametrize(("line", "message"), [
    ("KLDLOAD_HOSTNAME =x", "unexpected ' ' after the key; remove the space: KLDLOAD_HOSTNAME=..."),
    ("KLDLOAD_PASSWORD=two words", "unquoted space in the value; put the value in quotes: "
     "KEY='two words'"),
    ("KLDLOAD_PASSWORD='open", "unterminated single quote; close the quote on the same line "
     "(values are one line)"),
    ('KLDLOAD_PASSWORD="open', "unterminated double quote; close the quote on the same line "
     "(values are one line)"),
    ("KLDLOAD_PASSWORD=a;reboot", "unquoted ';' in the value (a shell would not read it as part "
     "of the value); put the value in single quotes: KEY='...'"),
])
def test_syntax_errors(line, message):
    [error] = errors(line + "\n")
    assert error.endswith(message)
    assert error.startswith("answers.env:4:")


def test_encryption_needs_a_passphrase_unless_interactive():
    text = BASE + "KLDLOAD_ZFS_ENCRYPT=1\n"
    assert [p.render() for p in parse_answers(text, source="a.env").errors] == [
        "a.env:4: KLDLOAD_ZFS_ENCRYPT: encryption needs a passphrase for an unattended install; "
        "add KLDLOAD_ZFS_PASSPHRASE='...' (8 or more characters), or install from the TUI, "
        "which asks for it"
    ]
    assert parse_answers(text, interactive=True).ok
    assert errors("KLDLOAD_ZFS_ENCRYPT=1\nKLDLOAD_ZFS_PASSPHRASE=short\n") == [
        "answers.env:5: KLDLOAD_ZFS_PASSPHRASE: the passphrase has 5 characters; use at least 8"
    ]


def test_export_rules():
    assert errors("KLDLOAD_EXPORT_SCP_HOST=images.infra.local\n") == [
        "answers.env:4: KLDLOAD_EXPORT_SCP_HOST: an SCP host is set but KLDLOAD_EXPORT_FORMAT=none:"
        " there is no image to upload; set KLDLOAD_EXPORT_FORMAT (qcow2, vmdk, vhd, ova or raw) "
        "or remove KLDLOAD_EXPORT_SCP_HOST"
    ]
    assert errors("KLDLOAD_EXPORT_FORMAT=qcow2\nKLDLOAD_EXPORT_SCP_KEY=/root/.ssh/id\n") == [
        "answers.env:5: KLDLOAD_EXPORT_SCP_KEY: SCP upload needs a host; add "
        "KLDLOAD_EXPORT_SCP_HOST=images.example.org or remove this line"
    ]
    assert "answers.env:6: KLDLOAD_EXPORT_SCP_PASS: a password is given for scp instead of a " \
        "key; prefer KLDLOAD_EXPORT_SCP_KEY: a key can be restricted and revoked" in warnings(
            "KLDLOAD_EXPORT_FORMAT=qcow2\nKLDLOAD_EXPORT_SCP_HOST=img\nKLDLOAD_EXPORT_SCP_PASS=pw\n")


def test_warnings_that_matter():
    assert warnings("KLDLOAD_FORCE_WIPE=1\n") == [
        "answers.env:4: KLDLOAD_FORCE_WIPE: force-wipe is on: disks that hold data are wiped "
        "without asking; set KLDLOAD_FORCE_WIPE=0 unless these machines are meant to be "
        "reinstalled",
        "answers.env: KLDLOAD_PASSWORD: the default password is in use for 'admin'; set "
        "KLDLOAD_PASSWORD (it is expired at first login until then)",
    ]
    assert warnings("KLDLOAD_PASSWORD='Str0ng-enough'\n") == []


def test_zfs_cannot_be_disabled_and_options_are_not_packages():
    assert errors("KLDLOAD_ENABLE_ZFS=0\nKLDLOAD_EXTRA_PACKAGES='htop -y'\n") == [
        "answers.env:4: KLDLOAD_ENABLE_ZFS: ZFS cannot be turned off: kldload installs ZFS on "
        "root only; remove the line or set it to 1",
        "answers.env:5: KLDLOAD_EXTRA_PACKAGES: '-y' is an option, not a package name: apt "
        "would read it as one; list package names separated by spaces or commas, e.g. htop,tmux",
    ]


def test_cluster_needs_a_network_that_fits():
    assert errors("KLDLOAD_WIREGUARD=1\nKLDLOAD_INFRA_MODE=cluster\n") == [
        "answers.env:5: KLDLOAD_CLUSTER_CIDR: cluster mode needs the WireGuard cluster network; "
        "add KLDLOAD_CLUSTER_CIDR=10.100.0.0/24"
    ]
    assert errors("KLDLOAD_WIREGUARD=1\nKLDLOAD_INFRA_MODE=cluster\nKLDLOAD_CLUSTER_CIDR="
                  "10.100.0.0/29\n") == [
        "answers.env:6: KLDLOAD_CLUSTER_CIDR: 10.100.0.0/29 has 6 usable addresses, but 16 nodes "
        "(KLDLOAD_CLUSTER_SIZE) and the hub need 17; use a /27 or larger for "
        "KLDLOAD_CLUSTER_CIDR, or lower KLDLOAD_CLUSTER_SIZE to 5"
    ]
    assert errors("KLDLOAD_CLUSTER_CIDR=10.100.0.5/24\n") == [
        "answers.env:4: KLDLOAD_CLUSTER_CIDR: '10.100.0.5/24' has host bits set; did you mean "
        "10.100.0.0/24?"
    ]


def test_empty_value_means_default():
    result = parse("KLDLOAD_PROFILE=\nKLDLOAD_TIMEZONE=   # comment\n")
    assert result.ok
    assert result.answers.profile.value == "server"
    assert result.answers.timezone == "UTC"


@pytest.mark.parametrize("zone", ["Europe", "America/", "posix/../Europe"])
def test_a_time_zone_region_is_an_error_not_a_crash(zone):
    [error] = errors(f"KLDLOAD_TIMEZONE={zone}\n")
    assert error.startswith(f"answers.env:4: KLDLOAD_TIMEZONE: unknown time zone {zone!r}")


# -- issue #10: values reach the target as written, or are refused -------------------

def test_shown_escapes_everything_invisible():
    from kldload_tui.backend.answers.validators import shown

    assert shown("web-01") == "'web-01'"
    assert shown("it's") == "'it\\'s'"
    assert shown("a\x1b[2Jb\x9b\x85\u202e\u200b\xa0\u3000\U000e0001") == (
        "'a\\x1b[2Jb\\x9b\\x85\\u202e\\u200b\\xa0\\u3000\\U000e0001'")
    assert shown("Jörg") == "'Jörg'"


@pytest.mark.parametrize("value", ["htop", "g++", "memtest86+", "libstdc++6", "ncbi-blast+",
                                   "htop=3.2.2-2", "vim=2:9.0.1378-2", "foo=1.0~rc1+dfsg-1",
                                   "htop/bookworm-backports", "python3.11", "0ad"])
def test_debian_package_names_apt_installs_as_written(value):
    result = parse(f"KLDLOAD_EXTRA_PACKAGES='{value}'\n")
    assert result.ok, [p.render() for p in result.errors]
    assert result.answers.extra_packages == (value,)


def test_a_link_local_gateway_is_fine_without_a_scope():
    result = parse("KLDLOAD_NET_METHOD=static\nKLDLOAD_NET_IP=2001:db8::10\n"
                   "KLDLOAD_NET_PREFIX=64\nKLDLOAD_NET_GW=fe80::1\nKLDLOAD_NET_DNS=2001:db8::53\n")
    assert result.ok, [p.render() for p in result.errors]


def test_a_link_local_dns_server_may_name_its_link():
    from kldload_tui.backend.target.files import network_file

    result = parse("KLDLOAD_NET_DNS='FE80::53%eth0,fe80::54%2 127.0.0.53'\n")
    assert result.ok, [p.render() for p in result.errors]
    assert result.answers.net_dns == ("fe80::53%eth0", "fe80::54%2", "127.0.0.53")
    text = network_file(result.answers).content
    assert "DNS=fe80::53%eth0\nDNS=fe80::54%2\nDNS=127.0.0.53\n" in text


def test_list_items_from_the_tui_get_the_same_checks():
    from pydantic import ValidationError

    from kldload_tui.backend.answers.model import Answers

    base = {"KLDLOAD_DISTRO": "debian", "KLDLOAD_DISK": "/dev/sda", "KLDLOAD_HOSTNAME": "h"}
    assert Answers.model_validate({**base, "KLDLOAD_NET_DNS": ["10.0.0.1"]}).net_dns == (
        "10.0.0.1",)
    for bad in (["1.1.1.1\x1b[2J"], ["1.1.1.1 8.8.8.8"], [""], ["htop\x85"]):
        with pytest.raises(ValidationError):
            Answers.model_validate({**base, "KLDLOAD_NET_DNS": bad})


@pytest.mark.parametrize(("name", "valid"), [("ops", True), ("admin", True), ("sudo", False),
                                              ("daemon", False), ("kvm", False),
                                              ("_ssh", False), ("nobody", False)])
def test_admin_user_names(name, valid):
    assert parse(f"KLDLOAD_USERNAME={name}\n").ok is valid


def test_remote_scp_user_is_judged_as_an_account_not_by_our_groups():
    from kldload_tui.backend.answers.validators import FieldProblem, username_or_root

    assert username_or_root("root") == "root"
    assert username_or_root("staff") == "staff"  # a group here; a user there is fine
    with pytest.raises(FieldProblem, match="is a system account"):
        username_or_root("www-data")


@pytest.mark.parametrize("zone", ["UTC", "Etc/UTC", "GMT", "America/Vancouver",
                                  "Europe/Berlin", "Asia/Kolkata", "Europe/Kyiv"])
def test_real_zones_pass(zone):
    assert parse(f"KLDLOAD_TIMEZONE={zone}\n").ok


@pytest.mark.parametrize(("alias", "zone"), [("US/Pacific", "America/Los_Angeles"),
                                             ("Asia/Calcutta", "Asia/Kolkata"),
                                             ("Europe/Kiev", "Europe/Kyiv")])
def test_legacy_aliases_name_their_zone(alias, zone):
    # Debian 13 moved these to tzdata-legacy, which an install does not carry:
    # /etc/localtime would point at nothing.
    assert errors(f"KLDLOAD_TIMEZONE={alias}\n") == [
        f"answers.env:4: KLDLOAD_TIMEZONE: {alias!r} is a legacy alias in the time zone "
        f"database, which current systems no longer install; write {zone!r}"]


def test_the_hub_allocation_says_what_is_wrong_instead_of_a_type_error():
    from kldload_tui.backend.answers.model import Answers
    from kldload_tui.backend.engine.core import InstallError
    from kldload_tui.backend.target.files import cluster_hub, wireguard_config

    base = {"KLDLOAD_DISTRO": "debian", "KLDLOAD_DISK": "/dev/sda", "KLDLOAD_HOSTNAME": "h",
            "KLDLOAD_INFRA_MODE": "cluster", "KLDLOAD_WIREGUARD": "1"}
    for cidr, size in (("10.0.0.0/32", 1), ("fd00::/128", 1), ("10.0.0.0/30", 2)):
        a = Answers.model_validate({**base, "KLDLOAD_CLUSTER_CIDR": cidr,
                                    "KLDLOAD_CLUSTER_SIZE": size})
        with pytest.raises(InstallError, match=r"KLDLOAD_CLUSTER_CIDR=.* usable address"):
            wireguard_config(a)
    for cidr, size, hub in (("10.0.0.0/31", 1, "10.0.0.0"), ("10.0.0.0/30", 1, "10.0.0.1"),
                            ("fd00::/127", 1, "fd00::"), ("fd00::/64", 16, "fd00::1")):
        a = Answers.model_validate({**base, "KLDLOAD_CLUSTER_CIDR": cidr,
                                    "KLDLOAD_CLUSTER_SIZE": size})
        assert str(cluster_hub(a)[1]) == hub
        assert not [p for p in parse_answers(BASE + f"KLDLOAD_INFRA_MODE=cluster\n"
                    f"KLDLOAD_WIREGUARD=1\nKLDLOAD_CLUSTER_CIDR={cidr}\n"
                    f"KLDLOAD_CLUSTER_SIZE={size}\n").errors]


@pytest.mark.parametrize("key", [
    KEY1,
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7op"
    "KgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg= ecdsa@host",
    "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIFNvbWUga2V5IGJ5dGVz"
    "IGdvIGhlcmUgMzIgYnl0ZXMhAAAABHNzaDo= yubikey",
])
def test_whole_keys_of_each_kind_pass(key):
    result = parse(f"KLDLOAD_SSH_PUBKEY='{key}'\n")
    assert result.ok, [p.render() for p in result.errors]


def test_rsa_keys_need_1024_bits():
    import base64
    import struct

    def rsa(bits: int) -> str:
        n = b"\x00" + ((1 << (bits - 1)) | 1).to_bytes(bits // 8, "big")
        fields = (b"ssh-rsa", b"\x01\x00\x01", n)
        blob = b"".join(struct.pack(">I", len(f)) + f for f in fields)
        return "ssh-rsa " + base64.b64encode(blob).decode() + " rsa@host"

    assert parse(f"KLDLOAD_SSH_PUBKEY='{rsa(2048)}'\n").ok
    assert errors(f"KLDLOAD_SSH_PUBKEY='{rsa(1016)}'\n") == [
        "answers.env:4: KLDLOAD_SSH_PUBKEY: the RSA key has 1016 bits; OpenSSH refuses RSA keys "
        "under 1024; make an ed25519 key: ssh-keygen -t ed25519"]
