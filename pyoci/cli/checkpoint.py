"""pyoci checkpoint: save a running container to disk with CRIU (runc 1.1.5's flags)."""

from __future__ import annotations

from pyoci.cli.args import BOOL, INT, LIST, STRING, Flag, Parsed, need_args

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyoci.cli import Context
    from pyoci.criu.options import CriuOptions

USAGE = """NAME:
   pyoci checkpoint - checkpoint a running container

USAGE:
   pyoci checkpoint [command options] <container-id>

Where "<container-id>" is the name for the instance of the container to be
checkpointed.

DESCRIPTION:
   The checkpoint command saves the state of the container instance (with CRIU;
   the global --criu flag names its binary). Unless --leave-running or
   --pre-dump, the container is stopped and deleted afterwards.

OPTIONS:
   --image-path value           path for saving criu image files (default: ./checkpoint)
   --work-path value            path for saving work files and logs (default: the image path)
   --parent-path value          path for previous criu image files in pre-dump
   --leave-running              leave the process running after checkpointing
   --tcp-established            allow open tcp connections
   --ext-unix-sk                allow external unix sockets
   --shell-job                  allow shell jobs
   --lazy-pages                 use userfaultfd to lazily restore memory pages
   --status-fd value            criu writes \\0 to this FD once lazy-pages is ready (default: -1)
   --page-server value          ADDRESS:PORT of the page server
   --file-locks                 handle file locks, for safety
   --pre-dump                   dump container's memory information only, leave the container
                                running after this
   --manage-cgroups-mode value  cgroups mode: 'soft' (default), 'full', 'strict' and 'ignore'
   --empty-ns value             create a namespace, but don't restore its properties (network only)
   --auto-dedup                 enable auto deduplication of memory images
"""

FLAGS = [
    Flag("image-path", STRING),
    Flag("work-path", STRING),
    Flag("parent-path", STRING),
    Flag("leave-running", BOOL),
    Flag("tcp-established", BOOL),
    Flag("ext-unix-sk", BOOL),
    Flag("shell-job", BOOL),
    Flag("lazy-pages", BOOL),
    Flag("status-fd", INT, default=-1),
    Flag("page-server", STRING),
    Flag("file-locks", BOOL),
    Flag("pre-dump", BOOL),
    Flag("manage-cgroups-mode", STRING),
    Flag("empty-ns", LIST),
    Flag("auto-dedup", BOOL),
]


def criu_options(p: Parsed) -> CriuOptions:
    """The flags checkpoint and restore share, checked as runc's criuOptions()."""
    import posix

    from pyoci.criu import options as O

    o = O.CriuOptions()
    o.image_path, o.parent_path = O.image_paths(
        p.text("image_path"), p.text("parent_path"), posix.getcwd()
    )
    work = p.text("work_path") or ""
    if work and not work.startswith("/"):
        from pyoci.util import lean_os

        work = lean_os.abspath(work)
    o.work_path = work
    o.leave_running = p.flag("leave_running")
    o.tcp_established = p.flag("tcp_established")
    o.ext_unix_sk = p.flag("ext_unix_sk")
    o.shell_job = p.flag("shell_job")
    o.file_locks = p.flag("file_locks")
    o.pre_dump = p.flag("pre_dump")
    o.auto_dedup = p.flag("auto_dedup")
    o.lazy_pages = p.flag("lazy_pages")
    if "status_fd" in p.values:
        o.status_fd = p.number("status_fd")
    if p.text("page_server"):
        o.page_server = O.parse_page_server(p.text("page_server") or "")
    if p.text("manage_cgroups_mode"):
        o.manage_cgroups_mode = O.parse_cgroups_mode(p.text("manage_cgroups_mode") or "")
    o.empty_ns = O.parse_empty_ns(p.items("empty_ns"))
    o.lsm_profile = p.text("lsm_profile") or ""
    o.lsm_mount_context = p.text("lsm_mount_context") or ""
    return o


def run(ctx: Context, p: Parsed) -> int:
    need_args("checkpoint", p.args, exactly=1)
    from pyoci.errors import UsageError

    o = criu_options(p)
    if o.status_fd >= 0 and not o.lazy_pages:
        raise UsageError("--status-fd is only used with --lazy-pages")
    from pyoci.criu.ops import checkpoint

    checkpoint(ctx.options(), p.args[0], o, ctx.criu)
    return 0
