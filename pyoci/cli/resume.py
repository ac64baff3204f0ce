"""pyoci resume: thaw a paused container."""

from __future__ import annotations

from pyoci.cli.args import Flag, Parsed, need_args

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyoci.cli import Context

USAGE = """NAME:
   pyoci resume - resumes all processes that have been previously paused

USAGE:
   pyoci resume <container-id>

Where "<container-id>" is the name for the instance of the container to be
resumed.
"""

FLAGS: list[Flag] = []


def run(ctx: Context, p: Parsed) -> int:
    need_args("resume", p.args, exactly=1)
    from pyoci.ops import cgroup_verbs as cgroup_verbs

    cgroup_verbs.resume(ctx.options(), p.args[0])
    return 0
