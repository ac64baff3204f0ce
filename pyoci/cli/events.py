"""pyoci events: runc's JSON stats document, streamed, and OOM notifications."""

from __future__ import annotations

import sys

from pyoci.cli.args import BOOL, STRING, Flag, Parsed, need_args

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyoci.cli import Context

USAGE = """NAME:
   pyoci events - display container events such as OOM notifications, cpu, memory, and IO
                  usage statistics

USAGE:
   pyoci events [command options] <container-id>

DESCRIPTION:
   One JSON document a line: {"type":"stats","id":ID,"data":{...}} every
   interval, and {"type":"oom","id":ID} when the kernel's OOM killer acts in
   the container.  Ends when the container has no process left.

OPTIONS:
   --interval value  set the stats collection interval (default: 5s)
   --stats           display the container's stats then exit
"""

FLAGS = [Flag("interval", STRING, default="5s"), Flag("stats", BOOL)]


def _emit(event: dict[str, Any]) -> None:
    from pyoci.util import jsonio

    sys.stdout.write(jsonio.dumps(event) + "\n")
    sys.stdout.flush()


def run(ctx: Context, p: Parsed) -> int:
    need_args("events", p.args, exactly=1)
    from pyoci.ops import cgroup_verbs as cgroup_verbs

    interval = cgroup_verbs.parse_duration(p.text("interval") or "5s")
    cgroup_verbs.events(
        ctx.options(), p.args[0], _emit, stats_only=p.flag("stats"), interval=interval
    )
    return 0
