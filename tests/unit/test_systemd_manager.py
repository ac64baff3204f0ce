"""The systemd driver's manager against a fake systemd on a fake cgroup tree.

``FakeSystemd`` records every call and does what systemd would to the tree:
StartTransientUnit makes the scope's directory and moves the pid there (its
``/proc/<pid>/cgroup`` says so); StopUnit removes the directory.  Scripted
failures: UnitExists, a failed job, a timeout, a silent failure to move the pid.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cgroup_helpers import HYBRID_V1, FakeHost, read

from pyoci.cgroups.manager import FsManager, manager_from_record
from pyoci.cgroups.systemd import (
    NO_SYSTEMD,
    ROOTLESS_V1,
    SystemdManager,
    manager_for_create,
)
from pyoci.dbus import BusUnavailable, DBusError, DBusTimeout
from pyoci.dbus.systemd1 import JobFailed
from pyoci.errors import CgroupError

MAX = (1 << 64) - 1


def make_error(cls: type[BaseException], msg: str, **attrs: object) -> Any:
    """An instance of the client's exception classes whatever their __init__."""
    err = cls.__new__(cls)
    BaseException.__init__(err, msg)
    attrs.setdefault("name", "")
    for k, v in attrs.items():
        setattr(err, k, v)
    return err


class FakeSystemd:
    def __init__(self, host: FakeHost, *, version: int = 252, v1: bool = False) -> None:
        self.host = host
        self.calls: list[tuple[Any, ...]] = []
        self._version = version
        self.v1 = v1
        self.units: dict[str, str] = {}  # unit -> its cgroup (relative)
        self.exists: int = 0  # raise UnitExists that many times
        self.job_result = "done"
        self.timeout = False
        self.silent = False  # "done" but the pid stays where it was
        self.closed = False

    # the client's interface
    def version(self) -> int:
        self.calls.append(("version",))
        return self._version

    def start_transient_unit(self, name: str, properties: list[Any], *, mode: str = "replace",
                             timeout: float = 30.0) -> None:  # fmt: skip
        self.calls.append(("start", name, properties, mode))
        if self.exists:
            self.exists -= 1
            raise make_error(DBusError, f"Unit {name} already exists.",
                             name="org.freedesktop.systemd1.UnitExists")  # fmt: skip
        if self.timeout:
            raise make_error(DBusTimeout, f"no JobRemoved for {name} in 30 s")
        if self.job_result != "done":
            raise make_error(JobFailed, f"job for {name}: {self.job_result}", unit=name,
                             result=self.job_result)  # fmt: skip
        props = {p[0]: p[2] for p in properties}
        from pyoci.cgroups.systemd_props import expand_slice

        rel = expand_slice(props.get("Slice", "system.slice")).rstrip("/") + "/" + name
        self.units[name] = rel
        pids = props.get("PIDs") or []
        if self.silent:
            return
        for mount in self._mounts():
            d = Path(mount + rel)
            for parent in reversed(d.parents):
                if str(parent).startswith(mount + "/") and not parent.is_dir():
                    parent.mkdir()
                    (parent / "cgroup.controllers").write_text("cpu memory pids\n")
                    (parent / "cgroup.subtree_control").write_text("")
            d.mkdir(exist_ok=True)
            (d / "cgroup.procs").write_text("".join(f"{p}\n" for p in pids))
            (d / "cgroup.controllers").write_text("cpu memory pids\n")
            (d / "cgroup.freeze").write_text("0")
            (d / "cgroup.events").write_text("populated 1\nfrozen 0\n")
        for pid in pids:
            proc = Path(self.host.proc_root) / str(pid)
            proc.mkdir(exist_ok=True)
            line = f"1:name=systemd:{rel}" if self.v1 else f"0::{rel}"
            (proc / "cgroup").write_text(line + "\n")

    def _mounts(self) -> list[str]:
        root = self.host.cgroup_root
        if not self.v1:
            return [root]
        # systemd manages these v1 controllers (not cpuset, freezer, ...)
        return [f"{root}/{c}" for c in ("systemd", "memory", "pids", "devices", "cpu,cpuacct",
                                         "blkio")]  # fmt: skip

    def stop_unit(self, name: str, *, timeout: float = 30.0) -> str | None:
        self.calls.append(("stop", name))
        rel = self.units.pop(name, None)
        if rel is None:
            return None
        for mount in self._mounts():
            d = Path(mount + rel)
            if d.is_dir():
                for f in d.iterdir():
                    f.unlink()
                d.rmdir()
        return "done"

    def reset_failed_unit(self, name: str) -> None:
        self.calls.append(("reset", name))

    def set_unit_properties(self, name: str, properties: list[Any], *,
                            runtime: bool = True) -> None:  # fmt: skip
        # the files must not have been written yet: systemd first (runc's order)
        self.calls.append(("set", name, properties, runtime))

    def manager_property(self, prop: str) -> object:
        self.calls.append(("manager_property", prop))
        return {"ControlGroup": "/user.slice/user-1000.slice/user@1000.service",
                "DefaultTasksMax": 4915}[prop]

    def unit_state(self, name: str) -> str | None:
        return "active" if name in self.units else None

    def close(self) -> None:
        self.closed = True

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


def clear_files(directory: str) -> None:
    for f in Path(directory).iterdir():
        if f.is_file():
            f.unlink()


def cgroup_dirs(host: FakeHost, rel: str, *mounts: str) -> None:
    """What the kernel would show in directories pyoci makes (the fake has no cgroupfs)."""
    for mount in mounts:
        d = Path(host.cgroup_root, mount + rel)
        d.mkdir(parents=True)
        for f in ("cgroup.procs", "cpuset.cpus", "cpuset.mems"):
            (d / f).write_text("")


def v2_host(tmp_path: Path) -> FakeHost:
    return FakeHost(tmp_path, unified="root", v2_controllers="cpuset cpu io memory pids")


def run_dir(tmp_path: Path) -> str:
    d = tmp_path / "run-systemd-system"
    d.mkdir(exist_ok=True)
    return str(d)


def new(tmp_path: Path, host: FakeHost, sd: FakeSystemd, path: str | None = "system.slice:test:c1",
        **kw: Any) -> SystemdManager:  # fmt: skip
    return manager_for_create("c1", path, cgroup_root=host.cgroup_root, proc_root=host.proc_root,
                              run_dir=run_dir(tmp_path), connect=lambda: sd, **kw)  # fmt: skip


# ---------------------------------------------------------------- create


def test_create_starts_the_scope_with_the_pid(tmp_path: Path) -> None:
    host = v2_host(tmp_path)
    sd = FakeSystemd(host)
    m = new(tmp_path, host, sd)
    m.create()
    assert sd.names() == ["version"]  # connected, nothing started yet
    assert m.pids() == []
    m.add_process(4242)
    start = sd.calls[1]
    assert start[:2] == ("start", "test-c1.scope") and start[3] == "replace"
    props = {p[0]: (p[1], p[2]) for p in start[2]}
    assert props["Slice"] == ("s", "system.slice")
    assert props["Delegate"] == ("b", True)
    assert props["PIDs"] == ("au", [4242])
    assert props["Description"] == ("s", "pyoci container c1")
    assert props["DefaultDependencies"] == ("b", False)
    scope = f"{host.cgroup_root}/system.slice/test-c1.scope"
    assert m.fs.unified == scope and m.paths() == {"": scope}
    assert m.pids() == [4242]
    rec = m.record()
    assert rec["driver"] == "systemd" and rec["unit"] == "test-c1.scope"
    assert rec["slice"] == "system.slice" and rec["fs"]["unified"] == scope
    # the controllers are enabled down to the scope, as the fs driver does
    assert "+memory" in read(f"{host.cgroup_root}/system.slice/cgroup.subtree_control")


def test_empty_cgroups_path_is_pyoci_scope(tmp_path: Path) -> None:
    host = v2_host(tmp_path)
    m = new(tmp_path, host, FakeSystemd(host), path=None)
    assert m.unit == "pyoci-c1.scope"
    assert m.fs.unified == f"{host.cgroup_root}/system.slice/pyoci-c1.scope"


def test_annotations_follow_our_properties(tmp_path: Path) -> None:
    host = v2_host(tmp_path)
    sd = FakeSystemd(host)
    ann = {"org.systemd.property.TimeoutStopSec": "uint64 3", "x": "y"}
    m = new(tmp_path, host, sd, annotations=ann)
    m.create()
    m.add_process(7)
    props = sd.calls[1][2]
    assert props[-1] == ("TimeoutStopUSec", "t", 3_000_000)


def test_bad_annotation_fails_before_anything(tmp_path: Path) -> None:
    host = v2_host(tmp_path)
    with pytest.raises(CgroupError, match="name incorrect"):
        new(tmp_path, host, FakeSystemd(host), annotations={"org.systemd.property.X1": "true"})


def test_unit_exists_resets_and_retries_once(tmp_path: Path) -> None:
    host = v2_host(tmp_path)
    sd = FakeSystemd(host)
    sd.exists = 1
    m = new(tmp_path, host, sd)
    m.create()
    m.add_process(11)
    assert sd.names() == ["version", "start", "reset", "start"]
    assert m.pids() == [11]


def test_unit_exists_twice_fails_and_leaves_the_unit_alone(tmp_path: Path) -> None:
    host = v2_host(tmp_path)
    sd = FakeSystemd(host)
    sd.exists = 2
    m = new(tmp_path, host, sd)
    m.create()
    with pytest.raises(CgroupError, match=r"test-c1\.scope: it already exists"):
        m.add_process(11)
    m.destroy()  # the rollback: not ours, so no StopUnit
    assert "stop" not in sd.names()


def test_unit_exists_with_processes_is_not_empty(tmp_path: Path) -> None:
    host = v2_host(tmp_path)
    sd = FakeSystemd(host)
    m = new(tmp_path, host, sd)
    m.create()
    scope = Path(host.cgroup_root, "system.slice/test-c1.scope")
    scope.mkdir(parents=True)
    (scope / "cgroup.procs").write_text("999\n")  # another container got there first
    sd.exists = 1
    with pytest.raises(CgroupError, match="container's cgroup is not empty: 1 process"):
        m.add_process(11)
    assert m.pids() == [] and "stop" not in sd.names()
    m.kill_all(9)  # must not signal pid 999
    m.destroy()
    assert scope.is_dir()


def test_existing_busy_cgroup_refused_at_create(tmp_path: Path) -> None:
    host = v2_host(tmp_path)
    scope = Path(host.cgroup_root, "system.slice/test-c1.scope")
    scope.mkdir(parents=True)
    (scope / "cgroup.procs").write_text("1\n2\n")
    sd = FakeSystemd(host)
    m = new(tmp_path, host, sd)
    with pytest.raises(CgroupError, match="not empty: 2 process"):
        m.create()
    assert "start" not in sd.names()
    assert m.pids() == []  # the rollback will not kill them


def test_failed_job_is_an_error_naming_the_unit(tmp_path: Path) -> None:
    host = v2_host(tmp_path)
    sd = FakeSystemd(host)
    sd.job_result = "failed"
    m = new(tmp_path, host, sd)
    m.create()
    with pytest.raises(CgroupError) as exc:
        m.add_process(5)
    assert str(exc.value) == "error creating systemd unit test-c1.scope: got failed"
    assert sd.names()[-1] == "reset"
    m.destroy()  # the rollback stops what may exist
    assert "stop" in sd.names()


def test_job_timeout(tmp_path: Path) -> None:
    host = v2_host(tmp_path)
    sd = FakeSystemd(host)
    sd.timeout = True
    m = new(tmp_path, host, sd)
    m.create()
    with pytest.raises(CgroupError, match=r"timeout waiting for systemd to create test-c1\.scope"):
        m.add_process(5)


def test_systemd_failing_silently_is_caught(tmp_path: Path) -> None:
    """runc #2310: the job is "done" but the process is still in our cgroup."""
    host = v2_host(tmp_path)
    sd = FakeSystemd(host)
    sd.silent = True
    proc = Path(host.proc_root, "5")
    proc.mkdir()
    (proc / "cgroup").write_text("0::/user.slice/session-1.scope\n")
    m = new(tmp_path, host, sd)
    m.create()
    with pytest.raises(CgroupError) as exc:
        m.add_process(5)
    assert "test-c1.scope" in str(exc.value) and "/user.slice/session-1.scope" in str(exc.value)


def test_bus_unavailable_is_one_line_naming_the_unit(tmp_path: Path) -> None:
    host = v2_host(tmp_path)

    def refuse() -> Any:
        raise make_error(BusUnavailable, "cannot connect to unix:path=/run/dbus/system_bus_socket:"
                                         " No such file or directory")  # fmt: skip

    m = manager_for_create("c1", "system.slice:test:c1", cgroup_root=host.cgroup_root,
                           proc_root=host.proc_root, run_dir=run_dir(tmp_path),
                           connect=refuse)  # fmt: skip
    with pytest.raises(CgroupError) as exc:
        m.create()
    msg = str(exc.value)
    assert "test-c1.scope" in msg and "system_bus_socket" in msg and "\n" not in msg
    m.destroy()  # nothing started: nothing to do, no error


def test_no_systemd_on_host(tmp_path: Path) -> None:
    host = v2_host(tmp_path)
    with pytest.raises(CgroupError) as exc:
        manager_for_create("c1", "", cgroup_root=host.cgroup_root, proc_root=host.proc_root,
                           run_dir=str(tmp_path / "absent"))  # fmt: skip
    assert str(exc.value) == NO_SYSTEMD


def test_malformed_path_comes_before_the_host_checks(tmp_path: Path) -> None:
    host = v2_host(tmp_path)
    with pytest.raises(CgroupError, match="slice:prefix:name"):
        manager_for_create("c1", "/a/b", cgroup_root=host.cgroup_root, proc_root=host.proc_root,
                           run_dir=str(tmp_path / "absent"))  # fmt: skip


def test_rootless_on_v1_is_refused(tmp_path: Path) -> None:
    host = FakeHost(tmp_path, v1=HYBRID_V1, unified="unified", v2_controllers="hugetlb")
    with pytest.raises(CgroupError) as exc:
        manager_for_create("c1", "", rootless=True, cgroup_root=host.cgroup_root,
                           proc_root=host.proc_root, run_dir=run_dir(tmp_path))  # fmt: skip
    assert str(exc.value) == ROOTLESS_V1


def test_rootless_v2_scope_under_the_user_manager(tmp_path: Path) -> None:
    host = v2_host(tmp_path)
    sd = FakeSystemd(host)
    m = new(tmp_path, host, sd, path="", rootless=True)
    assert m.spec.slice == "user.slice"
    m.create()
    # the user manager puts it below its own cgroup
    base = "/user.slice/user-1000.slice/user@1000.service"
    assert m.fs.unified == f"{host.cgroup_root}{base}/user.slice/pyoci-c1.scope"
    assert ("manager_property", "ControlGroup") in sd.calls
    real = start = sd.start_transient_unit

    def start_under_manager(name: str, props: list[Any], **kw: Any) -> None:
        real(name, props, **kw)
        rel = base + "/user.slice/" + name
        d = Path(host.cgroup_root + rel)
        d.mkdir(parents=True)
        (d / "cgroup.procs").write_text("77\n")
        (Path(host.proc_root) / "77" / "cgroup").write_text(f"0::{rel}\n")

    sd.start_transient_unit = start_under_manager  # type: ignore[method-assign]
    assert start is real
    m.add_process(77)
    assert m.fs.unified == f"{host.cgroup_root}{base}/user.slice/pyoci-c1.scope"
    assert m.record()["user"] is True and m.record()["fs"]["unified"] == m.fs.unified


# ---------------------------------------------------------------- resources


def started(tmp_path: Path, host: FakeHost, sd: FakeSystemd, **kw: Any) -> SystemdManager:
    m = new(tmp_path, host, sd, **kw)
    m.create()
    m.add_process(100)
    return m


def test_update_tells_systemd_then_writes_the_files(tmp_path: Path) -> None:
    host = v2_host(tmp_path)
    sd = FakeSystemd(host)
    m = started(tmp_path, host, sd)
    scope = Path(m.fs.unified or "")
    for f in ("memory.max", "pids.max", "cpu.max", "cpu.weight"):
        (scope / f).write_text("")  # (a regular file: a write does not truncate)
    seen: list[str] = []
    real = sd.set_unit_properties

    def check_order(name: str, props: list[Any], **kw: Any) -> None:
        seen.append((scope / "memory.max").read_text())
        real(name, props, **kw)

    sd.set_unit_properties = check_order  # type: ignore[method-assign]
    res = {"memory": {"limit": 1 << 20}, "pids": {"limit": 0},
           "cpu": {"quota": 123456, "period": 100000, "shares": 1024}}  # fmt: skip
    assert m.update(res) == []
    assert seen == [""]  # systemd was told before the file changed
    name, props, runtime = sd.calls[-1][1:]
    assert name == "test-c1.scope" and runtime is True
    assert props == [  # in the order of their drop-in files (dropin_order)
        ("CPUQuotaPerSecUSec", "t", 1240000),
        ("CPUQuotaPeriodUSec", "t", 100000),
        ("CPUWeight", "t", 100),
        ("MemoryMax", "t", 1 << 20),
        ("TasksMax", "t", 1),
    ]
    assert read(scope / "memory.max") == str(1 << 20)
    assert read(scope / "cpu.max") == "124000 100000"  # rounded as systemd keeps it
    assert read(scope / "pids.max") == "1"  # 0 -> 1, as systemd keeps it (and runc)
    assert read(scope / "cpu.weight") == "100"


def test_create_sends_placeholders_for_what_update_can_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At create, every property update could set exists (unset values where the config
    has none; TasksMax the manager's default), so that a later update writes no new
    drop-in (NeedDaemonReload stays "no")."""
    host = v2_host(tmp_path)
    sd = FakeSystemd(host)
    m = started(tmp_path, host, sd)
    # the files' side is not what is tested (its device eBPF needs root)
    monkeypatch.setattr(type(m.fs), "apply", lambda self, res: [])
    m.apply({"memory": {"limit": 1 << 20}})
    props = dict((n, v) for n, _s, v in sd.calls[-1][2])
    assert props["MemoryMax"] == 1 << 20 and props["TasksMax"] == 4915
    assert props["CPUWeight"] == (1 << 64) - 1 and props["AllowedCPUs"] == b""
    assert ("manager_property", "DefaultTasksMax") in sd.calls
    names = [p[0] for p in sd.calls[-1][2]]
    assert names == sorted(names, key=lambda n: {"CPUQuotaPerSecUSec": "CPUQuota",
                                                 "CPUQuotaPeriodUSec": "CPUQuotaPeriodSec"}
                           .get(n, n))  # fmt: skip
    # with a pids limit, no need to ask for the default
    sd2 = FakeSystemd(host)
    (tmp_path / "b").mkdir()
    m2 = started(tmp_path / "b", host, sd2, path="system.slice:test:c2")
    m2.apply({"pids": {"limit": 9}})
    assert ("manager_property", "DefaultTasksMax") not in sd2.calls
    assert dict((n, v) for n, _s, v in sd2.calls[-1][2])["TasksMax"] == 9
    # update sends only what it is given
    Path(m.fs.unified or "", "pids.max").write_text("")
    m.update({"pids": {"limit": 5}})
    assert sd.calls[-1][2] == [("TasksMax", "t", 5)]


def test_update_rebuilt_from_the_record(tmp_path: Path) -> None:
    host = v2_host(tmp_path)
    sd = FakeSystemd(host)
    m = started(tmp_path, host, sd)
    Path(m.fs.unified or "", "pids.max").write_text("")
    again = manager_from_record(m.record(), cgroup_root=host.cgroup_root)
    assert isinstance(again, SystemdManager) and not again.pending
    again._connect = lambda: sd
    again.update({"pids": {"limit": 5}})
    assert sd.calls[-1][:3] == ("set", "test-c1.scope", [("TasksMax", "t", 5)])
    assert read(Path(m.fs.unified or "", "pids.max")) == "5"
    # exec: a process joins through the files, no new unit
    before = len(sd.calls)
    again.add_process(321)
    assert len(sd.calls) == before
    assert "321" in read(Path(m.fs.unified or "", "cgroup.procs"))


def test_validate_catches_conversion_errors_at_create(tmp_path: Path) -> None:
    host = v2_host(tmp_path)
    with pytest.raises(CgroupError, match="conversion error"):
        new(tmp_path, host, FakeSystemd(host), resources={"unified": {"cpu.weight": "x"}})


def test_no_properties_no_call(tmp_path: Path) -> None:
    host = v2_host(tmp_path)
    sd = FakeSystemd(host)
    m = started(tmp_path, host, sd)
    m.update({"hugepageLimits": []})
    assert "set" not in sd.names()


# ---------------------------------------------------------------- destroy


def test_destroy_stops_resets_and_removes(tmp_path: Path) -> None:
    host = v2_host(tmp_path)
    sd = FakeSystemd(host)
    m = started(tmp_path, host, sd)
    scope = m.fs.unified or ""
    clear_files(scope)  # (cgroupfs files vanish with their directory)
    os.makedirs(f"{scope}/sub")  # a sub-cgroup systemd < 240 leaves behind
    sd_left = FakeSystemd(host)  # a systemd that stops the unit and leaves the dirs
    sd_left.units = dict(sd.units)
    sd_left._mounts = lambda: []  # type: ignore[method-assign]
    again = manager_from_record(m.record(), cgroup_root=host.cgroup_root)
    assert isinstance(again, SystemdManager)
    again._connect = lambda: sd_left
    again.destroy()
    assert sd_left.names() == ["stop", "reset"]
    assert not os.path.exists(scope)
    assert os.path.isdir(f"{host.cgroup_root}/system.slice")  # never a slice we did not make


def test_record_of_a_create_killed_before_the_unit_started_touches_nothing(
    tmp_path: Path,
) -> None:
    """create saves its record before it starts the unit (a create killed at
    any instant must be cleanable); until the unit is started the record says
    so, and a delete from it neither stops a unit of that name (someone
    else's, maybe) nor kills what its cgroup holds."""
    host = v2_host(tmp_path)
    sd = FakeSystemd(host)
    m = new(tmp_path, host, sd)
    m.plan()
    m.create()
    early = m.record()
    assert early["started"] is False
    m.add_process(4242)  # the unit (and its cgroup) now exist, holding 4242
    assert m.record()["started"] is True
    other = FakeSystemd(host)
    again = manager_from_record(early, cgroup_root=host.cgroup_root)
    assert isinstance(again, SystemdManager)
    again._connect = lambda: other
    assert again.pids() == []
    again.kill_all(9)
    again.destroy()
    assert other.names() == []
    assert os.path.isdir(m.fs.unified or "")
    late = manager_from_record(m.record(), cgroup_root=host.cgroup_root)
    assert isinstance(late, SystemdManager)
    assert late.pids() == [4242]


def test_destroy_of_a_gone_unit_is_quiet(tmp_path: Path) -> None:
    host = v2_host(tmp_path)
    sd = FakeSystemd(host)
    m = started(tmp_path, host, sd)
    m.destroy()
    m.destroy()  # NoSuchUnit: None from stop_unit
    assert sd.names()[-2:] == ["stop", "reset"]


def test_destroy_without_bus_still_removes_the_files(tmp_path: Path) -> None:
    host = v2_host(tmp_path)
    sd = FakeSystemd(host)
    m = started(tmp_path, host, sd)
    clear_files(m.fs.unified or "")
    again = manager_from_record(m.record(), cgroup_root=host.cgroup_root)
    assert isinstance(again, SystemdManager)

    def refuse() -> Any:
        raise make_error(BusUnavailable, "no bus")

    again._connect = refuse
    again.destroy()
    assert not os.path.exists(m.fs.unified or "")


# ---------------------------------------------------------------- v1 / hybrid


def test_hybrid_paths_and_joining_the_other_controllers(tmp_path: Path) -> None:
    host = FakeHost(tmp_path, v1=HYBRID_V1, unified="unified", v2_controllers="hugetlb")
    cgroup_dirs(host, "/system.slice/test-c1.scope", "cpuset", "freezer", "unified")
    for f in ("cpuset.cpus", "cpuset.mems"):
        Path(host.cgroup_root, "cpuset/system.slice", f).write_text("0-1\n")
    sd = FakeSystemd(host, v1=True)
    m = new(tmp_path, host, sd)
    assert isinstance(m.fs, FsManager) and m.fs.mode == "hybrid"
    assert m.paths()["memory"] == f"{host.cgroup_root}/memory/system.slice/test-c1.scope"
    assert m.paths()[""] == f"{host.cgroup_root}/unified/system.slice/test-c1.scope"
    m.create()
    m.add_process(55)
    props = {p[0] for p in sd.calls[1][2]}
    assert "BlockIOAccounting" in props and "IOAccounting" not in props
    # systemd made memory's; pyoci made and joined freezer's and cpuset's
    for ctl in ("freezer", "cpuset", "unified"):
        d = f"{host.cgroup_root}/{ctl}/system.slice/test-c1.scope"
        assert read(f"{d}/cgroup.procs").strip() == "55", ctl
    assert read(f"{host.cgroup_root}/cpuset/system.slice/test-c1.scope/cpuset.cpus") == "0-1"


def test_v1_update_uses_v1_properties(tmp_path: Path) -> None:
    host = FakeHost(tmp_path, v1=HYBRID_V1, unified="unified", v2_controllers="hugetlb")
    cgroup_dirs(host, "/system.slice/test-c1.scope", "cpuset", "freezer", "unified")
    sd = FakeSystemd(host, v1=True)
    m = new(tmp_path, host, sd)
    m.create()
    m.add_process(55)
    Path(m.paths()["memory"], "memory.limit_in_bytes").write_text("")
    Path(m.paths()["cpu"], "cpu.shares").write_text("")
    m.update({"memory": {"limit": 1 << 20}, "cpu": {"shares": 512}})
    assert sd.calls[-1][2] == [("CPUShares", "t", 512), ("MemoryLimit", "t", 1 << 20)]
    assert read(Path(m.paths()["cpu"], "cpu.shares")) == "512"


# ---------------------------------------------------------------- cheap imports


def test_state_kill_ps_paths_do_not_load_the_dbus_client() -> None:
    """state/start/kill/pause/ps rebuild the manager and touch files only: no
    D-Bus client, no property mapping, nothing heavy (delete loads the client)."""
    code = (
        f"import sys; sys.path.append({next(p for p in sys.path if p.endswith('site-packages'))!r})"
        + """
before = set(sys.modules)
from pyoci.cgroups.manager import manager_from_record
m = manager_from_record({"driver": "systemd", "unit": "x-y.scope", "slice": "system.slice",
                         "user": False,
                         "fs": {"mode": "v2", "mounts": {"/sys/fs/cgroup/system.slice/x-y.scope":
                                                         "/sys/fs/cgroup"},
                                "unified": "/sys/fs/cgroup/system.slice/x-y.scope", "v1": {},
                                "v2": [], "owned": []}})
assert type(m).__name__ == "SystemdManager"
m.is_frozen()
for call in (m.pids, lambda: m.kill_all(9), lambda: m.kill_all(15), m.record, m.paths):
    try:
        call()
    except Exception:
        pass
new = set(sys.modules) - before
heavy = sorted(n for n in new if n.split(".")[0] in
               ("typing", "re", "json", "enum", "dataclasses", "subprocess", "signal", "ctypes",
                "os", "_collections_abc", "socket")
               or n.startswith("pyoci.dbus"))
print(",".join(heavy))
"""
    )
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""


def test_paused_status_reads_the_scopes_freezer(tmp_path: Path) -> None:
    from pyoci.state.status import _is_frozen

    host = v2_host(tmp_path)
    m = started(tmp_path, host, FakeSystemd(host))
    record = {"cgroup": m.record()}
    assert not _is_frozen(record)
    Path(m.fs.unified or "", "cgroup.freeze").write_text("1")
    assert _is_frozen(record)


def test_slice_unit_is_wanted_by_its_parent_and_joined_through_the_files(tmp_path: Path) -> None:
    """A name ending in .slice makes the unit that slice (runc): Wants= its parent,
    no Delegate; a slice takes no PIDs, so the process joins through cgroup.procs."""
    host = v2_host(tmp_path)
    sd = FakeSystemd(host)
    m = new(tmp_path, host, sd, path="system.slice:ignored:system-pod1.slice")
    assert m.unit == "system-pod1.slice"
    assert m.fs.unified == f"{host.cgroup_root}/system.slice/system-pod1.slice"
    m.create()
    m.add_process(88)
    props = {p[0]: p[2] for p in sd.calls[1][2]}
    assert props["Wants"] == ["system.slice"]
    assert "Slice" not in props and "Delegate" not in props and "PIDs" not in props
    assert read(f"{m.fs.unified}/cgroup.procs").strip() == "88"
    clear_files(m.fs.unified or "")
    m.destroy()  # ours: stopped
    assert ("stop", "system-pod1.slice") in sd.calls
