"""The container side of ``create``: the stage-1 child and the init.

stage 1 (forked by the parent as soon as the config is loaded): imports what
the init needs, receives the rest of its plan (PLAN), joins namespaces
given by path, unshares the user namespace and waits while the parent writes
its id maps, unshares the other namespaces (cgroup comes later, from the
init), then forks the init, born in the container's cgroup and the new PID
namespace, reports its pid and exits.  The init is born in the cgroup one of
two ways: on a pure cgroup v2 host stage 1 spawns it there with ``clone3``
``CLONE_INTO_CGROUP`` (``pyoci.native.clone3``: no process is ever migrated,
no RCU grace period is waited for); elsewhere, or when the kernel refuses
that, the parent moves stage 1 into the cgroup and stage 1 forks.

init: builds the rootfs, runs its hooks, applies the process settings, says
READY and waits on exec.fifo for ``start``; then execve.  When create starts
the container itself (``LaunchPlan.start_now``: ``run``), it says STARTING
and execs at once.

Every path ends in ``os.execve`` or ``os._exit``; errors go to the parent
as one ERROR message.
"""

from __future__ import annotations

import os

from pyoci import native
from pyoci.errors import PyociError, SetupError
from pyoci.init import security
from pyoci.init.mountplan import plan_mounts
from pyoci.native import consts as c
from pyoci.native.clone3 import clone3_fork
from pyoci.process import running_in_user_namespace, sync

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

    from pyoci.process.plan import LaunchPlan
    from pyoci.process.sync import SyncSocket

# setns order (create: namespaces given by path; exec: all of the init's):
# user first (the others need its capabilities), mount last
JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount")


def _message(exc: BaseException) -> str:
    if isinstance(exc, PyociError):
        msg = str(exc)
    elif isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        msg = f"{exc.strerror or exc}{':' if where else ''}{where}"
    else:
        msg = f"{type(exc).__name__}: {exc}"
    return msg.splitlines()[0] if msg else "container setup failed"


def _report(sock: SyncSocket, exc: BaseException) -> NoReturn:
    try:
        sock.send(sync.ERROR, _message(exc))
    except OSError:
        pass
    os._exit(1)


def _report_after_ready(exc: BaseException, start_fd: int) -> NoReturn:
    """After READY nobody reads the sync socket (create returned): one line on the
    container's stderr (create's: the engine's log), as runc's init; and, once
    ``start`` is listening on exec.fifo, the reason for it (``!`` first)."""
    msg = _message(exc)
    try:
        os.write(2, f"pyoci: {msg}\n".encode(errors="replace"))
    except OSError:
        pass
    if start_fd >= 0:
        try:
            os.write(start_fd, b"!" + msg.encode(errors="replace")[:4000])
        except OSError:
            pass  # start is gone (EPIPE: CPython ignores SIGPIPE)
    os._exit(1)


def stage1(plan: LaunchPlan, sock: SyncSocket) -> NoReturn:
    """Forked by ``create`` as soon as the config is read: the imports (this
    module's and ``_preload_modules``) overlap the parent validating the
    config and making the state directory, the record, the cgroups and the
    seccomp program; then the PLAN message brings the rest of ``plan``.  Until
    it arrives nothing is made and nothing of the config is used: at EOF (the
    parent failed, or was killed) this ends quietly.  It dies with the
    parent (``PR_SET_PDEATHSIG``, set by the forked child before it imports
    this module, ``pyoci.native.lean.die_with_parent``); the init it forks
    does not inherit that."""
    try:
        # What the init imports, imported here, while the parent works (the
        # config is not used before PLAN: the parent validates it meanwhile).
        _preload_modules()
        try:
            kind, payload, fds = sock.recv_fds(2, 1 << 20)
        except sync.SyncError:
            os._exit(1)  # create failed before handing us the plan
        if kind != sync.PLAN:
            for fd in fds:
                os.close(fd)
            raise SetupError(f"sync: expected 'PLAN', got {sync.NAMES.get(kind, kind)!r}")
        plan.take_handoff(payload, fds)
        _preload_for(plan)
        if plan.linux.get("sysctl"):
            from pyoci.spec.sysctl import runtime_namespaces

            plan.runtime_ns = runtime_namespaces()  # the parent's, still
        join_error = _join_v1_self(plan)
        oom = (plan.config.get("process") or {}).get("oomScoreAdj")
        if oom is not None:
            # Here, not in the init: once non-dumpable and in a user namespace,
            # /proc/self/oom_score_adj belongs to the host's root.
            security.set_oom_score_adj(int(oom))
        security.set_non_dumpable()
        # Opened before any namespace change: a rootless container's root (a
        # subordinate uid, say) may not be able to search the state directory.
        fifo_fd = -1 if plan.start_now else os.open(plan.fifo_path, os.O_PATH | os.O_CLOEXEC)
        namespaces = plan.namespaces()
        if any(step.idmap for step in plan_mounts(plan.config.get("mounts") or [], plan.bundle)):
            from pyoci.init import idmapped

            plan.mount_fds = idmapped.prepare(plan)  # in the host's namespaces
        joined: list[tuple[str, int]] = []
        for nstype in JOIN_ORDER:
            path = namespaces.get(nstype)
            if nstype in namespaces and path:
                try:
                    joined.append((nstype, os.open(path, os.O_RDONLY | os.O_CLOEXEC)))
                except OSError as exc:
                    raise PyociError(
                        f"{nstype} namespace {path}: {exc.strerror}"
                    ) from None
        for nstype, fd in joined:
            if nstype == "user":
                native.setns(fd, c.CLONE_NEWUSER, namespaces["user"])
        if "user" in namespaces and not namespaces["user"]:
            native.unshare(c.CLONE_NEWUSER)
            # An unprivileged parent can only write our uid_map/gid_map/setgroups
            # while we are dumpable (else /proc/PID is root's): as runc, briefly.
            native.prctl(c.PR_SET_DUMPABLE, 1)
            sock.send(sync.USERNS_READY, str(os.getpid()))
            sock.expect(sync.MAPS_DONE)
            security.set_non_dumpable()
        if "user" in namespaces:
            _become_root_in_userns()
        for nstype, fd in joined:
            if nstype != "user":
                native.setns(fd, c.NAMESPACE_FLAGS[nstype], namespaces[nstype])
            os.close(fd)
        flags = 0
        for nstype, path in namespaces.items():
            if path is None and nstype not in ("user", "cgroup"):
                flags |= c.NAMESPACE_FLAGS[nstype]
        if flags:
            native.unshare(flags)
        if "time" in namespaces and namespaces["time"] is None:
            _write_time_offsets(plan)
        pid = _spawn_init(plan, sock, join_error)
        if pid == 0:
            init_main(plan, sock, fifo_fd)
        sock.send(sync.INIT_PID, str(pid))
    except BaseException as exc:
        _report(sock, exc)
    os._exit(0)


def _join_v1_self(plan: LaunchPlan) -> str | None:
    """Join the container's v1 hierarchies by writing "0" to their ``tasks``
    files (we are single-threaded: our one thread is the whole process).  The
    kernel moves a thread that moves itself without taking
    cgroup_threadgroup_rwsem, so without the RCU grace period a
    ``cgroup.procs`` write waits for.  Why it failed, or None."""
    for path in plan.cgroup_tasks:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)
        except OSError as exc:
            return f"{path}: {exc.strerror}"
    return None


def _spawn_init(plan: LaunchPlan, sock: SyncSocket, join_error: str | None = None) -> int:
    """Fork the init, born in the container's cgroup: spawned there directly
    when the parent gave us the cgroup2 directory (pure cgroup v2; on hybrid
    after we joined the v1 hierarchies ourselves), forked at once when we
    joined every (v1) hierarchy ourselves, else (or if the kernel refused: no
    clone3 or no CLONE_INTO_CGROUP, a seccomp filter, no permission) forked
    once the parent has moved us there."""
    fd, plan.cgroup_fd = plan.cgroup_fd, -1
    if fd >= 0:
        try:
            if join_error is None:
                return clone3_fork(fd, plan.cgroup_dir)
        except OSError as exc:
            join_error = f"clone3 into {plan.cgroup_dir}: {exc.strerror}"
        finally:
            os.close(fd)  # in both: the init must not hold a host cgroup fd
    elif plan.cgroup_tasks and join_error is None:
        return os.fork()  # pure v1: in every hierarchy already
    if join_error is not None:
        sock.send(sync.JOIN_CGROUP, join_error)
    sock.expect(sync.CGROUP_DONE)
    return os.fork()


def _become_root_in_userns() -> None:
    try:
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    except OSError as exc:
        raise PyociError(
            f"user namespace: cannot become root (is uid/gid 0 mapped?): {exc.strerror}"
        ) from None


def _write_time_offsets(plan: LaunchPlan) -> None:
    offsets = plan.linux.get("timeOffsets") or {}
    lines = []
    for clock in ("monotonic", "boottime"):
        off = offsets.get(clock)
        if off:
            lines.append(f"{clock} {int(off.get('secs', 0))} {int(off.get('nanosecs', 0))}\n")
    if not lines:
        return
    # non-dumpable, /proc/self/* belongs to the host's root: in a user namespace
    # even our own root could not open it
    native.prctl(c.PR_SET_DUMPABLE, 1)
    try:
        fd = os.open("/proc/self/timens_offsets", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, "".join(lines).encode())
        finally:
            os.close(fd)
    except OSError as exc:
        raise PyociError(f"linux.timeOffsets: {exc.strerror}") from None
    finally:
        security.set_non_dumpable()


def init_main(plan: LaunchPlan, sock: SyncSocket, fifo_fd: int) -> NoReturn:
    try:
        _init(plan, sock, fifo_fd)
    except BaseException as exc:
        _report(sock, exc)
    os._exit(1)  # _init only returns by execve


def _preload(plan: LaunchPlan) -> None:
    """Import everything the init needs: after pivot_root nothing can be imported
    (and the container's files must never be executed by the runtime)."""
    _preload_modules()
    _preload_for(plan)


def _preload_for(plan: LaunchPlan) -> None:
    """What this config needs beyond ``_preload_modules``."""
    if plan.seccomp is not None:
        from pyoci.seccomp import load  # noqa: F401


def _preload_modules() -> None:
    """What every init needs, config or not."""
    import _signal  # noqa: F401
    import resource  # noqa: F401

    from pyoci.init import console, lsm, process, procfs, rootfs, waiter  # noqa: F401
    from pyoci.ops import hooks  # noqa: F401

    waiter.preload()


def _init(plan: LaunchPlan, sock: SyncSocket, fifo_fd: int) -> None:
    _preload(plan)
    from pyoci.init import console, procfs, waiter
    from pyoci.ops import hooks

    procfs.handle()  # a private procfs, made before the container's mounts exist
    from pyoci.init.process import ProcessSetup, wait_for_start
    from pyoci.init.rootfs import RootfsBuilder

    config = plan.config
    linux = plan.linux
    namespaces = plan.namespaces()
    process = config.get("process") or {}
    # in a user namespace (new, joined, or the runtime's own): no mknod, and
    # sysfs/mqueue may need the host's instance
    new_userns = running_in_user_namespace()
    new_cgroupns = "cgroup" in namespaces and namespaces["cgroup"] is None

    builder = RootfsBuilder(
        config,
        plan.rootfs,
        plan.bundle,
        new_userns=new_userns,
        cgroup_ns=new_cgroupns,
        console_slave=None,
    )
    builder.mount_fds = plan.mount_fds
    # Without a mount namespace of its own (new or joined), the container shares
    # the runtime's mount namespace (config-linux.md: an unlisted namespace is
    # inherited): mounting or pivot_root here would change the runtime's own
    # namespace, i.e. the host's.  Only root.path applies, as a chroot (runc and
    # crun chroot too; runc also mounts into the host's namespace: we don't).
    own_mounts = "mount" in namespaces
    if own_mounts:
        builder.prepare()
    else:
        builder.root_fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    # Born in the container's cgroup (stage 1 was moved there before forking
    # us): its namespace is rooted there.
    if new_cgroupns:
        native.unshare(c.CLONE_NEWCGROUP)
    if own_mounts:
        builder.mount_all()
    state_json = sock.expect(sync.STATE)
    slave = -1
    if process.get("terminal"):
        slave = console.open_pty(plan, builder)
        builder.console_slave = slave
    if own_mounts:
        builder.setup_dev()
        if process.get("cwd"):
            try:
                builder.make_cwd(process["cwd"])
            except OSError:
                pass  # reported by the chdir below, with the path

    if "network" in namespaces and namespaces["network"] is None:
        native.ifup("lo")
    if config.get("hostname") is not None and "uts" in namespaces:
        native.sethostname(config["hostname"])
    if config.get("domainname") is not None and "uts" in namespaces:
        native.setdomainname(config["domainname"])

    # rootfs built: the parent applies linux.resources and runs the prestart
    # and createRuntime hooks
    sock.send(sync.HOOKS_REQUEST)
    sock.expect(sync.HOOKS_DONE)
    hooks.run_hooks(config, "createContainer", state_json)

    if own_mounts:
        builder.pivot(plan.no_pivot)
    if linux.get("sysctl"):
        _write_sysctls(plan, linux["sysctl"])
    if own_mounts:
        builder.finalize()
        builder.reopen_dev_null()
    else:
        os.close(builder.root_fd)
        builder.root_fd = -1
        if plan.rootfs and plan.rootfs != "/":
            native.chroot(plan.rootfs)
            os.chdir("/")
            procfs.root_changed()

    if slave >= 0:
        console.make_controlling(slave)
    else:
        # a session of its own, as runc's nsexec: CRIU refuses to checkpoint a
        # container whose session leader is outside its PID namespace
        try:
            os.setsid()
        except PermissionError:
            pass  # already a process group leader

    if linux.get("memoryPolicy"):
        security.apply_memory_policy(linux["memoryPolicy"])  # inherited across execve
    if "process" not in config:
        # config.md: process is REQUIRED only at start, which refuses such a container
        # (runtime.md start) and stops it: nothing to prepare, nothing to exec.
        sock.send(sync.READY)
        sock.close()
        _wait_to_be_killed()
    setup = ProcessSetup(
        process,
        container_id=plan.container_id,
        new_keyring=not plan.no_new_keyring,
        userns="user" in namespaces,
        setgroups_allowed=security.setgroups_allowed(),
        preserve_fds=plan.preserve_fds,
        listen_fds=plan.listen_fds,
        oom_score_adj=None,  # set by stage 1, inherited
        personality=linux.get("personality"),
        seccomp=plan.seccomp is not None,  # else nothing to hold CAP_SYS_ADMIN for
    )
    setup.apply()

    seccomp = plan.seccomp
    if seccomp is not None and seccomp.needs_listener:
        # The listener fd must reach the agent while the parent is still here.
        from pyoci.seccomp.load import install

        listener = install(seccomp)
        seccomp = None
        if listener is not None:
            sock.send(sync.SECCOMP_FD, b"", fd=listener)
            os.close(listener)
            sock.expect(sync.ACK)

    if plan.start_now:
        # create starts the container itself (``run``, no startContainer or
        # poststart hook to wait for): no exec.fifo, no waiter.  The parent
        # saves "running" on STARTING; the execve closes this socket
        # (close-on-exec): end of file; a failure before it is an ERROR.
        sock.send(sync.STARTING)
        setup.exec(seccomp)
    handoff = None
    if waiter.available() and not hooks.has_hooks(config, "startContainer"):
        handoff = setup.waiter_handoff(fifo_fd, seccomp)
    sock.send(sync.READY)
    sock.close()
    start_fd = -1
    try:
        if handoff is not None:
            handoff.exec(setup.path, list(process.get("args") or []), setup.env)
        _handle_termination_signals()
        start_fd = wait_for_start(fifo_fd)
        if hooks.has_hooks(config, "startContainer"):
            created = state_json.replace(b'"creating"', b'"created"')
            hooks.run_hooks(config, "startContainer", created)
        os.write(start_fd, b"0")
        setup.exec(seccomp)  # closes start_fd (close-on-exec): start's end of file
    except BaseException as exc:
        _report_after_ready(exc, start_fd)




def _write_sysctls(plan: LaunchPlan, sysctls: dict[str, str]) -> None:
    """linux.sysctl, through our private procfs.  create allowed only keys of a
    namespace the container owns (spec.semantic); checked again here, where the
    namespaces exist: the one a key belongs to must not be the runtime's."""
    from pyoci.init import procfs
    from pyoci.spec.sysctl import NS_FILES, BadSysctl, namespace_of

    proc = procfs.handle()
    pid = proc.self_pid()
    for key, value in sysctls.items():
        try:
            kind = namespace_of(key)
        except BadSysctl as exc:
            raise SetupError(f'sysctl "{key}" is not a valid name: {exc}') from None
        if kind is None:
            raise SetupError(f'sysctl "{key}" is not in a separate kernel namespace')
        st = os.stat(f"{pid}/ns/{NS_FILES[kind]}", dir_fd=proc.fd)
        if (st.st_dev, st.st_ino) == plan.runtime_ns.get(kind):
            raise SetupError(f'sysctl "{key}": the {kind} namespace is the runtime\'s own')
        procfs.write_sysctl(key, value, proc)


def _wait_to_be_killed() -> NoReturn:
    import select

    _handle_termination_signals()
    poller = select.poll()  # no fds, no timeout: sleeps until a signal ends us
    while True:
        poller.poll()


def _exit_on_signal(signum: int, _frame: object) -> None:
    os._exit(128 + signum)


def _handle_termination_signals() -> None:
    """While waiting for start, a signal sent to the container ends it.

    As PID 1 of its namespace, the init ignores signals it has no handler for;
    runc's init (Go) handles them all, so ``kill`` of a created container works.
    execve resets these handlers to the default.
    """
    import _signal

    for signum in (1, 2, 3, 10, 12, 14, 15):
        _signal.signal(signum, _exit_on_signal)
