"""The embedding API (pyoci.sandbox) with real containers: run(), the Container
handle, stdio, limits, timeouts, cleanup, threads and asyncio."""

from __future__ import annotations

import asyncio
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import CGROUP_PARENT, cgroup_dirs_of_session, mounts_under, pids_with_cmdline

import pyoci
from pyoci.sandbox import Bind, Config, Container, Tmpfs

pytestmark = pytest.mark.root

PARENT = f"{CGROUP_PARENT}/sandbox"


def _bundles_mentioning(text: str) -> list[Path]:
    """The bundles pyoci made (under the temp dir) whose config mentions ``text``."""
    found = []
    for b in Path(tempfile.gettempdir()).glob("pyoci-bundle-*"):
        try:
            if text in (b / "config.json").read_text(errors="replace"):
                found.append(b)
        except OSError:
            pass  # another's, going away
    return found


@pytest.fixture
def sroot() -> Iterator[str]:
    d = tempfile.mkdtemp(prefix="pyoci-sbx-root-")
    yield d
    left = [n for n in os.listdir(d) if not n.startswith(".")]
    assert not left, f"state dirs left: {left}"
    assert not pids_with_cmdline(d), "shim or container processes left"
    assert not [c for c in cgroup_dirs_of_session() if "/sandbox/" in c], "cgroups left"
    assert not _bundles_mentioning(PARENT), "bundles left"
    for parent in cgroup_dirs_of_session():
        if parent.endswith("/sandbox"):
            os.rmdir(parent)  # the parent the containers' cgroups were made in
    subprocess.run(["rm", "-rf", d], check=False)


@pytest.fixture
def cfg(rootfs: Path) -> Callable[..., Config]:
    def make(args: list[str]) -> Config:
        return Config(args, rootfs=rootfs).cgroup_parent(PARENT)

    return make


@pytest.fixture
def run(cfg: Callable[..., Config], sroot: str) -> Callable[..., pyoci.Completed]:
    def call(args: list[str], **kw: Any) -> pyoci.Completed:
        return pyoci.run(args, config=cfg(args), root=sroot, **kw)

    return call


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


# ---------------------------------------------------------------- run()


def test_run_captures_output_and_exit_code(run: Any) -> None:
    r = run(sh("echo out; echo err >&2; exit 3"), capture_output=True)
    assert (r.returncode, r.stdout, r.stderr) == (3, b"out\n", b"err\n")
    assert isinstance(r, subprocess.CompletedProcess)
    assert r.signal is None and not r.timed_out and not r.oom_killed
    assert r.duration > 0 and r.cpu_time >= 0


def test_run_input_text_and_env_cwd_user(run: Any) -> None:
    r = run(["cat"], input="héllo", capture_output=True, text=True)
    assert r.stdout == "héllo"
    r = run(sh('echo "$FOO $(pwd) $(id -u):$(id -g) $HOME"'), capture_output=True, text=True,
            env={"FOO": "bar"}, cwd="/tmp", user="1000:1000")
    assert r.stdout.split()[:3] == ["bar", "/tmp", "1000:1000"]


def test_run_stdio_to_files_devnull_and_stderr_to_stdout(run: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with open(out, "wb") as f:
        r = run(sh("echo a; echo b >&2"), stdout=f, stderr=subprocess.STDOUT)
    assert r.returncode == 0 and out.read_bytes() == b"a\nb\n"
    r = run(sh("echo a"), stdout=subprocess.DEVNULL)
    assert r.stdout is None


def test_big_input_and_output_on_both_pipes_do_not_deadlock(run: Any) -> None:
    r = run(sh("cat; head -c 10000000 /dev/zero >&2"), input=b"x" * 3_000_000,
            capture_output=True, timeout=120)
    assert len(r.stdout) == 3_000_000 and len(r.stderr) == 10_000_000


def test_handle_streams_like_popen(cfg: Any, sroot: str) -> None:
    c = Container(cfg(sh("read x; echo got $x")), stdin=pyoci.PIPE, stdout=pyoci.PIPE,
                  text=True, root=sroot)
    with c:
        c.start()
        assert c.stdin is not None and c.stdout is not None
        c.stdin.write("hello\n")
        c.stdin.flush()
        assert c.stdout.readline() == "got hello\n"
        assert c.wait(timeout=10) == 0


def test_run_check_raises_called_process_error(run: Any) -> None:
    with pytest.raises(pyoci.CalledProcessError) as info:
        run(sh("exit 5"), check=True, capture_output=True)
    assert isinstance(info.value, subprocess.CalledProcessError)
    assert isinstance(info.value, pyoci.PyociError)
    assert info.value.returncode == 5 and info.value.result is not None


def test_run_timeout_kills_whole_container(run: Any, sroot: str) -> None:
    started = time.monotonic()
    with pytest.raises(pyoci.TimeoutExpired) as info:
        run(sh("echo before; sleep 3011 & exec sleep 3012"), capture_output=True, timeout=1)
    assert time.monotonic() - started < 10
    exc = info.value
    assert isinstance(exc, subprocess.TimeoutExpired)
    assert exc.stdout == b"before\n"
    assert exc.result is not None and exc.result.timed_out and exc.result.returncode == -9
    # (a command line's words are NUL-separated)
    assert not pids_with_cmdline("sleep\x003011"), "the grandchild is killed too"
    assert not pids_with_cmdline("sleep\x003012")  # (sroot checks the rest)


def test_missing_program_is_file_not_found(run: Any) -> None:
    with pytest.raises(FileNotFoundError) as info:
        run(["/no/such/program"])
    assert isinstance(info.value, pyoci.PyociError)


def test_invalid_config_is_refused_before_anything(rootfs: Path, sroot: str) -> None:
    cfg = Config(["true"], rootfs=rootfs)
    cfg.spec["process"]["user"] = {"uid": "x"}
    with pytest.raises(pyoci.PyociError, match="uid"):
        pyoci.run(["true"], config=cfg, root=sroot)
    with pytest.raises(pyoci.PyociError, match="size"):
        pyoci.run(["true"], rootfs=rootfs, memory="lots", root=sroot)


def test_memory_limit_oom_is_reported(run: Any) -> None:
    # a 64 MiB string in a 32 MiB container: the kernel kills the shell
    r = run(sh("x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo survived"),
            memory="32m", capture_output=True)
    assert r.oom_killed, r
    assert r.returncode == -9
    assert r.memory_peak is not None and r.memory_peak >= 0.9 * 32 * 2**20


def test_pids_limit_contains_a_fork_bomb(run: Any) -> None:
    r = run(sh("for i in $(seq 40); do sleep 30 & done; wait"), pids=16, capture_output=True,
            timeout=30)
    assert b"can't fork" in r.stderr, r  # the 16th process could not be made
    assert r.returncode == 2


def test_network_off_readonly_root_and_mounts(run: Any, tmp_path: Path) -> None:
    r = run(["ls", "/sys/class/net"], capture_output=True, text=True)
    assert r.stdout.split() == ["lo"]
    r = run(sh("touch /etc/x"), capture_output=True)
    assert r.returncode != 0 and b"Read-only" in r.stderr
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "f").write_text("data\n")
    (tmp_path / "rw").mkdir()
    r = run(sh("cat /mnt/ro/f; touch /mnt/ro/g || echo ro-ok; echo w > /mnt/rw/w; "
               "echo t > /scratch/t && cat /scratch/t"),
            mounts=[Bind(str(tmp_path / "ro"), "/mnt/ro"),
                    Bind(str(tmp_path / "rw"), "/mnt/rw", readonly=False),
                    Tmpfs("/scratch", size="1m")],
            capture_output=True, text=True)
    assert r.stdout.split() == ["data", "ro-ok", "t"], r.stderr
    assert (tmp_path / "rw" / "w").read_text() == "w\n"


# ---------------------------------------------------------------- Container


def test_container_handle_verbs(cfg: Any, sroot: str) -> None:
    with Container(cfg(["sleep", "300"]), root=sroot) as c:
        assert c.state == "created"
        c.start()
        assert c.state == "running"
        with pytest.raises(subprocess.TimeoutExpired):
            c.wait(timeout=0.2)
        assert c.poll() is None and c.state == "running"  # wait's timeout does not kill
        assert c.pid in c.processes()
        e = c.exec(["cat", "/proc/1/cmdline"], capture_output=True)
        assert e.returncode == 0 and e.stdout == b"sleep\x00300\x00"
        c.pause()
        assert c.state == "paused"
        c.resume()
        c.update(pids=50, memory="64m")
        st = c.stats()
        assert st.pids_current >= 1 and st.memory_current > 0
        c.send_signal(signal.SIGTERM)  # pid 1 of its namespace: no handler, ignored
        with pytest.raises(subprocess.TimeoutExpired):
            c.wait(timeout=0.3)
        c.kill()  # SIGKILL, every process
        assert c.wait(timeout=10) == -signal.SIGKILL
        assert c.state == "stopped"
        c.delete()
        assert c.state == "deleted"
    assert c._bundle is None  # no hooks: the config went to the shim in the request


def test_exec_reports_a_signal_death_as_a_negative_returncode(cfg: Any, sroot: str) -> None:
    with Container(cfg(["sleep", "300"]), root=sroot) as c:
        c.start()
        r = c.exec(sh("echo hi; kill -9 $$"), capture_output=True)
        assert (r.returncode, r.signal, r.stdout) == (-9, 9, b"hi\n")
        r = c.exec(sh("exit 137"))
        assert (r.returncode, r.signal) == (137, None)
        with pytest.raises(pyoci.CalledProcessError, match="SIGTERM") as info:
            c.exec(sh("kill -TERM $$"), check=True)
        assert info.value.returncode == -signal.SIGTERM
        with pytest.raises(FileNotFoundError):
            c.exec(["/no/such/program"])
        assert c.poll() is None


def test_exec_timeout_kills_the_process_and_its_children_only(cfg: Any, sroot: str) -> None:
    with Container(cfg(["sleep", "300"]), root=sroot) as c:
        c.start()
        started = time.monotonic()
        with pytest.raises(pyoci.TimeoutExpired) as info:
            c.exec(sh("echo before; sleep 3021 & setsid sleep 3022 & exec sleep 3023"),
                   capture_output=True, timeout=0.5)
        assert time.monotonic() - started < 10
        exc = info.value
        assert isinstance(exc, subprocess.TimeoutExpired) and exc.stdout == b"before\n"
        assert exc.result is not None and exc.result.timed_out and exc.result.returncode == -9
        for n in (3021, 3022, 3023):
            assert not pids_with_cmdline(f"sleep\x00{n}"), f"sleep {n} left"
        # a child that double-forked away (re-parented to the container's
        # init, holding the pipe): killed too (it stayed in the session), and
        # the timeout is not held back by the pipe
        started = time.monotonic()
        with pytest.raises(pyoci.TimeoutExpired):
            c.exec(sh("(sleep 3024 &); exec sleep 3025"), capture_output=True, timeout=0.5)
        assert time.monotonic() - started < 10
        assert not pids_with_cmdline("sleep\x003024") and not pids_with_cmdline("sleep\x003025")
        # the container itself keeps running
        assert c.poll() is None and c.state == "running"
        assert c.exec(["true"]).returncode == 0
        assert c.processes() == [c.pid]


def test_exec_stdio_like_subprocess(cfg: Any, sroot: str, tmp_path: Path) -> None:
    with Container(cfg(["sleep", "300"]), root=sroot) as c:
        c.start()
        with open(tmp_path / "out", "wb") as f:
            assert c.exec(sh("echo a; echo b >&2"), stdout=f, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL).returncode == 0
        assert (tmp_path / "out").read_bytes() == b"a\nb\n"
        fd = os.open(tmp_path / "out", os.O_RDONLY)
        try:
            r = c.exec(["cat"], stdin=fd, capture_output=True, text=True)
        finally:
            os.close(fd)
        assert r.stdout == "a\nb\n"
        r = c.exec(sh("cat; head -c 5000000 /dev/zero >&2"), input=b"x" * 2_000_000,
                   capture_output=True, timeout=120)
        assert len(r.stdout) == 2_000_000 and len(r.stderr) == 5_000_000
        r = c.exec(sh('echo "$FOO $(pwd) $(id -u)"'), env={"FOO": "bar"}, cwd="/tmp",
                   user=1000, capture_output=True, text=True)
        assert r.stdout == "bar /tmp 1000\n"


@pytest.mark.parametrize("exc_type", [RuntimeError, KeyboardInterrupt])
def test_context_manager_cleans_up_when_body_raises(
    cfg: Any, sroot: str, exc_type: type[BaseException]
) -> None:
    with pytest.raises(exc_type), Container(cfg(["sleep", "300"]), root=sroot) as c:
        c.start()
        raise exc_type("boom")
    assert c.state == "deleted"


def test_communicate_timeout_then_finish(cfg: Any, sroot: str) -> None:
    with Container(cfg(sh("echo a; sleep 1; echo b")), stdout=pyoci.PIPE, root=sroot) as c:
        c.start()
        with pytest.raises(subprocess.TimeoutExpired) as info:
            c.communicate(timeout=0.3)
        assert info.value.stdout == b"a\n"
        out, _err = c.communicate()
        assert out == b"a\nb\n" and c.returncode == 0


def test_tty(cfg: Any, sroot: str) -> None:
    with Container(cfg(sh("tty; stty size")), tty=True, root=sroot) as c:
        assert c.pty is not None
        c.start()
        c.wait(timeout=10)
        data = os.read(c.pty, 4096)
    assert b"/dev/pts/0" in data


def test_embedder_killed_shim_cleans_up(rootfs: Path, sroot: str) -> None:
    code = (
        "import sys, pyoci, time\n"
        "from pyoci.sandbox import Config, Container\n"
        f"c = Container(Config(['sleep','300'], rootfs={str(rootfs)!r})"
        f".cgroup_parent({PARENT!r}), root={sroot!r})\n"
        "c.start(); print(c.id, flush=True); time.sleep(300)\n"
    )
    p = subprocess.Popen([sys.executable, "-P", "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None
    cid = p.stdout.readline().strip()
    assert os.path.exists(f"{sroot}/{cid}")
    p.kill()
    p.wait()
    deadline = time.monotonic() + 10
    while os.path.exists(f"{sroot}/{cid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"{sroot}/{cid}")
    deadline = time.monotonic() + 5
    while _bundles_mentioning(cid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _bundles_mentioning(cid), "the shim removes the bundle made for a dead embedder"
    deadline = time.monotonic() + 5
    while pids_with_cmdline(sroot) and time.monotonic() < deadline:
        time.sleep(0.05)


# ---------------------------------------------------------------- threads, asyncio


def test_many_threads_run_concurrently(cfg: Any, sroot: str) -> None:
    results: list[Any] = []
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(3):
                r = pyoci.run(sh(f"echo {n}-{i}"), config=cfg(["x"]), root=sroot,
                              capture_output=True)
                results.append((n, i, r.stdout, r.id))
        except BaseException as exc:
            errors.append(exc)

    pyoci.run(["true"], config=cfg(["true"]), root=sroot)  # the fork server (one fd) is up
    fds_before = len(os.listdir("/proc/self/fd"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # fork-with-threads warning
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors
    assert len(results) == 24
    assert all(out == f"{n}-{i}\n".encode() for n, i, out, _ in results)
    assert len({cid for *_, cid in results}) == 24
    assert len(os.listdir("/proc/self/fd")) == fds_before


def test_threads_share_one_container(cfg: Any, sroot: str) -> None:
    """wait() in one thread does not hold back exec() in others (Popen-like)."""
    with Container(cfg(["sleep", "300"]), root=sroot) as c:
        c.start()
        waited: list[Any] = []
        waiter = threading.Thread(target=lambda: waited.append(c.wait()))
        waiter.start()
        time.sleep(0.2)  # the waiter reads the control socket now
        results: list[Any] = []

        def execs(n: int) -> None:
            for i in range(3):
                r = c.exec(sh(f"echo {n}-{i}; exit {i}"), capture_output=True, timeout=30)
                results.append((r.stdout, r.returncode))

        started = time.monotonic()
        threads = [threading.Thread(target=execs, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert time.monotonic() - started < 30
        assert sorted(results) == sorted(
            (f"{n}-{i}\n".encode(), i) for n in range(4) for i in range(3)
        )
        assert waiter.is_alive() and c.poll() is None
        c.kill()
        waiter.join(10)
        assert waited == [-signal.SIGKILL]
    # a delete from another thread ends a wait() as a kill does (Popen-like)
    with Container(cfg(["sleep", "300"]), root=sroot) as c:
        c.start()
        waited.clear()
        waiter = threading.Thread(target=lambda: waited.append(c.wait()))
        waiter.start()
        time.sleep(0.2)
        c.delete(force=True)
        waiter.join(10)
        assert waited == [-signal.SIGKILL] and c.returncode == -signal.SIGKILL


def test_asyncio_run_async_gather_and_wait_async(cfg: Any, sroot: str) -> None:
    async def main() -> None:
        beats = 0
        stop = False

        async def heartbeat() -> None:
            nonlocal beats
            while not stop:
                await asyncio.sleep(0.01)
                beats += 1

        hb = asyncio.create_task(heartbeat())
        rs = await asyncio.gather(*(
            pyoci.run_async(sh(f"echo {i}"), config=cfg(["x"]), root=sroot, capture_output=True)
            for i in range(6)
        ))
        assert [r.stdout for r in rs] == [f"{i}\n".encode() for i in range(6)]
        c = await Container.create_async(cfg(sh("exit 7")), root=sroot)
        async with c:
            c.start()
            assert await c.wait_async() == 7
        with pytest.raises(pyoci.TimeoutExpired):
            await pyoci.run_async(["sleep", "300"], config=cfg(["x"]), root=sroot, timeout=0.5)
        stop = True
        await hb
        assert beats > 20

    asyncio.run(main())


# ---------------------------------------------------------------- leaks


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _fds_and_rss_of(pid: int) -> tuple[int, int]:
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return len(os.listdir(f"/proc/{pid}/fd")), rss


# 1000 as the issue asks (about a minute here); PYOCI_SANDBOX_LEAK_RUNS=N to change it
@pytest.mark.parametrize("count", [int(os.environ.get("PYOCI_SANDBOX_LEAK_RUNS", "1000"))])
def test_sequential_runs_leak_nothing(run: Any, sroot: str, count: int) -> None:
    """``count`` sequential run() calls (successes, failures, timeouts, missing
    programs, OOM kills mixed) leave the embedder's and the fork server's fd
    counts and RSS flat, no thread, no child, and the host clean (``sroot``)."""
    from pyoci.sandbox import container as impl

    def some(i: int) -> None:
        if i % 25 == 24:
            with pytest.raises(pyoci.TimeoutExpired):
                run(["sleep", "30"], timeout=0.05, capture_output=True)
        elif i % 50 == 13:
            with pytest.raises(FileNotFoundError):
                run(["/no/such/program"], capture_output=True)
        elif i % 100 == 37:
            r = run(sh("x=$(head -c 33554432 /dev/zero | tr '\\0' a)"), memory="16m")
            assert r.oom_killed and r.returncode == -9, r
        else:
            r = run(sh(f"echo {i}; exit {i % 3}"), capture_output=True)
            assert (r.stdout, r.returncode) == (f"{i}\n".encode(), i % 3)

    for i in range(20):  # warm up caches (schema, seccomp, imports, allocator)
        some(i)
    assert impl._server is not None
    server = impl._server[2].pid
    mine, theirs = [_fds_and_rss_of(os.getpid())], [_fds_and_rss_of(server)]
    for i in range(count):
        some(i)
        if i % 100 == 99:
            mine.append(_fds_and_rss_of(os.getpid()))
            theirs.append(_fds_and_rss_of(server))
    assert impl._server is not None and impl._server[2].pid == server  # never restarted
    # fds: exactly back; RSS: the trend after the first tenth (allocator warm-up)
    # stays under 2 kB a run
    assert mine[-1][0] == mine[0][0], mine
    assert theirs[-1][0] == theirs[0][0], theirs
    settled = max(1, len(mine) // 10)
    budget = 2 * (count - 100 * settled) + 1024
    assert mine[-1][1] - mine[settled][1] < budget, mine
    assert theirs[-1][1] - theirs[settled][1] < budget, theirs
    assert threading.active_count() == 1
    deadline = time.monotonic() + 5  # (the fork server reaps its exited shims each second)
    while True:
        with open(f"/proc/{server}/task/{server}/children") as f:
            left = f.read().split()
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not left, "the fork server has children (shims) left"
    assert not mounts_under(tempfile.gettempdir() + "/pyoci-bundle-")


def test_spawn_launcher_without_fork_server(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYOCI_SANDBOX_LAUNCH", "spawn")
    r = run(sh("echo spawned; exit 4"), capture_output=True)
    assert (r.returncode, r.stdout) == (4, b"spawned\n")


def test_fork_server_is_one_single_threaded_exec_d_process(run: Any) -> None:
    run(["true"])
    from pyoci.sandbox import container as impl

    assert impl._server is not None
    pid = impl._server[2].pid
    with open(f"/proc/{pid}/status") as f:
        assert "Threads:\t1\n" in f.read()
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        argv = f.read().split(b"\0")
    assert argv[1:3] == [b"-I", b"-S"]  # a fresh interpreter, not a fork of this one


def test_asyncio_tasks_share_one_container(cfg: Any, sroot: str) -> None:
    """Several tasks awaiting the same container all wake (one socket reader)."""

    async def main() -> None:
        c = await Container.create_async(cfg(sh("read x; sleep 0.5; echo got $x")),
                                         stdin=pyoci.PIPE, stdout=pyoci.PIPE, root=sroot)
        async with c:
            await c.start_async()
            waiters = [asyncio.create_task(c.wait_async()) for _ in range(3)]
            await asyncio.sleep(0.1)  # they are all waiting on the socket now
            out, _err = await asyncio.wait_for(c.communicate_async(b"hi\n"), 20)
            assert out == b"got hi\n"
            assert await asyncio.wait_for(asyncio.gather(*waiters), 20) == [0, 0, 0]
            with pytest.raises(pyoci.PyociError, match=r"running|stopped"):
                await c.start_async()  # a request while nobody else waits: answered

    asyncio.run(main())


def test_asyncio_waiters_wake_when_another_task_read_the_exit(cfg: Any, sroot: str) -> None:
    """A task woken by something else (its pump's pipe) reads the exit status
    off the control socket before the loop saw it readable: the tasks parked
    on the shared readiness must wake anyway (they hung once, 1 run in ~50,
    when the exit came with the output's end)."""

    async def main() -> None:
        c = await Container.create_async(cfg(["sleep", "300"]), root=sroot)
        async with c:
            await c.start_async()
            waiters = [asyncio.create_task(c.wait_async()) for _ in range(2)]
            await asyncio.sleep(0.1)  # parked on the shared readiness future
            assert c.pid is not None
            os.kill(c.pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while not select.select([c._ctl], [], [], 0)[0]:  # the loop does not run
                assert time.monotonic() < deadline, "no exit status from the shim"
                time.sleep(0.01)
            c._drain_ctl()  # what _next does once woken by another future
            assert c.returncode == -signal.SIGKILL
            assert await asyncio.wait_for(asyncio.gather(*waiters), 10) == [-9, -9]

    asyncio.run(main())


def test_asyncio_exec(cfg: Any, sroot: str) -> None:
    async def main() -> None:
        c = await Container.create_async(cfg(["sleep", "300"]), root=sroot)
        async with c:
            await c.start_async()
            r = await c.exec_async(sh("cat; kill -9 $$"), input="héllo", capture_output=True,
                                   text=True)
            assert (r.returncode, r.stdout) == (-9, "héllo")
            rs = await asyncio.gather(*(c.exec_async(sh(f"exit {i}")) for i in range(4)))
            assert [r.returncode for r in rs] == [0, 1, 2, 3]
            with pytest.raises(pyoci.TimeoutExpired) as info:
                await c.exec_async(sh("echo before; sleep 3041 & exec sleep 3042"),
                                   capture_output=True, timeout=0.5)
            assert info.value.stdout == b"before\n" and info.value.result is not None
            assert info.value.result.timed_out
            task = asyncio.create_task(c.exec_async(sh("sleep 3043 & exec sleep 3044")))
            await asyncio.sleep(0.5)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            for n in range(3041, 3045):
                assert not pids_with_cmdline(f"sleep\x00{n}"), f"sleep {n} left"
            assert c.poll() is None

    asyncio.run(main())


def test_asyncio_cancel_kills_and_deletes(cfg: Any, sroot: str) -> None:
    async def main() -> None:
        task = asyncio.create_task(
            pyoci.run_async(["sleep", "300"], config=cfg(["x"]), root=sroot)
        )
        await asyncio.sleep(1.0)  # created and started by now
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # deleted before CancelledError reached us (sroot checks the rest)
        assert not [n for n in os.listdir(sroot) if not n.startswith(".")]

    asyncio.run(main())


def test_asyncio_loop_in_a_worker_thread(cfg: Any, sroot: str) -> None:
    got: list[Any] = []

    def worker() -> None:
        got.append(asyncio.run(pyoci.run_async(sh("echo t"), config=cfg(["x"]), root=sroot,
                                               capture_output=True)).stdout)

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert got == [b"t\n"]


def test_shim_killed_the_handle_still_cleans_up(cfg: Any, sroot: str) -> None:
    from pyoci.sandbox import container as impl

    with pytest.raises(RuntimeError, match="body"), Container(cfg(["sleep", "300"]),
                                                               root=sroot) as c:
        c.start()
        assert impl._server is not None
        server = impl._server[2].pid
        with open(f"/proc/{server}/task/{server}/children") as f:
            shims = [int(p) for p in f.read().split()]
        for pid in shims:
            os.kill(pid, signal.SIGKILL)  # every shim of this process: only ours is alive
        time.sleep(0.2)
        raise RuntimeError("body")
    assert c.state == "deleted"


def test_max_output_cuts_and_kills(run: Any) -> None:
    started = time.monotonic()
    r = run(["yes"], capture_output=True, max_output=1 << 20, timeout=60)
    assert time.monotonic() - started < 30
    assert len(r.stdout) == 1 << 20 and r.truncated and r.returncode == -9
    r = run(sh("echo small"), capture_output=True, max_output=1 << 20)
    assert r.stdout == b"small\n" and not r.truncated


def test_config_with_hooks_gets_a_real_bundle(cfg: Any, sroot: str, tmp_path: Path) -> None:
    """Without hooks the config reaches the shim in the request (no bundle
    directory); a hook gets a bundle whose config.json is the container's."""
    mark = tmp_path / "hook-saw"
    hook = (
        "import json, os, sys; s = json.load(sys.stdin); "
        "p = os.path.join(s['bundle'], 'config.json'); "
        f"open({str(mark)!r}, 'w').write(json.load(open(p))['process']['args'][0] "
        "if os.path.exists(p) else 'no config.json')"
    )
    c = cfg(["true"])
    c.spec["hooks"] = {"poststop": [{"path": sys.executable, "args": ["python3", "-c", hook]}]}
    assert pyoci.run(["true"], config=c, root=sroot).returncode == 0
    assert mark.read_text() == "true"
    plain = pyoci.run(["true"], config=cfg(["true"]), root=sroot)
    assert plain.returncode == 0
