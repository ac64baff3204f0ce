"""The embedder's fork server: one process started by exec (single-threaded,
whatever the embedder runs), with the create path's modules imported once,
that forks a shim (:mod:`pyoci.sandbox._shim`) per container on request.

No Python code ever runs in a child forked from the embedder: the embedder only
``posix_spawn``/``vfork``s this server, and the server forks only itself.

Run as ``python -I -S -c <boot> CTL_FD``.  A request on the SOCK_SEQPACKET
socket is ``[root, id, bundle, flags, config]`` (JSON; ``config``: the
validated config's JSON text, or "" to read the bundle's config.json) with
four fds by SCM_RIGHTS:
the container's stdin, stdout, stderr and the shim's end of its control
socket.  The server exits when the embedder closes its end (the shims stay:
each deletes its container when its own control socket hits EOF).
"""

from __future__ import annotations

import _socket
import posix
import select


def main(argv: list[str]) -> int:
    from pyoci.util import jsonio
    from pyoci.util.fdpass import cmsg_space, unpack_fds

    _warm()
    # Everything imported so far is moved out of the collector's reach: a
    # collection in a shim (or its stage 1 and init) would otherwise write to
    # every object's header and copy most of the inherited pages (CoW).
    import gc

    gc.collect()
    gc.freeze()
    server = _socket.socket(fileno=int(argv[0]))
    poller = select.poll()
    poller.register(server.fileno(), select.POLLIN)
    while True:
        try:
            ready = poller.poll(1000)
        except InterruptedError:
            continue
        _reap()
        if not ready:
            continue
        try:
            data, anc, _flags, _addr = server.recvmsg(65536, cmsg_space(4))
        except InterruptedError:
            continue
        fds: list[int] = []
        for level, kind, payload in anc:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                fds += unpack_fds(payload)
        if not data:
            return 0
        root, container_id, bundle, flags, config = jsonio.loads(data)
        if len(fds) != 4:
            for fd in fds:
                posix.close(fd)
            continue
        pid = posix.fork()
        if pid == 0:  # pragma: no cover - the shim
            code = 1
            try:
                server.close()
                for target, fd in enumerate(fds[:3]):
                    posix.dup2(fd, target)
                for fd in fds[:3]:
                    if fd > 2 and fd not in fds[3:]:
                        posix.close(fd)
                posix.setsid()
                from pyoci.sandbox._shim import main as shim

                code = shim([root, container_id, bundle, str(fds[3]), flags, config])
            finally:
                posix._exit(code)
        for fd in fds:
            posix.close(fd)


def _warm() -> None:
    """Import what every create needs and compile the config schema once: the
    shims inherit them (each would otherwise pay them again)."""
    import importlib

    for name in (
        "pyoci.ops.container",
        "pyoci.ops.lifecycle",
        "pyoci.ops.exec",
        "pyoci.init.exec_stage",
        "pyoci.sandbox._shim",
        "pyoci.spec.load",
        "pyoci.spec.default",
        "pyoci.init.stage",
        # what stage 1 and the init import (lazily: the CLI's runtime process
        # does not carry them)
        "pyoci.init.console",
        "pyoci.init.paths",
        "pyoci.init.lsm",
        "pyoci.init.procfs",
        "pyoci.init.process",
        "pyoci.init.rootfs",
        "pyoci.init.waiter",
        "pyoci.spec.sysctl",
        "pyoci.ops.hooks",
        "pyoci.native.lean",
        "pyoci.process.plan",
        "pyoci.process.sync",
        "pyoci.process.idmap",
        "pyoci.cgroups.manager",
        "pyoci.cgroups.resources",
        "pyoci.cgroups.devices",
        "pyoci.cgroups.freezer",
        "pyoci.cgroups.layout",
        "pyoci.cgroups.stats",
        "pyoci.ops.cgroup_verbs",
        "pyoci.util.mountinfo",
        "pyoci.ops.console_proxy",
    ):
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    from pyoci.spec.default import default_config
    from pyoci.spec.load import problems_of

    problems_of(default_config(), "/")


def _reap() -> None:
    while True:
        try:
            pid, _status = posix.waitpid(-1, posix.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
