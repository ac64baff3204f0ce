"""The parent side of the lifecycle: create, start, state, kill, delete, run.

These functions are what the CLI and the embedding API (``pyoci.api``) call.
They raise ``PyociError`` subclasses and leave nothing behind on failure.
"""

from __future__ import annotations

import os

from pyoci import SPEC_VERSION, jsonio, log
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

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyoci.cgroups import CgroupManager


class RuntimeOptions:
    """The global options every operation needs."""

    __slots__ = ("root", "rootless", "systemd_cgroup")

    def __init__(self, root: str, *, systemd_cgroup: bool = False, rootless: bool = False) -> None:
        self.root = root
        self.systemd_cgroup = systemd_cgroup
        self.rootless = rootless


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
    path = os.path.abspath(path)
    tmp = f"{os.path.dirname(path)}/.{os.path.basename(path)}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, str(pid).encode())
    finally:
        os.close(fd)
    os.rename(tmp, path)


# --------------------------------------------------------------------- create


class _Creation:
    """One ``create`` in progress: what to undo if it fails."""

    def __init__(self, opts: RuntimeOptions, container_id: str) -> None:
        self.opts = opts
        self.id = container_id
        self.cdir: ContainerDir | None = None
        self.cgroup: CgroupManager | None = None
        self.stage1_pid = 0
        self.init_pid = 0
        self.init_pidfd = -1
        self.hooks_started = False
        self.config: dict[str, Any] = {}
        self.record: dict[str, Any] = {}

    def rollback(self) -> None:
        if self.stage1_pid:
            try:
                os.kill(self.stage1_pid, 9)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(self.stage1_pid, 0)
            except ChildProcessError:
                pass
        if self.init_pidfd >= 0:
            _kill_and_wait(self.init_pidfd)
            os.close(self.init_pidfd)
            self.init_pidfd = -1
        if self.cgroup is not None:
            try:
                self.cgroup.destroy()
            except (OSError, PyociError) as exc:
                log.warning(f"rollback: remove cgroup: {exc}")
        if self.hooks_started:
            from pyoci import hooks

            for w in hooks.run_hooks(
                self.config, "poststop", _hook_state(self.record, model.STOPPED), warn_only=True
            ):
                log.warning(w)
        if self.cdir is not None:
            self.cdir.remove()


def _kill_and_wait(pidfd: int, timeout_ms: int = 5000) -> None:
    import _signal
    import select

    try:
        _signal.pidfd_send_signal(pidfd, 9)
    except ProcessLookupError:
        return
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    poller.poll(timeout_ms)


def create(
    opts: RuntimeOptions,
    container_id: str,
    bundle: str,
    *,
    pid_file: str | None = None,
    console_socket: str | None = None,
    no_pivot: bool = False,
    no_new_keyring: bool = False,
    preserve_fds: int = 0,
    console_fd: int = -1,
    _keep_pidfd: bool = False,
) -> model.ContainerState:
    """``console_fd``: instead of ``console_socket``, an already-connected socket
    (pyoci's own console proxy for ``run``); the caller keeps it."""
    from pyoci.spec.load import load_bundle

    config, bundle_abs, rootfs = load_bundle(bundle)
    if os.geteuid() != 0:
        _check_rootless_config(config)
    store = StateStore(opts.root)
    job = _Creation(opts, container_id)
    job.config = config
    job.cdir = store.new(container_id)
    try:
        state = _create(
            job,
            config,
            bundle_abs,
            rootfs,
            pid_file=pid_file,
            console_socket=console_socket,
            no_pivot=no_pivot,
            no_new_keyring=no_new_keyring,
            preserve_fds=preserve_fds,
            console_peer=console_fd,
        )
    except BaseException as exc:
        job.rollback()
        if isinstance(exc, PyociError):
            raise
        if isinstance(exc, OSError):
            where = f": {exc.filename}" if exc.filename else ""
            raise SetupError(f"create {container_id}: {exc.strerror}{where}") from None
        raise
    if job.init_pidfd >= 0 and not _keep_pidfd:
        os.close(job.init_pidfd)
    # Only after success: podman parses its runtime log as one JSON object (the
    # error); engines' tests look for this line to know pyoci ran.
    log.info(f"pyoci create {container_id}")
    return state


def _check_rootless_config(config: dict[str, Any]) -> None:
    """An unprivileged user can only set up a container inside a user namespace."""
    from pyoci.errors import ConfigError

    linux: dict[str, Any] = config.get("linux") or {}
    if not any(ns.get("type") == "user" for ns in linux.get("namespaces") or []):
        raise ConfigError(
            'rootless containers need a user namespace: add {"type":"user"} to'
            " linux.namespaces and uidMappings/gidMappings (see pyoci spec --rootless)"
        )


def _create(
    job: _Creation,
    config: dict[str, Any],
    bundle: str,
    rootfs: str,
    *,
    pid_file: str | None,
    console_socket: str | None,
    no_pivot: bool,
    no_new_keyring: bool,
    preserve_fds: int,
    console_peer: int = -1,
) -> model.ContainerState:
    from pyoci.process import sync
    from pyoci.process.plan import LaunchPlan

    cdir = job.cdir
    assert cdir is not None
    linux: dict[str, Any] = config.get("linux") or {}
    annotations = config.get("annotations") or {}
    me = os.getpid()
    record: dict[str, Any] = {
        # the version of the spec the state document complies with: ours, not the config's
        "ociVersion": SPEC_VERSION,
        "id": job.id,
        "status": model.CREATING,
        "pid": 0,
        "bundle": bundle,
        "rootfs": rootfs,
        "created": _now(),
        "owner": "",
        "annotations": annotations,
        "creatorPid": me,
        "creatorStartTime": process_start_time(me),
        "rootless": job.opts.rootless,
    }
    job.record = record
    cdir.write(record)
    os.mkfifo(cdir.fifo_path, 0o622)
    os.chmod(cdir.fifo_path, 0o622)

    namespaces = {ns["type"]: ns.get("path") for ns in linux.get("namespaces") or []}
    if "user" in namespaces and namespaces["user"] is None and os.geteuid() == 0:
        # the container's root must be able to reach exec.fifo (rootless: the
        # mode allows it, and the init holds an fd opened before the user switch)
        root_uid, root_gid = _host_root_ids(linux)
        os.chown(cdir.fifo_path, root_uid, root_gid)

    from pyoci.cgroups.manager import manager_for_create

    resources = linux.get("resources")
    job.cgroup = manager_for_create(
        job.id,
        linux.get("cgroupsPath"),
        systemd=job.opts.systemd_cgroup,
        rootless=job.opts.rootless,
        resources=resources,
    )
    if job.cgroup is not None:
        job.cgroup.create()
        record["cgroup"] = job.cgroup.record()
        # a create killed from here on leaves a record that delete can clean up
        cdir.write(record)

    seccomp = None
    if linux.get("seccomp"):
        from pyoci.seccomp.cache import compile_cached

        seccomp = compile_cached(linux["seccomp"], f"{job.opts.root}/.cache/seccomp")

    terminal = bool((config.get("process") or {}).get("terminal"))
    console_fd = -1
    if console_socket is not None:
        if not terminal:
            raise SetupError(  # runc's wording
                "cannot use console socket if pyoci will not detach or allocate tty"
            )
        console_fd = _connect_console(console_socket)
    elif terminal and console_peer >= 0:
        console_fd = os.dup(console_peer)
    elif terminal:
        raise SetupError(
            "cannot allocate tty if pyoci will detach without setting console socket"
        )

    listen_fds = 0
    if os.environ.get("LISTEN_FDS", "").isdigit():
        listen_fds = int(os.environ["LISTEN_FDS"])

    plan = LaunchPlan(
        container_id=job.id,
        config=config,
        bundle=bundle,
        rootfs=rootfs,
        state_dir=cdir.path,
        fifo_path=cdir.fifo_path,
        console_socket_fd=console_fd,
        preserve_fds=preserve_fds,
        listen_fds=listen_fds,
        no_pivot=no_pivot,
        no_new_keyring=no_new_keyring,
        rootless=job.opts.rootless,
        seccomp=seccomp,
    )
    if cdir.lock_fd >= 0:
        plan.close_in_child.append(cdir.lock_fd)
    parent_sock, child_sock = sync.SyncSocket.pair()
    from pyoci.init.stage import stage1

    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        parent_sock.close()
        stage1(plan, child_sock)
    job.stage1_pid = pid
    child_sock.close()
    if console_fd >= 0:
        os.close(console_fd)
    try:
        # Stage 1 joins the cgroup now, and the init it forks inherits it.  The
        # first migration into a v1 cgroup waits ~5-20 ms for an RCU grace
        # period: stage 1 meanwhile imports the init's modules and sets up its
        # namespaces, and waits for CGROUP_DONE only before forking the init.
        # (No thread: the runtime process stays single-threaded.)
        if job.cgroup is not None:
            try:
                job.cgroup.add_process(pid)
            except (OSError, PyociError):
                _raise_child_error(parent_sock)  # stage 1 failed and exited first
                raise
        new_userns = "user" in namespaces and namespaces["user"] is None
        if not new_userns:
            try:
                parent_sock.send(sync.CGROUP_DONE)
            except (BrokenPipeError, ConnectionResetError):
                pass  # stage 1 failed: its ERROR message is what _drive_children reads
        _drive_children(job, parent_sock, config, record, cgroup_pending=new_userns)
    except sync.SyncError as exc:
        raise SetupError(str(exc)) from None
    finally:
        parent_sock.close()

    record["status"] = model.CREATED
    record["config"] = config
    cdir.write(record)
    if pid_file:
        _write_pid_file(pid_file, job.init_pid)
    cdir.unlock()
    return state_from_record(record, model.CREATED)


def _drive_children(
    job: _Creation,
    sock: Any,
    config: dict[str, Any],
    record: dict[str, Any],
    *,
    cgroup_pending: bool = False,
) -> None:
    from pyoci.process import sync

    linux: dict[str, Any] = config.get("linux") or {}
    while True:
        kind, payload, fd = sock.recv()
        if kind == sync.USERNS_READY:
            from pyoci.process.idmap import write_id_maps

            write_id_maps(job.stage1_pid, linux, rootless=job.opts.rootless)
            sock.send(sync.MAPS_DONE)
            if cgroup_pending:
                sock.send(sync.CGROUP_DONE)  # after MAPS_DONE: stage 1 reads in order
                cgroup_pending = False
        elif kind == sync.INIT_PID:
            job.init_pid = int(payload)
            job.init_pidfd = os.pidfd_open(job.init_pid)
            os.waitpid(job.stage1_pid, 0)
            job.stage1_pid = 0
            record["pid"] = job.init_pid
            record["pidStartTime"] = process_start_time(job.init_pid)
            if linux.get("netDevices"):
                from pyoci.netdevices import move_devices

                move_devices(linux["netDevices"], job.init_pid)
            state_json = _hook_state(record, model.CREATING)
            try:
                sock.send(sync.STATE, state_json)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the init failed: its ERROR message is next
        elif kind == sync.HOOKS_REQUEST:
            if job.cgroup is not None:
                # Once the rootfs is built (its device nodes made), as runc does
                # once its init is set up: a pids limit of 1 must not stop stage 1
                # from forking the init, nor device rules the init's mknod.
                for w in job.cgroup.apply(linux.get("resources") or {}):
                    log.warning(w)
            from pyoci import hooks

            if hooks.has_hooks(config, "prestart", "createRuntime"):
                job.hooks_started = True
                state_json = _hook_state(record, model.CREATING)
                hooks.run_hooks(config, "prestart", state_json)
                hooks.run_hooks(config, "createRuntime", state_json)
            sock.send(sync.HOOKS_DONE)
        elif kind == sync.SECCOMP_FD:
            from pyoci.seccomp.notify import send_to_listener

            seccomp = linux.get("seccomp") or {}
            try:
                send_to_listener(
                    seccomp.get("listenerPath", ""),
                    fd,
                    jsonio.loads(_hook_state(record, model.CREATING)),
                    seccomp.get("listenerMetadata", ""),
                )
            finally:
                if fd >= 0:
                    os.close(fd)
            sock.send(sync.ACK)
        elif kind == sync.READY:
            return
        elif kind == sync.ERROR:
            raise SetupError(payload.decode(errors="replace"))
        else:
            raise SetupError(f"sync: unexpected message {kind!r}")
        if fd >= 0 and kind != sync.SECCOMP_FD:
            os.close(fd)


def _raise_child_error(sock: Any) -> None:
    """If a child already sent its ERROR message, raise it (it explains the rest)."""
    import select

    from pyoci.process import sync

    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    if not poller.poll(0):
        return
    try:
        kind, payload, fd = sock.recv()
    except (OSError, sync.SyncError):
        return
    if fd >= 0:
        os.close(fd)
    if kind == sync.ERROR:
        raise SetupError(payload.decode(errors="replace"))


def _host_root_ids(linux: dict[str, Any]) -> tuple[int, int]:
    def host_of_zero(maps: list[dict[str, int]]) -> int:
        for m in maps:
            if m["containerID"] <= 0 < m["containerID"] + m["size"]:
                return int(m["hostID"] - m["containerID"])
        return 0

    return (
        host_of_zero(linux.get("uidMappings") or []),
        host_of_zero(linux.get("gidMappings") or []),
    )


def _connect_console(path: str) -> int:
    import _socket

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise SetupError(f"--console-socket {path}: {exc.strerror}") from None
    return int(sock.detach())


# ---------------------------------------------------------------- the others


def load(opts: RuntimeOptions, container_id: str) -> tuple[ContainerDir, dict[str, Any], str]:
    cdir = StateStore(opts.root).get(container_id)
    record = cdir.read()
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
            uid = os.stat(f"{store.root}/{cid}").st_uid
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
        _release_init(cdir, record)
        try:
            os.unlink(cdir.fifo_path)
        except FileNotFoundError:
            pass
        config = record.get("config") or {}
        if (config.get("hooks") or {}).get("poststart"):
            from pyoci import hooks

            for w in hooks.run_hooks(
                config, "poststart", _hook_state(record, model.RUNNING), warn_only=True
            ):
                log.warning(w)
        return state_from_record(record, model.RUNNING)
    finally:
        cdir.unlock()


def _release_init(cdir: ContainerDir, record: dict[str, Any]) -> None:
    """Open exec.fifo: the init, blocked opening its write end, goes on to execve."""
    import select

    pid = int(record["pid"])
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        raise InvalidState("cannot start a container that has stopped") from None
    try:
        if process_start_time(pid) != record.get("pidStartTime"):
            raise InvalidState("cannot start a container that has stopped")
        fifo = os.open(cdir.fifo_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            poller = select.poll()
            poller.register(fifo, select.POLLIN)
            poller.register(pidfd, select.POLLIN)
            while True:
                events = poller.poll(10_000)
                if not events:
                    raise SetupError("start: the container init did not answer in 10s")
                for fd, _ev in events:
                    if fd == fifo:
                        try:
                            data = os.read(fifo, 4096)
                        except BlockingIOError:
                            continue
                        if data[:1] == b"!":  # a startContainer hook failed
                            raise SetupError(data[1:].decode(errors="replace"))
                        if data:
                            return
                    if fd == pidfd:
                        raise SetupError("start: the container init exited before starting")
        finally:
            os.close(fifo)
    finally:
        os.close(pidfd)


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
        pidfd = os.pidfd_open(pid)
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
        os.close(pidfd)


def delete(opts: RuntimeOptions, container_id: str, force: bool = False) -> None:
    store = StateStore(opts.root)
    try:
        cdir = store.get(container_id)
    except ContainerNotFound:
        if force:
            return
        raise
    cdir.lock()
    try:
        try:
            record = cdir.read()
        except ContainerNotFound:
            if force:
                return
            raise
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


def _stop_everything(record: dict[str, Any]) -> None:
    """Kill every process of the container and wait until the init is gone."""
    import _signal
    import select

    pid = int(record.get("pid", 0))
    pidfd = -1
    if pid > 0:
        try:
            pidfd = os.pidfd_open(pid)
            if process_start_time(pid) != record.get("pidStartTime"):
                os.close(pidfd)
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
            try:
                _signal.pidfd_send_signal(pidfd, 9)
            except ProcessLookupError:
                pass
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            poller.poll(10_000)
        finally:
            os.close(pidfd)


def _destroy(cdir: ContainerDir, record: dict[str, Any]) -> None:
    if record.get("cgroup"):
        from pyoci.cgroups.manager import manager_from_record

        _remove_cgroup(manager_from_record(record["cgroup"]))
    config = record.get("config") or {}
    cdir.remove()
    if (config.get("hooks") or {}).get("poststop"):
        from pyoci import hooks

        for w in hooks.run_hooks(
            config, "poststop", _hook_state(record, model.STOPPED), warn_only=True
        ):
            log.warning(w)


def _remove_cgroup(mgr: CgroupManager, timeout: float = 10.0) -> None:
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

_FORWARDED = (1, 2, 3, 10, 12, 14, 15, 18, 20, 21, 22, 23, 24, 25, 26, 27, 29, 30, 31)


def run(
    opts: RuntimeOptions,
    container_id: str,
    bundle: str,
    *,
    pid_file: str | None = None,
    console_socket: str | None = None,
    detach: bool = False,
    keep: bool = False,
    no_pivot: bool = False,
    no_new_keyring: bool = False,
    preserve_fds: int = 0,
    subreaper: bool = True,
) -> int:
    """create + start; unless ``detach``, wait for the init and return its exit code."""
    import _signal

    from pyoci import native
    from pyoci.native import consts as c

    if not detach and subreaper:
        native.prctl(c.PR_SET_CHILD_SUBREAPER, 1)
    proxy = None
    if console_socket is None and not detach:
        # with process.terminal, the caller's terminal is wired to the pty
        from pyoci.console_proxy import ConsoleProxy

        proxy = ConsoleProxy()
    try:
        create(
            opts,
            container_id,
            bundle,
            pid_file=pid_file,
            console_socket=console_socket,
            no_pivot=no_pivot,
            no_new_keyring=no_new_keyring,
            preserve_fds=preserve_fds,
            console_fd=proxy.child_fd if proxy is not None else -1,
        )
    except BaseException:
        if proxy is not None:
            proxy.close()
        raise
    record: dict[str, Any] = {}
    try:
        _cdir, record, _status = load(opts, container_id)
        init_pid = int(record["pid"])
        if proxy is not None:
            if ((record.get("config") or {}).get("process") or {}).get("terminal"):
                proxy.receive_master()
            else:
                proxy.close()
                proxy = None
        if not detach:
            def forward(signum: int, _frame: object) -> None:
                try:
                    os.kill(init_pid, signum)
                except ProcessLookupError:
                    pass

            for signum in _FORWARDED:
                _signal.signal(signum, forward)
        start(opts, container_id)
    except BaseException:
        if proxy is not None:
            proxy.close()
        try:
            delete(opts, container_id, force=True)
        except PyociError:
            pass
        raise
    if detach:
        return 0
    if proxy is not None:
        try:
            proxy.pump_until_exit(init_pid)
        finally:
            proxy.close()
    code = _wait_init(init_pid, subreaper)
    if not keep:
        delete(opts, container_id, force=True)
    return code


def _wait_init(init_pid: int, reaper: bool) -> int:
    import select

    if not reaper:
        pidfd = os.pidfd_open(init_pid)
        try:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            while not poller.poll(1000):
                pass
        finally:
            os.close(pidfd)
        return 0
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            return 0
        if pid == init_pid:
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else (
                128 + os.WTERMSIG(status)
            )
