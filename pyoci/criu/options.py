"""runc's checkpoint/restore flags → CRIU's ``criu_opts`` (pure: unit-tested without CRIU).

Defaults and checks are runc 1.1.5's (checkpoint.go, restore.go,
libcontainer/container_linux.go): the image path defaults to ``./checkpoint``,
``--parent-path`` must be relative to it and exist, ``--manage-cgroups-mode``
is soft, full or strict (and ``ignore``, which runc 1.2 added), ``--empty-ns``
takes ``network`` only and the network namespace is always "empty" (runc
manages no network devices: CRIU recreates the namespace, not its interfaces),
``--page-server`` is ADDRESS:PORT.
"""

from __future__ import annotations

from pyoci.criu import messages as M
from pyoci.errors import UsageError
from pyoci.util import lean_os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CLONE_NEWNET = 0x40000000

CGROUP_MODES = {
    "soft": M.CG_SOFT,
    "full": M.CG_FULL,
    "strict": M.CG_STRICT,
    "ignore": M.CG_IGNORE,
}

# the default CRIU configuration file runc names (an admin's settings apply to both)
DEFAULT_CONFIG_FILE = "/etc/criu/runc.conf"
CONFIG_ANNOTATION = "org.criu.config"


class CriuOptions:
    """What the user asked for, checked; shared by checkpoint and restore."""

    __slots__ = (
        "auto_dedup",
        "empty_ns",
        "ext_unix_sk",
        "file_locks",
        "image_path",
        "lazy_pages",
        "leave_running",
        "lsm_mount_context",
        "lsm_profile",
        "manage_cgroups_mode",
        "page_server",
        "parent_path",
        "pre_dump",
        "shell_job",
        "status_fd",
        "tcp_established",
        "work_path",
    )

    def __init__(self) -> None:
        self.image_path = ""
        self.work_path = ""
        self.parent_path = ""
        self.leave_running = False
        self.tcp_established = False
        self.ext_unix_sk = False
        self.shell_job = False
        self.file_locks = False
        self.pre_dump = False
        self.auto_dedup = False
        self.lazy_pages = False
        self.status_fd = -1
        self.page_server: tuple[str, int] | None = None
        self.manage_cgroups_mode: int | None = None
        self.empty_ns = CLONE_NEWNET
        self.lsm_profile = ""
        self.lsm_mount_context = ""

    @property
    def log_dir(self) -> str:
        """Where CRIU writes its log: the work path, else the image path (CRIU's default)."""
        return self.work_path or self.image_path


def parse_page_server(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port:
        raise UsageError("Use --page-server ADDRESS:PORT to specify page server")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"invalid --page-server port {port!r}")
    return host, int(port)


def parse_cgroups_mode(text: str) -> int:
    try:
        return CGROUP_MODES[text]
    except KeyError:
        raise UsageError(
            f"invalid --manage-cgroups-mode {text!r}: want soft, full, strict or ignore"
        ) from None


def parse_empty_ns(names: list[str]) -> int:
    mask = CLONE_NEWNET
    for name in names:
        if name != "network":
            raise UsageError(f'--empty-ns: namespace "{name}" is not supported (only "network")')
        mask |= CLONE_NEWNET
    return mask


def image_paths(image_path: str | None, parent_path: str | None, cwd: str) -> tuple[str, str]:
    """(absolute image path, parent path relative to it), as runc's prepareImagePaths."""
    image = image_path or "checkpoint"
    if not image.startswith("/"):
        image = f"{cwd.rstrip('/')}/{image}"
    image = lean_os.normpath(image)
    parent = parent_path or ""
    if parent:
        if parent.startswith("/"):
            raise UsageError("--parent-path must be relative")
        real = lean_os.normpath(f"{image}/{parent}")  # lexically, as filepath.Join
        if not lean_os.isdir(real):
            why = "not a directory" if lean_os.exists(real) else "no such directory"
            raise UsageError(f"invalid --parent-path: {real}: {why}")
    return image, parent


def config_file(annotations: dict[str, Any]) -> str | None:
    """The CRIU configuration file: ``org.criu.config`` (empty: none), else runc's."""
    if CONFIG_ANNOTATION in annotations:
        return str(annotations[CONFIG_ANNOTATION]) or None
    return DEFAULT_CONFIG_FILE


def common_opts(o: CriuOptions, log_file: str) -> dict[str, Any]:
    """The ``criu_opts`` fields that checkpoint and restore set alike (as runc)."""
    opts: dict[str, Any] = {
        "log_level": 4,
        "log_file": log_file,
        "manage_cgroups": True,
        "notify_scripts": True,
        "shell_job": o.shell_job,
        "tcp_established": o.tcp_established,
        "ext_unix_sk": o.ext_unix_sk,
        "file_locks": o.file_locks,
        "empty_ns": o.empty_ns,
        "orphan_pts_master": True,
        "auto_dedup": o.auto_dedup,
        "lazy_pages": o.lazy_pages,
    }
    if o.manage_cgroups_mode is not None:
        opts["manage_cgroups_mode"] = o.manage_cgroups_mode
    return opts


def dump_opts(o: CriuOptions, pid: int, root: str) -> dict[str, Any]:
    opts = common_opts(o, "dump.log")
    opts.update(pid=pid, root=root, leave_running=o.leave_running)
    if o.page_server is not None:
        opts["ps"] = {"address": o.page_server[0], "port": o.page_server[1]}
    if o.parent_path:
        opts["parent_img"] = o.parent_path
        opts["track_mem"] = True
    return opts


def restore_opts(o: CriuOptions, root: str) -> dict[str, Any]:
    opts = common_opts(o, "restore.log")
    opts.update(root=root, evasive_devices=True, rst_sibling=True)
    if o.lsm_profile:
        opts["lsm_profile"] = o.lsm_profile
    if o.lsm_mount_context:
        opts["lsm_mount_context"] = o.lsm_mount_context
    return opts


def pipe_inherit_fds(descriptors: list[str]) -> list[dict[str, Any]]:
    """stdio that was a pipe at checkpoint (descriptors.json) is our fd of the same
    number at restore: CRIU reconnects it (``inherit_fd``), as runc."""
    return [{"key": d, "fd": i} for i, d in enumerate(descriptors) if "pipe:" in d]
