"""What an initramfs must hold to import the pool, checked against its listing
(each distribution lists its image with its own tool: lsinitrd, lsinitcpio, a
cpio reader)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def lacking(paths: Iterable[str], needs: Sequence[str]) -> list[str]:
    """Each of `needs` that no path of the listing ends with, nor names a file
    starting with it (a module may be compressed: zfs.ko.zst, zfs.ko.xz)."""
    listed = list(paths)
    return [need for need in needs
            if not any(p.endswith(need) or p.split("/")[-1].startswith(need) for p in listed)]
