"""A scriptable fake ``org.freedesktop.systemd1`` for tests/integration/test_dbus_daemon.py,
written with pyoci's own wire module.

    fake_systemd1.py --bus ADDRESS      own the name org.freedesktop.systemd1 on a bus
    fake_systemd1.py --listen PATH      serve peer-to-peer on a unix socket, like
                                        /run/systemd/private (server side of SASL, no Hello)

Prints "ready" once it serves.  On a bus, it reconnects (and owns the name again) when
the bus daemon restarts, keeping its units.  What a job call does is chosen by the unit name's first
word (before the first "-"):

    exists-…   StartTransientUnit answers org.freedesktop.systemd1.UnitExists
    failed-…   the job ends with result "failed" (the unit stays loaded, "failed")
    early-…    JobRemoved is sent BEFORE the method reply
    noise-…    unrelated signals and another job's JobRemoved come first
    noreply-…  never replies
    slow-…     replies after 1 s
    late-…     replies after 1.5 s (the caller gave up; the reply comes to a later call)
    nojob-…    replies, but no JobRemoved ever
    ping-…     before replying, calls org.freedesktop.DBus.Peer.Ping on the caller (who
               must answer it while it waits for its own reply)
    spoof-…    another peer of the bus first sends the caller a forged JobRemoved "done"
               (unicast), then the job really fails
    hang-…     (GetUnit) no reply until the fake has reconnected to a restarted bus
    hangup-…   (GetUnit, peer to peer) the first time, the fake closes the connection
    dropstart-… the unit is started, but no reply until the fake has reconnected
    dropjob-…  the reply comes, the job runs until 0.3 s after the fake has reconnected
               and ends without a JobRemoved (its object is gone, the unit "active")
    anything else: the job is "done" and the unit "active".

With ``--cgroups`` (cgroup v1 or hybrid hosts), any other scope gets its cgroups as systemd
252 makes them (see "--cgroups" below): tests/integration/test_systemd_hybrid.py.

``org.pyoci.Test.Units`` returns ``repr()`` of the fake's units and of the calls it got.
"""

from __future__ import annotations

import _socket
import argparse
import os
import signal
import stat
import sys
import time

from pyoci.dbus import DBusError, DBusTimeout
from pyoci.dbus.connection import Connection
from pyoci.dbus.systemd1 import MANAGER, PATH, PROPERTIES, unit_path
from pyoci.dbus.wire import ERROR, METHOD_CALL, METHOD_RETURN, SIGNAL, Message

VERSION = "v252.22-1~deb12u1"
NO_SUCH_UNIT = "org.freedesktop.systemd1.NoSuchUnit"

units: dict[str, dict[str, object]] = {}
calls: list[tuple[str, tuple[object, ...]]] = []
job_counter = [100]
spoofer: list[Connection] = []
# bus connections made so far (1: the first; more after the bus daemon restarted), when the
# last one was made, and the dropjob- jobs: job path -> unit name
generation = [0]
connected_at = [0.0]
pending_jobs: dict[str, str] = {}
hung_up: set[str] = set()


class HangUp(Exception):
    """Close this connection now (as systemd does on daemon-reexec)."""
# the uid the private socket rejects in AUTH EXTERNAL (the claim of a process in a nested
# user namespace): then only the empty identity gets in
REJECTED_UID = "4242"


def reply(conn: Connection, msg: Message, signature: str = "",
          body: tuple[object, ...] = ()) -> None:
    conn.send(Message(METHOD_RETURN, reply_serial=msg.serial, destination=msg.sender,
                      signature=signature, body=body))


def error(conn: Connection, msg: Message, name: str, text: str) -> None:
    conn.send(Message(ERROR, reply_serial=msg.serial, destination=msg.sender,
                      error_name=name, signature="s", body=(text,)))


def job_removed(conn: Connection, job_id: int, job: str, unit: str, result: str) -> None:
    conn.send(Message(SIGNAL, path=PATH, interface=MANAGER, member="JobRemoved",
                      signature="uoss", body=(job_id, job, unit, result)))


def new_job() -> tuple[int, str]:
    job_counter[0] += 1
    return job_counter[0], f"{PATH}/job/{job_counter[0]}"


def kind(name: str) -> str:
    return name.split("-", 1)[0]


# ---------------------------------------------------------------- --cgroups: the unit's cgroups
#
# What systemd 252 does with a transient scope's cgroups on a cgroup v1 or hybrid host
# (src/core/cgroup.c, src/basic/cgroup-util.c, from memory of those sources; only what the
# runtimes' calls reach):
#
# - the scope is realized at the start job: its slices first, parents first
#   (``a-b.slice`` -> ``/a.slice/a-b.slice``), then ``<slice path>/<unit>``, made in the
#   ``name=systemd`` hierarchy (on hybrid also in the cgroup2 one: ``cg_create``) and in
#   the v1 hierarchies of the controllers systemd handles (CGROUP_MASK_V1: cpu, cpuacct,
#   blkio, memory, devices, pids).  With ``Delegate=yes`` (all controllers delegated on
#   v1) and the runtimes' accounting properties, every one of them is in the target mask.
#   The others (cpuset, freezer, net_cls, perf_event, hugetlb...) are not touched: the
#   runtime joins them itself.
# - ``PIDs`` are attached in every one of those hierarchies (``cg_attach_everywhere``);
#   a scope without PIDs fails ("No PIDs left to attach to the scope's control group").
# - ``cgroup_context_apply`` writes the unit's settings to the v1 files of each realized
#   controller: cpu.shares (CPUShares, else 1024), cpu.cfs_period_us (CPUQuotaPeriodUSec,
#   else 100 ms), cpu.cfs_quota_us (CPUQuotaPerSecUSec * period, at least 1 ms, or -1);
#   memory.limit_in_bytes (MemoryLimit, or -1); pids.max (TasksMax, default the
#   manager's DefaultTasksMax = 15 % of the system's task limit, or "max"); blkio.weight
#   when BlockIOWeight is set (and the file exists: it does not with the mq schedulers);
#   BlockIO{Read,Write}Bandwidth; devices: "a" to devices.deny when there is a DeviceAllow
#   list or the policy is not auto (else "a" to devices.allow), then for "closed" (or
#   auto with a list) the standard devices, then each DeviceAllow entry.
# - SetUnitProperties changes the settings and re-applies only the controllers whose
#   properties it changed (unit_invalidate_cgroup with the property's mask); done here
#   before the reply (systemd does it in the same event-loop turn, just after).
# - StopUnit: SIGTERM + SIGCONT to every process in the scope's cgroup, SIGKILL after
#   TimeoutStopUSec (90 s), then the unit's directories are removed in the hierarchies
#   systemd manages (``cg_trim_everywhere``, recursive); not the slices (they stay
#   active), not the other hierarchies' directories.
# - Reload (systemctl daemon-reload): every unit's cgroup is realized again, all its
#   settings written anew: a limit the runtime wrote only to the files is undone.
# - RuntimeMaxUSec: a scope running longer is stopped as above and stays "failed"
#   (not garbage-collected) until ResetFailedUnit; StopUnit leaves a failed unit failed.
# - a scope whose processes are all gone is stopped the same way by systemd itself (on
#   hybrid it watches the cgroup2 ``cgroup.events``) and garbage-collected: its
#   directories vanish and GetUnit says NoSuchUnit.  Here checked every 0.1 s.
#
# Simplified: the slices' own settings are not written (a new directory has the defaults
# systemd would write); a stop runs to its end before the next call is read (systemd goes
# on serving); a property outside SCOPE_PROPS is refused ("Cannot set property X, or
# unknown property.", as systemd refuses unknown ones); the fake's instrumentation
# (``frozen_at_devices``: freezer.state of the scope whenever SetUnitProperties changed
# its device rules) is no systemd behaviour.

SYSTEMD_V1 = ("cpu", "cpuacct", "blkio", "memory", "devices", "pids")
USEC = 1_000_000
INFINITY = (1 << 64) - 1
# the properties this fake accepts for a scope (all real systemd 252 ones); anything else is
# refused as systemd does
SCOPE_PROPS = frozenset((
    "Description", "Slice", "Delegate", "DelegateControllers", "PIDs", "DefaultDependencies",
    "Wants", "After", "Before", "MemoryAccounting", "CPUAccounting", "BlockIOAccounting",
    "IOAccounting", "TasksAccounting", "IPAccounting", "MemoryLimit", "MemoryMin", "MemoryLow",
    "MemoryHigh", "MemoryMax", "MemorySwapMax", "CPUShares", "StartupCPUShares", "CPUWeight",
    "StartupCPUWeight", "CPUQuotaPerSecUSec", "CPUQuotaPeriodUSec", "AllowedCPUs",
    "AllowedMemoryNodes", "TasksMax", "BlockIOWeight", "StartupBlockIOWeight",
    "BlockIODeviceWeight", "BlockIOReadBandwidth", "BlockIOWriteBandwidth", "IOWeight",
    "IODeviceWeight", "DeviceAllow", "DevicePolicy", "TimeoutStopUSec", "RuntimeMaxUSec",
    "KillMode", "KillSignal", "SendSIGKILL", "CollectMode", "OOMPolicy",
))
# the unit name's first words that script the plain fake (see the top)
SCRIPTED = frozenset(("exists", "failed", "early", "noise", "noreply", "slow", "late", "nojob",
                      "ping", "spoof", "hang", "hangup", "dropstart", "dropjob"))
STATIC_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
                  "/dev/tty", "/dev/ptmx")
# property -> the controller it invalidates
PROP_CONTROLLER = {
    "CPUShares": "cpu", "CPUQuotaPerSecUSec": "cpu", "CPUQuotaPeriodUSec": "cpu",
    "CPUWeight": "cpu", "MemoryLimit": "memory", "MemoryMax": "memory", "TasksMax": "pids",
    "BlockIOWeight": "blkio", "BlockIODeviceWeight": "blkio", "BlockIOReadBandwidth": "blkio",
    "BlockIOWriteBandwidth": "blkio", "DeviceAllow": "devices", "DevicePolicy": "devices",
}


class Cgroups:
    """The hierarchies as systemd sees them: name=systemd, the cgroup2 one on hybrid, and
    the v1 ones of the controllers it manages."""

    def __init__(self, mountinfo: str = "/proc/self/mountinfo") -> None:
        self.systemd = ""
        self.unified = ""
        self.v1: dict[str, str] = {}  # controller -> mountpoint
        self.freezer = ""  # (not systemd's: only watched, for the tests)
        with open(mountinfo) as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fstype, _src, opts = [*right.split(), "", "", ""][:3]
                mountpoint = left.split()[4]
                if fstype == "cgroup2" and mountpoint.endswith("/unified"):
                    self.unified = mountpoint
                elif fstype == "cgroup":
                    names = opts.split(",")
                    if "name=systemd" in names:
                        self.systemd = mountpoint
                    if "freezer" in names:
                        self.freezer = mountpoint
                    for ctl in SYSTEMD_V1:
                        if ctl in names:
                            self.v1.setdefault(ctl, mountpoint)
        if not self.systemd:
            raise SystemExit("fake systemd --cgroups: no name=systemd hierarchy is mounted")

    def mountpoints(self) -> list[str]:
        """Where systemd makes (and trims) a unit's cgroup, each hierarchy once."""
        out = [self.systemd] + ([self.unified] if self.unified else [])
        for mountpoint in self.v1.values():
            if mountpoint not in out:
                out.append(mountpoint)
        return out

    def tasks_max_default(self) -> int:
        """DefaultTasksMax=15%: of min(threads-max, pid_max - 1, root pids.max)."""
        values = []
        for path in ("/proc/sys/kernel/threads-max", "/proc/sys/kernel/pid_max"):
            with open(path) as f:
                values.append(int(f.read()))
        values[1] -= 1
        return min([*values, 4194303]) * 15 // 100


def slice_path(name: str) -> str:
    """``a-b.slice`` -> ``/a.slice/a-b.slice``; ``-.slice`` -> ``""``."""
    if name == "-.slice":
        return ""
    stem = name[: -len(".slice")]
    parts = stem.split("-")
    return "".join("/" + "-".join(parts[: i + 1]) + ".slice" for i in range(len(parts)))


def _write(path: str, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as exc:  # systemd logs and goes on (set_attribute_and_warn)
        print(f"fake: {path}: {value.strip()!r}: {exc}", file=sys.stderr, flush=True)


def _procs(directory: str) -> list[int]:
    pids: list[int] = []
    try:
        for root, _dirs, _files in os.walk(directory):
            with open(f"{root}/cgroup.procs") as f:
                pids += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return pids


def _trim(directory: str) -> None:
    for root, dirs, _files in os.walk(directory, topdown=False):
        for d in dirs:
            try:
                os.rmdir(f"{root}/{d}")
            except OSError:
                pass
    try:
        os.rmdir(directory)
    except OSError:
        pass


def _device_rule(path: str, access: str, kind_: str = "") -> str | None:
    """One devices.allow line for a DeviceAllow entry (None: ignored by systemd)."""
    for prefix, t in (("/dev/char/", "c"), ("/dev/block/", "b")):
        # device_path_parse_major_minor(): these are parsed, not looked up (systemd >= 240)
        major, _, minor = path[len(prefix):].partition(":")
        if path.startswith(prefix) and major.isdigit() and minor.isdigit():
            return f"{t} {major}:{minor} {access}"
    if path.startswith("/dev/"):
        try:
            st = os.stat(path)
        except OSError:
            return None
        t = "c" if stat.S_ISCHR(st.st_mode) else "b" if stat.S_ISBLK(st.st_mode) else ""
        if not t:
            return None
        return f"{t} {os.major(st.st_rdev)}:{os.minor(st.st_rdev)} {access}"
    for prefix, t in (("char-", "c"), ("block-", "b")):
        if path.startswith(prefix):
            group = path[len(prefix):]
            if group == "*":
                return f"{t} *:* {access}"
            if group.isdigit():  # a numeric major is taken as such (systemd >= 240)
                return f"{t} {group}:* {access}"
            section = "Character devices:" if t == "c" else "Block devices:"
            with open("/proc/devices") as f:
                text = f.read()
            body = text.split(section, 1)[1].split("\n\n", 1)[0] if section in text else ""
            for line in body.splitlines():
                fields = line.split()
                if len(fields) == 2 and fields[1] == group:
                    return f"{t} {fields[0]}:* {access}"
            return None
    return None


class CgroupUnit:
    """One scope's cgroup settings, as ``cgroup_context_apply`` writes them."""

    def __init__(self, cg: Cgroups, path: str) -> None:
        self.cg = cg
        self.path = path  # "/a.slice/a-b.slice/x.scope"
        self.settings: dict[str, object] = {}
        self.device_allow: list[tuple[str, str]] = []

    def set(self, props: list[tuple[str, tuple[str, object]]]) -> set[str]:
        """Take properties; the controllers to re-apply."""
        touched: set[str] = set()
        for name, (_sig, value) in props:
            if name == "DeviceAllow":
                if not value:
                    self.device_allow = []
                else:
                    for path, access in value:  # type: ignore[attr-defined]
                        self.device_allow = [(p, a) for p, a in self.device_allow if p != path]
                        self.device_allow.append((path, access))
            else:
                self.settings[name] = value
            if name in PROP_CONTROLLER:
                touched.add(PROP_CONTROLLER[name])
        return touched

    def dir(self, ctl: str) -> str | None:
        mountpoint = self.cg.v1.get(ctl)
        return None if mountpoint is None else mountpoint + self.path

    def apply(self, controllers: set[str]) -> None:
        s = self.settings
        d = self.dir("cpu")
        if d and "cpu" in controllers:
            shares = s.get("CPUShares", INFINITY)
            _write(f"{d}/cpu.shares", f"{1024 if shares == INFINITY else shares}\n")
            period = s.get("CPUQuotaPeriodUSec", INFINITY)
            period = 100000 if period == INFINITY else max(1000, min(int(period), USEC))  # type: ignore[arg-type]
            _write(f"{d}/cpu.cfs_period_us", f"{period}\n")
            quota = s.get("CPUQuotaPerSecUSec", INFINITY)
            _write(f"{d}/cpu.cfs_quota_us", "-1\n" if quota == INFINITY
                   else f"{max(int(quota) * period // USEC, 1000)}\n")  # type: ignore[call-overload]
        d = self.dir("memory")
        if d and "memory" in controllers:
            limit = s.get("MemoryLimit", INFINITY)
            _write(f"{d}/memory.limit_in_bytes", "-1\n" if limit == INFINITY else f"{limit}\n")
        d = self.dir("pids")
        if d and "pids" in controllers:
            tasks = s.get("TasksMax", self.cg.tasks_max_default())
            _write(f"{d}/pids.max", "max\n" if tasks == INFINITY else f"{tasks}\n")
        d = self.dir("blkio")
        if d and "blkio" in controllers:
            weight = s.get("BlockIOWeight", INFINITY)
            if weight != INFINITY and os.path.exists(f"{d}/blkio.weight"):
                _write(f"{d}/blkio.weight", f"{weight}\n")
            for prop, file in (("BlockIOReadBandwidth", "blkio.throttle.read_bps_device"),
                               ("BlockIOWriteBandwidth", "blkio.throttle.write_bps_device")):
                for path, rate in s.get(prop, []):  # type: ignore[attr-defined]
                    try:
                        rdev = os.stat(path).st_rdev
                    except OSError:
                        continue
                    _write(f"{d}/{file}", f"{os.major(rdev)}:{os.minor(rdev)} {rate}\n")
        d = self.dir("devices")
        if d and "devices" in controllers:
            policy = s.get("DevicePolicy", "auto")
            if self.device_allow or policy != "auto":
                _write(f"{d}/devices.deny", "a")
            else:
                _write(f"{d}/devices.allow", "a")
            if policy == "closed" or (policy == "auto" and self.device_allow):
                for path in STATIC_DEVICES:
                    rule = _device_rule(path, "rwm")
                    if rule:
                        _write(f"{d}/devices.allow", rule)
                rule = _device_rule("char-pts", "rw")
                if rule:
                    _write(f"{d}/devices.allow", rule)
            for path, access in self.device_allow:
                rule = _device_rule(path, access)
                if rule:
                    _write(f"{d}/devices.allow", rule)

    def realize(self, pids: list[int]) -> bool:
        """Make the directories (slices first), attach the pids, write the settings.
        False when no pid could be attached."""
        for mountpoint in self.cg.mountpoints():
            os.makedirs(mountpoint + self.path, 0o755, exist_ok=True)
        attached = 0
        for pid in pids:
            ok = True
            for mountpoint in self.cg.mountpoints():
                try:
                    _write_strict(f"{mountpoint}{self.path}/cgroup.procs", f"{pid}\n")
                except OSError:
                    ok = False
            attached += ok
        self.apply(set(SYSTEMD_V1))
        return attached > 0

    def pids(self) -> list[int]:
        return _procs(self.cg.systemd + self.path)

    def populated(self) -> bool:
        if self.cg.unified:
            try:
                with open(f"{self.cg.unified}{self.path}/cgroup.events") as f:
                    return "populated 1" in f.read()
            except OSError:
                return False
        return bool(self.pids())

    def stop(self, timeout_usec: int) -> None:
        """KillMode=control-group: SIGTERM + SIGCONT, SIGKILL after the stop timeout;
        then the directories go (systemd's hierarchies only)."""
        for sig in (signal.SIGTERM, signal.SIGCONT):
            for pid in self.pids():
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
        deadline = time.monotonic() + timeout_usec / USEC
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.pids():
            for pid in self.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            deadline = time.monotonic() + 5
            while self.pids() and time.monotonic() < deadline:
                time.sleep(0.02)
        self.trim()

    def trim(self) -> None:
        for mountpoint in self.cg.mountpoints():
            _trim(mountpoint + self.path)


def _write_strict(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


cgroups: list[Cgroups] = []  # with --cgroups


def handle(conn: Connection, msg: Message) -> None:
    member = msg.member or ""
    calls.append((member, msg.body))
    if msg.interface == "org.pyoci.Test" and member == "Units":
        plain = {n: {k: v for k, v in u.items() if k != "cgroup"} for n, u in units.items()}
        reply(conn, msg, "s", (repr({"units": plain, "calls": calls}),))
        return
    if msg.interface == PROPERTIES and member == "Get" and str(msg.path).startswith(
            PATH + "/job/"):
        job_name = pending_jobs.get(str(msg.path))
        if job_name is not None and generation[0] > 1 and time.monotonic() > connected_at[0] + 0.3:
            del pending_jobs[str(msg.path)]
            units[job_name]["state"] = "active"
            job_name = None
        if job_name is None:
            error(conn, msg, "org.freedesktop.DBus.Error.UnknownObject",
                  f"Unknown object '{msg.path}'.")
        else:
            reply(conn, msg, "v", (("s", "running"),))
        return
    if msg.interface == PROPERTIES and member == "Get":
        iface, prop = msg.body
        if msg.path == PATH:
            values = {"Version": ("s", VERSION), "ControlGroup": ("s", "")}
            if cgroups:
                values["DefaultTasksMax"] = ("t", cgroups[0].tasks_max_default())
            if prop in values:
                reply(conn, msg, "v", (values[prop],))
            else:
                error(conn, msg, "org.freedesktop.DBus.Error.UnknownProperty", f"no {prop}")
            return
        for name, unit in units.items():
            if unit_path(name) == msg.path:
                props = dict(unit["props"])  # type: ignore[call-overload]
                props["ActiveState"] = ("s", unit["state"])
                props["LoadState"] = ("s", "loaded")
                break
        else:
            props = {"ActiveState": ("s", "inactive"), "LoadState": ("s", "not-found")}
        if prop in props:
            reply(conn, msg, "v", (props[prop],))
        else:
            error(conn, msg, "org.freedesktop.DBus.Error.UnknownProperty", f"no {iface}.{prop}")
        return
    if msg.interface != MANAGER:
        error(conn, msg, "org.freedesktop.DBus.Error.UnknownMethod", f"no method {member}")
        return
    name = str(msg.body[0]) if msg.body else ""
    if (cgroups and member in ("StartTransientUnit", "SetUnitProperties", "StopUnit", "Reload")
            and cgroup_call(conn, msg, cgroups[0], member, name)):
        return
    if member == "StartTransientUnit":
        _name, _mode, props, _aux = msg.body
        how = kind(name)
        if how == "noreply":
            return
        if how == "exists" or name in units:
            error(conn, msg, "org.freedesktop.systemd1.UnitExists", f"Unit {name} already exists.")
            return
        if how == "dropstart" and generation[0] == 1:
            units[name] = {"state": "active", "props": dict(props), "pids": []}  # type: ignore[call-overload]
            return
        if how == "dropjob":
            _job_id, job = new_job()
            units[name] = {"state": "activating", "props": dict(props), "pids": []}  # type: ignore[call-overload]
            pending_jobs[job] = name
            reply(conn, msg, "o", (job,))
            return
        if how == "slow":
            time.sleep(1.0)
        if how == "ping":
            try:
                conn.call(msg.sender, "/", "org.freedesktop.DBus.Peer", "Ping", timeout=5)
            except DBusError as exc:
                error(conn, msg, "org.pyoci.Test.PingFailed", str(exc))
                return
        if how == "late":
            time.sleep(1.5)
        job_id, job = new_job()
        result = "failed" if how in ("failed", "spoof") else "done"
        units[name] = {"state": "failed" if result == "failed" else "active",
                       "props": dict(props), "pids": []}  # type: ignore[call-overload]
        if how == "noise":
            other_id, other = new_job()
            job_removed(conn, other_id, other, name, "canceled")
            conn.send(Message(SIGNAL, path=PATH, interface=MANAGER, member="UnitNew",
                              signature="so", body=(name, unit_path(name))))
        if how == "early":
            job_removed(conn, job_id, job, name, result)
        if how == "spoof" and spoofer:
            spoofer[0].send(Message(SIGNAL, path=PATH, interface=MANAGER, member="JobRemoved",
                                    destination=msg.sender, signature="uoss",
                                    body=(job_id, job, name, "done")))
            # a round trip on that connection: the bus has routed the forgery before the
            # real reply and signal below
            spoofer[0].call("org.freedesktop.DBus", "/org/freedesktop/DBus",
                            "org.freedesktop.DBus", "GetId")
        reply(conn, msg, "o", (job,))
        if how not in ("early", "nojob"):
            job_removed(conn, job_id, job, name, result)
        return
    if member == "StopUnit":
        if name not in units:
            error(conn, msg, NO_SUCH_UNIT, f"Unit {name} not loaded.")
            return
        job_id, job = new_job()
        del units[name]
        reply(conn, msg, "o", (job,))
        job_removed(conn, job_id, job, name, "done")
        return
    if member == "GetUnit" and kind(name) == "hang" and generation[0] == 1:
        return
    if member == "GetUnit" and kind(name) == "hangup" and name not in hung_up:
        hung_up.add(name)
        raise HangUp
    if member in ("ResetFailedUnit", "SetUnitProperties", "GetUnit", "AttachProcessesToUnit"):
        if name not in units:
            error(conn, msg, NO_SUCH_UNIT, f"Unit {name} not loaded.")
            return
        unit = units[name]
        if member == "ResetFailedUnit" and unit["state"] == "failed":
            del units[name]
        elif member == "SetUnitProperties":
            unit["props"].update(dict(msg.body[2]))  # type: ignore[attr-defined]
        elif member == "AttachProcessesToUnit":
            unit["pids"] += list(msg.body[2])  # type: ignore[operator]
        if member == "GetUnit":
            reply(conn, msg, "o", (unit_path(name),))
        else:
            reply(conn, msg)
        return
    error(conn, msg, "org.freedesktop.DBus.Error.UnknownMethod", f"no method {member}")


def cgroup_call(conn: Connection, msg: Message, cg: Cgroups, member: str, name: str) -> bool:
    """--cgroups: a scope's start, property change and stop as systemd does them (see
    above).  False: not a call this handles (the plain fake answers it)."""
    unit = units.get(name)
    if member == "Reload":
        for u in units.values():
            if isinstance(u.get("cgroup"), CgroupUnit):
                u["cgroup"].apply(set(SYSTEMD_V1))  # type: ignore[attr-defined]
        reply(conn, msg)
        return True
    if member == "SetUnitProperties":
        if unit is None or "cgroup" not in unit:
            return False
        props = list(msg.body[2])  # type: ignore[call-overload]
        bad = [p for p, _v in props if p not in SCOPE_PROPS]
        if bad:
            error(conn, msg, "org.freedesktop.DBus.Error.PropertyReadOnly",
                  f"Cannot set property {bad[0]}, or unknown property.")
            return True
        unit["props"].update(dict(props))  # type: ignore[attr-defined]
        touched = unit["cgroup"].set(props)  # type: ignore[attr-defined]
        if "devices" in touched and cg.freezer:
            # (for the tests: was the container frozen while its device rules changed?)
            path = f"{cg.freezer}{unit['cgroup'].path}/freezer.state"  # type: ignore[attr-defined]
            try:
                with open(path) as f:
                    state = f.read().strip()
            except OSError:
                state = "none"
            unit.setdefault("frozen_at_devices", []).append(state)  # type: ignore[attr-defined]
        # systemd realizes the invalidated controllers in the same turn of its event loop,
        # right after the reply (manager_dispatch_cgroup_realize_queue): before the caller
        # can act on the reply
        unit["cgroup"].apply(touched)  # type: ignore[attr-defined]
        reply(conn, msg)
        return True
    if member == "StopUnit":
        if unit is None:
            return False
        job_id, job = new_job()
        reply(conn, msg, "o", (job,))
        if unit["state"] == "failed":
            pass  # already dead: it stays "failed" until ResetFailedUnit
        elif name.endswith(".slice"):
            prefix = slice_path(name) + "/"
            for other in [n for n, u in units.items()
                          if "cgroup" in u and u["cgroup"].path.startswith(prefix)]:  # type: ignore[attr-defined]
                stop_scope(other)
            for mountpoint in cg.mountpoints():
                _trim(mountpoint + slice_path(name))
            del units[name]
        else:
            stop_scope(name)
        job_removed(conn, job_id, job, name, "done")
        return True
    # StartTransientUnit
    if not name.endswith(".scope") or kind(name) in SCRIPTED:
        return False
    _name, _mode, props, _aux = msg.body
    settings = dict(props)  # type: ignore[call-overload]
    bad = [p for p, _v in props if p not in SCOPE_PROPS]  # type: ignore[attr-defined]
    if bad:
        error(conn, msg, "org.freedesktop.DBus.Error.PropertyReadOnly",
              f"Cannot set property {bad[0]}, or unknown property.")
        return True
    if unit is not None:
        error(conn, msg, "org.freedesktop.systemd1.UnitExists", f"Unit {name} already exists.")
        return True
    slice_name = str(settings.get("Slice", ("s", "system.slice"))[1])
    job_id, job = new_job()
    reply(conn, msg, "o", (job,))
    path = f"{slice_path(slice_name)}/{name}"
    parts = slice_name[: -len(".slice")].split("-")
    for i in range(len(parts)):
        units.setdefault("-".join(parts[: i + 1]) + ".slice",
                         {"state": "active", "props": {}, "pids": []})
    cgroup = CgroupUnit(cg, path)
    cgroup.set(props)  # type: ignore[arg-type]
    pids = list(settings.get("PIDs", ("au", []))[1])
    ok = cgroup.realize(pids)
    if not ok:  # "No PIDs left to attach to the scope's control group, refusing."
        cgroup.trim()
    units[name] = {"state": "active" if ok else "failed",
                   "props": {**settings, "ControlGroup": ("s", path)},
                   "pids": pids, "cgroup": cgroup, "started": time.monotonic()}
    job_removed(conn, job_id, job, name, "done" if ok else "failed")
    return True


def stop_scope(name: str) -> None:
    unit = units.pop(name)
    timeout = unit["props"].get("TimeoutStopUSec", ("t", 90 * USEC))[1]  # type: ignore[attr-defined]
    unit["cgroup"].stop(int(timeout))  # type: ignore[attr-defined]


def collect() -> None:
    """A scope whose cgroup is empty is stopped and garbage-collected; one that ran longer
    than its RuntimeMaxUSec is stopped (killed) and left "failed" (result "timeout"),
    not collected: ResetFailedUnit drops it."""
    for name, unit in list(units.items()):
        cgroup = unit.get("cgroup")
        if not isinstance(cgroup, CgroupUnit) or unit["state"] != "active":
            continue
        props: dict[str, tuple[str, int]] = unit["props"]  # type: ignore[assignment]
        runtime_max = props.get("RuntimeMaxUSec", ("t", INFINITY))[1]
        if not cgroup.populated():
            cgroup.trim()
            del units[name]
        elif runtime_max != INFINITY and (
                time.monotonic() - unit["started"] > runtime_max / USEC):  # type: ignore[operator]
            cgroup.stop(props.get("TimeoutStopUSec", ("t", 90 * USEC))[1])
            unit["state"] = "failed"


def serve(conn: Connection) -> None:
    while True:
        try:
            msg = conn.receive(time.monotonic() + (0.1 if cgroups else 3600))
        except DBusTimeout:
            collect()
            continue
        except Exception:
            return
        if msg.type == METHOD_CALL:
            try:
                handle(conn, msg)
            except HangUp:
                return


OK = b"OK 0123456789abcdef0123456789abcdef\r\n"


def server_auth(conn: Connection) -> bool:
    """The server side of SASL EXTERNAL (the uid and the empty identity forms) as systemd's
    sd-bus does it on /run/systemd/private, quirks included:

    - a slow server: 0.2 s pass after each ``OK`` before it reads again (a busy systemd);
    - bytes that came in the same read as ``BEGIN`` stay unparsed until more data arrives
      (sd-bus keeps them in its buffer and waits for the socket to become readable): a
      client that sends its first call right after ``BEGIN``, after the ``OK``, gets no
      reply;
    - ``BEGIN`` before a successful ``AUTH`` ends the connection (the spec: disconnect).
    """
    deadline = time.monotonic() + 10
    authenticated = False
    while True:
        line = conn._readline(deadline).lstrip(b"\0")
        if line.startswith(b"AUTH EXTERNAL "):
            uid = bytes.fromhex(line[14:].decode()).decode()
            if not uid.isdigit() or uid == REJECTED_UID:
                conn._send_raw(b"REJECTED EXTERNAL\r\n", deadline)
                continue
            conn._send_raw(OK, deadline)
            authenticated = True
            time.sleep(0.2)
        elif line == b"AUTH EXTERNAL":
            conn._send_raw(b"DATA\r\n", deadline)
        elif line == b"DATA":
            conn._send_raw(OK, deadline)
            authenticated = True
            time.sleep(0.2)
        elif line == b"BEGIN":
            if not authenticated:
                return False
            if conn._rbuf:  # read together with BEGIN: parsed once more data comes
                conn._fill(time.monotonic() + 3600, "no more data")
            return True
        else:
            conn._send_raw(b"ERROR\r\n", deadline)


def connect(address: str) -> Connection:
    """A connection to the bus, waiting up to 60 s for a restarted bus daemon."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return Connection.open(address, bus=True, timeout=5)
        except DBusError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bus")
    parser.add_argument("--listen")
    parser.add_argument("--cgroups", action="store_true",
                        help="scopes get cgroups as systemd makes them on v1/hybrid")
    args = parser.parse_args()
    if args.cgroups:
        cgroups.append(Cgroups())
    if args.bus:
        while True:
            conn = connect(args.bus)
            got = conn.call("org.freedesktop.DBus", "/org/freedesktop/DBus",
                            "org.freedesktop.DBus", "RequestName", "su",
                            ("org.freedesktop.systemd1", 4))
            assert got.body == (1,), got
            spoofer[:] = [connect(args.bus)]
            generation[0] += 1
            connected_at[0] = time.monotonic()
            if generation[0] == 1:
                print("ready", flush=True)
            serve(conn)  # until the bus goes away
            conn.close()
    listener = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    listener.bind(args.listen)
    listener.listen(8)
    print("ready", flush=True)
    while True:
        fd, _addr = listener._accept()  # type: ignore[attr-defined]
        sock = _socket.socket(fileno=fd)
        conn = Connection(sock, "fake-private")
        try:
            if server_auth(conn):
                serve(conn)
        except Exception as exc:
            print(f"fake: {exc}", file=sys.stderr, flush=True)
        conn.close()


if __name__ == "__main__":
    main()
