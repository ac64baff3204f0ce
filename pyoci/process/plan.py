"""What the parent hands to the forked children (they inherit it through fork)."""

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
        "close_in_child",
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
        state_dir: str,
        fifo_path: str,
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
        # parent-only fds (the state lock): closed first thing in the child
        self.close_in_child: list[int] = []
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

    @property
    def linux(self) -> dict[str, Any]:
        linux: dict[str, Any] = self.config.get("linux") or {}
        return linux

    def namespaces(self) -> dict[str, str | None]:
        """{type: path or None (new)} in config order."""
        return {ns["type"]: ns.get("path") or None for ns in self.linux.get("namespaces") or []}
