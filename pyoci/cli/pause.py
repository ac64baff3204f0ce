"""pyoci pause: freeze every process of the container (v1 freezer, v2 cgroup.freeze)."""

from __future__ import annotations

from pyoci.cli.args import Flag, Parsed, need_args

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyoci.cli import Context

USAGE = """NAME:
   pyoci pause - pause suspends all processes inside the container

USAGE:
   pyoci pause <container-id>

Where "<container-id>" is the name for the instance of the container to be
paused.
"""

FLAGS: list[Flag] = []


def run(ctx: Context, p: Parsed) -> int:
    need_args("pause", p.args, exactly=1)
    from pyoci.ops import cgroup_verbs as cgroup_verbs

    cgroup_verbs.pause(ctx.options(), p.args[0])
    return 0
