"""Golden plans: each answers file over a sample machine gives exactly the
checked-in plan. A change to one is a deliberate act in the same commit:
regenerate with `UPDATE_GOLDEN=1 pytest tests/unit/test_golden_plans.py` and
read the diff."""

import os
from pathlib import Path

import pytest

from kldload_tui.backend.answers.file import load_answers
from kldload_tui.backend.engine.core import InstallOptions, plan_install
from kldload_tui.backend.engine.live_medium import DARKSITE_PLACES
from kldload_tui.backend.machine.model import load_bundled_machine

ROOT = Path(__file__).parents[2]
GOLDEN = ROOT / "tests" / "golden"
# Case -> (answers file, bundled machine, install from the darksite fixture).
CASES: dict[str, tuple[Path, str, bool]] = {
    "single-minimal": (GOLDEN / "answers/single-minimal.env", "one-disk-vm", False),
    "single-core-bookworm-static": (GOLDEN / "answers/single-core-bookworm-static.env",
                                    "one-disk-vm", False),
    "mirror-server": (GOLDEN / "answers/mirror-server.env", "server-3nvme-usb-seed", False),
    "raidz1-encrypted": (GOLDEN / "answers/raidz1-encrypted.env", "server-3nvme-usb-seed",
                         False),
    "raidz1-special-kvm-ebpf": (GOLDEN / "answers/raidz1-special-kvm-ebpf.env",
                                "storage-6disk", False),
    "mirror-stripe-special-encrypted": (GOLDEN / "answers/mirror-stripe-special-encrypted.env",
                                        "storage-6disk", False),
    "desktop-ai-nvidia-extra": (GOLDEN / "answers/desktop-ai-nvidia-extra.env", "one-disk-vm",
                                False),
    "cluster-wireguard": (GOLDEN / "answers/cluster-wireguard.env", "one-disk-vm", False),
    "export-qcow2-scp-key": (GOLDEN / "answers/export-qcow2-scp-key.env", "one-disk-vm", False),
    "export-ova-scp-password": (GOLDEN / "answers/export-ova-scp-password.env", "one-disk-vm",
                                False),
    "darksite-keep": (GOLDEN / "answers/darksite-keep.env", "one-disk-vm", True),
    "old-rpool-force-wipe": (GOLDEN / "answers/old-rpool-force-wipe.env", "old-rpool", False),
    "seed-full-reference": (ROOT / "answers-examples/full-reference.env", "old-rpool", False),
    # The Red Hat family (backend/distros/el.py): plan-verified only.
    "rocky-seed-usb": (ROOT / "answers-examples/rocky-seed-usb.env", "server-3nvme-usb-seed",
                       False),
    "rocky9-server-single": (GOLDEN / "answers/rocky9-server-single.env", "one-disk-vm", False),
    "rocky9-server-raidz1-kvm": (GOLDEN / "answers/rocky9-server-raidz1-kvm.env",
                                 "storage-6disk", False),
    "rocky10-core": (GOLDEN / "answers/rocky10-core.env", "one-disk-vm", False),
    "centos9-server-single": (GOLDEN / "answers/centos9-server-single.env", "one-disk-vm",
                              False),
    "centos9-server-mirror": (GOLDEN / "answers/centos9-server-mirror.env",
                              "server-3nvme-usb-seed", False),
    # RHEL (backend/distros/rhel.py): from a mirror, plan-verified only.
    "rhel9-server-registered": (GOLDEN / "answers/rhel9-server-registered.env", "one-disk-vm",
                                False),
    "rhel10-core-mirror": (GOLDEN / "answers/rhel10-core-mirror.env", "server-3nvme-usb-seed",
                           False),
    # Ubuntu (backend/distros/ubuntu.py, Debian's code): plan-verified only.
    "ubuntu-server-single": (GOLDEN / "answers/ubuntu-server-single.env", "one-disk-vm", False),
    "ubuntu-server-raidz1-kvm": (GOLDEN / "answers/ubuntu-server-raidz1-kvm.env",
                                 "storage-6disk", False),
    "ubuntu-desktop-mirror-nvidia": (GOLDEN / "answers/ubuntu-desktop-mirror-nvidia.env",
                                     "server-3nvme-usb-seed", False),
    # Fedora (backend/distros/fedora.py, release 44): plan-verified only.
    "fedora-server-single": (GOLDEN / "answers/fedora-server-single.env", "one-disk-vm", False),
    "fedora-server-mirror-kvm": (GOLDEN / "answers/fedora-server-mirror-kvm.env",
                                 "server-3nvme-usb-seed", False),
    "fedora-core-encrypted": (GOLDEN / "answers/fedora-core-encrypted.env", "one-disk-vm",
                              False),
    "fedora-core-static-mirror": (GOLDEN / "answers/fedora-core-static-mirror.env",
                                  "one-disk-vm", False),
    # Arch (backend/distros/arch.py, archzfs): plan-verified only.
    "arch-server-single": (GOLDEN / "answers/arch-server-single.env", "one-disk-vm", False),
    "arch-server-raidz1-kvm": (GOLDEN / "answers/arch-server-raidz1-kvm.env", "storage-6disk",
                               False),
    "arch-core-mirror-static": (GOLDEN / "answers/arch-core-mirror-static.env",
                                "server-3nvme-usb-seed", False),
    # Alpine (backend/distros/alpine.py, apk.static, OpenRC): plan-verified only.
    "alpine-server-single": (GOLDEN / "answers/alpine-server-single.env", "one-disk-vm",
                             False),
    "alpine-core-mirror-static": (GOLDEN / "answers/alpine-core-mirror-static.env",
                                  "server-3nvme-usb-seed", False),
}
SECRETS = ("golden passphrase", "golden-scp-secret", "-Pass-2026", "S3cure-Passw0rd!",
           "changeme", "correct-horse-battery-staple", "golden-rhel-activation-key")


def plan_for(case: str):
    answers_path, machine, darksite = CASES[case]
    answers = load_answers(answers_path).answers
    assert answers is not None, answers_path
    options = InstallOptions(consent_to_wipe=answers.force_wipe,
                             live_root=GOLDEN / "live-root",
                             darksite=DARKSITE_PLACES[0] if darksite else None)
    return plan_install(answers, load_bundled_machine(machine), options=options)


@pytest.mark.parametrize("case", sorted(CASES))
def test_plan_matches_golden(case):
    text = plan_for(case).render_text()
    golden = GOLDEN / "plans" / f"{case}.plan"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text)
    assert golden.exists(), f"no golden plan: UPDATE_GOLDEN=1 to create {golden}"
    assert text == golden.read_text(), f"plan changed: diff it with {golden}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_plans_hold_no_secret(case):
    plan = plan_for(case)
    for text in (plan.render_text(), plan.to_json()):
        for secret in SECRETS:
            assert secret not in text, (case, secret)
    for step in plan.plan:
        for secret in SECRETS:
            assert secret not in (step.content or ""), (case, step.path)


def test_every_topology_and_the_features_are_covered():
    from kldload_tui.backend.answers.model import Topology

    seen = {load_answers(p).answers.zfs_topology for p, _, _ in CASES.values()}
    assert seen == set(Topology)
    texts = {case: plan_for(case).render_text() for case in CASES}
    assert any("special mirror" in t for t in texts.values())
    assert any("encryption=aes-256-gcm" in t for t in texts.values())
    assert any("# seal" in t and "# export" in t for t in texts.values())
    assert "# seal" not in texts["single-minimal"]
    # The darksite is checked against its key like any archive, and stays checked.
    darksite = texts["darksite-keep"]
    assert "--keyring=/mnt/kldload/etc/apt/keyrings/kldload-install.gpg" in darksite
    sources = [step.content or "" for step in plan_for("darksite-keep").plan
               if step.path == "/mnt/kldload/etc/apt/sources.list.d/debian.sources"]
    assert [s.splitlines()[-1] for s in sources] == [
        "Signed-By: /etc/apt/keyrings/kldload-install.gpg",  # while installing
        "Signed-By: /etc/apt/keyrings/kldload-darksite.gpg"]  # the kept darksite
    for text in texts.values():
        assert "--no-check-gpg" not in text and "Trusted: yes" not in text
    assert "zpool labelclear -f /dev/sda2" in texts["old-rpool-force-wipe"]


def test_apt_in_the_target_resolves_names_through_the_live_resolver():
    # The target's /etc/resolv.conf links into its private /run: a mirror install
    # puts the live system's resolver there, a darksite install needs none.
    live = (GOLDEN / "live-root/etc/resolv.conf").read_text()
    writes = {s.path: s.content for s in plan_for("single-minimal").plan if s.kind == "write"}
    assert writes["/mnt/kldload/run/systemd/resolve/stub-resolv.conf"] == live
    darksite = [s.path for s in plan_for("darksite-keep").plan if s.kind == "write"]
    assert not any(p and "resolv" in p for p in darksite)
