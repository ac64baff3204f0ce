"""Cgroup statistics in the shape of runc's ``types.Stats`` (``runc events --stats``).

``collect`` returns the ``data`` of runc's ``{"type": "stats", "id": …,
"data": …}`` event, with runc's JSON field names and its omit-if-zero rules,
so clients that parse runc's output (containerd's shim, ``ctr``) read ours.
Each controller is read from the hierarchy that has it (v1 or cgroup2), so a
hybrid host reports memory from v1 and hugetlb from cgroup2.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

U64_MAX = (1 << 64) - 1


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _num(text: str | None) -> int:
    """A cgroup number; "max" is 2^64-1 as runc reports it; junk or absent is 0."""
    if text is None:
        return 0
    text = text.strip()
    if text == "max":
        return U64_MAX
    try:
        return int(text)
    except ValueError:
        return 0


def _flat_keyed(text: str | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        key, _, value = line.partition(" ")
        if key and value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out


def _prune(d: dict[str, Any], *omit_if_zero: str) -> dict[str, Any]:
    for key in omit_if_zero:
        if not d.get(key):
            d.pop(key, None)
    return d


def _ranges(text: str | None) -> list[int]:
    out: list[int] = []
    for part in (text or "").strip().split(","):
        lo, _, hi = part.partition("-")
        if lo.isdigit():
            out.extend(range(int(lo), int(hi or lo) + 1))
    return out


# ---------------------------------------------------------------- cpu


def _cpu_v1(cpu_dir: str | None, acct_dir: str | None) -> dict[str, Any]:
    usage: dict[str, Any] = {"kernel": 0, "user": 0}
    throttling: dict[str, Any] = {}
    if acct_dir is not None:
        usage["total"] = _num(_read(f"{acct_dir}/cpuacct.usage"))
        usage["percpu"] = [
            int(v) for v in (_read(f"{acct_dir}/cpuacct.usage_percpu") or "").split()
        ]
        ticks = os.sysconf("SC_CLK_TCK") or 100
        st = _flat_keyed(_read(f"{acct_dir}/cpuacct.stat"))
        usage["user"] = st.get("user", 0) * 1_000_000_000 // ticks
        usage["kernel"] = st.get("system", 0) * 1_000_000_000 // ticks
        lines = (_read(f"{acct_dir}/cpuacct.usage_all") or "").splitlines()[1:]
        rows = [ln.split() for ln in lines if len(ln.split()) >= 3]
        usage["percpu_user"] = [int(r[1]) for r in rows]
        usage["percpu_kernel"] = [int(r[2]) for r in rows]
    if cpu_dir is not None:
        st = _flat_keyed(_read(f"{cpu_dir}/cpu.stat"))
        throttling = {
            "periods": st.get("nr_periods", 0),
            "throttledPeriods": st.get("nr_throttled", 0),
            "throttledTime": st.get("throttled_time", 0),
        }
    return _cpu_doc(usage, throttling)


def _cpu_v2(directory: str) -> dict[str, Any]:
    st = _flat_keyed(_read(f"{directory}/cpu.stat"))
    usage = {
        "total": st.get("usage_usec", 0) * 1000,
        "kernel": st.get("system_usec", 0) * 1000,
        "user": st.get("user_usec", 0) * 1000,
    }
    throttling = {
        "periods": st.get("nr_periods", 0),
        "throttledPeriods": st.get("nr_throttled", 0),
        "throttledTime": st.get("throttled_usec", 0) * 1000,
    }
    return _cpu_doc(usage, throttling)


def _cpu_doc(usage: dict[str, Any], throttling: dict[str, Any]) -> dict[str, Any]:
    _prune(usage, "total", "percpu", "percpu_kernel", "percpu_user")
    _prune(throttling, "periods", "throttledPeriods", "throttledTime")
    # runc's Cpu struct always has both (Go's omitempty does not drop structs)
    return {"usage": usage, "throttling": throttling}


def _cpuset(directory: str | None, v2: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if directory is not None:
        suffix = ".effective" if v2 else ""
        doc["cpus"] = _ranges(_read(f"{directory}/cpuset.cpus{suffix}"))
        doc["mems"] = _ranges(_read(f"{directory}/cpuset.mems{suffix}"))
        _prune(doc, "cpus", "mems")
    for key in (
        "cpu_exclusive",
        "mem_hardwall",
        "mem_exclusive",
        "memory_migrate",
        "memory_spread_page",
        "memory_spread_slab",
        "memory_pressure",
        "sched_load_balance",
        "sched_relax_domain_level",
    ):
        doc[key] = _num(_read(f"{directory}/cpuset.{key}")) if directory and not v2 else 0
    return doc


# ---------------------------------------------------------------- memory


def _entry(limit: int, usage: int, peak: int, failcnt: int) -> dict[str, Any]:
    return _prune({"limit": limit, "usage": usage, "max": peak, "failcnt": failcnt}, "usage", "max")


def _is_zero(entry: dict[str, Any]) -> bool:
    return not any(entry.values())


def _memory_v1(directory: str) -> dict[str, Any]:
    def data(prefix: str) -> dict[str, Any] | None:
        if _read(f"{directory}/{prefix}.usage_in_bytes") is None:
            return None
        return _entry(
            _num(_read(f"{directory}/{prefix}.limit_in_bytes")),
            _num(_read(f"{directory}/{prefix}.usage_in_bytes")),
            _num(_read(f"{directory}/{prefix}.max_usage_in_bytes")),
            _num(_read(f"{directory}/{prefix}.failcnt")),
        )

    raw = _flat_keyed(_read(f"{directory}/memory.stat"))
    doc: dict[str, Any] = {"cache": raw.get("cache", 0)}
    for key, prefix in (
        ("usage", "memory"),
        ("swap", "memory.memsw"),
        ("kernel", "memory.kmem"),
        ("kernelTCP", "memory.kmem.tcp"),
    ):
        entry = data(prefix)
        if entry is not None and not _is_zero(entry):
            doc[key] = entry
    doc["raw"] = raw
    return _prune(doc, "cache", "raw")


def _memory_v2(directory: str) -> dict[str, Any]:
    raw = _flat_keyed(_read(f"{directory}/memory.stat"))
    events = _flat_keyed(_read(f"{directory}/memory.events"))
    usage = _entry(
        _num(_read(f"{directory}/memory.max")),
        _num(_read(f"{directory}/memory.current")),
        _num(_read(f"{directory}/memory.peak")),
        events.get("max", 0),  # times usage hit memory.max (runc leaves 0)
    )
    doc: dict[str, Any] = {"cache": raw.get("file", 0), "usage": usage}
    swap_current = _read(f"{directory}/memory.swap.current")
    if swap_current is not None:
        swap_limit = _num(_read(f"{directory}/memory.swap.max"))
        mem_limit = usage["limit"]
        limit = U64_MAX if U64_MAX in (swap_limit, mem_limit) else swap_limit + mem_limit
        swap_events = _flat_keyed(_read(f"{directory}/memory.swap.events"))
        doc["swap"] = _entry(
            limit, _num(swap_current) + usage.get("usage", 0), 0, swap_events.get("max", 0)
        )
    doc["raw"] = raw
    return _prune(doc, "cache", "raw")


# ---------------------------------------------------------------- pids, blkio, hugetlb


def _pids(directory: str) -> dict[str, Any]:
    limit = _num(_read(f"{directory}/pids.max"))
    current = _read(f"{directory}/pids.current")
    if current is None:  # controller not enabled: count the processes
        current = str(len((_read(f"{directory}/cgroup.procs") or "").split()))
    return _prune(
        {"current": _num(current), "limit": 0 if limit == U64_MAX else limit}, "current", "limit"
    )


def _blkio_entries(text: str | None) -> list[dict[str, Any]]:
    out = []
    for line in (text or "").splitlines():
        fields = line.replace(":", " ").split()
        if len(fields) < 3 or not fields[0].isdigit():
            continue  # "Total N"
        entry: dict[str, Any] = {"major": int(fields[0]), "minor": int(fields[1])}
        if len(fields) == 4:
            entry["op"], entry["value"] = fields[2], int(fields[3])
        else:
            entry["value"] = int(fields[2])
        out.append(_prune(entry, "major", "minor", "op", "value"))
    return out


def _blkio_v1(directory: str) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    # CFQ files, then BFQ, then the throttling layer (always there).
    for key, names in (
        (
            "ioServiceBytesRecursive",
            (
                "blkio.io_service_bytes_recursive",
                "blkio.bfq.io_service_bytes_recursive",
                "blkio.throttle.io_service_bytes_recursive",
                "blkio.throttle.io_service_bytes",
            ),
        ),
        (
            "ioServicedRecursive",
            (
                "blkio.io_serviced_recursive",
                "blkio.bfq.io_serviced_recursive",
                "blkio.throttle.io_serviced_recursive",
                "blkio.throttle.io_serviced",
            ),
        ),
        ("ioQueueRecursive", ("blkio.io_queued_recursive",)),
        ("ioServiceTimeRecursive", ("blkio.io_service_time_recursive",)),
        ("ioWaitTimeRecursive", ("blkio.io_wait_time_recursive",)),
        ("ioMergedRecursive", ("blkio.io_merged_recursive",)),
        ("ioTimeRecursive", ("blkio.time_recursive",)),
        ("sectorsRecursive", ("blkio.sectors_recursive",)),
    ):
        for name in names:
            text = _read(f"{directory}/{name}")
            if text is not None:
                entries = _blkio_entries(text)
                if entries:
                    doc[key] = entries
                break
    return doc


def _blkio_v2(directory: str) -> dict[str, Any]:
    service_bytes: list[dict[str, Any]] = []
    serviced: list[dict[str, Any]] = []
    for line in (_read(f"{directory}/io.stat") or "").splitlines():
        fields = line.split()
        if not fields or ":" not in fields[0]:
            continue
        ma, _, mi = fields[0].partition(":")
        for item in fields[1:]:
            key, _, value = item.partition("=")
            table, op = {
                "rbytes": (service_bytes, "Read"),
                "wbytes": (service_bytes, "Write"),
                "rios": (serviced, "Read"),
                "wios": (serviced, "Write"),
            }.get(key, (None, ""))
            if table is not None and value.isdigit():
                entry = {"major": int(ma), "minor": int(mi), "op": op, "value": int(value)}
                table.append(_prune(entry, "major", "minor", "value"))
    doc: dict[str, Any] = {}
    if service_bytes:
        doc["ioServiceBytesRecursive"] = service_bytes
    if serviced:
        doc["ioServicedRecursive"] = serviced
    return doc


def hugepage_sizes(directory: str) -> list[str]:
    """Sizes with a hugetlb limit file in ``directory`` ("2MB", "1GB"…)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    sizes = set()
    for name in names:
        parts = name.split(".")
        if len(parts) == 3 and parts[0] == "hugetlb" and parts[2] in ("limit_in_bytes", "max"):
            sizes.add(parts[1])
    return sorted(sizes)


def _hugetlb(directory: str, v2: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for size in hugepage_sizes(directory):
        prefix = f"{directory}/hugetlb.{size}"
        if v2:
            usage = _num(_read(f"{prefix}.current"))
            failcnt = _flat_keyed(_read(f"{prefix}.events")).get("max", 0)
            peak = 0
        else:
            usage = _num(_read(f"{prefix}.usage_in_bytes"))
            peak = _num(_read(f"{prefix}.max_usage_in_bytes"))
            failcnt = _num(_read(f"{prefix}.failcnt"))
        doc[size] = _prune({"usage": usage, "max": peak, "failcnt": failcnt}, "usage", "max")
    return doc


# ---------------------------------------------------------------- all


def collect(v1: dict[str, str], unified: str | None, v2: list[str]) -> dict[str, Any]:
    """runc ``types.Stats`` for a cgroup whose v1 controllers are in ``v1``
    (controller -> dir) and whose cgroup2 directory (if any) is ``unified``
    with the controllers ``v2`` used there."""
    on_v2 = set(v2) if unified is not None else set()
    doc: dict[str, Any] = {}

    if "cpu" in v1 or "cpuacct" in v1:
        doc["cpu"] = _cpu_v1(v1.get("cpu"), v1.get("cpuacct"))
    elif unified is not None:
        doc["cpu"] = _cpu_v2(unified)  # cpu.stat usage is a core file in cgroup2
    else:
        doc["cpu"] = {}

    if "cpuset" in v1:
        doc["cpuset"] = _cpuset(v1["cpuset"], False)
    else:
        doc["cpuset"] = _cpuset(unified if "cpuset" in on_v2 else None, True)

    if "memory" in v1:
        doc["memory"] = _memory_v1(v1["memory"])
    elif "memory" in on_v2 and unified is not None:
        doc["memory"] = _memory_v2(unified)
    else:
        doc["memory"] = {}

    if "pids" in v1:
        doc["pids"] = _pids(v1["pids"])
    elif unified is not None:
        doc["pids"] = _pids(unified)
    else:
        doc["pids"] = {}

    if "blkio" in v1:
        doc["blkio"] = _blkio_v1(v1["blkio"])
    elif "io" in on_v2 and unified is not None:
        doc["blkio"] = _blkio_v2(unified)
    else:
        doc["blkio"] = {}

    if "hugetlb" in v1:
        doc["hugetlb"] = _hugetlb(v1["hugetlb"], False)
    elif "hugetlb" in on_v2 and unified is not None:
        doc["hugetlb"] = _hugetlb(unified, True)
    else:
        doc["hugetlb"] = {}

    doc["intel_rdt"] = {}
    doc["network_interfaces"] = None
    return doc
