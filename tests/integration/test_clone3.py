"""``pyoci.native.clone3``: a fork CPython knows about, and the container's init
born in its cgroup (``clone3`` ``CLONE_INTO_CGROUP``) on pure cgroup v2.

The first part holds the safety argument of ``pyoci/native/clone3.py`` where it
can be tested: in the child of ``clone3_fork`` Python runs (imports, threads,
``subprocess``, a nested fork, signal handlers), ``os.getpid()`` is the child's,
the at-fork hooks run on the right side, the stdlib's own hooks ran (``random``
reseeded).  Each child reports through a pipe and ends in ``os._exit``.

The second part (root) checks placement with the kernel's own evidence:
``/proc/PID/cgroup``, and an inotify watch on the cgroup's ``cgroup.procs``
that sees any write to it (a migration) by anyone.  On a pure v2 host the
init of ``pyoci create`` is in its cgroup and nobody wrote ``cgroup.procs``;
on v1 and hybrid hosts (this one), with a user namespace, and when a seccomp
filter makes ``clone3`` fail (as docker's default profile does in a nested
container), stage 1 is moved there as before: one write per hierarchy.

Runs here and in the pure v2 and v1 guests (tools/cgroup-guests.sh).
"""

from __future__ import annotations

import errno
import json
import os
import select
import signal
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    CGROUP_PARENT,
    RuntimeCLI,
    log_lines,
    seccomp_profile,
    seccomp_rule,
    wait_for,
)

from pyoci import native
from pyoci.cgroups import layout
from pyoci.native.clone3 import clone3_fork

SLOW = 300.0  # a create in the emulated guests takes seconds
IN_MODIFY = 0x2


def in_clone3_child(body: Callable[[], object], cgroup_fd: int = -1) -> tuple[int, Any, int]:
    """Run ``body`` in a ``clone3_fork`` child; returns (wait status, what it
    returned (JSON), child pid)."""
    r, w = os.pipe()
    pid = clone3_fork(cgroup_fd)
    if pid == 0:  # pragma: no cover - child
        code = 0
        try:
            os.close(r)
            os.write(w, json.dumps(body()).encode())
        except BaseException as exc:
            try:
                os.write(w, json.dumps(f"{type(exc).__name__}: {exc}").encode())
            finally:
                code = 3
        finally:
            os._exit(code)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    return status, json.loads(b"".join(chunks) or b"null"), pid


def ok(status: int, report: Any) -> Any:
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (status, report)
    return report


# ---------------------------------------------------------------- the fork


def test_child_runs_python_with_its_own_pid() -> None:
    parent = os.getpid()

    def body() -> object:
        import colorsys  # a module nobody imported yet: the import lock works

        return [os.getpid(), os.getppid(), colorsys.rgb_to_hsv(1, 0, 0)[0]]

    status, report, pid = in_clone3_child(body)
    assert ok(status, report) == [pid, parent, 0.0]
    import fractions  # and in the parent after the fork

    assert fractions.Fraction(1, 2) * 2 == 1


def test_at_fork_hooks_run_on_each_side() -> None:
    r, w = os.pipe()
    seen: list[str] = []

    def note(what: str) -> Callable[[], None]:
        def hook() -> None:
            seen.append(what)
            os.write(w, f"{what}:{os.getpid()}\n".encode())

        return hook

    os.register_at_fork(
        before=note("before"), after_in_parent=note("parent"), after_in_child=note("child")
    )
    try:
        status, report, pid = in_clone3_child(lambda: seen)
    finally:
        # hooks cannot be unregistered: make them no-ops for the rest of the session
        os.close(w)
        w = os.open(os.devnull, os.O_WRONLY)
    lines = os.read(r, 4096).decode().split()
    os.close(r)
    me = os.getpid()
    # before (in the parent), then the child's and the parent's after-hooks (in either order)
    assert lines[0] == f"before:{me}", lines
    assert sorted(lines[1:]) == sorted([f"parent:{me}", f"child:{pid}"]), lines
    assert ok(status, report)[-2:] == ["before", "child"]  # the child's copy of ``seen``
    assert seen[-2:] == ["before", "parent"]


def test_stdlib_fork_hooks_ran_random_is_reseeded() -> None:
    import random

    state = random.getstate()
    status, report, _ = in_clone3_child(lambda: random.random())
    child = ok(status, report)
    random.setstate(state)
    # Without random's after_in_child hook the child would draw the parent's next number.
    assert child != random.random()


def test_threads_subprocess_and_fork_in_the_child() -> None:
    def body() -> object:
        import subprocess
        import threading

        out: list[int] = []
        t = threading.Thread(target=lambda: out.append(threading.get_native_id()))
        t.start()
        t.join()
        main_is_main = threading.current_thread() is threading.main_thread()
        echoed = subprocess.run(["echo", "hi"], capture_output=True, check=True).stdout
        pid = os.fork()
        if pid == 0:
            os._exit(5)
        _, st = os.waitpid(pid, 0)
        return [
            out[0] != os.getpid(),
            threading.get_native_id() == os.getpid(),
            main_is_main,
            echoed.decode(),
            os.waitstatus_to_exitcode(st),
        ]

    status, report, _ = in_clone3_child(body)
    assert ok(status, report) == [True, True, True, "hi\n", 5]


def test_signal_handlers_run_in_the_child() -> None:
    def body() -> object:
        got: list[int] = []
        signal.signal(signal.SIGUSR1, lambda s, _f: got.append(s))
        signal.signal(signal.SIGUSR2, lambda s, _f: got.append(s))
        os.kill(os.getpid(), signal.SIGUSR1)  # kill(2) on our pid
        signal.raise_signal(signal.SIGUSR2)  # glibc raise(): tgkill on gettid()
        return got

    old1 = signal.getsignal(signal.SIGUSR1)
    old2 = signal.getsignal(signal.SIGUSR2)
    status, report, _ = in_clone3_child(body)
    assert ok(status, report) == [signal.SIGUSR1, signal.SIGUSR2]
    assert signal.getsignal(signal.SIGUSR1) == old1  # the parent's are untouched
    assert signal.getsignal(signal.SIGUSR2) == old2


def test_an_inherited_python_handler_runs_in_the_child() -> None:
    got: list[int] = []
    old = signal.signal(signal.SIGUSR1, lambda s, _f: got.append(s))
    try:
        status, report, _ = in_clone3_child(lambda: (os.kill(os.getpid(), signal.SIGUSR1), got)[1])
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert ok(status, report) == [signal.SIGUSR1]
    assert got == []


def test_errors_are_oserrors_with_the_path() -> None:
    r, w = os.pipe()  # not a cgroup directory
    try:
        with pytest.raises(OSError) as info:
            clone3_fork(r, "/not/a/cgroup")
    finally:
        os.close(r)
        os.close(w)
    assert info.value.errno == errno.EBADF
    assert info.value.filename == "/not/a/cgroup"


# ---------------------------------------------------------------- into a cgroup

try:
    HOST: layout.Layout | None = layout.detect()
except Exception:  # pragma: no cover - depends on the machine
    HOST = None

needs_cgroup2 = pytest.mark.skipif(
    HOST is None or HOST.unified is None, reason="no cgroup2 hierarchy on this host"
)


@pytest.fixture
def cgroup2_dir() -> Iterator[Path]:
    assert HOST is not None and HOST.unified is not None
    parent = Path(HOST.unified.mountpoint) / CGROUP_PARENT.lstrip("/")
    parent.mkdir(exist_ok=True)
    d = parent / f"clone3-{os.getpid()}"
    d.mkdir()
    yield d
    d.rmdir()


class ProcsWatch:
    """inotify IN_MODIFY on the ``cgroup.procs`` (or ``tasks``) of some cgroup
    directories: every write to one of them (a process moved in) is an event."""

    def __init__(self, dirs: list[str], name: str = "cgroup.procs") -> None:
        self.fd = native.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        self.names = {
            native.inotify_add_watch(self.fd, f"{d}/{name}", IN_MODIFY): d for d in dirs
        }

    def written(self) -> list[str]:
        """The directories whose cgroup.procs was written since the last call."""
        out = []
        while select.select([self.fd], [], [], 0)[0]:
            data = os.read(self.fd, 65536)
            off = 0
            while off < len(data):
                wd, mask, _cookie, size = struct.unpack_from("iIII", data, off)
                off += 16 + size
                if mask & IN_MODIFY:
                    out.append(self.names[wd])
        return out

    def close(self) -> None:
        os.close(self.fd)


@pytest.mark.root
@needs_cgroup2
def test_child_born_in_the_cgroup_without_a_write(cgroup2_dir: Path) -> None:
    watch = ProcsWatch([str(cgroup2_dir)])
    fd = os.open(cgroup2_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        status, report, _ = in_clone3_child(
            lambda: Path("/proc/self/cgroup").read_text().splitlines(), fd
        )
    finally:
        os.close(fd)
    lines = ok(status, report)
    assert f"0::/{cgroup2_dir.relative_to(HOST.unified.mountpoint)}" in lines  # type: ignore[union-attr]
    assert watch.written() == []
    watch.close()


# ---------------------------------------------------------------- pyoci create


def _precreate(cgroups_path: str) -> list[str]:
    """The container's cgroup directories, made before ``create`` (which accepts
    an empty one) so that their cgroup.procs can be watched from the start."""
    from pyoci.cgroups.manager import FsManager, manager_for_create

    mgr = manager_for_create("c", cgroups_path)
    assert isinstance(mgr, FsManager)
    mgr.create()
    return mgr.dirs()


def _expected_cgroup(pid: int, dirs: list[str]) -> None:
    """``pid`` is in the container's cgroup in every hierarchy."""
    assert HOST is not None
    text = Path(f"/proc/{pid}/cgroup").read_text()
    mounts = {h.mountpoint for h in HOST.v1} | (
        {HOST.unified.mountpoint} if HOST.unified else set()
    )
    for d in dirs:
        mp = max((m for m in mounts if d.startswith(m + "/")), key=len)
        assert f":{d[len(mp) :]}\n" in text, (d, text)


def _pure_v2() -> bool:
    return HOST is not None and HOST.mode == "v2"


def _v1_dirs(dirs: list[str]) -> list[str]:
    assert HOST is not None
    unified = HOST.unified.mountpoint if HOST.unified else None
    return [d for d in dirs if not (unified and d.startswith(unified + "/"))]


def _create(
    pyoci: RuntimeCLI,
    bundle_factory: Any,
    *,
    mutate: Any = None,
    preexec_fn: Any = None,
    tasks: list[str] | None = None,
) -> tuple[int, list[str], list[str]]:
    """create (with --debug); (init pid, the cgroup dirs, those whose
    cgroup.procs was written); the v1 dirs whose ``tasks`` file was written
    are appended to ``tasks``."""
    b = bundle_factory(["true"], mutate=mutate)
    dirs = _precreate(b.config["linux"]["cgroupsPath"])
    watch = ProcsWatch(dirs)
    task_watch = ProcsWatch(_v1_dirs(dirs), "tasks")
    try:
        pyoci("--debug", "create", "--bundle", str(b.path), "c", check=True, timeout=SLOW,
              preexec_fn=preexec_fn)  # fmt: skip
        written = watch.written()
        if tasks is not None:
            tasks.extend(task_watch.written())
    finally:
        watch.close()
        task_watch.close()
    return int(pyoci.state("c")["pid"]), dirs, written


def _start_and_wait(pyoci: RuntimeCLI) -> None:
    """The container created by ``_create`` runs ``true`` to its end."""
    pyoci("start", "c", check=True, timeout=SLOW)
    assert wait_for(lambda: pyoci.state("c")["status"] == "stopped", timeout=SLOW, interval=0.05)
    pyoci("delete", "c", check=True, timeout=SLOW)


@pytest.mark.root
def test_init_is_born_in_its_cgroup(pyoci: RuntimeCLI, bundle_factory: Any) -> None:
    tasks: list[str] = []
    pid, dirs, written = _create(pyoci, bundle_factory, tasks=tasks)
    _expected_cgroup(pid, dirs)
    # nothing is moved with a cgroup.procs write (its first one waits for an
    # RCU grace period): pure v2, the init is born in the cgroup; v1 and
    # hybrid, stage 1 joins each v1 hierarchy itself through its tasks file
    # ("0": its own thread), and on hybrid the init is born in the cgroup2 one
    assert written == [], "nothing may be moved into the cgroup with cgroup.procs"
    assert sorted(tasks) == sorted(_v1_dirs(dirs))
    _start_and_wait(pyoci)


@pytest.mark.root
def test_root_runtime_with_a_user_namespace_moves_stage_1(
    pyoci: RuntimeCLI, bundle_factory: Any
) -> None:
    """Root in the container's user namespace cannot write the host root's
    cgroup.procs, which clone3 into the cgroup requires: the parent moves it."""

    def userns(cfg: dict[str, Any]) -> None:
        cfg["linux"]["namespaces"].append({"type": "user"})
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]

    pid, dirs, written = _create(pyoci, bundle_factory, mutate=userns)
    _expected_cgroup(pid, dirs)
    assert sorted(written) == sorted(dirs)
    _start_and_wait(pyoci)


@pytest.mark.root
@pytest.mark.parametrize("err", [errno.ENOSYS, errno.EPERM])
def test_clone3_refused_by_seccomp_falls_back(
    pyoci: RuntimeCLI, bundle_factory: Any, workdir: Path, err: int
) -> None:
    """A nested container's seccomp profile (docker's: ENOSYS) refuses clone3:
    stage 1 asks to be moved into the cgroup and forks the init."""
    from pyoci.seccomp.compile import compile_profile
    from pyoci.seccomp.load import install

    program = compile_profile(
        seccomp_profile(seccomp_rule(["clone3"], "SCMP_ACT_ERRNO", errnoRet=err))
    )
    pid, dirs, written = _create(pyoci, bundle_factory, preexec_fn=lambda: install(program))
    _expected_cgroup(pid, dirs)
    if HOST is not None and HOST.unified is not None:
        # clone3 is needed for the cgroup2 hierarchy (pure v2, hybrid)
        assert sorted(written) == sorted(dirs)
    else:
        assert written == []  # pure v1: stage 1 joined every hierarchy itself
    if _pure_v2():
        assert pyoci.log is not None
        why = [line["msg"] for line in log_lines(pyoci.log) if "clone3" in line["msg"]]
        assert why and os.strerror(err) in why[0], why
    _start_and_wait(pyoci)


@pytest.mark.parametrize(
    ("namespaces", "euid", "expected"),
    [
        ({"pid": None, "cgroup": None}, 0, True),
        ({"user": None}, 0, False),  # root in the container's user namespace
        ({"user": "/proc/1/ns/user"}, 0, False),
        ({"user": None}, 1000, True),  # rootless: its delegated cgroup is its user's
        ({"cgroup": "/proc/1/ns/cgroup"}, 0, False),  # joined: the kernel checks against it
    ],
)
def test_when_stage_1_spawns_into_the_cgroup(
    monkeypatch: pytest.MonkeyPatch, namespaces: dict[str, str | None], euid: int, expected: bool
) -> None:
    import posix

    from pyoci.ops import container

    monkeypatch.setattr(posix, "geteuid", lambda: euid)
    assert container._can_spawn_into_cgroup(namespaces) is expected
