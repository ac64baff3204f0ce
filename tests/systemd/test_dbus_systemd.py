"""pyoci's D-Bus client (pyoci.dbus.systemd1) against a real systemd.

Needs systemd as PID 1 on cgroup v2 with the system bus: tools/systemd-guest.sh (or
``../shared/tools/cgvm/run-in-cgv2.sh --systemd``) runs this directory in such a guest.
Elsewhere the module is skipped.  Units are ``pyoci-dbustest-<random>.scope`` in
system.slice, holding ``sleep`` processes this test starts; every one is stopped, reset
and its processes killed at the end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyoci.dbus import DBusError
from pyoci.dbus import systemd1 as sd
from pyoci.dbus.systemd1 import JobFailed, Systemd

pytestmark = pytest.mark.skipif(
    not os.path.isdir("/run/systemd/system"),
    reason="needs systemd as PID 1 (runs in the systemd guest)",
)

CGROOT = Path("/sys/fs/cgroup")
SCOPE = "org.freedesktop.systemd1.Scope"


def base_props(pid: int) -> list[tuple[str, str, object]]:
    """What runc's Apply sends for a scope."""
    return [
        ("Description", "s", "pyoci dbus test"),
        ("Slice", "s", "system.slice"),
        ("Delegate", "b", True),
        ("PIDs", "au", [pid]),
        ("MemoryAccounting", "b", True),
        ("CPUAccounting", "b", True),
        ("IOAccounting", "b", True),
        ("TasksAccounting", "b", True),
        ("DefaultDependencies", "b", False),
    ]


def show(unit: str, *props: str) -> dict[str, str]:
    out = subprocess.run(["systemctl", "show", unit, *(f"--property={p}" for p in props)],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


class Scopes:
    """The units and processes a test made; all removed at the end."""

    def __init__(self) -> None:
        self.units: list[str] = []
        self.procs: list[subprocess.Popen[bytes]] = []

    def name(self) -> str:
        unit = f"pyoci-dbustest-{uuid.uuid4().hex[:10]}.scope"
        self.units.append(unit)
        return unit

    def sleeper(self) -> int:
        proc = subprocess.Popen(["sleep", "600"])
        self.procs.append(proc)
        return proc.pid


@pytest.fixture
def scopes() -> Iterator[Scopes]:
    made = Scopes()
    yield made
    for proc in made.procs:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    with Systemd.connect() as s:
        for unit in made.units:
            try:
                s.stop_unit(unit)
            except DBusError:
                pass
            s.reset_failed_unit(unit)
            assert s.unit_state(unit) in (None, "inactive")


@pytest.fixture
def sysd() -> Iterator[Systemd]:
    with Systemd.connect() as s:
        yield s


def test_version(sysd: Systemd) -> None:
    assert sysd.conn.unique_name  # the system bus, Hello done
    assert sysd.version() > 0
    out = subprocess.run(["systemctl", "--version"], capture_output=True, text=True,
                         check=True).stdout
    assert out.split()[1] == str(sysd.version())


def test_scope_lifecycle(sysd: Systemd, scopes: Scopes) -> None:
    unit = scopes.name()
    pid = scopes.sleeper()
    sysd.start_transient_unit(unit, base_props(pid))
    # the job is done when the call returns: the pid is in the scope
    cgroup = Path(f"/proc/{pid}/cgroup").read_text().strip()
    assert cgroup == f"0::/system.slice/{unit}"
    assert show(unit, "Slice", "Delegate", "DefaultDependencies") == {
        "Slice": "system.slice", "Delegate": "yes", "DefaultDependencies": "no"}
    assert sysd.unit_state(unit) == "active"
    assert sysd.unit_property(unit, SCOPE, "Delegate") is True
    assert sysd.unit_property(unit, "org.freedesktop.systemd1.Unit", "Id") == unit

    # the same name again: UnitExists
    with pytest.raises(DBusError) as info:
        sysd.start_transient_unit(unit, base_props(pid))
    assert info.value.name == "org.freedesktop.systemd1.UnitExists"

    sysd.set_unit_properties(unit, [("MemoryMax", "t", 256 << 20), ("TasksMax", "t", 77)])
    assert (CGROOT / "system.slice" / unit / "memory.max").read_text().strip() == str(256 << 20)
    assert (CGROOT / "system.slice" / unit / "pids.max").read_text().strip() == "77"
    assert show(unit, "MemoryMax", "TasksMax") == {"MemoryMax": str(256 << 20), "TasksMax": "77"}
    assert sysd.unit_property(unit, SCOPE, "MemoryMax") == 256 << 20

    other = scopes.sleeper()
    sysd.attach_processes(unit, "/", [other])
    assert Path(f"/proc/{other}/cgroup").read_text().strip() == f"0::/system.slice/{unit}"

    assert sysd.stop_unit(unit) == "done"
    for proc in scopes.procs:
        assert proc.wait(30) == -signal.SIGTERM
    assert sysd.unit_state(unit) in (None, "inactive")
    assert not (CGROOT / "system.slice" / unit).exists()
    assert sysd.stop_unit(unit) is None  # gone: NoSuchUnit
    sysd.reset_failed_unit(unit)  # gone: fine


def test_reset_failed_unit(sysd: Systemd, scopes: Scopes) -> None:
    """A scope that fails (its RuntimeMaxSec runs out) lingers as failed until reset."""
    unit = scopes.name()
    sysd.start_transient_unit(unit, [*base_props(scopes.sleeper()),
                                     ("RuntimeMaxUSec", "t", 1_000_000)])
    deadline = time.monotonic() + 60
    while sysd.unit_state(unit) != "failed":
        assert time.monotonic() < deadline, sysd.unit_state(unit)
        time.sleep(0.2)
    sysd.reset_failed_unit(unit)
    assert sysd.unit_state(unit) is None


def test_job_failed(sysd: Systemd, scopes: Scopes) -> None:
    """A scope whose start job fails (a required unit fails): JobFailed naming the unit
    and the result, and the pid is not in the scope."""
    service = f"pyoci-dbustest-fail-{uuid.uuid4().hex[:8]}.service"
    unit_file = Path("/run/systemd/system") / service
    unit_file.write_text("[Unit]\nDefaultDependencies=no\n"
                         "[Service]\nType=oneshot\nExecStart=/bin/false\n")
    try:
        unit = scopes.name()
        pid = scopes.sleeper()
        with pytest.raises(JobFailed) as info:
            sysd.start_transient_unit(unit, [*base_props(pid), ("Requires", "as", [service]),
                                             ("After", "as", [service])])
        assert (info.value.unit, info.value.result) == (unit, "dependency")
        assert str(info.value) == f"error creating systemd unit {unit}: job result 'dependency'"
        assert unit not in Path(f"/proc/{pid}/cgroup").read_text()
    finally:
        unit_file.unlink()
        sysd.reset_failed_unit(service)


def test_private_socket(scopes: Scopes, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root falls back to /run/systemd/private (no Hello) when the system bus is not
    there; JobRemoved comes on it without any match rule.  Every connection's first call
    is answered (pyoci.dbus.connection's ``_authenticate``: BEGIN pipelined)."""
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/run/pyoci-no-such-bus")
    # The first call after the authentication went unanswered in 5 of 10 connections
    # (systemd's sd-bus left it in its buffer when it arrived in the same read as BEGIN):
    # ten connections, each asked at once.
    for _ in range(10):
        with Systemd.connect(timeout=5.0) as s:
            assert s.conn.address == sd.PRIVATE_ADDRESS and s.conn.unique_name is None
            assert s.version() > 0
    with Systemd.connect() as s:
        unit = scopes.name()
        pid = scopes.sleeper()
        s.start_transient_unit(unit, base_props(pid))
        assert Path(f"/proc/{pid}/cgroup").read_text().strip() == f"0::/system.slice/{unit}"
        assert s.stop_unit(unit) == "done"


def test_reconnect_after_the_bus_restarts() -> None:
    """dbus.service restarted between two calls, and stopped during one (started again a
    second later): each connection reconnects once and its call is made again, answered
    by systemd back on the new bus.  (The host's tests/integration/test_dbus_daemon.py
    covers the lost replies and job signals with a fake systemd.)"""
    try:
        with Systemd.connect(timeout=30) as s:
            version = s.manager_property("Version")
            res = subprocess.run(["systemctl", "restart", "dbus.service"], capture_output=True,
                                 text=True, timeout=120)  # fmt: skip
            assert res.returncode == 0, res
            assert s.manager_property("Version") == version
            assert s.reconnects == 1 and s.conn.unique_name
        with Systemd.connect(timeout=30) as s:
            s.manager_property("Version")
            res = subprocess.run(["systemctl", "stop", "dbus.service", "dbus.socket"],
                                 capture_output=True, text=True, timeout=120)  # fmt: skip
            assert res.returncode == 0, res
            later = subprocess.Popen(
                ["sh", "-c", "sleep 1; systemctl start dbus.socket dbus.service"])
            try:
                assert s.manager_property("Version") == version
            finally:
                assert later.wait(120) == 0
            assert s.reconnects == 1
    finally:
        # the bus is back, with systemd on it, for the tests after this one
        subprocess.run(["systemctl", "start", "dbus.socket", "dbus.service"], timeout=120)
        deadline = time.monotonic() + 60
        while subprocess.run(["busctl", "status", "org.freedesktop.systemd1"],
                             capture_output=True, timeout=60).returncode != 0:
            assert time.monotonic() < deadline, "systemd is not back on the bus"
            time.sleep(0.2)
