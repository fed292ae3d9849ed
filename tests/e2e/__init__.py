"""End-to-end harness: QEMU guests under software emulation (see README.md here).

Not collected by pytest: nothing here is named ``test_*.py`` and conftest.py
ignores the folder unless ``KLDLOAD_E2E=1``. Run it with ``tests/e2e/run``.
"""
