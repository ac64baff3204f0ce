"""How the host mounts cgroups, and where a container's cgroup goes.

``detect`` reads ``<proc_root>/self/mountinfo`` for the cgroup file systems
mounted under ``cgroup_root``:

* ``v2``: cgroup2 mounted on ``cgroup_root`` itself;
* ``v1``: only v1 hierarchies (``cgroup_root/<controllers>``);
* ``hybrid``: v1 hierarchies plus a cgroup2 hierarchy below ``cgroup_root``
  (systemd's ``unified``), which holds the controllers v1 does not.

``resolve`` turns ``linux.cgroupsPath`` into one directory per hierarchy, as
runc does: an absolute path is relative to each hierarchy's mount; a relative
path is relative to the runtime's own cgroup from ``<proc_root>/self/cgroup``
(on cgroup2 to the parent of that cgroup, whose leaf the runtime itself
occupies: the no-internal-processes rule).
"""

from __future__ import annotations

from pyoci.errors import CgroupError
from pyoci.util import lean_os
from pyoci.util.mountinfo import unescape

# Used when <proc_root>/cgroups is unreadable.
KNOWN_V1_CONTROLLERS = frozenset(
    {
        "cpuset",
        "cpu",
        "cpuacct",
        "blkio",
        "memory",
        "devices",
        "freezer",
        "net_cls",
        "perf_event",
        "net_prio",
        "hugetlb",
        "pids",
        "rdma",
        "misc",
        "debug",
    }
)


class Hierarchy:
    """One mounted cgroup hierarchy."""

    __slots__ = ("controllers", "mountpoint", "root", "version")

    def __init__(self, version: int, mountpoint: str, root: str, controllers: list[str]) -> None:
        self.version = version
        self.mountpoint = mountpoint
        self.root = root  # the cgroup mounted there ("/" unless bind-mounted or namespaced)
        self.controllers = controllers  # v1: from the mount options (incl. "name=X"); v2: available

    def key(self) -> str:
        """``/proc/self/cgroup`` key: "cpu,cpuacct", "name=systemd", "" for cgroup2."""
        return ",".join(sorted(self.controllers)) if self.version == 1 else ""

    def __repr__(self) -> str:
        return f"Hierarchy(v{self.version}, {self.mountpoint!r}, {self.controllers})"


class Layout:
    __slots__ = ("mode", "unified", "v1")

    def __init__(self, mode: str, v1: list[Hierarchy], unified: Hierarchy | None) -> None:
        self.mode = mode  # "v1" | "v2" | "hybrid"
        self.v1 = v1
        self.unified = unified


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return f.read()


def _v1_controller_names(proc_root: str) -> frozenset[str]:
    try:
        text = _read(f"{proc_root}/cgroups")
    except OSError:
        return KNOWN_V1_CONTROLLERS
    names = {line.split()[0] for line in text.splitlines() if line and not line.startswith("#")}
    return frozenset(names) or KNOWN_V1_CONTROLLERS


def detect(cgroup_root: str = "/sys/fs/cgroup", proc_root: str = "/proc") -> Layout:
    """Find the cgroup hierarchies mounted at or below ``cgroup_root``."""
    cgroup_root = lean_os.normpath(cgroup_root)
    try:
        mountinfo = _read(f"{proc_root}/self/mountinfo")
    except OSError as err:
        raise CgroupError(f"cannot read {proc_root}/self/mountinfo: {err.strerror}") from err
    known = _v1_controller_names(proc_root)
    by_point: dict[str, Hierarchy] = {}
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields = left.split()
        rfields = right.split()
        if len(fields) < 5 or len(rfields) < 3:
            continue
        fstype = rfields[0]
        point = lean_os.normpath(unescape(fields[4]))
        if point != cgroup_root and lean_os.dirname(point) != cgroup_root:
            continue
        if fstype not in ("cgroup", "cgroup2"):
            by_point.pop(point, None)  # e.g. a tmpfs mounted over a hierarchy hides it
            continue
        root = unescape(fields[3])
        if fstype == "cgroup2":
            hier = Hierarchy(2, point, root, [])
        else:
            ctls = [
                opt
                for opt in rfields[2].split(",")
                if opt in known or (opt.startswith("name=") and len(opt) > 5)
            ]
            if not ctls:
                continue
            hier = Hierarchy(1, point, root, ctls)
        by_point[point] = hier  # a later mount on the same point hides the earlier
    top = by_point.get(cgroup_root)
    if top is not None and top.version == 2:
        top.controllers = _v2_controllers(top.mountpoint)
        return Layout("v2", [], top)
    v1 = [h for h in by_point.values() if h.version == 1]
    v2 = [h for h in by_point.values() if h.version == 2]
    if not v1 and not v2:
        raise CgroupError(f"no cgroup file system is mounted under {cgroup_root}")
    unified = v2[0] if v2 else None
    if unified is not None:
        unified.controllers = _v2_controllers(unified.mountpoint)
    if not v1:
        # Only a cgroup2 hierarchy in a subdirectory: use it as a v2 host.
        assert unified is not None
        return Layout("v2", [], unified)
    v1.sort(key=lambda h: h.mountpoint)
    return Layout("hybrid" if unified is not None else "v1", v1, unified)


def _v2_controllers(directory: str) -> list[str]:
    try:
        return _read(f"{directory}/cgroup.controllers").split()
    except OSError:
        return []


def own_cgroups(proc_root: str = "/proc") -> dict[str, str]:
    """``/proc/self/cgroup`` as {key: path}: "memory" / "cpu,cpuacct" / "name=systemd" / ""."""
    try:
        text = _read(f"{proc_root}/self/cgroup")
    except OSError as err:
        raise CgroupError(f"cannot read {proc_root}/self/cgroup: {err.strerror}") from err
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        key = ",".join(sorted(parts[1].split(","))) if parts[1] else ""
        out[key] = parts[2]
    return out


def clean_inner(path: str) -> str:
    """Lexically clean ``cgroupsPath`` so it cannot climb above its base.

    Absolute paths stay absolute, relative ones relative ("" for the base).
    """
    if "\0" in path:
        raise CgroupError("linux.cgroupsPath must not contain NUL")
    cleaned = lean_os.normpath("/" + path)  # ".." stops at "/"
    if cleaned.startswith("//"):
        cleaned = cleaned[1:]
    return cleaned if path.startswith("/") else cleaned.lstrip("/")


def hierarchy_dir(hier: Hierarchy, inner: str, own: dict[str, str] | None) -> str:
    """The container's directory in ``hier`` for a cleaned ``inner`` path."""
    if inner.startswith("/"):
        return lean_os.normpath(lean_os.join(hier.mountpoint, inner.lstrip("/")))
    if own is None:
        raise CgroupError("a relative cgroupsPath needs /proc/self/cgroup")
    mine = own.get(hier.key())
    if mine is None:
        raise CgroupError(
            f"cannot find this process's cgroup for {hier.key() or 'cgroup2'} in /proc/self/cgroup"
        )
    # Paths in /proc/self/cgroup are from the cgroup namespace's root; the
    # mount may expose a subtree (root field of mountinfo).
    root = hier.root.rstrip("/")
    if root and (mine == root or mine.startswith(root + "/")):
        mine = mine[len(root) :] or "/"
    if hier.version == 2:
        mine = lean_os.dirname(mine)
    base = lean_os.normpath(lean_os.join(hier.mountpoint, mine.lstrip("/")))
    return lean_os.normpath(lean_os.join(base, inner)) if inner else base
