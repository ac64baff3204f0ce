"""pyoci delete: remove a stopped container (or any, with --force)."""

from __future__ import annotations

from pyoci.cli.args import BOOL, Flag, Parsed, need_args

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyoci.cli import Context

USAGE = """NAME:
   pyoci delete - delete any resources held by the container

USAGE:
   pyoci delete [command options] <container-id>

OPTIONS:
   --force, -f  forcibly delete the container if it is still running (uses SIGKILL)
"""

FLAGS = [Flag("force, f", BOOL)]


def run(ctx: Context, p: Parsed) -> int:
    need_args("delete", p.args, exactly=1)
    from pyoci.ops import lifecycle as container

    container.delete(ctx.options(), p.args[0], force=p.flag("force"))
    return 0
