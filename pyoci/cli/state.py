"""pyoci state: print the state JSON of a container."""

from __future__ import annotations

import sys

from pyoci.cli.args import Flag, Parsed, need_args

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyoci.cli import Context

USAGE = """NAME:
   pyoci state - output the state of a container

USAGE:
   pyoci state <container-id>
"""

FLAGS: list[Flag] = []


def run(ctx: Context, p: Parsed) -> int:
    need_args("state", p.args, exactly=1)
    from pyoci.ops import lifecycle as container
    from pyoci.util import jsonio

    st = container.state(ctx.options(), p.args[0])
    sys.stdout.write(jsonio.dumps_pretty(st.to_oci()) + "\n")
    return 0
