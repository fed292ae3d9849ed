"""One guest TCP connection to a server on 127.0.0.1: QEMU's `guestfwd=...-cmd:`
runs this once per connection with the connection as stdin and stdout (and
stderr: nothing may be printed). Usage: relay.py PORT

The guest's traffic so never leaves the host's loopback.
"""

from __future__ import annotations

import os
import selectors
import socket
import sys

CHUNK = 1 << 16


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def relay(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        selector = selectors.DefaultSelector()
        selector.register(0, selectors.EVENT_READ)
        selector.register(sock, selectors.EVENT_READ)
        while True:
            for key, _ in selector.select():
                if key.fileobj == 0:
                    data = os.read(0, CHUNK)
                    if not data:  # the guest closed its side: the server sees it too
                        selector.unregister(0)
                        sock.shutdown(socket.SHUT_WR)
                    else:
                        sock.sendall(data)
                else:
                    data = sock.recv(CHUNK)
                    if not data:
                        return
                    _write_all(1, data)


if __name__ == "__main__":
    try:
        relay(int(sys.argv[1]))
    except OSError:
        sys.exit(1)  # silently: stderr is the guest's connection
