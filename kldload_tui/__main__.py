"""`python -m kldload_tui` runs the same entry point as the console script."""

import sys

from kldload_tui.cli import main

sys.exit(main())
