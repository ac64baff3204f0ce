"""Pure parts of the cgroup verbs: update's merge and value parsing, events' durations."""

from __future__ import annotations

import pytest

from pyoci.errors import CgroupError, UsageError
from pyoci.ops.cgroup_verbs import merge_resources, parse_bytes, parse_duration

SAVED = {
    "devices": [{"allow": False, "access": "rwm"}],
    "memory": {"limit": 100, "swap": 200},
    "cpu": {"shares": 512, "quota": 10000, "period": 100000, "cpus": "0-1"},
    "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
}


def test_merge_keeps_unchanged_values_and_devices() -> None:
    merged, request = merge_resources(SAVED, {"memory": {"limit": 150}, "pids": {"limit": 0}})
    assert merged["memory"] == {"limit": 150, "swap": 200}
    assert merged["pids"] == {"limit": 0}  # 0 is a real limit (runtime-spec 1.3)
    assert merged["cpu"] == SAVED["cpu"] and merged["devices"] == SAVED["devices"]
    # what is written: the named sections, whole (v2 swap needs the limit)
    assert request == {"memory": {"limit": 150, "swap": 200}, "pids": {"limit": 0}}
    assert SAVED["memory"] == {"limit": 100, "swap": 200}  # not mutated


def test_merge_ignores_devices_nulls_and_empty_strings() -> None:
    patch = {"devices": [{"allow": True, "access": "rwm"}], "cpu": {"cpus": "", "quota": None,
             "shares": 1024}, "memory": None}  # fmt: skip
    merged, request = merge_resources(SAVED, patch)
    assert merged["devices"] == SAVED["devices"]
    assert merged["cpu"] == {"shares": 1024, "quota": 10000, "period": 100000, "cpus": "0-1"}
    assert set(request) == {"cpu"}


def test_merge_unlimited_memory_means_unlimited_swap() -> None:
    merged, _ = merge_resources(SAVED, {"memory": {"limit": -1}})
    assert merged["memory"] == {"limit": -1, "swap": -1}
    merged, _ = merge_resources(SAVED, {"memory": {"limit": -1, "swap": 300}})
    assert merged["memory"] == {"limit": -1, "swap": 300}


def test_merge_hugepages_by_size() -> None:
    merged, request = merge_resources(
        SAVED, {"hugepageLimits": [{"pageSize": "1GB", "limit": 0}]}
    )
    assert merged["hugepageLimits"] == [
        {"pageSize": "2MB", "limit": 0},
        {"pageSize": "1GB", "limit": 0},
    ]
    assert request == {"hugepageLimits": [{"pageSize": "1GB", "limit": 0}]}


@pytest.mark.parametrize("bad", [[], {"memory": 5}, {"hugepageLimits": {}}])
def test_merge_rejects_wrong_shapes(bad: object) -> None:
    with pytest.raises(CgroupError):
        merge_resources(SAVED, bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("100", 100),
        ("512m", 512 << 20),
        ("512M", 512 << 20),
        ("1g", 1 << 30),
        ("1.5g", 3 << 29),
        ("64 KiB", 64 << 10),
        ("64kb", 64 << 10),
        ("2t", 2 << 40),
        ("1p", 1 << 50),
        ("10b", 10),
        ("-1", -1),
    ],
)
def test_parse_bytes_like_go_units(text: str, value: int) -> None:
    assert parse_bytes(text) == value


@pytest.mark.parametrize("text", ["", "m", "-5m", "12q", "1.m", "1..2m", "1  m", "0x10", "١٢"])
def test_parse_bytes_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="invalid size"):
        parse_bytes(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5s", 5.0), ("200ms", 0.2), ("1m30s", 90.0), ("1.5h", 5400.0), ("0", 0.0), ("10us", 1e-5)],
)
def test_parse_duration_like_go(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "s", "5x", "1.2.3s", "-5s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="invalid duration"):
        parse_duration(text)
