"""The parent side of ``exec``: a new process in a created or running container."""

from __future__ import annotations

import copy
import os

from pyoci.errors import ConfigError, InvalidState, SetupError
from pyoci.state import model
from pyoci.util import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyoci.init.exec_stage import ExecPlan
    from pyoci.ops.lifecycle import RuntimeOptions


def parse_user(text: str) -> tuple[int, int | None]:
    uid_s, _, gid_s = text.partition(":")
    try:
        return int(uid_s), (int(gid_s) if gid_s else None)
    except ValueError:
        raise ConfigError(f"--user {text!r}: want UID[:GID] (numbers)") from None


def process_from_args(
    config: dict[str, Any],
    args: list[str],
    *,
    tty: bool = False,
    cwd: str | None = None,
    env: list[str] | None = None,
    user: str | None = None,
    additional_gids: list[str] | None = None,
    caps: list[str] | None = None,
    no_new_privs: bool | None = None,
    apparmor: str | None = None,
    process_label: str | None = None,
) -> dict[str, Any]:
    """The container's ``process`` with the exec flags applied (as runc's getProcess)."""
    proc: dict[str, Any] = copy.deepcopy(config.get("process") or {})
    proc["args"] = list(args)
    proc["terminal"] = tty
    proc.pop("consoleSize", None)
    if cwd:
        proc["cwd"] = cwd
    if env:
        proc["env"] = list(proc.get("env") or []) + list(env)
    if user:
        uid, gid = parse_user(user)
        u = proc.setdefault("user", {})
        u["uid"] = uid
        if gid is not None:
            u["gid"] = gid
    if additional_gids:
        try:
            proc.setdefault("user", {})["additionalGids"] = [int(g) for g in additional_gids]
        except ValueError:
            raise ConfigError("--additional-gids: want numeric group ids") from None
    if caps:
        sets = proc.setdefault("capabilities", {})
        # as runc: not inheritable; ambient only if the spec has an inheritable set
        names = ["bounding", "effective", "permitted"]
        if sets.get("inheritable") is not None:
            names.append("ambient")
        for name in names:
            current = list(sets.get(name) or [])
            for cap in caps:
                cap = cap if cap.startswith("CAP_") else "CAP_" + cap.upper()
                if cap not in current:
                    current.append(cap)
            sets[name] = current
    if no_new_privs is not None:  # --no-new-privs[=true|false] given
        proc["noNewPrivileges"] = no_new_privs
    if apparmor:
        proc["apparmorProfile"] = apparmor
    if process_label:
        proc["selinuxLabel"] = process_label
    return proc


def load_process_file(path: str) -> dict[str, Any]:
    from pyoci.util import jsonio

    try:
        with open(path, "rb") as f:
            doc = jsonio.loads(f.read())
    except OSError as exc:
        raise ConfigError(f"--process {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(f"--process {path}: invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"--process {path}: not a JSON object")
    if not doc.get("args"):
        raise ConfigError(f"{os.path.basename(path)}: args: must name the program to run")
    if not isinstance(doc.get("cwd", "/"), str) or not str(doc.get("cwd", "/")).startswith("/"):
        raise ConfigError(f"{os.path.basename(path)}: cwd: must be an absolute path")
    return doc


def check_process(process: dict[str, Any], linux: dict[str, Any]) -> None:
    """The checks create makes of ``process`` (ids, env), before anything is forked."""
    from pyoci.spec.semantic import process_problems

    new_userns = any(
        ns.get("type") == "user" and not ns.get("path") for ns in linux.get("namespaces") or []
    )
    problems = process_problems(process, linux if new_userns else {}, "exec", ("process",))
    if problems:
        raise ConfigError(problems)


def _check_status(status: str) -> None:
    if status == model.STOPPED:
        raise InvalidState("cannot exec in a stopped container")  # runc's wording
    if status == model.PAUSED:
        raise InvalidState("cannot exec in a paused container")
    if not model.can_exec(status):
        raise InvalidState(f"cannot exec in a {status} container")


def exec_process(
    opts: RuntimeOptions,
    container_id: str,
    process: dict[str, Any],
    *,
    detach: bool = False,
    pid_file: str | None = None,
    console_socket: str | None = None,
    preserve_fds: int = 0,
) -> int:
    """Run ``process`` in the container. Returns its exit code (0 when detached)."""
    from pyoci.init.exec_stage import ExecPlan
    from pyoci.ops.container import _connect_console
    from pyoci.ops.lifecycle import _write_pid_file, load

    _cdir, record, status = load(opts, container_id)
    _check_status(status)
    config: dict[str, Any] = record.get("config") or {}
    linux: dict[str, Any] = config.get("linux") or {}
    namespaces = [ns["type"] for ns in linux.get("namespaces") or []]
    check_process(process, linux)
    seccomp = None
    if linux.get("seccomp"):
        from pyoci.seccomp.cache import compile_cached, default_dir

        seccomp = compile_cached(linux["seccomp"], default_dir())  # never under --root
    proxy = None
    console_fd = -1
    if process.get("terminal"):
        if console_socket is not None:
            console_fd = _connect_console(console_socket)
        elif detach:
            raise SetupError(  # runc's wording
                "cannot allocate tty if pyoci will detach without setting console socket"
            )
        else:
            from pyoci.ops.console_proxy import ConsoleProxy

            proxy = ConsoleProxy()
            console_fd = proxy.child_fd
    elif console_socket is not None:
        raise SetupError("cannot use console socket if pyoci will not detach or allocate tty")

    plan = ExecPlan(
        container_id=container_id,
        init_pid=int(record["pid"]),
        config=config,
        process=process,
        namespaces=namespaces,
        console_socket_fd=console_fd,
        preserve_fds=preserve_fds,
        no_new_keyring=True,
        seccomp=seccomp,
    )
    from pyoci.native.lean import set_child_subreaper
    from pyoci.process.foreground import Forwarder, wait_reaped

    forwarder = None
    if not detach:
        # the process is a grandchild: become its reaper to get its exit status
        set_child_subreaper()
        # caught from now on (as runc), delivered once the process exists
        forwarder = Forwarder()
    pid = _start(plan, record, status, console_fd, proxy)
    if pid_file:
        _write_pid_file(pid_file, pid)
    if forwarder is None:
        return 0
    forwarder.start(pid)
    code = wait_reaped(pid, proxy)
    if code is None:
        log.warning("exec: lost the process")
        return 255
    return code


def _start(
    plan: ExecPlan, record: dict[str, Any], status: str, console_fd: int, proxy: Any
) -> int:
    """Fork the exec stage and drive it until the process has called execve;
    its pid (a grandchild: the caller must be a subreaper to reap it)."""
    from pyoci.init.exec_stage import exec_stage1
    from pyoci.process import sync

    linux: dict[str, Any] = plan.config.get("linux") or {}
    parent_sock, child_sock = sync.SyncSocket.pair()
    stage1 = os.fork()
    if stage1 == 0:  # pragma: no cover - child
        parent_sock.close()
        exec_stage1(plan, child_sock)
    child_sock.close()
    if console_fd >= 0 and proxy is None:
        os.close(console_fd)
    pid = 0
    try:
        payload = parent_sock.expect(sync.INIT_PID)
        pid = int(payload)
        os.waitpid(stage1, 0)
        stage1 = 0
        if record.get("cgroup"):
            from pyoci.cgroups.manager import manager_from_record

            manager_from_record(record["cgroup"]).add_process(pid)
        parent_sock.send(sync.CGROUP_DONE)
        if proxy is not None:
            proxy.receive_master()
        # EOF: execve happened (the socket is close-on-exec); else one ERROR line,
        # or first the listener fd of its seccomp filter for the agent
        while True:
            try:
                kind, msg, fd = parent_sock.recv()
            except sync.SyncError:
                kind, msg, fd = b"", b"", -1
            if kind != sync.SECCOMP_FD:
                if fd >= 0:
                    os.close(fd)
                break
            try:
                _send_listener(linux, record, status, pid, fd)
            finally:
                if fd >= 0:
                    os.close(fd)
            parent_sock.send(sync.ACK)
        if kind == sync.ERROR:
            raise SetupError(msg.decode(errors="replace"))
    except sync.SyncError as exc:
        _abort(stage1, pid)
        raise SetupError(str(exc)) from None
    except BaseException:
        _abort(stage1, pid)
        raise
    finally:
        parent_sock.close()
    return pid


def spawn(opts: RuntimeOptions, container_id: str, process: dict[str, Any]) -> int:
    """Start ``process`` (no terminal) in the container with the caller's
    stdio and return its pid without waiting: the embedding API's shim, a
    subreaper, reaps it and reports its wait status."""
    from pyoci.init.exec_stage import ExecPlan
    from pyoci.ops.lifecycle import load

    _cdir, record, status = load(opts, container_id)
    _check_status(status)
    config: dict[str, Any] = record.get("config") or {}
    linux: dict[str, Any] = config.get("linux") or {}
    check_process(process, linux)
    seccomp = None
    if linux.get("seccomp"):
        from pyoci.seccomp.cache import compile_cached, default_dir

        seccomp = compile_cached(linux["seccomp"], default_dir())
    plan = ExecPlan(
        container_id=container_id,
        init_pid=int(record["pid"]),
        config=config,
        process=process,
        namespaces=[ns["type"] for ns in linux.get("namespaces") or []],
        no_new_keyring=True,
        seccomp=seccomp,
    )
    return _start(plan, record, status, -1, None)


def _send_listener(
    linux: dict[str, Any], record: dict[str, Any], status: str, pid: int, fd: int
) -> None:
    """The exec'd process's own seccomp listener goes to the agent, as the init's did."""
    from pyoci.ops.lifecycle import state_from_record
    from pyoci.seccomp.notify import send_to_listener

    if fd < 0:
        raise SetupError("seccomp: the process sent no listener fd")
    seccomp = linux.get("seccomp") or {}
    state = state_from_record(record, status).to_oci()
    state["pid"] = pid  # the process the fd belongs to (as runc's exec)
    send_to_listener(
        seccomp.get("listenerPath", ""), fd, state, seccomp.get("listenerMetadata", "")
    )


def _abort(stage1: int, pid: int) -> None:
    for p in (stage1, pid):
        if p:
            try:
                os.kill(p, 9)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(p, 0)
            except ChildProcessError:
                pass

