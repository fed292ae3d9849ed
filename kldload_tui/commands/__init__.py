"""Subcommands of `kldload-tui`, one module each.

Each module is imported when the parser is built, so it must stay light at import
time: argparse at module level, everything heavy (pydantic, textual, rich) inside
`run`. That keeps `kldload-tui --help` fast on a slow live medium.

A command module defines `NAME`, `HELP`, `add_arguments(parser)` and
`run(args) -> int` (the process exit status).
"""

# Order is the order shown in --help.
COMMAND_MODULES: tuple[str, ...] = ("validate", "plan", "disks", "probe", "seed", "export",
                                    "serve", "iso")
