"""Semantic checks of config.json beyond the schema, for a Linux container.

The schema (``schema/``, see validate.py) checks each field on its own.  Here
are the rules of config.md and config-linux.md that need several fields, the
platform, or the kernel's limits, and that a runtime MUST reject (or that
runc and crun reject to protect the host).  Every problem is one line, in the
same shape as the schema's::

    config.json: linux.namespaces: namespace type "pid" listed twice

The checks are pure: they read the document and, for ``root.path``, ask
``os.path`` whether the directory exists, and for a joined namespace that a
sysctl, hostname or netDevices would change, stat its path to tell the runtime's
own (``pyoci.spec.sysctl.is_runtime_ns``).  They
tolerate a document that failed the schema (wrongly typed parts are
skipped), but are meant to run after it.  ``config_warnings`` reports the
SHOULD-level findings a runtime logs but accepts.
"""

from __future__ import annotations

from pyoci.spec.docpath import format_path
from pyoci.spec.names import CAPABILITIES, HOOK_PHASES, RLIMITS
from pyoci.spec.semver import semver_key
from pyoci.util import lean_os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from typing import Any

    Path = Sequence[str | int]

SPEC_VERSION = "1.3.0"

NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")

# getrlimit(2)
LINUX_RLIMITS = frozenset(RLIMITS)

# capabilities(7), CAP_CHOWN (0) to CAP_CHECKPOINT_RESTORE (40)
LINUX_CAPABILITIES = frozenset(CAPABILITIES)

CAPABILITY_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")
HOOK_NAMES = HOOK_PHASES
# Only these actions carry an errno (config-linux.md Seccomp, errnoRet).
SECCOMP_ERRNO_ACTIONS = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")
# time_namespaces(7): the clocks a time namespace can offset.
TIME_NS_CLOCKS = ("monotonic", "boottime")
# set_mempolicy(2): modes that take no nodes, and modes that need at least one.
MPOL_NO_NODES = ("MPOL_DEFAULT", "MPOL_LOCAL")
MPOL_NEED_NODES = (
    "MPOL_BIND",
    "MPOL_INTERLEAVE",
    "MPOL_WEIGHTED_INTERLEAVE",
    "MPOL_PREFERRED_MANY",
)
IFNAMSIZ = 16
UINT32_LIMIT = 1 << 32
NSEC_PER_SEC = 1_000_000_000


def check_config(
    doc: dict[str, Any],
    bundle: str,
    source: str = "config.json",
    is_runtime_ns: Callable[[str, str], bool] | None = None,
) -> list[str]:
    """Problems of *doc* (a config.json that passed the schema) for a Linux container.

    *bundle* is the bundle directory, against which a relative ``root.path``
    is resolved.  *is_runtime_ns* (default: ``sysctl.is_runtime_ns``) says
    whether a joined namespace path is the runtime's own.
    """
    report = _Report(source)
    linux = _obj(doc.get("linux"))
    namespaces = _Namespaces(report, linux.get("namespaces"))
    _check_version(report, doc.get("ociVersion"))
    _check_root(report, doc, bundle)
    _check_process(report, doc, linux, namespaces)
    _check_hooks(report, _obj(doc.get("hooks")))
    _check_mounts(report, doc.get("mounts"), namespaces)
    _check_hostnames(report, doc, namespaces, is_runtime_ns)
    _check_user_namespace(report, linux, namespaces)
    _check_time_namespace(report, linux, namespaces)
    _check_sysctl(report, linux.get("sysctl"), namespaces, is_runtime_ns)
    _check_devices(report, linux.get("devices"))
    _check_paths(report, linux)
    _check_net_devices(report, linux.get("netDevices"), namespaces, is_runtime_ns)
    _check_resources(report, _obj(linux.get("resources")))
    _check_seccomp(report, linux.get("seccomp"))
    _check_memory_policy(report, linux.get("memoryPolicy"))
    _check_personality(report, linux.get("personality"))
    _check_intel_rdt(report, linux.get("intelRdt"))
    return report.lines


def config_warnings(doc: dict[str, Any], source: str = "config.json") -> list[str]:
    """SHOULD-level findings: a runtime logs them as warnings and goes on."""
    report = _Report(source)
    for i, mount in _items(doc.get("mounts")):
        dest = mount.get("destination")
        if isinstance(dest, str) and dest and not dest.startswith("/"):
            report.add(
                ("mounts", i, "destination"),
                f"{_q(dest)} is relative: deprecated, taken as relative to /",
            )
        options = _strings(mount.get("options"))
        if ("uidMappings" in mount or "gidMappings" in mount) and not (
            "idmap" in options or "ridmap" in options
        ):
            report.add(("mounts", i, "options"), 'mappings given without "idmap" or "ridmap"')
    process = _obj(doc.get("process"))
    caps = _obj(process.get("capabilities"))
    for name in CAPABILITY_SETS:
        for i, cap in enumerate(_strings(caps.get(name))):
            if cap not in LINUX_CAPABILITIES:
                report.add(("process", "capabilities", name, i), f"unknown capability {_q(cap)}")
    ambient = _strings(caps.get("ambient"))
    for i, cap in enumerate(ambient):
        for other in ("permitted", "inheritable"):
            if other in caps and cap not in _strings(caps.get(other)):
                report.add(
                    ("process", "capabilities", "ambient", i),
                    f"{_q(cap)} is not in {other}: the kernel will not raise it",
                )
    seen: dict[tuple[object, object, object], int] = {}
    linux = _obj(doc.get("linux"))
    for i, device in _items(linux.get("devices")):
        if device.get("type") == "p":
            continue
        key = (device.get("type"), device.get("major"), device.get("minor"))
        if key in seen:
            report.add(
                ("linux", "devices", i),
                f"same type, major and minor as linux.devices[{seen[key]}]",
            )
        else:
            seen[key] = i
    return report.lines


# --- plumbing ---------------------------------------------------------------


class _Report:
    __slots__ = ("lines", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: list[str] = []

    def add(self, path: Path, message: str) -> None:
        where = format_path(path)
        line = f"{self.source}: {where}: {message}" if where else f"{self.source}: {message}"
        if line not in self.lines:
            self.lines.append(line)


class _Namespaces:
    """linux.namespaces by type: ``new`` (no path), ``joined`` (path) or absent."""

    __slots__ = ("joined", "new", "paths")

    def __init__(self, report: _Report, entries: object) -> None:
        self.new: set[str] = set()
        self.joined: set[str] = set()
        self.paths: dict[str, str] = {}  # joined type -> path
        seen: set[str] = set()
        for i, ns in _items(entries):
            kind = ns.get("type")
            if not isinstance(kind, str):
                continue
            if kind in seen:
                report.add(("linux", "namespaces"), f"namespace type {_q(kind)} listed twice")
                continue
            seen.add(kind)
            path = ns.get("path")
            if isinstance(path, str) and path:
                self.joined.add(kind)
                self.paths[kind] = path
                if not path.startswith("/"):
                    report.add(("linux", "namespaces", i, "path"), _not_absolute(path))
            else:
                self.new.add(kind)

    def has(self, kind: str) -> bool:
        return kind in self.new or kind in self.joined


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _items(value: object) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index, entry) for the object entries of a JSON array."""
    if isinstance(value, list):
        for i, entry in enumerate(value):
            if isinstance(entry, dict):
                yield i, entry


def _strings(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, str)]


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _not_absolute(path: str) -> str:
    return f"{_q(path)} is not an absolute path"


# --- the checks -------------------------------------------------------------


def _check_version(report: _Report, version: object) -> None:
    if not isinstance(version, str):
        return
    major = semver_key(version)[0][0]
    if major != 1:
        report.add(
            ("ociVersion",),
            f"{_q(version)} is not supported: this runtime implements 1.x up to {SPEC_VERSION}",
        )


def _check_root(report: _Report, doc: Mapping[str, Any], bundle: str) -> None:
    root = doc.get("root")
    if root is None:
        report.add(("root",), "required on Linux but missing")
        return
    path = _obj(root).get("path")
    if not isinstance(path, str):
        return
    if not path:
        report.add(("root", "path"), "must not be empty")
        return
    if not path.startswith("/"):
        normal = lean_os.normpath(path)
        if normal == ".." or normal.startswith("../"):
            report.add(("root", "path"), f"{_q(path)} escapes the bundle directory")
            return
        path = lean_os.join(bundle, path)
    if not lean_os.isdir(path):
        report.add(("root", "path"), f"directory {_q(path)} does not exist")


def _check_process(
    report: _Report, doc: Mapping[str, Any], linux: Mapping[str, Any], namespaces: _Namespaces
) -> None:
    if "process" not in doc:
        # config.md: REQUIRED only when start is called: create accepts it (the
        # init waits without a process) and start refuses it (runtime.md start).
        return
    process = _obj(doc.get("process"))
    cwd = process.get("cwd")
    if isinstance(cwd, str) and not cwd.startswith("/"):
        report.add(("process", "cwd"), _not_absolute(cwd))
    if "args" not in process:
        report.add(("process", "args"), "required on Linux but missing")
    user = process.get("user")
    if isinstance(user, dict):
        for field in ("uid", "gid"):
            if field not in user:
                report.add(("process", "user", field), "required on Linux but missing")
    # the mappings of a new user namespace (a joined one's are not in the config)
    mappings = linux if "user" in namespaces.new else {}
    report.lines += process_problems(process, mappings, report.source, ("process",))
    seen: dict[str, int] = {}
    for i, rlimit in _items(process.get("rlimits")):
        kind = rlimit.get("type")
        if not isinstance(kind, str):
            continue
        if kind in seen:
            report.add(("process", "rlimits"), f"rlimit type {_q(kind)} listed twice")
        seen.setdefault(kind, i)
        if kind not in LINUX_RLIMITS:
            report.add(("process", "rlimits", i, "type"), f"{_q(kind)} is not a Linux rlimit")
        soft, hard = _int(rlimit.get("soft")), _int(rlimit.get("hard"))
        if soft is not None and hard is not None and soft > hard:
            report.add(
                ("process", "rlimits", i),
                f"soft limit {soft} is greater than hard limit {hard}",
            )
    _check_range(report, ("process", "oomScoreAdj"), process.get("oomScoreAdj"), -1000, 1000)
    io = _obj(process.get("ioPriority"))
    _check_range(report, ("process", "ioPriority", "priority"), io.get("priority"), 0, 7)
    scheduler = _obj(process.get("scheduler"))
    _check_range(report, ("process", "scheduler", "nice"), scheduler.get("nice"), -20, 19)
    affinity = _obj(process.get("execCPUAffinity"))
    for field in ("initial", "final"):
        _check_cpu_list(report, ("process", "execCPUAffinity", field), affinity.get(field))


def process_problems(
    process: Mapping[str, Any],
    mappings: Mapping[str, Any],
    source: str,
    where: Sequence[str | int] = (),
) -> list[str]:
    """What the kernel would misread in a process's user and env (create and exec).

    An id of 4294967295 is (uid_t)-1, which setresuid/setresgid read as
    "leave unchanged": the process would keep the runtime's root.  With a new
    user namespace (*mappings*: its linux.uidMappings and gidMappings), every
    id must be mapped.  Env entries must be ``NAME=value`` (execve passes them
    as they are; runc rejects the rest).  *where*: the path of the process in
    the document, for the messages.
    """
    report = _Report(source)
    user = _obj(process.get("user"))
    for field, kind in (("uid", "uidMappings"), ("gid", "gidMappings")):
        _check_id(report, (*where, "user", field), user.get(field), mappings.get(kind), kind)
    gids = user.get("additionalGids")
    for i, gid in enumerate(gids if isinstance(gids, list) else ()):
        _check_id(
            report,
            (*where, "user", "additionalGids", i),
            gid,
            mappings.get("gidMappings"),
            "gidMappings",
        )
    env = process.get("env")
    for i, entry in enumerate(env if isinstance(env, list) else ()):
        if not isinstance(entry, str):
            continue
        name, eq, _value = entry.partition("=")
        problem = ""
        if not eq:
            problem = "has no '=' (want NAME=value)"
        elif not name:
            problem = "has an empty name (want NAME=value)"
        elif "\0" in entry:
            problem = "contains a NUL byte"
        if problem:
            report.add((*where, "env", i), f"{_q(entry)} {problem}")
    return report.lines


MAX_ID = UINT32_LIMIT - 2  # (uid_t)-1 is "unchanged" to setresuid


def _check_id(report: _Report, path: Path, value: object, mappings: object, field: str) -> None:
    number = _int(value)
    if number is None:
        return
    if not 0 <= number <= MAX_ID:
        report.add(path, f"{number} is not a valid id (0..{MAX_ID})")
        return
    ranges = []
    for _i, entry in _items(mappings):
        inside, size = _int(entry.get("containerID")), _int(entry.get("size"))
        if inside is not None and size is not None and size > 0:
            ranges.append((inside, size))
    if not ranges or any(inside <= number < inside + size for inside, size in ranges):
        return  # (no valid mapping: reported as such)
    report.add(path, f"{number} is not mapped in the user namespace (linux.{field})")


def _check_range(report: _Report, path: Path, value: object, low: int, high: int) -> None:
    number = _int(value)
    if number is not None and not low <= number <= high:
        report.add(path, f"{number} is outside the range {low} to {high}")


def _check_cpu_list(report: _Report, path: Path, value: object) -> None:
    if not isinstance(value, str) or not value:
        return
    for part in value.split(","):
        first, _, last = part.partition("-")
        if first.isdigit() and last.isdigit() and int(first) > int(last):
            report.add(path, f"range {_q(part)} ends before it starts")


def _check_hooks(report: _Report, hooks: Mapping[str, Any]) -> None:
    for name in HOOK_NAMES:
        for i, hook in _items(hooks.get(name)):
            path = hook.get("path")
            if isinstance(path, str) and not path.startswith("/"):
                report.add(("hooks", name, i, "path"), _not_absolute(path))


def _check_mounts(report: _Report, mounts: object, namespaces: _Namespaces) -> None:
    for i, mount in _items(mounts):
        uid, gid = "uidMappings" in mount, "gidMappings" in mount
        if uid != gid:
            given, missing = (
                ("uidMappings", "gidMappings") if uid else ("gidMappings", "uidMappings")
            )
            report.add(("mounts", i), f"{given} given without {missing}")
        for field in ("uidMappings", "gidMappings"):
            _check_mappings(report, ("mounts", i, field), mount.get(field))
        options = _strings(mount.get("options"))
        for option in ("idmap", "ridmap"):
            if option in options and not (uid or gid) and not namespaces.has("user"):
                report.add(
                    ("mounts", i, "options"),
                    f"{_q(option)} needs uidMappings and gidMappings or a user namespace",
                )


def _check_mappings(report: _Report, path: Sequence[str | int], mappings: object) -> None:
    ranges: list[tuple[int, int, int]] = []
    for i, entry in _items(mappings):
        inside, outside, size = (_int(entry.get(k)) for k in ("containerID", "hostID", "size"))
        if inside is None or outside is None or size is None:
            continue
        where = (*path, i)
        if size < 1:
            report.add((*where, "size"), "must be at least 1")
            continue
        if inside + size >= UINT32_LIMIT or outside + size >= UINT32_LIMIT:
            report.add(where, "range goes past the last id 4294967294")
            continue
        for j, (other_inside, other_outside, other_size) in enumerate(ranges):
            if _overlap(inside, other_inside, size, other_size) or _overlap(
                outside, other_outside, size, other_size
            ):
                report.add(where, f"overlaps {format_path((*path, j))}")
                break
        ranges.append((inside, outside, size))


def _overlap(a: int, b: int, a_size: int, b_size: int) -> bool:
    return a < b + b_size and b < a + a_size


def _check_hostnames(
    report: _Report,
    doc: Mapping[str, Any],
    namespaces: _Namespaces,
    is_runtime_ns: Callable[[str, str], bool] | None,
) -> None:
    # Without a UTS namespace of its own the container would rename the host:
    # runc and crun refuse, and so do we (and, unlike runc 1.1.5, when the
    # namespace it joins is the runtime's own).
    for field in ("hostname", "domainname"):
        if not doc.get(field):
            continue
        if not namespaces.has("uts"):
            report.add((field,), "setting it needs a uts namespace")
        else:
            _not_the_runtimes(report, (field,), namespaces, "uts", is_runtime_ns)


def _not_the_runtimes(
    report: _Report,
    where: Path,
    namespaces: _Namespaces,
    kind: str,
    is_runtime_ns: Callable[[str, str], bool] | None,
) -> None:
    """Report at *where* if the joined *kind* namespace is the runtime's own."""
    path = namespaces.paths.get(kind)
    if path is None:
        return
    from pyoci.spec import sysctl as sysctls

    try:
        if not (is_runtime_ns or sysctls.is_runtime_ns)(kind, path):
            return
        problem = f"the {kind} namespace {_q(path)} is the runtime's own: it would change the host"
    except OSError as exc:
        problem = f"cannot check {kind} namespace {_q(path)}: {exc.strerror}"
    report.add(where, problem)


def _check_user_namespace(
    report: _Report, linux: Mapping[str, Any], namespaces: _Namespaces
) -> None:
    for field in ("uidMappings", "gidMappings"):
        mappings = linux.get(field)
        if "user" in namespaces.new and not mappings:
            report.add(("linux", field), "required with a new user namespace but missing")
        elif mappings and not namespaces.has("user"):
            report.add(("linux", field), "given but the container has no user namespace")
        _check_mappings(report, ("linux", field), mappings)


def _check_time_namespace(
    report: _Report, linux: Mapping[str, Any], namespaces: _Namespaces
) -> None:
    offsets = linux.get("timeOffsets")
    if not isinstance(offsets, dict):
        return
    if "time" in namespaces.joined:
        # Offsets can only be written before the first process enters the namespace.
        report.add(("linux", "timeOffsets"), "cannot be applied to a joined time namespace")
    elif "time" not in namespaces.new:
        report.add(("linux", "timeOffsets"), "given but the container has no time namespace")
    for clock, offset in offsets.items():
        if clock not in TIME_NS_CLOCKS:
            report.add(
                ("linux", "timeOffsets", clock),
                f"clock {_q(clock)} cannot be offset (only monotonic and boottime)",
            )
        nanosecs = _int(_obj(offset).get("nanosecs"))
        if nanosecs is not None and nanosecs >= NSEC_PER_SEC:
            report.add(
                ("linux", "timeOffsets", clock, "nanosecs"),
                f"{nanosecs} is not less than {NSEC_PER_SEC}",
            )


def _check_sysctl(
    report: _Report,
    sysctl: object,
    namespaces: _Namespaces,
    is_runtime_ns: Callable[[str, str], bool] | None,
) -> None:
    """Only sysctls of a namespace the container owns: the rest are the host's."""
    if not isinstance(sysctl, dict) or not sysctl:
        return
    from pyoci.spec import sysctl as sysctls

    check = is_runtime_ns or sysctls.is_runtime_ns
    for key in sysctl:
        problem = sysctls.problem(key, namespaces.new, namespaces.paths, check)
        if problem:
            report.add(("linux", "sysctl"), problem)


def _check_devices(report: _Report, devices: object) -> None:
    by_path: dict[str, tuple[int, tuple[object, object, object]]] = {}
    for i, device in _items(devices):
        path = device.get("path")
        if not isinstance(path, str):
            continue
        if not path.startswith("/"):
            report.add(("linux", "devices", i, "path"), _not_absolute(path))
        kind = (device.get("type"), device.get("major"), device.get("minor"))
        normal = lean_os.normpath(path)
        if normal in by_path and by_path[normal][1] != kind:
            report.add(
                ("linux", "devices", i, "path"),
                f"{_q(path)} is also linux.devices[{by_path[normal][0]}], another device",
            )
        by_path.setdefault(normal, (i, kind))


def _check_paths(report: _Report, linux: Mapping[str, Any]) -> None:
    for field in ("maskedPaths", "readonlyPaths"):
        paths = linux.get(field)
        for i, path in enumerate(paths if isinstance(paths, list) else ()):
            if isinstance(path, str) and not path.startswith("/"):
                report.add(("linux", field, i), _not_absolute(path))


def _check_net_devices(
    report: _Report,
    devices: object,
    namespaces: _Namespaces,
    is_runtime_ns: Callable[[str, str], bool] | None,
) -> None:
    if not isinstance(devices, dict) or not devices:
        return
    if not namespaces.has("network"):
        report.add(("linux", "netDevices"), "moving devices needs a network namespace")
    else:  # a "move" within the host's namespace would rename the host's device
        _not_the_runtimes(report, ("linux", "netDevices"), namespaces, "network", is_runtime_ns)
    targets: dict[str, str] = {}
    for host_name, entry in devices.items():
        problem = _bad_interface_name(host_name)
        if problem:
            report.add(("linux", "netDevices", host_name), f"host device name {problem}")
        name = _obj(entry).get("name") or host_name
        if not isinstance(name, str):
            continue
        if name != host_name:
            problem = _bad_interface_name(name)
            if problem:
                report.add(("linux", "netDevices", host_name, "name"), problem)
        if "%d" in name:
            continue  # a template: the kernel picks a free name
        if name in targets:
            report.add(
                ("linux", "netDevices", host_name),
                f"would be named {_q(name)} in the container, like {_q(targets[name])}",
            )
        else:
            targets[name] = host_name


def _bad_interface_name(name: str) -> str | None:
    """Why the kernel would refuse *name* for a network device (dev_valid_name)."""
    if not name:
        return "must not be empty"
    if len(name.encode()) >= IFNAMSIZ:
        return f"{_q(name)} is longer than {IFNAMSIZ - 1} bytes"
    if name in (".", "..") or any(c in "/:" or c.isspace() for c in name):
        return f"{_q(name)} is not a valid interface name"
    return None


def _check_resources(report: _Report, resources: Mapping[str, Any]) -> None:
    cpu = _obj(resources.get("cpu"))
    quota, burst = _int(cpu.get("quota")), _int(cpu.get("burst"))
    if quota is not None and burst is not None and quota > 0 and burst > quota:
        report.add(("linux", "resources", "cpu", "burst"), f"{burst} is larger than quota {quota}")
    for field in ("cpus", "mems"):
        _check_cpu_list(report, ("linux", "resources", "cpu", field), cpu.get(field))
    unified = resources.get("unified")
    if isinstance(unified, dict):
        for key in unified:
            if not key or key in (".", "..") or "/" in key:
                report.add(
                    ("linux", "resources", "unified", key),
                    "must name a file in the container's cgroup directory",
                )


def _check_seccomp(report: _Report, seccomp: object) -> None:
    if not isinstance(seccomp, dict):
        return
    path: tuple[str, ...] = ("linux", "seccomp")
    listener = seccomp.get("listenerPath")
    if "listenerMetadata" in seccomp and not listener:
        report.add((*path, "listenerMetadata"), "set without listenerPath")
    default = seccomp.get("defaultAction")
    if default == "SCMP_ACT_NOTIFY":
        report.add((*path, "defaultAction"), "SCMP_ACT_NOTIFY cannot be the default action")
    if "defaultErrnoRet" in seccomp and default not in SECCOMP_ERRNO_ACTIONS:
        report.add((*path, "defaultErrnoRet"), f"{default} takes no errno")
    notify = False
    for i, rule in _items(seccomp.get("syscalls")):
        action = rule.get("action")
        notify = notify or action == "SCMP_ACT_NOTIFY"
        if "errnoRet" in rule and action not in SECCOMP_ERRNO_ACTIONS:
            report.add((*path, "syscalls", i, "errnoRet"), f"{action} takes no errno")
        for j, arg in _items(rule.get("args")):
            index = _int(arg.get("index"))
            if index is not None and index > 5:
                report.add(
                    (*path, "syscalls", i, "args", j, "index"),
                    f"{index} is past the last syscall argument (5)",
                )
    if notify and not listener:
        report.add((*path, "listenerPath"), "required when SCMP_ACT_NOTIFY is used")


def _check_memory_policy(report: _Report, policy: object) -> None:
    if not isinstance(policy, dict):
        return
    mode, nodes = policy.get("mode"), policy.get("nodes")
    path = ("linux", "memoryPolicy")
    if mode in MPOL_NO_NODES and nodes:
        report.add((*path, "nodes"), f"{mode} takes no nodes")
    elif mode in MPOL_NEED_NODES and not nodes:
        report.add((*path, "nodes"), f"{mode} needs at least one node")
    _check_cpu_list(report, (*path, "nodes"), nodes)
    flags = _strings(policy.get("flags"))
    if "MPOL_F_STATIC_NODES" in flags and "MPOL_F_RELATIVE_NODES" in flags:
        report.add(
            (*path, "flags"), "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other"
        )


def _check_personality(report: _Report, personality: object) -> None:
    if isinstance(personality, dict) and personality.get("flags"):
        # config-linux.md: "Currently no flag values are supported."
        report.add(("linux", "personality", "flags"), "no personality flags are supported")


def _check_intel_rdt(report: _Report, rdt: object) -> None:
    if not isinstance(rdt, dict):
        return
    clos = rdt.get("closID")
    if isinstance(clos, str) and clos != "/" and (clos in ("", ".", "..") or "/" in clos):
        report.add(
            ("linux", "intelRdt", "closID"),
            f"{_q(clos)} is not a directory name in the resctrl filesystem",
        )
