"""linux.sysctl keys: their name, their file under /proc/sys, and the namespace that owns them.

A sysctl the container's namespaces do not own is the host's: writing it from
the container's init changes the host (``vm.*``), or the runtime's own network
namespace when the container has none (``net.*``).  So a key is applied only
when it belongs to a namespace the container owns (config-linux.md: "The
runtime SHOULD ... only allow namespaced sysctls"), and its name is parsed
strictly: it names one file below /proc/sys, never a path out of it.

Names follow sysctl(8): the first separator says which form a key is in.  In
the dotted form (``net.ipv4.conf.eth0/100.forwarding``) a ``/`` inside a
component stands for a literal ``.``; in the slash form
(``net/ipv4/conf/eth0.100/forwarding``) dots are literal.  Both name the same
file, and the dotted form with ``.`` in components written as ``/`` is the
canonical name the rules below (runc's, see libcontainer/configs/validate)
are stated in.

All pure but ``is_runtime_ns``, which stats a joined namespace's path.  The
checks run at create before anything exists (``pyoci.spec.semantic``), and the
init writes through a verified procfs (``pyoci.init.procfs.write_sysctl``).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

NETWORK = "network"
IPC = "ipc"
UTS = "uts"

# The System V IPC limits of ipc_namespaces(7) (fs.mqueue.* too, by prefix).
IPC_KEYS = frozenset(
    {
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    }
)
UTS_KEYS = frozenset({"kernel.hostname", "kernel.domainname"})

# The wording of runc's validator where it has one (users grep for it).
_NOT_OWNED = {
    NETWORK: 'sysctl "{key}" not allowed in host network namespace',
    IPC: 'sysctl "{key}" is not allowed in the hosts ipc namespace',
    UTS: 'sysctl "{key}" is not allowed in the hosts uts namespace',
}


# linux.namespaces type -> the name of its file in /proc/PID/ns
NS_FILES = {NETWORK: "net", IPC: "ipc", UTS: "uts"}


class BadSysctl(ValueError):
    """A key that does not name one sysctl below /proc/sys."""


def components(key: str) -> list[str]:
    """The path components of *key* below /proc/sys (raises ``BadSysctl``)."""
    if not key:
        raise BadSysctl("empty name")
    if "\0" in key:
        raise BadSysctl("contains a NUL byte")
    if next((ch for ch in key if ch in "./"), ".") == "/":
        parts = key.split("/")  # the slash form: dots are literal
    else:  # the dotted form: "/" stands for a literal "."
        parts = [part.replace("/", ".") for part in key.split(".")]
    for part in parts:
        if part in ("", ".", ".."):
            raise BadSysctl(
                "has an empty, '.' or '..' component (separators are '.' or '/')"
            )
    return parts


def canonical(key: str) -> str:
    """*key* in the dotted form (``net/ipv4/ip_forward`` → ``net.ipv4.ip_forward``)."""
    return ".".join(part.replace(".", "/") for part in components(key))


def proc_path(key: str) -> str:
    """The file of *key* relative to the root of a procfs: ``sys/net/ipv4/ip_forward``."""
    return "sys/" + "/".join(components(key))


def namespace_of(key: str) -> str | None:
    """``network``, ``ipc`` or ``uts``: the namespace owning *key*; None: the host's alone."""
    name = canonical(key)
    if name.startswith("net."):
        return NETWORK
    if name in IPC_KEYS or name.startswith("fs.mqueue."):
        return IPC
    if name in UTS_KEYS:
        return UTS
    return None


def problem(
    key: str,
    new: set[str] | frozenset[str],
    joined: Mapping[str, str],
    is_runtime_ns: Callable[[str, str], bool],
) -> str | None:
    """Why the container may not set *key*, or None.

    *new*: the namespace types the container creates; *joined*: type → path of
    those it joins.  ``is_runtime_ns(type, path)``: whether a joined path is the
    runtime's (or the host's) own namespace; it may raise ``OSError``.
    """
    try:
        kind = namespace_of(key)
    except BadSysctl as exc:
        return f'sysctl "{key}" is not a valid name: {exc}'
    if kind is None:
        return f'sysctl "{key}" is not in a separate kernel namespace'
    if kind in new:
        return None
    if kind in joined:
        path = joined[kind]
        try:
            if not is_runtime_ns(kind, path):
                return None
        except OSError as exc:
            return f'sysctl "{key}": cannot check {kind} namespace "{path}": {exc.strerror}'
        return _NOT_OWNED[kind].format(key=key) + f' ("{path}" is the runtime\'s own)'
    return _NOT_OWNED[kind].format(key=key)


def is_runtime_ns(kind: str, path: str, proc: str = "/proc") -> bool:
    """Whether the namespace at *path* is the runtime's own or the host's (PID 1's).

    As runc's isHostNetNS: same device and inode as ``/proc/self/ns/<kind>``.
    PID 1's is compared too where we may read it (not as an unprivileged user).
    Raises ``OSError`` if *path* cannot be stat'ed.
    """
    import posix

    target = posix.stat(path)
    ident = (target.st_dev, target.st_ino)
    name = NS_FILES[kind]
    own = posix.stat(f"{proc}/self/ns/{name}")
    if ident == (own.st_dev, own.st_ino):
        return True
    try:
        host = posix.stat(f"{proc}/1/ns/{name}")
    except OSError:
        return False
    return ident == (host.st_dev, host.st_ino)


def runtime_namespaces(proc: str = "/proc") -> dict[str, tuple[int, int]]:
    """(device, inode) of the runtime's own network, IPC and UTS namespaces: the init
    checks that the namespace of each key it writes is another one."""
    import posix

    out = {}
    for kind, name in NS_FILES.items():
        st = posix.stat(f"{proc}/self/ns/{name}")
        out[kind] = (st.st_dev, st.st_ino)
    return out
