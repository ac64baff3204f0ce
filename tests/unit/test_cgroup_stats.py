"""Stats documents (runc ``types.Stats`` shape) from fake v1 and v2 cgroup files."""

from __future__ import annotations

from pathlib import Path

from pyoci.cgroups import stats

U64_MAX = (1 << 64) - 1


def files(directory: Path, contents: dict[str, str]) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in contents.items():
        (directory / name).write_text(text)
    return str(directory)


def test_v2_document(tmp_path: Path) -> None:
    d = files(
        tmp_path / "ctr",
        {
            "cpu.stat": "usage_usec 2000\nuser_usec 1500\nsystem_usec 500\nnr_periods 10\n"
            "nr_throttled 4\nthrottled_usec 300\nnr_bursts 0\nburst_usec 0\n",
            "memory.stat": "anon 4096\nfile 8192\nkernel 100\n",
            "memory.current": "12288\n",
            "memory.max": "max\n",
            "memory.peak": "20000\n",
            "memory.events": "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
            "memory.swap.current": "0\n",
            "memory.swap.max": "max\n",
            "pids.current": "3\n",
            "pids.max": "max\n",
            "io.stat": "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n",
            "hugetlb.2MB.current": "2097152\n",
            "hugetlb.2MB.max": "4194304\n",
            "hugetlb.2MB.events": "max 1\n",
            "hugetlb.1GB.current": "0\n",
            "hugetlb.1GB.max": "max\n",
            "hugetlb.1GB.events": "max 0\n",
            "cpuset.cpus.effective": "0-1,3\n",
            "cpuset.mems.effective": "0\n",
        },
    )
    doc = stats.collect({}, d, ["cpu", "cpuset", "memory", "io", "pids", "hugetlb"])
    assert doc["cpu"] == {
        "usage": {"total": 2_000_000, "kernel": 500_000, "user": 1_500_000},
        "throttling": {"periods": 10, "throttledPeriods": 4, "throttledTime": 300_000},
    }
    assert doc["cpuset"]["cpus"] == [0, 1, 3]
    assert doc["cpuset"]["mems"] == [0]
    mem = doc["memory"]
    assert mem["cache"] == 8192
    assert mem["usage"] == {"limit": U64_MAX, "usage": 12288, "max": 20000, "failcnt": 3}
    assert mem["swap"] == {"limit": U64_MAX, "usage": 12288, "failcnt": 0}
    assert mem["raw"]["anon"] == 4096
    assert doc["pids"] == {"current": 3}  # limit "max" -> 0 -> omitted
    assert doc["blkio"] == {
        "ioServiceBytesRecursive": [
            {"major": 8, "op": "Read", "value": 4096},
            {"major": 8, "op": "Write", "value": 8192},
        ],
        "ioServicedRecursive": [
            {"major": 8, "op": "Read", "value": 1},
            {"major": 8, "op": "Write", "value": 2},
        ],
    }
    assert doc["hugetlb"] == {
        "1GB": {"failcnt": 0},
        "2MB": {"usage": 2097152, "failcnt": 1},
    }
    assert doc["network_interfaces"] is None
    assert doc["intel_rdt"] == {}


def test_v1_document(tmp_path: Path) -> None:
    mem = files(
        tmp_path / "memory",
        {
            "memory.stat": "cache 100\nrss 200\ntotal_cache 100\n",
            "memory.usage_in_bytes": "300\n",
            "memory.max_usage_in_bytes": "900\n",
            "memory.failcnt": "7\n",
            "memory.limit_in_bytes": "1048576\n",
            "memory.memsw.usage_in_bytes": "300\n",
            "memory.memsw.max_usage_in_bytes": "900\n",
            "memory.memsw.failcnt": "0\n",
            "memory.memsw.limit_in_bytes": "9223372036854771712\n",
        },
    )
    cpu = files(
        tmp_path / "cpu", {"cpu.stat": "nr_periods 5\nnr_throttled 2\nthrottled_time 12345\n"}
    )
    acct = files(
        tmp_path / "cpuacct",
        {
            "cpuacct.usage": "5000\n",
            "cpuacct.usage_percpu": "3000 2000 \n",
            "cpuacct.stat": "user 3\nsystem 1\n",
            "cpuacct.usage_all": "cpu user system\n0 2500 500\n1 1500 500\n",
        },
    )
    pids = files(tmp_path / "pids", {"pids.current": "2\n", "pids.max": "10\n"})
    blkio = files(
        tmp_path / "blkio",
        {
            "blkio.throttle.io_service_bytes_recursive": "8:0 Read 512\n8:0 Write 0\nTotal 512\n",
            "blkio.throttle.io_serviced_recursive": "8:0 Read 1\n8:0 Write 0\nTotal 1\n",
        },
    )
    hugetlb = tmp_path / "unified"
    files(
        hugetlb,
        {"hugetlb.2MB.current": "0\n", "hugetlb.2MB.max": "0\n", "hugetlb.2MB.events": "max 2\n"},
    )
    doc = stats.collect(
        {"memory": mem, "cpu": cpu, "cpuacct": acct, "pids": pids, "blkio": blkio},
        str(hugetlb),
        ["hugetlb"],
    )
    ticks = __import__("os").sysconf("SC_CLK_TCK")
    assert doc["cpu"]["usage"] == {
        "total": 5000,
        "percpu": [3000, 2000],
        "percpu_user": [2500, 1500],
        "percpu_kernel": [500, 500],
        "user": 3 * 1_000_000_000 // ticks,
        "kernel": 1 * 1_000_000_000 // ticks,
    }
    assert doc["cpu"]["throttling"] == {"periods": 5, "throttledPeriods": 2, "throttledTime": 12345}
    assert doc["memory"]["cache"] == 100
    assert doc["memory"]["usage"] == {"limit": 1048576, "usage": 300, "max": 900, "failcnt": 7}
    assert doc["memory"]["swap"]["limit"] == 9223372036854771712
    assert "kernel" not in doc["memory"]  # no kmem files
    assert doc["pids"] == {"current": 2, "limit": 10}
    assert doc["blkio"]["ioServiceBytesRecursive"] == [
        {"major": 8, "op": "Read", "value": 512},
        {"major": 8, "op": "Write"},
    ]
    assert doc["hugetlb"] == {"2MB": {"failcnt": 2}}
    # cpuset not mounted: the fixed fields are still there, as in runc's output
    assert doc["cpuset"]["cpu_exclusive"] == 0 and "cpus" not in doc["cpuset"]


def test_pids_without_controller_counts_procs(tmp_path: Path) -> None:
    d = files(tmp_path / "u", {"cgroup.procs": "1\n2\n3\n"})
    assert stats.collect({}, d, [])["pids"] == {"current": 3}


def test_hugepage_sizes(tmp_path: Path) -> None:
    d = files(
        tmp_path / "h",
        {
            "hugetlb.2MB.limit_in_bytes": "",
            "hugetlb.2MB.rsvd.limit_in_bytes": "",
            "hugetlb.1GB.limit_in_bytes": "",
            "hugetlb.64KB.max": "",
        },
    )
    assert stats.hugepage_sizes(d) == ["1GB", "2MB", "64KB"]
