"""Parent ↔ child synchronisation over one SOCK_SEQPACKET socketpair.

Every message is one datagram: a one-byte type and a payload.  The whole
protocol of ``create`` (P = the pyoci parent, S = stage-1 child, I = init):

====  ===============  =====  ===========================================
type  name             dir    meaning / payload
====  ===============  =====  ===========================================
L     PLAN             P→S    what P prepared after forking S (S is forked
                              as soon as the config is loaded, so that its
                              imports overlap P's work: state directory,
                              record, cgroups, seccomp program): the rest of
                              the LaunchPlan, with its fds (console socket,
                              cgroup2 directory) by SCM_RIGHTS.  S waits for
                              it having made nothing; EOF (P failed) ends S
U     USERNS_READY     S→P    S unshared its user namespace; P writes
                              uid_map/gid_map of S (payload: S's pid)
M     MAPS_DONE        P→S    maps written; S may setresuid(0) and go on
C     CGROUP_DONE      P→S    S was moved into the container's cgroup (P
                              does it while S imports and unshares; the init
                              S forks is born there); sent after MAPS_DONE
                              when there is a new user namespace.  Not sent
                              when S joins the cgroup itself (v1 ``tasks``
                              files, LaunchPlan.cgroup_tasks) and spawns I
                              into the cgroup2 one (clone3 CLONE_INTO_CGROUP:
                              LaunchPlan.cgroup_fd), unless S asks with J
J     JOIN_CGROUP      S→P    S could not join the cgroup itself (a tasks
                              write or clone3 refused; payload: why): P
                              moves S there as above and answers C; S then
                              forks I
P     INIT_PID         S→P    S forked I; payload: I's pid (host view);
                              P moves linux.netDevices into I's network
                              namespace, adds their addresses, sets them up
S     STATE            P→I    the state JSON hooks get (status creating)
H     HOOKS_REQUEST    I→P    rootfs built, before pivot_root: P applies
                              linux.resources (as runc: after the init's
                              forks and mknods) and runs the prestart and
                              createRuntime hooks
K     HOOKS_DONE       P→I    done; I goes on (createContainer hooks)
N     SECCOMP_FD       I→P    a seccomp listener fd (SCM_RIGHTS) for P to
                              hand to linux.seccomp.listenerPath
A     ACK              P→I    the fd was delivered
R     READY            I→P    I waits on exec.fifo; P saves "created"
X     STARTING         I→P    instead of R when create starts the container
                              (``run``): I execs the user process at once;
                              EOF (close-on-exec) says it did, E that it
                              could not; P saves "running"
E     ERROR            S/I→P  setup failed; payload: one-line message
====  ===============  =====  ===========================================

``exec`` uses P, C, E and, for a NOTIFY seccomp filter, N/A (the process's
own listener fd, sent just before execve); success is EOF (the socket is
close-on-exec).

A child that hits an error sends E and exits 1; P sees either E or EOF.
"""

from __future__ import annotations

import _socket
import posix

from pyoci.util.fdpass import pack_fds, unpack_fds

PLAN = b"L"
USERNS_READY = b"U"
MAPS_DONE = b"M"
INIT_PID = b"P"
CGROUP_DONE = b"C"
JOIN_CGROUP = b"J"
STATE = b"S"
HOOKS_REQUEST = b"H"
HOOKS_DONE = b"K"
SECCOMP_FD = b"N"
ACK = b"A"
READY = b"R"
STARTING = b"X"
ERROR = b"E"

NAMES = {
    PLAN: "PLAN",
    USERNS_READY: "USERNS_READY",
    MAPS_DONE: "MAPS_DONE",
    INIT_PID: "INIT_PID",
    CGROUP_DONE: "CGROUP_DONE",
    JOIN_CGROUP: "JOIN_CGROUP",
    STATE: "STATE",
    HOOKS_REQUEST: "HOOKS_REQUEST",
    HOOKS_DONE: "HOOKS_DONE",
    SECCOMP_FD: "SECCOMP_FD",
    ACK: "ACK",
    READY: "READY",
    STARTING: "STARTING",
    ERROR: "ERROR",
}

_MAX = 1 << 16


class SyncError(Exception):
    """The peer closed the socket or sent something out of protocol."""


class SyncSocket:
    """One end of the socketpair."""

    __slots__ = ("sock",)

    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock

    @staticmethod
    def pair() -> tuple[SyncSocket, SyncSocket]:
        a, b = _socket.socketpair(
            _socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC, 0
        )
        return SyncSocket(a), SyncSocket(b)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def send(self, kind: bytes, payload: bytes | str = b"", fd: int = -1) -> None:
        self.send_fds(kind, payload, [fd] if fd >= 0 else [])

    def send_fds(self, kind: bytes, payload: bytes | str, fds: list[int]) -> None:
        data = kind + (payload.encode() if isinstance(payload, str) else payload)
        if fds:
            anc = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, pack_fds(fds))]
            self.sock.sendmsg([data], anc)
        else:
            self.sock.send(data)

    def recv(self) -> tuple[bytes, bytes, int]:
        """Receive one message: (type, payload, fd or -1). EOF raises SyncError."""
        kind, payload, fds = self.recv_fds(1)
        return kind, payload, fds[0] if fds else -1

    def recv_fds(self, nfds: int, size: int = _MAX) -> tuple[bytes, bytes, list[int]]:
        """Receive one message of at most ``size`` bytes with up to ``nfds`` fds
        (more are closed): (type, payload, fds). EOF raises SyncError."""
        space = _socket.CMSG_SPACE(4 * nfds)
        try:
            data, anc, flags, _addr = self.sock.recvmsg(size, space)
        except ConnectionResetError:
            # The peer exited without reading what we sent (say, CGROUP_DONE after
            # it failed): the kernel reports that once, ahead of what the peer sent
            # before exiting (its ERROR message), which the next read returns.
            data, anc, flags, _addr = self.sock.recvmsg(size, space)
        fds: list[int] = []
        for level, ctype, cdata in anc:
            if level == _socket.SOL_SOCKET and ctype == _socket.SCM_RIGHTS:
                fds += unpack_fds(cdata)
        for extra in fds[nfds:]:
            posix.close(extra)
        del fds[nfds:]
        if not data:
            raise SyncError("the container process exited during setup")
        if flags & _socket.MSG_TRUNC:
            for fd in fds:
                posix.close(fd)
            raise SyncError(f"sync: a {NAMES.get(data[:1], data[:1])!r} message over {size} bytes")
        return data[:1], data[1:], fds

    def expect(self, kind: bytes) -> bytes:
        """Receive one message of ``kind``; an ERROR message raises SyncError with its text."""
        got, payload, fd = self.recv()
        if fd >= 0:
            posix.close(fd)
        if got == ERROR:
            raise SyncError(payload.decode(errors="replace"))
        if got != kind:
            raise SyncError(
                f"sync: expected {NAMES.get(kind, kind)!r}, got {NAMES.get(got, got)!r}"
            )
        return payload
