"""pyoci list: the containers under --root."""

from __future__ import annotations

import sys

from pyoci.cli.args import BOOL, STRING, Flag, Parsed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyoci.cli import Context

USAGE = """NAME:
   pyoci list - lists containers started by pyoci with the given root

USAGE:
   pyoci list [command options]

OPTIONS:
   --format value, -f value  select one of: table or json (default: "table")
   --quiet, -q               display only container IDs
"""

FLAGS = [Flag("format, f", STRING, default="table"), Flag("quiet, q", BOOL)]


def run(ctx: Context, p: Parsed) -> int:
    from pyoci.errors import UsageError
    from pyoci.ops import lifecycle as container
    from pyoci.util import jsonio

    fmt = p.text("format") or "table"
    if fmt not in ("table", "json"):
        raise UsageError(f"invalid format option {fmt!r}")
    states = container.list_containers(ctx.options())
    if p.flag("quiet"):
        sys.stdout.write("".join(f"{s.id}\n" for s in states))
        return 0
    if fmt == "json":
        sys.stdout.write(jsonio.dumps([s.to_oci() for s in states]) + "\n")
        return 0
    rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
    for s in states:
        rows.append((s.id, str(s.pid if s.status != "stopped" else 0), s.status, s.bundle,
                     s.created, s.owner))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    for r in rows:
        sys.stdout.write("".join(c.ljust(w + 3) for c, w in zip(r, widths, strict=True)).rstrip()
                         + "\n")  # fmt: skip
    return 0
