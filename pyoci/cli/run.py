"""pyoci run: create + start, and (unless --detach) wait and delete."""

from __future__ import annotations

from pyoci.cli.args import BOOL, INT, STRING, Flag, Parsed, need_args

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyoci.cli import Context

USAGE = """NAME:
   pyoci run - create and run a container

USAGE:
   pyoci run [command options] <container-id>

OPTIONS:
   --bundle value, -b value  path to the root of the bundle directory (default: .)
   --console-socket value    AF_UNIX socket to receive the pty master
   --detach, -d              detach from the container's process
   --keep                    do not delete the container after it exits
   --pid-file value          file to write the container init's pid to
   --no-subreaper            disable the use of the subreaper used to reap reparented processes
   --no-pivot                do not use pivot_root
   --no-new-keyring          do not create a new session keyring
   --preserve-fds value      pass N additional fds to the container (default: 0)
"""

FLAGS = [
    Flag("bundle, b", STRING),
    Flag("console-socket", STRING),
    Flag("detach, d", BOOL),
    Flag("keep", BOOL),
    Flag("pid-file", STRING),
    Flag("no-subreaper", BOOL),
    Flag("no-pivot", BOOL),
    Flag("no-new-keyring", BOOL),
    Flag("preserve-fds", INT),
]


def run(ctx: Context, p: Parsed) -> int:
    need_args("run", p.args, exactly=1)
    from pyoci.ops import container
    from pyoci.spec import load

    load.DROP_VALIDATOR = True  # one config, then exit (peak RSS)

    return container.run(
        ctx.options(),
        p.args[0],
        p.text("bundle") or ".",
        pid_file=p.text("pid_file"),
        console_socket=p.text("console_socket"),
        detach=p.flag("detach"),
        keep=p.flag("keep"),
        no_pivot=p.flag("no_pivot"),
        no_new_keyring=p.flag("no_new_keyring"),
        preserve_fds=p.number("preserve_fds"),
        subreaper=not p.flag("no_subreaper"),
    )
