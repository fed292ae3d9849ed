"""`kldload-tui serve`: the WebSocket API for scriptable installs, and the TUI in a
browser on the same port (docs/remote.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kldload_tui import exitcodes

NAME = "serve"
HELP = ("serve the WebSocket API for remote installs at ws://ADDR:PORT/ws and the TUI in a "
        "browser at http://ADDR:PORT/ (token required)")
EPILOG = ("Every request, the API's, the browser's page and its session, presents the token: "
          "'Authorization: Bearer TOKEN', or ?token=TOKEN in the URL (browsers: open "
          "http://ADDR:PORT/?token=TOKEN). Without it: HTTP 401. A browser must address this "
          "machine by IP address, localhost or its host name (else 403). Each browser session "
          "is the TUI, run with this server's --machine, --dry-run and --log. See "
          "docs/remote.md.")

NO_AUTH = ("NO AUTHENTICATION (--no-auth): anyone who can reach this port can wipe this "
           "machine's disks")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `serve`."""
    parser.epilog = EPILOG
    parser.add_argument("--bind", metavar="ADDR", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 or :: for "
                        "every interface)")
    parser.add_argument("--port", type=int, default=8080,
                        help="TCP port (default 8080; 0 picks a free one and prints it)")
    parser.add_argument("--machine", metavar="FILE|NAME",
                        help="use a machine description instead of probing (only with "
                        "--dry-run); the browser's TUI sessions use it too")
    parser.add_argument("--dry-run", action="store_true",
                        help="installs go through every phase executing nothing, the API's "
                        "and the browser's")
    parser.add_argument("--log", metavar="PATH", type=Path,
                        help="install log (default /var/log/kldload/install.log; a dry run "
                        "keeps one only when asked)")
    auth = parser.add_mutually_exclusive_group()
    auth.add_argument("--token-file", metavar="FILE", type=Path,
                      help="require the token in FILE (default: kldload.token= on the kernel "
                      "command line, else a new token printed at start)")
    auth.add_argument("--no-auth", action="store_true",
                      help="accept every connection without a token: only on an isolated "
                      "provisioning network")
    parser.add_argument("--token-out", metavar="FILE", type=Path,
                        help="once listening, write the token in use to FILE (mode 0600), "
                        "for a console to show; removed when the server stops")


def _err(text: str) -> None:
    print(f"kldload-tui: {text}", file=sys.stderr)


def start_lines(addresses: list[tuple[str, int]], *, token: str | None, token_source: str,
                dry_run: bool, machine: str | None) -> list[str]:
    """What the console shows at start: where, how to authenticate, or loudly that
    nobody has to."""
    mode = ", ".join(x for x in ("dry run" if dry_run else "",
                                 f"machine {machine}" if machine else "") if x)
    mode = f" ({mode})" if mode else ""
    lines = []
    pages = []
    for host, port in addresses:
        shown = f"[{host}]" if ":" in host else host
        line = (f"kldload-tui serve: listening on ws://{shown}:{port}/ws (API) and "
                f"http://{shown}:{port}/ (TUI){mode}")
        lines.append(f"{line}: {NO_AUTH}" if token is None else line)
        pages.append(f"http://{shown}:{port}/")
    if token is None:
        lines.append(f"kldload-tui serve: WARNING: {NO_AUTH}")
    elif token_source == "generated":
        lines.append(f"kldload-tui serve: token {token} (send 'Authorization: Bearer "
                     "TOKEN', or add ?token=TOKEN to the URL)")
        # The whole URL, to copy into a browser: a token read off a console is mistyped.
        lines += [f"kldload-tui serve: in a browser: {url}?token={token}" for url in pages
                  if not url.startswith(("http://0.0.0.0:", "http://[::]:"))]
    else:
        lines.append(f"kldload-tui serve: token from {token_source} (send 'Authorization: "
                     "Bearer TOKEN', or add ?token=TOKEN to the URL)")
    return lines


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted (SIGINT, SIGTERM); exit 2 on bad usage or a busy port."""
    import asyncio
    import logging
    import signal

    from kldload_tui.remote.auth import TokenError, load_token, token_file_warning
    from kldload_tui.remote.server import ServerOptions, build_server

    if args.machine and not args.dry_run:
        _err("--machine describes a machine to plan on; a real install probes this one: "
             "add --dry-run, or drop --machine")
        return exitcodes.USAGE
    if not 0 <= args.port <= 65535:
        _err(f"--port {args.port}: not a TCP port")
        return exitcodes.USAGE
    token = None
    source = "none"
    if not args.no_auth:
        try:
            loaded = load_token(args.token_file)
        except TokenError as err:
            _err(str(err))
            return exitcodes.USAGE
        token, source = loaded.value, loaded.source
        if args.token_file is not None and (warning := token_file_warning(args.token_file)):
            print(f"kldload-tui: warning: {warning}", file=sys.stderr)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="kldload-tui serve: %(message)s")
    logging.getLogger("kldload_tui.serve.websockets").setLevel(logging.WARNING)
    server = build_server(ServerOptions(args.bind, args.port, token), machine=args.machine,
                          dry_run=args.dry_run, log=args.log)

    def started(addresses: list[tuple[str, int]]) -> None:
        # The file first: whoever reads the start lines may look for it at once.
        if args.token_out is not None:
            _write_token(args.token_out, token)
        for line in start_lines(addresses, token=token, token_source=source,
                                dry_run=args.dry_run, machine=args.machine):
            print(line, flush=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await server.run(stop, started)

    try:
        asyncio.run(main())
    except OSError as err:  # the port is taken, the address is not ours
        _err(f"cannot listen on {args.bind}:{args.port}: {err.strerror or err}")
        return exitcodes.USAGE
    finally:
        if args.token_out is not None:
            # A console must not go on showing a token nothing accepts.
            args.token_out.unlink(missing_ok=True)
    print("kldload-tui serve: stopped", flush=True)
    return exitcodes.OK


def _write_token(path: Path, token: str | None) -> None:
    """The token for a console to show (the live ISO's welcome screen and login);
    with --no-auth there is none, and an old file goes."""
    import os

    if token is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".new")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    # Renamed into place whole: a reader never sees half a token.
    partial.replace(path)
