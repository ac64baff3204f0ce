"""linux.resources and annotations -> systemd unit properties (pure).

Vectors from opencontainers/cgroups' Go tests where there are some
(``TestRangeToBits``, ``TestAddCPUQuota``, ``TestUnifiedResToSystemdProps``,
``TestTasksMax``, ``TestOOMPolicyApply``, ``TestConvertCPUSharesToCgroupV2Value``),
the rest from runc's property code (systemd/v1.go, v2.go, devices/systemd.go)."""

from __future__ import annotations

from typing import Any

import pytest

from pyoci.cgroups import systemd_props as P
from pyoci.cgroups.devices import container_rules
from pyoci.errors import CgroupError

MAX = (1 << 64) - 1
NEW = 252  # the guest's systemd
OLD = 239


def names(props: list[Any]) -> list[str]:
    return [p[0] for p in props]


def by_name(props: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, sig, value in props:
        out[name] = (sig, value)
    return out


# ---------------------------------------------------------------- RangeToBits


@pytest.mark.parametrize(
    ("text", "out"),
    [
        ("0", b"\x01"),
        ("1", b"\x02"),
        ("0-1", b"\x03"),
        ("0,1", b"\x03"),
        (",0,1,", b"\x03"),
        ("0-3", b"\x0f"),
        ("0,1,2-3", b"\x0f"),
        ("4-7", b"\xf0"),
        ("0-7", b"\xff"),
        ("0-15", b"\xff\xff"),
        ("16", b"\x00\x00\x01"),
        ("0-3,32-33", b"\x0f\x00\x00\x00\x03"),
        ("1, 2, 1-2", b"\x06"),
        ("    , 1   , 3  ,  5-7,\t", b"\xea"),
        ("128-130,1", bytes([2] + [0] * 15 + [7])),
        # runc #3611: 10-23 must not turn into 0-7 10-15 (byte order)
        ("10-23", b"\x00\xfc\xff"),
    ],
)
def test_range_to_bits(text: str, out: bytes) -> None:
    assert P.range_to_bits(text) == out


@pytest.mark.parametrize("text", ["", "-", "1-", "-3", "54-53", "1 - 2", "a", "4294967296"])
def test_range_to_bits_errors(text: str) -> None:
    with pytest.raises(ValueError):
        P.range_to_bits(text)


# ---------------------------------------------------------------- CPU quota


@pytest.mark.parametrize(
    ("quota", "period", "per_sec", "new_quota"),
    [
        (500000, 1000000, 500000, 500000),  # "No round up"
        (123456, 0, 1240000, 124000),  # "With fraction" (default period)
        (500000, 900000, 560000, 504000),  # "Round up at division"
        (4000, 10000, 400000, 4000),  # helpers.bash check_cpu_quota: 400ms
        (-1, 100000, MAX, -1),  # unlimited
        (0, 100000, MAX, 0),  # a period alone: unlimited quota
    ],
)
def test_add_cpu_quota(quota: int, period: int, per_sec: int, new_quota: int) -> None:
    props, q = P.cpu_quota_props(quota, period, NEW)
    assert by_name(props)["CPUQuotaPerSecUSec"] == ("t", per_sec)
    assert q == new_quota
    if period:
        assert by_name(props)["CPUQuotaPeriodUSec"] == ("t", period)


def test_cpu_quota_period_needs_systemd_242() -> None:
    props, _ = P.cpu_quota_props(50000, 100000, 241)
    assert names(props) == ["CPUQuotaPerSecUSec"]
    assert P.cpu_quota_props(0, 0, NEW) == ([], 0)


def test_rounded_quota_is_what_cgroupfs_gets() -> None:
    res = {"cpu": {"quota": 123456, "period": 100000}}
    props, fs_res = P.resource_props(res, v2=True, version=NEW, warnings=[])
    assert by_name(props)["CPUQuotaPerSecUSec"] == ("t", 1240000)
    assert fs_res["cpu"]["quota"] == 124000
    assert res["cpu"]["quota"] == 123456  # the caller's copy is untouched


# ---------------------------------------------------------------- TasksMax


@pytest.mark.parametrize(
    ("limit", "tasks"), [(100, 100), (0, 1), (42, 42), (-1, MAX), (-99, MAX)]
)
def test_tasks_max(limit: int, tasks: int) -> None:
    for v2 in (True, False):
        props, _ = P.resource_props({"pids": {"limit": limit}}, v2=v2, version=NEW, warnings=[])
        assert props == [("TasksMax", "t", tasks)]


def test_pids_limit_zero_is_one_in_the_files_too() -> None:
    res = {"pids": {"limit": 0}}
    _, fs_res = P.resource_props(res, v2=True, version=NEW, warnings=[])
    assert fs_res["pids"]["limit"] == 1 and res["pids"]["limit"] == 0


def test_no_pids_limit_no_tasks_max() -> None:
    assert P.resource_props({"pids": {}}, v2=True, version=NEW, warnings=[])[0] == []


# ---------------------------------------------------------------- v2 / v1 mapping


def test_v2_mapping_in_runcs_order() -> None:
    res = {
        "memory": {"limit": 1 << 30, "reservation": 1 << 28, "swap": (1 << 30) + (1 << 29)},
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0"},
        "pids": {"limit": 100},
        "blockIO": {"weight": 500},
    }
    props, _ = P.resource_props(res, v2=True, version=NEW, warnings=[])
    assert props == [
        ("MemoryMax", "t", 1 << 30),
        ("MemoryLow", "t", 1 << 28),
        ("MemorySwapMax", "t", 1 << 29),
        ("CPUWeight", "t", 100),  # shares 1024 -> weight 100
        ("CPUQuotaPeriodUSec", "t", 100000),
        ("CPUQuotaPerSecUSec", "t", 500000),
        ("IOWeight", "t", 4950),
        ("TasksMax", "t", 100),
        ("AllowedCPUs", "ay", b"\x03"),
        ("AllowedMemoryNodes", "ay", b"\x01"),
    ]


def test_v1_mapping() -> None:
    res = {
        "memory": {"limit": 1 << 30, "reservation": 1 << 28},
        "cpu": {"shares": 512, "quota": 20000, "period": 100000},
        "pids": {"limit": -1},
        "blockIO": {"weight": 300},
    }
    props, _ = P.resource_props(res, v2=False, version=NEW, warnings=[])
    assert props == [
        ("MemoryLimit", "t", 1 << 30),
        ("CPUShares", "t", 512),
        ("CPUQuotaPeriodUSec", "t", 100000),
        ("CPUQuotaPerSecUSec", "t", 200000),
        ("BlockIOWeight", "t", 300),
        ("TasksMax", "t", MAX),
    ]


@pytest.mark.parametrize(
    ("mem", "want"),
    [
        ({"limit": -1}, [("MemoryMax", "t", MAX), ("MemorySwapMax", "t", MAX)]),
        ({"limit": 1000, "swap": -1}, [("MemoryMax", "t", 1000), ("MemorySwapMax", "t", MAX)]),
        # swap == limit: no swap at all; told to systemd as the file gets it
        ({"limit": 1000, "swap": 1000}, [("MemoryMax", "t", 1000), ("MemorySwapMax", "t", 0)]),
        ({"limit": 1000}, [("MemoryMax", "t", 1000)]),
    ],
)
def test_memory_swap(mem: dict[str, int], want: list[Any]) -> None:
    assert P.resource_props({"memory": mem}, v2=True, version=NEW, warnings=[])[0] == want


def test_swap_without_limit_is_an_error() -> None:
    with pytest.raises(CgroupError):
        P.resource_props({"memory": {"swap": 1000}}, v2=True, version=NEW, warnings=[])


@pytest.mark.parametrize(
    ("shares", "weight"),
    [(0, None), (1, 1), (2, 1), (3, 2), (1024, 100), (262143, 10000), (262144, 10000),
     (262145, 10000)],
)  # fmt: skip
def test_cpu_weight_from_shares(shares: int, weight: int | None) -> None:
    props, _ = P.resource_props({"cpu": {"shares": shares}}, v2=True, version=NEW, warnings=[])
    assert props == ([] if weight is None else [("CPUWeight", "t", weight)])


def test_cpuset_needs_systemd_244_but_is_still_checked() -> None:
    res = {"cpu": {"cpus": "0-3"}}
    assert P.resource_props(res, v2=True, version=243, warnings=[])[0] == []
    assert P.resource_props(res, v2=True, version=244, warnings=[])[0] == [
        ("AllowedCPUs", "ay", b"\x0f")
    ]
    with pytest.raises(CgroupError, match=r'resources\.CPU\.Cpus="3-1" conversion error'):
        P.resource_props({"cpu": {"cpus": "3-1"}}, v2=True, version=243, warnings=[])


def test_cpu_idle() -> None:
    res = {"cpu": {"idle": 1, "shares": 1024}}
    warnings: list[str] = []
    assert P.resource_props(res, v2=True, version=NEW, warnings=warnings)[0] == [
        ("CPUWeight", "t", 0)
    ]
    assert warnings
    assert P.resource_props(res, v2=True, version=251, warnings=[])[0] == [("CPUWeight", "t", 100)]


# ---------------------------------------------------------------- unified


@pytest.mark.parametrize(
    ("unified", "want"),
    [
        ({}, []),
        ({"cpu.idle": "1"}, [("CPUWeight", "t", 0)]),
        ({"cpu.idle": "0"}, []),
        ({"cpu.idle": "1", "cpu.weight": "1000"}, [("CPUWeight", "t", 0)]),
        ({"cpu.idle": "0", "cpu.weight": "1000"}, [("CPUWeight", "t", 1000)]),
        ({"memory.oom.group": "1"}, []),  # handled at StartTransientUnit
        ({"memory.max": "max", "memory.high": " 1000 "},
         [("MemoryMax", "t", MAX), ("MemoryHigh", "t", 1000)]),
        ({"memory.min": "10", "memory.low": "20", "memory.swap.max": "0"},
         [("MemoryMin", "t", 10), ("MemoryLow", "t", 20), ("MemorySwapMax", "t", 0)]),
        ({"pids.max": "max"}, [("TasksMax", "t", MAX)]),
        ({"pids.max": "10"}, [("TasksMax", "t", 10)]),
        ({"cpu.max": "max"}, [("CPUQuotaPeriodUSec", "t", 100000),
                              ("CPUQuotaPerSecUSec", "t", MAX)]),
        ({"cpu.max": "50000 100000"}, [("CPUQuotaPeriodUSec", "t", 100000),
                                       ("CPUQuotaPerSecUSec", "t", 500000)]),
        ({"cpuset.cpus": "5-8"}, [("AllowedCPUs", "ay", b"\xe0\x01")]),
        ({"io.max": "8:0 rbps=1"}, []),  # no property: cgroupfs only
    ],
)  # fmt: skip
def test_unified_res_to_systemd_props(unified: dict[str, str], want: list[Any]) -> None:
    assert P.unified_props(unified, NEW, []) == want


@pytest.mark.parametrize(
    ("unified", "match"),
    [
        ({"a/b": "1"}, "must be a file name"),
        ({"nodot": "1"}, "CONTROLLER.PARAMETER"),
        ({".x": "1"}, "CONTROLLER.PARAMETER"),
        ({"cpu.max": "1 2 3"}, "value invalid"),
        ({"cpu.max": "x"}, "conversion error"),
        ({"cpu.weight": "-1"}, "conversion error"),
        ({"memory.max": "lots"}, "conversion error"),
        ({"cpuset.cpus": "9-1"}, "conversion error"),
    ],
)
def test_unified_errors(unified: dict[str, str], match: str) -> None:
    with pytest.raises(CgroupError, match=match):
        P.unified_props(unified, NEW, [])


def test_unified_only_on_v2() -> None:
    res = {"unified": {"pids.max": "5"}}
    assert P.resource_props(res, v2=True, version=NEW, warnings=[])[0] == [("TasksMax", "t", 5)]
    assert P.resource_props(res, v2=False, version=NEW, warnings=[])[0] == []


@pytest.mark.parametrize(
    ("value", "want"), [("0", [("OOMPolicy", "s", "continue")]),
                        ("1", [("OOMPolicy", "s", "kill")]), ("2", [])]
)  # fmt: skip
def test_oom_policy(value: str, want: list[Any]) -> None:
    res = {"unified": {"memory.oom.group": value}}
    assert P.oom_policy_props(res, 253) == want
    assert P.oom_policy_props(res, 252) == []


def test_oom_policy_bad_value() -> None:
    with pytest.raises(CgroupError, match=r"memory\.oom\.group"):
        P.oom_policy_props({"unified": {"memory.oom.group": "invalid"}}, 253)


# ---------------------------------------------------------------- devices


def test_devices_default_rules_in_runcs_order() -> None:
    props = P.device_props(container_rules(None), NEW, [])
    # the empty DeviceAllow first, then DevicePolicy (runc PR #4612), then the list
    assert props[:2] == [("DeviceAllow", "a(ss)", []), ("DevicePolicy", "s", "strict")]
    assert props[2][0] == "DeviceAllow" and len(props) == 3
    allowed = props[2][2]
    assert ("char-*", "m") in allowed and ("block-*", "m") in allowed
    assert ("/dev/char/1:3", "rwm") in allowed  # /dev/null
    assert ("char-136", "rwm") in allowed  # /dev/pts/* (runc #3551: must be there)
    assert ("/dev/char/5:2", "rwm") in allowed  # /dev/ptmx


def test_devices_old_systemd_uses_device_groups() -> None:
    proc_devices = "Character devices:\n  1 mem\n136 pts\n\nBlock devices:\n  8 sd\n"
    rules = [(True, "c", 136, -1, "rwm"), (True, "b", 8, -1, "r"), (True, "c", 99, -1, "r")]
    warnings: list[str] = []
    props = P.device_props(rules, 239, warnings, proc_devices)
    assert props[2][2] == [("char-pts", "rwm"), ("block-sd", "r")]
    assert len(warnings) == 1  # 99 is in no group


def test_devices_allow_all_is_policy_auto() -> None:
    rules = container_rules([{"allow": True, "access": "rwm"}])
    assert P.device_props(rules, NEW, []) == [
        ("DeviceAllow", "a(ss)", []),
        ("DevicePolicy", "s", "auto"),
    ]


def test_devices_deny_list_becomes_deny_all_with_a_warning() -> None:
    rules = [(True, "a", -1, -1, "rwm"), (False, "c", 1, 3, "rwm")]
    warnings: list[str] = []
    assert P.device_props(rules, NEW, warnings) == [
        ("DeviceAllow", "a(ss)", []),
        ("DevicePolicy", "s", "strict"),
    ]
    assert warnings


def test_devices_wildcard_major_is_skipped() -> None:
    warnings: list[str] = []
    props = P.device_props([(True, "c", -1, 5, "r")], NEW, warnings)
    assert props[2] == ("DeviceAllow", "a(ss)", []) and warnings


def test_devices_only_when_asked() -> None:
    props, _ = P.resource_props(
        {}, v2=True, version=NEW, warnings=[], devices=True, device_rules=container_rules(None)
    )
    assert names(props) == ["DeviceAllow", "DevicePolicy", "DeviceAllow"]
    assert P.resource_props({}, v2=True, version=NEW, warnings=[])[0] == []


# ---------------------------------------------------------------- StartTransientUnit


def test_start_props_scope_v2() -> None:
    spec = P.parse_cgroups_path("system.slice:docker:abc", "abc")
    ann = P.annotation_props({"org.systemd.property.TimeoutStopSec": "uint64 5"})
    res = {"unified": {"memory.oom.group": "1"}}
    props = P.start_props("abc", spec, 42, v2=True, version=253, annotations=ann, resources=res)
    assert props == [
        ("Description", "s", "pyoci container abc"),
        ("Slice", "s", "system.slice"),
        ("Delegate", "b", True),
        ("PIDs", "au", [42]),
        ("MemoryAccounting", "b", True),
        ("CPUAccounting", "b", True),
        ("IOAccounting", "b", True),
        ("TasksAccounting", "b", True),
        ("DefaultDependencies", "b", False),
        ("TimeoutStopUSec", "t", 5_000_000),
        ("OOMPolicy", "s", "kill"),
    ]


def test_start_props_slice_v1() -> None:
    spec = P.parse_cgroups_path("system.slice:x:system-pod.slice", "abc")
    props = P.start_props("abc", spec, None, v2=False, version=NEW, annotations=[])
    assert by_name(props)["Wants"] == ("as", ["system.slice"])
    assert "Slice" not in by_name(props) and "Delegate" not in by_name(props)
    assert "PIDs" not in by_name(props)
    assert "BlockIOAccounting" in by_name(props) and "IOAccounting" not in by_name(props)


# ---------------------------------------------------------------- annotations


@pytest.mark.parametrize(
    ("value", "sig", "parsed"),
    [
        ("true", "b", True),
        ("false", "b", False),
        ("'inactive-or-failed'", "s", "inactive-or-failed"),
        ('"a b"', "s", "a b"),
        ("'it\\'s'", "s", "it's"),
        ("uint64 123456789", "t", 123456789),
        ("int64 -5", "x", -5),
        ("uint32 7", "u", 7),
        ("int32 -7", "i", -7),
        ("42", "i", 42),
        ("@t 42", "t", 42),
        ("['a', 'b']", "as", ["a", "b"]),
        ("['a,b', \"c\"]", "as", ["a,b", "c"]),
        ("@as []", "as", []),
        ("[1, 2]", "ai", [1, 2]),
        ("1.5", "d", 1.5),
    ],
)
def test_parse_gvariant(value: str, sig: str, parsed: object) -> None:
    assert P.parse_gvariant(value) == (sig, parsed)


@pytest.mark.parametrize(
    "value", ["", "'open", "[]", "uint64 -1", "uint32 4294967296", "yes", "['a', 1]", "[,]"]
)
def test_parse_gvariant_errors(value: str) -> None:
    with pytest.raises(ValueError):
        P.parse_gvariant(value)


def test_annotations() -> None:
    ann = {
        "org.systemd.property.CollectMode": "'inactive-or-failed'",
        "org.systemd.property.TimeoutStopSec": "uint64 7",
        "org.systemd.property.RuntimeMaxSec": "2",
        "org.systemd.property.CPUQuotaPerSecUSec": "uint64 100000",  # USec kept
        "org.systemd.property.ManagedOOMSwap": "'kill'",
        "other.annotation": "x",
    }
    assert P.annotation_props(ann) == [
        ("CollectMode", "s", "inactive-or-failed"),
        ("TimeoutStopUSec", "t", 7_000_000),
        ("RuntimeMaxUSec", "t", 2_000_000),
        ("CPUQuotaPerSecUSec", "t", 100000),
        ("ManagedOOMSwap", "s", "kill"),
    ]


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("org.systemd.property.Ab", "true", "name incorrect: too short"),
        ("org.systemd.property.Foo1", "true", "contains non-alphabetic character"),
        ("org.systemd.property.Foo_Bar", "true", "contains non-alphabetic character"),
        ("org.systemd.property.CollectMode", "'open", "value parse error"),
        ("org.systemd.property.TimeoutStopSec", "'5s'", "value parse error: not a number"),
    ],
)
def test_annotation_errors(key: str, value: str, match: str) -> None:
    with pytest.raises(CgroupError, match=match) as exc:
        P.annotation_props({key: value})
    assert key in str(exc.value) and "\n" not in str(exc.value)


def test_dropin_order_avoids_need_daemon_reload() -> None:
    """Seen in the guest (systemd 252): a SetUnitProperties writing its drop-ins
    out of sorted order leaves the unit NeedDaemonReload=yes."""
    res = {"memory": {"limit": 1 << 20}, "cpu": {"quota": 50000, "period": 100000, "shares": 2},
           "pids": {"limit": 5}}  # fmt: skip
    props, _ = P.resource_props(
        res, v2=True, version=NEW, warnings=[], devices=True, device_rules=container_rules(None)
    )
    ordered = P.dropin_order(props)
    assert names(ordered) == ["CPUQuotaPerSecUSec", "CPUQuotaPeriodUSec", "CPUWeight",
                              "DeviceAllow", "DeviceAllow", "DevicePolicy", "MemoryMax",
                              "TasksMax"]  # fmt: skip
    # the empty DeviceAllow (which clears the list) still comes first
    assert ordered[3] == ("DeviceAllow", "a(ss)", [])


UPDATES: list[dict[str, Any]] = [
    {"memory": {"limit": 1 << 20, "reservation": 1 << 19, "swap": 1 << 21}},
    {"cpu": {"quota": 50000, "period": 100000, "shares": 512, "cpus": "0-1", "mems": "0"}},
    {"cpu": {"idle": 1}},
    {"pids": {"limit": 7}},
    {"blockIO": {"weight": 500}},
    {"unified": {"memory.high": "1000000", "memory.min": "4096", "cpu.weight": "10",
                 "cpu.max": "max 100000", "pids.max": "max", "cpuset.cpus": "1"}},
]  # fmt: skip


@pytest.mark.parametrize("v2", [True, False], ids=["v2", "v1"])
def test_update_placeholders_cover_every_update(v2: bool) -> None:
    """Every property an update can send exists from create on (a placeholder when the
    config had none): an update then only rewrites drop-ins, and the unit does not need a
    daemon-reload (seen in the guest: a first-time MemoryMax at update flagged it)."""
    created, _ = P.resource_props({"pids": {"limit": 5}}, v2=v2, version=NEW, warnings=[])
    created += P.update_placeholders(created, v2=v2, version=NEW, default_tasks_max=4915)
    have = names(created)
    assert len(have) == len(set(have))
    for res in UPDATES:
        if not v2 and "unified" in res:
            continue
        sent, _ = P.resource_props(res, v2=v2, version=NEW, warnings=[])
        assert set(names(sent)) <= set(have), res


def test_update_placeholders_change_nothing() -> None:
    """Each placeholder is systemd's unset value; what create already sets is kept, and
    version-gated properties stay out on an old systemd."""
    got = dict((n, v) for n, _s, v in P.update_placeholders(
        [("MemoryMax", "t", 1 << 20)], v2=True, version=NEW, default_tasks_max=4915))
    assert got == {"MemoryMin": 0, "MemoryLow": 0, "MemoryHigh": P.UINT64_MAX,
                   "MemorySwapMax": P.UINT64_MAX, "CPUWeight": P.UINT64_MAX,
                   "IOWeight": P.UINT64_MAX, "CPUQuotaPerSecUSec": P.UINT64_MAX,
                   "CPUQuotaPeriodUSec": P.UINT64_MAX, "AllowedCPUs": b"",
                   "AllowedMemoryNodes": b"", "TasksMax": 4915}  # fmt: skip
    old = names(P.update_placeholders([], v2=True, version=241, default_tasks_max=None))
    assert "CPUQuotaPeriodUSec" not in old and "AllowedCPUs" not in old
    assert "TasksMax" not in old
    v1 = names(P.update_placeholders([], v2=False, version=NEW, default_tasks_max=None))
    assert {"MemoryLimit", "CPUShares", "BlockIOWeight"} <= set(v1)
    assert "MemoryMax" not in v1
