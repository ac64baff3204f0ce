"""linux.netDevices: which host addresses are carried into the container (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from pyoci.ops.netdevices import IFA_F_PERMANENT, kept_address


class Msg:
    """A stand-in for pyroute2's ifaddrmsg: header fields and attributes."""

    def __init__(self, attrs: dict[str, Any], **fields: Any) -> None:
        self.attrs = attrs
        self.fields = {"family": 2, "prefixlen": 24, "scope": 0, "flags": 0, **fields}

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    def get_attr(self, name: str) -> Any:
        return self.attrs.get(name)


V4 = {"IFA_ADDRESS": "10.0.0.1", "IFA_LOCAL": "10.0.0.1", "IFA_BROADCAST": "10.0.0.255"}


def test_permanent_global_address_is_kept() -> None:
    assert kept_address(Msg(dict(V4, IFA_FLAGS=IFA_F_PERMANENT))) == {
        "family": 2, "prefixlen": 24, "address": "10.0.0.1", "broadcast": "10.0.0.255"}
    # the 8-bit header field when there is no IFA_FLAGS attribute
    assert kept_address(Msg(V4, flags=IFA_F_PERMANENT)) is not None


@pytest.mark.parametrize("fields", [
    {"flags": 0},                                 # dynamic (a lifetime): not permanent
    {"flags": IFA_F_PERMANENT, "scope": 253},     # link scope
    {"flags": IFA_F_PERMANENT, "scope": 254},     # host scope
])  # fmt: skip
def test_other_addresses_are_not(fields: dict[str, Any]) -> None:
    assert kept_address(Msg(V4, **fields)) is None


def test_point_to_point_keeps_local_and_peer() -> None:
    msg = Msg({"IFA_ADDRESS": "10.9.0.2", "IFA_LOCAL": "10.9.0.1", "IFA_FLAGS": 0x80},
              prefixlen=32)  # fmt: skip
    assert kept_address(msg) == {"family": 2, "prefixlen": 32, "address": "10.9.0.2",
                                 "local": "10.9.0.1"}  # fmt: skip
