"""Where in a document a problem is: ``["mounts", 2, "destination"]`` →
``mounts[2].destination``, as the schema and semantic checks word it."""

from __future__ import annotations

from pyoci.util import jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


def format_path(path: Iterable[str | int]) -> str:
    """``["mounts", 2, "destination"]`` -> ``mounts[2].destination``.

    Keys that are not plain names (``net.ipv4.ip_forward``) are bracketed and quoted.
    """
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part and part.isascii() and all(c.isalnum() or c in "_-" for c in part):
            out += f".{part}" if out else part
        else:
            out += "[" + jsonio.dumps(part) + "]"
    return out
