"""Keep pytest out of the e2e harness unless asked: it needs root, QEMU and GBs of cache."""

import os

# The harness has its own command (tests/e2e/run); the README's test command must not
# import or run any of it.
collect_ignore_glob = [] if os.environ.get("KLDLOAD_E2E") == "1" else ["*"]
