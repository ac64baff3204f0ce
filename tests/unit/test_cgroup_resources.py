"""linux.resources -> cgroup file writes, v1 and v2 (pure, no root)."""

from __future__ import annotations

import pytest

from pyoci.cgroups import resources as R
from pyoci.errors import CgroupError


def v1(res: dict, **kw) -> list[tuple[str, str]]:
    warnings: list[str] = []
    out = R.v1_writes(res, warnings, **kw)
    assert warnings == [], warnings
    return out


def v2(res: dict, **kw) -> list[tuple[str, str]]:
    warnings: list[str] = []
    out = R.v2_writes(res, warnings, **kw)
    assert warnings == [], warnings
    return out


def v2_warn(res: dict, **kw) -> tuple[list[tuple[str, str]], list[str]]:
    warnings: list[str] = []
    return R.v2_writes(res, warnings, **kw), warnings


# ---------------------------------------------------------------- conversions


@pytest.mark.parametrize(
    ("shares", "weight"),
    [
        (0, 0),  # unset
        (1, 1),  # below the minimum
        (2, 1),  # minimum
        (3, 2),  # just above the minimum
        (1024, 100),  # the defaults map onto each other
        (512, 59),
        (2048, 174),
        (262143, 10000),
        (262144, 10000),
        (262145, 10000),
    ],
)
def test_shares_to_weight_matches_runc(shares: int, weight: int) -> None:
    assert R.shares_to_weight(shares) == weight


def test_shares_to_weight_is_monotonic_and_in_range() -> None:
    prev = 0
    for shares in range(2, 262145, 97):
        w = R.shares_to_weight(shares)
        assert 1 <= w <= 10000
        assert w >= prev
        prev = w


def test_weight_to_shares_round_trips() -> None:
    for weight in range(1, 10001):
        assert abs(R.shares_to_weight(R.weight_to_shares(weight)) - weight) <= 1


def test_weight_to_shares_fixed_points() -> None:
    assert R.weight_to_shares(0) == 0
    assert R.weight_to_shares(1) == 2
    assert R.weight_to_shares(100) == 1024
    assert R.weight_to_shares(10000) == 262144


@pytest.mark.parametrize(("blkio", "io"), [(0, 0), (10, 1), (100, 910), (500, 4950), (1000, 10000)])
def test_blkio_weight_to_io_weight(blkio: int, io: int) -> None:
    assert R.blkio_weight_to_io_weight(blkio) == io


@pytest.mark.parametrize(
    ("swap", "memory", "expected"),
    [
        (0, 0, 0),
        (-1, 0, -1),
        (300, -1, 300),
        (-1, -1, -1),
        (0, -1, -1),
        (0, 300, 0),
        (300, 300, 0),
        (500, 300, 200),
        (-1, 300, -1),
    ],
)
def test_memory_swap_to_v2(swap: int, memory: int, expected: int) -> None:
    assert R.memory_swap_to_v2(swap, memory) == expected


@pytest.mark.parametrize(("swap", "memory"), [(100, 0), (200, 300), (300, -5)])
def test_memory_swap_to_v2_rejects(swap: int, memory: int) -> None:
    with pytest.raises(CgroupError):
        R.memory_swap_to_v2(swap, memory)


# ---------------------------------------------------------------- memory


def test_v1_memory_every_knob() -> None:
    res = {
        "memory": {
            "limit": 536870912,
            "reservation": 268435456,
            "swap": 1073741824,
            "kernel": 67108864,
            "kernelTCP": 16777216,
            "swappiness": 0,
            "disableOOMKiller": True,
            "useHierarchy": True,
            "checkBeforeUpdate": True,
        }
    }
    assert v1(res) == [
        ("memory.limit_in_bytes", "536870912"),
        ("memory.memsw.limit_in_bytes", "1073741824"),
        ("memory.soft_limit_in_bytes", "268435456"),
        ("memory.kmem.limit_in_bytes", "67108864"),
        ("memory.kmem.tcp.limit_in_bytes", "16777216"),
        ("memory.swappiness", "0"),
        ("memory.oom_control", "1"),
        ("memory.use_hierarchy", "1"),
    ]


def test_v1_memory_unlimited_writes_memsw_first() -> None:
    assert v1({"memory": {"limit": -1}}) == [
        ("memory.memsw.limit_in_bytes", "-1"),
        ("memory.limit_in_bytes", "-1"),
    ]
    assert v1({"memory": {"limit": 1000, "swap": -1}}) == [
        ("memory.memsw.limit_in_bytes", "-1"),
        ("memory.limit_in_bytes", "1000"),
    ]


def test_v1_memory_zero_is_unset_and_false_flags_written() -> None:
    assert v1({"memory": {"limit": 0, "swap": 0, "reservation": 0}}) == []
    assert v1({"memory": {"disableOOMKiller": False, "useHierarchy": False}}) == [
        ("memory.oom_control", "0"),
        ("memory.use_hierarchy", "0"),
    ]


def test_swappiness_range() -> None:
    assert v1({"memory": {"swappiness": 100}}) == [("memory.swappiness", "100")]
    with pytest.raises(CgroupError, match="swappiness"):
        v1({"memory": {"swappiness": 101}})


def test_v2_memory() -> None:
    assert v2({"memory": {"limit": 536870912, "reservation": 1000, "swap": 1073741824}}) == [
        ("memory.swap.max", "536870912"),
        ("memory.max", "536870912"),
        ("memory.low", "1000"),
    ]
    assert v2({"memory": {"limit": -1}}) == [("memory.swap.max", "max"), ("memory.max", "max")]
    assert v2({"memory": {"limit": 100}}) == [("memory.max", "100")]
    # swap == limit: no swap at all, written as 0
    assert v2({"memory": {"limit": 100, "swap": 100}}) == [
        ("memory.swap.max", "0"),
        ("memory.max", "100"),
    ]
    assert v2({"memory": {"reservation": -1}}) == [("memory.low", "max")]


def test_v2_memory_v1_only_knobs_warn() -> None:
    out, warnings = v2_warn(
        {
            "memory": {
                "kernel": 1,
                "kernelTCP": 2,
                "swappiness": 10,
                "disableOOMKiller": True,
                "useHierarchy": False,
            }
        }
    )
    assert out == []
    assert len(warnings) == 5
    assert all("ignored" in w for w in warnings)


def test_v2_swap_without_limit_fails() -> None:
    with pytest.raises(CgroupError, match=r"without memory\.limit"):
        R.v2_writes({"memory": {"swap": 100}}, [])


# ---------------------------------------------------------------- cpu


CPU = {
    "shares": 1024,
    "quota": 50000,
    "burst": 10000,
    "period": 100000,
    "realtimeRuntime": 950000,
    "realtimePeriod": 1000000,
    "cpus": "0-1,3",
    "mems": "0",
    "idle": 0,
}


def test_v1_cpu_every_knob() -> None:
    assert v1({"cpu": CPU}) == [
        ("cpu.shares", "1024"),
        ("cpu.cfs_period_us", "100000"),
        ("cpu.cfs_quota_us", "50000"),
        ("cpu.cfs_burst_us", "10000"),
        ("cpu.idle", "0"),
        ("cpu.rt_period_us", "1000000"),
        ("cpu.rt_runtime_us", "950000"),
        ("cpuset.cpus", "0-1,3"),
        ("cpuset.mems", "0"),
    ]


def test_v2_cpu_every_knob() -> None:
    out, warnings = v2_warn({"cpu": CPU})
    assert out == [
        ("cpu.idle", "0"),
        ("cpu.weight", "100"),
        ("cpu.max", "50000 100000"),
        ("cpu.max.burst", "10000"),
        ("cpuset.cpus", "0-1,3"),
        ("cpuset.mems", "0"),
    ]
    assert len(warnings) == 1 and "realtime" in warnings[0]


@pytest.mark.parametrize(
    ("cpu", "value"),
    [
        ({"quota": 20000}, "20000"),  # period kept
        ({"quota": -1}, "max"),
        ({"period": 200000}, "max 200000"),  # as runc
        ({"quota": -1, "period": 50000}, "max 50000"),
        ({"quota": 0, "period": 50000}, "max 50000"),
    ],
)
def test_v2_cpu_max(cpu: dict, value: str) -> None:
    assert v2({"cpu": cpu}) == [("cpu.max", value)]


def test_v1_cpu_unlimited_quota() -> None:
    assert v1({"cpu": {"quota": -1}}) == [("cpu.cfs_quota_us", "-1")]


def test_cpu_burst_above_quota_rejected() -> None:
    with pytest.raises(CgroupError, match="burst"):
        v1({"cpu": {"quota": 1000, "burst": 2000}})


@pytest.mark.parametrize("cpus", ["0-", "a", "3-1", "1,,2"])
def test_cpuset_list_validated(cpus: str) -> None:
    with pytest.raises(CgroupError, match="invalid list"):
        v1({"cpu": {"cpus": cpus}})


# ---------------------------------------------------------------- pids


@pytest.mark.parametrize(("limit", "value"), [(32771, "32771"), (0, "0"), (-1, "max"), (-5, "max")])
def test_pids(limit: int, value: str) -> None:
    assert v1({"pids": {"limit": limit}}) == [("pids.max", value)]
    assert v2({"pids": {"limit": limit}}) == [("pids.max", value)]


def test_pids_unset() -> None:
    assert v1({"pids": {}}) == []


# ---------------------------------------------------------------- block io

BLKIO = {
    "weight": 10,
    "leafWeight": 10,
    "weightDevice": [
        {"major": 8, "minor": 0, "weight": 500, "leafWeight": 300},
        {"major": 8, "minor": 16, "weight": 500},
    ],
    "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 600}],
    "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 700}],
    "throttleReadIOPSDevice": [{"major": 8, "minor": 16, "rate": 200}],
    "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 300}],
}


def test_v1_blkio_cfq() -> None:
    assert v1({"blockIO": BLKIO}) == [
        ("blkio.weight", "10"),
        ("blkio.leaf_weight", "10"),
        ("blkio.weight_device", "8:0 500"),
        ("blkio.leaf_weight_device", "8:0 300"),
        ("blkio.weight_device", "8:16 500"),
        ("blkio.throttle.read_bps_device", "8:0 600"),
        ("blkio.throttle.write_bps_device", "8:0 700"),
        ("blkio.throttle.read_iops_device", "8:16 200"),
        ("blkio.throttle.write_iops_device", "8:16 300"),
    ]


def test_v1_blkio_bfq_names_and_no_leaf_weight() -> None:
    warnings: list[str] = []
    avail = {"blkio.bfq.weight", "blkio.bfq.weight_device", "blkio.throttle.read_bps_device"}
    out = R.v1_writes({"blockIO": BLKIO}, warnings, available=avail)
    assert out[:3] == [
        ("blkio.bfq.weight", "10"),
        ("blkio.bfq.weight_device", "8:0 500"),
        ("blkio.bfq.weight_device", "8:16 500"),
    ]
    assert len(warnings) == 2 and all("leaf_weight" in w for w in warnings)


def test_v2_io_iocost() -> None:
    out, warnings = v2_warn({"blockIO": BLKIO})
    assert out == [
        ("io.weight", "1"),
        ("io.weight", "8:0 4950"),
        ("io.weight", "8:16 4950"),
        ("io.max", "8:0 rbps=600"),
        ("io.max", "8:0 wbps=700"),
        ("io.max", "8:16 riops=200"),
        ("io.max", "8:16 wiops=300"),
    ]
    assert len(warnings) == 2  # leafWeight, weightDevice leafWeight


def test_v2_io_bfq() -> None:
    out, _ = v2_warn(
        {"blockIO": {"weight": 200, "weightDevice": BLKIO["weightDevice"]}},
        available={"io.bfq.weight"},
    )
    assert out == [
        ("io.bfq.weight", "200"),
        ("io.bfq.weight", "8:0 500"),
        ("io.bfq.weight", "8:16 500"),
    ]


def test_blkio_device_needs_major_minor() -> None:
    with pytest.raises(CgroupError, match="major and minor"):
        v1({"blockIO": {"throttleReadBpsDevice": [{"major": 8, "rate": 1}]}})


# ---------------------------------------------------------------- hugetlb, rdma, network


def test_hugetlb() -> None:
    res = {
        "hugepageLimits": [
            {"pageSize": "2MB", "limit": 209715200},
            {"pageSize": "64KB", "limit": 1000000},
        ]
    }
    assert v1(res) == [
        ("hugetlb.2MB.limit_in_bytes", "209715200"),
        ("hugetlb.2MB.rsvd.limit_in_bytes", "209715200"),
        ("hugetlb.64KB.limit_in_bytes", "1000000"),
        ("hugetlb.64KB.rsvd.limit_in_bytes", "1000000"),
    ]
    assert v2(res) == [
        ("hugetlb.2MB.max", "209715200"),
        ("hugetlb.2MB.rsvd.max", "209715200"),
        ("hugetlb.64KB.max", "1000000"),
        ("hugetlb.64KB.rsvd.max", "1000000"),
    ]
    assert all(f.endswith(R.OPTIONAL_SUFFIXES) for f, _ in v2(res)[1::2])


@pytest.mark.parametrize("size", ["2mb", "2M", "MB", "02MB", "2 MB", "../x", 2])
def test_hugetlb_bad_page_size(size: object) -> None:
    with pytest.raises(CgroupError, match="pageSize"):
        v1({"hugepageLimits": [{"pageSize": size, "limit": 1}]})


def test_page_size_bytes() -> None:
    assert R.page_size_bytes("2MB") == 2 << 20
    assert R.page_size_bytes("1GB") == 1 << 30
    assert R.page_size_bytes("64KB") == 64 << 10


def test_rdma() -> None:
    res = {
        "rdma": {
            "mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000},
            "mlx4_0": {"hcaObjects": 1000},
        }
    }
    expected = [
        ("rdma.max", "mlx5_1 hca_handle=3 hca_object=10000"),
        ("rdma.max", "mlx4_0 hca_object=1000"),
    ]
    assert v1(res) == expected
    assert v2(res) == expected
    with pytest.raises(CgroupError):
        v1({"rdma": {"x": {}}})


def test_network_v1_and_v2() -> None:
    res = {
        "network": {
            "classID": 1048577,
            "priorities": [{"name": "eth0", "priority": 500}, {"name": "eth1", "priority": 1000}],
        }
    }
    assert v1(res) == [
        ("net_cls.classid", "1048577"),
        ("net_prio.ifpriomap", "eth0 500"),
        ("net_prio.ifpriomap", "eth1 1000"),
    ]
    out, warnings = v2_warn(res)
    assert out == [] and len(warnings) == 1


# ---------------------------------------------------------------- unified


def test_unified_v2_lines_and_order() -> None:
    res = {
        "pids": {"limit": 5},
        "unified": {
            "io.max": "259:0 rbps=2097152 wiops=120\n253:0 rbps=2097152 wiops=120",
            "hugetlb.1GB.max": "1073741824",
            "cgroup.max.descendants": "10",
        },
    }
    assert v2(res) == [
        ("pids.max", "5"),
        ("io.max", "259:0 rbps=2097152 wiops=120"),
        ("io.max", "253:0 rbps=2097152 wiops=120"),
        ("hugetlb.1GB.max", "1073741824"),
        ("cgroup.max.descendants", "10"),
    ]


def test_unified_only_filter() -> None:
    res = {"unified": {"memory.high": "1000", "hugetlb.2MB.max": "0", "cgroup.freeze": "0"}}
    assert R.unified_writes(res, only={"hugetlb"}) == [
        ("hugetlb.2MB.max", "0"),
        ("cgroup.freeze", "0"),
    ]


@pytest.mark.parametrize("key", ["../memory.max", "memory", ".max", "a/b.c"])
def test_unified_bad_keys(key: str) -> None:
    with pytest.raises(CgroupError, match=r"CONTROLLER\.PARAMETER"):
        R.unified_writes({"unified": {key: "1"}})


def test_unified_on_v1_is_an_error() -> None:
    with pytest.raises(CgroupError, match="needs cgroup v2"):
        R.v1_writes({"unified": {"memory.high": "1"}}, [])


# ---------------------------------------------------------------- filters, types, groups


def test_only_restricts_controllers() -> None:
    res = {"memory": {"limit": 100}, "pids": {"limit": 3}, "cpu": {"shares": 2, "cpus": "0"}}
    assert v1(res, only={"pids", "cpuset"}) == [("cpuset.cpus", "0"), ("pids.max", "3")]
    assert v2(res, only={"memory"}) == [("memory.max", "100")]


def test_controller_of() -> None:
    assert R.controller_of("memory.limit_in_bytes") == "memory"
    assert R.controller_of("cpuset.cpus") == "cpuset"
    assert R.controller_of("net_cls.classid") == "net_cls"
    assert R.controller_of("cgroup.freeze") == "cgroup"


@pytest.mark.parametrize(
    "res",
    [
        {"memory": {"limit": "100"}},
        {"memory": {"disableOOMKiller": 1}},
        {"pids": {"limit": True}},
        {"memory": []},
        {"hugepageLimits": {"pageSize": "2MB"}},
    ],
)
def test_type_errors(res: dict) -> None:
    with pytest.raises(CgroupError):
        v1(res)


def test_requested_groups_and_has_limits() -> None:
    assert R.requested_groups({}) == []
    assert not R.has_limits(None)
    assert not R.has_limits({"devices": [{"allow": False, "access": "rwm"}]})
    assert not R.has_limits({"memory": {"checkBeforeUpdate": True}})
    res = {
        "memory": {"limit": 1},
        "cpu": {"shares": 2, "cpus": "0"},
        "pids": {"limit": 0},
        "blockIO": {"weight": 10},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
        "rdma": {"x": {"hcaHandles": 1}},
        "network": {"classID": 1, "priorities": [{"name": "lo", "priority": 1}]},
    }
    assert R.requested_groups(res) == [
        "memory",
        "cpu",
        "cpuset",
        "pids",
        "blkio",
        "hugetlb",
        "rdma",
        "net_cls",
        "net_prio",
    ]
    assert R.has_limits({"unified": {"memory.high": "1"}})
