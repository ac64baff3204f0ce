"""A small blocking D-Bus client of our own, for the systemd cgroup driver.

Why our own.  Measured here (Python 3.11, Debian 12, 2 shared cores; jeepney 0.9.0 from PyPI
in a scratch venv), importing with ``-I -S`` as the CLI does:

- this package (``import pyoci.dbus.systemd1``; ``_socket``, ``_struct``, ``posix``, ``time``):
  +4.3 M instructions over ``pyoci.errors``, which the CLI has loaded anyway (+6.6 M counting
  the ``pyoci`` package too), callgrind's Ir, which does not depend on the load;
  ``-X importtime`` 2.8 ms cumulative (1.8 ms over ``pyoci.errors``), best of 25 on a busy
  host (load ~9).  Blocking, no threads; EXTERNAL with any uid (in a user namespace the mapped
  uid, then the empty identity); no Hello on /run/systemd/private.
- jeepney 0.9.0 (``import jeepney.io.blocking``): +82 M instructions (19 times ours), 61 ms in
  the same runs (26 ms on a quiet host, fact sheet §5).  It imports os, socket, enum,
  selectors and logging; its connection always sends Hello (which breaks the private socket)
  and authenticates with ``os.geteuid()`` only (wrong inside a user namespace).
- dbus-next / dbus-fast: ~90 ms (fact sheet §5), asyncio.

``os`` alone costs a short command 4.4 M instructions (pyoci.util.lean_os); jeepney would cost
``create --systemd-cgroup`` nearly 20 times that, on every container.  The driver needs a
dozen calls and one signal: a few hundred lines.  tests/unit/test_dbus_wire.py holds the
import set (no ``os``, ``socket``, ``enum``, ``struct``, ``threading``, ``logging``...).

Layout: :mod:`pyoci.dbus.wire` (marshalling, messages), :mod:`pyoci.dbus.connection`
(addresses, SASL, calls, signals, timeouts), :mod:`pyoci.dbus.systemd1` (the Manager calls).
"""

from __future__ import annotations

from pyoci.errors import CgroupError


class DBusError(CgroupError):
    """A D-Bus failure; ``.name`` is the D-Bus error name (for example
    ``org.freedesktop.systemd1.NoSuchUnit``), "" for transport problems.  ``str(exc)`` is one
    line."""

    def __init__(self, message: str, name: str = "") -> None:
        super().__init__(" ".join(message.split()))
        self.name = name


class BusUnavailable(DBusError):
    """Cannot connect or authenticate (the message names the addresses and why)."""


class Disconnected(DBusError):
    """The connection broke (EOF, ECONNRESET, EPIPE: the bus daemon or systemd restarted) or
    was closed; the message names the address."""


class DBusTimeout(DBusError):
    """No reply or signal in time (the message names the call)."""


# A property for StartTransientUnit / SetUnitProperties: (name, D-Bus signature of the value,
# python value).  Python values: 's','o','g' str; 'b' bool; 'y','n','q','i','u','x','t','h'
# int; 'd' float; 'ay' bytes; 'a<T>' list; 'a{KV}' dict; '(...)' tuple; 'v' a (signature,
# value) tuple.
Property = tuple[str, str, object]

__all__ = ["BusUnavailable", "DBusError", "DBusTimeout", "Disconnected", "Property"]
