"""A blocking D-Bus connection over a unix socket: addresses, SASL EXTERNAL, Hello, method
calls, signals.

Every receive is bounded: the socket's timeout (a ``poll`` inside CPython) is set to what
is left of the caller's deadline before each ``recv``.  Messages that are not the awaited
reply are dispatched: signals are queued for :meth:`Connection.wait_signal` (so a signal
that arrives before the reply of the call that caused it is not lost), replies to other
serials are dropped, method calls addressed to us are answered with an error.
"""

from __future__ import annotations

import _socket
import posix
import sys
import time

from pyoci.dbus import BusUnavailable, DBusError, DBusTimeout, Disconnected
from pyoci.dbus.wire import (
    ERROR,
    METHOD_CALL,
    METHOD_RETURN,
    NO_REPLY_EXPECTED,
    SIGNAL,
    Message,
    decode,
    message_length,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

BUS_NAME = "org.freedesktop.DBus"
BUS_PATH = "/org/freedesktop/DBus"
_MAX_QUEUED_SIGNALS = 1024
_MAX_LINE = 16384


def getenv(name: str) -> str | None:
    """The environment variable ``name``: from ``os.environ`` when ``os`` is loaded (so
    changes made through it count), else from ``posix.environ`` (this package does not
    import ``os``)."""
    os_mod = sys.modules.get("os")
    if os_mod is not None:
        value: str | None = os_mod.environ.get(name)
        return value
    raw = posix.environ.get(name.encode())
    return None if raw is None else raw.decode(sys.getfilesystemencoding(), "surrogateescape")


def _unescape(value: str) -> str:
    if "%" not in value:
        return value
    out = bytearray()
    i = 0
    raw = value.encode("utf-8", "surrogateescape")
    while i < len(raw):
        if raw[i] == 0x25:
            digits = raw[i + 1:i + 3]
            if len(digits) != 2 or not all(d in b"0123456789abcdefABCDEF" for d in digits):
                raise DBusError(f"bad escape in D-Bus address value {value!r}")
            out.append(int(digits.decode("ascii"), 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8", "surrogateescape")


def parse_address(text: str) -> list[tuple[str, dict[str, str]]]:
    """``"unix:path=/a;unix:abstract=b"`` -> ``[("unix", {"path": "/a"}), ("unix", {...})]``."""
    out = []
    for part in text.split(";"):
        if not part:
            continue
        transport, colon, rest = part.partition(":")
        if not colon or not transport:
            raise DBusError(f"bad D-Bus address {part!r}: no transport")
        keys: dict[str, str] = {}
        for item in rest.split(","):
            if not item:
                continue
            key, eq, value = item.partition("=")
            if not eq or not key:
                raise DBusError(f"bad D-Bus address {part!r}: {item!r} is not key=value")
            keys[key] = _unescape(value)
        out.append((transport, keys))
    if not out:
        raise DBusError(f"empty D-Bus address {text!r}")
    return out


def _describe(transport: str, keys: dict[str, str]) -> str:
    return transport + ":" + ",".join(f"{k}={v}" for k, v in keys.items() if k != "guid")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def auth_uid() -> int | None:
    """The uid to claim in EXTERNAL: the effective uid, mapped to the parent user namespace
    when we are inside one (the bus sees that uid in SO_PEERCRED); None when unmapped (then
    only the empty identity can work).  runc asks ``busctl --user status`` for OwnerUID
    instead; one level of mapping covers the usual rootless case and the empty identity
    (the server takes the socket's credentials) covers the rest."""
    euid = posix.geteuid()
    try:
        fd = posix.open("/proc/self/uid_map", posix.O_RDONLY | posix.O_CLOEXEC)
    except OSError:
        return euid
    try:
        text = posix.read(fd, 65536).decode("ascii", "replace")
    finally:
        posix.close(fd)
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 3 or not all(f.isdigit() for f in fields):
            continue
        inside, outside, count = (int(f) for f in fields)
        if inside <= euid < inside + count:
            return outside + (euid - inside)
    return None


def _connect(sock: _socket.socket, target: str, deadline: float) -> None:
    """connect(), retried while the listener's backlog is full (EAGAIN on a unix socket
    with a timeout; go-systemd retries the same way, 100 ms doubling), until ``deadline``."""
    delay = 0.01
    while True:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        try:
            sock.connect(target)
            return
        except BlockingIOError:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("timed out (listen backlog full)") from None
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.5)


class _Rejected(DBusError):
    """The server answered REJECTED to our authentication."""


class Connection:
    """One authenticated connection (to a bus when ``unique_name`` is set, else to a peer)."""

    def __init__(self, sock: _socket.socket, address: str) -> None:
        self.sock: _socket.socket | None = sock
        self.address = address
        self.unique_name: str | None = None
        self.guid = ""
        self._serial = 0
        self._rbuf = bytearray()
        self._signals: list[Message] = []

    # ------------------------------------------------------------ opening
    @classmethod
    def open(cls, address: str, *, bus: bool = True, timeout: float = 10.0) -> Connection:
        """Connect to the first address of ``address`` (a ``;``-separated list) that
        accepts us: socket, SASL EXTERNAL, then ``Hello`` when ``bus``.  Raises
        BusUnavailable naming every address tried and why it failed."""
        deadline = time.monotonic() + timeout
        try:
            entries = parse_address(address)
        except DBusError as exc:
            raise BusUnavailable(str(exc)) from None
        failures = []
        for transport, keys in entries:
            desc = _describe(transport, keys)
            if transport != "unix":
                failures.append(f"{desc}: transport {transport!r} not supported")
                continue
            if "path" in keys:
                target = keys["path"]
            elif "abstract" in keys:
                target = "\0" + keys["abstract"]
            else:
                failures.append(f"{desc}: neither path= nor abstract= (only those connect)")
                continue
            uid = auth_uid()
            # the uid first (what the server should see); REJECTED (nested user
            # namespaces): again on a new socket with the empty identity, for which the
            # server takes the socket's credentials
            for claim in (uid, None) if uid is not None else (None,):
                conn = cls(_socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM), desc)
                try:
                    conn._open(target, keys, claim, bus, deadline)
                    return conn
                except _Rejected as exc:
                    conn.close()
                    if claim is None:
                        failures.append(f"{desc}: {exc}")
                except (OSError, DBusError) as exc:
                    conn.close()
                    failures.append(f"{desc}: {_reason(exc)}")
                    break
        raise BusUnavailable("cannot connect to D-Bus: " + "; ".join(failures))

    def _open(self, target: str, keys: dict[str, str], uid: int | None, bus: bool,
              deadline: float) -> None:
        _connect(self._sock(), target, deadline)
        self._authenticate(deadline, uid)
        if keys.get("guid") and keys["guid"] != self.guid:
            raise DBusError(f"server guid {self.guid} is not the address's {keys['guid']}")
        if bus:
            reply = self.call(BUS_NAME, BUS_PATH, BUS_NAME, "Hello",
                              timeout=max(deadline - time.monotonic(), 0.001), what="Hello")
            name = reply.body[0] if reply.body else None
            if not isinstance(name, str):
                raise DBusError("Hello returned no unique name")
            self.unique_name = name

    def _authenticate(self, deadline: float, uid: int | None) -> None:
        """SASL EXTERNAL claiming ``uid`` (None: the empty identity), with ``BEGIN`` sent in
        the same write as ``AUTH``, before the server's ``OK``, as sd-bus's own clients do.

        Why pipelined: systemd's sd-bus server (``/run/systemd/private``, where there is no
        bus daemon) reads the auth lines into its buffer, and bytes that arrive in the same
        read as ``BEGIN`` stay in that buffer, unparsed, until the socket becomes readable
        again.  A client that sends ``BEGIN`` after ``OK`` and its first call right after
        it (two writes) wins that race whenever systemd is slower than the client: the
        call sits in systemd's buffer and its reply never comes (seen in the systemd guest
        in 5 of 10 connections; 10 of 10 when ``BEGIN`` and the call are one write; a
        second message sent later releases both).  With ``BEGIN`` pipelined, the server
        has switched to messages before it sends ``OK``, so it has read nothing of ours
        that follows.  (sd-bus's clients talk to every bus this way; dbus-daemon takes it:
        tests/integration/test_dbus_daemon.py.)"""
        if uid is None:
            # "AUTH EXTERNAL" without an identity makes the server ask (DATA); the empty
            # DATA answer means "the socket's credentials"
            self._send_raw(b"\0AUTH EXTERNAL\r\nDATA\r\nBEGIN\r\n", deadline)
        else:
            hexuid = str(uid).encode("ascii").hex().encode("ascii")
            self._send_raw(b"\0AUTH EXTERNAL " + hexuid + b"\r\nBEGIN\r\n", deadline)
        line = self._readline(deadline)
        if uid is None and (line == b"DATA" or line.startswith(b"DATA ")):
            line = self._readline(deadline)
        if line.startswith(b"OK "):
            self.guid = line[3:].strip().decode("ascii", "replace")
            return
        text = line.decode("ascii", "replace")
        message = f"authentication (EXTERNAL, uid {uid}) refused: {text!r}"
        if line.startswith(b"REJECTED"):
            # the pipelined BEGIN ends the conversation (the spec: the server disconnects)
            raise _Rejected(message)
        raise DBusError(message)

    # ------------------------------------------------------------ raw I/O
    def _sock(self) -> _socket.socket:
        if self.sock is None:
            raise Disconnected(f"D-Bus connection {self.address} is closed")
        return self.sock

    def _send_raw(self, data: bytes, deadline: float) -> None:
        sock = self._sock()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DBusTimeout(f"D-Bus {self.address}: timed out sending")
        sock.settimeout(remaining)
        try:
            sock.sendall(data)
        except TimeoutError:
            raise DBusTimeout(f"D-Bus {self.address}: timed out sending") from None
        except OSError as exc:
            self.close()
            raise Disconnected(f"D-Bus {self.address}: send failed: {_reason(exc)}") from None

    def _fill(self, deadline: float, what: str) -> None:
        sock = self._sock()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DBusTimeout(what)
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise DBusTimeout(what) from None
        except OSError as exc:
            self.close()
            raise Disconnected(f"D-Bus {self.address}: receive failed: {_reason(exc)}") from None
        if not chunk:
            self.close()
            raise Disconnected(f"D-Bus {self.address}: connection closed by the peer")
        self._rbuf.extend(chunk)

    def _readline(self, deadline: float) -> bytes:
        while True:
            end = self._rbuf.find(b"\r\n")
            if end >= 0:
                line = bytes(self._rbuf[:end])
                del self._rbuf[:end + 2]
                return line
            if len(self._rbuf) > _MAX_LINE:
                raise DBusError("D-Bus authentication line too long")
            self._fill(deadline, f"D-Bus {self.address}: no answer to authentication")

    def receive(self, deadline: float, what: str = "") -> Message:
        """The next message off the socket (queued signals are not returned here)."""
        while True:
            if len(self._rbuf) >= 16:
                try:
                    total = message_length(bytes(self._rbuf[:16]))
                except DBusError:
                    self.close()
                    raise
                if len(self._rbuf) >= total:
                    data = bytes(self._rbuf[:total])
                    del self._rbuf[:total]
                    try:
                        return decode(data)
                    except DBusError:
                        self.close()
                        raise
            self._fill(deadline, what or f"D-Bus {self.address}: no message in time")

    def send(self, msg: Message, *, timeout: float = 10.0) -> int:
        """Send ``msg`` with the next serial; returns the serial."""
        self._serial = self._serial % 0xFFFFFFFF + 1
        msg.serial = self._serial
        self._send_raw(msg.encode(self._serial), time.monotonic() + timeout)
        return self._serial

    # ------------------------------------------------------------ calls and signals
    def _dispatch(self, msg: Message) -> None:
        if msg.type == SIGNAL:
            self._signals.append(msg)
            if len(self._signals) > _MAX_QUEUED_SIGNALS:
                del self._signals[0]
        elif msg.type == METHOD_CALL and not msg.flags & NO_REPLY_EXPECTED:
            if msg.interface == "org.freedesktop.DBus.Peer" and msg.member == "Ping":
                reply = Message(METHOD_RETURN, reply_serial=msg.serial, destination=msg.sender)
            else:
                reply = Message(ERROR, reply_serial=msg.serial, destination=msg.sender,
                                error_name="org.freedesktop.DBus.Error.UnknownMethod",
                                signature="s", body=(f"no method {msg.member} here",))
            self.send(reply)
        # replies to serials nobody waits for (an earlier call that timed out): dropped

    def call(self, destination: str | None, path: str, interface: str, member: str,
             signature: str = "", body: tuple[object, ...] = (), *, timeout: float = 25.0,
             what: str = "") -> Message:
        """Call a method and wait at most ``timeout`` seconds for its reply; an error reply
        raises DBusError with ``.name`` set.  ``what`` names the call in error messages."""
        what = what or f"{interface}.{member}"
        deadline = time.monotonic() + timeout
        msg = Message(METHOD_CALL, path=path, interface=interface, member=member,
                      destination=destination, signature=signature, body=body)
        serial = self.send(msg, timeout=timeout)
        expired = f"{what}: no reply within {timeout:.3g} s"
        while True:
            reply = self.receive(deadline, expired)
            if reply.type in (METHOD_RETURN, ERROR) and reply.reply_serial == serial:
                if reply.type == ERROR:
                    name = reply.error_name or ""
                    text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
                    raise DBusError(f"{what}: {text or name} ({name})", name)
                return reply
            self._dispatch(reply)

    def add_match(self, rule: str, *, timeout: float = 25.0) -> None:
        self.call(BUS_NAME, BUS_PATH, BUS_NAME, "AddMatch", "s", (rule,), timeout=timeout,
                  what=f"AddMatch {rule}")

    def wait_signal(self, match: Callable[[Message], bool], deadline: float,
                    what: str) -> Message:
        """The first signal (queued or new) for which ``match`` is true, before ``deadline``
        (a ``time.monotonic()`` value); DBusTimeout(what) otherwise."""
        for i, sig in enumerate(self._signals):
            if match(sig):
                del self._signals[i]
                return sig
        while True:
            msg = self.receive(deadline, what)
            if msg.type == SIGNAL and match(msg):
                return msg
            self._dispatch(msg)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
