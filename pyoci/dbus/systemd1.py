"""STUB, replaced by h4's client (pyoci/dbus/systemd1.py from branch h4-dbus).

Same signatures as the agreed interface; every call fails with BusUnavailable.
"""

from __future__ import annotations

from pyoci.dbus import BusUnavailable, DBusError, Property

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType


class JobFailed(DBusError):
    def __init__(self, message: str, unit: str = "", result: str = "") -> None:
        super().__init__(message)
        self.unit = unit
        self.result = result


class Systemd:
    @classmethod
    def connect(cls, *, user: bool = False, timeout: float = 10.0) -> Systemd:
        raise BusUnavailable("D-Bus client not available (stub)")

    def version(self) -> int:
        raise NotImplementedError

    def start_transient_unit(
        self, name: str, properties: list[Property], *, mode: str = "replace", timeout: float = 30.0
    ) -> None:
        raise NotImplementedError

    def stop_unit(self, name: str, *, timeout: float = 30.0) -> str | None:
        raise NotImplementedError

    def reset_failed_unit(self, name: str) -> None:
        raise NotImplementedError

    def set_unit_properties(
        self, name: str, properties: list[Property], *, runtime: bool = True
    ) -> None:
        raise NotImplementedError

    def unit_property(self, name: str, interface: str, prop: str) -> object:
        raise NotImplementedError

    def unit_state(self, name: str) -> str | None:
        raise NotImplementedError

    def attach_processes(self, unit: str, subcgroup: str, pids: list[int]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> Systemd:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
