"""Writes to procfs through a verified handle (CVE-2025-52881 shape).

The container controls its rootfs and, through its config, its mounts: /proc
might be a symlink to a fake tree, a bind of something else, or have a tmpfs
or a host file bind-mounted over /proc/sys/... or /proc/PID/attr/....  So the
runtime never writes through a path.  Every write (sysctl, the LSM exec
attributes, oom_score_adj, the exec.fifo reopen) goes through a ``ProcFS``
handle:

- preferably a private procfs instance (fsopen/fsmount, detached: it is in
  no mount tree, so nothing can be mounted over any of its files), made by
  the process that uses it, so that it shows that process's PID namespace;
- else ``/proc`` opened with O_NOFOLLOW and verified to be the root of a
  procfs (statfs magic and the procfs root inode).

Below the handle, files are resolved with RESOLVE_BENEATH | NO_SYMLINKS |
NO_MAGICLINKS | NO_XDEV (no symlink, no mount crossing: a bind over the file
or a directory on the way fails with EXDEV) and the opened file is checked to
be on procfs again.  ``self`` is a symlink, so the handle reads it once and
uses the PID it names.

``ProcFS.at(root, magic=...)`` takes a directory tree for unit tests.
"""

from __future__ import annotations

import os

from pyoci import native
from pyoci.errors import SetupError
from pyoci.native import consts as c
from pyoci.spec.sysctl import BadSysctl, proc_path  # the init writes after pivot_root

_STRICT = c.RESOLVE_BENEATH | c.RESOLVE_NO_SYMLINKS | c.RESOLVE_NO_MAGICLINKS | c.RESOLVE_NO_XDEV
PROC_ROOT_INO = 1


class ProcFS:
    """An fd on the root of a procfs; every open below it is strict and verified."""

    __slots__ = ("fd", "magic", "name", "private")

    def __init__(self, fd: int, name: str, magic: int = c.PROC_SUPER_MAGIC,
                 private: bool = False) -> None:  # fmt: skip
        self.fd = fd
        self.name = name
        self.magic = magic
        self.private = private

    @classmethod
    def new_private(cls) -> ProcFS:
        """A detached procfs instance of the caller's PID namespace (raises OSError)."""
        fsfd = native.fsopen("proc")
        try:
            native.fsconfig_string(fsfd, "source", "proc")
            native.fsconfig_create(fsfd)
            mfd = native.fsmount(
                fsfd, c.MOUNT_ATTR_NOSUID | c.MOUNT_ATTR_NODEV | c.MOUNT_ATTR_NOEXEC
            )
        finally:
            os.close(fsfd)
        handle = cls(mfd, "proc", private=True)
        handle._verify_root()
        return handle

    @classmethod
    def at(cls, root: str = "/proc", magic: int = c.PROC_SUPER_MAGIC,
           root_ino: int | None = PROC_ROOT_INO) -> ProcFS:  # fmt: skip
        """The procfs mounted at ``root`` (not followed if a symlink), verified."""
        try:
            fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError as exc:
            raise SetupError(f"{root} is not a procfs: {exc.strerror}") from None
        handle = cls(fd, root, magic)
        handle._verify_root(root_ino)
        return handle

    def _verify_root(self, root_ino: int | None = PROC_ROOT_INO) -> None:
        ok = native.fstatfs_type(self.fd) == self.magic
        if ok and root_ino is not None:
            ok = os.fstat(self.fd).st_ino == root_ino
        if not ok:
            self.close()
            raise SetupError(f"{self.name} is not the root of a procfs: refusing to use it")

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def self_pid(self) -> str:
        """What ``self`` names in this procfs (our PID in its namespace)."""
        try:
            pid = os.readlink("self", dir_fd=self.fd)
        except OSError as exc:
            raise SetupError(f"{self.name}/self: {exc.strerror}") from None
        if not pid.isdigit():
            raise SetupError(f"{self.name}/self is not a pid: {pid!r}")
        return pid

    def open(self, rel: str, flags: int) -> int:
        """Open ``rel`` beneath the handle: no symlinks, no mount crossing, on procfs."""
        try:
            fd = native.openat2(self.fd, rel, flags | os.O_NOFOLLOW, 0, _STRICT)
        except OSError as exc:
            raise SetupError(f"open {self.name}/{rel}: {exc.strerror}") from None
        try:
            if native.fstatfs_type(fd) != self.magic:
                raise SetupError(f"{self.name}/{rel} is not on procfs")
        except BaseException:
            os.close(fd)
            raise
        return fd

    def write(self, rel: str, value: str) -> None:
        fd = self.open(rel, os.O_WRONLY)
        try:
            os.write(fd, value.encode())
        except OSError as exc:
            raise SetupError(f"write {value!r} to {self.name}/{rel}: {exc.strerror}") from None
        finally:
            os.close(fd)

    def write_self(self, rel: str, value: str) -> None:
        """Write to ``<our pid>/rel`` (the thread-group leader: we have no threads)."""
        self.write(f"{self.self_pid()}/{rel}", value)

    def exists_self(self, rel: str) -> bool:
        try:
            fd = self.open(f"{self.self_pid()}/{rel}", os.O_PATH)
        except SetupError:
            return False
        os.close(fd)
        return True

    def reopen_own_fd(self, fd: int, flags: int) -> int:
        """Reopen our ``fd`` (an O_PATH fd, say) with ``flags`` via ``<pid>/fd/N``.

        The directory is resolved strictly; only the last step follows the
        magic link, which the kernel resolves to the file the fd holds.
        """
        dirfd = self.open(f"{self.self_pid()}/fd", os.O_PATH | os.O_DIRECTORY)
        try:
            return os.open(str(fd), flags | os.O_CLOEXEC, dir_fd=dirfd)
        finally:
            os.close(dirfd)


def transient() -> ProcFS:
    """A new handle, private if the kernel allows, else /proc verified; caller closes."""
    try:
        return ProcFS.new_private()
    except OSError:
        return ProcFS.at("/proc")


_handle: ProcFS | None = None
_owner = 0


def handle() -> ProcFS:
    """This process's cached procfs handle (see ``transient``).

    Call it first in the process that uses it, once in its PID namespace and
    before the container's mounts exist (the init does so first thing).  A
    handle inherited across fork is not reused: the child may be in another
    PID namespace.  A fallback handle (``/proc``) is dropped by
    ``root_changed`` when the process moves into the container's root.
    """
    global _handle, _owner
    if _handle is None or _handle.fd < 0 or _owner != os.getpid():
        if _handle is not None and _owner != os.getpid():
            _handle.close()  # our copy of the parent's fd
        _handle = transient()
        _owner = os.getpid()
    return _handle


def root_changed() -> None:
    """After pivot_root/chroot: a handle opened at /proc showed the old root's procfs."""
    global _handle
    if _handle is not None and not _handle.private:
        _handle.close()
        _handle = None


def write_sysctl(key: str, value: str, proc: ProcFS | None = None) -> None:
    """Write one linux.sysctl key (dotted or slash form, see ``pyoci.spec.sysctl``).

    Which keys a container may set is decided at create (``spec.semantic``);
    here the name is parsed again, so that it can only name a file below
    ``sys/`` of the handle.
    """
    try:
        rel = proc_path(key)
    except BadSysctl as exc:
        raise SetupError(f'sysctl "{key}" is not a valid name: {exc}') from None
    (proc or handle()).write(rel, value)


def write_file(relpath: str, value: str, root: str = "/proc") -> None:
    """Write ``value`` to ``<root>/<relpath>`` through a handle verified at ``root``."""
    proc = ProcFS.at(root)
    try:
        proc.write(relpath, value)
    finally:
        proc.close()
