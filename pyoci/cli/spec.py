"""pyoci spec: write a starter config.json (the same shape as ``runc spec``)."""

from __future__ import annotations

import os

from pyoci.cli.args import BOOL, STRING, Flag, Parsed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyoci.cli import Context

USAGE = """NAME:
   pyoci spec - create a new specification file

USAGE:
   pyoci spec [command options]

OPTIONS:
   --bundle value, -b value  path to the root of the bundle directory
   --rootless                generate a configuration for a rootless container
"""

FLAGS = [Flag("bundle, b", STRING), Flag("rootless", BOOL)]


def run(ctx: Context, p: Parsed) -> int:
    from pyoci.errors import PyociError
    from pyoci.spec.default import default_config
    from pyoci.util import jsonio

    bundle = p.text("bundle") or "."
    path = os.path.join(bundle, "config.json")
    if os.path.exists(path):
        raise PyociError(f"File {path} exists. Remove it first")
    text = jsonio.dumps_pretty(default_config(rootless=p.flag("rootless")), indent="\t")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        raise PyociError(f"write {path}: {exc.strerror}") from None
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    return 0
