"""Pure mapping code of the process setup and the state: no root, no syscalls that matter."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyoci import native
from pyoci.errors import ConfigError, SetupError
from pyoci.init import security
from pyoci.init.process import env_list_to_dict, home_for, lookup_executable
from pyoci.init.security import parse_rlimits
from pyoci.process.idmap import format_map, is_own_single_mapping
from pyoci.spec.names import CAPABILITIES, RLIMITS
from pyoci.state import model
from pyoci.state.status import derive_status, is_alive, process_start_time, read_proc_stat
from pyoci.util.capabilities import CapabilityPlan, caps_to_mask, permitted_of_self

# ------------------------------------------------------------------ capabilities


def test_capability_table_matches_the_kernel_numbers() -> None:
    assert CAPABILITIES["CAP_CHOWN"] == 0
    assert CAPABILITIES["CAP_SYS_ADMIN"] == 21
    assert CAPABILITIES["CAP_AUDIT_WRITE"] == 29
    assert CAPABILITIES["CAP_CHECKPOINT_RESTORE"] == 40
    assert sorted(CAPABILITIES.values()) == list(range(41))


def test_caps_to_mask() -> None:
    warnings: list[str] = []
    mask = caps_to_mask(["CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN"], warnings, 40)
    assert mask == (1 << 0) | (1 << 5) | (1 << 21)
    assert warnings == []
    assert caps_to_mask(None, warnings, 40) == 0
    assert caps_to_mask([], warnings, 40) == 0


def test_unknown_or_too_new_capabilities_warn() -> None:
    warnings: list[str] = []
    mask = caps_to_mask(["CAP_KILL", "CAP_NOPE", "CAP_CHECKPOINT_RESTORE"], warnings, 39)
    assert mask == 1 << 5
    assert len(warnings) == 2
    assert "CAP_NOPE" in warnings[0] and "CAP_CHECKPOINT_RESTORE" in warnings[1]


def test_capability_plan_sets() -> None:
    plan = CapabilityPlan({
        "bounding": ["CAP_CHOWN", "CAP_KILL"], "effective": ["CAP_KILL"],
        "permitted": ["CAP_KILL"], "inheritable": ["CAP_CHOWN"], "ambient": ["CAP_CHOWN"],
    })  # fmt: skip
    assert plan.bounding == 0b100001
    assert plan.effective == plan.permitted == 1 << 5
    assert plan.inheritable == plan.ambient == 1
    empty = CapabilityPlan(None)
    assert (empty.bounding, empty.effective, empty.permitted, empty.inheritable,
            empty.ambient) == (0, 0, 0, 0, 0)  # fmt: skip


def test_capability_plan_restricted_to_what_the_runtime_holds() -> None:
    plan = CapabilityPlan({"bounding": ["CAP_CHOWN", "CAP_SYS_RESOURCE"],
                           "effective": ["CAP_SYS_RESOURCE"]})  # fmt: skip
    plan.restrict_to(~(1 << CAPABILITIES["CAP_SYS_RESOURCE"]) & ((1 << 41) - 1))
    assert plan.bounding == 1 and plan.effective == 0
    assert len(plan.warnings) == 2
    assert all("CAP_SYS_RESOURCE" in w for w in plan.warnings)


# ----------------------------------------------------------------------- rlimits


def test_parse_rlimits() -> None:
    limits = parse_rlimits([
        {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 18446744073709551615},
    ])  # fmt: skip
    assert limits == [(7, 1024, 4096), (4, 0, security.RLIM_INFINITY)]
    assert parse_rlimits(None) == []


@pytest.mark.parametrize(
    "rlimits,word",
    [([{"type": "RLIMIT_NOPE", "soft": 1, "hard": 1}], "unknown rlimit"),
     ([{"type": "RLIMIT_CPU", "soft": 1, "hard": 2}, {"type": "RLIMIT_CPU", "soft": 1, "hard": 2}],
      "twice")],
)  # fmt: skip
def test_bad_rlimits(rlimits: list[dict[str, object]], word: str) -> None:
    with pytest.raises(ConfigError, match=word):
        parse_rlimits(rlimits)  # type: ignore[arg-type]


def test_every_rlimit_name_maps_to_the_resource_module() -> None:
    import resource

    for name, num in RLIMITS.items():
        if hasattr(resource, name):
            assert getattr(resource, name) == num, name


# -------------------------------------------------------------- env, home, PATH


def test_env_list_to_dict() -> None:
    env = env_list_to_dict(["A=1", "B=x=y", "EMPTY=", "NOEQ", "A=2"])
    assert env == {"A": "2", "B": "x=y", "EMPTY": "", "NOEQ": ""}


def test_home_for(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/sh\nbad line\nu:x:1000:1000::/home/u:/bin/sh\n"
                      "nohome:x:7:7:::/bin/sh\n")  # fmt: skip
    assert home_for(0, str(passwd)) == "/root"
    assert home_for(1000, str(passwd)) == "/home/u"
    assert home_for(7, str(passwd)) == "/"
    assert home_for(4242, str(passwd)) == "/"
    assert home_for(0, str(tmp_path / "missing")) == "/"


def test_lookup_executable(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "tool").write_text("#!/bin/sh\n")  # not executable: skipped
    (b / "tool").write_text("#!/bin/sh\n")
    (b / "tool").chmod(0o755)
    (a / "dir").mkdir()
    env = {"PATH": f"{a}:{b}"}
    assert lookup_executable("tool", env) == f"{b}/tool"
    assert lookup_executable(str(b / "tool"), {}) == str(b / "tool")
    with pytest.raises(SetupError, match="executable file not found in \\$PATH"):
        lookup_executable("nothere", env)
    with pytest.raises(SetupError, match="is a directory"):
        lookup_executable(str(a / "dir"), env)
    with pytest.raises(SetupError, match="permission denied"):
        lookup_executable(str(a / "tool"), env)  # no x bit at all: not even for root
    with pytest.raises(SetupError, match="No such file"):
        lookup_executable(str(a / "missing"), env)


# ------------------------------------------------------------------------ id maps


def test_format_map() -> None:
    maps = [{"containerID": 0, "hostID": 100000, "size": 65536},
            {"containerID": 65536, "hostID": 1000, "size": 1}]  # fmt: skip
    assert format_map(maps) == "0 100000 65536\n65536 1000 1\n"
    assert format_map([]) == ""


def test_is_own_single_mapping() -> None:
    assert is_own_single_mapping([{"containerID": 0, "hostID": 1000, "size": 1}], 1000)
    assert not is_own_single_mapping([{"containerID": 0, "hostID": 1000, "size": 2}], 1000)
    assert not is_own_single_mapping([{"containerID": 0, "hostID": 1001, "size": 1}], 1000)
    assert not is_own_single_mapping([], 1000)


# ---------------------------------------------------- status from a fake /proc


def _fake_proc(root: Path, pid: int, state: str, start: int, comm: str = "sleep") -> None:
    d = root / str(pid)
    d.mkdir(parents=True, exist_ok=True)
    # field 22 is the start time; comm may hold spaces and parentheses
    fields = [state, "1", "1", "1", "0", "-1", "4194560", "0", "0", "0", "0", "0", "0", "0",
              "0", "20", "0", "1", "0", str(start), "100", "10"]  # fmt: skip
    (d / "stat").write_text(f"{pid} ({comm}) " + " ".join(fields) + "\n")


def test_read_proc_stat(tmp_path: Path) -> None:
    _fake_proc(tmp_path, 42, "S", 12345, comm="a) (b c")
    assert read_proc_stat(42, str(tmp_path)) == ("S", 12345)
    assert process_start_time(42, str(tmp_path)) == 12345
    assert read_proc_stat(43, str(tmp_path)) is None


def test_is_alive(tmp_path: Path) -> None:
    _fake_proc(tmp_path, 10, "S", 500)
    _fake_proc(tmp_path, 11, "Z", 600)
    assert is_alive(10, 500, str(tmp_path))
    assert is_alive(10, None, str(tmp_path))
    assert not is_alive(10, 501, str(tmp_path)), "another process got the pid"
    assert not is_alive(11, 600, str(tmp_path)), "a zombie is not running"
    assert not is_alive(12, None, str(tmp_path))
    assert not is_alive(0, None, str(tmp_path))


def test_real_proc_of_ourselves() -> None:
    me = os.getpid()
    start = process_start_time(me)
    assert start is not None and is_alive(me, start)


def test_derive_status(tmp_path: Path) -> None:
    me = os.getpid()
    start = process_start_time(me)
    fifo = tmp_path / "exec.fifo"
    record = {"status": "created", "pid": me, "pidStartTime": start}
    fifo.write_text("")
    assert derive_status(record, str(fifo)) == model.CREATED
    fifo.unlink()
    assert derive_status(record, str(fifo)) == model.RUNNING
    assert derive_status({**record, "pidStartTime": start + 1}, str(fifo)) == model.STOPPED
    assert derive_status({**record, "pid": 0}, str(fifo)) == model.STOPPED
    creating = {"status": "creating", "creatorPid": me, "creatorStartTime": start}
    assert derive_status(creating, str(fifo)) == model.CREATING
    gone = {"status": "creating", "creatorPid": me, "creatorStartTime": start + 1}
    assert derive_status(gone, str(fifo)) == model.STOPPED


def test_lifecycle_rules() -> None:
    assert [s for s in model.STATUSES if model.can_start(s)] == ["created"]
    assert [s for s in model.STATUSES if model.can_delete(s)] == ["stopped"]
    assert set(s for s in model.STATUSES if model.can_kill(s)) == {"created", "running",
                                                                   "paused"}  # fmt: skip


def test_state_document() -> None:
    st = model.ContainerState(id="x", status="stopped", pid=42, bundle="/b",
                              annotations={"a": "b"})  # fmt: skip
    doc = st.to_oci()
    assert doc["pid"] == 0, "a stopped container has no pid"
    assert list(doc)[:5] == ["ociVersion", "id", "status", "pid", "bundle"]
    assert doc["annotations"] == {"a": "b"}
    running = model.ContainerState(id="x", status="running", pid=42, bundle="/b").to_oci()
    assert running["pid"] == 42 and "annotations" not in running


# ------------------------------------------------------------------ memory policy


@pytest.mark.parametrize("text,nodes", [("0", [0]), ("0-3,7", [0, 1, 2, 3, 7]), ("", []),
                                        ("2,1,2", [1, 2]), ("64-65", [64, 65])])  # fmt: skip
def test_parse_node_list(text: str, nodes: list[int]) -> None:
    assert security.parse_node_list(text) == nodes


@pytest.mark.parametrize("text", ["a", "1-", "3-1", "-1", "1,,x"])
def test_bad_node_list(text: str) -> None:
    with pytest.raises(ConfigError, match=r"memoryPolicy\.nodes"):
        security.parse_node_list(text)


def test_parse_memory_policy() -> None:
    assert security.parse_memory_policy({"mode": "MPOL_BIND", "nodes": "0-1"}) == (2, [0, 1])
    mode, nodes = security.parse_memory_policy(
        {"mode": "MPOL_INTERLEAVE", "nodes": "1", "flags": ["MPOL_F_STATIC_NODES",
                                                            "MPOL_F_NUMA_BALANCING"]})  # fmt: skip
    assert mode == 3 | (1 << 15) | (1 << 13) and nodes == [1]
    assert security.parse_memory_policy({"mode": "MPOL_LOCAL"}) == (4, [])
    with pytest.raises(ConfigError, match="unknown mode"):
        security.parse_memory_policy({"mode": "MPOL_NOPE"})
    with pytest.raises(ConfigError, match="unknown flag"):
        security.parse_memory_policy({"mode": "MPOL_BIND", "nodes": "0", "flags": ["X"]})


def test_permitted_of_self_is_what_capget_says(tmp_path: Path) -> None:
    assert permitted_of_self() == native.capget()[1]
    status = tmp_path / "status"
    status.write_text("Name:\tx\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\n")
    assert permitted_of_self(str(status)) == (1 << 41) - 1
    status.write_text("Name:\tx\n")
    with pytest.raises(OSError):
        permitted_of_self(str(status))


# ------------------------------------------------------------------ user switch


@pytest.mark.parametrize(
    ("uid", "gid", "groups", "words"),
    [
        (0xFFFFFFFF, 0, [], "uid 4294967295 is not a valid id"),
        (0, 0xFFFFFFFF, [], "gid 4294967295 is not a valid id"),
        (0, 0, [1, 0xFFFFFFFF], "gid 4294967295 is not a valid id"),
        (-1, 0, [], "uid -1 is not a valid id"),
        (1 << 32, 0, [], "uid 4294967296 is not a valid id"),
    ],
)
def test_switch_user_refuses_ids_setresuid_would_ignore(
    uid: int, gid: int, groups: list[int], words: str
) -> None:
    """(uid_t)-1 makes setresuid a no-op: refused before any syscall (the caller's
    ids are untouched), whatever create and exec checked before."""
    before = os.getresuid(), os.getresgid(), os.getgroups()
    with pytest.raises(SetupError, match=words):
        security.switch_user(uid, gid, groups, True)
    assert (os.getresuid(), os.getresgid(), os.getgroups()) == before
