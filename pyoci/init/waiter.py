"""Handing a created container's wait for ``start`` to ``pyoci-waiter``.

The init is a forked Python interpreter: ~10 MB that would stay resident in
every created-but-not-started container.  Once everything is set up, it execs
the tiny static ``pyoci-waiter`` (pyoci/native/waiter.c) instead, which waits
on exec.fifo, installs the seccomp filter and execs the user process.

The waiter runs from a sealed memfd: /proc/PID/exe of a waiting container
can never be opened for writing to reach a host binary (CVE-2019-5736).  It
reopens exec.fifo through a directory fd of the verified procfs, never the
container's /proc.

Not used (the Python init waits itself) when startContainer hooks must run
after the wait, or when the seccomp filter needs capabilities held across the
wait (noNewPrivileges false): an execve would drop them.
"""

from __future__ import annotations

import fcntl
import os

from pyoci import native
from pyoci.native import consts as c

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

_image: bytes | None = None

F_ADD_SEALS = 1033
F_SEAL_SEAL = 0x0001
F_SEAL_SHRINK = 0x0002
F_SEAL_GROW = 0x0004
F_SEAL_WRITE = 0x0008
_ALL_SEALS = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE


def preload() -> None:
    """Read the waiter's image (before pivot_root: it is a host file)."""
    global _image
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "native", "pyoci-waiter")  # fmt: skip
    if os.environ.get("PYOCI_NO_WAITER"):
        _image = None
        return
    try:
        with open(path, "rb") as f:
            _image = f.read()
    except OSError:
        _image = None


def available() -> bool:
    return bool(_image)


def _sealed_memfd(name: str, data: bytes, cloexec: bool) -> int:
    flags = c.MFD_ALLOW_SEALING | (c.MFD_CLOEXEC if cloexec else 0)
    fd = native.memfd_create(name, flags)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.lseek(fd, 0, os.SEEK_SET)
        fcntl.fcntl(fd, F_ADD_SEALS, _ALL_SEALS)
    except BaseException:
        os.close(fd)
        raise
    return fd


class WaiterHandOff:
    """Prepared before READY (so a failure is still reported to ``create``)."""

    def __init__(self, fifo_fd: int, fd_dir: int, seccomp: Any) -> None:
        assert _image is not None
        self.image_fd = _sealed_memfd("pyoci-waiter", _image, cloexec=True)
        self.fifo_fd = fifo_fd
        self.fd_dir = fd_dir
        self.seccomp_fd = -1
        self.seccomp_flags = 0
        if seccomp is not None:
            self.seccomp_fd = _sealed_memfd("pyoci-seccomp", seccomp.bpf, cloexec=False)
            self.seccomp_flags = int(seccomp.flags)
        os.set_inheritable(fifo_fd, True)
        os.set_inheritable(fd_dir, True)

    def exec(self, path: str, args: list[str], env: dict[str, str]) -> NoReturn:
        argv = [
            "pyoci-waiter",
            str(self.fd_dir),
            str(self.fifo_fd),
            str(self.seccomp_fd),
            str(self.seccomp_flags),
            path,
            *args,
        ]
        native.reset_signals()
        os.execve(self.image_fd, argv, env)
        raise AssertionError("unreachable")  # os.execve raises on failure
