"""Which filesystem labels make a seed, and that what we write is one of them."""

from __future__ import annotations

import pytest

from kldload_tui.backend.seed.fs import ACCEPTED_LABELS, FAT_LABEL, ISO_LABEL, is_seed_label


@pytest.mark.parametrize("label", ["KLDLOADSEED", "KLDLOAD-SEED", "kldloadseed", "kldload-seed",
                                   "KldLoad-Seed", "KLDLOADSEED   ", " KLDLOAD-SEED"])
def test_accepted(label: str) -> None:
    assert is_seed_label(label)


@pytest.mark.parametrize("label", [None, "", "KLDLOAD", "KLDLOAD-SEE", "KLDLOAD_SEED",
                                   "KLDLOAD SEED", "KLDLOADSEED2", "cidata", "SEED"])
def test_refused(label: str | None) -> None:
    assert not is_seed_label(label)


def test_what_we_write_is_accepted_and_fits() -> None:
    assert is_seed_label(FAT_LABEL) and is_seed_label(ISO_LABEL)
    # A FAT label holds 11 characters; an ISO9660 volume id 32.
    assert len(FAT_LABEL) <= 11
    assert len(ISO_LABEL) <= 32
    assert set(ACCEPTED_LABELS) == {FAT_LABEL, ISO_LABEL}
