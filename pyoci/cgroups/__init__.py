"""Cgroup management: one narrow interface, v1 / v2 / hybrid implementations.

The runtime core only uses what is declared here:

* ``manager_for_create(...)`` (in ``pyoci.cgroups.manager``) builds the
  manager for a new container from the spec's ``linux.cgroupsPath`` and ``linux.resources``;
* ``manager_from_record(record)`` (same module) rebuilds it on later commands from the
  ``record()`` that ``create`` saved in the container's state;
* the ``CgroupManager`` methods below.

Modules here must stay cheap to import: ``state``/``kill``/``delete`` rebuild
a manager and must not pull in heavy modules.

Layout: ``manager`` (the cgroupfs manager for v1, v2 and hybrid hosts),
``systemd`` (the systemd driver: a transient scope over D-Bus, files through
the cgroupfs manager), ``systemd_props`` (pure: cgroupsPath, unit properties),
``layout`` (host mode detection, cgroupsPath resolution), ``resources``
(pure ``linux.resources`` -> file writes per version), ``devices`` (rule
emulator, v1 transitions, eBPF program), ``ebpf`` (bpf(2) load/attach),
``stats`` (runc's ``events --stats`` document).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol

    class CgroupManager(Protocol):
        """What the runtime needs from a cgroup backend."""

        def plan(self) -> None:
            """Before ``create``: make ``record()`` name what ``create`` would make
            (saved first, so a create killed midway leaves nothing unnamed)."""

        def create(self) -> None:
            """Create the container's cgroup (and missing parents), enable controllers."""

        def apply(self, resources: dict[str, Any]) -> list[str]:
            """Write ``linux.resources``; return warnings for unsupported knobs."""

        def add_process(self, pid: int) -> None:
            """Move ``pid`` (all its threads) into the container's cgroup.  (The
            systemd driver's create manager starts its scope with this first pid.)"""

        def spawn_dir(self) -> str | None:
            """The cgroup2 directory a new process can be born in (clone3
            ``CLONE_INTO_CGROUP``) to be in the whole container cgroup, so that it
            need not be moved with ``add_process``; None where that is not all
            joining takes (v1 and hybrid hierarchies, the systemd driver)."""

        def self_join(self) -> tuple[list[str], str | None]:
            """On v1 and hybrid hosts: the container's v1 ``tasks`` files, through
            which a single-threaded process joins those hierarchies itself
            (writing "0", which the kernel does without waiting for an RCU grace
            period), and on hybrid the cgroup2 directory its child can then be
            born in (clone3 ``CLONE_INTO_CGROUP``).  ``([], None)`` where
            spawn_dir covers it (pure v2) or the driver moves the process itself
            (systemd)."""

        def update(self, resources: dict[str, Any]) -> list[str]:
            """Apply changed resources to a live container."""

        def freeze(self) -> None: ...

        def thaw(self) -> None: ...

        def is_frozen(self) -> bool: ...

        def stats(self) -> dict[str, Any]: ...

        def pids(self) -> list[int]: ...

        def kill_all(self, signal: int) -> None: ...

        def destroy(self) -> None:
            """Remove the container's cgroup directories (every process must be gone)."""

        def record(self) -> dict[str, Any]:
            """JSON-serialisable description saved in the state, for ``manager_from_record``."""

        # Additions (pyoci.cgroups.manager.FsManager implements them):

        def validate(self, resources: dict[str, Any]) -> list[str]:
            """Check ``resources`` against this host without writing; return warnings."""

        def oom_kill_count(self) -> int:
            """OOM kills in the container's cgroup so far (for ``events``)."""

        def oom_events_file(self) -> str | None:
            """The file that changes on OOM (v2 memory.events, v1 memory.oom_control)."""

        def paths(self) -> dict[str, str]:
            """v1 controller (or "name=X") -> directory; "" -> the cgroup2 directory."""

        def dirs(self) -> list[str]:
            """One directory per hierarchy: what ``add_process`` writes to."""


def cgroup_features() -> dict[str, bool]:
    """``linux.cgroup`` of the features document: what this build supports
    (as runc reports it: capabilities of the runtime, not of this host).  The
    cgroupfs manager drives v1, v2 and hybrid hosts and writes ``rdma.max``;
    the systemd driver (``--systemd-cgroup``, ``pyoci.cgroups.systemd``) uses
    the system bus, or the user's bus when rootless."""
    return {"v1": True, "v2": True, "systemd": True, "systemdUser": True, "rdma": True}
