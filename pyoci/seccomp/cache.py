"""A cache of compiled profiles, keyed by everything the result depends on.

libseccomp needs 20-30 ms of a create's CPU time to generate the filter of a
docker-sized profile (tests/data/seccomp/default.json: a create takes ~55 ms
of CPU with a hit, ~85 ms with a miss), and engines pass the same profile to
every container.  The exported program is kept in a file named by a hash of
the profile, the pyoci build, what decides which libseccomp the dynamic loader
maps (its cache ``/etc/ld.so.cache``, which ldconfig rewrites whenever
libraries are installed, and ``LD_LIBRARY_PATH``/``LD_PRELOAD``) and the
kernel.  An entry also names the libseccomp that compiled it (its soname link,
the file's identity and version) and is used only while that file is
unchanged.  So a hit loads neither libseccomp, its cffi module, nor the
``compile`` module: ~0.5 MB less resident in the runtime process.

A miss compiles in a short-lived child (``_compile_in_child``), which writes
the entry and sends the program back: libseccomp's tables (~2 MB for a
docker-sized profile on three architectures) never enter the runtime process.

Where: never under ``--root`` (the engine's state root holds nothing but
container directories).  ``PYOCI_SECCOMP_CACHE`` names the directory ("" turns
the cache off); else root in the host's user namespace uses
``/var/cache/pyoci/seccomp`` (regenerable data, kept across reboots: the key
names the kernel), anyone else ``$XDG_CACHE_HOME/pyoci/seccomp`` or
``~/.cache/pyoci/seccomp``.

A file there is a filter the next container gets, so the cache is used only
when nobody else can write to it: every component of the path is opened one by
one with ``O_NOFOLLOW`` and checked with ``fstat`` (a directory owned by root
or by us, not writable by others unless sticky); the cache directory itself is
ours and mode 0700; an entry is a regular file of ours, not writable by others,
with one link, and its payload's checksum matches.  Entries are written to a
temporary file and renamed.  At most ``MAX_ENTRIES`` entries and ``MAX_BYTES``
bytes: the oldest go first.  Only successful compilations are cached; any
problem with the cache only costs a compilation.

Only ``posix`` (no ``os``: the create path does not load it, pyoci.util.lean_os).
"""

from __future__ import annotations

import posix
import sys
from _blake2 import blake2b

from pyoci import __version__
from pyoci.seccomp.program import FLAG_NEW_LISTENER, SeccompProgram
from pyoci.util import lean_os
from pyoci.util.jsonio import dumps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["MAX_BYTES", "MAX_ENTRIES", "cache_key", "compile_cached", "default_dir"]

_MAGIC = b"PYOCI-SECCOMP-3\n"
_DIGEST = 16
_HEAD = len(_MAGIC) + 4 + _DIGEST  # then: the compiling libseccomp (2-byte length, text), bpf
MAX_ENTRIES = 64
MAX_BYTES = 4 << 20
MAX_ENTRY = 1 << 20  # a filter is at most 4096 instructions of 8 bytes; many filters fit
_SOURCES = ("compile.py", "enosys.py", "program.py")
_S_IFMT, _S_IFDIR, _S_IFREG, _S_ISVTX = 0o170000, 0o040000, 0o100000, 0o1000
_DIR_FLAGS = posix.O_RDONLY | posix.O_DIRECTORY | posix.O_NOFOLLOW | posix.O_CLOEXEC


def default_dir() -> str | None:
    """The cache directory for this process (None: no cache)."""
    chosen = lean_os.getenv("PYOCI_SECCOMP_CACHE")
    if chosen is not None:
        return chosen or None
    if posix.geteuid() == 0 and not _in_user_namespace():
        return "/var/cache/pyoci/seccomp"
    xdg = lean_os.getenv("XDG_CACHE_HOME") or ""
    if xdg.startswith("/"):
        return f"{xdg.rstrip('/')}/pyoci/seccomp"
    home = lean_os.getenv("HOME") or ""
    if home.startswith("/"):
        return f"{home.rstrip('/')}/.cache/pyoci/seccomp"
    return None


def _in_user_namespace() -> bool:
    try:
        with open("/proc/self/uid_map", "rb") as f:
            return f.read().split() != [b"0", b"0", b"4294967295"]
    except OSError:
        return True


def _build_id() -> list[object]:
    """The pyoci build."""
    here = lean_os.dirname(__file__)
    mtimes = [posix.stat(f"{here}/{name}").st_mtime_ns for name in _SOURCES]
    return [__version__, mtimes]


def _identity(path: str) -> str | None:
    """Which file ``path`` is now (following symlinks), None if none."""
    try:
        st = posix.stat(path)
    except OSError:
        return None
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


def _loader_id() -> list[object]:
    """What decides which libseccomp the dynamic loader would map."""
    return [
        _identity("/etc/ld.so.cache"),
        lean_os.getenv("LD_LIBRARY_PATH"),
        lean_os.getenv("LD_PRELOAD"),
    ]


def libseccomp_id() -> str:
    """In a process that has libseccomp loaded: its soname link (the name the
    loader opens), that file's identity and the library's version; "" if it
    cannot be told (the entry is then not written)."""
    from pyoci.native._seccomp import lib

    v = lib.seccomp_version()
    real = ""
    with open("/proc/self/maps", "rb") as f:
        for line in f:
            parts = line.split(None, 5)
            if len(parts) == 6 and b"/libseccomp.so" in parts[5]:
                real = parts[5].rstrip(b"\n").decode(errors="replace")
                break
    if not real.startswith("/"):
        return ""
    link = f"{lean_os.dirname(real)}/libseccomp.so.{v.major}"
    same = _identity(link)
    if same is None or same != _identity(real):
        link, same = real, _identity(real)
    if same is None:
        return ""
    return f"{link}\0{same}\0{v.major}.{v.minor}.{v.micro}"


def _unchanged(lib_id: str) -> bool:
    """Is the libseccomp an entry was compiled with still the one installed?"""
    path, _, rest = lib_id.partition("\0")
    same, _, _version = rest.partition("\0")
    return bool(same) and path.startswith("/") and _identity(path) == same


def cache_key(seccomp: dict[str, Any]) -> str:
    """The file name a compiled ``seccomp`` is kept under."""
    uts = posix.uname()
    doc = [
        _MAGIC.decode(),
        _build_id(),
        _loader_id(),
        [uts.release, uts.version, uts.machine],
        seccomp,
    ]
    return blake2b(dumps(doc).encode(), digest_size=20).hexdigest()


def _open_dir(path: str, create: bool) -> int:
    """An fd of ``path`` if it is a cache nobody else can write to, else -1."""
    parts = [p for p in path.split("/") if p]
    if not path.startswith("/") or not parts or any(p in (".", "..") for p in parts):
        return -1
    euid = posix.geteuid()
    try:
        fd = posix.open("/", _DIR_FLAGS)
    except OSError:
        return -1
    try:
        for i, name in enumerate(parts):
            last = i == len(parts) - 1
            try:
                nxt = posix.open(name, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    posix.mkdir(name, 0o700, dir_fd=fd)
                except FileExistsError:
                    pass
                nxt = posix.open(name, _DIR_FLAGS, dir_fd=fd)
            posix.close(fd)
            fd = nxt
            st = posix.fstat(fd)
            if last:
                ok = st.st_uid == euid and not st.st_mode & 0o077
            else:
                ok = st.st_uid in (0, euid) and (
                    not st.st_mode & 0o022 or bool(st.st_mode & _S_ISVTX)
                )
            if not ok:
                posix.close(fd)
                return -1
        return fd
    except OSError:  # ELOOP: a symlink; ENOTDIR, EACCES, EROFS...
        posix.close(fd)
        return -1


def _read(dfd: int, key: str) -> tuple[int, bytes] | None:
    """A valid entry: (flags, bpf), else None."""
    try:
        fd = posix.open(key, posix.O_RDONLY | posix.O_NOFOLLOW | posix.O_CLOEXEC, dir_fd=dfd)
    except OSError:
        return None
    try:
        st = posix.fstat(fd)
        if (
            st.st_mode & _S_IFMT != _S_IFREG
            or st.st_uid != posix.geteuid()
            or st.st_mode & 0o022
            or st.st_nlink != 1
            or st.st_size > MAX_ENTRY
        ):
            return None
        data = posix.read(fd, MAX_ENTRY + 1)
    except OSError:
        return None
    finally:
        posix.close(fd)
    rest = data[_HEAD:]
    if not data.startswith(_MAGIC) or len(rest) < 2:
        return None
    if blake2b(rest, digest_size=_DIGEST).digest() != data[_HEAD - _DIGEST : _HEAD]:
        return None  # torn or damaged
    size = int.from_bytes(rest[:2], "little")
    bpf = rest[2 + size :]
    if not bpf or len(bpf) % 8 or not _unchanged(rest[2 : 2 + size].decode(errors="replace")):
        return None  # libseccomp was replaced since: compiled again
    return int.from_bytes(data[len(_MAGIC) : len(_MAGIC) + 4], sys.byteorder), bpf


def _evict(dfd: int, incoming: int) -> None:
    """Make room for one entry of ``incoming`` bytes; drop stale temporary files."""
    import time

    entries = []
    now = time.time()
    with posix.scandir(dfd) as it:
        for e in it:
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            if e.name.startswith("."):
                if now - st.st_mtime > 60:  # a writer killed midway
                    posix.unlink(e.name, dir_fd=dfd)
                continue
            entries.append((st.st_mtime_ns, st.st_size, e.name))
    entries.sort()
    count = len(entries) + 1
    total = sum(size for _, size, _ in entries) + incoming
    for _, size, name in entries:
        if count <= MAX_ENTRIES and total <= MAX_BYTES:
            break
        try:
            posix.unlink(name, dir_fd=dfd)
        except FileNotFoundError:
            pass
        count -= 1
        total -= size


def _write(dfd: int, key: str, program: SeccompProgram, lib_id: str) -> None:
    ident = lib_id.encode()
    if not ident or len(ident) > 0xFFFF:
        return
    rest = b"".join((len(ident).to_bytes(2, "little"), ident, program.bpf))
    data = b"".join(
        (
            _MAGIC,
            program.flags.to_bytes(4, sys.byteorder),
            blake2b(rest, digest_size=_DIGEST).digest(),
            rest,
        )
    )
    if len(data) > MAX_ENTRY:
        return
    tmp = f".{key}.{posix.getpid()}"
    try:
        _evict(dfd, len(data))
        flags = posix.O_WRONLY | posix.O_CREAT | posix.O_EXCL | posix.O_NOFOLLOW | posix.O_CLOEXEC
        fd = posix.open(tmp, flags, 0o600, dir_fd=dfd)
        try:
            view = memoryview(data)
            while view:
                view = view[posix.write(fd, view) :]
        finally:
            posix.close(fd)
        posix.rename(tmp, key, src_dir_fd=dfd, dst_dir_fd=dfd)
    except OSError:
        try:
            posix.unlink(tmp, dir_fd=dfd)
        except OSError:
            pass


def compile_cached(
    seccomp: dict[str, Any], cache_dir: str | None, where: str = "linux.seccomp"
) -> SeccompProgram:
    """``compile_profile`` through the cache in ``cache_dir`` (None: no cache)."""
    dfd = -1
    key = None
    if cache_dir is not None and isinstance(seccomp, dict):
        key = cache_key(seccomp)
        dfd = _open_dir(cache_dir, create=True)
    try:
        if dfd >= 0 and key is not None:
            hit = _read(dfd, key)
            if hit is not None:
                flags, bpf = hit
                return _program(seccomp, bpf, flags)
        return _compile_in_child(seccomp, where, dfd, key)
    finally:
        if dfd >= 0:
            posix.close(dfd)


def _program(seccomp: dict[str, Any], bpf: bytes, flags: int) -> SeccompProgram:
    if flags & FLAG_NEW_LISTENER:
        return SeccompProgram(
            bpf, flags, seccomp.get("listenerPath"), seccomp.get("listenerMetadata")
        )
    return SeccompProgram(bpf, flags)


# A compile child reports one byte, then the rest: P (flags, bpf), or the
# error's class (C ConfigError, N NotSupported, S SetupError or anything else)
# and its message.


def _compile_in_child(
    seccomp: dict[str, Any], where: str, dfd: int, key: str | None
) -> SeccompProgram:
    """Compile (and store, with a cache) in a short-lived child.

    The child's copy-on-write costs ~1 ms against the 20-30 ms a compilation
    takes; the runtime process never maps libseccomp nor holds its tables.
    Errors come back as the same ``PyociError`` subclass and message.
    """
    rfd, wfd = posix.pipe()
    try:
        pid = posix.fork()
    except OSError:
        posix.close(rfd)
        posix.close(wfd)
        raise
    if pid == 0:  # pragma: no cover - child
        try:
            posix.close(rfd)
            out = _compile_and_store(seccomp, where, dfd, key)
        except BaseException as exc:
            out = _error_report(exc)
        try:
            view = memoryview(out)
            while view:
                view = view[posix.write(wfd, view) :]
        finally:
            posix._exit(0)
    posix.close(wfd)
    chunks = []
    try:
        while chunk := posix.read(rfd, 65536):
            chunks.append(chunk)
    finally:
        posix.close(rfd)
        posix.waitpid(pid, 0)
    data = b"".join(chunks)
    kind, body = data[:1], data[1:]
    if kind == b"P" and len(body) > 4:
        return _program(seccomp, body[4:], int.from_bytes(body[:4], sys.byteorder))
    from pyoci.errors import ConfigError, NotSupported, SetupError

    message = body.decode(errors="replace") or "seccomp: the compiler exited without a result"
    if kind == b"C":
        raise ConfigError(message.split("\n"))
    if kind == b"N":
        raise NotSupported(message)
    raise SetupError(message)


def _compile_and_store(seccomp: dict[str, Any], where: str, dfd: int, key: str | None) -> bytes:
    from pyoci.seccomp.compile import compile_profile

    program = compile_profile(seccomp, where)
    if dfd >= 0 and key is not None:
        _write(dfd, key, program, libseccomp_id())
    return b"P" + program.flags.to_bytes(4, sys.byteorder) + program.bpf


def _error_report(exc: BaseException) -> bytes:
    from pyoci.errors import ConfigError, NotSupported, PyociError

    if isinstance(exc, ConfigError):
        kind = b"C"
    elif isinstance(exc, NotSupported):
        kind = b"N"
    else:
        kind = b"S"
    message = str(exc) if isinstance(exc, PyociError) else f"seccomp: {type(exc).__name__}: {exc}"
    return kind + message.encode(errors="replace")
