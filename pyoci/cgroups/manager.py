"""The cgroupfs manager: one class for v1, v2 and hybrid hosts.

A container's cgroup is one directory per mounted hierarchy (one in pure v2;
one per v1 hierarchy, plus the cgroup2 one in hybrid mode).  Each resource
goes to the hierarchy that has its controller: v1 when the host mounts that
controller as v1, otherwise the cgroup2 hierarchy.  So on a hybrid host whose
cgroup2 holds only ``hugetlb``, memory limits go to ``memory/…`` and hugepage
limits to ``unified/…``.

Only ``manager_from_record`` and the cheap methods (``pids``, ``kill_all``,
``is_frozen``, ``freeze``/``thaw``, ``destroy``, ``add_process``) are on the
paths of ``state``/``kill``/``delete``/``pause``; they use nothing but ``posix``
(not ``os``: ``pyoci.util.lean_os`` says why), ``errno`` and ``time``.  ``layout``,
``resources``, ``devices``, ``ebpf`` and ``stats`` are imported where they are
needed.
"""

from __future__ import annotations

import errno
import posix
import time

from pyoci.errors import CgroupError
from pyoci.util import lean_os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection, Mapping
    from typing import Any

    from pyoci.cgroups import CgroupManager

SIGKILL = 9  # ``import signal`` pulls in enum
DEFAULT_PARENT = "pyoci"


# ---------------------------------------------------------------- small file helpers


def _read(path: str) -> str:
    fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)
    try:
        chunks = []
        while True:
            chunk = posix.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode()
    finally:
        posix.close(fd)


def _read_opt(path: str) -> str | None:
    try:
        return _read(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as err:
        if err.errno == errno.ENODEV:
            return None
        raise


def _write(path: str, value: str) -> None:
    fd = posix.open(path, posix.O_WRONLY | posix.O_CLOEXEC)
    try:
        posix.write(fd, value.encode())
    finally:
        posix.close(fd)


def _rmdir_retry(path: str) -> None:
    """rmdir, retrying on EBUSY (exiting processes) for about a second."""
    delay = 0.001
    for _ in range(11):
        try:
            posix.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as err:
            if err.errno != errno.EBUSY:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
    posix.rmdir(path)


def remove_tree(path: str) -> None:
    """Remove a cgroup directory and its sub-cgroups (leaf first)."""
    try:
        posix.rmdir(path)
        return
    except FileNotFoundError:
        return
    except OSError as err:
        if err.errno not in (errno.EBUSY, errno.ENOTEMPTY, errno.EEXIST):
            raise
    try:
        with posix.scandir(path) as it:
            subdirs = [e.path for e in it if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return
    for sub in subdirs:
        remove_tree(sub)
    _rmdir_retry(path)


def _depth(path: str) -> int:
    return path.rstrip("/").count("/")


# ---------------------------------------------------------------- the manager


class FsManager:
    """Implements ``pyoci.cgroups.CgroupManager`` by writing cgroupfs files."""

    __slots__ = ("mode", "mounts", "owned", "rootless", "unified", "v1", "v2")

    def __init__(
        self,
        mode: str,
        mounts: dict[str, str],
        v1: dict[str, str],
        unified: str | None,
        v2: list[str],
        owned: list[str],
        rootless: bool = False,
    ) -> None:
        self.mode = mode  # "v1" | "v2" | "hybrid"
        self.mounts = mounts  # container dir -> mountpoint of its hierarchy
        self.v1 = v1  # v1 controller (or "name=X") -> container dir
        self.unified = unified  # container dir in the cgroup2 hierarchy
        self.v2 = v2  # controllers used through the cgroup2 hierarchy
        self.owned = owned  # directories destroy() may remove besides the leaves
        self.rootless = rootless

    def __repr__(self) -> str:
        return f"FsManager({self.mode}, {sorted(self.mounts)})"

    # ------------------------------------------------------------ record

    def record(self) -> dict[str, Any]:
        return {
            "driver": "cgroupfs",
            "mode": self.mode,
            "mounts": dict(self.mounts),
            "v1": dict(self.v1),
            "unified": self.unified,
            "v2": list(self.v2),
            "owned": list(self.owned),
            "rootless": self.rootless,
        }

    def paths(self) -> dict[str, str]:
        """Controller (v1, or "name=X") -> directory; "" -> the cgroup2 directory."""
        out = dict(self.v1)
        if self.unified is not None:
            out[""] = self.unified
        return out

    def dirs(self) -> list[str]:
        """Every directory of the container's cgroup, one per hierarchy."""
        return list(self.mounts)

    def _main(self) -> str:
        """The directory whose cgroup.procs lists the container's processes."""
        if self.mode == "v2" and self.unified is not None:
            return self.unified
        for ctl in ("freezer", "pids", "memory", "devices", "cpu"):
            if ctl in self.v1:
                return self.v1[ctl]
        if self.unified is not None:
            return self.unified
        return next(iter(self.mounts))

    # ------------------------------------------------------------ create

    def plan(self) -> None:
        """Count as owned every directory ``create()`` would make (those missing
        now): the record saved before creating them then names all of them, so a
        create killed midway leaves nothing ``delete`` cannot find.  (Removal is
        ``rmdir``: a directory someone else filled meanwhile stays.)"""
        for directory, mountpoint in self.mounts.items():
            path = directory
            missing = []
            while len(path) > len(mountpoint) and not lean_os.isdir(path):
                missing.append(path)
                path = path.rsplit("/", 1)[0]
            for p in reversed(missing):
                if p not in self.owned:
                    self.owned.append(p)

    def create(self, *, check_existing: bool = True) -> None:
        """``check_existing``: refuse a cgroup that already holds processes or is
        frozen (the systemd driver checks before systemd moves the first one in)."""
        created: list[str] = []
        try:
            preexisting = check_existing and lean_os.isdir(self._main())
            for directory, mountpoint in self.mounts.items():
                self._make(directory, mountpoint, created)
            if self.unified is not None:
                self._refresh_v2()
            if preexisting:
                found = self.pids()
                if found:
                    raise CgroupError(
                        f"container's cgroup {self._main()} is not empty:"
                        f" {len(found)} process(es) found"
                    )
                if self.is_frozen():
                    raise CgroupError(f"container's cgroup {self._main()} is unexpectedly frozen")
        except BaseException:
            for path in reversed(created):
                try:
                    posix.rmdir(path)
                except OSError:
                    pass
            raise
        for path in created:
            if path not in self.owned:
                self.owned.append(path)

    def _make(self, directory: str, mountpoint: str, created: list[str]) -> None:
        is_v2 = directory == self.unified
        is_cpuset = not is_v2 and self.v1.get("cpuset") == directory
        rel = directory[len(mountpoint) :].strip("/")
        current = mountpoint
        for part in rel.split("/") if rel else []:
            if is_v2:
                _enable_controllers(current)
            nxt = f"{current}/{part}"
            for attempt in range(3):
                try:
                    posix.mkdir(nxt, 0o755)
                    created.append(nxt)
                    break
                except FileExistsError:
                    break
                except OSError as err:
                    # ENOENT: a concurrent destroy removed a shared parent; redo it.
                    if err.errno != errno.ENOENT or attempt == 2 or current == mountpoint:
                        raise CgroupError(f"cannot create cgroup {nxt}: {err.strerror}") from err
                    self._make(current, mountpoint, created)
            if is_cpuset:
                _cpuset_inherit(current, nxt)
            current = nxt

    def _refresh_v2(self) -> None:
        """The controllers the cgroup2 leaf really has (v1 ones excluded in hybrid)."""
        assert self.unified is not None
        text = _read_opt(f"{self.unified}/cgroup.controllers")
        if text is not None:  # (always there on a real cgroupfs)
            self.v2 = [c for c in text.split() if c not in self.v1]

    # ------------------------------------------------------------ resources

    def apply(self, resources: Mapping[str, Any] | None) -> list[str]:
        return self._set(resources or {}, initial=True)

    def update(self, resources: Mapping[str, Any]) -> list[str]:
        return self._set(resources, initial=False)

    def validate(self, resources: Mapping[str, Any]) -> list[str]:
        """Check ``resources`` against this host without writing anything."""
        return self._set(resources, initial=True, dry_run=True)

    def _placement(self, res: Mapping[str, Any], warnings: list[str]) -> tuple[set[str], set[str]]:
        """Which v1 and which v2 controllers the requested resources go to."""
        from pyoci.cgroups import resources as R

        on_v1: set[str] = set()
        on_v2: set[str] = set()
        for group in R.requested_groups(res):
            n1, n2 = R.V1_NAMES[group], R.V2_NAMES.get(group)
            if n1 in self.v1:
                on_v1.add(n1)
            elif n2 is not None and n2 in self.v2:
                on_v2.add(n2)
            elif group in R.NETWORK_CONTROLLERS:
                # runtime.md: a property that cannot be applied is an error (runc
                # too: "cannot set net_cls limit"); cgroup v2 has no equivalent
                key = "classID" if group == "net_cls" else "priorities"
                raise CgroupError(
                    f"cannot set {n1} limit: linux.resources.network.{key} needs the {n1}"
                    f" controller, which is not mounted on this host ({self.mode} cgroups)"
                )
            else:
                name = n1 if n2 is None or n1 == n2 else f"{n1}/{n2}"
                raise CgroupError(
                    f"linux.resources: the {name} controller is not available for this"
                    f" container's cgroup ({self.mode} host)"
                )
        return on_v1, on_v2

    def _set(self, res: Mapping[str, Any], *, initial: bool, dry_run: bool = False) -> list[str]:
        from pyoci.cgroups import resources as R

        if not isinstance(res, dict):
            raise CgroupError("linux.resources must be an object")
        warnings: list[str] = []
        on_v1, on_v2 = self._placement(res, warnings)
        plain = {k: v for k, v in res.items() if k not in ("unified", "devices")}
        writes: list[tuple[str, str, str]] = []
        if on_v1:
            blkio = self.v1.get("blkio") if "blkio" in on_v1 and not dry_run else None
            avail = _listdir(blkio) if blkio else None
            for f, v in R.v1_writes(plain, warnings, only=on_v1, available=avail):
                writes.append((self.v1[R.controller_of(f)], f, v))
        if on_v2 and self.unified is not None:
            avail = _listdir(self.unified) if "io" in on_v2 and not dry_run else None
            for f, v in R.v2_writes(plain, warnings, only=on_v2, available=avail):
                writes.append((self.unified, f, v))
        if res.get("unified"):
            if self.unified is None:
                raise R.unified_on_v1(res["unified"])
            for f, v in R.unified_writes(res):
                ctl = R.controller_of(f)
                if ctl != "cgroup" and ctl not in self.v2:
                    where = "is on cgroup v1" if ctl in self.v1 else "is not available"
                    raise CgroupError(
                        f"linux.resources.unified[{f!r}]: the {ctl} controller {where}"
                        f" for this container's cgroup"
                    )
                writes.append((self.unified, f, v))
        rules = None
        if initial or "devices" in res:
            from pyoci.cgroups import devices

            rules = devices.container_rules(res.get("devices"))
        if dry_run:
            if rules is not None:
                devices.Emulator.build(rules)  # e.g. a deny that narrows a wildcard
            return warnings
        if not initial:
            self._check_before_update(res)
        self._write_all(writes, warnings)
        if rules is not None and not self.rootless:
            self._set_devices(rules, warnings)
        return warnings

    def _check_before_update(self, res: Mapping[str, Any]) -> None:
        mem = res.get("memory") or {}
        if not mem.get("checkBeforeUpdate"):
            return
        if "memory" in self.v1:
            usage_file = f"{self.v1['memory']}/memory.usage_in_bytes"
        elif self.unified is not None and "memory" in self.v2:
            usage_file = f"{self.unified}/memory.current"
        else:
            return
        text = _read_opt(usage_file)
        if not text:
            return
        usage = int(text)
        for key, label in (("swap", "memory+swap limit"), ("limit", "memory limit")):
            value = mem.get(key)
            if isinstance(value, int) and 0 < value <= usage:
                raise CgroupError(f"rejecting {label} {value} <= usage {usage}")

    def _write_all(self, writes: list[tuple[str, str, str]], warnings: list[str]) -> None:
        retry: list[tuple[str, str, str]] = []
        for item in writes:
            err = _try_write(*item)
            if err is not None:
                if err.errno == errno.EINVAL:
                    retry.append(item)  # may depend on a later write (period/quota, memsw)
                else:
                    _write_failed(item, err, warnings)
        for item in retry:
            err = _try_write(*item)
            if err is not None:
                _write_failed(item, err, warnings)

    def _set_devices(self, rules: list[Any], warnings: list[str]) -> None:
        from pyoci.cgroups import devices

        if "devices" in self.v1:
            directory = self.v1["devices"]
            current = _read(f"{directory}/devices.list")
            for f, v in devices.v1_writes(current, rules):
                err = _try_write(directory, f, v)
                if err is not None:
                    raise CgroupError(
                        f"cannot write {v!r} to {directory}/{f}: {err.strerror}"
                    ) from err
        elif self.unified is not None:
            from pyoci.cgroups import ebpf

            ebpf.install(self.unified, devices.bpf_program(rules))
        else:
            warnings.append("no devices cgroup on this host; device rules are not enforced")

    # ------------------------------------------------------------ processes

    def add_process(self, pid: int, skip: Collection[str] = ()) -> None:
        """Move ``pid`` into every directory but those in ``skip`` (where it is
        already: a ``cgroup.procs`` write takes the kernel's threadgroup lock
        for writing, which may wait for an RCU grace period, even for a
        process that does not move)."""
        data = str(pid)
        for directory in self.mounts:
            if directory in skip:
                continue
            try:
                _write(f"{directory}/cgroup.procs", data)
            except OSError as err:
                raise CgroupError(
                    f"cannot add process {pid} to cgroup {directory}: {err.strerror}"
                ) from err

    def dirs_holding(self, cgroup_text: str) -> set[str]:
        """The container's directories a process is in, from its
        ``/proc/PID/cgroup`` (``cgroup_text``: "0::/path" for cgroup2,
        "N:ctl,ctl:/path" for a v1 hierarchy, ``name=X`` for a named one)."""
        rel = {d: d[len(m):] or "/" for d, m in self.mounts.items()}
        held: set[str] = set()
        for line in cgroup_text.splitlines():
            _, ctls, path = [*line.split(":", 2), "", ""][:3]
            if not ctls:
                if self.unified is not None and rel.get(self.unified) == path:
                    held.add(self.unified)
                continue
            for ctl in ctls.split(","):
                directory = self.v1.get(ctl)
                if directory is not None and rel.get(directory) == path:
                    held.add(directory)
        return held

    def spawn_dir(self) -> str | None:
        """The cgroup2 directory when it is the container's only one (pure v2;
        a rootless container with only its delegated cgroup2 one): a process
        born there (clone3 ``CLONE_INTO_CGROUP``) is in the container's cgroup
        without a ``cgroup.procs`` write.  None when v1 hierarchies need one."""
        if self.unified is not None and list(self.mounts) == [self.unified]:
            return self.unified
        return None

    def self_join(self) -> tuple[list[str], str | None]:
        """The container's v1 ``tasks`` files (v1 and hybrid hosts), where a
        single-threaded process writes "0" to join each hierarchy itself, and
        on hybrid its cgroup2 directory (the init is born there with clone3).
        Moving one's own thread skips ``cgroup_threadgroup_rwsem`` (kernel
        ``cgroup_procs_write_start``: pid 0, not a thread group), whose first
        writer waits for an RCU grace period: measured here (6.18) 0.2 ms
        against 16 ms for a ``cgroup.procs`` write.  ``([], None)`` on pure v2
        (spawn_dir)."""
        tasks = [f"{d}/tasks" for d in self.mounts if d != self.unified]
        if not tasks:
            return [], None
        return tasks, self.unified

    def pids(self) -> list[int]:
        found: set[int] = set()
        for root in lean_os.walk_dirs(self._main()):
            text = _read_opt(f"{root}/cgroup.procs")
            if text:
                found.update(int(line) for line in text.split())
        return sorted(found)

    def kill_all(self, signal: int) -> None:
        if signal == SIGKILL and self.unified is not None:
            try:
                _write(f"{self.unified}/cgroup.kill", "1")
            except FileNotFoundError:
                pass  # kernel < 5.14
            except OSError as err:
                raise CgroupError(f"cannot kill cgroup {self.unified}: {err.strerror}") from err
            else:
                # Hybrid: a task frozen by the v1 freezer dies only once thawed.
                if "freezer" in self.v1 and self.is_frozen():
                    self.thaw()
                return
        can_freeze = self._has_freezer()
        was_frozen = can_freeze and self.is_frozen()
        froze = False
        if can_freeze and not was_frozen:
            try:
                self.freeze()
                froze = True
            except CgroupError:
                pass  # signal what we can anyway
        try:
            for pid in self.pids():
                try:
                    posix.kill(pid, signal)
                except ProcessLookupError:
                    pass
        finally:
            if froze or (was_frozen and signal == SIGKILL):
                self.thaw()

    # ------------------------------------------------------------ freezer

    def _has_freezer(self) -> bool:
        return "freezer" in self.v1 or (
            self.unified is not None and lean_os.exists(f"{self.unified}/cgroup.freeze")
        )

    def freeze(self) -> None:
        if "freezer" in self.v1:
            _v1_freeze(self.v1["freezer"])
        elif self.unified is not None:
            _v2_freeze(self.unified, True)
        else:
            raise CgroupError("no freezer cgroup on this host: cannot pause")

    def thaw(self) -> None:
        if "freezer" in self.v1:
            path = f"{self.v1['freezer']}/freezer.state"
            try:
                _write(path, "THAWED")
            except OSError as err:
                raise CgroupError(f"cannot write {path}: {err.strerror}") from err
        elif self.unified is not None:
            _v2_freeze(self.unified, False)
        else:
            raise CgroupError("no freezer cgroup on this host: cannot resume")

    def is_frozen(self) -> bool:
        from pyoci.cgroups.freezer import is_frozen

        return is_frozen(self.v1.get("freezer"), self.unified)

    # ------------------------------------------------------------ stats

    def stats(self) -> dict[str, Any]:
        from pyoci.cgroups import stats

        return stats.collect(self.v1, self.unified, self.v2)

    def oom_kill_count(self) -> int:
        """OOM kills in the container's cgroup so far (v1 memory.oom_control,
        v2 memory.events ``oom_kill``); 0 when the kernel does not count them."""
        if "memory" in self.v1:
            text = _read_opt(f"{self.v1['memory']}/memory.oom_control")
        elif self.unified is not None and "memory" in self.v2:
            text = _read_opt(f"{self.unified}/memory.events")
        else:
            return 0
        for line in (text or "").splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def oom_events_file(self) -> str | None:
        """The file whose changes signal OOM events (for ``events``: inotify on
        v2 ``memory.events``; on v1, ``memory.oom_control`` with cgroup.event_control)."""
        if "memory" in self.v1:
            return f"{self.v1['memory']}/memory.oom_control"
        if self.unified is not None and "memory" in self.v2:
            return f"{self.unified}/memory.events"
        return None

    # ------------------------------------------------------------ destroy

    def destroy(self) -> None:
        problems = []
        leaves = list(self.mounts)
        for directory in leaves:
            try:
                remove_tree(directory)
            except OSError as err:
                problems.append(f"{directory}: {err.strerror}")
        for path in sorted(set(self.owned) - set(leaves), key=_depth, reverse=True):
            try:
                posix.rmdir(path)
            except OSError:
                pass  # shared with another container, or already gone
        if problems:
            raise CgroupError("cannot remove cgroup " + "; ".join(problems))


# ---------------------------------------------------------------- helpers


def _listdir(path: str) -> frozenset[str]:
    try:
        return frozenset(posix.listdir(path))
    except OSError:
        return frozenset()


def _try_write(directory: str, file: str, value: str) -> OSError | None:
    try:
        _write(f"{directory}/{file}", value)
        return None
    except OSError as err:
        return err


def _write_failed(item: tuple[str, str, str], err: OSError, warnings: list[str]) -> None:
    from pyoci.cgroups import resources as R

    directory, file, value = item
    if err.errno == errno.ENOENT:
        if file.endswith(R.OPTIONAL_SUFFIXES):
            return
        if file in ("memory.swap.max", "memory.memsw.limit_in_bytes") and value in (
            "max",
            "0",
            "-1",
        ):
            return  # no swap accounting: unlimited swap is what we have
        if file in R.WARN_IF_MISSING:
            warnings.append(f"{file} is not supported by this kernel; ignored")
            return
        if file.startswith("hugetlb."):
            size = file.split(".")[1]
            raise CgroupError(f"hugepage size {size} is not supported by this kernel") from err
        if file in ("memory.swap.max", "memory.memsw.limit_in_bytes"):
            raise CgroupError(
                "a swap limit was requested but the kernel does not account swap"
                f" ({file} is missing)"
            ) from err
        raise CgroupError(f"cannot set {file}: not supported by this kernel") from err
    if file == "memory.limit_in_bytes" and err.errno == errno.EBUSY:
        usage = (_read_opt(f"{directory}/memory.usage_in_bytes") or "?").strip()
        peak = (_read_opt(f"{directory}/memory.max_usage_in_bytes") or "?").strip()
        raise CgroupError(
            f"unable to set memory limit to {value} (current usage: {usage}, peak usage: {peak})"
        ) from err
    if file == "memory.limit_in_bytes" and err.errno == errno.EINVAL:
        raise CgroupError(
            f"unable to set memory limit to {value}: it is above the memory+swap limit"
            " (set linux.resources.memory.swap too)"
        ) from err
    if file == "memory.use_hierarchy":
        warnings.append(f"memory.use_hierarchy cannot be set to {value} on this kernel; ignored")
        return
    raise CgroupError(f"cannot write {value!r} to {directory}/{file}: {err.strerror}") from err


def _enable_controllers(directory: str) -> None:
    """Enable every available controller for ``directory``'s children (as runc)."""
    available = (_read_opt(f"{directory}/cgroup.controllers") or "").split()
    enabled = set((_read_opt(f"{directory}/cgroup.subtree_control") or "").split())
    missing = [c for c in available if c not in enabled]
    if not missing:
        return
    path = f"{directory}/cgroup.subtree_control"
    try:
        _write(path, " ".join("+" + c for c in missing))
    except OSError:
        for ctl in missing:  # one by one: some may be refused (threaded, busy)
            try:
                _write(path, "+" + ctl)
            except OSError:
                pass


def _cpuset_inherit(parent: str, child: str) -> None:
    """A new v1 cpuset cgroup starts with empty cpus/mems: copy the parent's."""
    for name in ("cpuset.cpus", "cpuset.mems"):
        mine = _read_opt(f"{child}/{name}")
        if mine is None or mine.strip():
            continue  # set already (or not a cpuset directory at all)
        theirs = (_read_opt(f"{parent}/{name}") or "").strip()
        if theirs:
            try:
                _write(f"{child}/{name}", theirs)
            except OSError as err:
                raise CgroupError(f"cannot write {child}/{name}: {err.strerror}") from err


def _v1_freeze(directory: str) -> None:
    """Write FROZEN until freezer.state says FROZEN (runc's loop, including its
    periodic thaw that lets a task stuck in vfork make progress)."""
    path = f"{directory}/freezer.state"
    try:
        for i in range(1000):
            if i % 50 == 49:
                _write(path, "THAWED")
                time.sleep(0.01)
            _write(path, "FROZEN")
            if i % 25 == 24:
                time.sleep(0.00001)
            state = _read(path).strip()
            if state == "FROZEN":
                return
            if state != "FREEZING":
                raise CgroupError(f"unexpected freezer state {state!r} while freezing {directory}")
    except OSError as err:
        _safe_thaw(path)
        raise CgroupError(f"cannot freeze {directory}: {err.strerror}") from err
    _safe_thaw(path)
    raise CgroupError(f"unable to freeze {directory}")


def _safe_thaw(path: str) -> None:
    try:
        _write(path, "THAWED")
    except OSError:
        pass


def _v2_freeze(directory: str, frozen: bool) -> None:
    path = f"{directory}/cgroup.freeze"
    try:
        _write(path, "1" if frozen else "0")
    except FileNotFoundError as err:
        if not frozen:
            return
        raise CgroupError("the kernel has no cgroup v2 freezer (cgroup.freeze)") from err
    except OSError as err:
        raise CgroupError(f"cannot write {path}: {err.strerror}") from err
    if not frozen:
        return
    # cgroup.events says "frozen 1" once every task has stopped.
    delay = 0.0005
    deadline = time.monotonic() + 10
    while True:
        events = _read_opt(f"{directory}/cgroup.events") or ""
        if "frozen 1" in events:
            return
        if time.monotonic() > deadline:
            _v2_freeze(directory, False)
            raise CgroupError(f"timed out waiting for {directory} to freeze")
        time.sleep(delay)
        delay = min(delay * 2, 0.01)


# ---------------------------------------------------------------- constructors


def manager_for_create(
    container_id: str,
    cgroups_path: str | None,
    *,
    systemd: bool = False,
    rootless: bool = False,
    resources: Mapping[str, Any] | None = None,
    annotations: Mapping[str, Any] | None = None,
    cgroup_root: str = "/sys/fs/cgroup",
    proc_root: str = "/proc",
) -> CgroupManager | None:
    """The manager for a new container; nothing is created yet (``create()`` does).

    ``cgroups_path``: ``linux.cgroupsPath`` (None or "" for the default
    ``/pyoci/<id>``; with ``systemd``, ``slice:prefix:name``, see
    ``pyoci.cgroups.systemd``).  Returns None only when ``rootless`` and no
    cgroup is writable and no resources are requested.  Raises
    ``CgroupError`` when the resources cannot be applied on this host.
    ``annotations``: the config's, for systemd's ``org.systemd.property.*``.
    """
    from pyoci.cgroups import layout
    from pyoci.cgroups import resources as R

    if systemd:
        from pyoci.cgroups import systemd as S

        return S.manager_for_create(
            container_id,
            cgroups_path,
            rootless=rootless,
            resources=resources,
            annotations=annotations,
            cgroup_root=cgroup_root,
            proc_root=proc_root,
        )
    if not container_id or "/" in container_id or container_id in (".", ".."):
        raise CgroupError(f"invalid container id for a cgroup name: {container_id!r}")
    if cgroups_path and ":" in cgroups_path and not cgroups_path.startswith("/"):
        parts = cgroups_path.split(":")
        if len(parts) == 3:
            raise CgroupError(
                f"cgroupsPath {cgroups_path!r} is in systemd's slice:prefix:name form,"
                " which needs --systemd-cgroup"
            )
    hosts = layout.detect(cgroup_root, proc_root)
    default = not cgroups_path
    inner = (
        f"/{DEFAULT_PARENT}/{container_id}" if default else layout.clean_inner(cgroups_path or "")
    )
    if inner in ("", "/"):
        raise CgroupError(f"cgroupsPath {cgroups_path!r} does not name a cgroup")
    own = None if inner.startswith("/") else layout.own_cgroups(proc_root)

    mounts: dict[str, str] = {}
    v1: dict[str, str] = {}
    for hier in hosts.v1:
        directory = layout.hierarchy_dir(hier, inner, own)
        _check_inside(directory, hier.mountpoint, cgroups_path)
        mounts[directory] = hier.mountpoint
        for ctl in hier.controllers:
            v1[ctl] = directory
    unified = None
    v2: list[str] = []
    if hosts.unified is not None:
        unified = layout.hierarchy_dir(hosts.unified, inner, own)
        _check_inside(unified, hosts.unified.mountpoint, cgroups_path)
        mounts[unified] = hosts.unified.mountpoint
        v2 = [c for c in hosts.unified.controllers if c not in v1]
    owned = [d.rsplit("/", 1)[0] for d in mounts] if default else []

    if rootless:
        usable = {d: m for d, m in mounts.items() if _writable(d, m)}
        if not usable:
            if R.has_limits(resources):
                raise CgroupError(
                    "rootless container: resources were requested but no cgroup under"
                    f" {cgroup_root} is writable by this user (delegate one, e.g. with systemd)"
                )
            return None
        mounts = usable
        v1 = {c: d for c, d in v1.items() if d in usable}
        if unified not in usable:
            unified, v2 = None, []
        owned = [p for p in owned if any(d.startswith(p + "/") for d in usable)]

    mgr = FsManager(hosts.mode, mounts, v1, unified, v2, owned, rootless)
    if resources:
        mgr.validate(resources)
    return mgr


def _check_inside(directory: str, mountpoint: str, cgroups_path: str | None) -> None:
    if directory == mountpoint:
        raise CgroupError(
            f"cgroupsPath {cgroups_path!r} resolves to the root of the hierarchy {mountpoint}"
        )
    if not directory.startswith(mountpoint + "/"):
        raise CgroupError(f"cgroupsPath {cgroups_path!r} escapes the hierarchy {mountpoint}")


def _writable(directory: str, mountpoint: str) -> bool:
    """Can this user create (or join) ``directory``?  Checks the nearest existing one."""
    path = directory
    while len(path) >= len(mountpoint):
        if lean_os.isdir(path):
            if path == directory:
                return posix.access(f"{path}/cgroup.procs", posix.W_OK)
            return posix.access(path, posix.W_OK | posix.X_OK)
        path = path.rsplit("/", 1)[0]
    return False


def manager_from_record(
    record: Mapping[str, Any], cgroup_root: str = "/sys/fs/cgroup"
) -> CgroupManager:
    """Rebuild the manager ``create`` saved with ``record()``.  No file is read."""
    if record.get("driver") == "systemd":
        from pyoci.cgroups.systemd import manager_from_record as systemd_from_record

        return systemd_from_record(record, cgroup_root)
    return fs_from_record(record, cgroup_root)


def fs_from_record(record: Mapping[str, Any], cgroup_root: str = "/sys/fs/cgroup") -> FsManager:
    """``manager_from_record`` for the cgroupfs driver's record."""
    if record.get("driver", "cgroupfs") != "cgroupfs":
        raise CgroupError(f"unknown cgroup driver {record.get('driver')!r} in the saved state")
    try:
        mounts = {str(k): str(v) for k, v in record["mounts"].items()}
        v1 = {str(k): str(v) for k, v in record.get("v1", {}).items()}
        unified = record.get("unified")
        v2 = [str(c) for c in record.get("v2", [])]
        owned = [str(p) for p in record.get("owned", [])]
        mode = str(record["mode"])
    except (KeyError, AttributeError, TypeError) as err:
        raise CgroupError(f"malformed cgroup record in the saved state: {err}") from err
    top = cgroup_root.rstrip("/") + "/"
    for path in [*mounts, *mounts.values(), *v1.values(), *owned, *([unified] if unified else [])]:
        if not (path + "/").startswith(top) or "/../" in path + "/":
            raise CgroupError(f"cgroup path {path!r} in the saved state is outside {cgroup_root}")
    return FsManager(
        mode,
        mounts,
        v1,
        str(unified) if unified else None,
        v2,
        owned,
        bool(record.get("rootless", False)),
    )
