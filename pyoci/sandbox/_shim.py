"""The setup process of one embedded container (started by exec, never forked
from the embedder): it creates the container, hands the embedder its pid (and
pty), starts it on request, reaps its init (it is the init's subreaper),
reports the exit status with the cgroup's accounting, and deletes it on
request, or by itself when the embedder goes away (its control socket hits
EOF, also when the embedder was SIGKILLed).

Run as ``python -I -S -c <boot> ROOT ID BUNDLE CTL_FD FLAGS``; its stdin,
stdout and stderr are the container's (it swaps them for /dev/null once the
init holds them, so the embedder's pipes reach EOF with the container).

Messages on the control socket (SOCK_SEQPACKET) are JSON objects:
embedder → shim ``{"op": "start"}``, ``{"op": "delete", "force": bool}``;
shim → embedder ``{"created": pid}`` (with the pty master by SCM_RIGHTS),
``{"ok": true}``, ``{"error": class, "message": text}``,
``{"exited": wait_status, "stats": {...}}``.
"""

from __future__ import annotations

import _signal
import _socket
import posix
import select
import time

from pyoci.errors import PyociError
from pyoci.util import jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyoci.ops.lifecycle import RuntimeOptions


def _send(ctl: _socket.socket, msg: dict[str, Any], fds: list[int] | None = None) -> None:
    data = jsonio.dumps(msg).encode()
    try:
        if fds:
            from pyoci.util.fdpass import pack_fds

            ctl.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, pack_fds(fds))])
        else:
            ctl.send(data)
    except OSError:
        pass  # the embedder is gone: EOF on the next read says so


def _error(exc: BaseException) -> dict[str, Any]:
    msg: dict[str, Any] = {"error": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, OSError) and exc.errno is not None:
        msg["errno"] = exc.errno
    return msg


def cgroup_stats(opts: RuntimeOptions, container_id: str) -> dict[str, Any]:
    """``oom_kills``, ``memory_peak`` (bytes, None where the kernel keeps none),
    ``memory_current``, ``cpu_ns``, ``pids`` of the container's cgroup; empty
    when it has none.  Only the files these need (a full ``stats`` reads some
    forty: 2-3 ms a container)."""
    from pyoci.ops import lifecycle

    try:
        _cdir, record, _status = lifecycle.load(opts, container_id)
    except (OSError, PyociError):
        return {}
    return stats_of(record)


def stats_of(record: dict[str, Any]) -> dict[str, Any]:
    """``cgroup_stats`` of the container whose state record is ``record``."""
    if not record.get("cgroup"):
        return {}
    try:
        from pyoci.ops.cgroup_verbs import _manager

        mgr = _manager(record)
    except (OSError, PyociError):
        return {}
    v1, unified = mgr.v1, mgr.unified
    on_v2 = set(mgr.v2) if unified is not None else set()
    out: dict[str, Any] = {"oom_kills": 0, "cpu_ns": 0, "pids": 0, "memory_current": 0}
    out["memory_peak"] = None
    try:
        out["oom_kills"] = mgr.oom_kill_count()
        if "cpuacct" in v1:
            out["cpu_ns"] = _number(f"{v1['cpuacct']}/cpuacct.usage")
        elif unified is not None:
            usage = _keyed(f"{unified}/cpu.stat").get("usage_usec")
            out["cpu_ns"] = (usage or 0) * 1000
        if "memory" in v1:
            out["memory_current"] = _number(f"{v1['memory']}/memory.usage_in_bytes")
            out["memory_peak"] = _number(f"{v1['memory']}/memory.max_usage_in_bytes") or None
        elif "memory" in on_v2 and unified is not None:
            out["memory_current"] = _number(f"{unified}/memory.current")
            out["memory_peak"] = _number(f"{unified}/memory.peak") or None
        if "pids" in v1:
            out["pids"] = _number(f"{v1['pids']}/pids.current")
        elif unified is not None:
            out["pids"] = _number(f"{unified}/pids.current")
    except (OSError, ValueError):
        pass  # the container is gone: what was read so far
    return out


def _number(path: str) -> int:
    """The integer a cgroup file holds; 0 when it does not exist (older kernels)."""
    try:
        fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)
    except FileNotFoundError:
        return 0
    try:
        text = posix.read(fd, 64)
    finally:
        posix.close(fd)
    return int(text.split()[0]) if text.strip() and text.split()[0].isdigit() else 0


def _keyed(path: str) -> dict[str, int]:
    try:
        fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)
    except FileNotFoundError:
        return {}
    try:
        text = posix.read(fd, 4096)
    finally:
        posix.close(fd)
    out: dict[str, int] = {}
    for line in text.decode().splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            out[key] = int(value)
    return out


def main(argv: list[str]) -> int:
    from pyoci import native
    from pyoci.native import consts as c
    from pyoci.ops import lifecycle
    from pyoci.ops.container import create
    from pyoci.state import model

    root, container_id, bundle, ctl_fd, flags, config_text = argv
    # the embedder validated it (as create validates) and sent it in the request
    config = jsonio.loads(config_text) if config_text else None
    ctl = _socket.socket(fileno=int(ctl_fd))
    opts = lifecycle.RuntimeOptions(root, systemd_cgroup="s" in flags, rootless="r" in flags)
    native.prctl(c.PR_SET_CHILD_SUBREAPER, 1)
    proxy = None
    if "t" in flags:
        from pyoci.ops.console_proxy import ConsoleProxy

        proxy = ConsoleProxy()

    t0 = time.perf_counter()
    try:
        # run(): start at once (one round trip less; create itself starts it
        # when no hook or terminal is in between)
        state = create(
            opts,
            container_id,
            bundle,
            console_fd=proxy.child_fd if proxy else -1,
            start="a" in flags,
            config=config,
        )
        master = proxy.receive_master() if proxy is not None else -1
        if "a" in flags and state.status == model.CREATED:
            lifecycle.start(opts, container_id)
    except BaseException as exc:  # reported to the embedder
        if proxy is not None:
            proxy.close()
        # (the embedder removes the bundle: it is waiting for this answer)
        try:
            lifecycle.delete(opts, container_id, force=True)
        except PyociError:
            pass
        _send(ctl, _error(exc))
        return 1
    # the init holds the container's stdio now: let the embedder's pipes see EOF with it
    null = posix.open("/dev/null", posix.O_RDWR)
    for fd in (0, 1, 2):
        posix.dup2(null, fd)
    posix.close(null)
    init_pid = state.pid or 0
    took = time.perf_counter() - t0
    created: dict[str, Any] = {"created": init_pid, "took": took, "started": "a" in flags}
    _send(ctl, created, [master] if master >= 0 else None)
    if proxy is not None:
        proxy.close()  # closes our copy of the master too
    code = _serve(ctl, opts, container_id, init_pid, auto_delete="d" in flags)
    if code == EMBEDDER_GONE and "b" in flags:
        _remove_bundle(bundle)
    return 0


EMBEDDER_GONE = 3


def _remove_bundle(bundle: str) -> None:
    """The bundle pyoci made for the embedder (only its config.json)."""
    try:
        posix.unlink(f"{bundle}/config.json")
        posix.rmdir(bundle)
    except OSError:
        pass


def _serve(
    ctl: _socket.socket,
    opts: RuntimeOptions,
    container_id: str,
    init_pid: int,
    *,
    auto_delete: bool = False,
) -> int:
    """Serve the embedder's requests until the container is deleted.
    ``auto_delete`` (``run()``): delete it as soon as its init has exited,
    then report the exit (one round trip less)."""
    from pyoci.ops import lifecycle
    from pyoci.util.fdpass import cmsg_space, unpack_fds

    pidfd = posix.pidfd_open(init_pid)
    poller = select.poll()
    poller.register(ctl.fileno(), select.POLLIN)
    poller.register(pidfd, select.POLLIN)
    execs: dict[int, int] = {}  # pidfd -> pid of the processes exec'd on request
    reaped: dict[int, int] = {}  # pid -> wait status, of those not reported yet
    while True:
        try:
            events = poller.poll()
        except InterruptedError:
            continue
        for fd, _ev in events:
            if fd == pidfd or fd in execs:
                _reap(reaped)
                if fd in execs and execs[fd] in reaped:
                    pid = execs.pop(fd)
                    poller.unregister(fd)
                    posix.close(fd)
                    _send(ctl, {"exec_exited": pid, "status": reaped.pop(pid)})
                if fd == pidfd and init_pid in reaped:
                    poller.unregister(pidfd)
                    posix.close(pidfd)
                    pidfd = -1
                    exited: dict[str, Any] = {"exited": reaped.pop(init_pid)}
                    if auto_delete:
                        try:
                            exited["stats"] = _stats_and_delete(opts, container_id)
                            exited["deleted"] = True
                        except (OSError, PyociError) as exc:
                            exited["delete_error"] = _error(exc)
                    if "stats" not in exited:
                        exited["stats"] = cgroup_stats(opts, container_id)
                    _send(ctl, exited)
                    if auto_delete and exited.get("deleted"):
                        return 0
                for other in [p for p in reaped if p != init_pid and p not in execs.values()]:
                    del reaped[other]  # an orphan that was not ours to report
                continue
            if fd != ctl.fileno():
                continue  # an exec'd process's pidfd already handled in this round
            fds: list[int] = []
            try:
                data, anc, _flags, _addr = ctl.recvmsg(65536, cmsg_space(3))
                for level, kind, payload in anc:
                    if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                        fds += unpack_fds(payload)
            except OSError:
                data = b""
            if not data:  # the embedder is gone: nothing may outlive it
                for f in fds:
                    posix.close(f)
                try:
                    lifecycle.delete(opts, container_id, force=True)
                except PyociError:
                    pass
                return EMBEDDER_GONE
            msg = jsonio.loads(data)
            op = msg.get("op")
            reply: dict[str, Any] = {"ok": True}
            try:
                if op == "start":
                    lifecycle.start(opts, container_id)
                elif op == "delete":
                    live = pidfd >= 0
                    stats = cgroup_stats(opts, container_id) if live else {}
                    lifecycle.delete(opts, container_id, force=bool(msg.get("force")))
                    if live:  # killed by the delete: its status before the answer
                        _reap(reaped)
                        if init_pid in reaped:
                            _send(ctl, {"exited": reaped.pop(init_pid), "stats": stats})
                elif op == "exec":
                    pid = _exec(opts, container_id, msg, fds)
                    efd = posix.pidfd_open(pid)
                    execs[efd] = pid
                    poller.register(efd, select.POLLIN)
                    reply = {"exec_started": pid}
                elif op == "exec_kill":
                    pid = int(msg["pid"])
                    if pid in execs.values():  # not reaped yet: the pid is still its
                        _kill_tree(pid)
                else:
                    raise PyociError(f"shim: unknown request {op!r}")
            except (OSError, PyociError) as exc:
                _send(ctl, _error(exc))
                continue
            finally:
                for f in fds:
                    posix.close(f)
            _send(ctl, reply)
            if op == "delete":
                return 0


def _stats_and_delete(opts: RuntimeOptions, container_id: str) -> dict[str, Any]:
    """run()'s end: the accounting, then delete's work, from one read of the
    state (the init has exited and been reaped here: the container is stopped;
    what may be left in its cgroup is killed by the removal, as delete does)."""
    from pyoci.ops import lifecycle
    from pyoci.state.store import StateStore

    cdir = StateStore(opts.root).find(container_id)
    cdir.lock()
    try:
        record = cdir.read()
        stats = stats_of(record)
        lifecycle._destroy(cdir, record)
    finally:
        cdir.unlock()
    return stats


def _exec(opts: RuntimeOptions, container_id: str, msg: dict[str, Any], fds: list[int]) -> int:
    """Start ``msg["args"]`` in the container with the embedder's stdio ``fds``."""
    from pyoci.ops import lifecycle
    from pyoci.ops.exec import process_from_args, spawn

    if len(fds) != 3:
        raise PyociError("shim: exec without its three stdio fds")
    _cdir, record, _status = lifecycle.load(opts, container_id)
    process = process_from_args(
        record.get("config") or {}, list(msg["args"]), cwd=msg.get("cwd"),
        env=msg.get("env"), user=msg.get("user"),
    )
    for target, fd in enumerate(fds):
        posix.dup2(fd, target)
    try:
        return spawn(opts, container_id, process)
    finally:
        null = posix.open("/dev/null", posix.O_RDWR)
        for target in (0, 1, 2):
            posix.dup2(null, target)
        posix.close(null)


def _children(pid: int) -> list[int]:
    try:
        tasks = posix.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found: list[int] = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                found += [int(p) for p in f.read().split()]
        except OSError:
            pass
    return found


def _session(sid: int) -> list[int]:
    """The processes of the session ``sid`` (as the host sees them)."""
    found: list[int] = []
    for entry in posix.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rfind(b")") + 2 :].split()
        if len(fields) > 3 and fields[3] == b"%d" % sid:
            found.append(int(entry))
    return found


def _kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and every process descended from it or left in its
    session (an exec'd process leads a session of its own: a child that
    double-forked away is re-parented to the container's init but stays in
    it), stopped first so that none forks or escapes while they are walked;
    nothing else."""
    stopped: list[int] = []
    seen: set[int] = set()
    for _ in range(100):
        todo, fresh = [pid, *_session(pid)], []
        while todo:
            p = todo.pop()
            if p not in seen:
                fresh.append(p)
            todo += _children(p)
        if not fresh:
            break
        for p in fresh:
            seen.add(p)
            try:
                pidfd = posix.pidfd_open(p)  # (pins the process: no pid reuse from here)
            except OSError:
                continue
            try:
                _signal.pidfd_send_signal(pidfd, 19)  # SIGSTOP
                stopped.append(pidfd)
            except OSError:
                posix.close(pidfd)
    poller = select.poll()
    for pidfd in stopped:
        try:
            _signal.pidfd_send_signal(pidfd, 9)
            poller.register(pidfd, select.POLLIN)
        except OSError:
            pass
    # the answer waits until they are gone (bounded): a caller looking right
    # after sees none of them
    left, deadline = len(stopped), time.monotonic() + 5
    while left and time.monotonic() < deadline:
        for pidfd, _ev in poller.poll(100):
            poller.unregister(pidfd)
            left -= 1
    for pidfd in stopped:
        posix.close(pidfd)


def _reap(reaped: dict[int, int]) -> None:
    """Reap every child that exited (orphans re-parented to us too) and keep
    their wait statuses."""
    while True:
        try:
            got, status = posix.waitpid(-1, posix.WNOHANG)
        except ChildProcessError:
            return
        if got == 0:
            return
        reaped[got] = status
