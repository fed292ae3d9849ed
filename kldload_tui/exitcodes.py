"""Process exit statuses shared by every subcommand."""

OK = 0
INVALID = 1  # the input was read and is wrong (invalid answers, failed install)
USAGE = 2  # bad usage, or an input that could not be read at all
MACHINE_FILE = 3  # the machine description (--machine) cannot be read or breaks its format
