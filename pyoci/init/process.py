"""The last steps before execve, shared by the container init and ``exec``.

Order (as runc's finalizeNamespace + standard_init):
keyring → oom_score_adj → rlimits → personality → LSM → capability bounding
→ user switch (keeping caps) → umask, cwd → capability sets → no_new_privs →
executable lookup → fds → (wait for start) → signals → seccomp → execve.
"""

from __future__ import annotations

import errno
import os

from pyoci import native
from pyoci.errors import SetupError
from pyoci.init import lsm, procfs, security
from pyoci.util.capabilities import CapabilityPlan

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

PERSONALITY_DOMAINS = {"LINUX": 0x0000, "LINUX32": 0x0008}


def env_list_to_dict(env: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in env:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def home_for(uid: int, passwd_path: str = "/etc/passwd") -> str:
    try:
        with open(passwd_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.rstrip("\n").split(":")
                if len(parts) >= 6 and parts[2].isdigit() and int(parts[2]) == uid:
                    return parts[5] or "/"
    except OSError:
        pass
    return "/"


def lookup_executable(name: str, env: dict[str, str]) -> str:
    """Find ``name`` as execve would after PATH search (like Go's exec.LookPath)."""
    if "/" in name:
        if _is_executable(name):
            return name
        raise SetupError(f'exec: "{name}": {_why(name)}')
    for directory in (env.get("PATH") or DEFAULT_PATH).split(":"):
        candidate = f"{directory or '.'}/{name}"
        if _is_executable(candidate):
            return candidate
    raise SetupError(f'exec: "{name}": executable file not found in $PATH')


def _is_executable(path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return (st.st_mode & 0o170000) != 0o040000 and os.access(path, os.X_OK)


def _why(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError as exc:
        return exc.strerror or "not found"
    if (st.st_mode & 0o170000) == 0o040000:
        return "is a directory"
    return "permission denied"


class ProcessSetup:
    """Applies ``process`` of the config inside the container's namespaces."""

    def __init__(
        self,
        process: dict[str, Any],
        *,
        container_id: str,
        new_keyring: bool,
        userns: bool,
        setgroups_allowed: bool,
        preserve_fds: int = 0,
        listen_fds: int = 0,
        oom_score_adj: int | None = None,
        personality: dict[str, Any] | None = None,
        warn: Any = None,
        seccomp: bool = True,
    ) -> None:
        self.process = process
        self.container_id = container_id
        self.new_keyring = new_keyring
        self.userns = userns
        self.setgroups_allowed = setgroups_allowed
        self.preserve_fds = preserve_fds
        self.listen_fds = listen_fds
        self.oom_score_adj = oom_score_adj
        self.personality = personality
        self.warn = warn
        self.seccomp = seccomp
        self._caps: CapabilityPlan | None = None
        self._held = 0
        self.path = ""
        self.env: dict[str, str] = {}

    def apply(self) -> None:
        """Everything up to (not including) waiting for ``start``."""
        proc = self.process
        if self.new_keyring:
            security.join_session_keyring(self.container_id)
        if self.oom_score_adj is not None:
            security.set_oom_score_adj(self.oom_score_adj)
        security.apply_rlimits(security.parse_rlimits(proc.get("rlimits")))
        if self.personality:
            self._apply_personality(self.personality)
        self._apply_lsm(proc)
        plan = CapabilityPlan(proc.get("capabilities"))
        _eff, permitted, _inh = native.capget()
        plan.restrict_to(permitted)
        for w in plan.warnings:
            if self.warn is not None:
                self.warn(w)
        security.drop_bounding(plan)
        user = proc.get("user") or {}
        uid = int(user.get("uid", 0))
        gid = int(user.get("gid", 0))
        security.switch_user(
            uid, gid, [int(g) for g in user.get("additionalGids") or []], self.setgroups_allowed
        )
        umask = user.get("umask")
        os.umask(int(umask) if umask is not None else 0o022)
        self._chdir(proc.get("cwd") or "/")
        self._caps = plan
        if self.seccomp and not proc.get("noNewPrivileges"):
            # seccomp(2) needs no_new_privs or CAP_SYS_ADMIN: without the first,
            # hold the second until the filter is in (runc installs it before the
            # capability drop instead, which the filter must then survive).
            self._held = _CAP_SYS_ADMIN & ~plan.effective & permitted
        final = (plan.effective, plan.permitted)
        plan.effective |= self._held
        plan.permitted |= self._held
        security.apply_capabilities(plan)
        plan.effective, plan.permitted = final
        if proc.get("noNewPrivileges"):
            security.set_no_new_privs()
        env = env_list_to_dict(list(proc.get("env") or []))
        if "HOME" not in env:
            env["HOME"] = home_for(uid)
        if self.listen_fds:
            env["LISTEN_FDS"] = str(self.listen_fds)
            env["LISTEN_PID"] = "1"
        self.env = env
        args = proc.get("args") or []
        if not args:
            raise SetupError("process.args is empty")
        self.path = lookup_executable(args[0], env)
        # Everything but stdio and the preserved fds is closed at execve.
        first = 3 + self.listen_fds + self.preserve_fds
        native.close_range(first, 0xFFFFFFFF, 4)  # CLOSE_RANGE_CLOEXEC

    def _chdir(self, cwd: str) -> None:
        if not cwd.startswith("/"):
            raise SetupError(f"process.cwd {cwd!r} must be an absolute path")
        try:
            os.chdir(cwd)
        except OSError as exc:
            raise SetupError(f"chdir to cwd {cwd!r}: {exc.strerror}") from None
        try:
            # getcwd fails (ENOENT, "(unreachable)") when the directory is outside
            # our root: e.g. a leaked host fd via /proc/self/fd/N (CVE-2024-21626).
            real = os.getcwd()
        except OSError:
            raise SetupError(f"cwd {cwd!r} resolves outside the container root") from None
        if not real.startswith("/"):
            raise SetupError(f"cwd {cwd!r} resolves outside the container root")

    def _apply_personality(self, pers: dict[str, Any]) -> None:
        domain = pers.get("domain", "LINUX")
        if domain not in PERSONALITY_DOMAINS:
            raise SetupError(f"unknown personality domain {domain!r}")
        if pers.get("flags"):
            raise SetupError("personality flags are not supported")
        native.personality(PERSONALITY_DOMAINS[domain])

    def _apply_lsm(self, proc: dict[str, Any]) -> None:
        lsm.apply_process_labels(proc)

    def exec(self, seccomp: Any = None, on_listener: Any = None) -> None:
        """Reset signals, install seccomp last, execve.  Never returns.

        A NOTIFY filter's listener fd goes to ``on_listener(fd)`` (which hands
        it to the parent and waits for its answer) before execve.
        """
        args = list(self.process.get("args") or [])
        native.reset_signals()
        if seccomp is not None:
            import sys

            # imported before pivot_root (stage._preload)
            listener = sys.modules["pyoci.seccomp.load"].install(seccomp)
            if listener is not None:
                try:
                    if on_listener is None:
                        raise SetupError("seccomp: nowhere to send the listener fd")
                    on_listener(listener)
                finally:
                    os.close(listener)
        self.release_held_capabilities()
        try:
            os.execve(self.path, args, self.env)
        except OSError as exc:
            raise SetupError(f'exec {args[0]!r}: {exc.strerror}') from None

    def waiter_handoff(self, fifo_fd: int, seccomp: Any) -> Any:
        """A ``WaiterHandOff`` when the wait can leave this interpreter, else None.

        Not when capabilities are held for installing seccomp (noNewPrivileges
        false): the execve of the waiter would drop them.
        """
        if self._held:
            return None
        from pyoci.init.waiter import WaiterHandOff

        proc = procfs.handle()
        fd_dir = proc.open(f"{proc.self_pid()}/fd", os.O_PATH | os.O_DIRECTORY)
        return WaiterHandOff(fifo_fd, fd_dir, seccomp)

    def release_held_capabilities(self) -> None:
        """Drop what ``apply`` held for installing seccomp: the final capability sets."""
        plan = self._caps
        if not self._held or plan is None:
            return
        try:
            native.capset(plan.effective, plan.permitted, plan.inheritable)
        except OSError as exc:
            raise SetupError(f"capset after installing seccomp: {exc.strerror}") from None
        self._held = 0


_CAP_SYS_ADMIN = 1 << 21


def wait_for_start(fifo_fd: int) -> int:
    """Block until ``start`` opens exec.fifo; return the fifo's write end.

    It is close-on-exec: ``start`` reads it to its end of file, which comes
    with the successful execve of the user process.  The caller writes ``0``
    when it goes on, and ``!`` and the reason of a failure until the execve
    (a startContainer hook, the execve itself), so that ``start`` fails with
    it (runtime.md start).

    The fifo is reopened through the verified procfs handle, not the
    container's /proc (which may be missing, or a fake tree with a file at
    ``self/fd/N`` that would let the process run before ``start``).
    """
    proc = procfs.handle()
    while True:
        try:
            fd = proc.reopen_own_fd(fifo_fd, os.O_WRONLY)
            break
        except InterruptedError:
            continue
        except OSError as exc:
            if exc.errno == errno.EINTR:
                continue
            raise SetupError(f"open exec fifo: {exc.strerror}") from None
    os.close(fifo_fd)
    return fd
