"""pyoci update: change the resource limits of a live container (runc's flags)."""

from __future__ import annotations

import sys

from pyoci.cli.args import INT, STRING, Flag, Parsed, need_args

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyoci.cli import Context

USAGE = """NAME:
   pyoci update - update container resource constraints

USAGE:
   pyoci update [command options] <container-id>

OPTIONS:
   --resources value, -r value  path to the file containing the resources to update or '-' to
                                read from the standard input (linux.resources JSON; unchanged
                                values can be omitted; all other options are then ignored)
   --blkio-weight value         per cgroup block I/O weight, 10 to 1000 (default: 0)
   --cpu-period value           CPU CFS period (in usecs)
   --cpu-quota value            CPU CFS quota (in usecs) allowed in each period; -1: none
   --cpu-burst value            CPU CFS burst (in usecs)
   --cpu-share value            CPU shares (relative weight vs. other containers)
   --cpu-rt-period value        CPU realtime period (in usecs)
   --cpu-rt-runtime value       CPU realtime runtime (in usecs) allowed in each period
   --cpu-idle value             1: SCHED_IDLE for the cgroup, 0: default
   --cpuset-cpus value          CPU(s) to use
   --cpuset-mems value          memory node(s) to use
   --memory value               memory limit (in bytes; suffixes k, m, g... accepted)
   --memory-reservation value   memory reservation or soft limit (in bytes)
   --memory-swap value          total memory usage (memory + swap); '-1': unlimited swap
   --kernel-memory value        kernel memory limit (where the kernel still has it)
   --kernel-memory-tcp value    kernel TCP buffer limit (where the kernel still has it)
   --pids-limit value           maximum number of pids in the container; -1: unlimited
   --l3-cache-schema value      Intel RDT/CAT L3 cache schema (not supported)
   --mem-bw-schema value        Intel RDT/MBA memory bandwidth schema (not supported)
"""

FLAGS = [
    Flag("resources, r", STRING),
    Flag("blkio-weight", INT),
    Flag("cpu-period", STRING),
    Flag("cpu-quota", STRING),
    Flag("cpu-burst", STRING),
    Flag("cpu-share, cpu-shares", STRING),
    Flag("cpu-rt-period", STRING),
    Flag("cpu-rt-runtime", STRING),
    Flag("cpu-idle", STRING),
    Flag("cpuset-cpus", STRING),
    Flag("cpuset-mems", STRING),
    Flag("memory", STRING),
    Flag("memory-reservation", STRING),
    Flag("memory-swap", STRING),
    Flag("kernel-memory", STRING),
    Flag("kernel-memory-tcp", STRING),
    Flag("pids-limit", INT),
    Flag("l3-cache-schema", STRING),
    Flag("mem-bw-schema", STRING),
]

# flag -> (section, key, kind): "u" unsigned, "i" signed, "b" bytes
_NUMBERS = {
    "cpu_period": ("cpu", "period", "u"),
    "cpu_quota": ("cpu", "quota", "i"),
    "cpu_burst": ("cpu", "burst", "u"),
    "cpu_share": ("cpu", "shares", "u"),
    "cpu_rt_period": ("cpu", "realtimePeriod", "u"),
    "cpu_rt_runtime": ("cpu", "realtimeRuntime", "i"),
    "cpu_idle": ("cpu", "idle", "i"),
    "memory": ("memory", "limit", "b"),
    "memory_reservation": ("memory", "reservation", "b"),
    "memory_swap": ("memory", "swap", "b"),
    "kernel_memory": ("memory", "kernel", "b"),
    "kernel_memory_tcp": ("memory", "kernelTCP", "b"),
}


def _from_flags(p: Parsed) -> dict[str, Any]:
    from pyoci.errors import UsageError
    from pyoci.ops.cgroup_verbs import parse_bytes

    res: dict[str, Any] = {}
    for key, (section, field, kind) in _NUMBERS.items():
        text = p.text(key)
        if text is None or text == "":
            continue
        name = key.replace("_", "-")
        if kind == "b":
            try:
                value = parse_bytes(text)
            except UsageError as exc:
                raise UsageError(f"invalid value for {name}: {exc}") from None
        else:
            body = text[1:] if kind == "i" and text.startswith("-") else text
            if not (body.isdigit() and body.isascii()):
                raise UsageError(f'invalid value for {name}: parsing "{text}": invalid syntax')
            value = int(text, 10)
        res.setdefault(section, {})[field] = value
    for key, field in (("cpuset_cpus", "cpus"), ("cpuset_mems", "mems")):
        if p.text(key):
            res.setdefault("cpu", {})[field] = p.text(key)
    if p.number("blkio_weight"):
        res["blockIO"] = {"weight": p.number("blkio_weight")}
    if "pids_limit" in p.given:
        res["pids"] = {"limit": p.number("pids_limit")}
    return res


def _read_resources(source: str) -> dict[str, Any]:
    from pyoci.errors import UsageError
    from pyoci.util import jsonio

    try:
        if source == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(source, "rb") as f:
                data = f.read()
    except OSError as exc:
        raise UsageError(f"--resources {source}: {exc.strerror}") from None
    try:
        doc = jsonio.loads(data)
    except ValueError as exc:
        raise UsageError(f"--resources {source}: invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise UsageError(f"--resources {source}: want a JSON object (linux.resources)")
    return doc


def run(ctx: Context, p: Parsed) -> int:
    need_args("update", p.args, exactly=1)
    from pyoci.errors import NotSupported
    from pyoci.ops import cgroup_verbs as cgroup_verbs
    from pyoci.util import log

    for key, what in (
        ("l3_cache_schema", "CAT l3 cache"),
        ("mem_bw_schema", "MBA memory bandwidth"),
    ):
        if p.text(key):
            raise NotSupported(f"Intel RDT/{what} schema: Intel RDT is not supported by pyoci")
    source = p.text("resources")
    patch = _read_resources(source) if source else _from_flags(p)
    for warning in cgroup_verbs.update(ctx.options(), p.args[0], patch):
        log.warning(warning)
    return 0
