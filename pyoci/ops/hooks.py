"""Running OCI hooks: the state JSON on stdin, the hook's args/env, its timeout.

No ``subprocess`` (10 ms to import): fork + execve, a pipe for stdin and a
pidfd to wait with a timeout.
"""

from __future__ import annotations

import posix

from pyoci.errors import HookError
from pyoci.spec.names import HOOK_PHASES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PHASES = HOOK_PHASES


def run_hook(hook: dict[str, Any], state_json: bytes, phase: str) -> None:
    """Run one hook to completion; raise HookError on failure or timeout."""
    path: str = hook["path"]
    args: list[str] = list(hook.get("args") or [path])
    env: list[str] = list(hook.get("env") or [])
    timeout = hook.get("timeout")
    from pyoci import native
    from pyoci.native.consts import PR_SET_PDEATHSIG

    # The hook's stdout and stderr are kept (as runc does) to explain a failure
    # in the one error line, not mixed into the runtime's own stderr.
    out = native.memfd_create("pyoci-hook-output", 1)  # MFD_CLOEXEC
    rfd, wfd = posix.pipe2(posix.O_CLOEXEC)
    parent = posix.getpid()
    try:
        pid = posix.fork()
    except OSError as exc:
        for fd in (rfd, wfd, out):
            posix.close(fd)
        raise HookError(f"{phase} hook {path}: fork: {exc.strerror}") from None
    if pid == 0:  # pragma: no cover - child
        try:
            if phase != "poststop":
                # A hook lives no longer than the runtime waiting for it: an
                # engine that SIGKILLs a create (its timeout) kills its hooks.
                # poststop hooks clean up after the container: they may finish.
                native.prctl(PR_SET_PDEATHSIG, 9)
                if posix.getppid() != parent:
                    posix._exit(127)
            posix.dup2(rfd, 0)
            posix.dup2(out, 1)
            posix.dup2(out, 2)
            native.reset_signals()
            envd = {}
            for item in env:
                key, _, value = item.partition("=")
                envd[key] = value
            posix.execve(path, args, envd)
        except BaseException as exc:
            msg = exc.strerror if isinstance(exc, OSError) else str(exc)
            posix.write(2, f"exec: {msg}\n".encode())
        finally:
            posix._exit(127)
    posix.close(rfd)
    try:
        try:
            _write_all(wfd, state_json)
        except OSError:
            pass  # a hook may ignore its stdin
        finally:
            posix.close(wfd)
        status = _wait(pid, timeout)
        if status is None:
            raise HookError(f"{phase} hook {path} timed out after {timeout}s")
        if posix.WIFEXITED(status):
            code = posix.WEXITSTATUS(status)
            if code:
                raise HookError(f"{phase} hook {path} failed: exit status {code}{_said(out)}")
        elif posix.WIFSIGNALED(status):
            raise HookError(
                f"{phase} hook {path} killed by signal {posix.WTERMSIG(status)}{_said(out)}"
            )
    finally:
        posix.close(out)


def _said(fd: int) -> str:
    """``: <the last line the hook wrote>`` (or nothing)."""
    posix.lseek(fd, 0, 0)  # SEEK_SET
    data = b""
    while chunk := posix.read(fd, 1 << 16):
        data = (data + chunk)[-4096:]
    lines = [ln.strip() for ln in data.decode(errors="replace").splitlines() if ln.strip()]
    return f": {lines[-1][:300]}" if lines else ""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = posix.write(fd, view)
        view = view[n:]


def _wait(pid: int, timeout: int | None) -> int | None:
    if not timeout:
        return posix.waitpid(pid, 0)[1]
    pidfd = posix.pidfd_open(pid)
    try:
        import select

        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if not poller.poll(int(timeout) * 1000):
            posix.kill(pid, 9)
            posix.waitpid(pid, 0)
            return None
        return posix.waitpid(pid, 0)[1]
    finally:
        posix.close(pidfd)


def run_hooks(
    config: dict[str, Any], phase: str, state_json: bytes, *, warn_only: bool = False
) -> list[str]:
    """Run every hook of ``phase`` in order.  Returns warnings when ``warn_only``."""
    warnings: list[str] = []
    hooks = (config.get("hooks") or {}).get(phase) or []
    for hook in hooks:
        try:
            run_hook(hook, state_json, phase)
        except HookError as exc:
            if not warn_only:
                raise
            warnings.append(str(exc))
    return warnings


def has_hooks(config: dict[str, Any], *phases: str) -> bool:
    hooks = config.get("hooks") or {}
    return any(hooks.get(p) for p in phases)
