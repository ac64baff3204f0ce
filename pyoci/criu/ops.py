"""The parent side of ``checkpoint`` and ``restore`` (what the CLI calls).

checkpoint: CRIU dumps the container's process tree (frozen through its cgroup
freezer) into the image directory with ``descriptors.json`` (what the init's
stdio was, as runc writes it); unless ``--leave-running`` or ``--pre-dump``,
CRIU kills the tree and the container is deleted, as runc destroys it.

restore: a new container (state dir, cgroup per manager) whose processes CRIU
brings back: CRIU is moved into the container's cgroup first (its children
inherit it; v1 hierarchies are also named as ``cg_root``), the rootfs is
bind-mounted on ``<state dir>/criu-root`` for CRIU's root, prestart and
createRuntime hooks run when CRIU has made the namespaces (``setup-namespaces``),
and the restored init becomes our child (``rst_sibling``).  CRIU restores
seccomp, AppArmor, capabilities and the mounts itself; pyoci applies none.
Anything failing before the state says ``running`` is undone: processes,
cgroup, state directory, the temporary root bind.
"""

from __future__ import annotations

import os
import posix

from pyoci.criu import messages as M
from pyoci.criu import mounts as MNT
from pyoci.criu.options import (
    CriuOptions,
    config_file,
    dump_opts,
    pipe_inherit_fds,
    restore_opts,
)
from pyoci.criu.swrk import CriuError, Swrk, features, version
from pyoci.errors import InvalidState, NotSupported, PyociError, SetupError
from pyoci.state import model
from pyoci.util import jsonio, lean_os, log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyoci.ops.lifecycle import RuntimeOptions

DESCRIPTORS = "descriptors.json"
DEFAULT_CRIU = "criu"


def criu_binary(path: str | None) -> str:
    """``--criu PATH``, else ``criu`` on PATH (as runc)."""
    name = path or DEFAULT_CRIU
    if "/" in name:
        if not os.access(name, os.X_OK):
            raise SetupError(f"criu binary {name}: not an executable file")
        return name
    import shutil

    found = shutil.which(name, path=os.environ.get("PATH") or "/usr/sbin:/usr/bin:/sbin:/bin")
    if found is None:
        raise SetupError(f"criu binary {name!r} not found in PATH (install criu or pass --criu)")
    return found


def _need_root(verb: str) -> None:
    from pyoci.process import running_in_user_namespace

    if posix.geteuid() != 0 or running_in_user_namespace():
        raise NotSupported(
            f"{verb} needs real root: CRIU cannot {verb} a container without"
            " privileges on the host (rootless checkpoint/restore is not supported)"
        )


def _check_version(criu: str, minimum: tuple[int, int, int], what: str) -> tuple[int, int, int]:
    v = version(criu)
    if v < minimum:
        want = ".".join(map(str, minimum))
        raise NotSupported(f"{what} needs CRIU {want} or newer (found {'.'.join(map(str, v))})")
    return v


def _open_dir(path: str, create: bool) -> int:
    if create:
        try:
            lean_os.makedirs(path, 0o700)
        except OSError as exc:
            raise SetupError(f"{path}: {exc.strerror}") from None
    try:
        return posix.open(path, posix.O_RDONLY | posix.O_DIRECTORY | posix.O_CLOEXEC)
    except OSError as exc:
        raise SetupError(f"{path}: {exc.strerror}") from None


def _ns_path(config: dict[str, Any], ns_type: str) -> str | None:
    for ns in (config.get("linux") or {}).get("namespaces") or []:
        if ns.get("type") == ns_type:
            return ns.get("path") or None
    return None


# external namespaces (a path in the config): CRIU's name, runc's key, the CRIU that has it
_EXT_NS = {
    "network": ("net", "extRootNetNS", (3, 11, 0)),
    "pid": ("pid", "extRootPidNS", (3, 15, 0)),
}


# ------------------------------------------------------------------ checkpoint


def checkpoint(
    opts: RuntimeOptions, container_id: str, o: CriuOptions, criu_path: str | None
) -> None:
    from pyoci.ops.lifecycle import delete
    from pyoci.state.status import derive_status
    from pyoci.state.store import StateStore

    _need_root("checkpoint")
    criu = criu_binary(criu_path)
    cdir = StateStore(opts.root).get(container_id)
    cdir.lock()
    try:
        record = cdir.read()
        status = derive_status(record, cdir.fifo_path)
        if status not in (model.RUNNING, model.PAUSED):
            raise InvalidState(f"Container cannot be checkpointed in {status} state")
        _dump(record, o, criu)
    finally:
        cdir.unlock()
    if not (o.leave_running or o.pre_dump):
        # CRIU has killed the processes: the container is gone (runc destroys it)
        delete(opts, container_id, force=True)


def _dump(record: dict[str, Any], o: CriuOptions, criu: str) -> None:
    config: dict[str, Any] = record.get("config") or {}
    pid = int(record["pid"])
    crit = _check_version(criu, (3, 0, 0), "checkpoint")
    image_fd = _open_dir(o.image_path, create=True)
    work_fd = _open_dir(o.work_path, create=True) if o.work_path else -1
    try:
        req_opts = dump_opts(o, pid, record.get("rootfs") or "/")
        req_opts["images_dir_fd"] = image_fd
        if work_fd >= 0:
            req_opts["work_dir_fd"] = work_fd
        cfg_file = config_file(config.get("annotations") or {})
        if cfg_file:
            req_opts["config_file"] = cfg_file
        external: list[str] = []
        for ns_type, (name, key, minimum) in _EXT_NS.items():
            path = _ns_path(config, ns_type)
            if path and crit >= minimum:
                external.append(f"{name}[{posix.stat(path).st_ino}]:{key}")
        if external:
            req_opts["external"] = external
        freezer = _freezer_path(record)
        if freezer:
            req_opts["freeze_cgroup"] = freezer
        kind = M.DUMP
        if o.pre_dump:
            if not features(criu, {"mem_track": True})["mem_track"]:
                raise NotSupported("--pre-dump: CRIU or the kernel lacks memory tracking")
            kind = M.PRE_DUMP
        status_fd = -1
        if o.lazy_pages:
            if not features(criu, {"lazy_pages": True})["lazy_pages"]:
                raise NotSupported(
                    "--lazy-pages: CRIU or the kernel lacks lazy pages (userfaultfd)"
                )
            if o.status_fd >= 0:
                _check_status_fd(o.status_fd)
                status_fd = o.status_fd
        if not o.pre_dump:
            ext: list[tuple[str, str]] = [(d, d) for d, _src in MNT.bind_mounts(config, "")]
            dest = MNT.cgroup_mount_dest(config)
            if dest and not MNT.has_cgroupns(config):
                ext += [(d, d) for d, _ in _cgroup_binds(dest, pid)]
            ext += [(p, p) for p in MNT.device_paths(config)]
            req_opts["ext_mnt"] = _unique_ext(ext)
            _write_descriptors(o.image_path, pid)

        def on_notify(script: str, _pid: int, _fds: list[int]) -> None:
            nonlocal status_fd
            if script == "status-ready" and status_fd >= 0:
                try:
                    posix.write(status_fd, b"\0")
                except OSError as exc:
                    log.warning(f"cannot write to --status-fd {status_fd}: {exc.strerror}")
                posix.close(status_fd)
                status_fd = -1
            # post-dump, network-lock/unlock: pyoci manages no network devices

        _run(criu, {"type": kind, "opts": req_opts}, o, "dump.log", on_notify, kind == M.PRE_DUMP)
    finally:
        posix.close(image_fd)
        if work_fd >= 0:
            posix.close(work_fd)


def _check_status_fd(fd: int) -> None:
    import fcntl

    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    except OSError as exc:
        raise SetupError(f"invalid --status-fd argument {fd}: {exc.strerror}") from None
    if not flags & (posix.O_WRONLY | posix.O_RDWR):
        raise SetupError(f"invalid --status-fd argument {fd}: not writable")


def _freezer_path(record: dict[str, Any]) -> str | None:
    """The container's freezer cgroup for CRIU (else CRIU stops the tasks with ptrace)."""
    if not record.get("cgroup"):
        return None
    from pyoci.cgroups.manager import manager_from_record

    paths = manager_from_record(record["cgroup"]).paths()
    if "freezer" in paths:
        return paths["freezer"]
    if set(paths) == {""}:  # pure v2: cgroup.freeze (CRIU 3.14+)
        return paths[""]
    return None


def _cgroup_binds(dest: str, pid: int) -> list[tuple[str, str]]:
    with open("/proc/self/mountinfo") as f:
        hierarchies = MNT.host_hierarchies(f.read())
    with open(f"/proc/{pid}/cgroup") as f:
        own = MNT.parse_proc_cgroup(f.read())
    return MNT.cgroup_binds(dest, hierarchies, own)


def _unique_ext(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    seen: set[str] = set()
    out = []
    for key, val in pairs:
        if key not in seen:
            seen.add(key)
            out.append({"key": key, "val": val})
    return out


def _write_descriptors(image_path: str, pid: int) -> None:
    """What the init's fds 0-2 are (``pipe:[N]``, ``/dev/null``...), for restore."""
    fds = []
    for n in range(3):
        try:
            fds.append(posix.readlink(f"/proc/{pid}/fd/{n}"))
        except OSError:
            fds.append("")
    path = f"{image_path}/{DESCRIPTORS}"
    fd = posix.open(path, posix.O_WRONLY | posix.O_CREAT | posix.O_TRUNC | posix.O_CLOEXEC, 0o600)
    try:
        posix.write(fd, jsonio.dumps(fds).encode())
    finally:
        posix.close(fd)


def _run(
    criu: str,
    req: dict[str, Any],
    o: CriuOptions,
    log_name: str,
    on_notify: Any,
    pre_dump: bool,
    extra_fds: list[int] | None = None,
    before: Any = None,
) -> dict[str, Any]:
    log_path = f"{o.log_dir}/{log_name}"
    swrk = Swrk(criu, extra_fds=extra_fds, log_path=log_path)
    try:
        if before is not None:
            before(swrk, req)
        resp = swrk.request(req, on_notify)
    except PyociError:
        # as runc: our end closed, CRIU gives up and undoes what it did (the
        # restored tasks, its cgroup yard mounts) before it exits
        swrk.close()
        raise
    except BaseException:
        swrk.kill()
        raise
    status = swrk.close()
    # after a PRE_DUMP answer CRIU waits for a next request, and ends on our close
    if status != 0 and not pre_dump:
        raise CriuError(f"criu failed: {_wait_status(status)}; log file: {log_path}")
    return resp


def _wait_status(status: int) -> str:
    if posix.WIFSIGNALED(status):
        return f"signal: {posix.WTERMSIG(status)}"
    return f"exit status {posix.WEXITSTATUS(status)}"


# --------------------------------------------------------------------- restore


def restore(
    opts: RuntimeOptions,
    container_id: str,
    bundle: str,
    o: CriuOptions,
    criu_path: str | None,
    *,
    pid_file: str | None = None,
    console_socket: str | None = None,
    detach: bool = False,
    subreaper: bool = True,
) -> int:
    """Restore; unless ``detach``, wait for the init and return its exit code (as run)."""
    from pyoci.ops.container import check_intel_rdt
    from pyoci.spec.load import load_bundle

    _need_root("restore")
    criu = criu_binary(criu_path)
    config, bundle_abs, rootfs = load_bundle(bundle)
    check_intel_rdt(config)
    descriptors = _read_descriptors(o.image_path)
    terminal = bool((config.get("process") or {}).get("terminal"))
    if console_socket is not None and not terminal:
        raise SetupError("cannot use console socket if pyoci will not detach or allocate tty")
    if terminal and console_socket is None and detach:
        raise SetupError("cannot allocate tty if pyoci will detach without setting console socket")
    proxy = None
    if not detach:
        from pyoci import native
        from pyoci.native import consts as c

        if subreaper:
            native.prctl(c.PR_SET_CHILD_SUBREAPER, 1)
        if terminal and console_socket is None:
            from pyoci.ops.console_proxy import ConsoleProxy

            proxy = ConsoleProxy()
    try:
        init_pid = _restore(
            opts,
            container_id,
            config,
            bundle_abs,
            rootfs,
            o,
            criu,
            descriptors,
            pid_file=pid_file,
            console_socket=console_socket,
            console_peer=proxy.child_fd if proxy is not None else -1,
        )
    except BaseException:
        if proxy is not None:
            proxy.close()
        raise
    if detach:
        return 0
    from pyoci.ops.lifecycle import delete
    from pyoci.process.foreground import Forwarder, wait_exit, wait_reaped

    if proxy is not None:
        proxy.receive_master()
    Forwarder().start(init_pid)
    if subreaper:
        code = wait_reaped(init_pid, proxy) or 0
    else:
        wait_exit(init_pid)
        code = 0
    delete(opts, container_id, force=True)
    return code


def _read_descriptors(image_path: str) -> list[str]:
    path = f"{image_path}/{DESCRIPTORS}"
    try:
        with open(path, "rb") as f:
            data = jsonio.loads(f.read())
    except FileNotFoundError:
        if not lean_os.isdir(image_path):
            raise SetupError(f"--image-path {image_path}: no such directory") from None
        raise SetupError(f"{path}: no such file (not a checkpoint image directory?)") from None
    except ValueError as exc:
        raise SetupError(f"{path}: {exc}") from None
    if not isinstance(data, list):
        raise SetupError(f"{path}: not a list of descriptors")
    return [str(d) for d in data]


def _restore(
    opts: RuntimeOptions,
    container_id: str,
    config: dict[str, Any],
    bundle: str,
    rootfs: str,
    o: CriuOptions,
    criu: str,
    descriptors: list[str],
    *,
    pid_file: str | None,
    console_socket: str | None,
    console_peer: int,
) -> int:
    from pyoci import SPEC_VERSION
    from pyoci.ops.container import _Creation
    from pyoci.ops.lifecycle import _hook_state, _now, _write_pid_file
    from pyoci.state.status import process_start_time
    from pyoci.state.store import StateStore

    crit = _check_version(criu, (3, 0, 0), "restore")
    if (o.lsm_profile or o.lsm_mount_context) and crit < (3, 16, 0):
        raise NotSupported("--lsm-profile and --lsm-mount-context need CRIU 3.16 or newer")
    if o.lazy_pages and not features(criu, {"lazy_pages": True})["lazy_pages"]:
        raise NotSupported("--lazy-pages: CRIU or the kernel lacks lazy pages (userfaultfd)")
    linux: dict[str, Any] = config.get("linux") or {}
    if _ns_path(config, "cgroup"):
        raise NotSupported(
            "restore into an existing cgroup namespace (a path) is not supported by CRIU"
        )

    job = _Creation(opts, container_id)
    job.config = config
    store = StateStore(opts.root)
    job.cdir = store.new(container_id)
    cdir = job.cdir
    me = posix.getpid()
    record: dict[str, Any] = {
        "ociVersion": SPEC_VERSION,
        "id": container_id,
        "status": model.CREATING,
        "pid": 0,
        "bundle": bundle,
        "rootfs": rootfs,
        "created": _now(),
        "owner": "",
        "annotations": config.get("annotations") or {},
        "creatorPid": me,
        "creatorStartTime": process_start_time(me),
        "rootless": False,
        "restored": True,
    }
    job.record = record
    criu_root = f"{cdir.path}/criu-root"
    mounted = False
    opened: list[int] = []
    console_fd = -1
    try:
        cdir.write(record)
        from pyoci.cgroups.manager import manager_for_create

        cgroup = manager_for_create(
            container_id,
            linux.get("cgroupsPath"),
            systemd=opts.systemd_cgroup,
            rootless=False,
            resources=linux.get("resources"),
            annotations=config.get("annotations"),
        )
        if cgroup is not None:
            # as create: the record names what may be made before it is (a
            # restore killed midway leaves nothing delete cannot find)
            cgroup.plan()
            record["cgroup"] = cgroup.record()
            cdir.write(record)
            cgroup.create()  # (undoes itself if it fails)
            job.cgroup = cgroup
            record["cgroup"] = cgroup.record()
            cdir.write(record)
        if console_socket is not None:
            from pyoci.ops.container import _connect_console

            console_fd = _connect_console(console_socket)
        elif console_peer >= 0:
            console_fd = posix.dup(console_peer)

        image_fd = _open_dir(o.image_path, create=False)
        opened.append(image_fd)
        req_opts = restore_opts(o, criu_root)
        req_opts["images_dir_fd"] = image_fd
        if o.work_path:
            work_fd = _open_dir(o.work_path, create=True)
            opened.append(work_fd)
            req_opts["work_dir_fd"] = work_fd
        cfg_file = config_file(config.get("annotations") or {})
        if cfg_file:
            req_opts["config_file"] = cfg_file

        # namespaces: external net/pid ones by fd (inherit_fd), the others joined
        extra_fds: list[int] = []
        inherit: list[dict[str, Any]] = []
        join_ns: list[dict[str, str]] = []
        for ns in linux.get("namespaces") or []:
            path = ns.get("path")
            if not path:
                continue
            ns_type = ns.get("type")
            if ns_type in _EXT_NS:
                _name, key, minimum = _EXT_NS[ns_type]
                if crit < minimum:
                    continue
                try:
                    nsfd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)
                except OSError as exc:
                    raise SetupError(f"namespace {path}: {exc.strerror}") from None
                opened.append(nsfd)
                inherit.append({"key": key, "fd": 4 + len(extra_fds)})
                extra_fds.append(nsfd)
            else:
                from pyoci.native.consts import NAMESPACE_PROC_NAMES

                join_ns.append({"ns": NAMESPACE_PROC_NAMES.get(ns_type, ns_type), "ns_file": path})
        inherit += pipe_inherit_fds(descriptors)
        if inherit:
            req_opts["inherit_fd"] = inherit
        if join_ns:
            req_opts["join_ns"] = join_ns

        _prepare_mountpoints(config, rootfs, bundle)
        ext = [(d, src) for d, src in MNT.bind_mounts(config, bundle)]
        ext += [(p, p) for p in MNT.device_paths(config)]

        posix.mkdir(criu_root, 0o755)
        from pyoci import native
        from pyoci.native import consts as c

        native.mount(rootfs, criu_root, None, c.MS_BIND | c.MS_REC)
        mounted = True

        def before(swrk: Swrk, req: dict[str, Any]) -> None:
            # CRIU (and the tree it restores) in the container's cgroups
            if job.cgroup is not None:
                job.cgroup.add_process(swrk.pid)
                # (the systemd driver has started its scope: the record says so)
                record["cgroup"] = job.cgroup.record()
                cdir.write(record)
                for w in job.cgroup.apply(linux.get("resources") or {}):
                    log.warning(w)
            with open(f"/proc/{swrk.pid}/cgroup") as f:
                own = MNT.parse_proc_cgroup(f.read())
            with open("/proc/self/mountinfo") as f:
                hierarchies = MNT.host_hierarchies(f.read())
            roots = MNT.cgroup_roots(own)
            if roots:
                req["opts"]["cg_root"] = roots
            dest = MNT.cgroup_mount_dest(config)
            all_ext = list(ext)
            if dest and not MNT.has_cgroupns(config):
                all_ext += MNT.cgroup_binds(dest, hierarchies, own)
            req["opts"]["ext_mnt"] = _unique_ext(all_ext)

        def on_notify(script: str, pid: int, fds: list[int]) -> None:
            if script == "setup-namespaces":
                job.hooks_started = True
                wanted = config.get("hooks") or {}
                if wanted.get("prestart") or wanted.get("createRuntime"):
                    from pyoci.ops import hooks

                    # runc 1.1.5's state here: the restored init's pid and the
                    # status "stopped" (its restore has no init process yet)
                    state_json = _hook_state(dict(record, pid=pid), model.STOPPED)
                    hooks.run_hooks(config, "prestart", state_json)
                    hooks.run_hooks(config, "createRuntime", state_json)
            elif script == "post-restore":
                record["pid"] = pid
                record["pidStartTime"] = process_start_time(pid)
                job.init_pid = pid
                job.init_pidfd = posix.pidfd_open(pid)
            elif script == "orphan-pts-master":
                if not fds:
                    raise SetupError("criu sent no pty master")
                if console_fd < 0:
                    raise SetupError(
                        "the checkpointed container has a terminal: restore it with"
                        " --console-socket (or without --detach)"
                    )
                _send_fd(console_fd, fds[0])

        resp = _run(
            criu,
            {"type": M.RESTORE, "opts": req_opts},
            o,
            "restore.log",
            on_notify,
            False,
            extra_fds=extra_fds,
            before=before,
        )
        pid = int((resp.get("restore") or {}).get("pid", 0))
        if job.init_pid == 0:
            if pid <= 0:
                raise CriuError(f"criu restored no process; log file: {o.log_dir}/restore.log")
            record["pid"] = pid
            record["pidStartTime"] = process_start_time(pid)
            job.init_pid = pid
            job.init_pidfd = posix.pidfd_open(pid)
        _unmount(criu_root)
        mounted = False
        record["status"] = model.RUNNING
        record["config"] = config
        cdir.write(record)
        if pid_file:
            _write_pid_file(pid_file, job.init_pid)
    except BaseException as exc:
        if mounted:
            _unmount(criu_root)
            mounted = False
        job.rollback()
        if isinstance(exc, OSError):
            where = f": {exc.filename}" if exc.filename else ""
            raise SetupError(f"restore {container_id}: {exc.strerror}{where}") from None
        raise
    finally:
        for fd in opened:
            posix.close(fd)
        if console_fd >= 0:
            posix.close(console_fd)
    if job.init_pidfd >= 0:
        posix.close(job.init_pidfd)
    cdir.unlock()
    log.info(f"pyoci restore {container_id}")
    return job.init_pid


def _unmount(path: str) -> None:
    from pyoci import native
    from pyoci.native import consts as c

    try:
        native.umount2(path, c.MNT_DETACH)
    except OSError as exc:
        log.warning(f"unmount {path}: {exc.strerror}")
    try:
        posix.rmdir(path)
    except OSError as exc:
        log.warning(f"remove {path}: {exc.strerror}")


def _send_fd(sock_fd: int, fd: int) -> None:
    import socket

    from pyoci.util.fdpass import pack_fds

    s = socket.socket(fileno=posix.dup(sock_fd))
    try:
        s.sendmsg([b"orphan-pts-master"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, pack_fds([fd]))])
    finally:
        s.close()


def _prepare_mountpoints(config: dict[str, Any], rootfs: str, bundle: str) -> None:
    """Mount points CRIU needs in the rootfs (a fresh copy of a bundle lacks those
    pyoci made at create); none under a tmpfs, whose content CRIU restores itself.

    As runc (#2748), each bind mount is mounted while the next ones are made, so
    that a mount point inside a bind mount is made in its source: in a child with
    a private mount namespace, whose mounts vanish with it."""
    import errno

    rfd, wfd = posix.pipe2(posix.O_CLOEXEC)
    pid = posix.fork()
    if pid == 0:  # pragma: no cover - child
        code = 1
        try:
            posix.close(rfd)
            _make_mountpoints(config, rootfs, bundle)
            code = 0
        except BaseException as exc:
            msg = str(exc) if isinstance(exc, SetupError) else f"mount points: {exc}"
            try:
                posix.write(wfd, msg.encode(errors="replace")[:4000])
            except BaseException:
                pass
        finally:
            posix._exit(code)
    posix.close(wfd)
    try:
        out = b""
        while chunk := posix.read(rfd, 4096):
            out += chunk
    finally:
        posix.close(rfd)
    while True:
        try:
            _pid, st = posix.waitpid(pid, 0)
            break
        except OSError as exc:
            if exc.errno != errno.EINTR:
                raise
    if not (posix.WIFEXITED(st) and posix.WEXITSTATUS(st) == 0):
        raise SetupError(out.decode(errors="replace") or f"mount points: {_wait_status(st)}")


def _make_mountpoints(config: dict[str, Any], rootfs: str, bundle: str) -> None:
    """(in the child of ``_prepare_mountpoints``)"""
    from pyoci import native
    from pyoci.init import paths
    from pyoci.native import consts as c

    native.unshare(c.CLONE_NEWNS)
    native.mount(None, "/", None, c.MS_REC | c.MS_PRIVATE)
    mounts = config.get("mounts") or []
    tmpfs = [
        MNT.clean_dest(m["destination"])
        for m in mounts
        if m.get("type") == "tmpfs" and m.get("destination")
    ]
    root_fd = posix.open(rootfs, posix.O_PATH | posix.O_DIRECTORY | posix.O_CLOEXEC)
    try:
        for m in mounts:
            dest = MNT.clean_dest(str(m.get("destination") or "/"))
            if dest == "/" or any(dest.startswith(t.rstrip("/") + "/") for t in tmpfs):
                continue
            if m.get("type") == "cgroup":
                continue
            source_is_dir = True
            src = ""
            if MNT.is_bind(m):
                src = str(m.get("source") or "")
                if src and not src.startswith("/"):
                    src = lean_os.normpath(f"{bundle}/{src}")
                source_is_dir = lean_os.isdir(src) if src else True
            try:
                fd = paths.ensure_mountpoint(root_fd, dest, source_is_dir)
            except OSError as exc:
                raise SetupError(f"mount point {dest}: {exc.strerror}") from None
            try:
                if src:
                    try:
                        native.mount(src, paths.fd_path(fd), None, c.MS_BIND | c.MS_REC)
                    except OSError as exc:
                        raise SetupError(f"bind mount {src} on {dest}: {exc.strerror}") from None
            finally:
                posix.close(fd)
    finally:
        posix.close(root_fd)
