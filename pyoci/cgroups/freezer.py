"""Is a container's cgroup frozen?  Cheap enough for ``state`` and ``list``
(no manager, no layout detection: the directories come from the saved record)."""

from __future__ import annotations

import posix  # not os, for the short commands: pyoci.util.lean_os says why
import time


def _read(path: str, default: str) -> str:
    try:
        fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)
    except OSError:
        return default
    try:
        return posix.read(fd, 64).decode().strip()
    except OSError:
        return default
    finally:
        posix.close(fd)


def is_frozen(v1_freezer: str | None, unified: str | None) -> bool:
    """v1: freezer.state FROZEN (and frozen itself, not through an ancestor);
    v2: cgroup.freeze 1."""
    if v1_freezer:
        for _ in range(50):
            state = _read(f"{v1_freezer}/freezer.state", "THAWED")
            if state == "FROZEN":
                # Frozen because an ancestor is?  Then this cgroup is not paused.
                return _read(f"{v1_freezer}/freezer.self_freezing", "1") == "1"
            if state != "FREEZING":
                return False
            time.sleep(0.001)
        return True
    if unified:
        return _read(f"{unified}/cgroup.freeze", "0") == "1"
    return False
