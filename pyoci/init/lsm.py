"""AppArmor and SELinux labels for the container process.

On a host without the LSM a requested profile or label is an error, never a
silent pass.  ``proc_root``/``sys_root`` are injectable for tests.
"""

from __future__ import annotations

import os

from pyoci.errors import NotSupported, SetupError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def apparmor_enabled(sys_root: str = "/sys") -> bool:
    try:
        with open(f"{sys_root}/module/apparmor/parameters/enabled", "rb") as f:
            return f.read(1) == b"Y"
    except OSError:
        return False


def selinux_enabled(proc_root: str = "/proc") -> bool:
    try:
        with open(f"{proc_root}/filesystems", "rb") as f:
            if b"selinuxfs" not in f.read():
                return False
    except OSError:
        return False
    return os.path.isdir("/sys/fs/selinux") and bool(os.listdir("/sys/fs/selinux"))


def _write_attr(path: str, value: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError as exc:
        raise SetupError(f"open {path}: {exc.strerror}") from None
    try:
        os.write(fd, value.encode())
    except OSError as exc:
        raise SetupError(f"write {value!r} to {path}: {exc.strerror}") from None
    finally:
        os.close(fd)


def set_apparmor_exec(profile: str, proc_root: str = "/proc", sys_root: str = "/sys") -> None:
    if not apparmor_enabled(sys_root):
        raise NotSupported(
            f"process.apparmorProfile {profile!r} requested "
            "but AppArmor is not enabled on this host"
        )
    path = f"{proc_root}/self/attr/apparmor/exec"
    if not os.path.exists(path):
        path = f"{proc_root}/self/attr/exec"
    _write_attr(path, f"exec {profile}")


def set_selinux_exec(label: str, proc_root: str = "/proc") -> None:
    if not selinux_enabled(proc_root):
        raise NotSupported(
            f"process.selinuxLabel {label!r} requested but SELinux is not enabled on this host"
        )
    _write_attr(f"{proc_root}/self/attr/exec", label)


def apply_process_labels(
    process: dict[str, Any], proc_root: str = "/proc", sys_root: str = "/sys"
) -> None:
    profile = process.get("apparmorProfile")
    if profile:
        set_apparmor_exec(profile, proc_root, sys_root)
    label = process.get("selinuxLabel")
    if label:
        set_selinux_exec(label, proc_root)
