"""linux.netDevices: move host interfaces into the container's network namespace.

Netlink through pyroute2, imported only when a config asks for this.
"""

from __future__ import annotations

from pyoci.errors import SetupError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def move_devices(devices: dict[str, Any], init_pid: int) -> None:
    from pyroute2 import IPRoute  # 100+ ms: only on this path

    with IPRoute() as ipr:
        for name, dev in devices.items():
            idx = ipr.link_lookup(ifname=name)
            if not idx:
                raise SetupError(f"linux.netDevices: no host interface {name!r}")
            target = (dev or {}).get("name") or name
            try:
                ipr.link("set", index=idx[0], net_ns_pid=init_pid, ifname=target)
            except Exception as exc:
                raise SetupError(
                    f"linux.netDevices: move {name} into the container: {exc}"
                ) from None
