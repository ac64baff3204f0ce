"""A cache of compiled profiles, keyed by everything the result depends on.

libseccomp needs 5-15 ms to generate the filter of a docker-sized profile
(more with the x86/x32 architectures), and engines pass the same profile to
every container.  Like crun (``.cache/seccomp`` in its state dir), we keep the
exported program in a file named by a hash of the profile, the pyoci build,
the libseccomp version and the kernel, so a hit needs neither libseccomp's
compiler nor the ``compile`` module.

The cache directory must be as trusted as the runtime's state directory (a
file there is a filter the next container gets): put it under ``--root``.  A
directory that is not ours or that others may write to is not used at all.
Only successful compilations are cached; errors are recomputed.
"""

from __future__ import annotations

import os
import sys
from _blake2 import blake2b
from stat import S_ISDIR

from pyoci import __version__
from pyoci.jsonio import dumps
from pyoci.seccomp.program import FLAG_NEW_LISTENER, SeccompProgram

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["MAX_ENTRIES", "cache_key", "compile_cached"]

_MAGIC = b"PYOCI-SECCOMP-1\n"
MAX_ENTRIES = 64
_SOURCES = ("compile.py", "enosys.py", "program.py")


def _build_id() -> list[object]:
    """The pyoci build and the libseccomp in use."""
    from pyoci.native._seccomp import lib

    here = os.path.dirname(__file__)
    v = lib.seccomp_version()
    mtimes = [os.stat(os.path.join(here, name)).st_mtime_ns for name in _SOURCES]
    return [__version__, mtimes, [v.major, v.minor, v.micro]]


def cache_key(seccomp: dict[str, Any]) -> str:
    """The file name a compiled ``seccomp`` is kept under."""
    uts = os.uname()
    doc = [_MAGIC.decode(), _build_id(), [uts.release, uts.version, uts.machine], seccomp]
    return blake2b(dumps(doc).encode(), digest_size=20).hexdigest()


def _trusted(cache_dir: str) -> bool:
    """Only a directory of ours that nobody else may write to."""
    try:
        st = os.stat(cache_dir)
    except OSError:
        return False
    return S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def _read(path: str) -> tuple[int, bytes] | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        data = os.read(fd, 1 << 20)
    except OSError:
        return None
    finally:
        os.close(fd)
    head = len(_MAGIC) + 4
    if not data.startswith(_MAGIC) or len(data) <= head or (len(data) - head) % 8:
        return None
    return int.from_bytes(data[len(_MAGIC) : head], sys.byteorder), data[head:]


def _write(cache_dir: str, key: str, program: SeccompProgram) -> None:
    try:
        os.makedirs(cache_dir, mode=0o700, exist_ok=True)
        if not _trusted(cache_dir):
            return
        entries = [e for e in os.scandir(cache_dir) if not e.name.startswith(".")]
        if len(entries) >= MAX_ENTRIES:
            entries.sort(key=lambda e: e.stat().st_mtime_ns)
            for entry in entries[: len(entries) - MAX_ENTRIES + 1]:
                os.unlink(entry.path)
        tmp = os.path.join(cache_dir, f".{key}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, _MAGIC + program.flags.to_bytes(4, sys.byteorder) + program.bpf)
        finally:
            os.close(fd)
        os.rename(tmp, os.path.join(cache_dir, key))
    except OSError:
        pass  # a cache: a failed write only costs the next create a compilation


def compile_cached(
    seccomp: dict[str, Any], cache_dir: str | None, where: str = "linux.seccomp"
) -> SeccompProgram:
    """``compile_profile`` through the cache in ``cache_dir`` (None: no cache)."""
    key = cache_key(seccomp) if cache_dir is not None and isinstance(seccomp, dict) else None
    if cache_dir is not None and key is not None and _trusted(cache_dir):
        hit = _read(os.path.join(cache_dir, key))
        if hit is not None:
            flags, bpf = hit
            if flags & FLAG_NEW_LISTENER:
                return SeccompProgram(
                    bpf, flags, seccomp.get("listenerPath"), seccomp.get("listenerMetadata")
                )
            return SeccompProgram(bpf, flags)

    from pyoci.seccomp.compile import compile_profile

    program = compile_profile(seccomp, where)
    if cache_dir is not None and key is not None:
        _write(cache_dir, key, program)
    return program
