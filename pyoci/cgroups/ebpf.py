"""Load a BPF_PROG_TYPE_CGROUP_DEVICE program and attach it to a cgroup v2 directory.

Only imported on the path that sets device rules on cgroup v2.  The program
replaces any device program previously attached to the same cgroup (by
``update``); programs on ancestor cgroups are left alone and still apply
(``BPF_F_ALLOW_MULTI``: every program on the path must allow an access).
"""

from __future__ import annotations

import errno
import os
import resource
import struct

from pyoci import native
from pyoci.errors import CgroupError
from pyoci.native import _lib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_QUERY = 16

BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2

_INSN_SIZE = 8
_PROG_NAME = b"pyoci_devices"


def _address(buf: bytearray) -> tuple[int, object]:
    """Address of ``buf``'s storage, and the object keeping it pinned."""
    ffi: Any = _lib.ffi  # the Protocol in _lib.pyi does not declare cast()
    cdata = ffi.from_buffer(buf)
    return int(ffi.cast("uintptr_t", cdata)), cdata


def load(program: bytes, license: bytes = b"Apache") -> int:
    """BPF_PROG_LOAD; returns the program fd.  On failure the verifier log is in the error."""
    if not program or len(program) % _INSN_SIZE:
        raise CgroupError("eBPF program must be a whole number of instructions")
    insns = bytearray(program)
    lic = bytearray(license + b"\0")
    insns_addr, pin1 = _address(insns)
    lic_addr, pin2 = _address(lic)

    def attempt(log: bytearray | None) -> int:
        log_addr, pin3 = _address(log) if log is not None else (0, None)
        attr = bytearray(
            struct.pack(
                "<IIQQIIQII16sII",
                BPF_PROG_TYPE_CGROUP_DEVICE,
                len(insns) // _INSN_SIZE,
                insns_addr,
                lic_addr,
                1 if log is not None else 0,
                len(log) if log is not None else 0,
                log_addr,
                0,  # kern_version
                0,  # prog_flags
                _PROG_NAME,
                0,  # prog_ifindex
                0,  # expected_attach_type
            )
        )
        try:
            for _ in range(30):  # EAGAIN: interrupted verification (runc retries too)
                try:
                    return native.bpf(BPF_PROG_LOAD, attr)
                except BlockingIOError:
                    continue
            return native.bpf(BPF_PROG_LOAD, attr)
        finally:
            del pin3

    # Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK: lift it for the
    # load only, so the container does not inherit an unlimited MEMLOCK.
    old = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    try:
        try:
            resource.setrlimit(resource.RLIMIT_MEMLOCK, (resource.RLIM_INFINITY,) * 2)
        except (OSError, ValueError):
            pass
        try:
            return attempt(None)
        except OSError as err:
            first = err
        log = bytearray(64 * 1024)
        try:
            return attempt(log)
        except OSError:
            text = bytes(log).split(b"\0", 1)[0].decode(errors="replace").strip()
            detail = f": {text.splitlines()[-1]}" if text else ""
            raise CgroupError(
                f"cannot load the device eBPF program: {first.strerror}{detail}"
            ) from first
    finally:
        try:
            resource.setrlimit(resource.RLIMIT_MEMLOCK, old)
        except (OSError, ValueError):
            pass
        del pin1, pin2


def attach(cgroup_fd: int, prog_fd: int, flags: int = BPF_F_ALLOW_MULTI) -> None:
    attr = bytearray(struct.pack("<IIIII", cgroup_fd, prog_fd, BPF_CGROUP_DEVICE, flags, 0))
    native.bpf(BPF_PROG_ATTACH, attr)


def detach(cgroup_fd: int, prog_fd: int) -> None:
    attr = bytearray(struct.pack("<IIIII", cgroup_fd, prog_fd, BPF_CGROUP_DEVICE, 0, 0))
    native.bpf(BPF_PROG_DETACH, attr)


def query(cgroup_fd: int) -> list[int]:
    """Ids of the device programs attached directly to the cgroup."""
    size = 64
    for _ in range(10):
        ids = bytearray(4 * size)
        ids_addr, pin = _address(ids)
        attr = bytearray(
            struct.pack("<IIIIQII", cgroup_fd, BPF_CGROUP_DEVICE, 0, 0, ids_addr, size, 0)
        )
        try:
            native.bpf(BPF_PROG_QUERY, attr)
        except OSError as err:
            if err.errno == errno.ENOSPC:
                size = struct.unpack_from("<I", attr, 24)[0] or size * 2
                continue
            raise
        finally:
            del pin
        count = struct.unpack_from("<I", attr, 24)[0]
        return list(struct.unpack_from(f"<{count}I", ids))
    raise CgroupError("cannot list the device programs attached to the cgroup")


def prog_fd_by_id(prog_id: int) -> int:
    return native.bpf(BPF_PROG_GET_FD_BY_ID, bytearray(struct.pack("<III", prog_id, 0, 0)))


def install(cgroup_dir: str, program: bytes) -> None:
    """Attach ``program`` to ``cgroup_dir`` and detach the device programs it replaces."""
    dir_fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    old_fds: list[int] = []
    prog_fd = -1
    try:
        try:
            for prog_id in query(dir_fd):
                try:
                    old_fds.append(prog_fd_by_id(prog_id))
                except PermissionError:
                    continue  # not ours to see (an LSM hides it); leave it
            prog_fd = load(program)
            attach(dir_fd, prog_fd)
        except OSError as err:
            raise CgroupError(
                f"cannot attach the device eBPF program to {cgroup_dir}: {err}"
            ) from err
        for fd in old_fds:
            try:
                detach(dir_fd, fd)
            except OSError as err:
                raise CgroupError(
                    f"cannot detach the previous device eBPF program from {cgroup_dir}: {err}"
                ) from err
    finally:
        for fd in [*old_fds, prog_fd, dir_fd]:
            if fd >= 0:
                os.close(fd)


def attached_count(cgroup_dir: str) -> int:
    """How many device programs are attached to ``cgroup_dir`` (for tests and checks)."""
    dir_fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return len(query(dir_fd))
    finally:
        os.close(dir_fd)
