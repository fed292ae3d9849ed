"""Small helpers shared by the answers tests."""

from kldload_tui.backend.answers.file import AnswersResult, parse_answers

BASE = "KLDLOAD_DISTRO=debian\nKLDLOAD_DISK=/dev/sda\nKLDLOAD_HOSTNAME=web-01\n"
KEY1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILN0whhzPJXkgKWfGjtQmn1pIoK0FhWBWGYIxKOdPqX9 user@host"


def parse(extra: str = "", base: str = BASE) -> AnswersResult:
    return parse_answers(base + extra, source="answers.env")


def errors(extra: str = "", base: str = BASE) -> list[str]:
    return [p.render() for p in parse(extra, base).errors]


def warnings(extra: str = "", base: str = BASE) -> list[str]:
    return [p.render() for p in parse(extra, base).warnings]
