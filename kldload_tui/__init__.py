"""kldload-tui: ZFS-on-root installer front door (CLI, TUI, headless)."""

__version__ = "0.1.0"
