"""pyoci ps: the processes of a container (host pids), as JSON or through ps(1)."""

from __future__ import annotations

import sys

from pyoci.cli.args import STRING, Flag, Parsed, need_args

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyoci.cli import Context

USAGE = """NAME:
   pyoci ps - ps displays the processes running inside a container

USAGE:
   pyoci ps [command options] <container-id> [ps options]

OPTIONS:
   --format value, -f value  select one of: table or json (default: "table")
"""

FLAGS = [Flag("format, f", STRING, default="table")]

# ps ID -ef: everything after the id goes to ps(1)
STOP_AFTER = 1


def run(ctx: Context, p: Parsed) -> int:
    need_args("ps", p.args, minimum=1)
    from pyoci.errors import UsageError
    from pyoci.ops import cgroup_verbs as cgroup_verbs
    from pyoci.util import jsonio

    fmt = p.text("format") or "table"
    if fmt not in ("table", "json"):
        raise UsageError(f"invalid format option {fmt!r}")
    pids = cgroup_verbs.processes(ctx.options(), p.args[0])
    if fmt == "json":
        sys.stdout.write(jsonio.dumps(pids) + "\n")
        return 0
    sys.stdout.write(cgroup_verbs.ps_table(pids, p.args[1:]))
    return 0
