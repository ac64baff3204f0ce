"""The systemd cgroup driver (``--systemd-cgroup``), as runc has it.

A container's cgroup is a transient scope ``<prefix>-<name>.scope`` in a
slice, started over D-Bus with ``StartTransientUnit`` (``Delegate=yes``, the
first process's pid) when ``create`` adds stage 1 to the cgroup; systemd
moves the process there and creates the directory.  Every file operation is
then the cgroupfs manager's (``FsManager``) on the scope's directories, as
runc's systemd managers are "backed by the fs driver":

* resources (``apply``/``update``): ``SetUnitProperties(runtime=true)`` with
  each limit systemd has a property for (``systemd_props``), *then* the same
  cgroupfs writes as the fs driver.  systemd must know every limit, or a
  ``systemctl daemon-reload`` re-applies its own view and undoes ours.
* v1/hybrid hosts: systemd creates the scope's directory in the hierarchies
  it manages; the others are made and joined through the files (runc
  ``joinCgroups``).
* pause/resume, ``kill --all``, ps, stats: the files (as runc, crun, youki).
* destroy: ``StopUnit`` (waiting for its job), ``ResetFailedUnit`` (a failed
  scope otherwise lingers, runc #3780), then the directories, recursively.

The D-Bus client (``pyoci.dbus``) is imported only by what talks to systemd:
``create``, ``update`` and ``delete``.  ``state``, ``start``, ``kill``, ``ps``,
``pause`` rebuild this manager from the state and only touch files.
"""

from __future__ import annotations

import posix

from pyoci.cgroups.manager import FsManager
from pyoci.errors import CgroupError
from pyoci.util import lean_os, log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from pyoci.cgroups.systemd_props import Property, UnitSpec
    from pyoci.dbus.systemd1 import Systemd

SYSTEMD_RUN_DIR = "/run/systemd/system"
UNIT_EXISTS = "org.freedesktop.systemd1.UnitExists"
NO_SYSTEMD = "systemd not running on this host, cannot use systemd cgroups manager"
ROOTLESS_V1 = "cannot use rootless systemd cgroups manager on cgroup v1"
ROOTLESS_HINT = (
    " (hint: for rootless containers, maybe you need to install dbus-user-session package,"
    " see https://github.com/opencontainers/runc/blob/main/docs/cgroup-v2.md)"
)


class SystemdManager:
    """Implements ``pyoci.cgroups.CgroupManager``: a systemd unit plus the
    cgroupfs manager of its directories."""

    __slots__ = (
        "_connect",
        "_sd",
        "_started",
        "_version",
        "annotations",
        "container_id",
        "fs",
        "pending",
        "proc_root",
        "resources",
        "rootless",
        "spec",
    )

    def __init__(
        self,
        fs: FsManager,
        spec: UnitSpec,
        container_id: str,
        *,
        rootless: bool = False,
        pending: bool = False,
        annotations: list[Property] | None = None,
        resources: Mapping[str, Any] | None = None,
        connect: Callable[[], Systemd] | None = None,
        proc_root: str = "/proc",
    ) -> None:
        self.fs = fs
        self.spec = spec
        self.container_id = container_id
        self.rootless = rootless
        # True for create's manager until its unit is started by add_process;
        # managers rebuilt from the state are never pending.
        self.pending = pending
        self.annotations = annotations or []
        self.resources = resources
        self.proc_root = proc_root
        self._connect = connect
        self._sd: Systemd | None = None
        self._version: int | None = None
        self._started = False  # this command started (or may have started) the unit

    def __repr__(self) -> str:
        return f"SystemdManager({self.spec.unit!r} in {self.spec.slice!r}, {self.fs!r})"

    @property
    def unit(self) -> str:
        return self.spec.unit

    # ------------------------------------------------------------ D-Bus

    def _systemd(self) -> Systemd:
        if self._sd is None:
            from pyoci.dbus import DBusError

            try:
                if self._connect is not None:
                    self._sd = self._connect()
                else:
                    from pyoci.dbus.systemd1 import Systemd

                    self._sd = Systemd.connect(user=self.rootless)
            except DBusError as err:
                # (connect(user=True) words runc's rootless hint itself)
                hint = ROOTLESS_HINT if self.rootless and "hint:" not in str(err) else ""
                raise CgroupError(
                    f"unit {self.unit}: failed to connect to systemd over D-Bus: {err}{hint}"
                ) from None
        return self._sd

    def version(self) -> int:
        """systemd's version (0 when unknown: every version-gated property is left out)."""
        if self._version is None:
            from pyoci.dbus import DBusError

            try:
                self._version = int(self._systemd().version())
            except DBusError as err:
                log.warning(f"unable to get systemd version: {err}")
                self._version = 0
        return self._version

    def close(self) -> None:
        if self._sd is not None:
            self._sd.close()
            self._sd = None

    # ------------------------------------------------------------ record

    def record(self) -> dict[str, Any]:
        return {
            "driver": "systemd",
            "unit": self.spec.unit,
            "slice": self.spec.slice,
            "user": self.rootless,
            # False until create has started the unit: a delete after a create
            # killed before that leaves the unit (maybe someone else's) alone
            "started": self._ours(),
            "fs": self.fs.record(),
        }

    def paths(self) -> dict[str, str]:
        return self.fs.paths()

    def dirs(self) -> list[str]:
        return self.fs.dirs()

    def _ours(self) -> bool:
        """False while create has not started the unit: nothing there is ours."""
        return not self.pending or self._started

    # ------------------------------------------------------------ create

    def plan(self) -> None:
        """Nothing to name in advance: systemd makes the scope's directory (and
        the slices above it) and removes them when the unit stops; the record
        names the unit from the start, and says once it is started."""

    def create(self) -> None:
        """Connect (a bus problem fails create before any process exists), then
        runc's guards: a non-empty or frozen cgroup of that name belongs to
        someone else.  The unit itself starts in ``add_process``."""
        sd = self._systemd()
        self.version()
        if self.rootless and self.fs.mode == "v2":
            # the user manager's units live below its own cgroup
            # (/user.slice/user-1000.slice/user@1000.service), as runc's getSliceFull
            from pyoci.dbus import DBusError

            try:
                base = sd.manager_property("ControlGroup")
            except DBusError as err:
                raise CgroupError(
                    f"unit {self.unit}: cannot get the user manager's ControlGroup: {err}"
                ) from None
            if isinstance(base, str) and base.startswith("/") and "/../" not in base + "/":
                self._rebase(base.rstrip("/") + self.spec.cgroup())
        main = self.fs._main()
        if lean_os.isdir(main):
            found = self.fs.pids()
            if found:
                raise CgroupError(
                    f"container's cgroup is not empty: {len(found)} process(es) found"
                    f" (unit {self.unit}, {main})"
                )
            if self.fs.is_frozen():
                raise CgroupError(
                    f"container's cgroup unexpectedly frozen (unit {self.unit}, {main})"
                )

    def add_process(self, pid: int) -> None:
        if not self.pending:
            self.fs.add_process(pid)  # exec: join through the files, as runc <= 1.3
            return
        self._start(pid)
        self.pending = False

    def self_join(self) -> tuple[list[str], str | None]:
        """Nothing: systemd moves stage 1 into the scope (StartTransientUnit)."""
        return [], None

    def spawn_dir(self) -> str | None:
        """None: a scope cannot start empty (systemd refuses a scope without a
        pid), so create starts it with stage 1's pid and systemd moves stage 1
        there; the init stage 1 forks is born in it.  (Spawning the init into
        the scope first would need its directory before systemd makes it.)"""
        return None

    def _start(self, pid: int) -> None:
        from pyoci.cgroups.systemd_props import start_props
        from pyoci.dbus import DBusError, DBusTimeout
        from pyoci.dbus.systemd1 import JobFailed

        sd = self._systemd()
        v2 = self.fs.mode == "v2"
        props = start_props(
            self.container_id,
            self.spec,
            None if self.spec.is_slice else pid,
            v2=v2,
            version=self.version(),
            annotations=self.annotations,
            resources=self.resources,
        )
        for attempt in (1, 2):
            try:
                sd.start_transient_unit(self.unit, props)
                self._started = True
                break
            except JobFailed as err:
                self._started = True  # the unit exists now, failed: delete resets it
                self._reset_failed(sd)
                raise CgroupError(
                    f"error creating systemd unit {self.unit}: got {err.result or err}"
                ) from None
            except DBusTimeout as err:
                self._started = True
                self._reset_failed(sd)
                raise CgroupError(
                    f"timeout waiting for systemd to create {self.unit}: {err}"
                ) from None
            except DBusError as err:
                if err.name != UNIT_EXISTS:
                    raise CgroupError(f"unable to start unit {self.unit}: {err}") from None
                found = self.fs.pids() if lean_os.isdir(self.fs._main()) else []
                if found:
                    raise CgroupError(
                        f"container's cgroup is not empty: {len(found)} process(es) found"
                        f" (unit {self.unit} already exists)"
                    ) from None
                if attempt == 2:
                    raise CgroupError(
                        f"unable to start unit {self.unit}: it already exists ({err})"
                    ) from None
                # A leftover (failed) unit of the same name: let systemd drop
                # it, and retry once (runc #3780).
                self._reset_failed(sd)
        self._after_start(pid)

    def _reset_failed(self, sd: Systemd) -> None:
        from pyoci.dbus import DBusError

        try:
            sd.reset_failed_unit(self.unit)
        except DBusError as err:
            log.warning(f"unable to reset failed unit {self.unit}: {err}")

    def _after_start(self, pid: int) -> None:
        """Check that systemd really put ``pid`` in the unit (runc #2310: it may
        fail silently and leave the container in the caller's cgroup), then
        make and join what systemd does not manage, as the fs driver would."""
        held: set[str] = set()
        if not self.spec.is_slice:
            from pyoci.cgroups.manager import _read_opt

            text = _read_opt(f"{self.proc_root}/{pid}/cgroup")
            if text is None:
                raise CgroupError(f"unit {self.unit}: process {pid} exited while joining it")
            actual = self._systemd_path(text)
            expected = self.spec.cgroup()
            if self.rootless and actual.endswith(expected) and self.fs.mode == "v2":
                self._rebase(actual)
            elif actual != expected:
                raise CgroupError(
                    f"systemd did not move process {pid} into unit {self.unit}:"
                    f" it is in {actual}, not {expected}"
                )
            # what systemd moved it into (the scope on cgroup2, name=systemd
            # and the controllers it manages on v1) is not written again
            held = self.fs.dirs_holding(text)
        self.fs.create(check_existing=False)
        self.fs.add_process(pid, skip=held)

    def _systemd_path(self, text: str) -> str:
        """A process's cgroup as systemd sees it, from its ``/proc/PID/cgroup``:
        the cgroup2 line ("0::") on a v2 host, the ``name=systemd`` one on
        v1/hybrid."""
        want_v2 = self.fs.mode == "v2"
        for line in text.splitlines():
            _, ctl, path = [*line.split(":", 2), "", ""][:3]
            if (want_v2 and line.startswith("0::")) or (not want_v2 and ctl == "name=systemd"):
                return path
        return ""

    def _rebase(self, actual: str) -> None:
        """Rootless: the unit lives under the user manager's cgroup
        (``/user.slice/user-1000.slice/user@1000.service/...``)."""
        assert self.fs.unified is not None
        mountpoint = self.fs.mounts[self.fs.unified]
        path = lean_os.normpath(mountpoint + "/" + actual.lstrip("/"))
        self.fs.mounts = {path: mountpoint}
        self.fs.unified = path

    # ------------------------------------------------------------ resources

    def validate(self, resources: Mapping[str, Any]) -> list[str]:
        from pyoci.cgroups.systemd_props import resource_props

        warnings = self.fs.validate(resources)
        # conversion errors (a bad cpuset list, unified value) are config errors
        resource_props(resources, v2=self.fs.mode == "v2", version=1 << 30, warnings=[])
        return warnings

    def apply(self, resources: Mapping[str, Any] | None) -> list[str]:
        return self._set(resources or {}, initial=True)

    def update(self, resources: Mapping[str, Any]) -> list[str]:
        return self._set(resources, initial=False)

    def _set(self, res: Mapping[str, Any], *, initial: bool) -> list[str]:
        from pyoci.cgroups.systemd_props import resource_props

        if not isinstance(res, dict):
            raise CgroupError("linux.resources must be an object")
        warnings: list[str] = []
        v2 = self.fs.mode == "v2"
        rules = None
        with_devices = (initial or "devices" in res) and not self.rootless
        if with_devices:
            from pyoci.cgroups import devices

            rules = devices.container_rules(res.get("devices"))
        version = self.version()
        proc_devices = None
        if with_devices and version < 240:
            from pyoci.cgroups.manager import _read_opt

            proc_devices = _read_opt(f"{self.proc_root}/devices")
        props, fs_res = resource_props(
            res,
            v2=v2,
            version=version,
            warnings=warnings,
            devices=with_devices,
            device_rules=rules,
            proc_devices=proc_devices,
        )
        if initial:
            from pyoci.cgroups.systemd_props import update_placeholders

            props += update_placeholders(
                props, v2=v2, version=version,
                default_tasks_max=self._default_tasks_max(props),
            )  # fmt: skip
        if props:
            self._set_unit_properties(props, freeze=with_devices and not v2)
        warnings += self.fs.apply(fs_res) if initial else self.fs.update(fs_res)
        return warnings

    def _default_tasks_max(self, props: list[Property]) -> int | None:
        """The manager's DefaultTasksMax (what the unit has without TasksMax), when
        ``props`` sets no TasksMax; None when not needed or unknown."""
        if any(name == "TasksMax" for name, _sig, _value in props):
            return None
        from pyoci.dbus import DBusError

        try:
            value = self._systemd().manager_property("DefaultTasksMax")
        except DBusError as err:
            log.debug(f"DefaultTasksMax: {err}")
            return None
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def _set_unit_properties(self, props: list[Property], *, freeze: bool) -> None:
        """SetUnitProperties; on v1, with the container frozen while systemd
        rewrites its device rules (it denies everything first: runc
        ``freezeBeforeSet``)."""
        from pyoci.cgroups.systemd_props import dropin_order
        from pyoci.dbus import DBusError

        sd = self._systemd()
        props = dropin_order(props)
        froze = False
        if freeze and "freezer" in self.fs.v1 and not self.fs.is_frozen() and self.fs.pids():
            self.fs.freeze()
            froze = True
        try:
            sd.set_unit_properties(self.unit, props)
        except DBusError as err:
            raise CgroupError(f"unable to set unit properties of {self.unit}: {err}") from None
        finally:
            if froze:
                try:
                    self.fs.thaw()
                except CgroupError as err:
                    log.warning(f"thaw after SetUnitProperties: {err}")

    # ------------------------------------------------------------ files only

    def pids(self) -> list[int]:
        return self.fs.pids() if self._ours() else []

    def kill_all(self, signal: int) -> None:
        if self._ours():
            self.fs.kill_all(signal)

    def freeze(self) -> None:
        self.fs.freeze()

    def thaw(self) -> None:
        self.fs.thaw()

    def is_frozen(self) -> bool:
        return self.fs.is_frozen()

    def stats(self) -> dict[str, Any]:
        return self.fs.stats()

    def oom_kill_count(self) -> int:
        return self.fs.oom_kill_count()

    def oom_events_file(self) -> str | None:
        return self.fs.oom_events_file()

    # ------------------------------------------------------------ destroy

    def destroy(self) -> None:
        """StopUnit + wait, ResetFailedUnit, then the directories (systemd < 240
        leaves sub-cgroups, and v1 hierarchies it does not manage)."""
        if not self._ours():
            return  # create failed before starting the unit: nothing of ours exists
        from pyoci.dbus import DBusError, DBusTimeout

        try:
            sd: Systemd | None = self._systemd()
        except CgroupError as err:
            log.warning(f"cannot stop {self.unit}: {err}")
            sd = None
        if sd is not None:
            try:
                result = sd.stop_unit(self.unit)
                if result not in (None, "done"):
                    log.warning(f"error removing unit {self.unit}: got {result}; continuing")
            except DBusTimeout:
                raise CgroupError(
                    f"timed out while waiting for systemd to remove {self.unit}"
                ) from None
            except DBusError as err:
                log.debug(f"stop {self.unit}: {err}")
            self._reset_failed(sd)
        self.fs.destroy()


# ---------------------------------------------------------------- constructors


def systemd_running(run_dir: str = SYSTEMD_RUN_DIR) -> bool:
    """sd_booted(3): ``/run/systemd/system`` is a directory (not a symlink)."""
    try:
        st = posix.lstat(run_dir)
    except OSError:
        return False
    return st.st_mode & 0o170000 == 0o040000


def manager_for_create(
    container_id: str,
    cgroups_path: str | None,
    *,
    rootless: bool = False,
    resources: Mapping[str, Any] | None = None,
    annotations: Mapping[str, Any] | None = None,
    cgroup_root: str = "/sys/fs/cgroup",
    proc_root: str = "/proc",
    run_dir: str = SYSTEMD_RUN_DIR,
    connect: Callable[[], Systemd] | None = None,
) -> SystemdManager:
    """The systemd manager of a new container; nothing is started yet.  Config
    errors (cgroupsPath, annotations, resources) come before host checks, as
    in runc (its spec conversion runs first)."""
    from pyoci.cgroups import layout
    from pyoci.cgroups import manager as M
    from pyoci.cgroups.systemd_props import annotation_props, parse_cgroups_path

    if not container_id or "/" in container_id or container_id in (".", ".."):
        raise CgroupError(f"invalid container id for a cgroup name: {container_id!r}")
    spec = parse_cgroups_path(cgroups_path, container_id, rootless=rootless)
    props = annotation_props(annotations)
    if not systemd_running(run_dir):
        raise CgroupError(NO_SYSTEMD)
    hosts = layout.detect(cgroup_root, proc_root)
    if rootless and hosts.mode != "v2":
        raise CgroupError(ROOTLESS_V1)
    if hosts.mode != "v2" and not any("devices" in h.controllers for h in hosts.v1):
        raise CgroupError("the devices cgroup (v1) is not mounted: systemd driver needs it")
    fs = M.manager_for_create(
        container_id,
        spec.cgroup(),
        resources=None,
        cgroup_root=cgroup_root,
        proc_root=proc_root,
    )
    assert isinstance(fs, FsManager)  # (None only for rootless cgroupfs managers)
    fs.rootless = rootless
    mgr = SystemdManager(
        fs,
        spec,
        container_id,
        rootless=rootless,
        pending=True,
        annotations=props,
        resources=resources,
        connect=connect,
        proc_root=proc_root,
    )
    if resources:
        mgr.validate(resources)
    return mgr


def manager_from_record(
    record: Mapping[str, Any], cgroup_root: str = "/sys/fs/cgroup"
) -> SystemdManager:
    """Rebuild from ``record()``: no D-Bus, no file read (that waits for a
    method that needs them)."""
    from pyoci.cgroups.manager import fs_from_record
    from pyoci.cgroups.systemd_props import UnitSpec

    unit, slice_, fs = record.get("unit"), record.get("slice"), record.get("fs")
    if (
        not isinstance(unit, str)
        or not isinstance(slice_, str)
        or not isinstance(fs, dict)
        or not unit
        or "/" in unit
        or "/" in slice_
    ):
        raise CgroupError("malformed systemd cgroup record in the saved state")
    return SystemdManager(
        fs_from_record(fs, cgroup_root),
        UnitSpec(slice_, unit),
        "",
        rootless=bool(record.get("user", False)),
        # a create killed before it started the unit: nothing there is ours
        pending=record.get("started", True) is False,
    )
