"""The layers: the backend is usable from a plain script (it never imports
textual, the screens or the front door: harlequin's check), and everything
installs under one namespace."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import kldload_tui.backend as backend

ROOT = Path(__file__).parents[2]


def test_backend_never_imports_textual_or_the_front_ends():
    names = [m.name for m in pkgutil.walk_packages(backend.__path__, "kldload_tui.backend.")]
    code = (f"import importlib, sys\nfor n in {names!r}:\n    importlib.import_module(n)\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'textual' or "
            "(m.startswith('kldload_tui.') and not m.startswith('kldload_tui.backend')))\n"
            "print(bad)\nsys.exit(1 if bad else 0)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(names) > 30


def test_committed_answers_reference_is_current():
    from kldload_tui.backend.answers.doc import render_reference

    committed = (ROOT / "docs" / "answers.md").read_text()
    assert committed == render_reference(), (
        "docs/answers.md is stale: python -m kldload_tui.backend.answers.doc > docs/answers.md")


# -- nothing outside backend/distros/ names a distribution -------------------------

DISTROS = ("debian", "ubuntu", "fedora", "rhel", "rocky", "centos", "arch", "alpine")
DISTRO_WORDS = (*DISTROS, "apt", "dnf", "pacman", "apk", "debootstrap", "dpkg")
# Module (under backend/) -> (the words it may name, why). Every word listed must
# still be found there: a stale entry fails too, so the list only ever shrinks.
_LIVE_DEBIAN = ("the live medium is a Debian system by design (DESIGN.md, 'The live medium "
                "and booting'), whatever distribution it installs: its build speaks apt, dpkg "
                "and the Debian archive's layout; `arch` there is a package's architecture")
DISTRO_NAMES_ALLOWED: dict[str, tuple[frozenset[str], str]] = {
    "answers/types.py": (frozenset(DISTROS), "the Distro enum (KLDLOAD_DISTRO's values) "
                         "and DebianSuite (KLDLOAD_DEBIAN_SUITE's), as the seed defines them"),
    "answers/model.py": (frozenset({"debian", "apt", "centos", "rhel", "rocky"}),
                         "the seed reference's fields, defaults and descriptions: "
                         "KLDLOAD_DEBIAN_SUITE, KLDLOAD_DEBIAN_MIRROR, KLDLOAD_RELEASE"),
    "answers/rules.py": (frozenset({"rhel"}),
                         "KLDLOAD_RHEL_ORG and KLDLOAD_RHEL_ACTIVATION_KEY (the subscription "
                         "credentials #16 asks for as answers) go together, and with "
                         "KLDLOAD_DISTRO=rhel only: a rule across answers, checked by "
                         "validate before any backend is asked"),
    "answers/doc.py": (frozenset({"debian", "apt"}),
                       "the generated reference says where KLDLOAD_DEBIAN_MIRROR defaults to"),
    "answers/summary.py": (frozenset({"debian"}), "the summary shows Debian's suite where "
                           "RELEASED_DISTROS show their release"),
    "answers/file.py": (frozenset({"debian"}),
                        "the example and stand-in (STAND_INS) value of the required "
                        "KLDLOAD_DISTRO"),
    "answers/validators.py": (frozenset({"apt", "debian", "arch"}),
                              "KLDLOAD_EXTRA_PACKAGES and mirror URLs are checked in apt's "
                              "syntax, the only package manager so far; `arch` there is a "
                              "package's architecture"),
    "target/manifest.py": (frozenset({"debian"}), "held names use Debian policy's grammar, "
                           "the only one kldload-package-holds accepts (its error says so)"),
    "export/naming.py": (frozenset({"debian"}), "an image named without answers gets the "
                         "seed reference's default distribution, as kexport's example does"),
    "export/ovf.py": (frozenset(DISTROS), "OVF's guest-OS catalogue (CIM OsType, VMware "
                      "guest ids) names each distribution: a fact of the format"),
    **{f"iso/{name}": (frozenset(words), _LIVE_DEBIAN) for name, words in {
        "aptsrc.py": {"apt", "arch", "debian"},
        "build.py": {"apt", "debian", "dpkg"},
        "chroot.py": {"debian"},
        "darksite.py": {"apt", "arch", "debootstrap", "dpkg"},
        "inputs.py": {"debian"},
        "liveroot.py": {"apt", "dpkg"},
        "tools.py": {"apt", "debian", "debootstrap", "dpkg"},
        "zfsmod.py": {"apt", "debian", "dpkg"},
    }.items()},
}


def _identifiers(node: object) -> list[str]:
    """The names a node introduces or uses: variables, attributes, definitions,
    parameters, keywords, imports."""
    import ast

    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        return [node.attr]
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [node.name]
    if isinstance(node, ast.arg):
        return [node.arg]
    if isinstance(node, ast.keyword):
        return [node.arg or ""]
    if isinstance(node, ast.alias):
        return [node.name, node.asname or ""]
    if isinstance(node, ast.ImportFrom):
        return [node.module or ""]
    return []


def _distro_words_in(path: Path) -> list[tuple[int, str, str]]:
    """(line, word, where) for each distribution word in the module's string
    constants (docstrings aside: saying why is not knowing how) and identifiers."""
    import ast
    import re

    in_text = re.compile(r"(?<![a-z])(" + "|".join(DISTRO_WORDS) + r")(?![a-z])", re.I)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef
                                | ast.AsyncFunctionDef)
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and id(node) not in docstrings):
            found += [(line, m.group(1).lower(), "string") for m in in_text.finditer(node.value)]
            continue
        for name in _identifiers(node):
            # debian_suite, DebianSuite, distros.debian: each word of the identifier.
            words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+", name)
            found += [(line, w.lower(), "name") for w in words if w.lower() in DISTRO_WORDS]
    return found


def test_nothing_outside_distros_names_a_distribution():
    base = ROOT / "backend"
    wrong, used = [], {key: set() for key in DISTRO_NAMES_ALLOWED}
    for path in sorted(base.rglob("*.py")):
        rel = path.relative_to(base).as_posix()
        if rel.startswith("distros/"):
            continue
        allowed = DISTRO_NAMES_ALLOWED.get(rel, (frozenset(), ""))[0]
        for line, word, where in sorted(_distro_words_in(path)):
            if word in allowed:
                used[rel].add(word)
            else:
                wrong.append(f"backend/{rel}:{line}: {word} ({where})")
    assert wrong == [], (
        "distribution knowledge outside backend/distros/; move it behind DistroBackend, or "
        "if the seed's reference defines it, allow it in DISTRO_NAMES_ALLOWED saying why:\n"
        + "\n".join(wrong))
    stale = [f"{rel}: {' '.join(sorted(words - used[rel]))}"
             for rel, (words, _) in DISTRO_NAMES_ALLOWED.items() if words - used[rel]]
    assert stale == [], "DISTRO_NAMES_ALLOWED allows words no longer there:\n" + "\n".join(stale)


# -- front ends get runners from the backend, and never reach into distros/ -----------

def _front_end_modules() -> list[Path]:
    """kldload_tui/ (its links to backend/ and screens/ aside) and screens/."""
    own = [p for p in sorted((ROOT / "kldload_tui").rglob("*.py"))
           if p.relative_to(ROOT / "kldload_tui").parts[0] not in ("backend", "screens")]
    return own + sorted((ROOT / "screens").rglob("*.py"))


def _runner_classes(paths: list[Path]) -> set[str]:
    """`Runner` and every class that derives from it, directly or not, in `paths`."""
    import ast

    bases: dict[str, set[str]] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases.setdefault(node.name, set()).update(
                    b.id if isinstance(b, ast.Name) else b.attr
                    for b in node.bases if isinstance(b, ast.Name | ast.Attribute))
    runners = {"Runner"}
    while grown := {name for name, of in bases.items() if of & runners} - runners:
        runners |= grown
    return runners


def test_front_ends_never_build_a_runner_nor_import_a_distro():
    import ast
    import re

    front = _front_end_modules()
    runners = _runner_classes(sorted((ROOT / "backend").rglob("*.py")) + front)
    assert {"LocalRunner", "RecordingRunner"} <= runners
    distros = re.compile(r"(^|\.)backend\.distros(\.|$)")
    wrong = []
    for path in front:
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # A runner class imported under another name is still a runner class.
        named = runners | {a.asname for node in ast.walk(tree)
                           if isinstance(node, ast.ImportFrom) for a in node.names
                           if a.asname and a.name in runners}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                # The callee and what picks it: `(A if dry else B)(...)` builds one too.
                called = {n.id if isinstance(n, ast.Name) else n.attr
                          for n in ast.walk(node.func) if isinstance(n, ast.Name | ast.Attribute)}
                wrong += [f"{rel}:{node.lineno}: builds a {name}" for name in called & named]
            elif isinstance(node, ast.Import):
                wrong += [f"{rel}:{node.lineno}: imports {a.name}" for a in node.names
                          if distros.search(a.name)]
            elif isinstance(node, ast.ImportFrom):
                # `from ...backend.distros.debian import x`, and `from ...backend import distros`.
                modules = [node.module or "", *(f"{node.module}.{a.name}" for a in node.names)]
                if any(distros.search(m) for m in modules):
                    wrong.append(f"{rel}:{node.lineno}: imports from {node.module}")
    assert len(front) > 15
    assert wrong == [], (
        "front ends get runners from the backend (engine/launcher.py for installs, the "
        "probing and seed helpers otherwise) and leave distributions to it:\n"
        + "\n".join(wrong))
