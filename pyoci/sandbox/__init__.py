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

from pyoci.sandbox.config import Bind, Bundle, Config, Mount, Tmpfs
from pyoci.sandbox.container import DEVNULL, PIPE, STDOUT, Container, default_root
from pyoci.sandbox.oneshot import run, run_async
from pyoci.sandbox.results import (
    CalledProcessError,
    Completed,
    ExecutableNotFound,
    Stats,
    TimeoutExpired,
)

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
