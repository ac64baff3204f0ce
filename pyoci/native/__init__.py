"""Typed wrappers over every raw syscall pyoci makes.

Each wrapper raises ``OSError(errno, strerror, path)`` on failure.  They live in
``pyoci.native._syscalls`` (over the cffi module ``pyoci.native._lib``,
compiled at install time by ``_build.py``) and are loaded on first use: a
process that only needs ``pyoci.native.consts`` or ``pyoci.native.lean`` does
not map ``_cffi_backend`` (~0.3 MB resident; ``run``'s process, see
``lean``).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyoci.native._syscalls import *  # noqa: F403

# what _syscalls defines (its __all__), served on first use.  Written out, not
# derived: ``from pyoci.native import consts`` probes the package's attributes
# first, and a lookup in _syscalls would load cffi for it (test_native_lazy
# holds both lists equal)
_WRAPPERS = frozenset(
    (
        "bpf",
        "capget",
        "capset",
        "chroot",
        "close_range",
        "fsconfig_create",
        "fsconfig_string",
        "fsmount",
        "fsopen",
        "fstatfs_type",
        "ifup",
        "inotify_add_watch",
        "inotify_init1",
        "join_session_keyring",
        "keyctl",
        "memfd_create",
        "mknodat",
        "mount",
        "mount_setattr",
        "move_mount",
        "open_tree",
        "openat2",
        "personality",
        "pivot_root",
        "prctl",
        "reset_signals",
        "seccomp_set_filter",
        "set_ctty",
        "set_mempolicy",
        "set_winsize",
        "setdomainname",
        "setgroups",
        "sethostname",
        "setns",
        "umount2",
        "unshare",
    )
)


def __getattr__(name: str) -> object:
    if name not in _WRAPPERS:
        raise AttributeError(f"module 'pyoci.native' has no attribute {name!r}")
    from pyoci.native import _syscalls

    value = getattr(_syscalls, name)
    globals()[name] = value
    return value
