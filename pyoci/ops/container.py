"""The parent side of ``create`` and ``run`` (the lean lifecycle commands,
state/start/kill/delete, are in ``pyoci.ops.lifecycle`` and re-exported here).

These functions are what the CLI and the embedding API (``pyoci.api``) call.
They raise ``PyociError`` subclasses and leave nothing behind on failure.
"""

from __future__ import annotations

import posix
import sys

from pyoci import SPEC_VERSION
from pyoci.errors import (
    PyociError,
    SetupError,
)
from pyoci.ops.lifecycle import (
    RuntimeOptions,
    _hook_state,
    _now,
    _write_pid_file,
    delete,
    kill,
    kill_and_wait,
    list_containers,
    load,
    remove_cgroup,
    start,
    state,
    state_from_record,
)
from pyoci.state import model
from pyoci.state.status import process_start_time
from pyoci.state.store import ContainerDir, StateStore
from pyoci.util import jsonio, lean_os, log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyoci.cgroups import CgroupManager
    from pyoci.process.plan import LaunchPlan

__all__ = [
    "RuntimeOptions",
    "create",
    "delete",
    "kill",
    "list_containers",
    "load",
    "run",
    "start",
    "state",
    "state_from_record",
]


class _Creation:
    """One ``create`` in progress: what to undo if it fails."""

    def __init__(self, opts: RuntimeOptions, container_id: str) -> None:
        self.opts = opts
        self.id = container_id
        self.cdir: ContainerDir | None = None
        self.cgroup: CgroupManager | None = None
        self.stage1_pid = 0
        self.sock: Any = None  # our end of stage 1's sync socket
        self.init_pid = 0
        self.init_pidfd = -1
        self.hooks_started = False
        self.config: dict[str, Any] = {}
        self.record: dict[str, Any] = {}

    def rollback(self) -> None:
        if self.stage1_pid:
            try:
                posix.kill(self.stage1_pid, 9)
            except ProcessLookupError:
                pass
            try:
                posix.waitpid(self.stage1_pid, 0)
            except ChildProcessError:
                pass
        if self.init_pidfd >= 0:
            kill_and_wait(self.init_pidfd)
            posix.close(self.init_pidfd)
            self.init_pidfd = -1
        if self.cgroup is not None:
            try:
                remove_cgroup(self.cgroup)  # what is left in it killed first, as delete
            except (OSError, PyociError) as exc:
                log.warning(f"rollback: remove cgroup: {exc}")
        # As delete (lifecycle 12-13): the container is deleted, then the
        # poststop hooks run.
        if self.cdir is not None:
            self.cdir.remove()
        if self.hooks_started:
            from pyoci.ops import hooks

            for w in hooks.run_hooks(
                self.config, "poststop", _hook_state(self.record, model.STOPPED), warn_only=True
            ):
                log.warning(w)


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
    start: bool = False,
    config: dict[str, Any] | None = None,
) -> model.ContainerState:
    """``console_fd``: instead of ``console_socket``, an already-connected socket
    (pyoci's own console proxy for ``run``); the caller keeps it.

    ``start``: start the container too when nothing has to happen between
    (``run``): no startContainer or poststart hook, no terminal (its master
    is passed on first); then no exec.fifo is made, the init execs the user
    process as soon as it is set up, and the state returned is running.
    Otherwise (or without ``start``) the state is created, for ``start``.

    ``config``: the config itself, already validated as ``load_bundle``
    validates (the embedding API does it before sending it to its shim);
    ``bundle`` is then only the directory relative paths are resolved from."""
    if config is None:
        from pyoci.spec.load import read_bundle

        config, bundle_abs = read_bundle(bundle)
        validated = False
    else:
        bundle_abs = lean_os.abspath(bundle)
        validated = True
    job = _Creation(opts, container_id)
    job.config = config
    listen_fds = 0
    listen_fds_env = lean_os.getenv("LISTEN_FDS") or ""
    if listen_fds_env.isdigit():
        listen_fds = int(listen_fds_env)
    from pyoci.process.plan import LaunchPlan

    plan = LaunchPlan(
        container_id=container_id,
        config=config,
        bundle=bundle_abs,
        rootfs="",
        preserve_fds=preserve_fds,
        listen_fds=listen_fds,
        no_pivot=no_pivot,
        no_new_keyring=no_new_keyring,
        rootless=opts.rootless,
    )
    # Stage 1 now, once the config is read: its imports (~5 ms) run on the
    # other CPU while we validate the config and make the state directory, the
    # record, the cgroups and the seccomp program; it waits for the rest of its
    # plan (PLAN: only once all that succeeded) having made nothing, and uses
    # nothing of the config before.  Where they are imported already (the
    # embedding API's fork server preloads them) there is nothing to overlap,
    # and every page we write meanwhile would be copied: stage 1 is forked
    # just before PLAN then.
    if "pyoci.init.stage" not in sys.modules:
        _fork_stage1(job, plan)
    try:
        from pyoci.spec.load import rootfs_of, validate

        if not validated:
            validate(config, bundle_abs)
        plan.rootfs = rootfs_of(config, bundle_abs)
        if posix.geteuid() != 0:
            _check_rootless_config(config)
        check_intel_rdt(config)
        for warning in _config_warnings(config):
            log.warning(warning)
        from pyoci.cgroups.manager import manager_for_create

        linux: dict[str, Any] = config.get("linux") or {}
        cgroup = manager_for_create(
            container_id,
            linux.get("cgroupsPath"),
            systemd=opts.systemd_cgroup,
            rootless=opts.rootless,
            resources=linux.get("resources"),
            annotations=config.get("annotations"),
        )
        job.cdir = StateStore(opts.root).new(container_id)
        state = _create(
            job,
            plan,
            cgroup,
            pid_file=pid_file,
            console_socket=console_socket,
            console_peer=console_fd,
            start_now=start and _can_start_at_create(config),
        )
    except BaseException as exc:
        job.rollback()
        if isinstance(exc, PyociError):
            raise
        if isinstance(exc, OSError):
            where = f": {exc.filename}" if exc.filename else ""
            raise SetupError(f"create {container_id}: {exc.strerror}{where}") from None
        raise
    finally:
        if job.sock is not None:
            job.sock.close()
    if job.init_pidfd >= 0:
        posix.close(job.init_pidfd)
    # Only after success: podman parses its runtime log as one JSON object (the
    # error); engines' tests look for this line to know pyoci ran.
    log.info(f"pyoci create {container_id}")
    return state


def _fork_stage1(job: _Creation, plan: LaunchPlan) -> None:
    """Fork stage 1 (``pyoci.init.stage.stage1``); ``job.sock`` is our end of
    its sync socket."""
    from pyoci.process import sync

    me = posix.getpid()
    parent_sock, child_sock = sync.SyncSocket.pair()
    try:
        pid = posix.fork()
    except OSError:
        parent_sock.close()
        child_sock.close()
        raise
    if pid == 0:  # pragma: no cover - child
        # Stage 1 imports the init's modules (and the native layer) itself: the
        # runtime process never needs them, and does not carry them (peak RSS).
        # Nothing raised here may unwind into the runtime's code in this child.
        try:
            # first thing, before milliseconds of imports: die with create (killed,
            # it leaves no process behind; its rollback kills us otherwise)
            from pyoci.native.lean import die_with_parent

            die_with_parent(me)
            parent_sock.close()
            from pyoci.init.stage import stage1
        except BaseException as exc:
            try:
                child_sock.send(sync.ERROR, f"stage 1: {type(exc).__name__}: {exc}")
            finally:
                posix._exit(1)
        stage1(plan, child_sock)
    job.stage1_pid = pid
    job.sock = parent_sock
    child_sock.close()


def _can_start_at_create(config: dict[str, Any]) -> bool:
    process = config.get("process")
    if not process or process.get("terminal"):
        return False
    hooks = config.get("hooks") or {}
    return not (hooks.get("startContainer") or hooks.get("poststart"))


def _config_warnings(config: dict[str, Any]) -> list[str]:
    """What the config asks for that pyoci applies only in part (config.md: warn)."""
    from pyoci.util.capabilities import CapabilityPlan, permitted_of_self

    warnings: list[str] = []
    linux: dict[str, Any] = config.get("linux") or {}
    types = {ns.get("type") for ns in linux.get("namespaces") or []}
    if "mount" not in types and (config.get("mounts") or (config.get("root") or {}).get("path")):
        warnings.append(
            "no mount namespace: the container shares the runtime's mounts; root.path "
            "is applied with chroot, mounts are not applied"
        )
    plan = CapabilityPlan((config.get("process") or {}).get("capabilities"))
    if "user" not in types:
        # in a new user namespace the container's sets are not bounded by ours
        plan.restrict_to(permitted_of_self())
    warnings += plan.warnings
    return warnings


def check_intel_rdt(config: dict[str, Any], mountinfo: str = "/proc/self/mountinfo") -> None:
    """linux.intelRdt: pyoci does not implement it; say which of the two it is."""
    if (config.get("linux") or {}).get("intelRdt") is None:
        return
    from pyoci.errors import NotSupported

    with open(mountinfo, "rb") as f:
        mounted = any(line.partition(b" - ")[2].startswith(b"resctrl ") for line in f)
    if not mounted:
        # config-linux.md: without a mounted resctrl in the runtime mount namespace,
        # the runtime MUST generate an error
        raise SetupError(
            "linux.intelRdt: no resctrl filesystem is mounted on this host"
            " (Intel RDT / AMD QoS unavailable)"
        )
    raise NotSupported("linux.intelRdt is not supported by pyoci (resctrl is not managed)")


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
    plan: LaunchPlan,
    cgroup: CgroupManager | None,
    *,
    pid_file: str | None,
    console_socket: str | None,
    console_peer: int = -1,
    start_now: bool = False,
) -> model.ContainerState:
    from pyoci.process import sync

    cdir = job.cdir
    assert cdir is not None
    config = plan.config
    linux: dict[str, Any] = config.get("linux") or {}
    annotations = config.get("annotations") or {}
    me = posix.getpid()
    record: dict[str, Any] = {
        # the version of the spec the state document complies with: ours, not the config's
        "ociVersion": SPEC_VERSION,
        "id": job.id,
        "status": model.CREATING,
        "pid": 0,
        "bundle": plan.bundle,
        "rootfs": plan.rootfs,
        "created": _now(),
        "owner": "",
        "annotations": annotations,
        "creatorPid": me,
        "creatorStartTime": process_start_time(me),
        "rootless": job.opts.rootless,
    }
    if cgroup is not None:
        cgroup.plan()
        record["cgroup"] = cgroup.record()
    job.record = record
    # Before anything else exists: a create killed from here on leaves a record
    # naming all it may have made (its cgroups, itself as the creator: once it
    # is gone, the status is stopped and delete removes everything).
    cdir.write(record)
    if not start_now:
        posix.mkfifo(cdir.fifo_path, 0o622)
        posix.chmod(cdir.fifo_path, 0o622)

    namespaces = {ns["type"]: ns.get("path") for ns in linux.get("namespaces") or []}
    if (
        not start_now
        and "user" in namespaces
        and namespaces["user"] is None
        and posix.geteuid() == 0
    ):
        # the container's root must be able to reach exec.fifo (rootless: the
        # mode allows it, and the init holds an fd opened before the user switch)
        root_uid, root_gid = _host_root_ids(linux)
        posix.chown(cdir.fifo_path, root_uid, root_gid)

    if cgroup is not None:
        planned = _owned(record["cgroup"])
        cgroup.create()  # (undoes itself if it fails)
        job.cgroup = cgroup
        record["cgroup"] = cgroup.record()
        if not _owned(record["cgroup"]) <= planned:
            cdir.write(record)  # a parent re-made after a concurrent removal

    if linux.get("seccomp"):
        from pyoci.seccomp.cache import compile_cached, default_dir

        plan.seccomp = compile_cached(linux["seccomp"], default_dir())  # never under --root

    terminal = bool((config.get("process") or {}).get("terminal"))
    if console_socket is not None:
        if not terminal:
            raise SetupError(  # runc's wording
                "cannot use console socket if pyoci will not detach or allocate tty"
            )
        plan.console_socket_fd = _connect_console(console_socket)
    elif terminal and console_peer >= 0:
        plan.console_socket_fd = console_peer  # (sent, not closed: the caller keeps it)
    elif terminal:
        raise SetupError(
            "cannot allocate tty if pyoci will detach without setting console socket"
        )

    plan.state_dir = cdir.path
    plan.fifo_path = cdir.fifo_path
    plan.start_now = start_now
    try:
        if job.cgroup is not None and _can_spawn_into_cgroup(namespaces):
            _open_spawn_dir(job.cgroup, plan)
            if plan.cgroup_fd < 0:
                _plan_self_join(job.cgroup, plan)
        close_in_child: list[int] = []
        if not job.stage1_pid:
            # forked late (see create): stage 1 inherits our fds, and closes
            # those it gets again by SCM_RIGHTS and the state lock (a flock
            # is shared with every copy of its fd)
            close_in_child = [plan.cgroup_fd, plan.console_socket_fd, cdir.lock_fd]
            _fork_stage1(job, plan)
        payload, fds = plan.handoff([fd for fd in close_in_child if fd >= 0])
        try:
            job.sock.send_fds(sync.PLAN, payload, fds)
        except (BrokenPipeError, ConnectionResetError):
            pass  # stage 1 failed: its ERROR message is what _drive_children reads
    finally:
        # (sent: stage 1 holds its copies)
        if plan.cgroup_fd >= 0:
            posix.close(plan.cgroup_fd)
            plan.cgroup_fd = -1
        if plan.console_socket_fd >= 0 and plan.console_socket_fd != console_peer:
            posix.close(plan.console_socket_fd)
        plan.console_socket_fd = -1
    # stage 1 joins the cgroup itself (clone3 into it, v1 tasks files)
    spawns_into_cgroup = bool(plan.cgroup_dir) or bool(plan.cgroup_tasks)
    parent_sock, pid = job.sock, job.stage1_pid
    try:
        # Without clone3 CLONE_INTO_CGROUP (stage 1 spawns the init into the
        # cgroup itself: nothing to do here, unless it asks with JOIN_CGROUP),
        # stage 1 joins the cgroup now, and the init it forks inherits it.  The
        # first migration into a v1 cgroup waits ~5-20 ms for an RCU grace
        # period: stage 1 meanwhile sets up its namespaces, and waits for
        # CGROUP_DONE only before forking the init.
        # (No thread: the runtime process stays single-threaded.)
        if job.cgroup is not None and not spawns_into_cgroup:
            try:
                job.cgroup.add_process(pid)
            except (OSError, PyociError):
                _raise_child_error(parent_sock)  # stage 1 failed and exited first
                raise
            # the systemd driver knows its unit's directories once it started
            # (and a killed create's delete then stops the unit: "started")
            record["cgroup"] = job.cgroup.record()
            if record["cgroup"].get("driver") == "systemd":
                cdir.write(record)
        new_userns = "user" in namespaces and namespaces["user"] is None
        if not new_userns and not spawns_into_cgroup:
            try:
                parent_sock.send(sync.CGROUP_DONE)
            except (BrokenPipeError, ConnectionResetError):
                pass  # stage 1 failed: its ERROR message is what _drive_children reads
        _drive_children(
            job,
            parent_sock,
            config,
            record,
            cgroup_pending=new_userns and not spawns_into_cgroup,
        )
        status = model.RUNNING if start_now else model.CREATED
        record["status"] = status
        record["config"] = config
        cdir.write(record)
        if start_now:
            # saved while the init execs (a failure still rolls everything back)
            _await_exec(parent_sock)
    except sync.SyncError as exc:
        raise SetupError(str(exc)) from None

    if pid_file:
        _write_pid_file(pid_file, job.init_pid)
    cdir.unlock()
    return state_from_record(record, status)


def _can_spawn_into_cgroup(namespaces: dict[str, str | None]) -> bool:
    """Can stage 1 spawn the init into the cgroup (clone3 CLONE_INTO_CGROUP)?
    The kernel checks stage 1's credentials and cgroup namespace when it does,
    as for a write to ``cgroup.procs``: root in a container's user namespace
    cannot write the host root's cgroup files (a rootless runtime's delegated
    cgroup is its user's, in the namespace too), and a joined cgroup
    namespace must contain both the runtime's cgroup and the container's."""
    if "user" in namespaces and posix.geteuid() == 0:
        return False
    return not namespaces.get("cgroup")


def _open_spawn_dir(cgroup: CgroupManager, plan: LaunchPlan) -> None:
    """Hand stage 1 the container's cgroup2 directory to spawn the init into,
    when joining that one directory is all joining the cgroup takes (pure
    cgroup v2, cgroupfs driver); else stage 1 is moved there as before."""
    directory = cgroup.spawn_dir()
    if directory is not None:
        _open_cgroup_dir(directory, plan)


def _open_cgroup_dir(directory: str, plan: LaunchPlan) -> bool:
    """The O_PATH fd of the cgroup2 directory stage 1 spawns the init into
    (clone3); False (logged) if it cannot be opened: stage 1 is moved then."""
    try:
        plan.cgroup_fd = posix.open(
            directory, posix.O_PATH | posix.O_DIRECTORY | posix.O_CLOEXEC
        )
    except OSError as exc:
        log.debug(f"cgroup {directory}: {exc.strerror}: stage 1 is moved into it instead")
        return False
    plan.cgroup_dir = directory
    return True


def _plan_self_join(cgroup: CgroupManager, plan: LaunchPlan) -> None:
    """v1 and hybrid: stage 1 joins the v1 hierarchies itself (their ``tasks``
    files, no RCU grace period) and, on hybrid, spawns the init into the
    cgroup2 directory; if the directory cannot be opened the parent moves
    stage 1 as before."""
    tasks, unified = cgroup.self_join()
    if not tasks:
        return
    if unified is not None and not _open_cgroup_dir(unified, plan):
        return
    plan.cgroup_tasks = tasks


def _owned(cgroup_record: dict[str, Any]) -> set[str]:
    """The directories a cgroup record lets ``delete`` remove (the systemd
    driver's cgroupfs part is nested in it)."""
    fs = cgroup_record.get("fs", cgroup_record)
    return set(fs.get("owned") or ())


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
        elif kind == sync.JOIN_CGROUP:
            # clone3 into the cgroup was refused (an old kernel, a seccomp
            # filter, no permission): stage 1 joins it and forks, as without
            log.debug(f"{payload.decode(errors='replace')}: stage 1 is moved into the cgroup")
            if job.cgroup is None:
                raise SetupError("sync: JOIN_CGROUP without a cgroup")
            job.cgroup.add_process(job.stage1_pid)
            sock.send(sync.CGROUP_DONE)
        elif kind == sync.INIT_PID:
            job.init_pid = int(payload)
            job.init_pidfd = posix.pidfd_open(job.init_pid)
            posix.waitpid(job.stage1_pid, 0)
            job.stage1_pid = 0
            record["pid"] = job.init_pid
            record["pidStartTime"] = process_start_time(job.init_pid)
            if job.cgroup is None and job.cdir is not None:
                # no cgroup to find it by: a create killed from here on leaves
                # its init's pid for delete
                job.cdir.write(record)
            if linux.get("netDevices"):
                from pyoci.ops.netdevices import move_devices

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
            # From here a failure (a prestart, createRuntime or createContainer
            # hook, or what follows) stops the container and goes on at delete:
            # the rollback runs the poststop hooks (runtime.md lifecycle 3-5 → 12-13).
            job.hooks_started = True
            wanted = config.get("hooks") or {}
            if wanted.get("prestart") or wanted.get("createRuntime"):
                from pyoci.ops import hooks  # as lifecycle: loaded only for hooks to run

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
                    posix.close(fd)
            sock.send(sync.ACK)
        elif kind == sync.READY:
            return
        elif kind == sync.STARTING:
            return  # the init execs the user process (_await_exec)
        elif kind == sync.ERROR:
            raise SetupError(payload.decode(errors="replace"))
        else:
            raise SetupError(f"sync: unexpected message {kind!r}")
        if fd >= 0 and kind != sync.SECCOMP_FD:
            posix.close(fd)


def _await_exec(sock: Any) -> None:
    """After STARTING: end of file (the socket is close-on-exec) when the init
    exec'd the user process, or an ERROR (the execve, the seccomp filter)."""
    from pyoci.process import sync

    try:
        kind, payload, fd = sock.recv()
    except sync.SyncError:
        return
    if fd >= 0:
        posix.close(fd)
    if kind == sync.ERROR:
        raise SetupError(payload.decode(errors="replace"))
    raise SetupError(f"sync: unexpected message {kind!r} after STARTING")


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
        posix.close(fd)
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
    from pyoci.native.lean import set_child_subreaper  # not cffi: peak RSS
    from pyoci.process.foreground import Forwarder, wait_exit, wait_reaped

    if not detach and subreaper:
        set_child_subreaper()
    proxy = None
    if console_socket is None and not detach:
        # with process.terminal, the caller's terminal is wired to the pty
        from pyoci.ops.console_proxy import ConsoleProxy

        proxy = ConsoleProxy()
    # In the foreground, signals to pyoci are the container's: held from here
    # until its init exists, then sent on (as runc's handler, made before it
    # creates); so create may start the container itself.
    forwarder = Forwarder() if not detach else None
    try:
        created = create(
            opts,
            container_id,
            bundle,
            pid_file=pid_file,
            console_socket=console_socket,
            no_pivot=no_pivot,
            no_new_keyring=no_new_keyring,
            preserve_fds=preserve_fds,
            console_fd=proxy.child_fd if proxy is not None else -1,
            start=True,
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
        if forwarder is not None:
            forwarder.start(init_pid)
        if created.status == model.CREATED:
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
    if subreaper:
        code = wait_reaped(init_pid, proxy) or 0
    else:
        wait_exit(init_pid)  # not our child: no exit status (as runc --no-subreaper)
        code = 0
    if not keep:
        delete(opts, container_id, force=True)
    return code
