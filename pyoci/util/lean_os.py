"""The few ``os``/``os.path`` helpers the short commands need, on ``posix`` alone.

``state``, ``start``, ``kill`` and ``list`` run in a few milliseconds, and
importing ``os`` costs 4.4 M instructions (its ``_collections_abc``, ``stat`` and
``posixpath``): 16% of a ``state``.  The modules those commands load call
``posix`` directly (the functions ``os`` re-exports) and these helpers, which
behave as their ``os.path`` namesakes for ``str`` paths (a test compares them).
"""

from __future__ import annotations

import posix
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

_S_IFMT = 0o170000
_S_IFDIR = 0o040000
_S_IFREG = 0o100000


def _mode(path: str) -> int | None:
    try:
        return posix.stat(path).st_mode
    except (OSError, ValueError):
        return None


def exists(path: str) -> bool:
    return _mode(path) is not None


def isdir(path: str) -> bool:
    mode = _mode(path)
    return mode is not None and mode & _S_IFMT == _S_IFDIR


def isfile(path: str) -> bool:
    mode = _mode(path)
    return mode is not None and mode & _S_IFMT == _S_IFREG


def basename(path: str) -> str:
    return path[path.rfind("/") + 1 :]


def dirname(path: str) -> str:
    head = path[: path.rfind("/") + 1]
    if head and head != "/" * len(head):
        head = head.rstrip("/")
    return head


def normpath(path: str) -> str:
    if not path:
        return "."
    initial = 0
    if path.startswith("/"):
        # POSIX leaves two leading slashes to the implementation, three or more are one
        initial = 2 if path.startswith("//") and not path.startswith("///") else 1
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part != ".." or (not initial and not parts) or (parts and parts[-1] == ".."):
            parts.append(part)
        elif parts:
            parts.pop()
    return "/" * initial + "/".join(parts) or "."


def join(a: str, *p: str) -> str:
    path = a
    for b in p:
        if b.startswith("/"):
            path = b
        elif not path or path.endswith("/"):
            path += b
        else:
            path += "/" + b
    return path


def realpath_existing(path: str) -> str | None:
    """``os.path.realpath(path)`` for a path that exists, as the kernel resolves it
    (the link of an ``O_PATH`` descriptor in /proc); None when it does not exist."""
    try:
        fd = posix.open(path, posix.O_PATH | posix.O_CLOEXEC)
    except OSError:
        return None
    try:
        return posix.readlink(f"/proc/self/fd/{fd}")
    finally:
        posix.close(fd)


def abspath(path: str) -> str:
    if not path.startswith("/"):
        path = f"{posix.getcwd()}/{path}"
    return normpath(path)


def makedirs(path: str, mode: int = 0o777) -> None:
    """``os.makedirs(path, mode, exist_ok=True)``: parents get the default mode."""
    try:
        posix.mkdir(path, mode)
    except FileExistsError:
        if not isdir(path):
            raise
    except FileNotFoundError:
        parent = dirname(path.rstrip("/"))
        if not parent or parent == path:
            raise
        makedirs(parent)
        try:
            posix.mkdir(path, mode)
        except FileExistsError:
            if not isdir(path):
                raise


def walk_dirs(top: str) -> Iterator[str]:
    """The directories ``os.walk(top)`` visits, in its order: ``top`` first, no
    symlinks followed, one that cannot be read skipped with what is below it."""
    try:
        with posix.scandir(top) as entries:
            subdirs = [e.path for e in entries if e.is_dir(follow_symlinks=False)]
    except OSError:
        return
    yield top
    for sub in subdirs:
        yield from walk_dirs(sub)


def fsencode(path: str | bytes) -> bytes:
    """``os.fsencode`` for ``str`` and ``bytes``."""
    if isinstance(path, bytes):
        return path
    return path.encode(sys.getfilesystemencoding(), "surrogateescape")


def getenv(name: str) -> str | None:
    """``os.environ.get(name)``: decoded as ``os`` decodes the environment."""
    value = posix.environ.get(name.encode())
    if value is None:
        return None
    return value.decode(sys.getfilesystemencoding(), "surrogateescape")
