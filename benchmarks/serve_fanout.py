"""`kldload-tui serve` with 50 watching clients during a recorded (dry-run) install.

Each run starts the real binary (`serve --dry-run --machine server-3nvme-usb-seed
--port 0`), connects 50 clients that `watch`, then one more sends the seed's
install. Reported, median of N runs (default 5):
- events per second delivered to each watcher (its events / the time from its
  first event to its last; the median watcher of the run),
- the server's RSS with the 51 clients connected, after the install,
- the time from sending `install` to the first event reaching the installing client.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

from websockets.asyncio.client import connect

from benchmarks.serve_process import serve

CLIENTS = 50
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILN0whhzPJXkgKWfGjtQmn1pIoK0FhWBWGYIxKOdPqX9 user@host"
INSTALL = {"action": "install", "distro": "debian", "disk": "/dev/nvme0n1",
           "hostname": "web-prod-01", "username": "admin", "password": "changeme",
           "profile": "server", "timezone": "America/Vancouver", "ssh_pubkey": KEY}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def watch(url: str, headers: dict[str, str], ready: asyncio.Semaphore,
                done: asyncio.Event) -> tuple[int, float]:
    async with connect(url, additional_headers=headers) as ws:
        await ws.send(json.dumps({"action": "watch"}))
        json.loads(await ws.recv())
        ready.release()
        count, first, last = 0, 0.0, 0.0
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] != "event":
                continue
            last = time.perf_counter()
            first = first or last
            count += 1
            if message["status"] in ("complete", "failed"):
                break
        await done.wait()  # stay connected until RSS is read
        return count, (count - 1) / (last - first) if last > first else float("inf")


async def one_run(url: str, headers: dict[str, str], pid: int) -> tuple[float, int, float]:
    ready, done = asyncio.Semaphore(0), asyncio.Event()
    tasks = [asyncio.create_task(watch(url, headers, ready, done)) for _ in range(CLIENTS)]
    for _ in range(CLIENTS):
        await ready.acquire()
    async with connect(url, additional_headers=headers) as ws:
        sent = time.perf_counter()
        await ws.send(json.dumps(INSTALL))
        first_event = None
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] == "event" and first_event is None:
                first_event = time.perf_counter() - sent
            if message.get("status") in ("complete", "failed") and message["type"] == "event":
                break
        rss = rss_kib(pid)  # every watcher is still connected (they wait for `done`)
        done.set()
        results = await asyncio.gather(*tasks)
    assert first_event is not None
    counts = {c for c, _ in results}
    assert len(counts) == 1, f"watchers saw different numbers of events: {counts}"
    return statistics.median(r for _, r in results), rss, first_event


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    rates, rsses, firsts = [], [], []
    for _ in range(runs):
        with serve() as served:
            url = f"ws://127.0.0.1:{served.port}/ws"
            headers = {"Authorization": f"Bearer {served.token}"}
            rate, rss, first = asyncio.run(one_run(url, headers, served.proc.pid))
        rates.append(rate)
        rsses.append(rss)
        firsts.append(first)
    print(f"serve, {CLIENTS} watchers of a dry-run install, median of {runs} runs:")
    print(f"  events/s delivered to each watcher: {statistics.median(rates):.0f} "
          f"(runs: {', '.join(f'{r:.0f}' for r in rates)})")
    print(f"  server RSS with {CLIENTS + 1} clients: {statistics.median(rsses) / 1024:.1f} MiB")
    print(f"  install sent -> first event: {statistics.median(firsts) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
