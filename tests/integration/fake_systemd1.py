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

``org.pyoci.Test.Units`` returns ``repr()`` of the fake's units and of the calls it got.
"""

from __future__ import annotations

import _socket
import argparse
import sys
import time

from pyoci.dbus import DBusError
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


def handle(conn: Connection, msg: Message) -> None:
    member = msg.member or ""
    calls.append((member, msg.body))
    if msg.interface == "org.pyoci.Test" and member == "Units":
        reply(conn, msg, "s", (repr({"units": units, "calls": calls}),))
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


def serve(conn: Connection) -> None:
    while True:
        try:
            msg = conn.receive(time.monotonic() + 3600)
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
    args = parser.parse_args()
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
