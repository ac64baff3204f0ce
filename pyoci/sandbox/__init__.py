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

Cost, measured with ``bench/embed.py -n 30 --rounds 5`` on the 2-core dev VM
(2026-12-07, shared with other jobs at a load average of 2-6: single figures
swing by 2x; the ratios are of medians measured in the same run; busybox
``true``), seven runs, and five of the tree before these changes interleaved:

* ``Container.exec(["true"])``: 20 ms (69 ms before, when it ran the ``pyoci
  exec`` CLI in an interpreter of its own).
* ``pyoci.run()`` / ``runc run``: 0.63-1.00, median 0.82 (before: 0.85-1.24,
  median 0.92); the calmest run: 17.7 ms against 21.5.  / ``crun run``:
  1.5-2.5.  Target 0.5x: not met.
* 8 in flight through asyncio / runc's throughput: 0.91-1.61, median 1.16
  (before: 0.61-1.04, median 0.88); / crun's: 0.43-0.54.  Target 2x: not met.
* Re-measured later that day (``-n 20 --rounds 4``, seven runs of ``main``
  at e6d724d): ``run()`` / ``runc run`` 0.67-0.98, median 0.74; throughput /
  runc's 0.93-1.28, median 1.22; CPU per container 16-23 ms, median 17.7
  (runc 21-26, median 22.7).

What bounds it (measured):

* CPU per container (user + system of every process it takes, from
  ``RUSAGE_CHILDREN``): pyoci 17-28 ms, runc 22-29 ms, crun 8-11 ms.  On 2
  cores, 8 in flight are CPU-bound: throughput is at most 2000 ms / CPU per
  container, so 2x runc's needs half of runc's CPU per container (11-14 ms,
  crun's range).  Two thirds of pyoci's is kernel time (perf): the shim,
  stage 1 and the init are three forks of a Python process (~2500 minor
  faults a container, mostly copy-on-write), then the namespaces and mounts.
  The shim's own work is ~7 ms of CPU, stage 1 ~5 ms, the init and ``true``
  ~6 ms (rusage of each).
* The first migration into a v1 cgroup waits for an RCU grace period
  (``cgroup_threadgroup_rwsem``): 8 ms median, 0.1-20 ms, measured alone on
  this host; the kernel holds ``cgroup_mutex`` meanwhile, which also holds
  up every other container's cgroup mkdir.  Stage 1 sets up its namespaces in
  the meantime (~5 ms), the rest is waited.  runc and crun pay it as well.
* The init's own work in Python (mounts, pivot_root, capabilities, seccomp):
  ~8 ms of wall time.
* Where the copy-on-write faults are (``ru_minflt`` of each process, median
  of 30 ``run()``): the shim ~210 before ``create`` and ~760 in it, ~50 in
  its wait and delete; stage 1 ~700; the init and ``true`` ~600.  A COW
  fault costs ~2.6 us here (16 MB written after a fork): ~6 ms of the CPU
  per container.  A child of the fork server faults ~230 pages merely
  validating a config (0.5 ms) whether or not the server ran it 20 times
  before forking (so not bytecode quickening: refcounts and allocator pools).
* Tried and not kept (2026-12-07): a pre-forked shim (the fork server keeps
  one shim forked and waiting; a request is passed on to it over a
  socketpair and the next is forked off the critical path).  The embedder's
  send to the shim's first line of ``create`` went from 1.45 to 1.08 ms
  (median); ``run()`` latency in the same process, blocks alternating:
  0.93-0.99 of without; ``bench/embed.py`` runs alternating: ``run()`` /
  ``runc run`` median 0.66 with, 0.78 without (three each: within the
  noise); CPU per container unchanged.  Having the waiting shim break its
  COW ahead (``MADV_POPULATE_WRITE`` over its writable mappings) made it
  worse: +4.5 ms CPU per container and 7% slower (it competes for the 2
  cores with the container being created).  A bundle written per run costs
  0.55 ms on this VM's ext4 ``/tmp`` (0.1 ms on tmpfs).  One ``run()`` of
  24 ms (medians of 30, timestamps in each process): 2.2 ms in the embedder
  before its request is sent (config, validation, bundle), 1.0 ms to the
  shim's ``create`` (fork included), 18.5 ms ``create`` and start, 1.9 ms
  to the exit, accounting and delete, 0.3 ms back to the caller: what is
  left to cut is in ``create``, not in the embedding layer.

So 0.5x runc would need the grace period off the critical path (a container
made ahead of the call: a pool keyed by config) and a leaner init; neither
is in the embedding layer.  The fork server and the shim cost nothing
measurable over the in-process ``Runtime`` lifecycle, which forks the caller
(26.0 against 26.1 ms in one run; 2-8 ms more before ``run()`` saved its
round trips).
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
