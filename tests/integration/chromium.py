"""A real headless Chromium (Debian's `chromium`), driven over the DevTools protocol.

No Selenium or Playwright: the protocol is JSON over a WebSocket, and the tests
have a websockets client already. What the served TUI shows is read from the
terminal xterm.js draws: its text goes to a canvas, not the DOM (so
`--dump-dom` shows none of it), and the page keeps no reference to the
terminal. `Runtime.queryObjects` (what DevTools' `queryObjects()` does) finds it
among the page's objects, and its buffer gives the rows it draws, as the
screenshot shows them.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

BINARY = shutil.which("chromium") or shutil.which("chromium-browser")
TIMEOUT = 60.0

# Run on every object of the page (`this` is the array queryObjects returns): the
# xterm.js Terminal is the one with a buffer of lines; its visible rows, as text.
_TERMINAL_ROWS = """function () {
  for (const o of this) {
    try {
      if (o && typeof o.rows === "number" && o.buffer && o.buffer.active
          && typeof o.buffer.active.getLine === "function") {
        const b = o.buffer.active, rows = [];
        for (let i = 0; i < o.rows; i++) {
          const line = b.getLine(b.viewportY + i);
          rows.push(line ? line.translateToString(true) : "");
        }
        return rows.join("\\n");
      }
    } catch (e) { /* an object whose getters throw: not the terminal */ }
  }
  return null;
}"""


# Keys as a terminal sends them (tests/tui/walk.py) -> the key a person presses.
_KEYS: dict[str, dict[str, Any]] = {
    "\r": {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": "\r"},
    "\t": {"key": "Tab", "code": "Tab", "windowsVirtualKeyCode": 9},
    "\x1b[B": {"key": "ArrowDown", "code": "ArrowDown", "windowsVirtualKeyCode": 40},
    " ": {"key": " ", "code": "Space", "windowsVirtualKeyCode": 32, "text": " "},
}
_CTRL = 2  # the modifiers bit of Ctrl in Input.dispatchKeyEvent


def key_event(key: str) -> dict[str, Any]:
    """The keyDown that makes xterm.js send `key` (one character, or a sequence above)."""
    if key in _KEYS:
        return _KEYS[key]
    if len(key) == 1 and 1 <= ord(key) <= 26:  # ctrl+letter
        letter = chr(ord(key) + 64)
        return {"key": letter.lower(), "code": f"Key{letter}", "modifiers": _CTRL,
                "windowsVirtualKeyCode": ord(letter)}
    if len(key) == 1 and key.isprintable():
        event: dict[str, Any] = {"key": key, "text": key}
        if key.isascii() and key.isalnum():
            event["code"] = f"Key{key.upper()}" if key.isalpha() else f"Digit{key}"
            event["windowsVirtualKeyCode"] = ord(key.upper())
        return event
    raise ValueError(f"no key for {key!r}")


class Page:
    """One tab: commands in, events kept for `navigate` to read."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=TIMEOUT))
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result
            self.events.append(message)

    def navigate(self, url: str) -> int:
        """Load `url` and wait for its load event; the HTTP status of the page itself."""
        self.call("Network.enable")
        self.call("Page.enable")
        self.events.clear()
        frame = self.call("Page.navigate", url=url)["frameId"]
        deadline = time.monotonic() + TIMEOUT
        status = None
        while time.monotonic() < deadline:
            for event in self.events:
                params = event.get("params", {})
                if (event.get("method") == "Network.responseReceived"
                        and params.get("type") == "Document" and params.get("frameId") == frame):
                    status = params["response"]["status"]
                if event.get("method") == "Page.loadEventFired" and status is not None:
                    assert isinstance(status, int)
                    return status
            self.call("Runtime.evaluate", expression="1")  # reads the events meanwhile
            time.sleep(0.05)
        raise TimeoutError(f"{url} did not load")

    def terminal_text(self) -> str | None:
        """The rows the page's terminal shows, or None while it has none."""
        proto = self.call("Runtime.evaluate", expression="Object.prototype",
                          objectGroup="probe")["result"]["objectId"]
        objects = self.call("Runtime.queryObjects", prototypeObjectId=proto,
                            objectGroup="probe")["objects"]["objectId"]
        found = self.call("Runtime.callFunctionOn", objectId=objects, returnByValue=True,
                          functionDeclaration=_TERMINAL_ROWS)["result"].get("value")
        self.call("Runtime.releaseObjectGroup", objectGroup="probe")
        return found if isinstance(found, str) else None

    def wait_for_text(self, *texts: str, timeout: float = TIMEOUT) -> str:
        """The terminal's rows, once they hold every one of `texts`."""
        deadline = time.monotonic() + timeout
        shown = None
        while time.monotonic() < deadline:
            shown = self.terminal_text()
            if shown is not None and all(t in shown for t in texts):
                return shown
            time.sleep(0.2)
        raise AssertionError(f"the terminal never showed {texts}; it showed:\n{shown}")

    def focus_terminal(self) -> None:
        """Give xterm.js the keyboard, as a click on it would (a headless tab has no
        focus of its own to give)."""
        self.call("Emulation.setFocusEmulationEnabled", enabled=True)
        assert self.evaluate("(() => { const t = document.querySelector("
                             "'.xterm-helper-textarea'); t.focus(); "
                             "return document.activeElement === t; })()")

    def press(self, key: str) -> None:
        """Press and release `key` in the page (`key_event`)."""
        event = key_event(key)
        self.call("Input.dispatchKeyEvent", type="keyDown", **event)
        self.call("Input.dispatchKeyEvent", type="keyUp",
                  **{k: v for k, v in event.items() if k != "text"})

    def evaluate(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", expression=expression,
                         returnByValue=True)["result"].get("value")

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])


class Chromium:
    """`with Chromium(tmp_path) as page:` a headless browser with one blank tab."""

    def __init__(self, profile: Path, *, size: tuple[int, int] = (1024, 768)) -> None:
        assert BINARY is not None, "chromium is not installed (scripts/setup installs it)"
        self.profile = profile
        self.size = size
        self.proc: subprocess.Popen[bytes] | None = None
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Page:
        self.profile.mkdir(parents=True, exist_ok=True)
        # --no-sandbox: the tests run as root, where Chromium's sandbox refuses to start.
        self.proc = subprocess.Popen(
            [str(BINARY), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", "--disable-dev-shm-usage", "--mute-audio",
             f"--window-size={self.size[0]},{self.size[1]}", f"--user-data-dir={self.profile}",
             "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        active = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + TIMEOUT
        while not active.exists() or not active.read_text().strip():
            assert self.proc.poll() is None, f"chromium exited with {self.proc.returncode}"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(0.05)
        port = int(active.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list",
                                    timeout=TIMEOUT) as reply:
            targets = json.load(reply)
        tab = next(t for t in targets if t["type"] == "page")
        ws = self._stack.enter_context(
            connect(tab["webSocketDebuggerUrl"], max_size=None, open_timeout=TIMEOUT))
        return Page(ws)

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
