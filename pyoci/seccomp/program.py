"""The compiled form of ``linux.seccomp``: what crosses from the parent to the init."""

from __future__ import annotations

# seccomp(2) SECCOMP_FILTER_FLAG_* bits (<linux/seccomp.h>).
FLAG_TSYNC = 1 << 0
FLAG_LOG = 1 << 1
FLAG_SPEC_ALLOW = 1 << 2
FLAG_NEW_LISTENER = 1 << 3
FLAG_TSYNC_ESRCH = 1 << 4
FLAG_WAIT_KILLABLE_RECV = 1 << 5


class SeccompProgram:
    """A seccomp filter ready for seccomp(SECCOMP_SET_MODE_FILTER, flags, prog).

    ``bpf`` is the classic BPF program: an array of 8-byte ``struct sock_filter``
    in host byte order.  ``flags`` are the SECCOMP_FILTER_FLAG_* bits to load it
    with (FLAG_NEW_LISTENER when a rule uses SCMP_ACT_NOTIFY).  ``listener_path``
    and ``listener_metadata`` come from the config and are only set when the
    program has a listener.
    """

    __slots__ = ("bpf", "flags", "listener_metadata", "listener_path")

    def __init__(
        self,
        bpf: bytes,
        flags: int = 0,
        listener_path: str | None = None,
        listener_metadata: str | None = None,
    ) -> None:
        self.bpf = bpf
        self.flags = flags
        self.listener_path = listener_path
        self.listener_metadata = listener_metadata

    @property
    def needs_listener(self) -> bool:
        """Installing returns a listener fd to hand to ``listener_path``."""
        return bool(self.flags & FLAG_NEW_LISTENER)

    def __len__(self) -> int:
        """Number of BPF instructions."""
        return len(self.bpf) // 8

    def __repr__(self) -> str:
        return (
            f"SeccompProgram({len(self)} instructions, flags={self.flags:#x}, "
            f"listener_path={self.listener_path!r})"
        )
