"""Every external command goes through one runner.

Callers build argv lists with pure functions and hand them to a `Runner`, which
executes (or, in plan mode, records), logs to the install log, streams output
lines as `OutputLine` events, and raises a `CommandError` an operator can act
on. No shell is ever involved.

Secrets reach commands only on stdin (`run(input=...)`) or as answers to a
prompt (`interact`), never in argv or the environment, so a command line, a
plan and a file written into the target are shown as they are. Masking applies
where a secret could show up: the output lines of a call that was handed one,
as they are logged and emitted, and the error it raises. What a command returns
to the engine is never masked: the engine parses it, and a password such as
`debian` must not turn `rpool/ROOT/debian` into something else.

- `LocalRunner` runs commands on this machine and writes files atomically.
- `RecordingRunner` executes nothing and keeps the plan (`kldload-tui plan`,
  the demo, unit tests); canned outputs let output-parsing code run in plan mode.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import selectors
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import IO, Any, Literal, Self, TextIO

from kldload_tui.backend.engine.events import Event, EventSink, OutputLine
from kldload_tui.backend.engine.records import CommandError, CommandResult, PlannedStep
from kldload_tui.backend.engine.redact import MASK, Redactor

__all__ = ["MASK", "CommandError", "CommandResult", "LocalRunner", "PlannedStep",
           "RecordingRunner", "Runner"]

Stream = Literal["stdout", "stderr"]
C_LOCALE = {"LC_ALL": "C", "LANG": "C"}
STDERR_TAIL_LINES = 20
# Exit codes a shell would give, so operators read familiar numbers.
EXIT_TIMEOUT, EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND = 124, 126, 127
# A program that never writes a newline must not grow a line without bound.
MAX_LINE_BYTES = 64 * 1024

LineFilter = Callable[[OutputLine], Sequence[Event]]
"""`run(on_line=...)`: the events that stand for one output line, in place of it."""


@dataclass(frozen=True)
class _Call:
    """One command as the base hands it to a subclass: checked, prefixed, with env."""

    argv: list[str]
    env: dict[str, str]
    phase: str | None
    chroot: str | None
    timeout: float | None
    data: bytes | None = None
    responses: tuple[tuple[re.Pattern[str], str], ...] = ()
    on_line: LineFilter | None = None
    cr_ends_line: bool = False

    @property
    def carries_secret(self) -> bool:
        """Handed stdin or prompt answers: its output may echo what it was given."""
        return self.data is not None or bool(self.responses)


def _checked_argv(argv: Sequence[str]) -> list[str]:
    """argv as a list of str; a shell string or a non-string element is a bug."""
    if isinstance(argv, str | bytes):
        raise TypeError(f"argv must be a list of str, not a string: {argv!r}")
    out = [os.fspath(a) if isinstance(a, os.PathLike) else a for a in argv]
    for arg in out:
        if not isinstance(arg, str):
            raise TypeError(f"argv elements must be str, got {type(arg).__name__}: {arg!r}")
    if not out:
        raise ValueError("argv is empty")
    return out


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


class _LineSplitter:
    """Cuts a stream of chunks into lines and hands each to `emit`.

    With `cr_ends_line`, a carriage return ends a line too: a progress
    display that redraws in place is then seen at each redraw, not once at
    the end (an empty line between a CR and an LF is dropped).
    """

    def __init__(self, emit: Callable[[bytes], None], *, cr_ends_line: bool = False) -> None:
        self._emit = emit
        self._pending = bytearray()
        self._ends = re.compile(rb"\r\n?|\n" if cr_ends_line else rb"\n")
        self._after_cr = False  # a CR ended the last line: an LF right after it is its end too

    def feed(self, chunk: bytes) -> None:
        self._pending += chunk
        while (end := self._ends.search(self._pending)) is not None:
            blank_cr = end.start() == 0 and (end.group() != b"\n" or self._after_cr)
            if not blank_cr:
                self._emit(bytes(self._pending[:end.start()]))
            self._after_cr = end.group() == b"\r"
            del self._pending[: end.end()]
        if len(self._pending) >= MAX_LINE_BYTES:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._emit(bytes(self._pending))
            self._pending.clear()


class Runner(ABC):
    """The one way to run commands and write files into the target.

    Subclasses implement `_execute`, `_interact` and `_write`; this base checks
    argv, adds the C locale and the chroot prefix, logs, emits events and raises
    `CommandError`, masking registered secrets in what a secret-carrying call
    prints. The sink is called from the thread that called `run`.
    `current_phase` tags steps that are given no `phase=`.
    """

    def __init__(self, *, log_path: str | Path | None = None, sink: EventSink | None = None,
                 secrets: Sequence[str] = ()) -> None:
        self.redactor = Redactor(secrets)
        self.log_path = Path(log_path) if log_path is not None else None
        self.current_phase: str | None = None
        self._sink = sink
        self._log_lock = threading.Lock()
        self._log: TextIO | None = None
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.fchmod(fd, 0o600)  # an existing log may have a looser mode
            self._log = open(fd, "a", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115

    def close(self) -> None:
        """Close the install log; nothing more is logged afterwards."""
        with self._log_lock:
            if self._log is not None:
                self._log.close()
                self._log = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_secret(self, value: str) -> None:
        """Mask `value` from now on in what secret-carrying calls print."""
        self.redactor.add(value)

    def note(self, text: str, *, phase: str | None = None) -> None:
        """Write a line of our own to the install log (it never holds a secret)."""
        self._log_line(text, phase or self.current_phase)

    def run(self, argv: Sequence[str], *, check: bool = True,
            input: str | bytes | None = None, chroot: str | Path | None = None,
            env: Mapping[str, str] | None = None, timeout: float | None = None,
            phase: str | None = None, on_line: LineFilter | None = None,
            cr_ends_line: bool = False) -> CommandResult:
        """Run argv (as `chroot ROOT argv...` when `chroot` is given).

        `input` is fed on stdin and never logged: it is how a secret reaches a
        command, and the command's output is masked. `env` is added to the
        inherited environment after `LC_ALL=C LANG=C`, so a caller may still
        ask for a locale. `check=True` raises `CommandError` on a non-zero
        exit, including 127 for a missing executable; a timeout always raises.
        `on_line` is handed each output line's event once it is logged, and
        returns the events to emit in its place: the line, and a `Progress`
        read from it (a line meant for a parser rather than people may go).
        `cr_ends_line` makes each carriage return end a line, for commands
        whose progress redraws in place (`qemu-img -p`).
        """
        data = input.encode("utf-8") if isinstance(input, str) else input
        call = self._call(argv, chroot, env, timeout, phase, data=data, on_line=on_line,
                          cr_ends_line=cr_ends_line)
        if data is not None:
            # Neither the content nor its length: a length tells a password's.
            self._log_line("  <stdin: not logged>", call.phase)
        return self._finish(self._execute(call), call, check)

    def interact(self, argv: Sequence[str], responses: Sequence[tuple[str, str]], *,
                 check: bool = True, chroot: str | Path | None = None,
                 env: Mapping[str, str] | None = None, timeout: float | None = 600.0,
                 phase: str | None = None) -> CommandResult:
        """Run argv on a pseudo-terminal, answering prompts as they appear.

        `responses` pairs a regex with the line to send when it matches; a
        pattern may match any number of times (a passphrase asked twice).
        Every response is registered as a secret before anything runs.
        """
        for _, response in responses:
            self.add_secret(response)
        compiled = tuple((re.compile(pattern), answer) for pattern, answer in responses)
        call = self._call(argv, chroot, env, timeout, phase, responses=compiled)
        self._log_line(f"  <interactive: {len(compiled)} prompt(s), answers not logged>",
                       call.phase)
        return self._finish(self._interact(call), call, check)

    def write_file(self, path: str | Path, content: str | bytes, mode: int = 0o644, *,
                   secret: bool = False, phase: str | None = None) -> None:
        """Write `content` to `path` with exactly `mode`, whatever the umask.

        Content is never logged; `secret=True` keeps it out of the plan too.
        """
        data = content.encode("utf-8") if isinstance(content, str) else content
        phase = phase or self.current_phase
        self._log_line(f"write {path} (mode {mode:04o}, {len(data)} bytes)", phase)
        self._write(Path(path), data, mode, secret, phase)

    @abstractmethod
    def _execute(self, call: _Call) -> CommandResult:
        """Run the call; return a result whose fields are already redacted."""

    @abstractmethod
    def _interact(self, call: _Call) -> CommandResult:
        """Run the call on a pty answering its prompts; return a redacted result."""

    @abstractmethod
    def _write(self, path: Path, data: bytes, mode: int, secret: bool,
               phase: str | None) -> None:
        """Put `data` at `path` with `mode`."""

    def _call(self, argv: Sequence[str], chroot: str | Path | None,
              env: Mapping[str, str] | None, timeout: float | None, phase: str | None,
              **extra: Any) -> _Call:
        """Check argv, add the chroot prefix and the C locale, log the command.

        argv and env are logged as they are: secrets never travel there.
        """
        checked = _checked_argv(argv)
        root = os.fspath(chroot) if chroot is not None else None
        full = ["chroot", root, *checked] if root is not None else checked
        phase = phase or self.current_phase
        self._log_line(f"$ {shlex.join(full)}", phase)
        if env:
            self._log_line("  env: " + " ".join(f"{k}={v}" for k, v in env.items()), phase)
        merged = {**os.environ, **C_LOCALE, **(env or {})}
        return _Call(full, merged, phase, root, timeout, **extra)

    def _log_line(self, text: str, phase: str | None) -> None:
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        where = f" [{phase}]" if phase else ""
        with self._log_lock:
            if self._log is not None:
                for line in text.splitlines() or [""]:
                    self._log.write(f"{stamp}{where} {line}\n")

    def _shown(self, call: _Call, text: str) -> str:
        """`text` as it may leave the process: masked when the call was given a secret."""
        return self.redactor.redact(text) if call.carries_secret else text

    def _emit_line(self, call: _Call, stream: Stream, raw: bytes) -> None:
        """Log and emit one output line (given without its newline)."""
        text = self._shown(call, _decode(raw).rstrip("\r"))
        # A progress bar redraws with \r; keep what a terminal would show.
        text = text.rsplit("\r", 1)[-1]
        self._log_line(f"  {stream}: {text}", call.phase)
        if self._sink is not None:
            line = OutputLine(phase=call.phase, stream=stream, text=text)
            for event in call.on_line(line) if call.on_line is not None else (line,):
                self._sink(event)

    def _result(self, call: _Call, returncode: int, stdout: str, stderr: str,
                start: float) -> CommandResult:
        # Unmasked: this is what the engine parses.
        return CommandResult(tuple(call.argv), returncode, stdout, stderr,
                             time.monotonic() - start)

    def _finish(self, result: CommandResult, call: _Call, check: bool) -> CommandResult:
        self._log_line(f"  exit {result.returncode} after {result.seconds:.2f}s", call.phase)
        if check and result.returncode != 0:
            reason = {EXIT_NOT_FOUND: "command not found",
                      EXIT_NOT_EXECUTABLE: "command not executable"}.get(result.returncode)
            reason = f"{reason} (exit {result.returncode})" if reason else None
            raise CommandError(result.argv, result.returncode,
                               self._shown(call, _tail(result.stderr or result.stdout)),
                               self.log_path, reason=reason)
        return result

    def _timed_out(self, call: _Call, output: str) -> CommandError:
        reason = f"command timed out after {call.timeout:g}s"
        self._log_line(f"  {reason}", call.phase)
        return CommandError(call.argv, EXIT_TIMEOUT, self._shown(call, _tail(output)),
                            self.log_path, reason=reason, timed_out=True)


class LocalRunner(Runner):
    """Runs commands on this machine and writes files for real.

    Both pipes are read with a selector in the calling thread, so lines are
    logged and emitted while the command runs, and the sink never sees
    another thread.
    """

    def _execute(self, call: _Call) -> CommandResult:
        start = time.monotonic()
        try:
            proc = subprocess.Popen(  # noqa: S603 - an argv list, never a shell
                call.argv, env=call.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                stdin=subprocess.PIPE if call.data is not None else subprocess.DEVNULL,
                process_group=0,  # its own group, so a timeout kills its children too
            )
        except (FileNotFoundError, PermissionError) as exc:
            found = isinstance(exc, FileNotFoundError)
            message = f"{call.argv[0]}: {'command not found' if found else 'permission denied'}"
            self._log_line(f"  {message}", call.phase)
            code = EXIT_NOT_FOUND if found else EXIT_NOT_EXECUTABLE
            return self._result(call, code, "", message, start)
        deadline = None if call.timeout is None else start + call.timeout
        try:
            out, err, finished = self._pump(proc, call, deadline)
            if finished:
                remaining = None if deadline is None else max(deadline - time.monotonic(), 0)
                proc.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            finished = False
        finally:
            # An interrupt, a failing sink or a timeout must not leave it running.
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if not finished:
            raise self._timed_out(call, _decode(err or out))
        return self._result(call, proc.returncode, _decode(out), _decode(err), start)

    def _pump(self, proc: subprocess.Popen[bytes], call: _Call,
              deadline: float | None) -> tuple[bytes, bytes, bool]:
        """Feed stdin and read both pipes until they close; False on the deadline."""
        assert proc.stdout is not None and proc.stderr is not None
        pipes: dict[str, IO[bytes]] = {"stdout": proc.stdout, "stderr": proc.stderr}
        collected = {"stdout": bytearray(), "stderr": bytearray()}
        splitters = {name: _LineSplitter(partial(self._emit_line, call, name),
                                         cr_ends_line=call.cr_ends_line)
                     for name in ("stdout", "stderr")}
        if proc.stdin is not None:
            pipes["stdin"] = proc.stdin
            os.set_blocking(proc.stdin.fileno(), False)
        todo = memoryview(call.data or b"")
        with selectors.DefaultSelector() as sel:
            for name, pipe in pipes.items():
                events = selectors.EVENT_WRITE if name == "stdin" else selectors.EVENT_READ
                sel.register(pipe, events, name)
            try:
                while sel.get_map():
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return bytes(collected["stdout"]), bytes(collected["stderr"]), False
                    for key, _ in sel.select(remaining):
                        name = key.data
                        pipe = pipes[name]
                        if name == "stdin":
                            try:
                                todo = todo[os.write(pipe.fileno(), todo[: select.PIPE_BUF]):]
                            except BrokenPipeError:
                                todo = todo[:0]  # it stopped reading; its exit code says why
                            done = not todo
                        else:
                            chunk = os.read(pipe.fileno(), 65536)
                            collected[name] += chunk
                            if chunk:
                                splitters[name].feed(chunk)
                            else:
                                splitters[name].flush()
                            done = not chunk
                        if done:
                            sel.unregister(pipe)
                            pipe.close()
            finally:
                for pipe in pipes.values():
                    pipe.close()
        return bytes(collected["stdout"]), bytes(collected["stderr"]), True

    def _interact(self, call: _Call) -> CommandResult:
        import pexpect  # only interactive steps need it

        start = time.monotonic()
        if shutil.which(call.argv[0], path=call.env.get("PATH")) is None:
            message = f"{call.argv[0]}: command not found"
            self._log_line(f"  {message}", call.phase)
            return self._result(call, EXIT_NOT_FOUND, "", message, start)
        seen: list[str] = []
        splitter = _LineSplitter(lambda raw: self._emit_line(call, "stdout", raw))

        class _Tap:
            """pexpect's `logfile_read`: everything the child writes passes here."""

            def write(self, data: str) -> None:
                seen.append(data)
                splitter.feed(data.encode("utf-8"))

            def flush(self) -> None:
                """pexpect flushes after each write; lines are emitted in `write`."""

        child = pexpect.spawn(call.argv[0], call.argv[1:], env=call.env, encoding="utf-8",
                              codec_errors="replace", echo=False)
        child.logfile_read = _Tap()  # set before the first read, so nothing is missed
        patterns: list[Any] = [p for p, _ in call.responses] + [pexpect.EOF, pexpect.TIMEOUT]
        deadline = None if call.timeout is None else start + call.timeout
        try:
            while True:
                remaining = None if deadline is None else max(deadline - time.monotonic(), 0)
                index = child.expect(patterns, timeout=remaining)
                if index >= len(call.responses):
                    break
                child.sendline(call.responses[index][1])
        finally:
            child.close(force=True)
            splitter.flush()
        output = "".join(seen).replace("\r\n", "\n")
        if index == len(call.responses) + 1:
            raise self._timed_out(call, output)
        code = child.exitstatus if child.signalstatus is None else -child.signalstatus
        return self._result(call, int(code), output, "", start)

    def _write(self, path: Path, data: bytes, mode: int, secret: bool,
               phase: str | None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
                os.fchmod(handle.fileno(), mode)  # exact, not filtered by the umask
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # so the rename itself survives a power cut
        finally:
            os.close(dir_fd)


class RecordingRunner(Runner):
    """Executes nothing; records every step, in order, as the plan.

    Commands succeed with empty output unless `respond` registered canned
    output for an argv prefix, so code that parses output runs in plan mode.
    """

    def __init__(self, *, log_path: str | Path | None = None, sink: EventSink | None = None,
                 secrets: Sequence[str] = ()) -> None:
        super().__init__(log_path=log_path, sink=sink, secrets=secrets)
        self.plan: list[PlannedStep] = []
        self._canned: list[tuple[tuple[str, ...], str, str, int]] = []

    def note(self, text: str, *, phase: str | None = None) -> None:
        """Log the line and keep it in the plan, where it explains the steps around it."""
        super().note(text, phase=phase)
        self.plan.append(PlannedStep("note", phase or self.current_phase, content=text))

    def respond(self, prefix: Sequence[str], *, stdout: str = "", stderr: str = "",
                returncode: int = 0) -> None:
        """Answer commands that start with `prefix` with this output.

        The prefix matches argv with or without the chroot prefix; the longest
        matching prefix wins, and among equals the latest registered.
        """
        self._canned.append((tuple(_checked_argv(prefix)), stdout, stderr, returncode))

    def _execute(self, call: _Call) -> CommandResult:
        start = time.monotonic()
        self.plan.append(PlannedStep("command", call.phase, tuple(call.argv),
                                     chroot=call.chroot, stdin=call.data is not None))
        inner = call.argv[2:] if call.chroot is not None else call.argv
        best: tuple[tuple[str, ...], str, str, int] = ((), "", "", 0)
        for canned in self._canned:
            n = len(canned[0])
            if n >= len(best[0]) and canned[0] in (tuple(call.argv[:n]), tuple(inner[:n])):
                best = canned
        _, stdout, stderr, code = best
        for stream, text in (("stdout", stdout), ("stderr", stderr)):
            for line in text.splitlines():
                self._emit_line(call, stream, line.encode("utf-8"))  # type: ignore[arg-type]
        return self._result(call, code, stdout, stderr, start)

    def _interact(self, call: _Call) -> CommandResult:
        # The plan shows the command; the answers are secrets and never recorded.
        return self._execute(call)

    def _write(self, path: Path, data: bytes, mode: int, secret: bool,
               phase: str | None) -> None:
        content: str | None = None
        if not secret:
            with contextlib.suppress(UnicodeDecodeError):  # binary: size and mode suffice
                content = data.decode("utf-8")
        self.plan.append(PlannedStep("write", phase, path=str(path), mode=mode,
                                     size=len(data), content=content, secret=secret))

    def to_json(self) -> str:
        """The plan as a JSON document: `{"steps": [...]}` in order."""
        return json.dumps({"steps": [step.to_dict() for step in self.plan]}, indent=2)

    def render_text(self) -> str:
        """The plan for people: steps under a `# phase` heading, in order."""
        lines: list[str] = []
        for i, step in enumerate(self.plan):
            if i == 0 or step.phase != self.plan[i - 1].phase:
                lines += ([""] if lines else []) + [f"# {step.phase or '(no phase)'}"]
            lines.append(step.render())
        return "\n".join(lines) + ("\n" if lines else "")
