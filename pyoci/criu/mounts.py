"""Which of the container's mounts CRIU must treat as external, and what they are at
restore (pure functions over the config, mountinfo and /proc/PID/cgroup text).

As runc (addCriuDumpMount / addCriuRestoreMount): bind mounts are external, keyed
by their destination, found again at restore from their source; device nodes
are listed the same way (they are bind mounts in a user namespace); without a
cgroup namespace the cgroup mounts are binds of the host's hierarchies, found
again in the restored container's own cgroups.  pyoci masks paths with the
container's own /dev/null and a read-only tmpfs, which CRIU restores as the
container's mounts: unlike runc, no /dev/null entry is needed.
"""

from __future__ import annotations

from pyoci.util import lean_os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/tty", "/dev/random", "/dev/urandom")


def clean_dest(dest: str) -> str:
    return lean_os.normpath("/" + dest.lstrip("/"))


def is_bind(m: dict[str, Any]) -> bool:
    opts = m.get("options") or []
    return m.get("type") == "bind" or "bind" in opts or "rbind" in opts


def bind_mounts(config: dict[str, Any], bundle: str) -> list[tuple[str, str]]:
    """(destination in the container, absolute source) of every bind mount."""
    out = []
    for m in config.get("mounts") or []:
        if not is_bind(m) or not m.get("destination"):
            continue
        src = str(m.get("source") or "")
        if src and not src.startswith("/"):
            src = lean_os.normpath(f"{bundle}/{src}")
        out.append((clean_dest(m["destination"]), src))
    return out


def device_paths(config: dict[str, Any]) -> list[str]:
    paths = list(DEFAULT_DEVICES)
    for d in (config.get("linux") or {}).get("devices") or []:
        p = clean_dest(str(d.get("path", "")))
        if p not in paths:
            paths.append(p)
    return paths


def has_cgroupns(config: dict[str, Any]) -> bool:
    return any(
        ns.get("type") == "cgroup" for ns in (config.get("linux") or {}).get("namespaces") or []
    )


def cgroup_mount_dest(config: dict[str, Any]) -> str | None:
    for m in config.get("mounts") or []:
        if m.get("type") == "cgroup" and m.get("destination"):
            return clean_dest(m["destination"])
    return None


def host_hierarchies(mountinfo: str) -> list[tuple[str, str, list[str]]]:
    """(mount point, fstype, controllers or ["name=X"]) of every cgroup hierarchy."""
    from pyoci.util.mountinfo import unescape

    out = []
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields, rfields = left.split(), right.split()
        if len(fields) < 5 or len(rfields) < 3:
            continue
        mountpoint = unescape(fields[4])
        if not mountpoint.startswith("/sys/fs/cgroup"):
            continue
        if rfields[0] == "cgroup2":
            out.append((mountpoint, "cgroup2", [""]))
        elif rfields[0] == "cgroup":
            ctls = [
                o
                for o in rfields[2].split(",")
                if o not in ("rw", "ro")
                and not o.startswith(("release_agent=", "clone_children"))
                and o not in ("xattr", "noprefix", "nsdelegate", "memory_recursiveprot")
            ]
            out.append((mountpoint, "cgroup", ctls))
    return out


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """/proc/PID/cgroup → {controller or "name=X" or "" (v2): path}."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if not parts[1]:
            out[""] = parts[2]
        for ctl in parts[1].split(","):
            if ctl:
                out[ctl] = parts[2]
    return out


def cgroup_binds(
    dest: str, hierarchies: list[tuple[str, str, list[str]]], own: dict[str, str]
) -> list[tuple[str, str]]:
    """Without a cgroup namespace, the container's cgroup mounts as pyoci makes them
    (init/rootfs.py): (destination, host directory of ``own``'s cgroup)."""
    pure_v2 = len(hierarchies) == 1 and hierarchies[0][1] == "cgroup2"
    out = []
    for mountpoint, _fstype, ctls in hierarchies:
        path = own.get(ctls[0], "/") if ctls else "/"
        host_dir = mountpoint.rstrip("/") + (path if path != "/" else "")
        if pure_v2:
            out.append((dest, host_dir))
        else:
            out.append((f"{dest.rstrip('/')}/{lean_os.basename(mountpoint)}", host_dir))
    return out


def cgroup_roots(own: dict[str, str]) -> list[dict[str, str]]:
    """``cg_root`` entries: CRIU restores every hierarchy under the restoring
    process's own cgroup (the new container's).  runc names only the v1
    hierarchies, so on cgroup v2 its restore goes back to the checkpointed
    container's cgroup path; the cgroup2 one, without a controller, is CRIU's
    default root (``--cgroup-root PATH``) and puts it in the new container's."""
    out = [{"ctrl": ctl, "path": path} for ctl, path in sorted(own.items()) if ctl]
    if "" in own:
        out.append({"path": own[""]})
    return out
