"""pyoci start: run the user process of a created container."""

from __future__ import annotations

from pyoci.cli.args import Flag, Parsed, need_args

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyoci.cli import Context

USAGE = """NAME:
   pyoci start - executes the user defined process in a created container

USAGE:
   pyoci start <container-id>
"""

FLAGS: list[Flag] = []


def run(ctx: Context, p: Parsed) -> int:
    need_args("start", p.args, exactly=1)
    from pyoci.ops import lifecycle as container

    container.start(ctx.options(), p.args[0])
    return 0
