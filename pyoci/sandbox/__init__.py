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
  process (no fork); ``Container.exec`` runs ``pyoci exec`` as a process of
  its own.

``PYOCI_SANDBOX_LAUNCH=spawn`` starts each shim by exec instead (no fork server).

Cost, measured with ``bench/embed.py -n 15`` on the 2-core dev VM shared with
other jobs (busybox ``true``, medians of two runs): ``pyoci.run()`` 57-64 ms,
the in-process ``Runtime`` create/start/wait/delete (which forks the caller)
48-61 ms, ``runc run`` through ``subprocess`` 59-75 ms: the fork server + shim
cost 2.5-9.5 ms a container (``run()`` at 0.85-0.97x runc).  Spawning a shim per
container by exec instead costs 30-45 ms more (interpreter start, imports,
schema compile), which is why the fork server exists.  8 in flight through
asyncio: 28-31 containers/s, as runc through ``asyncio.create_subprocess_exec``
(both CPU-bound on 2 cores).  The same path is used whatever the thread count.
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
