"""Building the container's root filesystem (runs in the init, in its mount namespace).

Order (as runc's prepareRootfs/finalizeRootfs):

1. ``/`` made rslave (or ``rootfsPropagation``) so nothing propagates to the host;
2. the rootfs bind-mounted on itself (pivot_root needs a mount point);
3. ``mounts`` in the listed order, each to an fd resolved inside the rootfs;
4. /dev: default devices, ``linux.devices``, the /dev symlinks, /dev/pts/ptmx;
5. (hooks run here: prestart/createRuntime by the parent, createContainer here)
6. pivot_root (or move + chroot with ``--no-pivot``);
7. maskedPaths, readonlyPaths, sysctl, read-only root, rootfsPropagation.
"""

from __future__ import annotations

import errno
import os
import stat

from pyoci import native
from pyoci.errors import SetupError
from pyoci.init import lsm, paths, procfs
from pyoci.init.mountplan import MountStep, plan_mounts
from pyoci.native import consts as c
from pyoci.util.mountinfo import unescape

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_PROPAGATION = {
    "shared": c.MS_SHARED,
    "slave": c.MS_SLAVE,
    "private": c.MS_PRIVATE,
    "unbindable": c.MS_UNBINDABLE,
}

# (name, type, major, minor) of the devices every container gets (runtime-linux/config-linux)
DEFAULT_DEVICES: tuple[tuple[str, str, int, int], ...] = (
    ("null", "c", 1, 3),
    ("zero", "c", 1, 5),
    ("full", "c", 1, 7),
    ("random", "c", 1, 8),
    ("urandom", "c", 1, 9),
    ("tty", "c", 5, 0),
)
DEV_SYMLINKS: tuple[tuple[str, str], ...] = (
    ("/proc/self/fd", "fd"),
    ("/proc/self/fd/0", "stdin"),
    ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"),
)

# mount(2) flags that map onto fsmount attributes / mount_setattr
_ATTR_FROM_FLAGS: tuple[tuple[int, int], ...] = (
    (c.MS_RDONLY, c.MOUNT_ATTR_RDONLY),
    (c.MS_NOSUID, c.MOUNT_ATTR_NOSUID),
    (c.MS_NODEV, c.MOUNT_ATTR_NODEV),
    (c.MS_NOEXEC, c.MOUNT_ATTR_NOEXEC),
    (c.MS_NODIRATIME, c.MOUNT_ATTR_NODIRATIME),
    (c.MS_NOSYMFOLLOW, c.MOUNT_ATTR_NOSYMFOLLOW),
)
# superblock flags passed to fsconfig as flag keys
_SB_FLAG_KEYS: tuple[tuple[int, str], ...] = (
    (c.MS_SYNCHRONOUS, "sync"),
    (c.MS_DIRSYNC, "dirsync"),
    (c.MS_LAZYTIME, "lazytime"),
    (c.MS_MANDLOCK, "mand"),
    (c.MS_POSIXACL, "posixacl"),
    (c.MS_I_VERSION, "iversion"),
    (c.MS_SILENT, "silent"),
)
_LEGACY_SB_FLAGS = c.MS_POSIXACL | c.MS_I_VERSION | c.MS_SILENT


def attach(mount_fd: int, target_fd: int) -> None:
    """Attach a detached mount (open_tree/fsmount fd) onto a resolved O_PATH fd."""
    native.move_mount(
        mount_fd, "", target_fd, "", c.MOVE_MOUNT_F_EMPTY_PATH | c.MOVE_MOUNT_T_EMPTY_PATH
    )


def mount_attrs(flags: int) -> int:
    attrs = 0
    for flag, attr in _ATTR_FROM_FLAGS:
        if flags & flag:
            attrs |= attr
    if flags & c.MS_NOATIME:
        attrs |= c.MOUNT_ATTR_NOATIME
    elif flags & c.MS_STRICTATIME:
        attrs |= c.MOUNT_ATTR_STRICTATIME
    return attrs


class RootfsBuilder:
    """Runs the rootfs steps for one container; holds the rootfs fd."""

    def __init__(
        self,
        config: dict[str, Any],
        rootfs: str,
        bundle: str,
        *,
        new_userns: bool,
        cgroup_ns: bool,
        console_slave: int | None = None,
    ) -> None:
        self.config = config
        self.linux: dict[str, Any] = config.get("linux") or {}
        self.rootfs = rootfs
        self.bundle = bundle
        self.new_userns = new_userns
        self.cgroup_ns = cgroup_ns
        self.console_slave = console_slave
        self.root_fd = -1
        self.mount_label = ""  # linux.mountLabel, checked by prepare()
        self.steps: list[MountStep] = plan_mounts(config.get("mounts") or [], bundle)
        # idmapped trees prepared by stage 1: {index in steps: detached tree fd}
        self.mount_fds: dict[int, int] = {}

    # -- steps 1-2 ---------------------------------------------------------
    def prepare(self) -> None:
        self.mount_label = lsm.mount_label(self.linux)  # NotSupported without SELinux
        prop = _PROPAGATION.get(self.linux.get("rootfsPropagation", ""), c.MS_SLAVE)
        # Whatever happens from now on stays in our mount namespace.
        native.mount(None, "/", None, c.MS_REC | (c.MS_SLAVE if prop == c.MS_SHARED else prop))
        self._make_parent_private(self.rootfs)
        native.mount(self.rootfs, self.rootfs, None, c.MS_BIND | c.MS_REC)
        self.root_fd = os.open(self.rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def _make_parent_private(self, path: str) -> None:
        """pivot_root refuses a shared parent mount: make the rootfs's parent mount private."""
        mountpoint = _mountpoint_of(path)
        try:
            native.mount(None, mountpoint, None, c.MS_PRIVATE)
        except OSError:
            pass

    # -- step 3 ------------------------------------------------------------
    def mount_all(self) -> None:
        """Mount every step, in the listed order (the init is already in its
        cgroup and cgroup namespace, as cgroupfs mounts need)."""
        for i, step in enumerate(self.steps):
            try:
                self._mount_one(step, self.mount_fds.pop(i, -1))
            except OSError as exc:
                raise SetupError(
                    f"mount {step.source or step.fstype} to {step.destination}: "
                    f"{exc.strerror or exc}"
                ) from None

    def _mount_one(self, step: MountStep, tree: int = -1) -> None:
        dest = step.destination if step.destination.startswith("/") else "/" + step.destination
        if step.remount:
            self._remount(step, dest)
        elif step.is_bind:
            self._mount_bind(step, dest, tree)
        elif step.fstype == "cgroup" or step.fstype == "cgroup2":
            self._mount_cgroup(step, dest)
        else:
            self._mount_fs(step, dest)

    def _mount_bind(self, step: MountStep, dest: str, tree: int = -1) -> None:
        """Bind ``step.source`` (or the idmapped tree stage 1 prepared) onto ``dest``."""
        try:
            st = os.stat(tree) if tree >= 0 else os.stat(step.source)
            is_dir = stat.S_ISDIR(st.st_mode)
            dst_fd = _mountpoint(paths.ensure_mountpoint, self.root_fd, dest, is_dir)
        except OSError as exc:
            if tree >= 0:
                os.close(tree)
            raise OSError(exc.errno, exc.strerror, exc.filename or step.source) from None
        try:
            if tree < 0:
                flags = c.OPEN_TREE_CLONE | c.OPEN_TREE_CLOEXEC
                if step.recursive:
                    flags |= c.AT_RECURSIVE
                tree = native.open_tree(-100, step.source, flags)  # AT_FDCWD
            try:
                # ro, nosuid, ...: the mount itself, as runc's bind remount does
                # (even for rbind); rro, rnosuid, ...: the whole tree.
                attr_set = mount_attrs(step.flags)
                attr_clr = 0
                if attr_set & c.MOUNT_ATTR__ATIME or step.flags & c.MS_RELATIME:
                    attr_clr |= c.MOUNT_ATTR__ATIME
                if attr_set or attr_clr:
                    native.mount_setattr(tree, "", c.AT_EMPTY_PATH, attr_set, attr_clr)
                if step.attr_set or step.attr_clr:
                    native.mount_setattr(
                        tree, "", c.AT_EMPTY_PATH | c.AT_RECURSIVE, step.attr_set, step.attr_clr
                    )
                attach(tree, dst_fd)
                self._set_propagation(tree, step)
            finally:
                os.close(tree)
        finally:
            os.close(dst_fd)

    def _remount(self, step: MountStep, dest: str) -> None:
        """``remount``: the mount already at ``dest`` (resolved inside the rootfs)
        takes the entry's flags (MS_REMOUNT, as runc's mount(2)); with ``bind``
        only its per-mount flags, else its superblock too, with the data."""
        fd = paths.open_in_root(self.root_fd, dest)
        try:
            target = paths.fd_path(fd)
            try:
                native.mount(None, target, None, step.flags, step.data or None)
            except OSError as exc:
                if exc.errno == errno.EINVAL:
                    raise OSError(
                        exc.errno, f"remount: {exc.strerror} (is a mount there?)"
                    ) from None
                raise OSError(exc.errno, f"remount: {exc.strerror}") from None
            if step.attr_set or step.attr_clr:
                tree = native.open_tree(fd, "", c.OPEN_TREE_CLOEXEC | c.AT_EMPTY_PATH)
                try:
                    native.mount_setattr(
                        tree, "", c.AT_EMPTY_PATH | c.AT_RECURSIVE, step.attr_set, step.attr_clr
                    )
                finally:
                    os.close(tree)
            for prop in step.propagation:
                native.mount(None, target, None, prop)
        finally:
            os.close(fd)

    def _set_propagation(self, mount_fd: int, step: MountStep) -> None:
        for prop in step.propagation:
            native.mount(None, paths.fd_path(mount_fd), None, prop)

    def _mount_fs(self, step: MountStep, dest: str) -> None:
        dst_fd = _mountpoint(paths.mkdir_all_in_root, self.root_fd, dest)
        try:
            try:
                mfd = self._fsmount(step.fstype, step.source, step.flags, step.data)
            except OSError as exc:
                if step.fstype in ("sysfs", "mqueue") and exc.errno == 1 and self.new_userns:
                    # A user namespace without its own network/ipc namespace may not
                    # mount sysfs/mqueue: bind the host's instead (as runc does).
                    host = "/sys" if step.fstype == "sysfs" else "/dev/mqueue"
                    mfd = native.open_tree(
                        -100, host, c.OPEN_TREE_CLONE | c.OPEN_TREE_CLOEXEC | c.AT_RECURSIVE
                    )
                    native.mount_setattr(
                        mfd, "", c.AT_EMPTY_PATH | c.AT_RECURSIVE, mount_attrs(step.flags), 0
                    )
                elif step.fstype == "devpts" and exc.errno == 22 and self.new_userns:
                    # gid=5 (tty) is not mapped in this user namespace: as crun, do without
                    data = ",".join(o for o in step.data.split(",") if not o.startswith("gid="))
                    if data == step.data:
                        raise
                    mfd = self._fsmount(step.fstype, step.source, step.flags, data)
                else:
                    raise
            try:
                if step.attr_set or step.attr_clr:
                    native.mount_setattr(
                        mfd, "", c.AT_EMPTY_PATH | c.AT_RECURSIVE, step.attr_set, step.attr_clr
                    )
                if "tmpcopyup" in step.extensions:
                    _copy_tree(dst_fd, mfd)
                attach(mfd, dst_fd)
                self._set_propagation(mfd, step)
            finally:
                os.close(mfd)
        finally:
            os.close(dst_fd)

    def _fsmount(self, fstype: str, source: str, flags: int, data: str) -> int:
        """A detached mount of a new filesystem instance (fsopen/fsconfig/fsmount)."""
        fsfd = native.fsopen(fstype)
        try:
            native.fsconfig_string(fsfd, "source", source or fstype)
            context = lsm.mount_context(fstype, data, self.mount_label)
            if context is not None:
                native.fsconfig_string(fsfd, "context", context)
            for flag, key in _SB_FLAG_KEYS:
                if flags & flag:
                    try:
                        native.fsconfig_string(fsfd, key, None)
                    except OSError as exc:
                        # acl, iversion, silent: mount(2) sets these superblock flags
                        # itself; fsconfig hands them to the filesystem, and most (tmpfs)
                        # do not take them: as mount(2), go on without.
                        if exc.errno != errno.EINVAL or not flag & _LEGACY_SB_FLAGS:
                            raise
            for opt in data.split(","):
                if not opt:
                    continue
                key, eq, value = opt.partition("=")
                native.fsconfig_string(fsfd, key, value if eq else None)
            native.fsconfig_create(fsfd)
            return native.fsmount(fsfd, mount_attrs(flags))
        finally:
            os.close(fsfd)

    def _mount_cgroup(self, step: MountStep, dest: str) -> None:
        """Mount the cgroup filesystem(s) as the host has them (v2, v1 or hybrid)."""
        ro = step.flags & c.MS_RDONLY
        base_flags = step.flags | c.MS_NOSUID | c.MS_NODEV | c.MS_NOEXEC
        host = _host_cgroup_mounts()
        if "" in host and len(host) == 1:  # pure cgroup v2
            self._mount_cgroup2(dest, base_flags, step)
            return
        # v1 or hybrid: a tmpfs with one mount per hierarchy.
        dst_fd = paths.mkdir_all_in_root(self.root_fd, dest)
        try:
            mfd = self._fsmount(
                "tmpfs", "tmpfs", c.MS_NOSUID | c.MS_NODEV | c.MS_NOEXEC, "mode=755"
            )
            try:
                attach(mfd, dst_fd)
                for name, (opts, host_mp, own_path) in sorted(host.items()):
                    sub = f"{dest.rstrip('/')}/{name or 'unified'}"
                    sfd = paths.mkdir_all_in_root(self.root_fd, sub)
                    try:
                        if self.cgroup_ns:
                            fstype = "cgroup2" if name == "" else "cgroup"
                            cfd = self._fsmount(fstype, "cgroup", base_flags, opts)
                        else:
                            cfd = native.open_tree(
                                -100,
                                host_mp.rstrip("/") + own_path,
                                c.OPEN_TREE_CLONE | c.OPEN_TREE_CLOEXEC,
                            )
                            native.mount_setattr(
                                cfd, "", c.AT_EMPTY_PATH, mount_attrs(base_flags), 0
                            )
                        try:
                            native.move_mount(
                                cfd,
                                "",
                                sfd,
                                "",
                                c.MOVE_MOUNT_F_EMPTY_PATH | c.MOVE_MOUNT_T_EMPTY_PATH,
                            )
                        finally:
                            os.close(cfd)
                    finally:
                        os.close(sfd)
                    # co-mounted controllers (cpu,cpuacct) get symlinks, as on the host
                    if "," in name:
                        for part in name.split(","):
                            if part.startswith("name="):
                                continue
                            try:
                                os.symlink(name, part, dir_fd=mfd)
                            except FileExistsError:
                                pass
                if ro:
                    native.mount_setattr(mfd, "", c.AT_EMPTY_PATH, c.MOUNT_ATTR_RDONLY, 0)
            finally:
                os.close(mfd)
        finally:
            os.close(dst_fd)

    def _mount_cgroup2(self, dest: str, flags: int, step: MountStep) -> None:
        dst_fd = paths.mkdir_all_in_root(self.root_fd, dest)
        try:
            if self.cgroup_ns:
                mfd = self._fsmount("cgroup2", "cgroup", flags, "")
            else:
                own = _own_cgroup_paths().get("", "/")
                mfd = native.open_tree(
                    -100, "/sys/fs/cgroup" + own, c.OPEN_TREE_CLONE | c.OPEN_TREE_CLOEXEC
                )
                native.mount_setattr(mfd, "", c.AT_EMPTY_PATH, mount_attrs(flags), 0)
            try:
                attach(mfd, dst_fd)
                self._set_propagation(mfd, step)
            finally:
                os.close(mfd)
        finally:
            os.close(dst_fd)

    # -- step 4 ------------------------------------------------------------
    def setup_dev(self) -> None:
        if self._dev_is_bind():
            return
        dev_fd = paths.mkdir_all_in_root(self.root_fd, "/dev")
        try:
            old_umask = os.umask(0)
            try:
                configured: list[dict[str, Any]] = list(self.linux.get("devices") or [])
                listed = {os.path.normpath(d["path"]) for d in configured}
                for n, t, ma, mi in DEFAULT_DEVICES:
                    if f"/dev/{n}" not in listed:  # the config's entry wins
                        self._create_device({"path": f"/dev/{n}", "type": t, "major": ma,
                                             "minor": mi, "fileMode": 0o666, "uid": 0,
                                             "gid": 0}, strict=False)  # fmt: skip
                for dev in configured:
                    self._create_device(dev, strict=True)
                for target, name in DEV_SYMLINKS:
                    try:
                        os.symlink(target, name, dir_fd=dev_fd)
                    except FileExistsError:
                        pass
                if os.path.exists("/proc/kcore"):
                    try:
                        os.symlink("/proc/kcore", "core", dir_fd=dev_fd)
                    except FileExistsError:
                        pass
                self._setup_ptmx(dev_fd)
                if self.console_slave is not None:
                    self._bind_console(self.console_slave)
            finally:
                os.umask(old_umask)
        finally:
            os.close(dev_fd)

    def _dev_is_bind(self) -> bool:
        return any(s.is_bind and s.destination.rstrip("/") == "/dev" for s in self.steps)

    def _create_device(self, dev: dict[str, Any], *, strict: bool) -> None:
        """mknod (or, in a user namespace, bind the host's node) at ``dev["path"]``.

        ``strict`` (linux.devices): a file already there that is not the requested
        device is an error (config-linux.md devices); the same device is replaced
        (to apply fileMode/uid/gid).  Default devices replace any non-directory,
        non-symlink file (runtime-linux.md: they MUST be supplied)."""
        path: str = dev["path"]
        kind: str = dev["type"]
        mode = dev.get("fileMode", 0o666) & 0o7777
        fmt = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[kind]
        rdev = os.makedev(dev.get("major", 0), dev.get("minor", 0)) if kind != "p" else 0
        parent, _, name = path.rstrip("/").rpartition("/")
        pfd = paths.mkdir_all_in_root(self.root_fd, parent or "/")
        try:
            try:
                existing = os.stat(name, dir_fd=pfd, follow_symlinks=False)
            except FileNotFoundError:
                existing = None
            if existing is not None:
                same = stat.S_IFMT(existing.st_mode) == fmt and (
                    kind == "p" or existing.st_rdev == rdev
                )
                if strict and not same:
                    raise SetupError(
                        f"device {path}: the existing {_file_kind(existing.st_mode)} there"
                        f" does not match the requested device"
                    )
                if stat.S_ISLNK(existing.st_mode) or stat.S_ISDIR(existing.st_mode):
                    raise SetupError(f"device {path}: a non-device file is in the way")
                os.unlink(name, dir_fd=pfd)
            if self.new_userns and kind != "p":
                # mknod is not allowed in a user namespace: bind the host's node.
                fd = native.openat2(
                    pfd, name, os.O_CREAT | os.O_EXCL | os.O_RDONLY, 0o000, paths.BENEATH_STRICT
                )
                os.close(fd)
                target = native.openat2(pfd, name, os.O_PATH, 0, paths.BENEATH_STRICT)
                try:
                    host = os.stat(path)
                    if stat.S_IFMT(host.st_mode) != fmt or host.st_rdev != rdev:
                        raise SetupError(f"device {path}: host node differs from the config")
                    tree = native.open_tree(-100, path, c.OPEN_TREE_CLONE | c.OPEN_TREE_CLOEXEC)
                    try:
                        native.move_mount(
                            tree,
                            "",
                            target,
                            "",
                            c.MOVE_MOUNT_F_EMPTY_PATH | c.MOVE_MOUNT_T_EMPTY_PATH,
                        )
                    finally:
                        os.close(tree)
                finally:
                    os.close(target)
                return
            native.mknodat(pfd, name, fmt | mode, rdev)
            os.chown(name, dev.get("uid", 0), dev.get("gid", 0), dir_fd=pfd, follow_symlinks=False)
            os.chmod(name, mode, dir_fd=pfd)
        except OSError as exc:
            raise SetupError(f"create device {path}: {exc.strerror}") from None
        finally:
            os.close(pfd)

    def _setup_ptmx(self, dev_fd: int) -> None:
        try:
            st = os.stat("ptmx", dir_fd=dev_fd, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISLNK(st.st_mode):
            return
        if st is not None:
            os.unlink("ptmx", dir_fd=dev_fd)
        os.symlink("pts/ptmx", "ptmx", dir_fd=dev_fd)

    def _bind_console(self, slave_fd: int) -> None:
        """Bind the pty slave (the fd itself) on /dev/console, verified first.

        CVE-2025-52565 shape: /dev/console (or /dev) in the container's image
        may be a symlink to, say, a procfs file; the target must be a plain
        file or character device that is /dev/console itself, not on procfs
        or sysfs, and the source the pts device we opened.
        """
        src = os.fstat(slave_fd)
        if not stat.S_ISCHR(src.st_mode) or not 136 <= os.major(src.st_rdev) <= 143:
            raise SetupError("console: the pty slave is not a /dev/pts device")
        target = _open_console_target(self.root_fd)
        try:
            tree = native.open_tree(
                slave_fd, "", c.OPEN_TREE_CLONE | c.OPEN_TREE_CLOEXEC | c.AT_EMPTY_PATH
            )
            try:
                attach(tree, target)
            finally:
                os.close(tree)
        finally:
            os.close(target)

    def make_cwd(self, cwd: str) -> None:
        """runc creates process.cwd when it is missing."""
        fd = paths.mkdir_all_in_root(self.root_fd, cwd)
        os.close(fd)

    # -- step 6 ------------------------------------------------------------
    def pivot(self, no_pivot: bool) -> None:
        if no_pivot:
            os.chdir(self.rootfs)
            native.mount(self.rootfs, "/", None, c.MS_MOVE)
            native.chroot(".")
            os.chdir("/")
        else:
            old_root = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
            new_root = os.open(self.rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fchdir(new_root)
                native.pivot_root(".", ".")
                os.fchdir(old_root)
                # the old root must not propagate its unmount to the host
                native.mount(None, ".", None, c.MS_SLAVE | c.MS_REC)
                native.umount2(".", c.MNT_DETACH)
                os.chdir("/")
            finally:
                os.close(old_root)
                os.close(new_root)
        if self.root_fd >= 0:
            os.close(self.root_fd)
        self.root_fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        procfs.root_changed()

    # -- step 7 ------------------------------------------------------------
    def finalize(self) -> None:
        for path in self.linux.get("readonlyPaths") or []:
            self._readonly_path(path)
        for path in self.linux.get("maskedPaths") or []:
            self._mask_path(path)
        root = self.config.get("root") or {}
        if root.get("readonly"):
            native.mount_setattr(self.root_fd, "", c.AT_EMPTY_PATH, c.MOUNT_ATTR_RDONLY, 0)
        prop = self.linux.get("rootfsPropagation")
        if prop in _PROPAGATION:
            native.mount(None, "/", None, _PROPAGATION[prop])
        os.close(self.root_fd)
        self.root_fd = -1

    def reopen_dev_null(self) -> None:
        """stdio that is the host's /dev/null becomes the container's (as runc's
        reOpenDevNull): no descriptor of a host mount is left in the container,
        and CRIU can checkpoint it (it cannot resolve a mount outside)."""
        if self._dev_is_bind():
            return
        try:
            null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            return
        try:
            st = os.fstat(null)
            if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(1, 3):
                return
            for fd in (0, 1, 2):
                try:
                    cur = os.fstat(fd)
                except OSError:
                    continue
                if stat.S_ISCHR(cur.st_mode) and cur.st_rdev == st.st_rdev:
                    os.dup2(null, fd, inheritable=True)
        finally:
            os.close(null)

    def _readonly_path(self, path: str) -> None:
        try:
            fd = paths.open_in_root(self.root_fd, path)
        except FileNotFoundError:
            return
        try:
            tree = native.open_tree(
                fd, "", c.OPEN_TREE_CLONE | c.OPEN_TREE_CLOEXEC | c.AT_RECURSIVE | c.AT_EMPTY_PATH
            )
            try:
                native.mount_setattr(
                    tree,
                    "",
                    c.AT_EMPTY_PATH | c.AT_RECURSIVE,
                    c.MOUNT_ATTR_RDONLY
                    | c.MOUNT_ATTR_NOSUID
                    | c.MOUNT_ATTR_NODEV
                    | c.MOUNT_ATTR_NOEXEC,
                    0,
                )
                attach(tree, fd)
            finally:
                os.close(tree)
        except OSError as exc:
            raise SetupError(f"readonly path {path}: {exc.strerror}") from None
        finally:
            os.close(fd)

    def _mask_path(self, path: str) -> None:
        try:
            fd = paths.open_in_root(self.root_fd, path)
        except (FileNotFoundError, NotADirectoryError):
            return
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                mfd = self._fsmount("tmpfs", "tmpfs", c.MS_RDONLY, "")  # as runc: empty, 1777
            else:
                mfd = _open_dev_null_tree()
            try:
                attach(mfd, fd)
            finally:
                os.close(mfd)
        except OSError as exc:
            raise SetupError(f"masked path {path}: {exc.strerror}") from None
        finally:
            os.close(fd)


def _file_kind(mode: int) -> str:
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "file" if stat.S_ISREG(mode) else "special file"


def _open_console_target(root_fd: int) -> int:
    """An O_PATH fd of /dev/console (created if missing), never through a symlink."""
    dev = paths.mkdir_all_in_root(root_fd, "/dev")
    try:
        if native.fstatfs_type(dev) in (c.PROC_SUPER_MAGIC, c.SYSFS_MAGIC):
            raise SetupError("/dev is on procfs or sysfs: refusing to mount the console there")
        flags = os.O_PATH | os.O_NOFOLLOW
        try:
            target = native.openat2(dev, "console", flags, 0, paths.BENEATH_STRICT)
        except FileNotFoundError:
            create = os.O_CREAT | os.O_EXCL | os.O_RDONLY | os.O_NOFOLLOW
            fd = native.openat2(dev, "console", create, 0o644, paths.BENEATH_STRICT)
            os.close(fd)
            target = native.openat2(dev, "console", flags, 0, paths.BENEATH_STRICT)
    finally:
        os.close(dev)
    try:
        st = os.fstat(target)
        if stat.S_ISLNK(st.st_mode):
            raise SetupError("/dev/console is a symlink: refusing to mount the console on it")
        if not stat.S_ISREG(st.st_mode) and not stat.S_ISCHR(st.st_mode):
            raise SetupError("/dev/console: not a file or character device")
        if native.fstatfs_type(target) in (c.PROC_SUPER_MAGIC, c.SYSFS_MAGIC):
            raise SetupError("/dev/console is on procfs or sysfs: refusing to mount on it")
    except BaseException:
        os.close(target)
        raise
    return target


def _mountpoint(make: Any, root_fd: int, dest: str, *args: Any) -> int:
    """Resolve (or create) a mount point; say so when that is what fails (a
    rootless container's root cannot create one in a rootfs it does not own)."""
    try:
        fd: int = make(root_fd, dest, *args)
    except OSError as exc:
        raise OSError(exc.errno, f"create mount point: {exc.strerror}") from None
    return fd


def _open_dev_null_tree() -> int:
    """A detached bind of the container's /dev/null, verified to be the char device 1:3."""
    fd = os.open("/dev/null", os.O_PATH | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        st = os.fstat(fd)
        if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(1, 3):
            raise SetupError("/dev/null is not the null device (1:3): refusing to mask with it")
        return native.open_tree(fd, "", c.OPEN_TREE_CLONE | c.OPEN_TREE_CLOEXEC | c.AT_EMPTY_PATH)
    finally:
        os.close(fd)


def _copy_tree(src_dir_fd: int, dst_mount_fd: int) -> None:
    """tmpcopyup: copy what is under the mount point into the new (detached) tmpfs."""
    src = os.open(paths.fd_path(src_dir_fd), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    dst = os.open(paths.fd_path(dst_mount_fd), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        st = os.fstat(src)
        os.chmod(dst, stat.S_IMODE(st.st_mode))
        os.chown(dst, st.st_uid, st.st_gid)
        _copy_dir(src, dst)
    finally:
        os.close(src)
        os.close(dst)


def _copy_dir(src: int, dst: int) -> None:
    for entry in os.scandir(src):
        st = entry.stat(follow_symlinks=False)
        name = entry.name
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(name, stat.S_IMODE(st.st_mode), dir_fd=dst)
            s2 = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                         dir_fd=src)  # fmt: skip
            d2 = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                         dir_fd=dst)  # fmt: skip
            try:
                _copy_dir(s2, d2)
            finally:
                os.close(s2)
                os.close(d2)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
        elif stat.S_ISREG(st.st_mode):
            s2 = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
            d2 = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                         stat.S_IMODE(st.st_mode), dir_fd=dst)  # fmt: skip
            try:
                while chunk := os.read(s2, 1 << 16):
                    os.write(d2, chunk)
            finally:
                os.close(s2)
                os.close(d2)
        else:
            continue
        os.chown(name, st.st_uid, st.st_gid, dir_fd=dst, follow_symlinks=False)


def _mountpoint_of(path: str) -> str:
    """The mount point of the mount that holds ``path`` (longest prefix in mountinfo)."""
    best = "/"
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            mp = unescape(line.split(b" ", 5)[4].decode())
            if (real == mp or real.startswith(mp.rstrip("/") + "/")) and len(mp) > len(best):
                best = mp
    return best


def _host_cgroup_mounts() -> dict[str, tuple[str, str, str]]:
    """Host cgroup hierarchies: {controllers ('' for v2): (mount options, mountpoint, own path)}."""
    own = _own_cgroup_paths()
    result: dict[str, tuple[str, str, str]] = {}
    with open("/proc/self/mountinfo", "rb") as f:
        for raw in f:
            line = raw.decode()
            left, _, right = line.partition(" - ")
            fields = left.split()
            rfields = right.split()
            if len(rfields) < 3:
                continue
            fstype = rfields[0]
            mountpoint = unescape(fields[4])
            if not mountpoint.startswith("/sys/fs/cgroup"):
                continue
            if fstype == "cgroup2":
                result[""] = ("", mountpoint, own.get("", "/"))
            elif fstype == "cgroup":
                opts = [o for o in rfields[2].split(",") if o not in ("rw", "ro")]
                key = ",".join(opts)
                name = mountpoint.rsplit("/", 1)[1]
                result[name] = (key, mountpoint, own.get(name, own.get(key, "/")))
    return result


def _own_cgroup_paths() -> dict[str, str]:
    """{hierarchy name ('' for v2, 'cpu', 'name=systemd'→'systemd'): path} of this process."""
    out: dict[str, str] = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _hid, controllers, path = line.rstrip("\n").split(":", 2)
            if not controllers:
                out[""] = path
            else:
                out[controllers] = path
                for ctl in controllers.split(","):
                    out[ctl.removeprefix("name=")] = path
    return out
