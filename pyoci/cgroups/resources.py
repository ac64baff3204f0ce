"""OCI ``linux.resources`` -> cgroup file writes.  Pure: no file system access.

``v1_writes`` and ``v2_writes`` return the ordered list of ``(file, value)``
pairs to write into the container's cgroup directory (a list, not a dict: one
file can take several writes, e.g. one ``io.max`` line per device).  The
controller owning a file is the part of its name before the first dot
(``controller_of``), which is how the manager finds the directory in v1 and
hybrid layouts.

Semantics follow config-linux.md v1.3.0 and, where the spec leaves room, runc
(``opencontainers/cgroups`` ``fs`` and ``fs2``):

* ``0`` means "unset" for memory, cpu shares/quota/period and block weights,
  ``-1`` means unlimited;
* ``pids.limit``: ``0`` is a real limit (spec v1.3.0), negative means ``max``;
* cpu shares become ``cpu.weight`` on v2 with runc's current formula
  (``shares_to_weight``);
* knobs the version does not have become warnings, never silent: kernel memory
  and swappiness on v2, realtime cpu on v2 (network without net_cls/net_prio
  is an error: the manager refuses it before any write).

The manager retries writes that fail with ``EINVAL`` once after the others
(``cpu.cfs_period_us``/``cpu.cfs_quota_us``, ``memory.limit_in_bytes``/
``memory.memsw.limit_in_bytes``): the order that works depends on the
current values, which a pure function cannot know.
"""

from __future__ import annotations

from pyoci.errors import CgroupError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Container, Mapping
    from typing import Any

    Writes = list[tuple[str, str]]

# Writes that may fail with ENOENT without consequence (the kernel lacks the
# optional feature), and those that deserve a warning when they do.
OPTIONAL_SUFFIXES = (".rsvd.limit_in_bytes", ".rsvd.max")
WARN_IF_MISSING = frozenset(
    {
        "memory.kmem.limit_in_bytes",
        "memory.kmem.tcp.limit_in_bytes",
        "cpu.cfs_burst_us",
        "cpu.max.burst",
        "cpu.idle",
        "blkio.leaf_weight",
        "blkio.leaf_weight_device",
    }
)

# Logical resource groups -> controller name per version.
V1_NAMES = {
    "memory": "memory",
    "cpu": "cpu",
    "cpuset": "cpuset",
    "pids": "pids",
    "blkio": "blkio",
    "hugetlb": "hugetlb",
    "rdma": "rdma",
    "net_cls": "net_cls",
    "net_prio": "net_prio",
}
V2_NAMES = {
    "memory": "memory",
    "cpu": "cpu",
    "cpuset": "cpuset",
    "pids": "pids",
    "blkio": "io",
    "hugetlb": "hugetlb",
    "rdma": "rdma",
}
# linux.resources.network: cgroup v1 only (no cgroup v2 equivalent)
NETWORK_CONTROLLERS = frozenset({"net_cls", "net_prio"})


def controller_of(file: str) -> str:
    """``memory.max`` -> ``memory``; ``cgroup.freeze`` -> ``cgroup`` (core files)."""
    return file.split(".", 1)[0]


# ---------------------------------------------------------------- conversions


def shares_to_weight(shares: int) -> int:
    """cgroup v1 cpu.shares [2, 262144] -> v2 cpu.weight [1, 10000].

    runc's current formula (opencontainers/cgroups
    ``ConvertCPUSharesToCgroupV2Value``): a quadratic in log2(shares) through
    (2, 1), (1024, 100) and (262144, 10000), so the defaults map onto each
    other.  0 means unset.
    """
    if shares == 0:
        return 0
    if shares <= 2:
        return 1
    if shares >= 262144:
        return 10000
    import math

    lg = math.log2(shares)
    exponent = (lg * lg + 125 * lg) / 612.0 - 7.0 / 34.0
    return math.ceil(math.pow(10, exponent))


def weight_to_shares(weight: int) -> int:
    """Inverse of ``shares_to_weight`` (exact at 1, 100 and 10000; elsewhere the
    round trip is within one weight unit, the formula's ``ceil`` being lossy)."""
    if weight <= 0:
        return 0
    if weight >= 10000:
        return 262144
    import math

    # Solve (l^2 + 125 l) / 612 - 7/34 = log10(weight) for l = log2(shares).
    c = (math.log10(weight) + 7.0 / 34.0) * 612.0
    lg = (-125.0 + math.sqrt(125.0 * 125.0 + 4.0 * c)) / 2.0
    return min(262144, max(2, round(math.pow(2, lg))))


def blkio_weight_to_io_weight(weight: int) -> int:
    """blkio.weight [10, 1000] -> io.weight [1, 10000] (runc's linear map)."""
    if weight == 0:
        return 0
    return 1 + (weight - 10) * 9999 // 990


def memory_swap_to_v2(swap: int, memory: int) -> int:
    """OCI memory.swap (memory+swap) -> v2 ``memory.swap.max`` (swap only).

    Returns -1 for "max", 0 for "unset or zero", like runc's
    ``ConvertMemorySwapToCgroupV2Value``.
    """
    if memory == -1 and swap == 0:
        return -1
    if swap in (-1, 0):
        return swap
    if memory == -1:
        return swap
    if memory == 0:
        raise CgroupError("memory.swap cannot be set without memory.limit on cgroup v2")
    if memory < 0:
        raise CgroupError(f"invalid memory.limit {memory}")
    if swap < memory:
        raise CgroupError(f"memory.swap ({swap}) must be >= memory.limit ({memory})")
    return swap - memory


# ---------------------------------------------------------------- helpers


def _section(res: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    val = res.get(key)
    if val is None:
        return {}
    if not isinstance(val, dict):
        raise CgroupError(f"linux.resources.{key} must be an object")
    return val


def _int(sec: Mapping[str, Any], key: str, where: str) -> int | None:
    val = sec.get(key)
    if val is None:
        return None
    if isinstance(val, bool) or not isinstance(val, int):
        raise CgroupError(f"linux.resources.{where}.{key} must be an integer, not {val!r}")
    return val


def _bool(sec: Mapping[str, Any], key: str, where: str) -> bool | None:
    val = sec.get(key)
    if val is None:
        return None
    if not isinstance(val, bool):
        raise CgroupError(f"linux.resources.{where}.{key} must be a boolean, not {val!r}")
    return val


def _str(sec: Mapping[str, Any], key: str, where: str) -> str | None:
    val = sec.get(key)
    if val is None:
        return None
    if not isinstance(val, str):
        raise CgroupError(f"linux.resources.{where}.{key} must be a string, not {val!r}")
    return val


def _list(sec: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
    val = sec.get(key)
    if val is None:
        return []
    if not isinstance(val, list) or not all(isinstance(v, dict) for v in val):
        raise CgroupError(f"linux.resources.{where}.{key} must be an array of objects")
    return val


def _dev(entry: Mapping[str, Any], where: str) -> str:
    major = _int(entry, "major", where)
    minor = _int(entry, "minor", where)
    if major is None or minor is None or major < 0 or minor < 0:
        raise CgroupError(f"linux.resources.{where}: major and minor are required")
    return f"{major}:{minor}"


def _cpuset_list(value: str, where: str) -> str:
    """Validate ``0-3,7`` without ``re``."""
    value = value.strip()
    for part in value.split(","):
        lo, dash, hi = part.partition("-")
        if not lo.isdigit() or (dash and (not hi.isdigit() or int(hi) < int(lo))):
            raise CgroupError(f"linux.resources.cpu.{where}: invalid list {value!r}")
    return value


def page_size(value: Any) -> str:
    """Validate a hugepage size like ``2MB`` / ``64KB`` / ``1GB`` (the file-name form)."""
    if (
        not isinstance(value, str)
        or len(value) < 3
        or value[-2:] not in ("KB", "MB", "GB")
        or not value[:-2].isdigit()
        or value[0] == "0"
    ):
        raise CgroupError(f"linux.resources.hugepageLimits: invalid pageSize {value!r}")
    return value


def page_size_bytes(value: str) -> int:
    return int(value[:-2]) << {"KB": 10, "MB": 20, "GB": 30}[value[-2:]]


def _want(only: Container[str] | None, name: str) -> bool:
    return only is None or name in only


# ---------------------------------------------------------------- per version


def v1_writes(
    res: Mapping[str, Any],
    warnings: list[str],
    *,
    only: Container[str] | None = None,
    available: Container[str] | None = None,
) -> Writes:
    """Writes for cgroup v1.  ``only``: v1 controller names to map (None: all).

    ``available``: file names present in the container's blkio directory, to
    pick CFQ (``blkio.weight``) or BFQ (``blkio.bfq.weight``) names; None
    assumes CFQ names.
    """
    out: Writes = []
    if _want(only, "memory"):
        _v1_memory(_section(res, "memory"), out)
    cpu = _section(res, "cpu")
    if _want(only, "cpu"):
        _v1_cpu(cpu, out)
    if _want(only, "cpuset"):
        _cpuset(cpu, out)
    if _want(only, "pids"):
        _pids(_section(res, "pids"), out)
    if _want(only, "blkio"):
        _v1_blkio(_section(res, "blockIO"), out, warnings, available)
    if _want(only, "hugetlb"):
        _hugetlb(res, out, ".limit_in_bytes")
    if _want(only, "rdma"):
        _rdma(res, out)
    net = _section(res, "network")
    if _want(only, "net_cls"):
        classid = _int(net, "classID", "network")
        if classid is not None:
            out.append(("net_cls.classid", str(classid)))
    if _want(only, "net_prio"):
        for prio in _list(net, "priorities", "network"):
            name = _str(prio, "name", "network.priorities")
            value = _int(prio, "priority", "network.priorities")
            if not name or value is None:
                raise CgroupError(
                    "linux.resources.network.priorities: name and priority are required"
                )
            out.append(("net_prio.ifpriomap", f"{name} {value}"))
    unified = res.get("unified")
    if unified:
        raise unified_on_v1(unified)
    return out


def unified_on_v1(unified: Mapping[str, Any]) -> CgroupError:
    return CgroupError(
        "linux.resources.unified needs cgroup v2, but this host uses cgroup v1 for "
        + ", ".join(sorted(unified))
    )


def v2_writes(
    res: Mapping[str, Any],
    warnings: list[str],
    *,
    only: Container[str] | None = None,
    available: Container[str] | None = None,
) -> Writes:
    """Writes for cgroup v2.  ``only``: v2 controller names to map (None: all).

    ``available``: file names present in the container's directory, to use
    ``io.bfq.weight`` when the BFQ scheduler provides it; None assumes not.
    ``unified`` entries come last and are only mapped when ``only`` is None
    or contains their controller (``cgroup.*`` core files always).
    """
    out: Writes = []
    if _want(only, "memory"):
        _v2_memory(_section(res, "memory"), out, warnings)
    cpu = _section(res, "cpu")
    if _want(only, "cpu"):
        _v2_cpu(cpu, out, warnings)
    if _want(only, "cpuset"):
        _cpuset(cpu, out)
    if _want(only, "pids"):
        _pids(_section(res, "pids"), out)
    if _want(only, "io"):
        _v2_io(_section(res, "blockIO"), out, warnings, available)
    if _want(only, "hugetlb"):
        _hugetlb(res, out, ".max")
    if _want(only, "rdma"):
        _rdma(res, out)
    net = _section(res, "network")
    if only is None and (net.get("classID") is not None or net.get("priorities")):
        warnings.append("linux.resources.network is not supported on cgroup v2; ignored")
    out.extend(unified_writes(res, only=only))
    return out


def unified_writes(res: Mapping[str, Any], *, only: Container[str] | None = None) -> Writes:
    """``linux.resources.unified``: each key is a file, each value line one write."""
    unified = res.get("unified")
    if not unified:
        return []
    if not isinstance(unified, dict):
        raise CgroupError("linux.resources.unified must be an object")
    out: Writes = []
    for key, value in unified.items():
        if not isinstance(value, str):
            raise CgroupError(f"linux.resources.unified[{key!r}] must be a string")
        if "/" in key or "." not in key or key.startswith("."):
            raise CgroupError(
                f"linux.resources.unified: {key!r} must be a file name CONTROLLER.PARAMETER"
            )
        ctl = controller_of(key)
        if only is not None and ctl != "cgroup" and ctl not in only:
            continue
        lines = [ln for ln in value.split("\n") if ln.strip()] or [value]
        out.extend((key, line) for line in lines)
    return out


# ---------------------------------------------------------------- memory


def _v1_memory(mem: Mapping[str, Any], out: Writes) -> None:
    limit = _int(mem, "limit", "memory")
    swap = _int(mem, "swap", "memory")
    if limit == -1 and swap is None:
        swap = -1  # unlimited memory implies unlimited memory+swap (runc)
    mem_w = ("memory.limit_in_bytes", str(limit)) if limit else None
    swap_w = ("memory.memsw.limit_in_bytes", str(swap)) if swap else None
    # memsw must stay >= memory: when swap becomes unlimited write it first.
    order = (swap_w, mem_w) if swap == -1 else (mem_w, swap_w)
    out.extend(w for w in order if w is not None)
    reservation = _int(mem, "reservation", "memory")
    if reservation:
        out.append(("memory.soft_limit_in_bytes", str(reservation)))
    kernel = _int(mem, "kernel", "memory")
    if kernel:
        out.append(("memory.kmem.limit_in_bytes", str(kernel)))
    kernel_tcp = _int(mem, "kernelTCP", "memory")
    if kernel_tcp:
        out.append(("memory.kmem.tcp.limit_in_bytes", str(kernel_tcp)))
    swappiness = _int(mem, "swappiness", "memory")
    if swappiness is not None:
        if not 0 <= swappiness <= 100:
            raise CgroupError(
                f"invalid memory swappiness value: {swappiness} (valid range is 0-100)"
            )
        out.append(("memory.swappiness", str(swappiness)))
    oom = _bool(mem, "disableOOMKiller", "memory")
    if oom is not None:
        out.append(("memory.oom_control", "1" if oom else "0"))
    hierarchy = _bool(mem, "useHierarchy", "memory")
    if hierarchy is not None:
        out.append(("memory.use_hierarchy", "1" if hierarchy else "0"))


def _v2_num(value: int) -> str:
    return "max" if value < 0 else str(value)


def _v2_memory(mem: Mapping[str, Any], out: Writes, warnings: list[str]) -> None:
    limit = _int(mem, "limit", "memory")
    swap = _int(mem, "swap", "memory")
    if limit is not None or swap is not None:
        swap_v2 = memory_swap_to_v2(swap or 0, limit or 0)
        if swap_v2 != 0 or (swap is not None and swap > 0):
            out.append(("memory.swap.max", _v2_num(swap_v2)))
        if limit:
            out.append(("memory.max", _v2_num(limit)))
    reservation = _int(mem, "reservation", "memory")
    if reservation:
        out.append(("memory.low", _v2_num(reservation)))
    for key in ("kernel", "kernelTCP"):
        if _int(mem, key, "memory"):
            warnings.append(f"linux.resources.memory.{key} is not supported on cgroup v2; ignored")
    if _int(mem, "swappiness", "memory") is not None:
        warnings.append("linux.resources.memory.swappiness is not supported on cgroup v2; ignored")
    if _bool(mem, "disableOOMKiller", "memory"):
        warnings.append(
            "linux.resources.memory.disableOOMKiller is not supported on cgroup v2; ignored"
        )
    if _bool(mem, "useHierarchy", "memory") is False:
        warnings.append("cgroup v2 memory accounting is always hierarchical; useHierarchy ignored")


# ---------------------------------------------------------------- cpu


def _v1_cpu(cpu: Mapping[str, Any], out: Writes) -> None:
    shares = _int(cpu, "shares", "cpu")
    if shares:
        out.append(("cpu.shares", str(shares)))
    period = _int(cpu, "period", "cpu")
    quota = _int(cpu, "quota", "cpu")
    burst = _int(cpu, "burst", "cpu")
    _check_burst(quota, burst)
    if period:
        out.append(("cpu.cfs_period_us", str(period)))
    if quota:
        out.append(("cpu.cfs_quota_us", str(quota)))
    if burst is not None:
        out.append(("cpu.cfs_burst_us", str(burst)))
    idle = _int(cpu, "idle", "cpu")
    if idle is not None:
        out.append(("cpu.idle", str(idle)))
    rt_period = _int(cpu, "realtimePeriod", "cpu")
    rt_runtime = _int(cpu, "realtimeRuntime", "cpu")
    if rt_period:
        out.append(("cpu.rt_period_us", str(rt_period)))
    if rt_runtime:
        out.append(("cpu.rt_runtime_us", str(rt_runtime)))


def _check_burst(quota: int | None, burst: int | None) -> None:
    if burst is not None and quota is not None and quota > 0 and burst > quota:
        raise CgroupError(f"linux.resources.cpu.burst ({burst}) must not exceed quota ({quota})")


def _v2_cpu(cpu: Mapping[str, Any], out: Writes, warnings: list[str]) -> None:
    idle = _int(cpu, "idle", "cpu")
    if idle is not None:
        out.append(("cpu.idle", str(idle)))
    shares = _int(cpu, "shares", "cpu")
    if shares:
        out.append(("cpu.weight", str(shares_to_weight(shares))))
    period = _int(cpu, "period", "cpu")
    quota = _int(cpu, "quota", "cpu")
    burst = _int(cpu, "burst", "cpu")
    _check_burst(quota, burst)
    if period:
        q = str(quota) if quota is not None and quota > 0 else "max"
        out.append(("cpu.max", f"{q} {period}"))
    elif quota:
        # One number updates the quota and keeps the period.
        out.append(("cpu.max", str(quota) if quota > 0 else "max"))
    if burst is not None:
        out.append(("cpu.max.burst", str(burst)))
    if _int(cpu, "realtimePeriod", "cpu") or _int(cpu, "realtimeRuntime", "cpu"):
        warnings.append(
            "linux.resources.cpu.realtimePeriod/realtimeRuntime are not supported on cgroup v2;"
            " ignored"
        )


def _cpuset(cpu: Mapping[str, Any], out: Writes) -> None:
    cpus = _str(cpu, "cpus", "cpu")
    if cpus:
        out.append(("cpuset.cpus", _cpuset_list(cpus, "cpus")))
    mems = _str(cpu, "mems", "cpu")
    if mems:
        out.append(("cpuset.mems", _cpuset_list(mems, "mems")))


# ---------------------------------------------------------------- pids, hugetlb, rdma


def _pids(pids: Mapping[str, Any], out: Writes) -> None:
    limit = _int(pids, "limit", "pids")
    if limit is not None:
        out.append(("pids.max", "max" if limit < 0 else str(limit)))


def _hugetlb(res: Mapping[str, Any], out: Writes, suffix: str) -> None:
    for entry in _list(res, "hugepageLimits", "hugepageLimits"):
        size = page_size(entry.get("pageSize"))
        limit = _int(entry, "limit", "hugepageLimits")
        if limit is None:
            raise CgroupError(f"linux.resources.hugepageLimits[{size}]: limit is required")
        out.append((f"hugetlb.{size}{suffix}", str(limit)))
        out.append((f"hugetlb.{size}.rsvd{suffix}", str(limit)))


def _rdma(res: Mapping[str, Any], out: Writes) -> None:
    rdma = res.get("rdma")
    if not rdma:
        return
    if not isinstance(rdma, dict):
        raise CgroupError("linux.resources.rdma must be an object")
    for device, limits in rdma.items():
        if not isinstance(limits, dict) or not device or " " in device:
            raise CgroupError(f"linux.resources.rdma[{device!r}] must be an object")
        value = device
        handles = _int(limits, "hcaHandles", "rdma")
        objects = _int(limits, "hcaObjects", "rdma")
        if handles is None and objects is None:
            raise CgroupError(f"linux.resources.rdma[{device!r}]: set hcaHandles or hcaObjects")
        if handles is not None:
            value += f" hca_handle={handles}"
        if objects is not None:
            value += f" hca_object={objects}"
        out.append(("rdma.max", value))


# ---------------------------------------------------------------- block io


def _throttles(bio: Mapping[str, Any]) -> list[tuple[str, str, int]]:
    """(kind, "maj:min", rate) for the four throttle lists, in spec order."""
    out = []
    for key, kind in (
        ("throttleReadBpsDevice", "rbps"),
        ("throttleWriteBpsDevice", "wbps"),
        ("throttleReadIOPSDevice", "riops"),
        ("throttleWriteIOPSDevice", "wiops"),
    ):
        where = f"blockIO.{key}"
        for entry in _list(bio, key, where):
            rate = _int(entry, "rate", where)
            if rate is None or rate < 0:
                raise CgroupError(f"linux.resources.{where}: rate is required")
            out.append((kind, _dev(entry, where), rate))
    return out


_V1_THROTTLE_FILES = {
    "rbps": "blkio.throttle.read_bps_device",
    "wbps": "blkio.throttle.write_bps_device",
    "riops": "blkio.throttle.read_iops_device",
    "wiops": "blkio.throttle.write_iops_device",
}


def _v1_blkio(
    bio: Mapping[str, Any],
    out: Writes,
    warnings: list[str],
    available: Container[str] | None,
) -> None:
    weight_file, weight_dev_file = "blkio.weight", "blkio.weight_device"
    if (
        available is not None
        and "blkio.weight" not in available
        and "blkio.bfq.weight" in available
    ):
        weight_file, weight_dev_file = "blkio.bfq.weight", "blkio.bfq.weight_device"
    has_leaf = available is None or "blkio.leaf_weight" in available
    weight = _int(bio, "weight", "blockIO")
    if weight:
        out.append((weight_file, str(weight)))
    leaf = _int(bio, "leafWeight", "blockIO")
    if leaf:
        if has_leaf:
            out.append(("blkio.leaf_weight", str(leaf)))
        else:
            warnings.append("blkio.leaf_weight is not supported by this kernel; leafWeight ignored")
    for entry in _list(bio, "weightDevice", "blockIO.weightDevice"):
        dev = _dev(entry, "blockIO.weightDevice")
        w = _int(entry, "weight", "blockIO.weightDevice")
        lw = _int(entry, "leafWeight", "blockIO.weightDevice")
        if not w and not lw:
            raise CgroupError("linux.resources.blockIO.weightDevice: set weight or leafWeight")
        if w:
            out.append((weight_dev_file, f"{dev} {w}"))
        if lw:
            if has_leaf:
                out.append(("blkio.leaf_weight_device", f"{dev} {lw}"))
            else:
                warnings.append(
                    f"blkio.leaf_weight_device is not supported by this kernel; {dev} ignored"
                )
    for kind, dev, rate in _throttles(bio):
        out.append((_V1_THROTTLE_FILES[kind], f"{dev} {rate}"))


def _v2_io(
    bio: Mapping[str, Any],
    out: Writes,
    warnings: list[str],
    available: Container[str] | None,
) -> None:
    bfq = available is not None and "io.bfq.weight" in available
    weight = _int(bio, "weight", "blockIO")
    if weight:
        if bfq:
            out.append(("io.bfq.weight", str(weight)))
        else:
            out.append(("io.weight", str(blkio_weight_to_io_weight(weight))))
    if _int(bio, "leafWeight", "blockIO"):
        warnings.append("linux.resources.blockIO.leafWeight is not supported on cgroup v2; ignored")
    for entry in _list(bio, "weightDevice", "blockIO.weightDevice"):
        dev = _dev(entry, "blockIO.weightDevice")
        w = _int(entry, "weight", "blockIO.weightDevice")
        lw = _int(entry, "leafWeight", "blockIO.weightDevice")
        if not w and not lw:
            raise CgroupError("linux.resources.blockIO.weightDevice: set weight or leafWeight")
        if w:
            if bfq:
                out.append(("io.bfq.weight", f"{dev} {w}"))
            else:
                out.append(("io.weight", f"{dev} {blkio_weight_to_io_weight(w)}"))
        if lw:
            warnings.append(
                f"linux.resources.blockIO.weightDevice[{dev}].leafWeight is not supported on"
                " cgroup v2; ignored"
            )
    for kind, dev, rate in _throttles(bio):
        out.append(("io.max", f"{dev} {kind}={rate}"))


# ---------------------------------------------------------------- what is asked for


def requested_groups(res: Mapping[str, Any]) -> list[str]:
    """Logical resource groups (keys of ``V1_NAMES``) the resources ask for."""
    groups = []
    mem = _section(res, "memory")
    if any(mem.get(k) is not None for k in mem if k != "checkBeforeUpdate"):
        groups.append("memory")
    cpu = _section(res, "cpu")
    if any(cpu.get(k) is not None for k in cpu if k not in ("cpus", "mems")):
        groups.append("cpu")
    if cpu.get("cpus") or cpu.get("mems"):
        groups.append("cpuset")
    if _section(res, "pids").get("limit") is not None:
        groups.append("pids")
    bio = _section(res, "blockIO")
    if any(bio.get(k) for k in bio):
        groups.append("blkio")
    if res.get("hugepageLimits"):
        groups.append("hugetlb")
    if res.get("rdma"):
        groups.append("rdma")
    net = _section(res, "network")
    if net.get("classID") is not None:
        groups.append("net_cls")
    if net.get("priorities"):
        groups.append("net_prio")
    return groups


def has_limits(res: Mapping[str, Any] | None) -> bool:
    """True when ``res`` asks for anything but device rules."""
    if not res:
        return False
    return bool(requested_groups(res)) or bool(res.get("unified"))
