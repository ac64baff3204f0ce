"""Container status and the on-disk state store."""

from __future__ import annotations

from pyoci.errors import UsageError

_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


def check_id(container_id: str) -> None:
    """A container id is a directory name under the root: runc's characters only
    (here, not in ``store``: ``delete --force`` of a missing container checks it
    without loading the store)."""
    if (
        not container_id
        or container_id in (".", "..")
        or not set(container_id) <= _ID_CHARS
        or len(container_id) > 1024
    ):
        raise UsageError(f"invalid container id format: {container_id!r}")
