"""Resolving and creating paths inside the rootfs without ever leaving it.

Every lookup goes through openat2(2) with RESOLVE_IN_ROOT |
RESOLVE_NO_MAGICLINKS relative to an fd of the rootfs, so a symlink in the
container's image (absolute or full of ``..``) resolves inside the rootfs.
What is created is created relative to an fd of the already-resolved parent,
and re-opened with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, so a symlink swapped
in during setup cannot redirect it (CVE-2021-30465 shape).  Mounts then go to
``/proc/self/fd/N`` of the resolved O_PATH fd, never to a re-resolved path.
"""

from __future__ import annotations

import errno
import os

from pyoci import native
from pyoci.native import consts as c

IN_ROOT = c.RESOLVE_IN_ROOT | c.RESOLVE_NO_MAGICLINKS
BENEATH_STRICT = c.RESOLVE_BENEATH | c.RESOLVE_NO_SYMLINKS | c.RESOLVE_NO_MAGICLINKS


def fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def open_in_root(root_fd: int, path: str, flags: int = os.O_PATH) -> int:
    """Open ``path`` (absolute in the container's view) inside the rootfs."""
    rel = path.lstrip("/") or "."
    return native.openat2(root_fd, rel, flags, 0, IN_ROOT)


def _components(path: str) -> list[str]:
    return [p for p in path.split("/") if p and p != "."]


def mkdir_all_in_root(root_fd: int, path: str, mode: int = 0o755) -> int:
    """Create every missing directory of ``path`` inside the rootfs; return an O_PATH fd.

    A symlink met on the way (even a dangling or absolute one) is followed
    inside the rootfs, as runc's securejoin does: its target is spliced into
    the path and the walk restarts from the rootfs.
    """
    try:
        return open_in_root(root_fd, path, os.O_PATH | os.O_DIRECTORY)
    except FileNotFoundError:
        pass
    for _ in range(40):  # the kernel's MAXSYMLINKS
        parts = _components(path)
        # Find the deepest existing prefix (resolved in root), then create the rest
        # one component at a time below it.
        cur = os.dup(root_fd)
        i = 0
        while i < len(parts):
            prefix = "/".join(parts[: i + 1])
            try:
                nxt = open_in_root(root_fd, prefix, os.O_PATH | os.O_DIRECTORY)
            except FileNotFoundError:
                break
            except BaseException:
                os.close(cur)
                raise
            os.close(cur)
            cur = nxt
            i += 1
        try:
            for j in range(i, len(parts)):
                name = parts[j]
                if name == "..":
                    raise OSError(errno.EINVAL, "'..' in a path to create", path)
                try:
                    os.mkdir(name, mode, dir_fd=cur)
                except FileExistsError:
                    pass
                try:
                    nxt = native.openat2(cur, name, os.O_PATH | os.O_DIRECTORY, 0, BENEATH_STRICT)
                except OSError as exc:
                    if exc.errno != errno.ELOOP:
                        raise
                    target = os.readlink(name, dir_fd=cur)
                    base = "" if target.startswith("/") else "/".join(parts[:j])
                    path = "/".join([base, target, *parts[j + 1 :]])
                    break
                os.close(cur)
                cur = nxt
            else:
                return cur
        except BaseException:
            os.close(cur)
            raise
        os.close(cur)
    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)


def create_file_in_root(root_fd: int, path: str, mode: int = 0o644) -> int:
    """Make sure a regular file (or existing non-directory) is at ``path``; return O_PATH fd."""
    try:
        return open_in_root(root_fd, path, os.O_PATH)
    except FileNotFoundError:
        pass
    parent, _, name = path.rstrip("/").rpartition("/")
    if not name or name in (".", ".."):
        raise OSError(errno.EINVAL, "not a file path", path)
    pfd = mkdir_all_in_root(root_fd, parent or "/")
    try:
        try:
            fd = native.openat2(
                pfd,
                name,
                os.O_CREAT | os.O_EXCL | os.O_RDONLY | os.O_NOFOLLOW,
                mode,
                BENEATH_STRICT,
            )
            os.close(fd)
        except FileExistsError:
            pass
        return native.openat2(pfd, name, os.O_PATH, 0, BENEATH_STRICT)
    finally:
        os.close(pfd)


def ensure_mountpoint(root_fd: int, path: str, source_is_dir: bool) -> int:
    """Resolve (creating as needed) a mount destination; return an O_PATH fd."""
    if source_is_dir:
        return mkdir_all_in_root(root_fd, path)
    return create_file_in_root(root_fd, path)
