"""The ``org.freedesktop.systemd1.Manager`` calls the systemd cgroup driver needs.

What runc (opencontainers/cgroups ``systemd/``, go-systemd ``dbus/``) does, in one blocking
connection: the system bus (root) or the user's session bus (rootless); for root, systemd's
private socket ``/run/systemd/private`` (peer to peer, no ``Hello``) when the system bus
cannot be reached.  Job calls (StartTransientUnit, StopUnit) wait for the ``JobRemoved``
signal of the job the call returned: the match is added when connecting, before any job
can start, and a ``JobRemoved`` that arrives before the method's reply is queued by the
connection, not lost.  Every call is bounded: job calls by their ``timeout``, the others by
the ``timeout`` given to :meth:`Systemd.connect`.

When the connection drops during a call (the bus daemon or systemd restarted: EOF,
ECONNRESET, EPIPE), the call reconnects once to the same address and is made again, as
runc's ``retryOnDisconnect`` does; waiting up to its timeout for the bus and for systemd's
name on it to come back.  Every call is idempotent but StartTransientUnit: made again, it
answers UnitExists when the first one got through, and that is then taken as ours (the
caller checks that its pid is in the unit).  A job whose JobRemoved was lost with the old
connection is polled instead (its object disappears when it ends; the unit's state then
tells the result).
"""

from __future__ import annotations

import posix
import time

from pyoci.dbus import BusUnavailable, DBusError, DBusTimeout, Disconnected, Property
from pyoci.dbus.connection import Connection, getenv
from pyoci.dbus.wire import Message, marshal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

SYSTEMD = "org.freedesktop.systemd1"
PATH = "/org/freedesktop/systemd1"
MANAGER = "org.freedesktop.systemd1.Manager"
UNIT = "org.freedesktop.systemd1.Unit"
PROPERTIES = "org.freedesktop.DBus.Properties"
NO_SUCH_UNIT = "org.freedesktop.systemd1.NoSuchUnit"
UNIT_EXISTS = "org.freedesktop.systemd1.UnitExists"
JOB = "org.freedesktop.systemd1.Job"
# what a bus answers for systemd's name while systemd is not (yet) back on a restarted bus
_NOT_ON_THE_BUS = ("org.freedesktop.DBus.Error.ServiceUnknown",
                   "org.freedesktop.DBus.Error.NameHasNoOwner")

SYSTEM_BUS_ADDRESS = "unix:path=/run/dbus/system_bus_socket"
PRIVATE_ADDRESS = "unix:path=/run/systemd/private"
JOB_REMOVED_MATCH = (
    "type='signal',sender='org.freedesktop.systemd1',path='/org/freedesktop/systemd1',"
    "interface='org.freedesktop.systemd1.Manager',member='JobRemoved'"
)
_USER_BUS_HINT = (
    "(hint: for rootless containers, maybe you need to install dbus-user-session package, "
    "see https://github.com/opencontainers/runc/blob/master/docs/cgroup-v2.md)"
)


class JobFailed(DBusError):
    """A job ended with a result other than "done"; ``.unit``, ``.result``."""

    def __init__(self, message: str, unit: str = "", result: str = "") -> None:
        super().__init__(message)
        self.unit = unit
        self.result = result


def unit_path(name: str) -> str:
    """The object path of unit ``name``: every byte but ``[A-Za-z0-9]`` (and a leading
    digit) as ``_xx`` (systemd's ``bus_label_escape``, go-systemd's ``PathBusEscape``):
    ``runc-x.scope`` -> ``/org/freedesktop/systemd1/unit/runc_2dx_2escope``."""
    if not name:
        return PATH + "/unit/_"
    out = []
    for i, byte in enumerate(name.encode("utf-8", "surrogateescape")):
        c = chr(byte)
        if (c.isascii() and c.isalnum()) and not (i == 0 and c.isdigit()):
            out.append(c)
        else:
            out.append(f"_{byte:02x}")
    return PATH + "/unit/" + "".join(out)


def parse_version(text: str) -> int:
    """``"v252.22-1~deb12u1"`` or ``"252.22-1~deb12u1"`` -> 252; 0 when there is no number."""
    text = text.strip()
    if text.startswith("v"):
        text = text[1:]
    digits = ""
    for c in text:
        if not c.isdigit():
            break
        digits += c
    return int(digits) if digits else 0


def _is_job_removed(msg: Message, job: str, sender: str | None) -> bool:
    """``JobRemoved`` of ``job`` from ``sender``: the bus sets every message's sender, so
    comparing it with the sender of the method's reply (systemd's unique name) stops any
    other peer of the bus from ending our wait with a forged signal (a unicast signal gets
    through every match rule).  Peer to peer both are None."""
    return (msg.interface == MANAGER and msg.member == "JobRemoved" and msg.path == PATH
            and msg.signature == "uoss" and msg.body[1] == job and msg.sender == sender)


class Systemd:
    """A connection to systemd's manager (see the module docstring)."""

    def __init__(self, conn: Connection, *, timeout: float = 10.0,
                 reopen: Callable[[float], Connection] | None = None) -> None:
        self.conn = conn
        self.timeout = timeout
        self._version: int | None = None
        # a new connection like ``conn`` (given a timeout), after ``conn`` dropped
        self._reopen = reopen
        self.reconnects = 0

    # ------------------------------------------------------------ connecting
    @classmethod
    def connect(cls, *, user: bool = False, timeout: float = 10.0) -> Systemd:
        """user=False: the system bus (``$DBUS_SYSTEM_BUS_ADDRESS``, else
        /run/dbus/system_bus_socket) and, if that fails and euid == 0, systemd's private
        socket (no Hello).  user=True: the session bus (``$DBUS_SESSION_BUS_ADDRESS``, else
        ``$XDG_RUNTIME_DIR/bus``).  Raises BusUnavailable with one line naming what failed."""
        if user:
            address = getenv("DBUS_SESSION_BUS_ADDRESS")
            if not address:
                runtime = getenv("XDG_RUNTIME_DIR")
                if runtime and _exists(runtime + "/bus"):
                    address = "unix:path=" + runtime + "/bus"
            if not address:
                raise BusUnavailable(
                    "could not detect DBUS_SESSION_BUS_ADDRESS from the environment; make sure "
                    "you have installed the dbus-user-session or dbus-daemon package; note you "
                    "may need to re-login")
            try:
                return cls.open(address, bus=True, timeout=timeout)
            except BusUnavailable as exc:
                raise BusUnavailable(f"user systemd: {exc} {_USER_BUS_HINT}") from None
        address = getenv("DBUS_SYSTEM_BUS_ADDRESS") or SYSTEM_BUS_ADDRESS
        try:
            return cls.open(address, bus=True, timeout=timeout)
        except BusUnavailable as exc:
            if posix.geteuid() != 0:
                raise BusUnavailable(f"systemd: {exc}") from None
            first = exc
        try:
            return cls.open(PRIVATE_ADDRESS, bus=False, timeout=timeout)
        except BusUnavailable as exc:
            raise BusUnavailable(
                f"systemd: system bus: {first}; private socket: {exc}") from None

    @classmethod
    def open(cls, address: str, *, bus: bool = True, timeout: float = 10.0) -> Systemd:
        """Connect to systemd at ``address``: through a bus (Hello, then the JobRemoved
        match), or directly (``bus=False``: systemd's private socket, where every job signal
        is sent to every connection)."""
        def reopen(timeout: float) -> Connection:
            conn = Connection.open(address, bus=bus, timeout=timeout)
            try:
                if bus:
                    conn.add_match(JOB_REMOVED_MATCH, timeout=timeout)
            except DBusError as exc:
                conn.close()
                raise BusUnavailable(f"{conn.address}: {exc}") from None
            return conn

        return cls(reopen(timeout), timeout=timeout, reopen=reopen)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Systemd:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------ plumbing
    def _call(self, path: str, interface: str, member: str, signature: str = "",
              body: tuple[object, ...] = (), *, what: str,
              timeout: float | None = None) -> Message:
        """The call; when the connection drops meanwhile, once more on a new one."""
        timeout = self.timeout if timeout is None else timeout
        try:
            return self.conn.call(SYSTEMD, path, interface, member, signature, body,
                                  timeout=timeout, what=what)
        except Disconnected as exc:
            self._reconnect(exc, what, timeout)
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            try:
                return self.conn.call(SYSTEMD, path, interface, member, signature, body,
                                      timeout=max(deadline - time.monotonic(), 0.001),
                                      what=what)
            except DBusError as exc:
                # a restarted bus: systemd takes a moment to get its name back
                if exc.name not in _NOT_ON_THE_BUS or time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def _reconnect(self, lost: Disconnected, what: str, timeout: float) -> None:
        """Replace the dropped connection (at most once per Systemd), waiting up to
        ``timeout`` for the bus to accept us again; else the drop is the error."""
        if self._reopen is None or self.reconnects:
            raise lost
        self.conn.close()
        self.reconnects += 1
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            try:
                self.conn = self._reopen(max(deadline - time.monotonic(), 0.001))
                return
            except BusUnavailable as exc:
                if time.monotonic() + delay > deadline:
                    raise Disconnected(f"{what}: {lost}; reconnecting failed: {exc}") from None
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    @staticmethod
    def _props(unit: str, properties: list[Property]) -> list[tuple[str, tuple[str, object]]]:
        out = []
        for name, sig, value in properties:
            try:
                marshal("v", [(sig, value)])
            except DBusError as exc:
                raise DBusError(f"systemd unit {unit}: property {name}: {exc}") from None
            out.append((name, (sig, value)))
        return out

    def _wait_job(self, reply: Message, unit: str, deadline: float, doing: str,
                  timeout: float) -> str:
        job = reply.body[0]
        if not isinstance(job, str):
            raise DBusError(f"systemd unit {unit}: the job call returned no job path")
        what = f"timeout waiting for systemd to {doing} {unit} (job {job}, {timeout:.3g} s)"
        try:
            msg = self.conn.wait_signal(lambda m: _is_job_removed(m, job, reply.sender),
                                        deadline, what)
        except Disconnected as exc:
            self._reconnect(exc, what, timeout)
            return self._poll_job(job, unit, doing, deadline, what)
        result = msg.body[3]
        assert isinstance(result, str)
        return result

    def _poll_job(self, job: str, unit: str, doing: str, deadline: float, what: str) -> str:
        """The result of ``job`` after its JobRemoved was lost with a dropped connection:
        wait for its object to disappear, then read the unit's state ("create": "done"
        when active; "stop": "done" when stopped or gone, as destroy wants it)."""
        delay = 0.05
        while True:
            try:
                self._call(job, PROPERTIES, "Get", "ss", (JOB, "State"), what=f"{what}: job",
                           timeout=max(deadline - time.monotonic(), 0.001))
            except DBusTimeout:
                raise DBusTimeout(what) from None
            except DBusError as exc:
                if not exc.name:
                    raise
                break  # no such object: the job has ended
            if time.monotonic() + delay > deadline:
                raise DBusTimeout(what)
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        state = self.unit_state(unit)
        if doing == "create":
            return "done" if state == "active" else "failed"
        return "done" if state in (None, "inactive", "failed") else str(state)

    def _reset_quietly(self, name: str) -> None:
        try:
            self.reset_failed_unit(name)
        except DBusError:
            pass

    # ------------------------------------------------------------ the Manager
    def manager_property(self, prop: str) -> object:
        """``Properties.Get(Manager, prop)`` on /org/freedesktop/systemd1 (e.g.
        "ControlGroup" of a user instance)."""
        reply = self._call(PATH, PROPERTIES, "Get", "ss", (MANAGER, prop),
                           what=f"systemd manager property {prop}")
        value = reply.body[0]
        assert isinstance(value, tuple)
        return value[1]

    def version(self) -> int:
        """systemd's version number (Manager.Version "v252.22-1~deb12u1" -> 252); 0 when
        systemd does not say.  Cached."""
        if self._version is None:
            try:
                text = self.manager_property("Version")
            except DBusTimeout:
                raise
            except DBusError as exc:
                if not exc.name:
                    raise
                text = ""
            self._version = parse_version(text) if isinstance(text, str) else 0
        return self._version

    def start_transient_unit(self, name: str, properties: list[Property], *,
                             mode: str = "replace", timeout: float = 30.0) -> None:
        """StartTransientUnit, then wait for its job.  A result other than "done" raises
        JobFailed, no JobRemoved in time DBusTimeout; both after a ResetFailedUnit (as runc).
        UnitExists raises DBusError with that ``.name``: the caller decides."""
        deadline = time.monotonic() + timeout
        props = self._props(name, properties)
        reconnects = self.reconnects
        try:
            try:
                reply = self._call(PATH, MANAGER, "StartTransientUnit", "ssa(sv)a(sa(sv))",
                                   (name, mode, props, []), timeout=timeout,
                                   what=f"systemd StartTransientUnit {name}")
            except DBusError as exc:
                if exc.name != UNIT_EXISTS or self.reconnects == reconnects:
                    raise
                # made again after the connection dropped: the first call got through
                result = self._await_started(name, deadline, timeout)
            else:
                result = self._wait_job(reply, name, deadline, "create", timeout)
        except DBusTimeout:
            self._reset_quietly(name)
            raise
        if result != "done":
            self._reset_quietly(name)
            raise JobFailed(f"error creating systemd unit {name}: job result {result!r}",
                            unit=name, result=result)

    def _await_started(self, name: str, deadline: float, timeout: float) -> str:
        """The result of the start job of ``name`` that our lost first StartTransientUnit
        queued: "done" once the unit is active, "failed" when it is not."""
        delay = 0.05
        while True:
            state = self.unit_state(name)
            if state != "activating":
                return "done" if state == "active" else "failed"
            if time.monotonic() + delay > deadline:
                raise DBusTimeout(f"timeout waiting for systemd to create {name} "
                                  f"({timeout:.3g} s)")
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def stop_unit(self, name: str, *, timeout: float = 30.0) -> str | None:
        """StopUnit(name, "replace") and wait for the job; its result, or None when the unit
        does not exist."""
        deadline = time.monotonic() + timeout
        try:
            reply = self._call(PATH, MANAGER, "StopUnit", "ss", (name, "replace"),
                               timeout=timeout, what=f"systemd StopUnit {name}")
        except DBusError as exc:
            if exc.name == NO_SUCH_UNIT:
                return None
            raise
        return self._wait_job(reply, name, deadline, "stop", timeout)

    def reset_failed_unit(self, name: str) -> None:
        """ResetFailedUnit; a unit that does not exist is fine."""
        try:
            self._call(PATH, MANAGER, "ResetFailedUnit", "s", (name,),
                       what=f"systemd ResetFailedUnit {name}")
        except DBusError as exc:
            if exc.name != NO_SUCH_UNIT:
                raise

    def set_unit_properties(self, name: str, properties: list[Property], *,
                            runtime: bool = True) -> None:
        props = self._props(name, properties)
        self._call(PATH, MANAGER, "SetUnitProperties", "sba(sv)", (name, runtime, props),
                   what=f"systemd SetUnitProperties {name}")

    def unit_property(self, name: str, interface: str, prop: str) -> object:
        """``Properties.Get(interface, prop)`` on the unit's object path (systemd loads the
        unit for that: a unit that does not exist answers with its defaults)."""
        reply = self._call(unit_path(name), PROPERTIES, "Get", "ss", (interface, prop),
                           what=f"systemd unit {name} property {prop}")
        value = reply.body[0]
        assert isinstance(value, tuple)
        return value[1]

    def unit_state(self, name: str) -> str | None:
        """The unit's ActiveState ("active", "failed", ...); None when it is not loaded."""
        try:
            reply = self._call(PATH, MANAGER, "GetUnit", "s", (name,),
                               what=f"systemd GetUnit {name}")
        except DBusError as exc:
            if exc.name == NO_SUCH_UNIT:
                return None
            raise
        path = reply.body[0]
        assert isinstance(path, str)
        state = self._call(path, PROPERTIES, "Get", "ss", (UNIT, "ActiveState"),
                           what=f"systemd unit {name} property ActiveState").body[0]
        assert isinstance(state, tuple)
        return str(state[1])

    def attach_processes(self, unit: str, subcgroup: str, pids: list[int]) -> None:
        """AttachProcessesToUnit (systemd >= 238); ``subcgroup`` "" or "/"-prefixed."""
        self._call(PATH, MANAGER, "AttachProcessesToUnit", "ssau", (unit, subcgroup, pids),
                   what=f"systemd AttachProcessesToUnit {unit}")


def _exists(path: str) -> bool:
    try:
        posix.stat(path)
    except (OSError, ValueError):
        return False
    return True
