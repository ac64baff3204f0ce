"""Status derived from what is running, not trusted from a file (as runc does)."""

from __future__ import annotations

from pyoci.state.model import CREATED, CREATING, PAUSED, RUNNING, STOPPED
from pyoci.util import lean_os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def read_proc_stat(pid: int, proc_root: str = "/proc") -> tuple[str, int] | None:
    """Return (state letter, start time in clock ticks) of ``pid``, or None if gone."""
    try:
        with open(f"{proc_root}/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm may hold spaces and parentheses: split after the last ')'.
    rest = data[data.rindex(b")") + 2 :].split()
    return rest[0].decode(), int(rest[19])


def process_start_time(pid: int, proc_root: str = "/proc") -> int | None:
    st = read_proc_stat(pid, proc_root)
    return None if st is None else st[1]


def is_alive(pid: int, start_time: int | None, proc_root: str = "/proc") -> bool:
    """The process exists, is not a zombie, and is the same one (start time)."""
    if pid <= 0:
        return False
    st = read_proc_stat(pid, proc_root)
    if st is None:
        return False
    state, started = st
    if state in ("Z", "X", "x"):
        return False
    return start_time is None or started == start_time


def derive_status(record: dict[str, Any], fifo_path: str) -> str:
    status = record.get("status", STOPPED)
    if status == CREATING:
        creator = int(record.get("creatorPid", 0))
        if is_alive(creator, record.get("creatorStartTime")):
            return CREATING
        return STOPPED
    pid = int(record.get("pid", 0))
    if not is_alive(pid, record.get("pidStartTime")):
        return STOPPED
    if record.get("cgroup") and _is_frozen(record):
        return PAUSED  # a created container can be paused too (as runc)
    if lean_os.exists(fifo_path):
        return CREATED
    return RUNNING


def _is_frozen(record: dict[str, Any]) -> bool:
    from pyoci.cgroups.freezer import is_frozen

    cg = record["cgroup"]
    if cg.get("driver") == "systemd":
        cg = cg.get("fs") or {}  # the scope's directories (pyoci.cgroups.systemd)
    return is_frozen((cg.get("v1") or {}).get("freezer"), cg.get("unified"))
