"""A fake target root and stub commands for running the kldload scripts on this host.

The real `systemctl`, `zfs`, `apt-mark`, `dnf`, `rpm`, `ssh-keygen` and `wg` would act on
the host, so the scripts run with a PATH whose first directory holds stubs
(Python scripts) that log their argv to `calls.log` and keep just enough state
in `state/` to answer the next question (held packages, snapshots, datasets).

Failure injection: STUB_FAIL is a shell-style pattern matched against
"name arg1 arg2 ..."; a matching call exits 1. STUB_FORGET names a package
that `apt-mark showhold` or `dnf versionlock list` leaves out.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from kldload_tui.backend.target.files import TargetFile

_PRELUDE = f"""#!{sys.executable}
import fnmatch, os, subprocess, sys
from pathlib import Path
NAME = Path(sys.argv[0]).name
ARGS = sys.argv[1:]
STATE = Path(os.environ["STUB_STATE"])
CALL = " ".join([NAME, *ARGS])
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(CALL + "\\n")
if fnmatch.fnmatchcase(CALL, os.environ.get("STUB_FAIL", "-")):
    print(NAME + ": failing on purpose", file=sys.stderr)
    sys.exit(1)
def lines(name):
    p = STATE / name
    return p.read_text().split() if p.exists() else []
def save(name, items):
    (STATE / name).write_text("".join(i + "\\n" for i in items))
def versions(p):
    n = int(os.environ.get("STUB_KERNELS", "1")) if p == "kernel" else 1
    return ["5.14.0-" + str(i) + ".el9" for i in range(n)] if p == "kernel" else ["1.0-1.el9"]
"""

_STUBS = {
    # Like systemd, starting kldload-package-holds runs its script.
    "systemctl": """
units = [a for a in ARGS if a.endswith((".service", ".timer"))]
starting = "start" in ARGS or "--now" in ARGS
if starting and "kldload-package-holds.service" in units:
    root = os.environ.get("KLDLOAD_ROOT", "")
    sys.exit(subprocess.call([root + "/usr/lib/kldload/package-holds"]))
""",
    "apt-mark": """
if ARGS[0] == "hold":
    save("held", sorted(set(lines("held") + ARGS[1:])))
    print("\\n".join(p + " set on hold." for p in ARGS[1:]))
elif ARGS[0] == "showhold":
    forget = os.environ.get("STUB_FORGET", "")
    print("\\n".join(p for p in lines("held") if p != forget))
""",
    # dnf versionlock and rpm -q as the real tools print them (dnf-plugins-core 4:
    # NAME-EPOCH:VERSION-RELEASE.* per lock); the held system has every package
    # at 1.0-1.el9, and the kernel twice when STUB_KERNELS=2.
    "dnf": """
verb = [a for a in ARGS if not a.startswith("-")]
if verb[:2] == ["versionlock", "add"]:
    entries = []
    for p in verb[2:]:
        entries += [p + "-0:" + v + ".*" for v in versions(p)]
    save("locked", sorted(set(lines("locked") + entries)))
    print("\\n".join("Adding versionlock on: " + e for e in entries))
elif verb[:2] == ["versionlock", "list"]:
    forget = os.environ.get("STUB_FORGET", "")
    print("\\n".join(e for e in lines("locked") if not e.startswith(forget + "-0:")))
""",
    "rpm": """
assert ARGS[:2] == ["-q", "--qf"], ARGS
missing = [p for p in ARGS[3:] if p in lines("not-installed")]
for p in ARGS[3:]:
    if p in missing:
        print("package " + p + " is not installed")
    else:
        for v in versions(p):
            print(p + "-0:" + v + ".*")
sys.exit(1 if missing else 0)
""",
    "ssh-keygen": """
assert ARGS[:1] == ["-A"], ARGS
prefix = ARGS[2] if ARGS[1:2] == ["-f"] else ""
for t in ("rsa", "ecdsa", "ed25519"):
    key = Path(prefix + "/etc/ssh/ssh_host_" + t + "_key")
    if not key.exists():
        key.write_text("host key\\n")
        Path(str(key) + ".pub").write_text("ssh-" + t + " AAAA\\n")
""",
    "wg": """
if ARGS == ["genkey"]:
    print("cHJpdmF0ZSBrZXkgZm9yIHRlc3RzIG9ubHkgISEhISE=")
elif ARGS == ["pubkey"]:
    sys.stdin.read()
    print("cHVibGljIGtleSBmb3IgdGVzdHMgb25seSAhISEhISE=")
""",
    "findmnt": """
fields = {"FSTYPE": os.environ.get("STUB_ROOT_FSTYPE", "zfs"),
          "SOURCE": os.environ.get("STUB_ROOT_SOURCE", "rpool/ROOT/debian")}
print(fields[ARGS[1]])
""",
    "zgenhostid": """
assert ARGS[:1] == ["-o"] and len(ARGS) == 2, ARGS
if Path(ARGS[1]).exists():
    sys.exit(ARGS[1] + " exists")
Path(ARGS[1]).write_bytes(os.urandom(4))
""",
    # Only what firstboot asks: the cachefile, written under the fake root.
    "zpool": """
assert ARGS[0] == "set" and ARGS[1].startswith("cachefile="), ARGS
cache = Path(os.environ.get("KLDLOAD_ROOT", "") + ARGS[1].split("=", 1)[1])
cache.parent.mkdir(parents=True, exist_ok=True)
cache.write_text("cache of " + ARGS[2] + "\\n")
""",
    "update-initramfs": "",
    "dracut": "",
    # Datasets in state/datasets; snapshots in state/snapshots, oldest first.
    "zfs": """
snaps = lines("snapshots")
name = ARGS[-1]
if ARGS[0] == "snapshot":
    if name in snaps:
        sys.exit("dataset already exists")
    save("snapshots", snaps + [name])
elif ARGS[0] == "destroy":
    if name not in snaps:
        sys.exit("could not find any snapshots to destroy")
    save("snapshots", [s for s in snaps if s != name])
elif ARGS[0] == "list" and "snapshot" in ARGS:
    if "-d" in ARGS:
        print("\\n".join(s for s in snaps if s.split("@")[0] == name))
    elif name not in snaps:
        sys.exit("dataset does not exist")
    else:
        print(name)
elif ARGS[0] == "list":
    if name not in lines("datasets"):
        sys.exit("dataset does not exist")
    print(name)
""",
}


@dataclass
class Host:
    """A fake root, the stub PATH directory and their logs."""

    root: Path
    bin: Path
    state: Path
    log: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {"PATH": f"{self.bin}:/usr/bin:/bin", "KLDLOAD_ROOT": str(self.root),
               "STUB_STATE": str(self.state), "STUB_LOG": str(self.log), "LC_ALL": "C"}
        env.update(extra)
        return env

    def run(self, script: str, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        """Run /usr/lib/kldload/SCRIPT from the fake root under dash (or sh)."""
        path = self.root / "usr/lib/kldload" / script
        return subprocess.run(["sh", str(path), *args], env=self.env(**extra),
                              capture_output=True, text=True, timeout=60, check=False)

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def state_lines(self, name: str) -> list[str]:
        path = self.state / name
        return path.read_text().split() if path.exists() else []

    def set_state(self, name: str, items: list[str]) -> None:
        (self.state / name).write_text("".join(f"{i}\n" for i in items))


def write_files(root: Path, files: list[TargetFile]) -> None:
    """Write target files under `root` the way the engine does: exact modes."""
    for f in files:
        path = root / f.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f.content, encoding="utf-8")
        os.chmod(path, f.mode)


def make_host(base: Path, files: list[TargetFile]) -> Host:
    """A fake root holding `files` (plus /etc/ssh without keys) and the stubs."""
    host = Host(base / "root", base / "bin", base / "state", base / "calls.log")
    for d in (host.root / "etc/ssh", host.bin, host.state):
        d.mkdir(parents=True)
    write_files(host.root, files)
    for name, body in _STUBS.items():
        stub = host.bin / name
        stub.write_text(_PRELUDE + body)
        stub.chmod(0o755)
    return host
