"""The fork chain of create/exec: plan, sync protocol, id maps."""

from __future__ import annotations


def running_in_user_namespace() -> bool:
    """Is this process in a user namespace other than the initial one?

    The initial namespace maps every id onto itself (``0 0 4294967295``).
    """
    try:
        with open("/proc/self/uid_map", "rb") as f:
            lines = f.read().split()
    except OSError:
        return False
    return lines != [b"0", b"0", b"4294967295"]
