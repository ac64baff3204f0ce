"""SCM_RIGHTS payloads without ``array`` (which imports ``collections.abc``)."""

from __future__ import annotations

import sys

_INT = 4  # sizeof(int)


def pack_fds(fds: list[int]) -> bytes:
    return b"".join(fd.to_bytes(_INT, sys.byteorder, signed=True) for fd in fds)


def unpack_fds(data: bytes) -> list[int]:
    usable = len(data) - len(data) % _INT
    return [
        int.from_bytes(data[i : i + _INT], sys.byteorder, signed=True)
        for i in range(0, usable, _INT)
    ]


def cmsg_space(nfds: int = 1) -> int:
    """CMSG_SPACE(nfds * sizeof(int)) on Linux (8-byte aligned, 16-byte header)."""
    return 16 + ((nfds * _INT + 7) & ~7)
