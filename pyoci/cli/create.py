"""pyoci create: create a container (its init waits for ``start``)."""

from __future__ import annotations

from pyoci.cli.args import BOOL, INT, STRING, Flag, Parsed, need_args

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyoci.cli import Context

USAGE = """NAME:
   pyoci create - create a container

USAGE:
   pyoci create [command options] <container-id>

OPTIONS:
   --bundle value, -b value  path to the root of the bundle directory (default: .)
   --console-socket value    AF_UNIX socket to receive the pty master (terminal: true)
   --pid-file value          file to write the container init's pid to
   --no-pivot                do not use pivot_root (move the rootfs and chroot)
   --no-new-keyring          do not create a new session keyring
   --preserve-fds value      pass N additional fds to the container (default: 0)
"""

FLAGS = [
    Flag("bundle, b", STRING),
    Flag("console-socket", STRING),
    Flag("pid-file", STRING),
    Flag("no-pivot", BOOL),
    Flag("no-new-keyring", BOOL),
    Flag("preserve-fds", INT),
]


def run(ctx: Context, p: Parsed) -> int:
    need_args("create", p.args, exactly=1)
    from pyoci.ops import container
    from pyoci.spec import load

    load.DROP_VALIDATOR = True  # one config, then exit (peak RSS)

    container.create(
        ctx.options(),
        p.args[0],
        p.text("bundle") or ".",
        pid_file=p.text("pid_file"),
        console_socket=p.text("console_socket"),
        no_pivot=p.flag("no_pivot"),
        no_new_keyring=p.flag("no_new_keyring"),
        preserve_fds=p.number("preserve_fds"),
    )
    return 0
