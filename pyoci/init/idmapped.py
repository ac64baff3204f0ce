"""Idmapped bind mounts: ``idmap``/``ridmap`` and a mount's uid/gidMappings.

Stage 1 prepares these trees while it is still in the host's user and mount
namespaces, because only a process privileged over the source filesystem may
idmap a mount: a detached clone of the source (open_tree), then
mount_setattr(MOUNT_ATTR_IDMAP) with a user namespace that carries the
mount's maps.  The init attaches each tree with move_mount like any bind.
"""

from __future__ import annotations

import os

from pyoci import native
from pyoci.errors import SetupError
from pyoci.init.mountplan import plan_mount
from pyoci.native import consts as c
from pyoci.process.idmap import format_map

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyoci.process.plan import LaunchPlan

_SIGSTOP = 19


def userns_with_maps(uid_maps: list[dict[str, Any]], gid_maps: list[dict[str, Any]]) -> int:
    """An fd of a new, empty user namespace with these maps (what MOUNT_ATTR_IDMAP takes)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            native.unshare(c.CLONE_NEWUSER)
            os.kill(os.getpid(), _SIGSTOP)  # held here until the parent kills us
        finally:
            os._exit(0)
    try:
        _, status = os.waitpid(pid, os.WUNTRACED)
        if not os.WIFSTOPPED(status):
            raise SetupError("idmapped mount: cannot create a user namespace")
        for name, maps in (("uid_map", uid_maps), ("gid_map", gid_maps)):
            fd = os.open(f"/proc/{pid}/{name}", os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, format_map(maps).encode())
            except OSError as exc:
                raise SetupError(f"idmapped mount: write {name}: {exc.strerror}") from None
            finally:
                os.close(fd)
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)


def prepare(plan: LaunchPlan) -> dict[int, int]:
    """{index in ``mounts``: detached idmapped tree fd} for every mount that asks for it."""
    linux = plan.linux
    new_userns = plan.namespaces().get("user", "") is None
    trees: dict[int, int] = {}
    userns_fds: dict[tuple[str, str], int] = {}
    try:
        for i, mount in enumerate(plan.config.get("mounts") or []):
            step = plan_mount(mount, plan.bundle)
            if not step.idmap:
                continue
            where = f"mount {step.source} to {step.destination}"
            if not step.is_bind:
                raise SetupError(f"{where}: idmapped mounts must be bind mounts")
            uid_maps = step.uid_mappings
            gid_maps = step.gid_mappings
            if not uid_maps and not gid_maps and new_userns:
                uid_maps = list(linux.get("uidMappings") or [])
                gid_maps = list(linux.get("gidMappings") or [])
            if not uid_maps or not gid_maps:
                raise SetupError(f"{where}: idmap needs uidMappings and gidMappings")
            key = (format_map(uid_maps), format_map(gid_maps))
            if key not in userns_fds:
                userns_fds[key] = userns_with_maps(uid_maps, gid_maps)
            flags = c.OPEN_TREE_CLONE | c.OPEN_TREE_CLOEXEC
            if step.recursive:
                flags |= c.AT_RECURSIVE
            try:
                tree = native.open_tree(-100, step.source, flags)
            except OSError as exc:
                raise SetupError(f"{where}: {exc.strerror}") from None
            trees[i] = tree
            recursive = c.AT_RECURSIVE if "ridmap" in step.extensions else 0
            try:
                native.mount_setattr(
                    tree, "", c.AT_EMPTY_PATH | recursive, c.MOUNT_ATTR_IDMAP,
                    userns_fd=userns_fds[key],
                )  # fmt: skip
            except OSError as exc:
                raise SetupError(f"{where}: idmap: {exc.strerror}") from None
    except BaseException:
        for fd in trees.values():
            os.close(fd)
        raise
    finally:
        for fd in userns_fds.values():
            os.close(fd)
    return trees
