"""The container's terminal: a pty made inside the container, its master sent out.

With ``process.terminal`` the init opens ``/dev/pts/ptmx`` of the container's
own devpts, sends the master to ``--console-socket`` with SCM_RIGHTS (the
payload is the master's name, as runc sends), binds the slave on
/dev/console and makes it the process's controlling terminal and stdio.
"""

from __future__ import annotations

import _socket
import fcntl
import os

from pyoci import native
from pyoci.errors import SetupError
from pyoci.init import paths
from pyoci.util.fdpass import pack_fds

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyoci.init.rootfs import RootfsBuilder
    from pyoci.process.plan import LaunchPlan

TIOCSPTLCK = 0x40045431
TIOCGPTPEER = 0x5441


def open_pty(plan: LaunchPlan, builder: RootfsBuilder) -> int:
    """Create the pty; send the master away; return the slave fd."""
    if plan.console_socket_fd < 0:
        raise SetupError("process.terminal is true but no --console-socket was given")
    try:
        master = paths.open_in_root(builder.root_fd, "/dev/pts/ptmx", os.O_RDWR | os.O_NOCTTY)
    except OSError as exc:
        raise SetupError(f"open /dev/pts/ptmx in the container: {exc.strerror}") from None
    try:
        fcntl.ioctl(master, TIOCSPTLCK, b"\0\0\0\0")
        slave = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        size = (plan.config.get("process") or {}).get("consoleSize")
        if size:
            native.set_winsize(master, int(size.get("height", 0)), int(size.get("width", 0)))
        send_fd(plan.console_socket_fd, master, "/dev/ptmx")
    finally:
        os.close(master)
    os.close(plan.console_socket_fd)
    plan.console_socket_fd = -1
    return slave


def send_fd(sock_fd: int, fd: int, name: str) -> None:
    sock = _socket.socket(fileno=sock_fd)
    try:
        sock.sendmsg(
            [name.encode()],
            [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, pack_fds([fd]))],
        )
    except OSError as exc:
        raise SetupError(f"send the console to --console-socket: {exc.strerror}") from None
    finally:
        sock.detach()


def make_controlling(slave: int) -> None:
    """setsid, TIOCSCTTY, and the slave as stdin/stdout/stderr."""
    os.setsid()
    native.set_ctty(slave)
    for fd in (0, 1, 2):
        os.dup2(slave, fd, inheritable=True)
    if slave > 2:
        os.close(slave)
