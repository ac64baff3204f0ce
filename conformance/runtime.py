"""Drive any OCI runtime binary through its command line only.

Every call goes through the runc-compatible CLI (create / start / state /
kill / delete, and ``features`` where the runtime has it) with a private
``--root``; ``--log`` is passed only to runtimes whose help mentions it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shlex
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any


@dataclasses.dataclass(frozen=True)
class Result:
    """One runtime invocation."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def describe(self) -> str:
        out = f"$ {shlex.join(self.args)}\n-> exit {self.returncode}"
        if self.stdout.strip():
            out += f"\nstdout: {self.stdout.strip()[-2000:]}"
        if self.stderr.strip():
            out += f"\nstderr: {self.stderr.strip()[-2000:]}"
        return out


class Runtime:
    """A runtime binary with a private state root."""

    def __init__(self, binary: str, root: Path, log: Path | None = None,
                 timeout: float = 30.0) -> None:
        self.binary = binary
        self.root = root
        self.log = log if log is not None and self._accepts_log() else None
        self.timeout = timeout
        self._features: dict[str, Any] | bool | None = False

    @property
    def name(self) -> str:
        return Path(self.binary).name

    def _accepts_log(self) -> bool:
        try:
            p = subprocess.run([self.binary, "--help"], capture_output=True, text=True,
                               timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return "--log" in p.stdout + p.stderr

    def command(self, *args: str) -> list[str]:
        cmd = [self.binary, "--root", str(self.root)]
        if self.log is not None:
            cmd += ["--log", str(self.log)]
        return [*cmd, *args]

    def run(self, *args: str, timeout: float | None = None,
            stdout: Any = subprocess.PIPE, stderr: Any = subprocess.PIPE,
            stdin: Any = subprocess.DEVNULL, env: dict[str, str] | None = None) -> Result:
        cmd = self.command(*args)
        try:
            p = subprocess.run(cmd, stdin=stdin, stdout=stdout, stderr=stderr,
                               timeout=timeout or self.timeout, check=False, env=env)
        except subprocess.TimeoutExpired as exc:
            return Result(tuple(cmd), -1, _text(exc.stdout), _text(exc.stderr)
                          + f"\n[timed out after {timeout or self.timeout}s]")
        return Result(tuple(cmd), p.returncode, _text(p.stdout), _text(p.stderr))

    # ---- operations -------------------------------------------------------

    def create(self, cid: str, bundle: Path, *, pid_file: Path | None = None,
               stdout: Path | None = None, stderr: Path | None = None,
               extra: Sequence[str] = ()) -> Result:
        """``create --bundle B ID``; the container inherits the given stdout/stderr files.

        With files, the runtime's own output lands there too: the Result then
        carries the files' contents as they were when create returned.
        """
        args = ["create", "--bundle", str(bundle), *extra]
        if pid_file is not None:
            args += ["--pid-file", str(pid_file)]
        args.append(cid)
        if stdout is None and stderr is None:
            return self.run(*args)
        with contextlib.ExitStack() as stack:
            out = stack.enter_context(open(stdout, "ab")) if stdout else subprocess.PIPE
            err = stack.enter_context(open(stderr, "ab")) if stderr else subprocess.PIPE
            res = self.run(*args, stdout=out, stderr=err)
        return Result(res.args, res.returncode,
                      stdout.read_text(errors="replace") if stdout else res.stdout,
                      stderr.read_text(errors="replace") if stderr else res.stderr)

    def start(self, cid: str) -> Result:
        return self.run("start", cid)

    def state(self, cid: str) -> Result:
        return self.run("state", cid)

    def state_json(self, cid: str) -> dict[str, Any] | None:
        """The parsed state, or None when ``state`` fails or prints no JSON."""
        r = self.state(cid)
        if not r.ok:
            return None
        try:
            value = json.loads(r.stdout)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def status(self, cid: str) -> str | None:
        st = self.state_json(cid)
        return None if st is None else str(st.get("status"))

    def kill(self, cid: str, signal: str | None = "TERM", *, all_: bool = False) -> Result:
        args = ["kill"]
        if all_:
            args.append("--all")
        args.append(cid)
        if signal is not None:
            args.append(signal)
        return self.run(*args)

    def delete(self, cid: str, *, force: bool = False) -> Result:
        return self.run("delete", *(["--force"] if force else []), cid)

    def features(self) -> dict[str, Any] | None:
        """The features document, or None when the runtime has no ``features``."""
        if self._features is False:
            r = self.run("features")
            doc: dict[str, Any] | None = None
            if r.ok:
                with contextlib.suppress(ValueError):
                    doc = json.loads(r.stdout)
            self._features = doc
        return self._features if isinstance(self._features, dict) else None

    def wait_status(self, cid: str, wanted: str | Sequence[str], timeout: float = 10.0,
                    interval: float = 0.05) -> str | None:
        """Poll ``state`` until the status is one of ``wanted``; return the last status."""
        want = {wanted} if isinstance(wanted, str) else set(wanted)
        deadline = time.monotonic() + timeout
        last: str | None = None
        while True:
            last = self.status(cid)
            if last in want or time.monotonic() > deadline:
                return last
            time.sleep(interval)

    def log_tail(self, lines: int = 20) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _text(b: bytes | str | None) -> str:
    if b is None:
        return ""
    if isinstance(b, bytes):
        return b.decode(errors="replace")
    return b


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive for our purposes.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


@contextlib.contextmanager
def timer() -> Iterator[list[float]]:
    """Measure a block: ``with timer() as t: ...; t[0]`` is the elapsed seconds."""
    box = [0.0]
    start = time.monotonic()
    try:
        yield box
    finally:
        box[0] = time.monotonic() - start
