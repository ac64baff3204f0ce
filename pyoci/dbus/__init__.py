"""A small blocking D-Bus client of our own, for the systemd cgroup driver.

Why our own (measured on this machine, Python 3.11, ``python3 -X importtime -I -S -c
'import X'``, cumulative microseconds of the module, cached .pyc, best of 5):

========================================  =========  ==========================================
client                                    import     fit
========================================  =========  ==========================================
``pyoci.dbus.systemd1`` (this package:    ~1.1 ms    blocking, no threads; EXTERNAL auth with
``_socket`` + ``_struct`` + ``posix``)               any uid (userns: the mapped uid, then the
                                                     empty identity); no Hello on
                                                     /run/systemd/private
jeepney 0.9.0 ``jeepney.io.blocking``     ~22 ms     always sends Hello (breaks the private
                                                     socket), auth with ``os.geteuid()`` only,
                                                     imports os/socket/enum/selectors/logging
dbus-next 0.2.3 / dbus-fast 5.x           ~90 ms     asyncio (fact sheet §5)
========================================  =========  ==========================================

``pyoci create --systemd-cgroup`` pays this on every container, so the 20 ms of jeepney would
be a large share of a create; the wire format the driver needs (a dozen calls, one signal)
is a few hundred lines.  The numbers are re-measured by ``tests/unit/test_dbus_wire.py``
(the import set: no ``os``, ``socket``, ``enum``, ``struct``, ``threading``).

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


class DBusTimeout(DBusError):
    """No reply or signal in time (the message names the call)."""


# A property for StartTransientUnit / SetUnitProperties: (name, D-Bus signature of the value,
# python value).  Python values: 's','o','g' str; 'b' bool; 'y','n','q','i','u','x','t','h'
# int; 'd' float; 'ay' bytes; 'a<T>' list; 'a{KV}' dict; '(...)' tuple; 'v' a (signature,
# value) tuple.
Property = tuple[str, str, object]

__all__ = ["BusUnavailable", "DBusError", "DBusTimeout", "Property"]
