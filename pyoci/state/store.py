"""The state store under ``--root``: one directory per container.

Layout of ``<root>/<id>/``:

* ``state.json``  the saved record, replaced atomically (temp file + rename);
* ``exec.fifo``   exists from ``create`` until ``start`` opens it;
* the directory itself is the lock (``flock``) serialising kill/delete/start.

Creation is exclusive (``mkdir``): of two creates of one id exactly one wins.
"""

from __future__ import annotations

import fcntl
import posix  # not os, for the short commands: pyoci.lean_os says why

from pyoci import jsonio, lean_os
from pyoci.errors import ContainerExists, ContainerNotFound, PyociError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

STATE_FILE = "state.json"
FIFO_FILE = "exec.fifo"
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


def check_id(container_id: str) -> None:
    if (
        not container_id
        or container_id in (".", "..")
        or not set(container_id) <= _ID_CHARS
        or len(container_id) > 1024
    ):
        raise UsageError(f"invalid container id format: {container_id!r}")


class ContainerDir:
    """One container's directory in the store."""

    __slots__ = ("_lock_fd", "id", "path")

    def __init__(self, path: str, container_id: str) -> None:
        self.path = path
        self.id = container_id
        self._lock_fd = -1

    @property
    def fifo_path(self) -> str:
        return f"{self.path}/{FIFO_FILE}"

    @property
    def state_path(self) -> str:
        return f"{self.path}/{STATE_FILE}"

    def lock(self) -> None:
        """Take the per-container lock (blocking). Released by ``unlock`` or at exit."""
        if self._lock_fd >= 0:
            return
        try:
            fd = posix.open(self.path, posix.O_RDONLY | posix.O_DIRECTORY | posix.O_CLOEXEC)
        except FileNotFoundError:
            raise ContainerNotFound(self.id) from None
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._lock_fd = fd

    @property
    def lock_fd(self) -> int:
        return self._lock_fd

    def unlock(self) -> None:
        if self._lock_fd >= 0:
            posix.close(self._lock_fd)
            self._lock_fd = -1

    def exists(self) -> bool:
        return lean_os.isdir(self.path)

    def read(self) -> dict[str, Any]:
        try:
            with open(self.state_path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise ContainerNotFound(self.id) from None
        try:
            record = jsonio.loads(data)
        except ValueError as exc:
            raise PyociError(f"container {self.id}: corrupt state file: {exc}") from None
        if not isinstance(record, dict):
            raise PyociError(f"container {self.id}: corrupt state file")
        return record

    def write(self, record: dict[str, Any]) -> None:
        tmp = f"{self.path}/.{STATE_FILE}.{posix.getpid()}"
        flags = posix.O_WRONLY | posix.O_CREAT | posix.O_TRUNC | posix.O_CLOEXEC
        fd = posix.open(tmp, flags, 0o600)
        try:
            posix.write(fd, jsonio.dumps(record).encode())
        finally:
            posix.close(fd)
        posix.rename(tmp, self.state_path)

    def remove(self) -> None:
        """Remove the directory and everything in it (it holds only plain files)."""
        try:
            names = posix.listdir(self.path)
        except FileNotFoundError:
            return
        for name in names:
            try:
                posix.unlink(f"{self.path}/{name}")
            except FileNotFoundError:
                pass
            except IsADirectoryError:
                posix.rmdir(f"{self.path}/{name}")
        try:
            posix.rmdir(self.path)
        except FileNotFoundError:
            pass
        self.unlock()


class StateStore:
    """All containers under one runtime root."""

    __slots__ = ("root",)

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/") or "/"

    def _ensure_root(self) -> None:
        try:
            lean_os.makedirs(self.root, 0o700)
        except OSError as exc:
            raise PyociError(f"cannot create state root {self.root}: {exc.strerror}") from None

    def new(self, container_id: str) -> ContainerDir:
        """Create the container's directory exclusively and lock it."""
        check_id(container_id)
        self._ensure_root()
        path = f"{self.root}/{container_id}"
        try:
            posix.mkdir(path, 0o711)
        except FileExistsError:
            raise ContainerExists(container_id) from None
        d = ContainerDir(path, container_id)
        d.lock()
        return d

    def get(self, container_id: str) -> ContainerDir:
        check_id(container_id)
        d = ContainerDir(f"{self.root}/{container_id}", container_id)
        if not lean_os.isfile(d.state_path):
            raise ContainerNotFound(container_id)
        return d

    def ids(self) -> list[str]:
        try:
            names = posix.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if lean_os.isfile(f"{self.root}/{n}/{STATE_FILE}"))
