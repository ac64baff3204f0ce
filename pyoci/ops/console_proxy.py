"""Wiring the caller's terminal to a container's pty (``run``/``exec`` with a
terminal and no ``--console-socket``): pyoci is its own console socket.

Single-threaded: one poll loop over the caller's stdin, the pty master and a
pidfd of the process.
"""

from __future__ import annotations

import _socket
import posix

from pyoci import native
from pyoci.errors import SetupError
from pyoci.util.fdpass import unpack_fds

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class ConsoleProxy:
    def __init__(self) -> None:
        ours, theirs = _socket.socketpair(
            _socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC
        )
        self._sock = ours
        self.child_fd = theirs.detach()
        self.master = -1
        self._saved_attrs: list[Any] | None = None

    def receive_master(self) -> int:
        fds: list[int] = []
        try:
            _msg, anc, _flags, _addr = self._sock.recvmsg(4096, _socket.CMSG_SPACE(4))
        except OSError as exc:
            raise SetupError(f"receive the container's pty: {exc.strerror}") from None
        for level, kind, data in anc:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                fds += unpack_fds(data)
        if not fds:
            raise SetupError("the container did not send its pty")
        self.master = fds[0]
        posix.close(self.child_fd)
        self.child_fd = -1
        self._copy_winsize()
        return self.master

    def _copy_winsize(self) -> None:
        import fcntl
        import struct
        import termios

        try:
            size = fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8)
        except OSError:
            return
        rows, cols = struct.unpack("HHHH", size)[:2]
        if rows and cols and self.master >= 0:
            native.set_winsize(self.master, rows, cols)

    def _raw(self) -> None:
        import termios
        import tty

        if not posix.isatty(0):
            return
        self._saved_attrs = termios.tcgetattr(0)
        # TCSANOW: the default TCSAFLUSH would drop input typed (or piped) already
        tty.setraw(0, termios.TCSANOW)

    def pump_until_exit(self, pid: int) -> None:
        """Copy stdin → pty and pty → stdout until the process has exited."""
        import _signal
        import select

        self._raw()
        _signal.signal(28, lambda _s, _f: self._copy_winsize())  # SIGWINCH
        pidfd = posix.pidfd_open(pid)
        poller = select.poll()
        poller.register(self.master, select.POLLIN)
        poller.register(pidfd, select.POLLIN)
        stdin_open = True
        try:
            poller.register(0, select.POLLIN)
        except (OSError, ValueError):
            stdin_open = False
        exited = False
        try:
            while True:
                try:
                    events = poller.poll(100 if exited else -1)
                except InterruptedError:
                    continue
                if not events and exited:
                    return
                for fd, ev in events:
                    if fd == pidfd:
                        exited = True
                        poller.unregister(pidfd)
                    elif fd == self.master:
                        try:
                            data = posix.read(self.master, 65536)
                        except OSError:
                            data = b""
                        if not data:
                            return
                        _write_all(1, data)
                    elif fd == 0 and stdin_open:
                        data = posix.read(0, 65536) if ev & select.POLLIN else b""
                        if not data:
                            poller.unregister(0)
                            stdin_open = False
                            _write_all(self.master, b"\x04")  # EOF for the pty's reader
                            continue
                        _write_all(self.master, data)
        finally:
            posix.close(pidfd)

    def close(self) -> None:
        if self._saved_attrs is not None:
            import termios

            termios.tcsetattr(0, termios.TCSADRAIN, self._saved_attrs)
            self._saved_attrs = None
        if self.master >= 0:
            posix.close(self.master)
            self.master = -1
        if self.child_fd >= 0:
            posix.close(self.child_fd)
            self.child_fd = -1
        self._sock.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = posix.write(fd, view)
        except InterruptedError:
            continue
        except OSError:
            return
        view = view[n:]
