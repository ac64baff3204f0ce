"""linux.netDevices: move host interfaces into the container's network namespace.

config-linux.md (Network Devices), done by the parent with pyroute2 (imported
only when a config asks for this), as runc does:

1. the new name must not exist in the container's namespace, unless it is a
   ``%d`` template (checked before the move: the device stays on the host);
2. the permanent addresses of global scope are read on the host: the kernel
   drops every address when a device changes namespace;
3. the move and the rename are one netlink request (the kernel resolves a
   template in the target namespace);
4. in the container's namespace (the parent enters it for a moment: it is
   single-threaded), the addresses are added back and the device set up.
"""

from __future__ import annotations

import os

from pyoci.errors import SetupError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

IFA_F_PERMANENT = 0x80
RT_SCOPE_UNIVERSE = 0


def move_devices(devices: dict[str, Any], init_pid: int) -> None:
    from pyroute2 import IPRoute  # 100+ ms: only on this path

    moved: list[tuple[str, list[dict[str, Any]]]] = []
    ns_fd = os.open(f"/proc/{init_pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        with IPRoute() as ipr:
            for name, dev in devices.items():
                moved.append(_move_one(ipr, name, (dev or {}).get("name") or name, init_pid))
        with _InNetns(ns_fd), IPRoute() as ipr:
            for final, addresses in moved:
                _configure(ipr, final, addresses)
    finally:
        os.close(ns_fd)


def _move_one(ipr: Any, name: str, target: str, init_pid: int) -> tuple[str, list[dict[str, Any]]]:
    idx = ipr.link_lookup(ifname=name)
    if not idx:
        raise SetupError(f"linux.netDevices: no host interface {name!r}")
    before = container_names(init_pid)
    if "%" not in target and target in before:
        raise SetupError(
            f"linux.netDevices: {target} already exists in the container's network namespace"
            " (append %d to the name to let the kernel number it)"
        )
    try:
        addresses = [a for m in ipr.get_addr(index=idx[0]) if (a := kept_address(m))]
        ipr.link("set", index=idx[0], net_ns_pid=init_pid, ifname=target)
    except Exception as exc:
        raise SetupError(f"linux.netDevices: move {name} into the container: {exc}") from None
    if "%" not in target:
        return target, addresses
    new = container_names(init_pid) - before
    if len(new) != 1:
        raise SetupError(f"linux.netDevices: cannot tell which name {name} got from {target!r}")
    return new.pop(), addresses


def kept_address(msg: Any) -> dict[str, Any] | None:
    """The ``addr add`` arguments of an address to carry over, or None: only permanent
    addresses of global scope (config-linux.md: IFA_F_PERMANENT, RT_SCOPE_UNIVERSE)."""
    flags = msg.get_attr("IFA_FLAGS")
    if flags is None:
        flags = msg["flags"]
    if not flags & IFA_F_PERMANENT or msg["scope"] != RT_SCOPE_UNIVERSE:
        return None
    args: dict[str, Any] = {"family": msg["family"], "prefixlen": msg["prefixlen"]}
    local = msg.get_attr("IFA_LOCAL")
    address = msg.get_attr("IFA_ADDRESS")
    args["address"] = address or local
    if local and address and local != address:  # point-to-point: local and peer
        args["local"] = local
    broadcast = msg.get_attr("IFA_BROADCAST")
    if broadcast:
        args["broadcast"] = broadcast
    return args


def _configure(ipr: Any, name: str, addresses: list[dict[str, Any]]) -> None:
    idx = ipr.link_lookup(ifname=name)
    if not idx:
        raise SetupError(f"linux.netDevices: {name} is not in the container's namespace")
    try:
        for args in addresses:
            ipr.addr("add", index=idx[0], **args)
        ipr.link("set", index=idx[0], state="up")
    except Exception as exc:
        raise SetupError(f"linux.netDevices: set up {name} in the container: {exc}") from None


def container_names(pid: int) -> set[str]:
    """Interface names in the network namespace of ``pid``."""
    with open(f"/proc/{pid}/net/dev", "rb") as f:
        lines = f.read().decode().splitlines()[2:]
    return {line.split(":", 1)[0].strip() for line in lines if ":" in line}


class _InNetns:
    """Enter the network namespace of ``ns_fd`` for a moment; back to ours after."""

    def __init__(self, ns_fd: int) -> None:
        self.ns_fd = ns_fd
        self.own = -1

    def __enter__(self) -> None:
        from pyoci import native
        from pyoci.native import consts as c

        self.own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            native.setns(self.ns_fd, c.CLONE_NEWNET, "the container's network namespace")
        except BaseException:
            os.close(self.own)
            raise

    def __exit__(self, *_exc: object) -> None:
        from pyoci import native
        from pyoci.native import consts as c

        try:
            native.setns(self.own, c.CLONE_NEWNET, "the runtime's network namespace")
        finally:
            os.close(self.own)
