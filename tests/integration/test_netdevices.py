"""linux.netDevices (config-linux.md Network Devices): host interfaces moved into the
container's network namespace, up, with their permanent global addresses, named by a
``%d`` template when asked; a name already taken there is an error.

Each test makes its own veth pairs (unique names, deleted afterwards)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.root


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@pytest.fixture
def veth() -> Iterator[Callable[[], str]]:
    """``veth()``: a new veth pair on the host; returns the name of the end to move."""
    made: list[str] = []

    def make() -> str:
        tag = uuid.uuid4().hex[:6]
        a, b = f"pnd{tag}a", f"pnd{tag}b"
        try:
            ip("link", "add", a, "type", "veth", "peer", "name", b)
        except subprocess.CalledProcessError as exc:
            pytest.skip(f"cannot create a veth pair here: {exc.stderr.strip()}")
        made.extend([a, b])
        return a

    yield make
    for name in made:
        subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)


def _on_host(name: str) -> bool:
    return Path(f"/sys/class/net/{name}").exists()


def _netdevs(devices: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["linux"]["netDevices"] = devices

    return mutate


def test_moved_device_is_up_with_its_permanent_global_addresses(run_sh: Any,
                                                                 veth: Any) -> None:  # fmt: skip
    a = veth()
    ip("addr", "add", "10.211.8.1/24", "dev", a)  # permanent, global: kept
    ip("-6", "addr", "add", "fd00:211:8::1/64", "dev", a, "nodad")  # permanent, global: kept
    ip("addr", "add", "10.211.9.1/24", "dev", a, "valid_lft", "300", "preferred_lft", "300")
    ip("addr", "add", "10.211.10.1/24", "dev", a, "scope", "link")  # link scope: not kept
    res = run_sh("cat /sys/class/net/eth7/flags; ip -o addr show dev eth7",
                 _netdevs({a: {"name": "eth7"}}))  # fmt: skip
    flags, *addrs = res.out.splitlines()
    assert int(flags, 16) & 1, f"eth7 is not up: flags {flags}"
    text = "\n".join(addrs)
    assert "10.211.8.1/24" in text and "fd00:211:8::1/64" in text, text
    assert "10.211.9.1" not in text, f"a dynamic (not permanent) address was copied: {text}"
    assert "10.211.10.1" not in text, f"a link-scope address was copied: {text}"
    assert not _on_host(a)


def test_name_template(run_sh: Any, veth: Any) -> None:
    a, b = veth(), veth()
    res = run_sh("ls /sys/class/net; cat /sys/class/net/pnx0/flags /sys/class/net/pnx1/flags",
                 _netdevs({a: {"name": "pnx%d"}, b: {"name": "pnx%d"}}))  # fmt: skip
    lines = res.out.split()
    assert {"pnx0", "pnx1"} <= set(lines), res.out
    assert all(int(f, 16) & 1 for f in lines[-2:]), f"not up: {lines[-2:]}"


def test_name_taken_is_an_error_and_the_device_stays(pyoci: Any, bundle_factory: Any,
                                                      veth: Any) -> None:  # fmt: skip
    a = veth()
    b = bundle_factory(["true"], mutate=_netdevs({a: {"name": "lo"}}))
    res = pyoci("create", "-b", str(b.path), "taken")
    assert res.code == 1, res
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and "lo" in lines[0] and "already exists" in lines[0], res
    assert _on_host(a), "the device was moved (and lost with the container) before the check"


def test_host_name_kept_without_name(run_sh: Any, veth: Any) -> None:
    a = veth()
    res = run_sh(f"cat /sys/class/net/{a}/operstate /sys/class/net/{a}/flags",
                 _netdevs({a: {}}))  # fmt: skip
    assert int(res.out.split()[-1], 16) & 1, res.out


def test_missing_host_device_is_an_error(pyoci: Any, bundle_factory: Any) -> None:
    b = bundle_factory(["true"], mutate=_netdevs({f"pnd{uuid.uuid4().hex[:6]}z": {}}))
    res = pyoci("create", "-b", str(b.path), "missing")
    assert res.code == 1 and "no host interface" in res.err, res
