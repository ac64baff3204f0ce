"""The parent side of the cgroup verbs: update, pause, resume, ps, events.

``container.py`` creates a container's cgroup and removes it; what is asked of
a live container's cgroup afterwards is here.  Every function rebuilds the
manager from the record ``create`` saved in the state (``manager_from_record``)
and takes the container's lock when it changes something.

``events`` runs no thread: it polls the OOM watcher's descriptors with the
stats interval as the timeout (eventfd + ``cgroup.event_control`` on a v1
memory controller, inotify on ``memory.events`` on v2, inotify on
``cgroup.events`` to notice that the container emptied).
"""

from __future__ import annotations

import os

from pyoci.errors import CgroupError, ContainerNotRunning, InvalidState, UsageError
from pyoci.state import model
from pyoci.state.status import derive_status
from pyoci.state.store import StateStore
from pyoci.util import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from pyoci.cgroups import CgroupManager
    from pyoci.cgroups.manager import FsManager
    from pyoci.ops.lifecycle import RuntimeOptions


def _any_manager(record: Mapping[str, Any]) -> CgroupManager:
    saved = record.get("cgroup")
    if not saved:
        raise CgroupError(
            f"container {record.get('id', '')} has no cgroup"
            " (rootless, and no cgroup was writable when it was created)"
        )
    from pyoci.cgroups.manager import manager_from_record

    return manager_from_record(saved)


def _manager(record: Mapping[str, Any]) -> FsManager:
    """The cgroupfs manager of the container's directories: pause, resume, ps
    and events only touch files, whatever the driver (the systemd driver's
    scope too, as runc)."""
    from pyoci.cgroups.manager import FsManager

    mgr = _any_manager(record)
    if isinstance(mgr, FsManager):
        return mgr
    from pyoci.cgroups.systemd import SystemdManager

    assert isinstance(mgr, SystemdManager)
    return mgr.fs


# ---------------------------------------------------------------- update

# Sections of linux.resources that ``update`` changes.  Devices are left alone,
# as runc does (containerd sends them back unchanged with every update).
_DICT_SECTIONS = ("memory", "cpu", "blockIO", "pids", "network", "rdma", "unified")


def merge_resources(
    current: Mapping[str, Any], patch: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Merge an ``update`` request into the saved ``linux.resources``.

    Returns ``(merged, request)``: ``merged`` is what the saved config says
    afterwards; ``request`` is what to write: each section the patch names,
    merged with its saved values (a v2 swap limit depends on the memory
    limit, a v1 quota on the period).  Values that are null or "" in the
    patch leave the saved ones unchanged.
    """
    if not isinstance(patch, dict):
        raise CgroupError("update: the resources must be a JSON object")
    merged: dict[str, Any] = {k: v for k, v in current.items()}
    request: dict[str, Any] = {}
    for key, value in patch.items():
        if value is None or key == "devices":
            continue
        if key in _DICT_SECTIONS:
            if not isinstance(value, dict):
                raise CgroupError(f"update: linux.resources.{key} must be an object")
            old = current.get(key)
            section = dict(old) if isinstance(old, dict) else {}
            for k, v in value.items():
                if v is not None and v != "":
                    section[k] = v
            if key == "memory" and value.get("limit") == -1 and value.get("swap") is None:
                section["swap"] = -1  # unlimited memory: unlimited swap too (runc)
            merged[key] = section
            request[key] = section
        elif key == "hugepageLimits":
            if not isinstance(value, list):
                raise CgroupError("update: linux.resources.hugepageLimits must be an array")
            by_size = {
                str(e.get("pageSize")): e
                for e in current.get("hugepageLimits") or []
                if isinstance(e, dict)
            }
            for e in value:
                if not isinstance(e, dict):
                    raise CgroupError("update: hugepageLimits entries must be objects")
                by_size[str(e.get("pageSize"))] = e
            merged[key] = list(by_size.values())
            request[key] = list(value)
        else:
            log.debug(f"update: ignoring unknown resources key {key!r}")
    return merged, request


def update(opts: RuntimeOptions, container_id: str, patch: Mapping[str, Any]) -> list[str]:
    """Apply ``patch`` (a partial ``linux.resources``) to a live container and
    save the merged resources in its state.  Returns warnings."""
    cdir = StateStore(opts.root).get(container_id)
    cdir.lock()
    try:
        record = cdir.read()
        status = derive_status(record, cdir.fifo_path)
        if status == model.STOPPED:
            raise ContainerNotRunning(container_id)
        config: dict[str, Any] = record.get("config") or {}
        linux: dict[str, Any] = config.setdefault("linux", {})
        current = linux.get("resources") or {}
        merged, request = merge_resources(current, patch)
        if not request:
            return []
        warnings = _any_manager(record).update(request)  # systemd: SetUnitProperties too
        linux["resources"] = merged
        record["config"] = config
        cdir.write(record)
        return warnings
    finally:
        cdir.unlock()


def parse_bytes(text: str) -> int:
    """A size as runc's ``update`` takes it (go-units RAMInBytes): ``512m``,
    ``1.5g``, ``64 KiB``, ``100`` (bytes); binary multiples; ``-1`` unlimited."""
    if text == "-1":
        return -1
    body = text.lower()
    body = body[:-1] if body.endswith("b") else body
    body = body[:-1] if body.endswith("i") else body
    mult = 1
    if body[-1:] and body[-1] in "kmgtp":
        mult = 1 << (10 * ("kmgtp".index(body[-1]) + 1))
        body = body[:-1]
    body = body[:-1] if body.endswith(" ") else body
    whole, dot, frac = body.partition(".")
    digits = whole + frac
    if not (whole and digits.isdigit() and digits.isascii()) or (dot and not frac):
        raise UsageError(f"invalid size: '{text}'")
    return int(float(body) * mult) if dot else int(whole) * mult


# ---------------------------------------------------------------- pause / resume


def pause(opts: RuntimeOptions, container_id: str) -> None:
    cdir = StateStore(opts.root).get(container_id)
    cdir.lock()
    try:
        record = cdir.read()
        status = derive_status(record, cdir.fifo_path)
        if not model.can_pause(status):
            raise ContainerNotRunning(container_id)
        _manager(record).freeze()
    finally:
        cdir.unlock()


def resume(opts: RuntimeOptions, container_id: str) -> None:
    cdir = StateStore(opts.root).get(container_id)
    cdir.lock()
    try:
        record = cdir.read()
        status = derive_status(record, cdir.fifo_path)
        if not model.can_resume(status):
            raise InvalidState("container not paused")
        _manager(record).thaw()
    finally:
        cdir.unlock()


# ---------------------------------------------------------------- ps


def processes(opts: RuntimeOptions, container_id: str) -> list[int]:
    """Host pids of every process in the container's cgroup."""
    cdir = StateStore(opts.root).get(container_id)
    record = cdir.read()
    if not record.get("cgroup"):
        status = derive_status(record, cdir.fifo_path)
        return [] if status == model.STOPPED else [int(record.get("pid", 0))]
    return _manager(record).pids()


def ps_table(pids: list[int], ps_args: list[str]) -> str:
    """Run the host's ``ps`` with ``ps_args`` (default ``-ef``) and keep its
    header and the lines of ``pids`` (runc's ``ps`` table)."""
    out, code = _run_capture(["ps", *(ps_args or ["-ef"])])
    text = out.decode(errors="replace")
    if code != 0:
        raise CgroupError(f"exit status {code}: {text.strip()}")
    lines = text.split("\n")
    header = lines[0]
    try:
        index = header.split().index("PID")
    except ValueError:
        raise CgroupError("couldn't find PID field in ps output") from None
    wanted = set(pids)
    kept = [header]
    for line in lines[1:]:
        if not line:
            continue
        fields = line.split()
        try:
            pid = int(fields[index])
        except (IndexError, ValueError):
            raise CgroupError(f"unable to parse pid: {line!r}") from None
        if pid in wanted:
            kept.append(line)
    return "\n".join(kept) + "\n"


def _run_capture(argv: list[str]) -> tuple[bytes, int]:
    """Run ``argv`` (found on PATH) with stdout and stderr into one pipe."""
    r, w = os.pipe()
    try:
        actions = [
            (os.POSIX_SPAWN_DUP2, w, 1),
            (os.POSIX_SPAWN_DUP2, w, 2),
            (os.POSIX_SPAWN_CLOSE, r),
        ]
        try:
            pid = os.posix_spawnp(argv[0], argv, dict(os.environ), file_actions=actions)
        except OSError as err:
            raise CgroupError(f"cannot run {argv[0]}: {err.strerror}") from None
    finally:
        os.close(w)
    chunks = []
    try:
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(r)
    _, status = os.waitpid(pid, 0)
    return b"".join(chunks), os.waitstatus_to_exitcode(status)


# ---------------------------------------------------------------- events


def stats_data(mgr: FsManager) -> dict[str, Any]:
    """runc's stats document, plus the OOM kill count as ``memory.raw.oom_kill``
    (v1 ``memory.oom_control``, v2 ``memory.events``)."""
    doc = mgr.stats()
    memory = doc.get("memory")
    if isinstance(memory, dict) and (
        "memory" in mgr.v1 or (mgr.unified is not None and "memory" in mgr.v2)
    ):
        memory.setdefault("raw", {})["oom_kill"] = mgr.oom_kill_count()
    return doc


def parse_duration(text: str) -> float:
    """A Go duration (``5s``, ``100ms``, ``1m30s``, ``1.5h``) in seconds."""
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    raw = text.strip()
    if raw == "0":
        return 0.0
    total = 0.0
    i = 0
    if not raw:
        raise UsageError(f'invalid duration "{text}"')
    while i < len(raw):
        j = i
        while j < len(raw) and (raw[j].isdigit() or raw[j] == "."):
            j += 1
        k = j
        while k < len(raw) and not (raw[k].isdigit() or raw[k] == "."):
            k += 1
        number, unit = raw[i:j], raw[j:k]
        if not number or number.count(".") > 1 or number == "." or unit not in units:
            raise UsageError(f'invalid duration "{text}"')
        total += float(number) * units[unit]
        i = k
    return total


class OomWatcher:
    """The container's OOM events and its end, as file descriptors to poll.

    v1 memory controller: an eventfd registered in ``cgroup.event_control``
    for ``memory.oom_control`` (the kernel also signals it when the cgroup is
    removed).  v2: inotify on ``memory.events``.  Any cgroup2 directory
    (v2, or hybrid): inotify on ``cgroup.events`` to see ``populated 0``.
    """

    def __init__(self, mgr: FsManager) -> None:
        self.mgr = mgr
        self.efd = -1
        self.ifd = -1
        self._oom_fd = -1
        self._wd_memory = -1
        self._wd_events = -1
        self._oom_kills = mgr.oom_kill_count()
        memory_v1 = mgr.v1.get("memory")
        if memory_v1 is not None:
            self._register_v1(memory_v1)
        if mgr.unified is not None:
            from pyoci import native
            from pyoci.native import consts as c

            self.ifd = native.inotify_init1(c.IN_CLOEXEC | c.IN_NONBLOCK)
            if memory_v1 is None and "memory" in mgr.v2:
                self._wd_memory = native.inotify_add_watch(
                    self.ifd, f"{mgr.unified}/memory.events", c.IN_MODIFY
                )
            self._wd_events = native.inotify_add_watch(
                self.ifd, f"{mgr.unified}/cgroup.events", c.IN_MODIFY
            )

    def _register_v1(self, directory: str) -> None:
        self.efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        try:
            self._oom_fd = os.open(f"{directory}/memory.oom_control", os.O_RDONLY | os.O_CLOEXEC)
            fd = os.open(f"{directory}/cgroup.event_control", os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, f"{self.efd} {self._oom_fd}".encode())
            finally:
                os.close(fd)
        except OSError as err:
            self.close()
            raise CgroupError(f"cannot watch OOM events in {directory}: {err.strerror}") from err

    def fds(self) -> list[int]:
        return [fd for fd in (self.efd, self.ifd) if fd >= 0]

    def close(self) -> None:
        for fd in (self.efd, self.ifd, self._oom_fd):
            if fd >= 0:
                os.close(fd)
        self.efd = self.ifd = self._oom_fd = -1

    def read(self) -> tuple[int, bool]:
        """Drain what is ready: (OOM events, whether the container is gone)."""
        ooms = 0
        gone = False
        if self.efd >= 0:
            try:
                os.eventfd_read(self.efd)
                if os.path.exists(f"{self.mgr.v1['memory']}/memory.oom_control"):
                    ooms += 1
                else:
                    gone = True  # the kernel signals the eventfd when the cgroup is removed
            except BlockingIOError:
                pass
        if self.ifd >= 0:
            fired, removed = self._read_inotify()
            if fired:
                ooms += self._new_v2_kills()
                gone = gone or removed or not self.populated()
        return ooms, gone

    def finish(self) -> int:
        """OOM events that raced with the end (cgroup file notifications are
        rate-limited, so ``populated 0`` may be seen before ``oom_kill``)."""
        ooms, _gone = self.read()
        return ooms + self._new_v2_kills()

    def _new_v2_kills(self) -> int:
        if self._wd_memory < 0:
            return 0
        kills = self.mgr.oom_kill_count()
        new = 1 if kills > self._oom_kills else 0
        self._oom_kills = max(kills, self._oom_kills)
        return new

    def _read_inotify(self) -> tuple[bool, bool]:
        """(any event, a watched file was removed with its cgroup)."""
        from pyoci.native import consts as c

        fired = removed = False
        while True:
            try:
                data = os.read(self.ifd, 4096)
            except BlockingIOError:
                break
            fired = True
            pos = 0
            while pos + 16 <= len(data):
                mask = int.from_bytes(data[pos + 4 : pos + 8], "little")
                length = int.from_bytes(data[pos + 12 : pos + 16], "little")
                pos += 16 + length
                if mask & c.IN_IGNORED:
                    removed = True
        return fired, removed

    def populated(self) -> bool:
        """Whether any process is left in the container's cgroup."""
        if self.mgr.unified is not None:
            from pyoci.cgroups.manager import _read_opt

            text = _read_opt(f"{self.mgr.unified}/cgroup.events")
            if text is None:
                return False
            return "populated 1" in text
        return bool(self.mgr.pids())


def events(
    opts: RuntimeOptions,
    container_id: str,
    emit: Callable[[dict[str, Any]], None],
    *,
    stats_only: bool = False,
    interval: float = 5.0,
) -> None:
    """runc's ``events``: one stats event with ``stats_only``; otherwise stats
    every ``interval`` seconds and an ``oom`` event for each OOM, until the
    container's cgroup is empty or removed."""
    import select
    import time

    cdir = StateStore(opts.root).get(container_id)
    record = cdir.read()
    if derive_status(record, cdir.fifo_path) == model.STOPPED:
        raise ContainerNotRunning(container_id)
    mgr = _manager(record)
    if stats_only:
        emit({"type": "stats", "id": container_id, "data": stats_data(mgr)})
        return
    if interval <= 0:
        raise UsageError("duration interval must be greater than 0")
    watcher = OomWatcher(mgr)
    try:
        poller = select.poll()
        for fd in watcher.fds():
            poller.register(fd, select.POLLIN)
        next_tick = time.monotonic() + interval
        while True:
            timeout = max(0.0, next_tick - time.monotonic())
            gone = False
            if poller.poll(int(timeout * 1000) + 1):
                ooms, gone = watcher.read()
                for _ in range(ooms):
                    emit({"type": "oom", "id": container_id})
            now = time.monotonic()
            if not gone and now >= next_tick:
                next_tick += interval * (1 + int((now - next_tick) // interval))
                gone = not watcher.populated()
                if not gone:
                    emit({"type": "stats", "id": container_id, "data": stats_data(mgr)})
            if gone:
                for _ in range(watcher.finish()):
                    emit({"type": "oom", "id": container_id})
                return
    finally:
        watcher.close()
