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
    container_id = p.args[0]
    if p.flag("force") and absent(ctx.root, container_id):
        return 0
    from pyoci.ops import lifecycle as container

    container.delete(ctx.options(), container_id, force=p.flag("force"))
    return 0


def absent(root: str, container_id: str) -> bool:
    """``delete --force`` of a container that does not exist: exit 0 and say
    nothing, as runc.  containerd makes this call for every container it ran
    (its shim's cleanup, after the task's own delete), so it is the cheapest
    path pyoci has: no state store, no lifecycle module, no user-namespace
    probe (``tests/integration/test_cli_architecture.py`` holds its imports).
    The id is still checked as every command checks it."""
    import posix

    from pyoci.state import check_id

    check_id(container_id)
    try:
        posix.stat(f"{root}/{container_id}")
    except FileNotFoundError:
        return True
    except OSError:
        return False  # the full path words the error
    return False
