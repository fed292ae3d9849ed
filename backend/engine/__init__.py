"""Running an install: the engine and its context, the runner every command goes through, and the
event stream.
"""
