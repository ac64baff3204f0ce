"""Writes to procfs through a verified handle (CVE-2025-52881 shape).

The container controls its rootfs: /proc might be a bind of something else,
or /proc/sys/... a symlink.  Every write here opens ``/proc`` once, checks
that it really is a procfs (statfs magic), then resolves the file beneath it
with no symlinks followed.
"""

from __future__ import annotations

import os

from pyoci import native
from pyoci.errors import SetupError
from pyoci.native import consts as c

_STRICT = c.RESOLVE_BENEATH | c.RESOLVE_NO_SYMLINKS | c.RESOLVE_NO_MAGICLINKS | c.RESOLVE_NO_XDEV


def open_procfs(root: str = "/proc") -> int:
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW)
    if native.fstatfs_type(fd) != c.PROC_SUPER_MAGIC:
        os.close(fd)
        raise SetupError(f"{root} is not a procfs: refusing to write through it")
    return fd


def write_file(relpath: str, value: str, root: str = "/proc") -> None:
    """Write ``value`` to ``<procfs>/<relpath>``, resolved beneath a verified procfs."""
    proc = open_procfs(root)
    try:
        # sysctl files live on the same procfs mount (no xdev)
        fd = native.openat2(proc, relpath, os.O_WRONLY | os.O_NOFOLLOW, 0, _STRICT)
    except OSError as exc:
        raise SetupError(f"open {root}/{relpath}: {exc.strerror}") from None
    finally:
        os.close(proc)
    try:
        if native.fstatfs_type(fd) != c.PROC_SUPER_MAGIC:
            raise SetupError(f"{root}/{relpath} is not on procfs")
        os.write(fd, value.encode())
    except OSError as exc:
        raise SetupError(f"write {value!r} to {root}/{relpath}: {exc.strerror}") from None
    finally:
        os.close(fd)


def write_sysctl(key: str, value: str, root: str = "/proc") -> None:
    rel = "sys/" + key.replace(".", "/")
    if not key or any(part in ("", ".", "..") for part in rel.split("/")):
        raise SetupError(f"invalid sysctl key {key!r}")
    write_file(rel, value, root)
