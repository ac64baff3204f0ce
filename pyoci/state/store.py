"""The state store under ``--root``: one directory per container.

Layout of ``<root>/<id>/``:

* ``state.json``  the saved record, replaced atomically (temp file + rename);
* ``exec.fifo``   exists from ``create`` until ``start`` opens it;
* the directory itself is the lock (``flock``) serialising kill/delete/start.

Creation is exclusive (``mkdir``): of two creates of one id exactly one wins.
``create`` writes ``state.json`` (what it is about to make: its cgroups, and
itself as the creator) before making anything else, and removal unlinks it
last: a directory without ``state.json`` (a create or a delete killed at that
instant) owns nothing but itself, and ``delete`` removes it once its lock is
free.  Nothing but container directories is ever left in the root.
"""

from __future__ import annotations

import fcntl
import posix  # not os, for the short commands: pyoci.util.lean_os says why

from pyoci.errors import ContainerExists, ContainerNotFound, PyociError
from pyoci.state import _ID_CHARS
from pyoci.state import check_id as check_id
from pyoci.util import jsonio, lean_os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

STATE_FILE = "state.json"
FIFO_FILE = "exec.fifo"


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

    def busy(self) -> bool:
        """Does another process hold the lock (a create or a delete at work)?"""
        try:
            fd = posix.open(self.path, posix.O_RDONLY | posix.O_DIRECTORY | posix.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            posix.close(fd)
        return False

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
        """Remove the directory and everything in it (it holds only plain files),
        ``state.json`` last: until then, a later ``delete`` finds the record."""
        try:
            names = posix.listdir(self.path)
        except FileNotFoundError:
            return
        if STATE_FILE in names:
            names.remove(STATE_FILE)
            names.append(STATE_FILE)
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
        if posix.fstat(d.lock_fd).st_nlink == 0:
            # a concurrent ``delete`` took it for debris between mkdir and flock
            d.unlock()
            raise ContainerExists(container_id)
        return d

    def get(self, container_id: str) -> ContainerDir:
        check_id(container_id)
        d = ContainerDir(f"{self.root}/{container_id}", container_id)
        if not lean_os.isfile(d.state_path):
            raise ContainerNotFound(container_id)
        return d

    def find(self, container_id: str) -> ContainerDir:
        """The container's directory, with or without its ``state.json``."""
        check_id(container_id)
        d = ContainerDir(f"{self.root}/{container_id}", container_id)
        if not d.exists():
            raise ContainerNotFound(container_id)
        return d

    def ids(self) -> list[str]:
        """Every container directory (a half-made one too); nothing else.  A hidden
        directory without ``state.json`` is not a container (older pyoci kept its
        seccomp cache in ``.cache``)."""
        try:
            names = posix.listdir(self.root)
        except FileNotFoundError:
            return []
        out = []
        for name in names:
            if not set(name) <= _ID_CHARS or name in (".", ".."):
                continue
            if name.startswith(".") and not lean_os.isfile(f"{self.root}/{name}/{STATE_FILE}"):
                continue
            try:
                mode = posix.stat(f"{self.root}/{name}", follow_symlinks=False).st_mode
            except FileNotFoundError:
                continue
            if mode & 0o170000 == 0o040000:  # a directory, not a symlink to one
                out.append(name)
        return sorted(out)
