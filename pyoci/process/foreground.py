"""Waiting in the foreground for a process pyoci started (``run``, ``exec``):
the caller's signals go to it, its exit status becomes pyoci's."""

from __future__ import annotations

import posix

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# every catchable signal but SIGCHLD, SIGWINCH (the console proxy's) and SIGPIPE
FORWARDED = (1, 2, 3, 10, 12, 14, 15, 18, 20, 21, 22, 23, 24, 25, 26, 27, 29, 30, 31)


class Forwarder:
    """Signals to pyoci are the process's: held until it exists, then sent on."""

    def __init__(self) -> None:
        import _signal

        self.pid = 0
        self.pending: list[int] = []
        for signum in FORWARDED:
            _signal.signal(signum, self)

    def __call__(self, signum: int, _frame: object) -> None:
        if not self.pid:
            self.pending.append(signum)
            return
        try:
            posix.kill(self.pid, signum)
        except ProcessLookupError:
            pass

    def start(self, pid: int) -> None:
        self.pid = pid
        pending, self.pending = self.pending, []
        for signum in pending:
            self(signum, None)


def exit_code(status: int) -> int:
    """A wait status as a shell sees it: the exit code, or 128 + the signal."""
    if posix.WIFEXITED(status):
        return posix.WEXITSTATUS(status)
    return 128 + posix.WTERMSIG(status)


def wait_reaped(pid: int, proxy: Any = None) -> int | None:
    """Pump the console proxy (if any) until ``pid`` exits, then reap children
    (pyoci is their subreaper) until it is ``pid``: its exit code, or None
    when it was not ours to reap."""
    if proxy is not None:
        try:
            proxy.pump_until_exit(pid)
        finally:
            proxy.close()
    while True:
        try:
            got, status = posix.waitpid(-1, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            return None
        if got == pid:
            return exit_code(status)


def wait_exit(pid: int) -> None:
    """Wait for a process that is not our child (no subreaper): no status."""
    import select

    pidfd = posix.pidfd_open(pid)
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        while not poller.poll(1000):
            pass
    finally:
        posix.close(pidfd)
