"""Replace registered secrets with a mask in text that may hold one.

The runner owns one `Redactor` and passes through it what a command that was
handed a secret (on stdin, or as the answer to a prompt) prints, before it is
logged, emitted or raised. Nothing else is masked: secrets never travel in
argv, and masking ordinary text would hide words that merely equal a password.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

MASK = "********"


class Redactor:
    """A set of secret strings and the means to mask them in text.

    Thread-safe: reader threads redact output lines while the caller may
    register another secret.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        # Longest first, so a secret that contains another is masked whole
        # instead of leaving a recognisable remainder around the shorter mask.
        self._ordered: tuple[str, ...] = ()
        for secret in secrets:
            self.add(secret)

    def add(self, value: str) -> None:
        """Register `value` (and each line of a multi-line value) as secret.

        Empty strings are ignored: masking "" would insert the mask between
        every character. Lines are registered too because output is redacted
        line by line while it streams, so a multi-line secret never appears
        whole in one line.
        """
        candidates = {value, *value.splitlines()}
        candidates = {c for c in candidates if c.strip()}
        if not candidates:
            return
        with self._lock:
            merged = set(self._ordered) | candidates
            self._ordered = tuple(sorted(merged, key=len, reverse=True))

    @property
    def secrets(self) -> tuple[str, ...]:
        """The registered secrets, longest first."""
        return self._ordered

    def redact(self, text: str) -> str:
        """`text` with every registered secret replaced by `MASK`.

        Substring replacement, so `--password=hunter2` becomes
        `--password=********`.
        """
        for secret in self._ordered:
            if secret in text:
                text = text.replace(secret, MASK)
        return text
