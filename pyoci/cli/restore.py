"""pyoci restore: bring a checkpointed container back with CRIU (runc 1.1.5's flags)."""

from __future__ import annotations

from pyoci.cli.args import BOOL, LIST, STRING, Flag, Parsed, need_args

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyoci.cli import Context

USAGE = """NAME:
   pyoci restore - restore a container from a previous checkpoint

USAGE:
   pyoci restore [command options] <container-id>

Where "<container-id>" is the name for the instance of the container to be
restored.

DESCRIPTION:
   Restores the saved state of the container instance that was previously saved
   using the pyoci (or runc) checkpoint command, with CRIU (the global --criu
   flag names its binary). Unless --detach, pyoci waits for the container and
   exits with its status, then deletes it.

OPTIONS:
   --console-socket value       path to an AF_UNIX socket which will receive a file descriptor
                                referencing the master end of the console's pseudoterminal
   --image-path value           path to criu image files for restoring (default: ./checkpoint)
   --work-path value            path for saving work files and logs (default: the image path)
   --tcp-established            allow open tcp connections
   --ext-unix-sk                allow external unix sockets
   --shell-job                  allow shell jobs
   --file-locks                 handle file locks, for safety
   --manage-cgroups-mode value  cgroups mode: 'soft' (default), 'full', 'strict' and 'ignore'
   --bundle value, -b value     path to the root of the bundle directory (default: .)
   --detach, -d                 detach from the container's process
   --pid-file value             specify the file to write the process id to
   --no-subreaper               disable the use of the subreaper used to reap reparented processes
   --no-pivot                   refused: CRIU restores the mount namespace itself, with pivot_root
   --empty-ns value             create a namespace, but don't restore its properties (network only)
   --auto-dedup                 enable auto deduplication of memory images
   --lazy-pages                 use userfaultfd to lazily restore memory pages
   --lsm-profile value          Specify an LSM profile to be used during restore in the form of
                                TYPE:NAME.
   --lsm-mount-context value    Specify an LSM mount context to be used during restore.
"""

FLAGS = [
    Flag("console-socket", STRING),
    Flag("image-path", STRING),
    Flag("work-path", STRING),
    Flag("tcp-established", BOOL),
    Flag("ext-unix-sk", BOOL),
    Flag("shell-job", BOOL),
    Flag("file-locks", BOOL),
    Flag("manage-cgroups-mode", STRING),
    Flag("bundle, b", STRING),
    Flag("detach, d", BOOL),
    Flag("pid-file", STRING),
    Flag("no-subreaper", BOOL),
    Flag("no-pivot", BOOL),
    Flag("empty-ns", LIST),
    Flag("auto-dedup", BOOL),
    Flag("lazy-pages", BOOL),
    Flag("lsm-profile", STRING),
    Flag("lsm-mount-context", STRING),
]


def run(ctx: Context, p: Parsed) -> int:
    need_args("restore", p.args, exactly=1)
    from pyoci.cli.checkpoint import criu_options
    from pyoci.errors import UsageError

    if p.flag("no_pivot"):
        # runc accepts and ignores it: CRIU always restores the root with pivot_root
        raise UsageError(
            "--no-pivot is not supported by restore: CRIU restores the container's"
            " root with pivot_root itself"
        )
    o = criu_options(p)
    from pyoci.criu.ops import restore

    return restore(
        ctx.options(),
        p.args[0],
        p.text("bundle") or ".",
        o,
        ctx.criu,
        pid_file=p.text("pid_file"),
        console_socket=p.text("console_socket"),
        detach=p.flag("detach"),
        subreaper=not p.flag("no_subreaper"),
    )
