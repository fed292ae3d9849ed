"""Everything that knows about machines. Never imports textual."""
