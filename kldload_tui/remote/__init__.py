"""The WebSocket API of `kldload-tui serve` (docs/remote.md), kept apart from the CLI.

`protocol` parses requests and shapes replies (and is the schema's source),
`auth` decides who may connect, `hub` runs one install at a time and fans its
events out, `actions` answers each request, and `server` wires them to
websockets. The install itself is the backend's: answers checked by the same
model and rules as a file, started by the same launcher as headless mode.
"""
