"""One ``criu swrk`` session: CRIU's RPC over a SOCK_SEQPACKET socketpair, as runc.

``criu swrk 3`` serves one request on fd 3 (its end of the pair); fds 4, 5...
are what the request's ``inherit_fd`` entries name (external namespaces), and
its stdio is what a restored process inherits for its pipes.  While it works,
CRIU sends NOTIFY messages (``setup-namespaces``, ``post-restore``,
``orphan-pts-master`` with a pty master fd...): each is handed to a callback,
then acknowledged.  A failure comes back as one line naming CRIU's log file.
"""

from __future__ import annotations

import _socket
import posix

from pyoci.criu import messages as M
from pyoci.criu import wire
from pyoci.errors import PyociError
from pyoci.util import fdpass, log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    # (script, pid, fds received with it) -> None
    NotifyHandler = Callable[[str, int, list[int]], None]

_BUF = 10 * 4096


class CriuError(PyociError):
    """CRIU refused or failed; the message names its log file."""


def _signals_to_default() -> list[int]:
    import signal

    return [s for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP)]


class Swrk:
    """A running ``criu swrk`` and our end of its socket."""

    def __init__(
        self,
        criu: str,
        *,
        extra_fds: list[int] | None = None,
        log_path: str = "",
    ) -> None:
        self.log_path = log_path
        ours, theirs = _socket.socketpair(
            _socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC
        )
        self.sock = ours
        # each source above every target first, so one dup2 cannot clobber another's source
        targets = [theirs.fileno(), *(extra_fds or [])]
        import fcntl

        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 64) for fd in targets]
        actions = [(posix.POSIX_SPAWN_DUP2, src, 3 + i) for i, src in enumerate(high)]
        try:
            self.pid = posix.posix_spawn(
                criu,
                [criu, "swrk", "3"],
                dict(posix.environ),
                file_actions=actions,
                setsigdef=_signals_to_default(),
                setsigmask=(),
            )
        except OSError as exc:
            ours.close()
            raise CriuError(f"cannot run criu ({criu}): {exc.strerror}") from None
        finally:
            theirs.close()
            for fd in high:
                posix.close(fd)
        self.status: int | None = None

    def request(
        self, req: dict[str, Any], on_notify: NotifyHandler | None = None
    ) -> dict[str, Any]:
        """Send ``req`` and return CRIU's final answer (NOTIFYs handled on the way)."""
        kind = int(req["type"])
        self.sock.send(wire.encode(req, M.REQ))
        while True:
            try:
                data, anc, _flags, _addr = self.sock.recvmsg(_BUF, fdpass.cmsg_space(16))
            except OSError as exc:
                raise self._failed(kind, f"reading its answer: {exc.strerror}") from None
            fds: list[int] = []
            for level, typ, payload in anc:
                if level == _socket.SOL_SOCKET and typ == _socket.SCM_RIGHTS:
                    fds.extend(fdpass.unpack_fds(payload))
            if not data:
                raise self._failed(kind, "it exited without an answer")
            try:
                resp = wire.decode(data, M.RESP)
            except wire.WireError as exc:
                raise self._failed(kind, f"unreadable answer: {exc}") from None
            if not resp.get("success"):
                for fd in fds:
                    posix.close(fd)
                errno_ = resp.get("cr_errno", 0)
                msg = " ".join(str(resp.get("cr_errmsg") or "").split())
                detail = f"errno {errno_}" + (f" ({msg})" if msg else "")
                raise self._failed(kind, detail)
            if resp.get("type") != M.NOTIFY:
                return resp
            notify = resp.get("notify") or {}
            script = str(notify.get("script", ""))
            log.debug(f"criu notify: {script}")
            try:
                if on_notify is not None:
                    on_notify(script, int(notify.get("pid", 0)), fds)
            finally:
                for fd in fds:
                    try:
                        posix.close(fd)
                    except OSError:
                        pass
            self.sock.send(wire.encode({"type": M.NOTIFY, "notify_success": True}, M.REQ))

    def _failed(self, kind: int, detail: str) -> CriuError:
        name = M.REQ_TYPE_NAMES.get(kind, str(kind))
        where = f"; log file: {self.log_path}" if self.log_path else ""
        return CriuError(f"criu failed: type {name}: {detail}{where}")

    def close(self) -> int:
        """Close our end and wait for CRIU; its wait status."""
        if self.status is None:
            try:
                self.sock.shutdown(_socket.SHUT_WR)
            except OSError:
                pass
            self.sock.close()
            _pid, self.status = posix.waitpid(self.pid, 0)
        return self.status

    def kill(self) -> None:
        if self.status is None:
            try:
                posix.kill(self.pid, 9)
            except ProcessLookupError:
                pass
            self.close()


def version(criu: str) -> tuple[int, int, int]:
    """CRIU's version (major, minor, sublevel) over RPC (criu 3.0+)."""
    s = Swrk(criu)
    try:
        resp = s.request({"type": M.VERSION})
    finally:
        s.close()
    v = resp.get("version") or {}
    return (int(v.get("major_number", 0)), int(v.get("minor_number", 0)), int(v.get("sublevel", 0)))


def features(criu: str, wanted: dict[str, bool]) -> dict[str, bool]:
    """FEATURE_CHECK: which of ``wanted`` (mem_track, lazy_pages) CRIU and the kernel have."""
    s = Swrk(criu)
    try:
        # CRIU < 2.12 crashed without opts: send an empty set, as runc
        req = {"type": M.FEATURE_CHECK, "opts": {"images_dir_fd": -1}, "features": wanted}
        resp = s.request(req)
    finally:
        s.close()
    got = resp.get("features") or {}
    return {k: bool(got.get(k)) for k in wanted}
