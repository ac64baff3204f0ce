"""pyoci kill: send a signal to the container's init (or every process with --all)."""

from __future__ import annotations

from pyoci.cli.args import BOOL, Flag, Parsed, need_args

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyoci.cli import Context

USAGE = """NAME:
   pyoci kill - kill sends the specified signal (default: SIGTERM) to the container's init process

USAGE:
   pyoci kill [command options] <container-id> [signal]

OPTIONS:
   --all, -a  send the specified signal to all processes inside the container
"""

FLAGS = [Flag("all, a", BOOL)]


def run(ctx: Context, p: Parsed) -> int:
    need_args("kill", p.args, minimum=1)
    if len(p.args) > 2:
        from pyoci.errors import UsageError

        raise UsageError('"kill" requires a maximum of 2 argument(s)')
    from pyoci.ops import lifecycle as container
    from pyoci.util.signals import parse_signal

    sig = parse_signal(p.args[1]) if len(p.args) > 1 else 15
    container.kill(ctx.options(), p.args[0], sig, all_processes=p.flag("all"))
    return 0
