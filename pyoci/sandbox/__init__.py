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
(stage 1).  From a multi-threaded program that is unsafe (locks held by other
threads stay locked in the child).  So the embedding API never forks the
embedder to run Python: each container gets a *shim*, a fresh
``python -I -S`` started by ``subprocess`` (vfork/posix_spawn + exec, no
Python code between fork and exec), which runs the same ``create`` path as
the CLI and stays as the container's subreaper and reporter.  The embedder
talks to it over a socketpair; when the embedder dies (even SIGKILL) the shim
sees EOF and kills and deletes the container.  Signals, pause/resume, update,
stats and ps are done in the embedder's process (no fork).

Cost (measured on the 2-core dev VM, busybox ``true``, see ``bench/embed.py``):
the shim pays one interpreter start plus the create imports, about 30-40 ms
more than :class:`pyoci.Runtime`'s in-process create/start/delete, which forks
the caller; ``pyoci.run()`` remains faster than ``runc run`` through
``subprocess``.  The same path is used whatever the thread count: one code
path, always safe.
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
