"""The cgroupfs manager on fake trees (regular files stand in for cgroupfs files:
a file that is absent is a knob "the kernel does not have")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cgroup_helpers import HYBRID_V1, FakeHost, read

from pyoci.cgroups.manager import FsManager, manager_for_create, manager_from_record
from pyoci.errors import CgroupError


def touch(directory: str | Path, *names: str, content: str = "") -> None:
    for name in names:
        (Path(directory) / name).write_text(content)


def v2_manager(tmp_path: Path, path: str = "/pod/ctr") -> tuple[FakeHost, FsManager]:
    host = FakeHost(tmp_path, unified="root", v2_controllers="cpuset cpu io memory hugetlb pids")
    m = manager_for_create("ctr", path, cgroup_root=host.cgroup_root, proc_root=host.proc_root)
    assert m is not None
    return host, m


def hybrid_manager(tmp_path: Path, **kw: object) -> tuple[FakeHost, FsManager]:
    host = FakeHost(tmp_path, v1=HYBRID_V1, unified="unified", v2_controllers="hugetlb")
    m = manager_for_create(
        "ctr", "/pod/ctr", cgroup_root=host.cgroup_root, proc_root=host.proc_root, **kw
    )  # type: ignore[arg-type]
    assert m is not None
    return host, m


# ---------------------------------------------------------------- create


def test_create_v2_makes_dirs_and_enables_controllers(tmp_path: Path) -> None:
    host, m = v2_manager(tmp_path)
    m.create()
    assert os.path.isdir(f"{host.cgroup_root}/pod/ctr")
    assert (
        read(f"{host.cgroup_root}/cgroup.subtree_control")
        == "+cpuset +cpu +io +memory +hugetlb +pids"
    )
    assert m.owned == [f"{host.cgroup_root}/pod", f"{host.cgroup_root}/pod/ctr"]


def test_create_v2_leaf_controllers_decide_availability(tmp_path: Path) -> None:
    host, m = v2_manager(tmp_path)
    os.makedirs(f"{host.cgroup_root}/pod/ctr")
    touch(f"{host.cgroup_root}/pod/ctr", "cgroup.controllers", content="memory pids\n")
    touch(f"{host.cgroup_root}/pod/ctr", "cgroup.procs", "memory.max", "pids.max")
    m.create()
    assert m.v2 == ["memory", "pids"]
    assert m.owned == []  # both existed: not created by us
    # (update: apply() would attach the device eBPF program, which needs a real cgroup)
    assert m.update({"memory": {"limit": 4096}}) == []
    assert read(f"{host.cgroup_root}/pod/ctr/memory.max") == "4096"
    with pytest.raises(CgroupError, match="cpu controller is not available"):
        m.update({"cpu": {"shares": 100}})


def test_plan_names_what_create_will_make(tmp_path: Path) -> None:
    """The record saved before ``create()`` (a create may be killed midway) names every
    directory it makes, and no existing one but the leaves."""
    host, m = hybrid_manager(tmp_path)
    os.makedirs(f"{host.cgroup_root}/memory/pod")  # exists in one hierarchy: not ours
    m.plan()
    planned = manager_from_record(m.record(), host.cgroup_root)
    assert f"{host.cgroup_root}/memory/pod" not in planned.owned
    assert f"{host.cgroup_root}/pids/pod" in planned.owned
    m.create()
    made = {str(p) for p in Path(host.cgroup_root).rglob("*") if p.is_dir()} - {
        str(p) for p in Path(host.cgroup_root).iterdir()
    }
    assert made - {f"{host.cgroup_root}/memory/pod"} <= set(planned.owned)
    # delete, from the planned record alone, removes what create made, nothing else
    planned.destroy()
    planned.destroy()  # twice: (a delete killed midway, then again)
    assert os.path.isdir(f"{host.cgroup_root}/memory/pod")
    assert not os.path.exists(f"{host.cgroup_root}/pids/pod")


def test_create_refuses_a_busy_cgroup(tmp_path: Path) -> None:
    host, m = v2_manager(tmp_path)
    os.makedirs(f"{host.cgroup_root}/pod/ctr")
    touch(f"{host.cgroup_root}/pod/ctr", "cgroup.procs", content="123\n456\n")
    with pytest.raises(CgroupError, match="not empty: 2 process"):
        m.create()
    assert not os.path.exists(f"{host.cgroup_root}/pod/ctr/sub")


def test_create_rolls_back_on_failure(tmp_path: Path) -> None:
    host, m = hybrid_manager(tmp_path)
    # make one hierarchy fail: a file where a directory must go
    touch(f"{host.cgroup_root}/pids", "pod")
    with pytest.raises(CgroupError, match="cannot create cgroup"):
        m.create()
    leftovers = [p for p in Path(host.cgroup_root).rglob("pod") if p.is_dir()]
    assert leftovers == []


def test_create_v1_cpuset_inherits(tmp_path: Path) -> None:
    host, m = hybrid_manager(tmp_path)
    cs = f"{host.cgroup_root}/cpuset"
    touch(cs, "cpuset.cpus", content="0-3\n")
    touch(cs, "cpuset.mems", content="0\n")
    os.makedirs(f"{cs}/pod/ctr")
    touch(f"{cs}/pod", "cpuset.cpus", "cpuset.mems")  # empty, like a new cgroup
    touch(f"{cs}/pod/ctr", "cpuset.cpus", "cpuset.mems")
    m.create()
    assert read(f"{cs}/pod/cpuset.cpus") == "0-3"
    assert read(f"{cs}/pod/ctr/cpuset.cpus") == "0-3"
    assert read(f"{cs}/pod/ctr/cpuset.mems") == "0"


# ---------------------------------------------------------------- apply


def test_apply_hybrid_puts_each_controller_where_the_host_has_it(tmp_path: Path) -> None:
    host, m = hybrid_manager(tmp_path)
    m.create()
    root = host.cgroup_root
    touch(
        f"{root}/memory/pod/ctr",
        "memory.limit_in_bytes",
        "memory.memsw.limit_in_bytes",
        "memory.swappiness",
    )
    touch(f"{root}/pids/pod/ctr", "pids.max")
    touch(f"{root}/cpu,cpuacct/pod/ctr", "cpu.shares")
    touch(f"{root}/unified/pod/ctr", "hugetlb.2MB.max")
    touch(f"{root}/devices/pod/ctr", "devices.list", content="a *:* rwm\n")
    touch(f"{root}/devices/pod/ctr", "devices.allow", "devices.deny")
    warnings = m.apply(
        {
            "memory": {"limit": 1 << 20, "swappiness": 5},
            "pids": {"limit": 0},
            "cpu": {"shares": 512},
            "hugepageLimits": [{"pageSize": "2MB", "limit": 2 << 20}],
            "unified": {"hugetlb.2MB.max": "4194304"},
        }
    )
    assert warnings == []
    assert read(f"{root}/memory/pod/ctr/memory.limit_in_bytes") == str(1 << 20)
    assert read(f"{root}/memory/pod/ctr/memory.swappiness") == "5"
    assert read(f"{root}/pids/pod/ctr/pids.max") == "0"
    assert read(f"{root}/cpu,cpuacct/pod/ctr/cpu.shares") == "512"
    assert read(f"{root}/unified/pod/ctr/hugetlb.2MB.max") == "4194304"  # unified comes last
    # v1 devices: the first write switches to deny-all
    assert read(f"{root}/devices/pod/ctr/devices.deny") == "a *:* rwm"


def test_apply_hybrid_unified_for_v1_controller_is_an_error(tmp_path: Path) -> None:
    _, m = hybrid_manager(tmp_path)
    with pytest.raises(CgroupError, match="memory controller is on cgroup v1"):
        m.validate({"unified": {"memory.high": "1000"}})


def test_apply_v1_unified_is_an_error(tmp_path: Path) -> None:
    host = FakeHost(tmp_path, v1=("memory",))
    with pytest.raises(CgroupError, match="needs cgroup v2"):
        manager_for_create(
            "c",
            "/c",
            resources={"unified": {"memory.high": "1"}},
            cgroup_root=host.cgroup_root,
            proc_root=host.proc_root,
        )


def test_missing_controller_is_an_error_network_too(tmp_path: Path) -> None:
    _, m = hybrid_manager(tmp_path)
    with pytest.raises(CgroupError, match="rdma controller is not available"):
        m.validate({"rdma": {"mlx5_0": {"hcaHandles": 1}}})
    # runtime.md: a property that cannot be applied is an error (runc: "cannot set
    # net_cls limit"), never dropped with a warning
    with pytest.raises(CgroupError, match=r"^cannot set net_cls limit: .*classID.*not mounted"):
        m.validate({"network": {"classID": 1}})
    with pytest.raises(CgroupError, match=r"^cannot set net_prio limit: .*priorities"):
        m.validate({"network": {"priorities": [{"name": "lo", "priority": 1}]}})
    assert m.validate({"network": {}}) == []


def test_network_on_pure_v2_is_an_error(tmp_path: Path) -> None:
    _, m = v2_manager(tmp_path)
    with pytest.raises(CgroupError, match="cannot set net_cls limit"):
        m.validate({"network": {"classID": 1}})


def test_manager_for_create_validates_resources(tmp_path: Path) -> None:
    host = FakeHost(tmp_path, unified="root", v2_controllers="memory")
    with pytest.raises(CgroupError, match="pids controller"):
        manager_for_create(
            "c",
            None,
            resources={"pids": {"limit": 1}},
            cgroup_root=host.cgroup_root,
            proc_root=host.proc_root,
        )
    host = FakeHost(tmp_path / "v1", v1=("memory",))
    with pytest.raises(CgroupError, match="swappiness"):
        manager_for_create(
            "c",
            None,
            resources={"memory": {"swappiness": 200}},
            cgroup_root=host.cgroup_root,
            proc_root=host.proc_root,
        )


def test_missing_files_warn_skip_or_fail(tmp_path: Path) -> None:
    host, m = hybrid_manager(tmp_path)
    m.create()
    root = host.cgroup_root
    touch(f"{root}/memory/pod/ctr", "memory.limit_in_bytes")
    touch(f"{root}/unified/pod/ctr", "hugetlb.2MB.max")
    warnings = m.update(
        {
            "memory": {"limit": 1000, "kernel": 5, "kernelTCP": 6},
            "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
        }
    )
    # kmem: warned; hugetlb rsvd: silently skipped (kernel without reservations)
    assert sorted(warnings) == [
        "memory.kmem.limit_in_bytes is not supported by this kernel; ignored",
        "memory.kmem.tcp.limit_in_bytes is not supported by this kernel; ignored",
    ]
    with pytest.raises(CgroupError, match="hugepage size 1GB is not supported"):
        m.update({"hugepageLimits": [{"pageSize": "1GB", "limit": 0}]})
    with pytest.raises(CgroupError, match="swap limit was requested"):
        m.update({"memory": {"limit": 1000, "swap": 2000}})
    # unlimited swap without swap accounting is fine
    assert m.update({"memory": {"limit": -1}}) == []


def test_update_check_before_update(tmp_path: Path) -> None:
    host, m = v2_manager(tmp_path)
    m.create()
    leaf = f"{host.cgroup_root}/pod/ctr"
    touch(leaf, "memory.max", "memory.swap.max")
    touch(leaf, "memory.current", content="5000\n")
    with pytest.raises(CgroupError, match="rejecting memory limit 4000 <= usage 5000"):
        m.update({"memory": {"limit": 4000, "checkBeforeUpdate": True}})
    assert m.update({"memory": {"limit": 4000}}) == []  # without the check: the kernel decides
    assert m.update({"memory": {"limit": 8000, "checkBeforeUpdate": True}}) == []
    assert read(f"{leaf}/memory.max") == "8000"


def test_update_leaves_devices_alone_unless_given(tmp_path: Path) -> None:
    _host, m = hybrid_manager(tmp_path)
    m.create()
    assert m.update({}) == []  # would fail on the absent devices.list otherwise
    with pytest.raises(FileNotFoundError):
        m.update({"devices": []})


# ---------------------------------------------------------------- processes, freezer


def test_add_process_writes_every_hierarchy(tmp_path: Path) -> None:
    _host, m = hybrid_manager(tmp_path)
    m.create()
    for d in m.dirs():
        touch(d, "cgroup.procs")
    m.add_process(4242)
    assert all(read(f"{d}/cgroup.procs") == "4242" for d in m.dirs())
    assert len(m.dirs()) == len(HYBRID_V1) + 1


def test_add_process_error(tmp_path: Path) -> None:
    _, m = hybrid_manager(tmp_path)
    with pytest.raises(CgroupError, match="cannot add process 1"):
        m.add_process(1)


def test_pids_recursive(tmp_path: Path) -> None:
    host, m = v2_manager(tmp_path)
    m.create()
    leaf = f"{host.cgroup_root}/pod/ctr"
    os.makedirs(f"{leaf}/sub/deeper")
    touch(leaf, "cgroup.procs", content="10\n3\n")
    touch(f"{leaf}/sub/deeper", "cgroup.procs", content="7\n")
    assert m.pids() == [3, 7, 10]


def test_freeze_v1(tmp_path: Path) -> None:
    host, m = hybrid_manager(tmp_path)
    m.create()
    fz = f"{host.cgroup_root}/freezer/pod/ctr"
    touch(fz, "freezer.state", content="THAWED\n")
    touch(fz, "freezer.self_freezing", content="1\n")
    assert not m.is_frozen()
    m.freeze()
    assert read(f"{fz}/freezer.state").strip() == "FROZEN"
    assert m.is_frozen()
    m.thaw()
    assert read(f"{fz}/freezer.state").strip() == "THAWED"


def test_frozen_by_parent_is_not_paused(tmp_path: Path) -> None:
    host, m = hybrid_manager(tmp_path)
    m.create()
    fz = f"{host.cgroup_root}/freezer/pod/ctr"
    touch(fz, "freezer.state", content="FROZEN\n")
    touch(fz, "freezer.self_freezing", content="0\n")
    assert not m.is_frozen()


def test_freeze_v2(tmp_path: Path) -> None:
    host, m = v2_manager(tmp_path)
    m.create()
    leaf = f"{host.cgroup_root}/pod/ctr"
    touch(leaf, "cgroup.freeze", content="0\n")
    touch(leaf, "cgroup.events", content="populated 1\nfrozen 1\n")
    assert not m.is_frozen()
    m.freeze()
    assert m.is_frozen()
    m.thaw()
    assert not m.is_frozen()


def test_no_freezer(tmp_path: Path) -> None:
    host = FakeHost(tmp_path, v1=("memory",))
    m = manager_for_create("c", "/c", cgroup_root=host.cgroup_root, proc_root=host.proc_root)
    assert m is not None
    with pytest.raises(CgroupError, match="no freezer"):
        m.freeze()
    assert not m.is_frozen()


def test_oom_kill_count(tmp_path: Path) -> None:
    host, m = v2_manager(tmp_path)
    m.create()
    leaf = f"{host.cgroup_root}/pod/ctr"
    touch(
        leaf, "memory.events", content="low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\noom_group_kill 0\n"
    )
    assert m.oom_kill_count() == 2
    assert m.oom_events_file() == f"{leaf}/memory.events"
    host2, m2 = hybrid_manager(tmp_path / "h")
    m2.create()
    touch(
        f"{host2.cgroup_root}/memory/pod/ctr",
        "memory.oom_control",
        content="oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
    )
    assert m2.oom_kill_count() == 3


# ---------------------------------------------------------------- record, destroy


def test_record_round_trip(tmp_path: Path) -> None:
    host, m = hybrid_manager(tmp_path)
    m.create()
    rec = m.record()
    again = manager_from_record(rec, cgroup_root=host.cgroup_root)
    assert again.record() == rec
    assert again.paths() == m.paths()
    # JSON-serialisable
    from pyoci.util import jsonio

    assert jsonio.loads(jsonio.dumps(rec)) == rec


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r["mounts"].update({"/etc/x": "/etc"}),
        lambda r: r.update(owned=["/sys/fs/cgroup/../../etc"]),
        lambda r: r.pop("mounts"),
        lambda r: r.update(driver="systemd"),
    ],
)
def test_record_is_checked(mutate: object) -> None:
    rec = {
        "mode": "v2",
        "mounts": {"/sys/fs/cgroup/pyoci/a": "/sys/fs/cgroup"},
        "v1": {},
        "unified": "/sys/fs/cgroup/pyoci/a",
        "v2": ["memory"],
        "owned": [],
    }
    mutate(rec)  # type: ignore[operator]
    with pytest.raises(CgroupError):
        manager_from_record(rec)


def test_destroy_removes_what_we_created(tmp_path: Path) -> None:
    host, m = hybrid_manager(tmp_path)
    m.create()
    os.makedirs(f"{host.cgroup_root}/memory/pod/ctr/nested/deeper")  # made by the container
    manager_from_record(m.record(), cgroup_root=host.cgroup_root).destroy()
    assert [p for p in Path(host.cgroup_root).rglob("pod")] == []


def test_destroy_keeps_shared_and_foreign_parents(tmp_path: Path) -> None:
    host = FakeHost(tmp_path, unified="root")
    os.makedirs(f"{host.cgroup_root}/existing")
    a = manager_for_create(
        "a", "/existing/a", cgroup_root=host.cgroup_root, proc_root=host.proc_root
    )
    b = manager_for_create("b", None, cgroup_root=host.cgroup_root, proc_root=host.proc_root)
    c = manager_for_create("c", None, cgroup_root=host.cgroup_root, proc_root=host.proc_root)
    assert a is not None and b is not None and c is not None
    for m in (a, b, c):
        m.create()
    a.destroy()
    assert os.path.isdir(f"{host.cgroup_root}/existing")  # not ours
    assert not os.path.exists(f"{host.cgroup_root}/existing/a")
    b.destroy()
    assert os.path.isdir(f"{host.cgroup_root}/pyoci/c")  # shared default parent stays
    c.destroy()
    assert not os.path.exists(f"{host.cgroup_root}/pyoci")  # the last one removes it
    c.destroy()  # idempotent


def test_destroy_reports_failure(tmp_path: Path) -> None:
    host, m = v2_manager(tmp_path)
    m.create()
    touch(f"{host.cgroup_root}/pod/ctr", "some-file")  # rmdir: ENOTEMPTY, like a busy cgroup
    with pytest.raises(CgroupError, match="cannot remove cgroup"):
        m.destroy()


# ---------------------------------------------------------------- cheap imports


def test_state_kill_delete_paths_import_nothing_heavy() -> None:
    code = (
        # the installed package, as the pyoci command runs it (-I -S)
        f"import sys; sys.path.append({next(p for p in sys.path if p.endswith('site-packages'))!r})"
        + """
before = set(sys.modules)
from pyoci.cgroups.manager import manager_from_record
m = manager_from_record({"mode": "v2", "mounts": {"/sys/fs/cgroup/x/y": "/sys/fs/cgroup"},
                         "unified": "/sys/fs/cgroup/x/y", "v1": {}, "v2": [], "owned": []})
m.is_frozen()
for call in (m.pids, m.destroy, lambda: m.kill_all(9), lambda: m.kill_all(15), m.record):
    try:
        call()
    except Exception:
        pass
new = set(sys.modules) - before
heavy = sorted(n for n in new if n.split(".")[0] in
               ("typing", "re", "json", "enum", "dataclasses", "subprocess", "signal", "ctypes",
                "os", "_collections_abc"))
print(",".join(heavy))
"""
    )
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""


def test_validate_checks_device_rules(tmp_path: Path) -> None:
    _, m = v2_manager(tmp_path)
    with pytest.raises(CgroupError, match="wildcard"):
        m.validate(
            {
                "devices": [
                    {"allow": False, "access": "rwm"},
                    {"allow": True, "type": "c", "major": 136, "access": "rwm"},
                    {"allow": False, "type": "c", "major": 136, "minor": 1, "access": "r"},
                ]
            }
        )
    with pytest.raises(CgroupError, match=r"devices\[0\]\.type"):
        m.validate({"devices": [{"allow": True, "type": "p"}]})


def _as_unprivileged(fn: object) -> int:
    """Run ``fn`` (returning an exit code) as an unprivileged user: ``nobody`` when
    we are root, ourselves otherwise."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 99
        try:
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            code = fn()  # type: ignore[operator]
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_rootless_without_a_writable_cgroup() -> None:
    import tempfile

    top = Path(tempfile.mkdtemp(prefix="pyoci-cg-rootless-"))
    try:
        top.chmod(0o755)
        host = FakeHost(top, unified="root")
        for p in [top, *top.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)

        def no_resources() -> int:
            m = manager_for_create(
                "c", None, rootless=True, cgroup_root=host.cgroup_root, proc_root=host.proc_root
            )
            return 0 if m is None else 1

        def with_resources() -> int:
            try:
                manager_for_create(
                    "c",
                    None,
                    rootless=True,
                    resources={"pids": {"limit": 5}},
                    cgroup_root=host.cgroup_root,
                    proc_root=host.proc_root,
                )
            except CgroupError as err:
                return 0 if "rootless" in str(err) else 2
            return 1

        assert _as_unprivileged(no_resources) == 0
        assert _as_unprivileged(with_resources) == 0
        # a delegated (writable) subtree is used
        delegated = Path(host.cgroup_root) / "user"
        delegated.mkdir()
        os.chown(delegated, 65534, 65534) if os.geteuid() == 0 else None

        def delegated_tree() -> int:
            m = manager_for_create(
                "c",
                "/user/c",
                rootless=True,
                cgroup_root=host.cgroup_root,
                proc_root=host.proc_root,
            )
            return 0 if m is not None and m.rootless and m.unified == f"{delegated}/c" else 1

        assert _as_unprivileged(delegated_tree) == 0
    finally:
        import shutil

        shutil.rmtree(top)


# ---------------------------------------------------------------- spawn_dir (clone3)


def test_spawn_dir_is_the_cgroup2_leaf_on_pure_v2(tmp_path: Path) -> None:
    host, m = v2_manager(tmp_path)
    assert m.spawn_dir() == f"{host.cgroup_root}/pod/ctr"
    assert manager_from_record(m.record(), host.cgroup_root).spawn_dir() == m.spawn_dir()


def test_no_spawn_dir_where_v1_hierarchies_need_a_write(tmp_path: Path) -> None:
    _, hybrid = hybrid_manager(tmp_path / "h")
    assert hybrid.unified is not None and hybrid.spawn_dir() is None
    v1 = FakeHost(tmp_path / "v1", v1=HYBRID_V1)
    m = manager_for_create("ctr", "/pod/ctr", cgroup_root=v1.cgroup_root, proc_root=v1.proc_root)
    assert m is not None and m.spawn_dir() is None


def test_spawn_dir_when_only_the_cgroup2_one_is_used(tmp_path: Path) -> None:
    """A rootless container on a hybrid host whose one writable cgroup is cgroup2."""
    host, m = hybrid_manager(tmp_path)
    unified = f"{host.cgroup_root}/unified/pod/ctr"
    m.mounts = {unified: f"{host.cgroup_root}/unified"}
    m.v1 = {}
    assert m.spawn_dir() == unified


# ---------------------------------------------------------------- joining


def test_dirs_holding_reads_proc_cgroup_per_hierarchy(tmp_path: Path) -> None:
    """The systemd driver skips the directories systemd already moved the
    process into (each cgroup.procs write takes the threadgroup lock)."""
    _host, m = hybrid_manager(tmp_path)
    text = "\n".join(
        [
            "12:pids:/pod/ctr",
            "11:name=systemd:/pod/ctr",
            "10:memory:/elsewhere",
            "9:cpu,cpuacct:/pod/ctr",
            "0::/pod/ctr",
        ]
    )
    held = m.dirs_holding(text)
    want = {m.v1[c] for c in ("pids", "name=systemd", "cpu", "cpuacct") if c in m.v1}
    if m.unified is not None:
        want.add(m.unified)
    assert held == want
    assert m.v1["memory"] not in held
    assert m.dirs_holding("") == set()


def test_add_process_skips_what_it_is_told(tmp_path: Path) -> None:
    _host, m = hybrid_manager(tmp_path)
    m.create()
    for directory in m.mounts:
        touch(directory, "cgroup.procs")
    skip = {m.v1["pids"]}
    m.add_process(4321, skip=skip)
    for directory in m.mounts:
        got = (Path(directory) / "cgroup.procs").read_text()
        assert ("4321" in got) == (directory not in skip), directory
