"""The container side of ``exec``: enter a running container and execve.

stage 1 (forked by the parent): closes every fd but stdio, the sync socket,
the console socket and the preserved fds, makes itself non-dumpable (so
nothing in the container can ptrace it or open /proc/PID/exe or
/proc/PID/fd while it still runs host code: CVE-2019-5736 and CVE-2016-9962
shapes), joins every namespace of the container's init (user first, mount
last: joining the mount namespace also moves its root and cwd to the
container's root), then forks the process into the container's PID and time
namespaces and reports its pid.

the process: waits until the parent has put it into the container's cgroup,
applies ``process`` (the same rules as the init: rlimits, capabilities, user,
cwd, no_new_privs, LSM, seccomp last) and calls execve.  Success is seen by
the parent as EOF on the sync socket (it is close-on-exec); a failure sends
one ERROR message.
"""

from __future__ import annotations

import os

from pyoci import native
from pyoci.errors import PyociError
from pyoci.init import security
from pyoci.init.stage import JOIN_ORDER, _report
from pyoci.native import consts as c
from pyoci.process import sync

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from pyoci.process.sync import SyncSocket



class ExecPlan:
    __slots__ = ("config", "console_socket_fd", "container_id", "init_pid", "namespaces",
                 "no_new_keyring", "preserve_fds", "process", "seccomp")  # fmt: skip

    def __init__(
        self,
        *,
        container_id: str,
        init_pid: int,
        config: dict[str, Any],
        process: dict[str, Any],
        namespaces: list[str],
        console_socket_fd: int = -1,
        preserve_fds: int = 0,
        no_new_keyring: bool = True,
        seccomp: Any = None,
    ) -> None:
        self.container_id = container_id
        self.init_pid = init_pid
        self.config = config
        self.process = process
        self.namespaces = namespaces
        self.console_socket_fd = console_socket_fd
        self.preserve_fds = preserve_fds
        self.no_new_keyring = no_new_keyring
        self.seccomp = seccomp


def _preload(plan: ExecPlan) -> None:
    import _signal  # noqa: F401
    import resource  # noqa: F401

    from pyoci.init import console, lsm, process  # noqa: F401

    if plan.seccomp is not None:
        from pyoci.seccomp import load  # noqa: F401


def exec_stage1(plan: ExecPlan, sock: SyncSocket) -> NoReturn:
    try:
        oom = plan.process.get("oomScoreAdj")
        if oom is not None:
            # before the user namespace and non-dumpable (see stage.stage1)
            security.set_oom_score_adj(int(oom))
        security.set_non_dumpable()
        _preload(plan)
        keep = {0, 1, 2, sock.fileno(), plan.console_socket_fd}
        keep.update(range(3, 3 + plan.preserve_fds))
        _close_other_fds(keep)
        fds: list[tuple[str, int]] = []
        for nstype in JOIN_ORDER:
            if nstype not in plan.namespaces:
                continue
            name = c.NAMESPACE_PROC_NAMES[nstype]
            path = f"/proc/{plan.init_pid}/ns/{name}"
            try:
                fds.append((nstype, os.open(path, os.O_RDONLY | os.O_CLOEXEC)))
            except OSError as exc:
                raise PyociError(
                    f"join {nstype} namespace of the container: {exc.strerror}"
                ) from None
        for nstype, fd in fds:
            if _same_namespace(fd, nstype):
                os.close(fd)
                continue
            native.setns(fd, c.NAMESPACE_FLAGS[nstype], f"{nstype} namespace")
            os.close(fd)
            if nstype == "user":
                os.setresgid(0, 0, 0)
                os.setresuid(0, 0, 0)
        pid = os.fork()
        if pid == 0:
            exec_process(plan, sock)
        sock.send(sync.INIT_PID, str(pid))
    except BaseException as exc:
        _report(sock, exc)
    os._exit(0)


def _same_namespace(fd: int, nstype: str) -> bool:
    """setns into the namespace we are already in fails for user namespaces (EINVAL)."""
    try:
        mine = os.stat(f"/proc/self/ns/{c.NAMESPACE_PROC_NAMES[nstype]}")
    except OSError:
        return False
    theirs = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)


def _close_other_fds(keep: set[int]) -> None:
    keep = {fd for fd in keep if fd >= 0}
    prev = -1
    for fd in [*sorted(keep), 0x7FFFFFFF]:
        if fd - prev > 1:
            native.close_range(prev + 1, fd - 1, 0)
        prev = fd


def exec_process(plan: ExecPlan, sock: SyncSocket) -> NoReturn:
    try:
        from pyoci.init.process import ProcessSetup

        sock.expect(sync.CGROUP_DONE)
        process = plan.process
        if process.get("terminal"):
            _setup_tty(plan)
        else:
            _new_session()
        linux: dict[str, Any] = plan.config.get("linux") or {}
        setup = ProcessSetup(
            process,
            container_id=plan.container_id,
            new_keyring=not plan.no_new_keyring,
            userns="user" in plan.namespaces,
            setgroups_allowed=security.setgroups_allowed(),
            preserve_fds=plan.preserve_fds,
            oom_score_adj=None,  # set by exec_stage1, inherited
            personality=linux.get("personality"),
            seccomp=plan.seccomp is not None,
        )
        setup.apply()
        setup.exec(plan.seccomp, lambda fd: _send_listener(sock, fd))
    except BaseException as exc:
        _report(sock, exc)
    os._exit(1)


def _send_listener(sock: SyncSocket, fd: int) -> None:
    """The seccomp listener fd to the parent, for the agent; wait until delivered."""
    sock.send(sync.SECCOMP_FD, b"", fd=fd)
    sock.expect(sync.ACK)




def _new_session() -> None:
    """A session of its own, as runc's nsexec (CRIU refuses a session leader
    outside the container's PID namespace unless --shell-job)."""
    try:
        os.setsid()
    except PermissionError:
        pass  # already a process group leader


def _setup_tty(plan: ExecPlan) -> None:
    from pyoci.errors import SetupError
    from pyoci.init import console

    if plan.console_socket_fd < 0:
        raise SetupError("process.terminal is true but no console socket was given")
    master = os.open("/dev/pts/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        import fcntl

        fcntl.ioctl(master, console.TIOCSPTLCK, b"\0\0\0\0")
        slave = fcntl.ioctl(master, console.TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        size = plan.process.get("consoleSize")
        if size:
            native.set_winsize(master, int(size.get("height", 0)), int(size.get("width", 0)))
        console.send_fd(plan.console_socket_fd, master, "/dev/ptmx")
    finally:
        os.close(master)
    os.close(plan.console_socket_fd)
    plan.console_socket_fd = -1
    console.make_controlling(slave)
