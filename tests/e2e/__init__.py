"""End-to-end harness: QEMU guests under software emulation (see README.md here).

Run it with ``tests/e2e/run``. pytest collects only the ``test_*.py`` files here:
checks of the harness's own pieces on the host (no root, no QEMU), run by the
README's test command; they boot nothing.
"""
