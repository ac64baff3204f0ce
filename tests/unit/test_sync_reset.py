"""The sync socket keeps the child's last words when the child exits unread-to."""

from __future__ import annotations

import os

from pyoci.process import sync


def test_error_message_survives_an_unread_message_to_the_dead_peer() -> None:
    """The init fails early (mountLabel without SELinux, say) while the parent's
    CGROUP_DONE is still unread: the kernel reports ECONNRESET once, ahead of the
    ERROR message; recv must return that message, not the reset."""
    parent, child = sync.SyncSocket.pair()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        parent.close()
        os.read(r, 1)  # after the parent's message is queued to us
        child.send(sync.ERROR, "linux.mountLabel: the real reason")
        os._exit(1)
    child.close()
    os.close(r)
    parent.send(sync.CGROUP_DONE, b"{}")  # never read
    os.write(w, b"x")
    os.close(w)
    os.waitpid(pid, 0)
    try:
        assert parent.recv() == (sync.ERROR, b"linux.mountLabel: the real reason", -1)
    finally:
        parent.close()
