"""The lean half of the lifecycle: state, list, start, kill, delete.

These are the commands engines call most (4-6 times per container): this
module imports nothing that ``create`` needs, so they stay fast.  ``create``
and ``run`` are in ``pyoci.ops.container``.
"""

from __future__ import annotations

import posix  # not os, for the short commands: pyoci.util.lean_os says why

from pyoci.errors import (
    CgroupError,
    ContainerNotFound,
    ContainerNotRunning,
    InvalidState,
    PyociError,
    SetupError,
)
from pyoci.state import model
from pyoci.state.status import derive_status, process_start_time
from pyoci.state.store import ContainerDir, StateStore
from pyoci.util import jsonio, lean_os, log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyoci.cgroups import CgroupManager


class RuntimeOptions:
    """The global options every operation needs."""

    __slots__ = ("_rootless", "root", "systemd_cgroup")

    def __init__(
        self, root: str, *, systemd_cgroup: bool = False, rootless: bool | None = False
    ) -> None:
        self.root = root
        self.systemd_cgroup = systemd_cgroup
        self._rootless = rootless

    @property
    def rootless(self) -> bool:
        """``rootless=None`` is runc's ``auto``: unprivileged, or root in a user
        namespace (rootless podman).  Probed on first use: state, start, kill and
        delete never ask."""
        if self._rootless is None:
            from pyoci.process import running_in_user_namespace

            self._rootless = posix.geteuid() != 0 or running_in_user_namespace()
        return self._rootless


def _now() -> str:
    import time

    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def state_from_record(record: dict[str, Any], status: str) -> model.ContainerState:
    return model.ContainerState(
        id=record["id"],
        status=status,
        pid=int(record.get("pid", 0)),
        bundle=record.get("bundle", ""),
        rootfs=record.get("rootfs", ""),
        created=record.get("created", ""),
        owner=record.get("owner", ""),
        annotations=record.get("annotations") or {},
        oci_version=record.get("ociVersion", "1.3.0"),
    )


def _hook_state(record: dict[str, Any], status: str) -> bytes:
    doc = state_from_record(record, status).to_oci()
    doc.pop("rootfs", None)
    doc.pop("created", None)
    doc.pop("owner", None)
    if status == model.STOPPED:
        doc["pid"] = int(record.get("pid", 0))
    return jsonio.dumps(doc).encode()


def _write_pid_file(path: str, pid: int) -> None:
    path = lean_os.abspath(path)
    tmp = f"{lean_os.dirname(path)}/.{lean_os.basename(path)}.{posix.getpid()}"
    fd = posix.open(tmp, posix.O_WRONLY | posix.O_CREAT | posix.O_TRUNC | posix.O_CLOEXEC, 0o644)
    try:
        posix.write(fd, str(pid).encode())
    finally:
        posix.close(fd)
    posix.rename(tmp, path)


# ------------------------------------------------------------------ commands


def load(opts: RuntimeOptions, container_id: str) -> tuple[ContainerDir, dict[str, Any], str]:
    cdir = StateStore(opts.root).find(container_id)
    try:
        record = cdir.read()
    except ContainerNotFound:
        if not cdir.exists():
            raise
        # No state.json yet (or any more): a create at its very start (it holds
        # the lock), or what a create or a delete killed at that instant left,
        # which owns nothing but the directory (pyoci.state.store says why).
        record = {"id": container_id, "status": model.STOPPED, "pid": 0, "bundle": ""}
        return cdir, record, model.CREATING if cdir.busy() else model.STOPPED
    return cdir, record, derive_status(record, cdir.fifo_path)


def state(opts: RuntimeOptions, container_id: str) -> model.ContainerState:
    _cdir, record, status = load(opts, container_id)
    return state_from_record(record, status)


def list_containers(opts: RuntimeOptions) -> list[model.ContainerState]:
    """Every container under the root; ``owner`` is the user owning its state dir (as runc)."""
    import pwd

    out = []
    store = StateStore(opts.root)
    for cid in store.ids():
        try:
            st = state(opts, cid)
            uid = posix.stat(f"{store.root}/{cid}").st_uid
        except (ContainerNotFound, FileNotFoundError):
            continue
        try:
            st.owner = pwd.getpwuid(uid).pw_name
        except KeyError:
            st.owner = f"#{uid}"
        out.append(st)
    return out


def start(opts: RuntimeOptions, container_id: str) -> model.ContainerState:
    cdir = StateStore(opts.root).get(container_id)
    cdir.lock()
    try:
        record = cdir.read()
        status = derive_status(record, cdir.fifo_path)
        if status != model.CREATED:
            if status == model.STOPPED:
                raise InvalidState("cannot start a container that has stopped")
            raise InvalidState(f"cannot start an already {status} container")
        if "process" not in (record.get("config") or {}):
            # runtime.md start: "MUST generate an error if process was not set";
            # the container is stopped (delete then runs the poststop hooks).
            _stop_everything(record)
            raise InvalidState(
                "cannot start a container without process: config.json has none"
                " (config.md: REQUIRED at start); the container is stopped"
            )
        _release_init(cdir, record)
        try:
            posix.unlink(cdir.fifo_path)
        except FileNotFoundError:
            pass
        config = record.get("config") or {}
        if (config.get("hooks") or {}).get("poststart"):
            from pyoci.errors import HookError
            from pyoci.ops import hooks

            try:
                hooks.run_hooks(config, "poststart", _hook_state(record, model.RUNNING))
            except HookError:
                # runtime.md lifecycle 9: generate an error and stop the container
                # (delete then destroys it and runs the poststop hooks)
                _stop_everything(record)
                raise
        return state_from_record(record, model.RUNNING)
    finally:
        cdir.unlock()


def _release_init(cdir: ContainerDir, record: dict[str, Any]) -> None:
    """Open exec.fifo: the init, blocked opening its write end, goes on to execve.

    The init writes ``0`` and keeps the write end open, close-on-exec: the end
    of file comes with the successful execve of the user process (well under a
    millisecond later).  A failure until then (a startContainer hook, the
    execve, the seccomp filter) arrives as ``!`` and its reason: start fails
    with it (runtime.md start), and the container stops.
    """
    import select
    import time

    pid = int(record["pid"])
    try:
        pidfd = posix.pidfd_open(pid)
    except ProcessLookupError:
        raise InvalidState("cannot start a container that has stopped") from None
    try:
        if process_start_time(pid) != record.get("pidStartTime"):
            raise InvalidState("cannot start a container that has stopped")
        fifo = posix.open(cdir.fifo_path, posix.O_RDONLY | posix.O_NONBLOCK | posix.O_CLOEXEC)
        try:
            poller = select.poll()
            poller.register(fifo, select.POLLIN)
            poller.register(pidfd, select.POLLIN)
            got = b""
            deadline = 0.0  # once "0" came: how long to wait for the execve
            while True:
                # Until "0": as long as the init lives (its startContainer hooks
                # run first, with their own timeouts; the pidfd says if it dies).
                timeout = -1 if not got else max(0, int((deadline - time.monotonic()) * 1000))
                events = poller.poll(timeout)
                if not events:
                    return  # going, and no failure so far (an execve from slow storage)
                for fd, _ev in events:
                    if fd == fifo:
                        try:
                            data = posix.read(fifo, 4096)
                        except BlockingIOError:
                            continue
                        if data:
                            if not got:
                                deadline = time.monotonic() + 5.0
                            got += data
                            continue
                        if not got:
                            continue  # no writer yet (a read before its open)
                        # end of file: exec'd, or failed with its reason
                        _, bang, reason = got.partition(b"!")
                        if bang:
                            raise SetupError(reason.decode(errors="replace").strip())
                        return
                    if fd == pidfd:
                        poller.unregister(pidfd)
                        if not got:
                            raise SetupError("start: the container init exited before starting")
        finally:
            posix.close(fifo)
    finally:
        posix.close(pidfd)


def kill(opts: RuntimeOptions, container_id: str, signal: int, all_processes: bool = False) -> None:
    _cdir, record, status = load(opts, container_id)
    if all_processes and record.get("cgroup") and status != model.CREATING:
        # Every process in the cgroup, even when the init is gone (as runc:
        # without its own PID namespace a container's processes outlive it).
        from pyoci.cgroups.manager import manager_from_record

        mgr = manager_from_record(record["cgroup"])
        if status == model.STOPPED and not mgr.pids():
            raise ContainerNotRunning(container_id)
        mgr.kill_all(signal)
        return
    if not model.can_kill(status):
        raise ContainerNotRunning(container_id)
    _signal_init(record, signal)


def _signal_init(record: dict[str, Any], signal: int) -> None:
    import _signal

    pid = int(record["pid"])
    try:
        pidfd = posix.pidfd_open(pid)
    except ProcessLookupError:
        raise ContainerNotRunning(record["id"]) from None
    try:
        # the pidfd pins the process: check it is still the container's init
        if process_start_time(pid) != record.get("pidStartTime"):
            raise ContainerNotRunning(record["id"])
        _signal.pidfd_send_signal(pidfd, signal)
    except ProcessLookupError:
        raise ContainerNotRunning(record["id"]) from None
    finally:
        posix.close(pidfd)


def delete(opts: RuntimeOptions, container_id: str, force: bool = False) -> None:
    store = StateStore(opts.root)
    try:
        cdir = store.find(container_id)
        cdir.lock()  # waits for a create or another delete at work
    except ContainerNotFound:
        if force:
            return
        raise
    try:
        try:
            record = cdir.read()
        except ContainerNotFound:
            # A directory without state.json whose lock was free: left by a create
            # or a delete killed at that instant, it owns nothing else (the record
            # is written before anything is made, and removed last).
            cdir.remove()
            return
        status = derive_status(record, cdir.fifo_path)
        if status != model.STOPPED:
            if not force:
                raise InvalidState(
                    f"cannot delete container {container_id} that is not stopped: {status}"
                )
            _stop_everything(record)
        elif record.get("status") == model.CREATING:
            _stop_everything(record)  # an abandoned create: whatever it left running
        _destroy(cdir, record)
    finally:
        cdir.unlock()


def kill_and_wait(pidfd: int, timeout_ms: int = 10_000) -> None:
    """SIGKILL the process behind ``pidfd`` and wait (bounded) until it has exited."""
    import _signal
    import select

    try:
        _signal.pidfd_send_signal(pidfd, 9)
    except ProcessLookupError:
        return
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    poller.poll(timeout_ms)


def _stop_everything(record: dict[str, Any]) -> None:
    """Kill every process of the container and wait until the init is gone."""
    pid = int(record.get("pid", 0))
    pidfd = -1
    if pid > 0:
        try:
            pidfd = posix.pidfd_open(pid)
            if process_start_time(pid) != record.get("pidStartTime"):
                posix.close(pidfd)
                pidfd = -1
        except ProcessLookupError:
            pidfd = -1
    if record.get("cgroup"):
        from pyoci.cgroups.manager import manager_from_record

        try:
            manager_from_record(record["cgroup"]).kill_all(9)
        except (OSError, PyociError) as exc:
            log.warning(f"kill all processes: {exc}")
    if pidfd >= 0:
        try:
            kill_and_wait(pidfd)
        finally:
            posix.close(pidfd)


def _destroy(cdir: ContainerDir, record: dict[str, Any]) -> None:
    if record.get("cgroup"):
        from pyoci.cgroups.manager import manager_from_record

        remove_cgroup(manager_from_record(record["cgroup"]))
    config = record.get("config") or {}
    cdir.remove()
    if (config.get("hooks") or {}).get("poststop"):
        from pyoci.ops import hooks

        for w in hooks.run_hooks(
            config, "poststop", _hook_state(record, model.STOPPED), warn_only=True
        ):
            log.warning(w)


def remove_cgroup(mgr: CgroupManager, timeout: float = 10.0) -> None:
    """Remove the container's cgroup.  Whatever is still in it is killed first
    (runc does the same for a container without its own PID namespace; exec'd
    processes may also still be exiting).  If it cannot be removed, raise: the
    state stays, and a later ``delete`` tries again (never a leftover cgroup)."""
    import time

    deadline = time.monotonic() + timeout
    delay = 0.001
    killed = False
    while True:
        try:
            left = mgr.pids()
        except OSError:
            left = []
        if not left:
            try:
                mgr.destroy()
                return
            except (OSError, PyociError) as exc:
                problem = str(exc)
        else:
            problem = f"{len(left)} process(es) still in it: {left[:5]}"
            if not killed or delay >= 0.05:
                try:
                    mgr.kill_all(9)
                    killed = True
                except (OSError, PyociError) as exc:
                    log.warning(f"kill the processes left in the cgroup: {exc}")
        if time.monotonic() > deadline:
            raise CgroupError(f"cannot remove the container's cgroup: {problem}")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


# ------------------------------------------------------------------------ run
