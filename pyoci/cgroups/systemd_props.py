"""The systemd cgroup driver's pure half: names, paths and unit properties.

Everything here is a function of its arguments (no D-Bus, no cgroupfs), so it
is unit-tested without root or systemd.  The behaviour is runc's
(opencontainers/runc ``libcontainer/specconv``, opencontainers/cgroups
``systemd/{common,v1,v2,cpuset}.go`` and ``devices/systemd.go``):

* ``parse_cgroups_path``: ``linux.cgroupsPath`` as ``slice:prefix:name``;
  the unit is ``<prefix>-<name>.scope`` in ``slice`` (default
  ``system.slice``, ``user.slice`` when rootless), or the slice ``name`` when
  it ends in ``.slice``.  An empty cgroupsPath gives ``pyoci-<id>.scope``
  (runc's prefix is its own name, ``runc``).
* ``expand_slice``: ``a-b-c.slice`` -> ``/a.slice/a-b.slice/a-b-c.slice``.
* ``annotation_props``: ``org.systemd.property.<Name>`` annotations, values
  in GVariant text format (the subset crun accepts too).
* ``start_props`` (StartTransientUnit) and ``resource_props``
  (SetUnitProperties): every limit written to cgroupfs is also told to
  systemd, or a ``systemctl daemon-reload`` re-applies systemd's view and
  silently undoes it.

A property is ``(name, D-Bus signature, value)`` (``pyoci.dbus.Property``).
"""

from __future__ import annotations

from pyoci.errors import CgroupError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    Property = tuple[str, str, object]

DEFAULT_PREFIX = "pyoci"
UINT64_MAX = (1 << 64) - 1  # systemd's "infinity"
DEFAULT_CPU_PERIOD = 100_000
ANNOTATION_PREFIX = "org.systemd.property."

# systemd versions that introduced a property (runc gates them the same way)
V_CPU_QUOTA_PERIOD = 242
V_DEVICE_GROUP_SYNTAX = 240
V_ALLOWED_CPUS = 244
V_CPU_IDLE = 252
V_OOM_POLICY = 253


def go_quote(text: str) -> str:
    """Go's ``%q`` for the strings runc's messages quote (ASCII-safe)."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


# ---------------------------------------------------------------- names and paths


class UnitSpec:
    """Where a container's cgroup goes under systemd."""

    __slots__ = ("slice", "unit")

    def __init__(self, slice_: str, unit: str) -> None:
        self.slice = slice_  # the parent slice unit ("system.slice", "-.slice", ...)
        self.unit = unit  # "<prefix>-<name>.scope", or "<name>.slice"

    @property
    def is_slice(self) -> bool:
        return self.unit.endswith(".slice")

    def cgroup(self) -> str:
        """The unit's cgroup below the (system) manager's root: ``/system.slice/x.scope``."""
        parent = expand_slice(self.slice)
        return (parent.rstrip("/") + "/" + self.unit) if parent != "/" else "/" + self.unit

    def __repr__(self) -> str:
        return f"UnitSpec({self.slice!r}, {self.unit!r})"


def parse_cgroups_path(path: str | None, container_id: str, *, rootless: bool = False) -> UnitSpec:
    """``linux.cgroupsPath`` -> the unit and its slice, exactly as runc reads it
    (verbatim, not path-cleaned).  Raises ``CgroupError`` with runc's message."""
    if not path:
        slice_, prefix, name = "", DEFAULT_PREFIX, container_id
    else:
        parts = path.split(":")
        if len(parts) != 3:
            raise CgroupError(
                'expected cgroupsPath to be of format "slice:prefix:name" for systemd cgroups,'
                f" got {go_quote(path)} instead"
            )
        slice_, prefix, name = parts
    if not slice_:
        slice_ = "user.slice" if rootless else "system.slice"
    unit = name if name.endswith(".slice") else f"{prefix}-{name}.scope"
    # runc relies on securejoin for the path; a unit name is one path component
    # and systemd refuses the rest, but refuse early what could climb or confuse.
    if "/" in unit or "\0" in unit or unit in (".slice", "-.slice"):
        raise CgroupError(f"invalid systemd unit name {go_quote(unit)} from cgroupsPath")
    spec = UnitSpec(slice_, unit)
    expand_slice(slice_)  # validate now: a bad slice is a config error
    if spec.is_slice:
        expand_slice(unit)
    return spec


def expand_slice(slice_: str) -> str:
    """``test-a-b.slice`` -> ``/test.slice/test-a.slice/test-a-b.slice``; ``-.slice`` -> ``/``."""
    suffix = ".slice"
    if len(slice_) < len(suffix) or not slice_.endswith(suffix) or "/" in slice_:
        raise CgroupError(f"invalid slice name: {slice_}")
    name = slice_[: -len(suffix)]
    if name == "-":
        return "/"
    path = prefix = ""
    for component in name.split("-"):
        if not component:  # "a--b.slice", "-a.slice", ".slice"
            raise CgroupError(f"invalid slice name: {slice_}")
        path += "/" + prefix + component + suffix
        prefix += component + "-"
    return path


# ---------------------------------------------------------------- annotations


def _check_property_name(name: str) -> str | None:
    if len(name) < 3:
        return "too short"
    if not all(("A" <= c <= "Z") or ("a" <= c <= "z") for c in name):
        return "contains non-alphabetic character"
    return None


_INT_TYPES = {
    "byte": ("y", 0, (1 << 8) - 1),
    "int16": ("n", -(1 << 15), (1 << 15) - 1),
    "uint16": ("q", 0, (1 << 16) - 1),
    "int32": ("i", -(1 << 31), (1 << 31) - 1),
    "uint32": ("u", 0, (1 << 32) - 1),
    "int64": ("x", -(1 << 63), (1 << 63) - 1),
    "uint64": ("t", 0, UINT64_MAX),
}
_SIG_TYPES = {sig: (sig, lo, hi) for sig, lo, hi in _INT_TYPES.values()}


def _parse_int(text: str) -> int:
    t = text.strip()
    body = t[1:] if t[:1] in "+-" else t
    if not body or not all("0" <= c <= "9" for c in body):
        raise ValueError(f"invalid number {text!r}")
    return int(t)


def _parse_string(text: str) -> str:
    quote = text[0]
    if len(text) < 2 or text[-1] != quote:
        raise ValueError("unterminated string")
    out = []
    i, body = 0, text[1:-1]
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append({"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"'}.get(nxt, nxt))
            i += 2
            continue
        if ch == quote:
            raise ValueError("unescaped quote inside a string")
        out.append(ch)
        i += 1
    return "".join(out)


def _split_array(body: str) -> list[str]:
    """Split ``'a', "b,c"`` on the commas outside quotes."""
    items: list[str] = []
    cur: list[str] = []
    quote = ""
    i = 0
    while i < len(body):
        ch = body[i]
        if quote:
            cur.append(ch)
            if ch == "\\" and i + 1 < len(body):
                cur.append(body[i + 1])
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            cur.append(ch)
        elif ch == ",":
            items.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
        i += 1
    if quote:
        raise ValueError("unterminated string")
    last = "".join(cur).strip()
    if last or items:
        items.append(last)
    if any(not it for it in items):
        raise ValueError("empty array element")
    return items


def parse_gvariant(text: str) -> tuple[str, object]:
    """A value in GVariant text format -> (signature, python value).

    The subset engines use: ``true``/``false``, ``'str'``/``"str"``, integers
    (bare: int32, as GVariant; or typed ``uint64 N``, ``int64 N``, ``uint32
    N``, ``int32 N``, ``uint16``, ``int16``, ``byte``, or ``@t N``), ``double
    N``/bare decimals, arrays of strings ``['a', 'b']`` (``as``), arrays of
    integers (``ai``, or typed by their first element / an ``@a<T>``
    prefix), ``@as []``.  Raises ``ValueError``.
    """
    t = text.strip()
    if not t:
        raise ValueError("empty value")
    sig_hint = ""
    if t.startswith("@"):
        sig_hint, _, t = t[1:].partition(" ")
        t = t.strip()
        if not sig_hint or not t:
            raise ValueError(f"malformed type annotation in {text!r}")
    word, _, rest = t.partition(" ")
    if word in _INT_TYPES and rest.strip():
        if sig_hint:
            raise ValueError(f"two type annotations in {text!r}")
        sig_hint, t = _INT_TYPES[word][0], rest.strip()
    elif word == "double" and rest.strip():
        sig_hint, t = "d", rest.strip()
    if t in ("true", "false"):
        if sig_hint not in ("", "b"):
            raise ValueError(f"a boolean is not of type {sig_hint}")
        return "b", t == "true"
    if t[0] in "'\"":
        if sig_hint not in ("", "s"):
            raise ValueError(f"a string is not of type {sig_hint}")
        return "s", _parse_string(t)
    if t[0] == "[":
        if t[-1] != "]":
            raise ValueError("unterminated array")
        if sig_hint and not sig_hint.startswith("a"):
            raise ValueError(f"an array is not of type {sig_hint}")
        items = _split_array(t[1:-1])
        elem = sig_hint[1:] if sig_hint else ""
        if not items:
            if not elem:
                raise ValueError("an empty array needs a type annotation (e.g. @as [])")
            return "a" + elem, []
        values = [parse_gvariant(f"@{elem} {it}" if elem else it) for it in items]
        sigs = {s for s, _ in values}
        if len(sigs) != 1:
            raise ValueError("array elements of different types")
        sig = sigs.pop()
        if sig not in ("s", "b", "d") and sig not in _SIG_TYPES:
            raise ValueError(f"unsupported array element type {sig}")
        return "a" + sig, [v for _, v in values]
    if sig_hint == "d" or (sig_hint == "" and ("." in t or "e" in t.lower())):
        try:
            return "d", float(t)
        except ValueError:
            raise ValueError(f"invalid number {t!r}") from None
    number = _parse_int(t)
    sig = sig_hint or "i"
    if sig not in _SIG_TYPES:
        raise ValueError(f"unsupported type {sig}")
    _, lo, hi = _SIG_TYPES[sig]
    if sig_hint == "" and not lo <= number <= hi:
        sig, lo, hi = "x", -(1 << 63), (1 << 63) - 1
    if not lo <= number <= hi:
        raise ValueError(f"{number} out of range for type {sig}")
    return sig, number


def annotation_props(annotations: Mapping[str, Any] | None) -> list[Property]:
    """``org.systemd.property.<Name>`` annotations -> properties (runc
    ``initSystemdProps``).  ``<Name>Sec`` (a lower-case letter before
    ``Sec``) becomes ``<Name>USec`` in microseconds."""
    props: list[Property] = []
    for key, value in (annotations or {}).items():
        if not key.startswith(ANNOTATION_PREFIX):
            continue
        name = key[len(ANNOTATION_PREFIX) :]
        problem = _check_property_name(name)
        if problem:
            raise CgroupError(f"annotation {key} name incorrect: {problem}")
        if not isinstance(value, str):
            raise CgroupError(f"annotation {key} value must be a string")
        try:
            sig, parsed = parse_gvariant(value)
        except ValueError as err:
            raise CgroupError(f"annotation {key}={value} value parse error: {err}") from None
        trimmed = name[:-3] if name.endswith("Sec") else name
        if trimmed != name and "a" <= trimmed[-1] <= "z":
            if sig in _SIG_TYPES and isinstance(parsed, int):
                # (a negative is infinity, as Go's uint64() conversion wraps it)
                parsed = UINT64_MAX if parsed < 0 else min(parsed * 1_000_000, UINT64_MAX)
            elif sig == "d" and isinstance(parsed, float):
                parsed = int(parsed * 1_000_000)
            else:
                raise CgroupError(f"annotation {key}={value} value parse error: not a number")
            name, sig = trimmed + "USec", "t"
        props.append((name, sig, parsed))
    return props


# ---------------------------------------------------------------- resources -> properties


def range_to_bits(text: str) -> bytes:
    """A cpuset list (``"1,3-5"``) -> systemd's AllowedCPUs bytes: byte i bit
    j is CPU 8i+j (runc ``RangeToBits`` after the byte-order fix, #3611)."""
    bits = 0
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        start_s, dash, end_s = part.partition("-")
        start = _parse_cpu(start_s)
        if dash:
            end = _parse_cpu(end_s)
            if start > end:
                raise ValueError(f"invalid range: {part}")
            bits |= ((1 << (end - start + 1)) - 1) << start
        else:
            bits |= 1 << start
    if not bits:
        raise ValueError("empty value")
    return bits.to_bytes((bits.bit_length() + 7) // 8, "little")


def _parse_cpu(text: str) -> int:
    if not text or not all("0" <= c <= "9" for c in text):
        raise ValueError(f"invalid number {text!r}")
    value = int(text)
    if value >= 1 << 32:
        raise ValueError(f"value out of range: {text}")
    return value


def cpu_quota_props(quota: int, period: int, version: int) -> tuple[list[Property], int]:
    """runc ``addCPUQuota``: CPUQuotaPeriodUSec (systemd >= 242) and
    CPUQuotaPerSecUSec rounded up to 10 ms (systemd keeps a whole percent).
    Returns the properties and the quota to write to cgroupfs, rewritten to
    match the rounding."""
    props: list[Property] = []
    if period and version >= V_CPU_QUOTA_PERIOD:
        props.append(("CPUQuotaPeriodUSec", "t", period))
    if quota or period:
        per_sec = UINT64_MAX
        if quota > 0:
            if not period:
                period = DEFAULT_CPU_PERIOD
            per_sec = quota * 1_000_000 // period
            if per_sec % 10_000:
                per_sec = (per_sec // 10_000 + 1) * 10_000
                quota = per_sec * period // 1_000_000
        props.append(("CPUQuotaPerSecUSec", "t", per_sec))
    return props, quota


def _u64(value: int) -> int:
    """A limit as systemd's uint64 (negative, i.e. -1, is infinity)."""
    return UINT64_MAX if value < 0 else value


def _tasks_max(limit: int) -> int:
    if limit < 0:
        return UINT64_MAX
    return limit or 1  # systemd refuses TasksMax=0


def _num(sec: Mapping[str, Any], key: str) -> int:
    value = sec.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _sec(res: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = res.get(key)
    return value if isinstance(value, dict) else {}


def resource_props(
    res: Mapping[str, Any],
    *,
    v2: bool,
    version: int,
    warnings: list[str],
    devices: bool = False,
    device_rules: list[Any] | None = None,
    proc_devices: str | None = None,
) -> tuple[list[Property], dict[str, Any]]:
    """``linux.resources`` -> SetUnitProperties properties, in runc's order
    (``genV2ResourcesProperties`` / ``genV1ResourcesProperties``).

    ``devices``: include the device properties, from ``device_rules`` (the
    container's whole rule list, spec rules then defaults).  Returns the
    properties and the resources to write to cgroupfs (a copy; the CPU quota
    rewritten to systemd's rounding).
    """
    out: dict[str, Any] = dict(res)
    props: list[Property] = []
    if devices:
        props.extend(device_props(device_rules or [], version, warnings, proc_devices))
    mem = _sec(res, "memory")
    cpu = _sec(res, "cpu")
    limit = _num(mem, "limit")
    if v2:
        if limit:
            props.append(("MemoryMax", "t", _u64(limit)))
        reservation = _num(mem, "reservation")
        if reservation:
            props.append(("MemoryLow", "t", _u64(reservation)))
        if mem.get("swap") is not None or limit:
            from pyoci.cgroups.resources import memory_swap_to_v2

            swap = memory_swap_to_v2(_num(mem, "swap"), limit)
            # as the cgroupfs write: memory.swap.max 0 when swap == limit too
            # (runc leaves that one out, and a reload resets it to max)
            if swap or _num(mem, "swap") > 0:
                props.append(("MemorySwapMax", "t", _u64(swap)))
        idle_set = cpu.get("idle") == 1 and version >= V_CPU_IDLE
        if idle_set:
            props.append(("CPUWeight", "t", 0))
        shares = _num(cpu, "shares")
        if shares:
            from pyoci.cgroups.resources import shares_to_weight

            if idle_set:
                warnings.append("unable to apply both cpu.shares and cpu.idle to systemd,"
                                " ignoring cpu.shares for CPUWeight")  # fmt: skip
            else:
                props.append(("CPUWeight", "t", shares_to_weight(shares)))
    else:
        if limit:
            props.append(("MemoryLimit", "t", _u64(limit)))
        shares = _num(cpu, "shares")
        if shares:
            props.append(("CPUShares", "t", shares))
    quota, period = _num(cpu, "quota"), _num(cpu, "period")
    quota_props, new_quota = cpu_quota_props(quota, period, version)
    props.extend(quota_props)
    if new_quota != quota:
        new_cpu = dict(cpu)
        new_cpu["quota"] = new_quota
        out["cpu"] = new_cpu
    weight = _num(_sec(res, "blockIO"), "weight")
    if weight:
        if v2:
            from pyoci.cgroups.resources import blkio_weight_to_io_weight

            props.append(("IOWeight", "t", blkio_weight_to_io_weight(weight)))
        else:
            props.append(("BlockIOWeight", "t", weight))
    pids = _sec(res, "pids")
    if isinstance(pids.get("limit"), int):
        props.append(("TasksMax", "t", _tasks_max(pids["limit"])))
        if pids["limit"] == 0:
            # the files get what systemd keeps (runc writes 1 too): no flip-flop
            # between pids.max 0 and 1 on every daemon-reload
            out["pids"] = {**pids, "limit": 1}
    for key, prop in (("cpus", "AllowedCPUs"), ("mems", "AllowedMemoryNodes")):
        value = cpu.get(key)
        if not value or not isinstance(value, str):
            continue
        try:
            bits = range_to_bits(value)
        except ValueError as err:
            raise CgroupError(
                f"resources.CPU.{key.capitalize()}={go_quote(value)} conversion error: {err}"
            ) from None
        if version >= V_ALLOWED_CPUS:
            props.append((prop, "ay", bits))
    unified = res.get("unified")
    if v2 and isinstance(unified, dict) and unified:
        props.extend(unified_props(unified, version, warnings))
    return props, out


def unified_props(
    unified: Mapping[str, Any], version: int, warnings: list[str]
) -> list[Property]:
    """``linux.resources.unified`` -> properties (runc ``unifiedResToSystemdProps``);
    keys systemd has no property for stay cgroupfs-only."""
    props: list[Property] = []
    idle = version >= V_CPU_IDLE and str(unified.get("cpu.idle", "")).strip() == "1"
    for key, raw in unified.items():
        if "/" in key:
            raise CgroupError(f"unified resource {go_quote(key)} must be a file name (no slashes)")
        if key.find(".") <= 0:
            raise CgroupError(
                f"unified resource {go_quote(key)} must be in the form CONTROLLER.PARAMETER"
            )
        value = str(raw).strip()

        def bad(what: str = "value conversion error", value: str = value, key: str = key) -> None:
            raise CgroupError(f"unified resource {go_quote(key)} {what}: {go_quote(value)}")

        if key == "cpu.idle":
            if idle:
                props.append(("CPUWeight", "t", 0))
        elif key == "cpu.max":
            fields = value.split()
            if not 1 <= len(fields) <= 2:
                bad("value invalid")
            quota, period = 0, DEFAULT_CPU_PERIOD
            try:
                if fields[0] != "max":
                    quota = _parse_int(fields[0])
                if len(fields) == 2:
                    period = _parse_uint(fields[1])
            except ValueError:
                bad()
            props.extend(cpu_quota_props(quota, period, version)[0])
        elif key == "cpu.weight":
            if idle:
                warnings.append(
                    "unable to apply both cpu.weight and cpu.idle to systemd, ignoring cpu.weight"
                )
                continue
            try:
                props.append(("CPUWeight", "t", _parse_uint(value)))
            except ValueError:
                bad()
        elif key in ("cpuset.cpus", "cpuset.mems"):
            try:
                bits = range_to_bits(value)
            except ValueError as err:
                raise CgroupError(
                    f"unified resource {go_quote(key)}={go_quote(value)} conversion error: {err}"
                ) from None
            if version >= V_ALLOWED_CPUS:
                name = "AllowedCPUs" if key == "cpuset.cpus" else "AllowedMemoryNodes"
                props.append((name, "ay", bits))
        elif key in _UNIFIED_MEMORY or key == "pids.max":
            num = UINT64_MAX
            if value != "max":
                try:
                    num = _parse_uint(value)
                except ValueError:
                    bad()
            props.append((_UNIFIED_MEMORY.get(key, "TasksMax"), "t", num))
        # memory.oom.group: OOMPolicy, only at StartTransientUnit (start_props).
        # Anything else: cgroupfs only.
    return props


_UNIFIED_MEMORY = {
    "memory.high": "MemoryHigh",
    "memory.low": "MemoryLow",
    "memory.min": "MemoryMin",
    "memory.max": "MemoryMax",
    "memory.swap.max": "MemorySwapMax",
}


def _parse_uint(text: str) -> int:
    if not text or not all("0" <= c <= "9" for c in text):
        raise ValueError(f"invalid number {text!r}")
    value = int(text)
    if value > UINT64_MAX:
        raise ValueError(f"value out of range: {text}")
    return value


def oom_policy_props(res: Mapping[str, Any] | None, version: int) -> list[Property]:
    """``unified["memory.oom.group"]`` -> OOMPolicy (systemd >= 253; settable only
    when the unit starts)."""
    unified = (res or {}).get("unified")
    if not isinstance(unified, dict) or "memory.oom.group" not in unified:
        return []
    if version < V_OOM_POLICY:
        return []
    value = str(unified["memory.oom.group"]).strip()
    try:
        num = _parse_uint(value)
    except ValueError:
        raise CgroupError(
            f'unified resource "memory.oom.group" value conversion error: {go_quote(value)}'
        ) from None
    policy = {0: "continue", 1: "kill"}.get(num)
    return [("OOMPolicy", "s", policy)] if policy else []


def start_props(
    container_id: str,
    spec: UnitSpec,
    pid: int | None,
    *,
    v2: bool,
    version: int,
    annotations: list[Property],
    resources: Mapping[str, Any] | None = None,
) -> list[Property]:
    """StartTransientUnit's properties, in runc's order (``Apply``)."""
    props: list[Property] = [("Description", "s", f"pyoci container {container_id}")]
    if spec.is_slice:
        props.append(("Wants", "as", [spec.slice]))
    else:
        props.append(("Slice", "s", spec.slice))
        props.append(("Delegate", "b", True))
    if pid is not None:
        props.append(("PIDs", "au", [pid]))
    props.extend(
        [
            ("MemoryAccounting", "b", True),
            ("CPUAccounting", "b", True),
            ("IOAccounting" if v2 else "BlockIOAccounting", "b", True),
            ("TasksAccounting", "b", True),
            ("DefaultDependencies", "b", False),
        ]
    )
    props.extend(annotations)
    if v2:
        props.extend(oom_policy_props(resources, version))
    return props


# ---------------------------------------------------------------- devices


def device_props(
    rules: list[Any], version: int, warnings: list[str], proc_devices: str | None = None
) -> list[Property]:
    """The container's device rules -> DeviceAllow/DevicePolicy (runc
    ``devices/systemd.go``): an empty DeviceAllow first (it clears the list,
    and must precede DevicePolicy or systemd flags NeedDaemonReload, runc
    #4612), then DevicePolicy, then the allowed devices."""
    from pyoci.cgroups.devices import WILDCARD, Emulator

    emu = Emulator.build(rules)
    head: list[Property] = [("DeviceAllow", "a(ss)", []), ("DevicePolicy", "s", "strict")]
    if emu.default_allow:
        if emu.is_allow_all():
            return [("DeviceAllow", "a(ss)", []), ("DevicePolicy", "s", "auto")]
        warnings.append(
            "systemd doesn't support blacklist device rules -- applying temporary deny-all rule"
        )
        return head
    allow: list[tuple[str, str]] = []
    for _allow, typ, major, minor, access in emu.minimal_rules():
        kind = "block" if typ == "b" else "char"
        if major == WILDCARD:
            if minor != WILDCARD:
                warnings.append(
                    f"systemd doesn't support '*:n' device rules -- temporarily ignoring rule"
                    f" {typ} *:{minor} {access}"
                )
                continue
            path = f"{kind}-*"
        elif minor == WILDCARD:
            if version >= V_DEVICE_GROUP_SYNTAX:
                path = f"{kind}-{major}"
            else:
                group = _device_group(proc_devices or "", kind, major)
                if not group:
                    warnings.append(
                        f"could not find device group for '{kind}/{major}' in /proc/devices"
                        " -- temporarily ignoring rule"
                    )
                    continue
                path = group
        else:
            path = f"/dev/{kind}/{major}:{minor}"
        allow.append((path, access))
    return [*head, ("DeviceAllow", "a(ss)", allow)]


def _device_group(text: str, kind: str, major: int) -> str:
    """``char-pts`` for (char, 136) from /proc/devices (systemd < 240)."""
    current = ""
    for line in text.splitlines():
        line = line.strip()
        if line == "Block devices:":
            current = "block"
        elif line == "Character devices:":
            current = "char"
        elif line and current == kind:
            num, _, name = line.partition(" ")
            if num == str(major) and name:
                return f"{kind}-{name.strip()}"
    return ""


# ---------------------------------------------------------------- SetUnitProperties order

# Drop-in names systemd gives a property when SetUnitProperties writes it
# ("50-<name>.conf" under /run/systemd/transient/<unit>.d/), where not the property's.
_DROPIN_NAMES = {"CPUQuotaPerSecUSec": "CPUQuota", "CPUQuotaPeriodUSec": "CPUQuotaPeriodSec"}


def dropin_order(props: list[Property]) -> list[Property]:
    """The properties sorted by the drop-in file each one makes (a stable sort:
    the empty DeviceAllow stays before the list).

    systemd (252 at least) appends each drop-in it writes to the unit's list,
    and reports ``NeedDaemonReload=yes`` when that list differs from the
    sorted one it would load: sending CPUQuotaPeriodUSec before
    CPUQuotaPerSecUSec, or DevicePolicy before DeviceAllow (runc #4568, fixed
    by PR #4612 for devices only), or MemoryMax before CPUWeight, flags every
    container.  (Found in the systemd guest: runc's order flagged ours.)
    """
    return sorted(props, key=lambda p: f"50-{_DROPIN_NAMES.get(p[0], p[0])}.conf")



# ---------------------------------------------------------------- placeholders at create


def update_placeholders(
    props: list[Property], *, v2: bool, version: int, default_tasks_max: int | None
) -> list[Property]:
    """The properties ``update`` can send that ``props`` (create's) lacks, each with the
    value that changes nothing (systemd's "unset": infinity, 0, an empty mask, or
    UINT64_MAX for a weight, which writes ``CPUWeight=``), to be sent along at create.

    Why: systemd writes one drop-in per property and appends it to the unit's list; a
    property set for the first time by an update lands at the end of that list, out of
    the sorted order a reload would load, and leaves ``NeedDaemonReload=yes`` (runc 1.1.5
    too; found in the systemd guest).  With every drop-in made at create, in sorted order
    (:func:`dropin_order`), an update only rewrites existing ones.  ``default_tasks_max``:
    the manager's DefaultTasksMax, what a scope gets without TasksMax (None: unknown,
    TasksMax left out)."""
    table: list[Property] = []
    if v2:
        table += [("MemoryMin", "t", 0), ("MemoryLow", "t", 0),
                  ("MemoryHigh", "t", UINT64_MAX), ("MemoryMax", "t", UINT64_MAX),
                  ("MemorySwapMax", "t", UINT64_MAX), ("CPUWeight", "t", UINT64_MAX),
                  ("IOWeight", "t", UINT64_MAX)]  # fmt: skip
    else:
        table += [("MemoryLimit", "t", UINT64_MAX), ("CPUShares", "t", UINT64_MAX),
                  ("BlockIOWeight", "t", UINT64_MAX)]  # fmt: skip
    table.append(("CPUQuotaPerSecUSec", "t", UINT64_MAX))
    if version >= V_CPU_QUOTA_PERIOD:
        table.append(("CPUQuotaPeriodUSec", "t", UINT64_MAX))
    if version >= V_ALLOWED_CPUS:
        table += [("AllowedCPUs", "ay", b""), ("AllowedMemoryNodes", "ay", b"")]
    if default_tasks_max is not None:
        table.append(("TasksMax", "t", default_tasks_max))
    have = {name for name, _sig, _value in props}
    return [p for p in table if p[0] not in have]
