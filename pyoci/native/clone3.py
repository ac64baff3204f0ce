"""A fork CPython knows about, through ``clone3(2)``: the child can be born in a
cgroup (``CLONE_INTO_CGROUP``, Linux 5.7), as crun starts its containers.

Why: a process written to ``cgroup.procs`` is *migrated*, and a migration takes
the cgroup threadgroup lock for writing, which waits for an RCU grace period
(7-25 ms on the development machine for the first one).  A process born in its
cgroup is never migrated: ``clone3`` only takes that lock for reading.  Stage 1
spawns the container's init this way on a pure cgroup v2 host
(``pyoci.init.stage``); where it cannot, the parent moves stage 1 as before.

``clone3_fork(cgroup_fd)`` is ``os.fork()`` with the raw syscall in place of
glibc's ``fork()``: the C shim (``pyoci_clone3_fork`` in ``_build.py``) does
what ``os.fork`` does around it, in the same order, with the GIL held:

1. ``PyOS_BeforeFork()``: runs the ``os.register_at_fork(before=...)`` hooks,
   then takes the import lock, so no import is half done in the child;
2. ``syscall(SYS_clone3, {exit_signal=SIGCHLD, [CLONE_INTO_CGROUP, cgroup]})``:
   no ``CLONE_VM``, no new stack: the child gets a copy of the whole address
   space and returns from the same call, exactly as from ``fork()``;
3. child: ``PyOS_AfterFork_Child()``: re-creates the GIL-state key, the GIL
   (taken by the calling thread state), the import lock, clears the signals
   that were pending in the parent, deletes every other thread state, then
   runs the ``after_in_child`` hooks (``random`` reseeds, ``threading``
   forgets the parent's threads); parent: ``PyOS_AfterFork_Parent()``
   releases the import lock and runs the ``after_in_parent`` hooks.  On
   failure the parent path runs too and ``errno`` is kept for the caller.

cffi calls C without the GIL; the shim takes it back (``PyGILState_Ensure``)
for those three steps, as ``os.fork`` holds it, and gives it back after.

Why the rest of the process is consistent in the child
-------------------------------------------------------

What glibc's ``fork()`` adds to the syscall is for *other threads*: it takes
the malloc arena locks, the stdio list lock and the loader lock so that no
other thread holds them at the instant of the copy, resets them in the child,
and runs ``pthread_atfork`` handlers.  The caller here has one thread by
construction, whatever the runtime process does: stage 1 is itself a child
of ``os.fork()`` (only the forking thread survives a fork) and starts none
(pyoci's rule: no threads in the runtime).  With one thread, no lock can be
held by anyone else when the syscall runs: each is in the state the only
thread left it, unlocked, since that thread is inside this call.  The
``pthread_atfork`` handlers a library may have registered do not run; none
of the objects stage 1 has mapped calls ``pthread_atfork`` (``nm -D`` on
Debian 12: the python3.11 executable, which holds libpython, its libm, libz
and libexpat, the ``_json`` and ``resource`` modules, cffi's backend, pyoci's
two cffi modules and libseccomp); glibc's own fork-time work is the locking
above.

One piece of glibc's per-thread state is stale in the child: the thread id
cached in its thread control block (glibc's ``fork`` has the kernel write the
new one there; a raw ``clone3`` does not).  glibc 2.36 uses it for the owner
field of recursive and error-checking mutexes (consistent: only this thread
exists, and it reads the same stale value it wrote) and for signalling
*other* threads; ``raise``/``abort``/``pthread_kill`` on oneself and
``pthread_setname_np`` on oneself use ``gettid``/``prctl``, and ``getpid``
is not cached since glibc 2.25.  CPython's own thread identity is
``pthread_self()`` (the same address in the child) and its native id comes
from ``gettid``.  crun runs its container's whole setup in such a child.

Signals: dispositions and the mask are inherited as by ``fork``; a Python
signal handler runs in the child (the main thread's identity is
``pthread_self()``), and signals the parent had received but not yet handled
in Python are dropped in the child, as after ``os.fork``.

Not done, unlike ``os.fork``: the ``os.fork`` audit event, and 3.12's warning
about forking with threads (moot: one thread).

``tests/unit/test_clone3.py`` holds this: the child runs Python (imports,
threads, ``subprocess``, signal handlers), the at-fork hooks run where they
should, ``os.getpid()``/``os.getppid()`` are right, a ``fork`` in the child
works; ``tests/integration/test_clone_into_cgroup.py`` checks the cgroup
placement and the fallbacks.
"""

from __future__ import annotations

import posix

from pyoci.native._lib import ffi, lib


def clone3_fork(cgroup_fd: int = -1, path: str | None = None) -> int:
    """Fork with ``clone3``: 0 in the child, the child's pid in the parent.

    ``cgroup_fd`` (an ``O_PATH`` or ``O_RDONLY`` fd of a cgroup2 directory):
    the child is born in that cgroup.  Raises ``OSError(errno, strerror,
    path)`` (``path``: the cgroup directory, for the message): ``ENOSYS``
    without ``clone3`` (kernel < 5.3, or a seccomp filter such as docker's
    default profile), ``E2BIG`` for ``CLONE_INTO_CGROUP`` before 5.7,
    ``EACCES``/``EPERM`` where the caller could not write the cgroup's
    ``cgroup.procs``, ``EBUSY``/``EOPNOTSUPP`` for a cgroup that cannot take
    processes, ``EAGAIN`` at a pids limit.

    Call it only from a process with a single thread (see the module
    docstring): stage 1, or a test's forked child.
    """
    pid = lib.pyoci_clone3_fork(cgroup_fd)
    if pid < 0:
        err = ffi.errno
        if path is None:
            raise OSError(err, posix.strerror(err))
        raise OSError(err, posix.strerror(err), path)
    return pid
