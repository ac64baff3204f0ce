"""Running one step of a command in a short-lived child process.

A step that loads much code and is needed once (validating a config, setting
up a container for ``run``) runs in a forked child, so the process that goes
on (and ``run``'s, which waits as long as the container lives) never carries
that code: its peak memory stays near the interpreter's own.

The child leaves in a memory file either its result (``R`` + bytes) or the
``PyociError`` it raised (``E`` + class name + NUL + message); the parent
raises that error again, so the CLI boundary reports it once, as if the step
had run in place.
"""

from __future__ import annotations

import posix
import sys

from pyoci import errors, lean_os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


def call_apart(step: Callable[[], bytes], what: str) -> bytes:
    """Run ``step()`` in a child; return its bytes or raise its ``PyociError``."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # or the child would write what is buffered a second time
    # The answer goes into a memory file, read once the child has exited: not a
    # pipe, whose end the processes the step forks (stage 1, the init) inherit.
    out = posix.memfd_create("pyoci-step", posix.MFD_CLOEXEC)
    try:
        pid = posix.fork()
        if pid == 0:  # pragma: no cover - child
            _child(step, out)
        interrupted = False
        while True:
            try:
                _, status = posix.waitpid(pid, 0)
                break
            except KeyboardInterrupt:
                interrupted = True  # the child got it too: let it clean up first
        if interrupted:
            raise KeyboardInterrupt
        reply = posix.pread(out, posix.fstat(out).st_size, 0)
    finally:
        posix.close(out)
    if reply[:1] == b"R":
        return reply[1:]
    if reply[:1] == b"E":
        kind, _, message = reply[1:].partition(b"\0")
        raise _error(kind.decode(), message.decode(errors="replace"))
    raise errors.SetupError(
        f"{what}: the child process ended without an answer (wait status {status})"
    )


def _error(kind: str, message: str) -> errors.PyociError:
    """The child's error again, of its class (all take their message first)."""
    cls = getattr(errors, kind, None)
    if not (isinstance(cls, type) and issubclass(cls, errors.PyociError)):
        cls = errors.PyociError
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    if isinstance(exc, errors.ConfigError):
        exc.problems = message.split("\n")
    return exc


def _child(step: Callable[[], bytes], w: int) -> None:  # pragma: no cover - child
    code = 0
    try:
        try:
            reply = b"R" + step()
        except errors.PyociError as exc:
            reply = f"E{type(exc).__name__}\0{exc}".encode(errors="replace")
        except KeyboardInterrupt:
            reply, code = b"", 130
        except BaseException as exc:  # a bug: one line, as the CLI boundary words it
            reply = f"EPyociError\0internal error: {type(exc).__name__}: {exc}".encode(
                errors="replace"
            )
        view = memoryview(reply)
        while view:
            view = view[posix.write(w, view) :]
        if lean_os.getenv("PYOCI_DEBUG_IMPORTS") is not None:  # tests of what a step imports
            sys.stderr.write(f"pyoci-imports-apart: {' '.join(sorted(sys.modules))}\n")
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
    finally:
        posix._exit(code)
