"""linux.netDevices: host interfaces moved into the container's network namespace.

The move itself is done by the parent (``pyoci.netdevices``) with pyroute2;
the init only checks they arrived.
"""

from __future__ import annotations

import os

from pyoci.errors import SetupError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def check_moved(devices: dict[str, Any]) -> None:
    for name, dev in devices.items():
        target = (dev or {}).get("name") or name
        if not os.path.exists(f"/sys/class/net/{target}") and not _in_proc_net(target):
            raise SetupError(f"linux.netDevices: {target} is not in the container's namespace")


def _in_proc_net(name: str) -> bool:
    try:
        with open("/proc/self/net/dev", "rb") as f:
            return any(line.split(b":", 1)[0].strip() == name.encode() for line in f)
    except OSError:
        return False
