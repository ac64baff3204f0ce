"""What the parent hands to the forked children.

``create`` forks stage 1 as soon as the config is read (its imports then
overlap the parent's work), so stage 1 inherits through fork only what is
known by then (the config, not validated yet: stage 1 uses it only once the
PLAN message came); the rest (rootfs, state directory, start_now, cgroup,
seccomp program, console) follows in that one message (``handoff`` /
``take_handoff``).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class LaunchPlan:
    """Everything the stage-1 child and the init need, prepared by the parent."""

    __slots__ = (
        "bundle",
        "cgroup_dir",
        "cgroup_fd",
        "cgroup_tasks",
        "config",
        "console_socket_fd",
        "container_id",
        "fifo_path",
        "listen_fds",
        "mount_fds",
        "no_new_keyring",
        "no_pivot",
        "preserve_fds",
        "rootfs",
        "rootless",
        "runtime_ns",
        "seccomp",
        "start_now",
        "state_dir",
        "tty_fd",
    )  # fmt: skip

    def __init__(
        self,
        *,
        container_id: str,
        config: dict[str, Any],
        bundle: str,
        rootfs: str,
        state_dir: str = "",
        fifo_path: str = "",
        console_socket_fd: int = -1,
        preserve_fds: int = 0,
        listen_fds: int = 0,
        no_pivot: bool = False,
        no_new_keyring: bool = False,
        rootless: bool = False,
        seccomp: Any = None,
        start_now: bool = False,
    ) -> None:
        self.container_id = container_id
        self.config = config
        self.bundle = bundle
        self.rootfs = rootfs
        self.state_dir = state_dir
        self.fifo_path = fifo_path
        self.console_socket_fd = console_socket_fd
        self.preserve_fds = preserve_fds
        self.listen_fds = listen_fds
        self.no_pivot = no_pivot
        self.no_new_keyring = no_new_keyring
        self.rootless = rootless
        self.seccomp = seccomp
        # create starts the container at once (no exec.fifo, no waiter)
        self.start_now = start_now
        self.tty_fd = -1
        # idmapped trees stage 1 prepared: {index in mounts: detached tree fd}
        self.mount_fds: dict[int, int] = {}
        # the runtime's own namespaces, {kind: (dev, ino)}: no sysctl is written there
        self.runtime_ns: dict[str, tuple[int, int]] = {}
        # the container's cgroup2 directory (an O_PATH fd and its path) when
        # stage 1 spawns the init into it (clone3 CLONE_INTO_CGROUP); -1: the
        # parent moves stage 1 into the cgroup instead
        self.cgroup_fd = -1
        self.cgroup_dir = ""
        # v1 hierarchies (the container's ``tasks`` files) stage 1 joins itself,
        # first thing, by writing "0": a single thread moving itself skips the
        # kernel's cgroup_threadgroup_rwsem, so no RCU grace period (7-25 ms
        # here) is waited for; the init it forks (into cgroup_fd on hybrid)
        # inherits them.  Empty: the parent moves stage 1 (cgroup.procs).
        self.cgroup_tasks: list[str] = []

    def handoff(self, close: list[int] | None = None) -> tuple[bytes, list[int]]:
        """The fields the parent sets after forking stage 1, as one PLAN
        payload (a JSON head, a newline, the seccomp BPF program) and its fds
        (the console socket, the cgroup2 directory: those that are open).
        ``close``: fds stage 1 inherited and must close (forked late)."""
        from pyoci.util import jsonio

        head: dict[str, Any] = {
            "rootfs": self.rootfs,
            "state_dir": self.state_dir,
            "fifo_path": self.fifo_path,
            "start_now": self.start_now,
            "console": self.console_socket_fd >= 0,
            "cgroup_fd": self.cgroup_fd >= 0,
        }
        if close:
            head["close"] = close
        if self.cgroup_fd >= 0:
            head["cgroup_dir"] = self.cgroup_dir
        if self.cgroup_tasks:
            head["cgroup_tasks"] = self.cgroup_tasks
        bpf = b""
        if self.seccomp is not None:
            head["seccomp"] = [
                self.seccomp.flags,
                self.seccomp.listener_path,
                self.seccomp.listener_metadata,
            ]
            bpf = self.seccomp.bpf
        fds = [fd for fd in (self.console_socket_fd, self.cgroup_fd) if fd >= 0]
        return jsonio.dumps(head).encode() + b"\n" + bpf, fds

    def take_handoff(self, payload: bytes, fds: list[int]) -> None:
        """Stage 1's side of ``handoff``."""
        import posix

        from pyoci.util import jsonio

        raw, _, bpf = payload.partition(b"\n")  # (JSON escapes newlines in strings)
        head: dict[str, Any] = jsonio.loads(raw.decode())
        for fd in head.get("close") or ():
            posix.close(fd)  # (ours, inherited: the fds received are others)
        fds = list(fds)
        if len(fds) != head["console"] + head["cgroup_fd"]:
            for fd in fds:
                posix.close(fd)
            raise ValueError(f"PLAN: {len(fds)} fds for {raw.decode()}")
        self.rootfs = head["rootfs"]
        self.state_dir = head["state_dir"]
        self.fifo_path = head["fifo_path"]
        self.start_now = head["start_now"]
        if head["console"]:
            self.console_socket_fd = fds.pop(0)
        if head["cgroup_fd"]:
            self.cgroup_fd = fds.pop(0)
            self.cgroup_dir = head["cgroup_dir"]
        self.cgroup_tasks = head.get("cgroup_tasks") or []
        if "seccomp" in head:
            from pyoci.seccomp.program import SeccompProgram

            flags, path, metadata = head["seccomp"]
            self.seccomp = SeccompProgram(bpf, flags, path, metadata)

    @property
    def linux(self) -> dict[str, Any]:
        linux: dict[str, Any] = self.config.get("linux") or {}
        return linux

    def namespaces(self) -> dict[str, str | None]:
        """{type: path or None (new)} in config order."""
        return {ns["type"]: ns.get("path") or None for ns in self.linux.get("namespaces") or []}
