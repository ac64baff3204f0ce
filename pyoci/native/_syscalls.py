"""Typed wrappers over every raw syscall pyoci makes (``pyoci.native`` loads
this module on first use).

Each wrapper raises ``OSError(errno, strerror, path)`` on failure.  The cffi
module ``pyoci.native._lib`` is compiled at install time by ``_build.py``.
"""

from __future__ import annotations

import posix

from pyoci.native._lib import ffi, lib
from pyoci.util import lean_os

__all__ = [
    "bpf",
    "capget",
    "capset",
    "chroot",
    "close_range",
    "fsconfig_create",
    "fsconfig_string",
    "fsmount",
    "fsopen",
    "fstatfs_type",
    "ifup",
    "inotify_add_watch",
    "inotify_init1",
    "join_session_keyring",
    "keyctl",
    "memfd_create",
    "mknodat",
    "mount",
    "mount_setattr",
    "move_mount",
    "open_tree",
    "openat2",
    "personality",
    "pivot_root",
    "prctl",
    "reset_signals",
    "seccomp_set_filter",
    "set_ctty",
    "set_mempolicy",
    "set_winsize",
    "setdomainname",
    "setgroups",
    "sethostname",
    "setns",
    "umount2",
    "unshare",
]


def _fail(path: str | None = None) -> OSError:
    err = ffi.errno
    if path is None:
        return OSError(err, posix.strerror(err))
    return OSError(err, posix.strerror(err), path)


def _c(s: str | None) -> bytes | None:
    return None if s is None else lean_os.fsencode(s)


def unshare(flags: int) -> None:
    if lib.unshare(flags) < 0:
        raise _fail()


def setns(fd: int, nstype: int = 0, path: str | None = None) -> None:
    if lib.setns(fd, nstype) < 0:
        raise _fail(path)


def mount(
    source: str | None,
    target: str,
    fstype: str | None,
    flags: int = 0,
    data: str | None = None,
) -> None:
    src = _c(source)
    fst = _c(fstype)
    dat = _c(data)
    if lib.mount(
        src if src is not None else ffi.NULL,
        lean_os.fsencode(target),
        fst if fst is not None else ffi.NULL,
        flags,
        dat if dat is not None else ffi.NULL,
    ) < 0:
        raise _fail(target)


def umount2(target: str, flags: int = 0) -> None:
    if lib.umount2(lean_os.fsencode(target), flags) < 0:
        raise _fail(target)


def pivot_root(new_root: str, put_old: str) -> None:
    if lib.pyoci_pivot_root(lean_os.fsencode(new_root), lean_os.fsencode(put_old)) < 0:
        raise _fail(new_root)


def chroot(path: str) -> None:
    if lib.chroot(lean_os.fsencode(path)) < 0:
        raise _fail(path)


def sethostname(name: str) -> None:
    raw = name.encode()
    if lib.sethostname(raw, len(raw)) < 0:
        raise _fail("hostname")


def setdomainname(name: str) -> None:
    raw = name.encode()
    if lib.setdomainname(raw, len(raw)) < 0:
        raise _fail("domainname")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    ret = lib.prctl(option, arg2, arg3, arg4, arg5)
    if ret < 0:
        raise _fail(f"prctl({option})")
    return ret


def personality(persona: int) -> int:
    ret = lib.personality(persona)
    if ret < 0:
        raise _fail("personality")
    return ret


def capget(pid: int = 0) -> tuple[int, int, int]:
    """Return (effective, permitted, inheritable) as 64-bit masks."""
    data = ffi.new("uint32_t[6]")
    if lib.pyoci_capget(pid, data) < 0:
        raise _fail("capget")
    return (
        data[0] | (data[1] << 32),
        data[2] | (data[3] << 32),
        data[4] | (data[5] << 32),
    )


def capset(effective: int, permitted: int, inheritable: int) -> None:
    mask = 0xFFFFFFFF
    data = ffi.new(
        "uint32_t[6]",
        [
            effective & mask,
            effective >> 32,
            permitted & mask,
            permitted >> 32,
            inheritable & mask,
            inheritable >> 32,
        ],
    )
    if lib.pyoci_capset(0, data) < 0:
        raise _fail("capset")


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = 0) -> int:
    fd = lib.pyoci_openat2(dirfd, lean_os.fsencode(path), flags | posix.O_CLOEXEC, mode, resolve)
    if fd < 0:
        raise _fail(path)
    return fd


def close_range(first: int, last: int = 0xFFFFFFFF, flags: int = 0) -> None:
    if lib.pyoci_close_range(first, last, flags) < 0:
        raise _fail("close_range")


def open_tree(dirfd: int, path: str, flags: int) -> int:
    fd = lib.pyoci_open_tree(dirfd, lean_os.fsencode(path), flags)
    if fd < 0:
        raise _fail(path)
    return fd


def move_mount(from_dirfd: int, from_path: str, to_dirfd: int, to_path: str, flags: int) -> None:
    if (
        lib.pyoci_move_mount(
            from_dirfd, lean_os.fsencode(from_path), to_dirfd, lean_os.fsencode(to_path), flags
        )
        < 0
    ):
        raise _fail(to_path or from_path)


def mount_setattr(
    dirfd: int,
    path: str,
    flags: int,
    attr_set: int = 0,
    attr_clr: int = 0,
    propagation: int = 0,
    userns_fd: int = 0,
) -> None:
    """``userns_fd``: the user namespace whose maps MOUNT_ATTR_IDMAP applies."""
    if (
        lib.pyoci_mount_setattr(
            dirfd, lean_os.fsencode(path), flags, attr_set, attr_clr, propagation, userns_fd
        )
        < 0
    ):
        raise _fail(path or "mount_setattr")


def fsopen(fsname: str) -> int:
    fd = lib.pyoci_fsopen(fsname.encode(), 1)
    if fd < 0:
        raise _fail(fsname)
    return fd


def fsconfig_string(fd: int, key: str, value: str | None) -> None:
    # FSCONFIG_SET_FLAG (0) when there is no value, FSCONFIG_SET_STRING (1) otherwise.
    if value is None:
        ret = lib.pyoci_fsconfig(fd, 0, key.encode(), ffi.NULL, 0)
    else:
        ret = lib.pyoci_fsconfig(fd, 1, key.encode(), value.encode(), 0)
    if ret < 0:
        raise _fail(f"{key}={value}" if value is not None else key)


def fsconfig_create(fd: int) -> None:
    if lib.pyoci_fsconfig(fd, 6, ffi.NULL, ffi.NULL, 0) < 0:
        raise _fail("fsconfig create")


def fsmount(fd: int, attr_flags: int = 0) -> int:
    mfd = lib.pyoci_fsmount(fd, 1, attr_flags)
    if mfd < 0:
        raise _fail("fsmount")
    return mfd


def keyctl(op: int, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0) -> int:
    ret = lib.pyoci_keyctl(op, a2, a3, a4, a5)
    if ret < 0:
        raise _fail("keyctl")
    return int(ret)


def join_session_keyring(name: str | None) -> int:
    raw = _c(name)
    ret = lib.pyoci_join_session_keyring(raw if raw is not None else ffi.NULL)
    if ret < 0:
        raise _fail("session keyring")
    return ret


def memfd_create(name: str, flags: int) -> int:
    fd = lib.memfd_create(name.encode(), flags)
    if fd < 0:
        raise _fail(name)
    return fd


def inotify_init1(flags: int) -> int:
    fd = lib.inotify_init1(flags)
    if fd < 0:
        raise _fail("inotify_init1")
    return fd


def inotify_add_watch(fd: int, path: str, mask: int) -> int:
    """Watch ``path`` for the events in ``mask`` (IN_MODIFY…); returns the watch descriptor."""
    wd = lib.inotify_add_watch(fd, lean_os.fsencode(path), mask)
    if wd < 0:
        raise _fail(path)
    return wd


def mknodat(dirfd: int, path: str, mode: int, dev: int) -> None:
    if lib.mknodat(dirfd, lean_os.fsencode(path), mode, dev) < 0:
        raise _fail(path)


def ifup(name: str) -> None:
    if lib.pyoci_ifup(name.encode()) < 0:
        raise _fail(name)


def set_ctty(fd: int) -> None:
    if lib.pyoci_set_ctty(fd) < 0:
        raise _fail("TIOCSCTTY")


def set_winsize(fd: int, rows: int, cols: int) -> None:
    if lib.pyoci_set_winsize(fd, rows, cols) < 0:
        raise _fail("TIOCSWINSZ")


def reset_signals() -> None:
    if lib.pyoci_reset_signals() < 0:
        raise _fail("sigprocmask")


def setgroups(gids: list[int]) -> None:
    arr = ffi.new("uint32_t[]", gids) if gids else ffi.NULL
    if lib.pyoci_setgroups(len(gids), arr) < 0:
        raise _fail("setgroups")


def seccomp_set_filter(flags: int, program: bytes) -> int:
    """Install a classic BPF program (``program`` is an array of sock_filter)."""
    if len(program) % 8:
        raise ValueError("a BPF program is a whole number of 8-byte instructions")
    buf = ffi.from_buffer(program)
    ret = lib.pyoci_seccomp_set_filter(flags, len(program) // 8, buf)
    if ret < 0:
        raise _fail("seccomp")
    return ret


def bpf(cmd: int, attr: bytearray) -> int:
    buf = ffi.from_buffer(attr)
    ret = lib.pyoci_bpf(cmd, buf, len(attr))
    if ret < 0:
        raise _fail("bpf")
    return int(ret)


def fstatfs_type(fd: int) -> int:
    """The filesystem magic (statfs f_type) of what ``fd`` refers to."""
    ret = lib.pyoci_fstatfs_type(fd)
    if ret < 0:
        raise _fail("fstatfs")
    return int(ret)


def set_mempolicy(mode: int, nodes: list[int]) -> None:
    """set_mempolicy(2) of the calling thread (inherited across fork and execve);
    ``mode`` may carry MPOL_F_* flags; ``nodes`` are NUMA node numbers."""
    words = max(nodes) // 64 + 1 if nodes else 1
    mask = [0] * words
    for n in nodes:
        mask[n // 64] |= 1 << (n % 64)
    arr = ffi.new("unsigned long[]", mask) if nodes else ffi.NULL
    maxnode = words * 64 + 1 if nodes else 0  # the kernel reads maxnode - 1 bits
    if lib.pyoci_set_mempolicy(mode, arr, maxnode) < 0:
        raise _fail("set_mempolicy")
