"""pyoci as a library: run something isolated from Python.

    >>> import pyoci
    >>> r = pyoci.run(["sh", "-c", "echo hi"], rootfs="/srv/rootfs",
    ...               capture_output=True, timeout=5, memory="64m", pids=32)
    >>> r.returncode, r.stdout, r.oom_killed          # doctest: +SKIP
    (0, b'hi\\n', False)

Pieces: :class:`Config` (a typed builder over the OCI config, validated as
``create`` validates), :class:`Container` (a ``Popen``-shaped handle, also a
context manager and ``async with``), :func:`run` / :func:`run_async`,
:class:`Completed`, :class:`TimeoutExpired` and :class:`CalledProcessError`
(subclasses of the ``subprocess`` ones and of ``PyociError``).

Threads and fork.  The CLI's ``create`` forks and runs Python in the child
(stage 1).  From a multi-threaded program that is unsafe (locks other threads
held stay locked in the child; CPython 3.12 warns).  So the embedding API never
runs Python in a child forked from the embedder:

* a **fork server** (:mod:`pyoci.sandbox._forkserver`), one per embedder
  process, started on first use by ``subprocess`` (vfork/posix_spawn + exec of
  ``python -I -S``: no Python code between fork and exec), single-threaded,
  with the create path's modules imported and the config schema compiled once;
* per container it forks a **shim** (:mod:`pyoci.sandbox._shim`) that runs the
  CLI's own ``create`` (stdio and its control socket passed by SCM_RIGHTS),
  stays as the init's subreaper, reports the exit status with the cgroup's
  accounting (OOM kills, peak memory, CPU time), and deletes the container on
  request, or by itself when its control socket hits EOF (the embedder died,
  even by SIGKILL, or dropped the handle);
* signals, pause/resume, update, stats and ps are done in the embedder's
  process (no fork); ``Container.exec`` asks the shim, which forks the exec
  stage (``pyoci.ops.exec.spawn``), reaps the process (it is its subreaper) and
  reports its wait status (``-N`` for signal N); on ``timeout`` the shim stops
  and kills the process and its descendants, walked through
  ``/proc/PID/task/*/children`` (the rest of the container runs on).

``PYOCI_SANDBOX_LAUNCH=spawn`` starts each shim by exec instead (no fork server).

Threads and tasks on one ``Container``: one caller at a time reads the shim's
socket and files what it got (exit statuses; answers by request number, the
shim answering in order) under a condition the others wait on, so a
``wait()`` in one thread holds back no ``exec()``, ``delete()`` or
``communicate()`` in another (no thread is started: the callers take turns).
In asyncio, the tasks awaiting one container share a single ``add_reader``
on that socket.  A delete that kills the container reports the init's exit
status first: a concurrent ``wait()`` returns ``-9``.

``run()`` asks its shim to start the container as soon as it is created and
to delete it as soon as its init has exited, reporting the exit status with
the accounting only then (two round trips fewer than create/start/delete);
the accounting reads only the five cgroup files it reports.  The fork server
freezes (``gc.freeze()``) what it imported: a collection in a forked child
would touch every object.

``run()`` goes further: the shim's ``create`` starts the container itself
(``create(start=True)``: no exec.fifo, no waiter, no ``start``) when no hook
or terminal stands between, and a config without hooks travels in the
request (validated here, as ``create`` validates; no temporary bundle).

Cost (``bench/embed.py -n 30``, 2026-12-07 13:27 UTC, three runs of main on
the 2-core dev VM, load ~1.5; README "Embedding" has the table):
``run()`` / ``runc run`` 0.56-0.60 (target 0.5: not met; 0.74 median that
morning), 8 in flight through asyncio / runc's throughput 1.41-1.55 (target
2: not met; 1.22), CPU per container 14.5-16.5 ms against runc's 21.5-25.2
(crun 7.2-8.8).  ``Container.exec(["true"])``: 5 ms.

What bounds it (measured):

* Throughput on 2 cores is 2000 ms / CPU per container; 2x runc's needs
  ~11-12 ms, crun's range.  By process (perf, by process name): the shim
  ~40%, the init ~21%, stage 1 ~13%, the embedder ~10%, the fork server ~6%.
  Each of the shim, stage 1 and the init is a fork of a Python process:
  copy-on-write faults (~1000 in the shim, ~400 in stage 1, ~500 in the
  init, at ~2.6 us each) and the kernel's work for the namespaces and ~25
  mounts.
* Latency, one ``run()`` of ~15.5 ms (timestamps in each process, medians
  of 30): 0.8 ms to the fork server, 0.9 ms to the shim's ``create``, 3.7 ms
  of ``create`` before stage 1 (checks, state dir, the cgroups in 9 v1
  hierarchies and their parent), 2.2 ms of stage 1 (it joins the v1
  hierarchies itself: no RCU grace period), 4.9 ms of the init (a private
  procfs, the mounts, the device rules the parent writes, pivot_root, the
  process settings), 0.4 ms to the exit, 1.1 ms of accounting and delete,
  0.6 ms back to the caller.
* Folding stage 1 into the init (one ``clone3`` with the namespace flags,
  as crun does) would save ~1 ms of that chain and ~2 ms of CPU; not done.
* Tried and not kept: a pre-forked shim (0.37 ms saved of ~20, within the
  noise); having it break its copy-on-write ahead (``MADV_POPULATE_WRITE``:
  +4.5 ms CPU per container, 7% slower).

The same path is used whatever the thread count.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyoci.sandbox.config import Bind as Bind
    from pyoci.sandbox.config import Bundle as Bundle
    from pyoci.sandbox.config import Config as Config
    from pyoci.sandbox.config import Mount as Mount
    from pyoci.sandbox.config import Tmpfs as Tmpfs
    from pyoci.sandbox.container import DEVNULL as DEVNULL
    from pyoci.sandbox.container import PIPE as PIPE
    from pyoci.sandbox.container import STDOUT as STDOUT
    from pyoci.sandbox.container import Container as Container
    from pyoci.sandbox.container import default_root as default_root
    from pyoci.sandbox.oneshot import run as run
    from pyoci.sandbox.oneshot import run_async as run_async
    from pyoci.sandbox.results import CalledProcessError as CalledProcessError
    from pyoci.sandbox.results import Completed as Completed
    from pyoci.sandbox.results import ExecutableNotFound as ExecutableNotFound
    from pyoci.sandbox.results import Stats as Stats
    from pyoci.sandbox.results import TimeoutExpired as TimeoutExpired

# Lazy, so that the shim (``pyoci.sandbox._shim``, a runtime process) imports
# none of the embedder-side modules.
_WHERE = {
    "Bind": "config",
    "Bundle": "config",
    "Config": "config",
    "Mount": "config",
    "Tmpfs": "config",
    "DEVNULL": "container",
    "PIPE": "container",
    "STDOUT": "container",
    "Container": "container",
    "default_root": "container",
    "run": "oneshot",
    "run_async": "oneshot",
    "CalledProcessError": "results",
    "Completed": "results",
    "ExecutableNotFound": "results",
    "Stats": "results",
    "TimeoutExpired": "results",
}

__all__ = [
    "DEVNULL",
    "PIPE",
    "STDOUT",
    "Bind",
    "Bundle",
    "CalledProcessError",
    "Completed",
    "Config",
    "Container",
    "ExecutableNotFound",
    "Mount",
    "Stats",
    "TimeoutExpired",
    "Tmpfs",
    "default_root",
    "run",
    "run_async",
]


def __getattr__(name: str) -> object:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(f"pyoci.sandbox.{where}"), name)
