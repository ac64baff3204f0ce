"""Spec mounts → a mount plan (pure: no syscalls, unit-tested without root).

A ``MountStep`` says what the init does for one entry of ``mounts``: the
mount(2) flags and data, whether it is a bind, the propagation and the
recursive attributes to apply afterwards with mount_setattr(2).
"""

from __future__ import annotations

from pyoci.native import consts as c

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# option -> (clear?, flag)
_FLAG_OPTIONS: dict[str, tuple[bool, int]] = {
    "acl": (False, c.MS_POSIXACL),
    "async": (True, c.MS_SYNCHRONOUS),
    "atime": (True, c.MS_NOATIME),
    "bind": (False, c.MS_BIND),
    "defaults": (False, 0),
    "dev": (True, c.MS_NODEV),
    "diratime": (True, c.MS_NODIRATIME),
    "dirsync": (False, c.MS_DIRSYNC),
    "exec": (True, c.MS_NOEXEC),
    "iversion": (False, c.MS_I_VERSION),
    "lazytime": (False, c.MS_LAZYTIME),
    "loud": (True, c.MS_SILENT),
    "mand": (False, c.MS_MANDLOCK),
    "noacl": (True, c.MS_POSIXACL),
    "noatime": (False, c.MS_NOATIME),
    "nodev": (False, c.MS_NODEV),
    "nodiratime": (False, c.MS_NODIRATIME),
    "noexec": (False, c.MS_NOEXEC),
    "noiversion": (True, c.MS_I_VERSION),
    "nolazytime": (True, c.MS_LAZYTIME),
    "nomand": (True, c.MS_MANDLOCK),
    "norelatime": (True, c.MS_RELATIME),
    "nostrictatime": (True, c.MS_STRICTATIME),
    "nosuid": (False, c.MS_NOSUID),
    "nosymfollow": (False, c.MS_NOSYMFOLLOW),
    "rbind": (False, c.MS_BIND | c.MS_REC),
    "relatime": (False, c.MS_RELATIME),
    "remount": (False, c.MS_REMOUNT),
    "ro": (False, c.MS_RDONLY),
    "rw": (True, c.MS_RDONLY),
    "silent": (False, c.MS_SILENT),
    "strictatime": (False, c.MS_STRICTATIME),
    "suid": (True, c.MS_NOSUID),
    "symfollow": (True, c.MS_NOSYMFOLLOW),
    "sync": (False, c.MS_SYNCHRONOUS),
}

_PROPAGATION_OPTIONS: dict[str, int] = {
    "private": c.MS_PRIVATE,
    "rprivate": c.MS_PRIVATE | c.MS_REC,
    "shared": c.MS_SHARED,
    "rshared": c.MS_SHARED | c.MS_REC,
    "slave": c.MS_SLAVE,
    "rslave": c.MS_SLAVE | c.MS_REC,
    "unbindable": c.MS_UNBINDABLE,
    "runbindable": c.MS_UNBINDABLE | c.MS_REC,
}

# recursive mount attributes (mount_setattr with AT_RECURSIVE): option -> (clear?, attr)
_RECURSIVE_OPTIONS: dict[str, tuple[bool, int]] = {
    "rro": (False, c.MOUNT_ATTR_RDONLY),
    "rrw": (True, c.MOUNT_ATTR_RDONLY),
    "rnosuid": (False, c.MOUNT_ATTR_NOSUID),
    "rsuid": (True, c.MOUNT_ATTR_NOSUID),
    "rnodev": (False, c.MOUNT_ATTR_NODEV),
    "rdev": (True, c.MOUNT_ATTR_NODEV),
    "rnoexec": (False, c.MOUNT_ATTR_NOEXEC),
    "rexec": (True, c.MOUNT_ATTR_NOEXEC),
    "rnodiratime": (False, c.MOUNT_ATTR_NODIRATIME),
    "rdiratime": (True, c.MOUNT_ATTR_NODIRATIME),
    "rrelatime": (False, c.MOUNT_ATTR_RELATIME),
    "rnorelatime": (True, c.MOUNT_ATTR__ATIME),
    "rnoatime": (False, c.MOUNT_ATTR_NOATIME),
    "ratime": (True, c.MOUNT_ATTR__ATIME),
    "rstrictatime": (False, c.MOUNT_ATTR_STRICTATIME),
    "rnostrictatime": (True, c.MOUNT_ATTR__ATIME),
    "rnosymfollow": (False, c.MOUNT_ATTR_NOSYMFOLLOW),
    "rsymfollow": (True, c.MOUNT_ATTR_NOSYMFOLLOW),
}

# Options that pyoci handles itself and never passes to the filesystem.
_EXTENSION_OPTIONS = frozenset({"tmpcopyup", "idmap", "ridmap"})

# Flags that only make sense at mount time, not on a bind remount.
_BIND_REMOUNT_FLAGS = (
    c.MS_RDONLY
    | c.MS_NOSUID
    | c.MS_NODEV
    | c.MS_NOEXEC
    | c.MS_NOATIME
    | c.MS_NODIRATIME
    | c.MS_RELATIME
    | c.MS_STRICTATIME
    | c.MS_NOSYMFOLLOW
)


class MountStep:
    """What to do for one spec mount."""

    __slots__ = (
        "attr_clr",
        "attr_set",
        "data",
        "destination",
        "extensions",
        "flags",
        "fstype",
        "gid_mappings",
        "idmap",
        "is_bind",
        "propagation",
        "recursive",
        "remount",
        "source",
        "uid_mappings",
    )  # fmt: skip

    def __init__(self, destination: str, source: str, fstype: str) -> None:
        self.destination = destination
        self.source = source
        self.fstype = fstype
        self.flags = 0
        self.data = ""
        self.is_bind = False
        self.recursive = False
        # "remount": mount(2) with MS_REMOUNT on the mount already at the
        # destination (with MS_BIND: its per-mount flags only), nothing new
        self.remount = False
        self.propagation: list[int] = []
        self.attr_set = 0
        self.attr_clr = 0
        self.extensions: set[str] = set()
        self.idmap = False
        self.uid_mappings: list[dict[str, int]] = []
        self.gid_mappings: list[dict[str, int]] = []

    @property
    def needs_remount(self) -> bool:
        """A bind mount takes its flags only on a second, remount call."""
        return self.is_bind and bool(self.flags & _BIND_REMOUNT_FLAGS)

    @property
    def remount_flags(self) -> int:
        rec = c.MS_REC if self.recursive else 0
        return c.MS_BIND | c.MS_REMOUNT | rec | (self.flags & _BIND_REMOUNT_FLAGS)

    def __repr__(self) -> str:
        return (
            f"MountStep({self.destination!r}, type={self.fstype!r}, src={self.source!r}, "
            f"flags={self.flags:#x}, data={self.data!r}, bind={self.is_bind})"
        )


def parse_options(options: list[str]) -> tuple[int, list[int], int, int, str, set[str]]:
    """Split mount options into (flags, propagation, attr_set, attr_clr, data, extensions)."""
    flags = 0
    propagation: list[int] = []
    attr_set = 0
    attr_clr = 0
    data: list[str] = []
    extensions: set[str] = set()
    for opt in options:
        if opt in _FLAG_OPTIONS:
            clear, flag = _FLAG_OPTIONS[opt]
            if clear:
                flags &= ~flag
            else:
                flags |= flag
        elif opt in _PROPAGATION_OPTIONS:
            propagation.append(_PROPAGATION_OPTIONS[opt])
        elif opt in _RECURSIVE_OPTIONS:
            clear, attr = _RECURSIVE_OPTIONS[opt]
            if clear:
                attr_clr |= attr
                attr_set &= ~attr
            else:
                attr_set |= attr
                attr_clr &= ~attr
                if attr & c.MOUNT_ATTR__ATIME or attr == c.MOUNT_ATTR_RELATIME:
                    attr_clr |= c.MOUNT_ATTR__ATIME
        elif opt in _EXTENSION_OPTIONS:
            extensions.add(opt)
        else:
            data.append(opt)
    return flags, propagation, attr_set, attr_clr, ",".join(data), extensions


# Taken (as MS_POSIXACL) but filesystem-specific in mount(8): features.md says the
# list SHOULD NOT contain those.
_FS_SPECIFIC = frozenset({"acl", "noacl"})


def mount_option_names() -> list[str]:
    """The mount options this runtime recognises (``pyoci features``), without the
    filesystem-specific ones it also takes."""
    names = set(_FLAG_OPTIONS) | set(_PROPAGATION_OPTIONS) | set(_RECURSIVE_OPTIONS)
    return sorted((names | _EXTENSION_OPTIONS) - _FS_SPECIFIC)


def resolve_source(source: str, bundle: str) -> str:
    """Bind sources are absolute or relative to the bundle (config.md)."""
    if not source or source.startswith("/"):
        return source
    return f"{bundle.rstrip('/')}/{source}"


def plan_mount(mount: dict[str, Any], bundle: str) -> MountStep:
    options = list(mount.get("options") or [])
    fstype = mount.get("type") or ""
    flags, propagation, attr_set, attr_clr, data, ext = parse_options(options)
    if flags & c.MS_REMOUNT:
        step = MountStep(mount["destination"], mount.get("source") or "", fstype)
        step.remount = True
        step.flags = flags
        step.data = data
        step.propagation = propagation
        step.attr_set = attr_set
        step.attr_clr = attr_clr
        step.extensions = ext
        return step
    is_bind = bool(flags & c.MS_BIND) or fstype in ("bind", "rbind")
    if fstype == "rbind":
        flags |= c.MS_BIND | c.MS_REC
    source = mount.get("source") or ""
    if is_bind:
        flags |= c.MS_BIND
        source = resolve_source(source, bundle)
    step = MountStep(mount["destination"], source, "" if is_bind else fstype)
    step.flags = flags
    step.is_bind = is_bind
    step.recursive = bool(flags & c.MS_REC)
    step.propagation = propagation
    step.attr_set = attr_set
    step.attr_clr = attr_clr
    step.data = data
    step.extensions = ext
    step.uid_mappings = list(mount.get("uidMappings") or [])
    step.gid_mappings = list(mount.get("gidMappings") or [])
    step.idmap = bool(ext & {"idmap", "ridmap"} or step.uid_mappings or step.gid_mappings)
    if "ridmap" in ext:
        step.recursive = True
    return step


def plan_mounts(mounts: list[dict[str, Any]], bundle: str) -> list[MountStep]:
    return [plan_mount(m, bundle) for m in mounts]
