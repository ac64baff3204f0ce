"""STUB, replaced by h4's client (pyoci/dbus/ from branch h4-dbus) when merging.

Only the agreed interface of /work/notes/systemd-interface.md, so that the
systemd cgroup driver imports and type-checks before the real client lands.
"""

from __future__ import annotations

from pyoci.errors import CgroupError


class DBusError(CgroupError):
    """A D-Bus failure; ``.name`` is the D-Bus error name, "" for transport problems."""

    def __init__(self, message: str, name: str = "") -> None:
        super().__init__(message)
        self.name = name


class BusUnavailable(DBusError):
    """Cannot connect or authenticate."""


class DBusTimeout(DBusError):
    """No reply or signal in time."""


# (name, D-Bus signature of the value, python value)
Property = tuple[str, str, object]
