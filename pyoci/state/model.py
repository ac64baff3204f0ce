"""The typed state of a container, and the lifecycle rules of runtime.md."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CREATING = "creating"
CREATED = "created"
RUNNING = "running"
STOPPED = "stopped"
PAUSED = "paused"
STATUSES = (CREATING, CREATED, RUNNING, STOPPED, PAUSED)


def can_start(status: str) -> bool:
    return status == CREATED


def can_kill(status: str) -> bool:
    return status in (CREATED, RUNNING, PAUSED)


def can_delete(status: str) -> bool:
    return status == STOPPED


def can_pause(status: str) -> bool:
    return status in (CREATED, RUNNING)


def can_resume(status: str) -> bool:
    return status == PAUSED


def can_exec(status: str) -> bool:
    return status in (CREATED, RUNNING)


class ContainerState:
    """The runtime-spec state of one container (what ``pyoci state`` prints)."""

    __slots__ = ("annotations", "bundle", "created", "id", "oci_version", "owner", "pid", "rootfs",
                 "status")  # fmt: skip

    def __init__(
        self,
        *,
        id: str,
        status: str,
        pid: int,
        bundle: str,
        oci_version: str = "1.3.0",
        annotations: dict[str, str] | None = None,
        rootfs: str = "",
        created: str = "",
        owner: str = "",
    ) -> None:
        self.id = id
        self.status = status
        self.pid = pid
        self.bundle = bundle
        self.oci_version = oci_version
        self.annotations = annotations or {}
        self.rootfs = rootfs
        self.created = created
        self.owner = owner

    def to_oci(self) -> dict[str, Any]:
        """The state document of runtime.md (plus runc's rootfs/created/owner)."""
        doc: dict[str, Any] = {
            "ociVersion": self.oci_version,
            "id": self.id,
            "status": self.status,
        }
        doc["pid"] = self.pid if self.status != STOPPED else 0
        doc["bundle"] = self.bundle
        doc["rootfs"] = self.rootfs
        doc["created"] = self.created
        doc["owner"] = self.owner
        if self.annotations:
            doc["annotations"] = self.annotations
        return doc

    def __repr__(self) -> str:
        return f"ContainerState(id={self.id!r}, status={self.status!r}, pid={self.pid})"
