"""AppArmor and SELinux labels: the container process's and its mounts'.

- ``process.apparmorProfile``: ``exec <profile>`` written to the AppArmor exec
  attribute (``attr/apparmor/exec``, or ``attr/exec`` on kernels without the
  per-LSM directory) of our own /proc entry, so it applies at execve;
- ``process.selinuxLabel``: the label written to ``attr/exec``;
- ``linux.mountLabel``: ``context=<label>`` on every filesystem the runtime
  mounts that takes one (tmpfs, devpts, mqueue, ... not proc, sysfs, cgroup,
  nor binds, which keep their source's labels), as runc's
  ``label.FormatMountLabel``.

Every attribute read and write goes through a verified procfs handle
(``pyoci.init.procfs``), never a path the container can redirect.  On a host
without the LSM a requested profile or label is an error (``NotSupported``),
never a silent pass.  Tests pass a ``ProcFS`` over a fake tree and a fake
``sys_root``.
"""

from __future__ import annotations

import os

from pyoci.errors import NotSupported, PyociError
from pyoci.init import procfs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyoci.init.procfs import ProcFS

# filesystems whose labels come from the kernel (genfs) or that refuse context=
UNLABELLED_FSTYPES = frozenset({"proc", "sysfs", "cgroup", "cgroup2"})
# options that already set a context: we then leave the mount alone
_CONTEXT_OPTIONS = ("context", "fscontext", "defcontext", "rootcontext")


def _read(proc: ProcFS, rel: str) -> bytes | None:
    try:
        fd = proc.open(rel, os.O_RDONLY)
    except (OSError, PyociError):
        return None
    try:
        return os.read(fd, 1 << 16)
    except OSError:
        return None  # EINVAL: the LSM is built in but not active
    finally:
        os.close(fd)


def apparmor_enabled(proc: ProcFS | None = None, sys_root: str = "/sys") -> bool:
    """AppArmor is active: it answers for our own task, or the module says so."""
    proc = proc or procfs.handle()
    if _read(proc, f"{proc.self_pid()}/attr/apparmor/current") is not None:
        return True
    try:
        with open(f"{sys_root}/module/apparmor/parameters/enabled", "rb") as f:
            return f.read(1) == b"Y"
    except OSError:
        return False


def selinux_enabled(proc: ProcFS | None = None) -> bool:
    """SELinux is active: selinuxfs is registered (it is not when SELinux is off)."""
    data = _read(proc or procfs.handle(), "filesystems")
    return data is not None and b"\tselinuxfs\n" in data


def set_apparmor_exec(profile: str, proc: ProcFS | None = None, sys_root: str = "/sys") -> None:
    proc = proc or procfs.handle()
    if not apparmor_enabled(proc, sys_root):
        raise NotSupported(
            f"process.apparmorProfile {profile!r} requested "
            "but AppArmor is not enabled on this host"
        )
    rel = "attr/apparmor/exec" if proc.exists_self("attr/apparmor/exec") else "attr/exec"
    proc.write_self(rel, f"exec {profile}")


def set_selinux_exec(label: str, proc: ProcFS | None = None) -> None:
    proc = proc or procfs.handle()
    if not selinux_enabled(proc):
        raise NotSupported(
            f"process.selinuxLabel {label!r} requested but SELinux is not enabled on this host"
        )
    proc.write_self("attr/exec", label)


def apply_process_labels(
    process: dict[str, Any], proc: ProcFS | None = None, sys_root: str = "/sys"
) -> None:
    profile = process.get("apparmorProfile")
    if profile:
        set_apparmor_exec(profile, proc, sys_root)
    label = process.get("selinuxLabel")
    if label:
        set_selinux_exec(label, proc)


def mount_label(linux: dict[str, Any], proc: ProcFS | None = None) -> str:
    """``linux.mountLabel``, or "" when none; NotSupported without SELinux."""
    label = linux.get("mountLabel") or ""
    if label and not selinux_enabled(proc):
        raise NotSupported(
            f"linux.mountLabel {label!r} requested but SELinux is not enabled on this host"
        )
    return str(label)


def mount_context(fstype: str, data: str, label: str) -> str | None:
    """The ``context`` value to give a new ``fstype`` mount with ``data``, or None.

    Passed to fsconfig(2) as is: unlike mount(2) data, it needs no quotes
    around an MLS range's commas.
    """
    if not label or fstype in UNLABELLED_FSTYPES:
        return None
    for opt in data.split(","):
        if opt.partition("=")[0] in _CONTEXT_OPTIONS:
            return None
    return label
