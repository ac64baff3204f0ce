"""Hand a seccomp listener fd to the agent at ``linux.seccomp.listenerPath``.

config-linux.md, "The Container Process State": one AF_UNIX SOCK_STREAM
connection per container process; the JSON state as regular payload, the fd
with SCM_RIGHTS in the first sendmsg(2); then close.  Runs in the runtime
parent, which gets the fd from the init (sync message SECCOMP_FD).

``_socket`` rather than ``socket``: the latter imports ``enum`` and more.
"""

from __future__ import annotations

import _socket
import os
import sys

from pyoci import SPEC_VERSION
from pyoci.errors import SetupError
from pyoci.util.jsonio import dumps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["process_state", "send_to_listener"]

_SUN_PATH_MAX = 107  # sizeof(sockaddr_un.sun_path) - 1


def process_state(notify_fd_name: str, state: dict[str, Any], metadata: str | None) -> str:
    """The container process state document, as one line of JSON."""
    doc: dict[str, Any] = {
        "ociVersion": state.get("ociVersion", SPEC_VERSION),
        "fds": [notify_fd_name],
        "pid": state["pid"],
    }
    if metadata:
        doc["metadata"] = metadata
    doc["state"] = state
    return dumps(doc)


def send_to_listener(
    listener_path: str,
    notify_fd: int,
    state: dict[str, Any],
    metadata: str | None,
    timeout: float = 10.0,
) -> None:
    """Send ``notify_fd`` and the container process state to ``listener_path``.

    ``state`` is the container's state (runtime.md "State"; it must have
    ``pid``).  The caller keeps ``notify_fd`` and closes it afterwards.
    Raises ``SetupError`` when the agent cannot be reached (the runtime must
    then fail the operation).
    """
    payload = process_state("seccompFd", state, metadata).encode()
    fds = notify_fd.to_bytes(4, sys.byteorder, signed=True)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    dirfd = -1
    try:
        sock.settimeout(timeout)
        address = listener_path
        if len(os.fsencode(listener_path)) > _SUN_PATH_MAX:
            # Too long for sockaddr_un: reach it through its directory.
            head, _, tail = listener_path.rpartition("/")
            dirfd = os.open(head or "/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            address = f"/proc/self/fd/{dirfd}/{tail}"
        sock.connect(address)
        sent = sock.sendmsg([payload], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        if sent < len(payload):
            sock.sendall(payload[sent:])
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc) or "timed out"
        raise SetupError(f"seccomp listener {listener_path}: {reason}") from None
    finally:
        sock.close()
        if dirfd >= 0:
            os.close(dirfd)
