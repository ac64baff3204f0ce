"""The state store under --root: exclusive create, locking, atomic writes, and a status
derived from what is really running."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from helpers import leftovers, wait_for

pytestmark = pytest.mark.root


class _Spawned:
    """A runtime command in the background; stderr to a file (a container would hold a
    pipe open)."""

    def __init__(self, rt: Any, *args: str) -> None:
        import tempfile

        self.err_file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by wait)
        self.proc = subprocess.Popen([*rt.global_args(), *args], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.err_file)  # fmt: skip

    def wait(self, timeout: float = 30) -> tuple[int, str]:
        code = self.proc.wait(timeout=timeout)
        self.err_file.seek(0)
        err = self.err_file.read().decode()
        self.err_file.close()
        return code, err




def _release(fifo: Path) -> None:
    """Let a hook blocked reading ``fifo`` go (never blocks if nobody reads it)."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # ENXIO: no reader (any more)
        return
    try:
        os.write(fd, b"go\n")
    finally:
        os.close(fd)


def _blocking_hook(fifo: Path) -> dict[str, Any]:
    """A createRuntime hook that says it runs (``fifo``.running) and waits on ``fifo``."""
    script = f"touch {fifo}.running; read x < {fifo}"
    return {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", script]}]}


def test_two_concurrent_creates_of_one_id(pyoci: Any, bundle_factory: Any) -> None:
    bundles = [bundle_factory(["sleep", "100"]) for _ in range(4)]
    barrier = threading.Barrier(len(bundles))
    results: list[tuple[int, str]] = []

    def create(b: Any) -> None:
        barrier.wait()
        results.append(_Spawned(pyoci, "create", "-b", str(b.path), "race").wait())

    threads = [threading.Thread(target=create, args=(b,)) for b in bundles]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r[0] == 0]
    losers = [r for r in results if r[0] != 0]
    assert len(winners) == 1, results
    for code, err in losers:
        assert code == 1 and "already exists" in err, err
    st = pyoci.state("race")
    assert st["status"] == "created"
    assert Path(f"/proc/{st['pid']}").exists()
    assert st["bundle"] in {str(b.path) for b in bundles}
    pyoci("delete", "-f", "race", check=True)


def test_concurrent_deletes_and_states(pyoci: Any, bundle_factory: Any) -> None:
    b = bundle_factory(["sleep", "100"])
    pyoci("create", "-b", str(b.path), "busy", check=True)
    pyoci("start", "busy", check=True)
    procs = [_Spawned(pyoci, "delete", "--force", "busy") for _ in range(4)]
    procs += [_Spawned(pyoci, "state", "busy") for _ in range(4)]
    procs += [_Spawned(pyoci, "kill", "busy", "KILL") for _ in range(2)]
    codes = []
    for p in procs:
        code, msg = p.wait()
        codes.append(code)
        # every failure is a clean "gone"/"not running", never a crash or corrupt state
        if code:
            assert ("does not exist" in msg or "not running" in msg) and "rror:" not in msg, msg
            assert len(msg.strip().splitlines()) == 1, msg
    assert codes[:4] == [0, 0, 0, 0], codes
    assert not (pyoci.root / "busy").exists()


def test_state_written_atomically(pyoci: Any, bundle_factory: Any, workdir: Path) -> None:
    """state.json is replaced by rename (a reader never sees half a file), no temp files."""
    seen = workdir / "seen"

    def mutate(cfg: dict[str, Any]) -> None:
        # while create is in its hooks, record the inode of state.json
        script = (f"ls -i {pyoci.root}/held/state.json | cut -d' ' -f1 > {seen};"
                  f"cat {pyoci.root}/held/state.json > {seen}.json")  # fmt: skip
        cfg["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", script]}]}

    b = bundle_factory(["sleep", "100"], mutate=mutate)
    pyoci("create", "-b", str(b.path), "held", check=True)
    during = json.loads(Path(f"{seen}.json").read_text())
    assert during["status"] == "creating"
    state_file = pyoci.root / "held" / "state.json"
    assert str(state_file.stat().st_ino) != seen.read_text().strip()
    assert json.loads(state_file.read_text())["status"] == "created"
    assert sorted(os.listdir(pyoci.root / "held")) == ["exec.fifo", "state.json"]
    pyoci("delete", "-f", "held", check=True)


def test_status_creating_while_create_runs(pyoci: Any, bundle_factory: Any,
                                           workdir: Path) -> None:  # fmt: skip
    """Another command sees "creating" while a create is half-way; a start waits for the
    create's lock and then starts the created container."""
    fifo = workdir / "hold"
    os.mkfifo(fifo)

    b = bundle_factory(["sleep", "100"], mutate=lambda c: c.update(hooks=_blocking_hook(fifo)))
    creator = _Spawned(pyoci, "create", "-b", str(b.path), "slow")
    try:
        assert wait_for(lambda: Path(f"{fifo}.running").exists())
        assert pyoci.state("slow")["status"] == "creating"
        assert pyoci("list", "-q").out == "slow\n"
        starter = _Spawned(pyoci, "start", "slow")
        assert starter.proc.poll() is None
    finally:
        _release(fifo)
        code, err = creator.wait()
    assert code == 0, err
    assert starter.wait() == (0, "")
    assert pyoci.state("slow")["status"] == "running"
    pyoci("delete", "-f", "slow", check=True)


def test_status_derived_from_reality(pyoci: Any, bundle_factory: Any) -> None:
    b = bundle_factory(["sleep", "100"])
    pyoci("create", "-b", str(b.path), "real", check=True)
    pyoci("start", "real", check=True)
    pid = pyoci.state("real")["pid"]
    os.kill(pid, 9)  # from outside, behind the runtime's back
    assert wait_for(lambda: pyoci.state("real")["status"] == "stopped")
    st = json.loads((pyoci.root / "real" / "state.json").read_text())
    assert st.get("status") != "stopped", "the status is derived, not written"
    assert pyoci.state("real")["pid"] == 0
    pyoci("delete", "real", check=True)  # stopped: no --force needed


def test_killed_created_container_is_stopped(pyoci: Any, bundle_factory: Any) -> None:
    b = bundle_factory(["sleep", "100"])
    pyoci("create", "-b", str(b.path), "kc", check=True)
    os.kill(pyoci.state("kc")["pid"], 9)
    assert wait_for(lambda: pyoci.state("kc")["status"] == "stopped")
    pyoci("delete", "kc", check=True)


def test_reused_pid_is_not_the_container(pyoci: Any, bundle_factory: Any) -> None:
    """A saved pid whose start time differs (pid reuse) means the container stopped."""
    b = bundle_factory(["sleep", "100"])
    pyoci("create", "-b", str(b.path), "reuse", check=True)
    pid = pyoci.state("reuse")["pid"]
    path = pyoci.root / "reuse" / "state.json"
    record = json.loads(path.read_text())
    record["pid"] = os.getpid()  # alive, but not the container's init
    path.write_text(json.dumps(record))
    assert pyoci.state("reuse")["status"] == "stopped"
    res = pyoci("kill", "reuse", "KILL")
    assert res.code == 1 and "not running" in res.err
    record["pid"] = pid
    path.write_text(json.dumps(record))
    pyoci("delete", "-f", "reuse", check=True)
    assert wait_for(lambda: not Path(f"/proc/{pid}").exists())


def test_abandoned_create_is_stopped_and_deletable(pyoci: Any, bundle_factory: Any,
                                                   workdir: Path) -> None:  # fmt: skip
    """A create killed half-way leaves a "creating" record; once its creator is gone it
    reads as stopped and delete removes it."""
    fifo = workdir / "hold"
    os.mkfifo(fifo)
    b = bundle_factory(["sleep", "100"], mutate=lambda c: c.update(hooks=_blocking_hook(fifo)))
    creator = _Spawned(pyoci, "create", "-b", str(b.path), "orphan")
    assert wait_for(lambda: Path(f"{fifo}.running").exists())
    pid = pyoci.state("orphan")["pid"]
    creator.proc.kill()
    creator.wait()
    _release(fifo)  # the hook, orphaned, may go
    assert wait_for(lambda: pyoci.state("orphan")["status"] == "stopped")
    pyoci("delete", "orphan", check=True)
    if pid:
        assert wait_for(lambda: not Path(f"/proc/{pid}").exists() or
                        Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z")  # fmt: skip


def test_corrupt_state_file_is_one_clear_error(pyoci: Any, bundle_factory: Any,
                                               workdir: Path) -> None:  # fmt: skip
    b = bundle_factory(["sleep", "100"])
    pyoci("create", "-b", str(b.path), "corrupt", check=True)
    pid = pyoci.state("corrupt")["pid"]
    path = pyoci.root / "corrupt" / "state.json"
    good = path.read_text()
    path.write_text(good[: len(good) // 2])
    res = pyoci("state", "corrupt")
    assert res.code == 1 and len(res.err.strip().splitlines()) == 1
    assert "corrupt" in res.err
    path.write_text(good)
    pyoci("delete", "-f", "corrupt", check=True)
    assert wait_for(lambda: not Path(f"/proc/{pid}").exists())
    assert not leftovers(pyoci, workdir)


def test_state_root_created_private(pyoci: Any, bundle_factory: Any) -> None:
    b = bundle_factory(["sleep", "100"])
    assert not pyoci.root.exists()
    pyoci("create", "-b", str(b.path), "perm", check=True)
    assert pyoci.root.stat().st_mode & 0o077 == 0
    pyoci("delete", "-f", "perm", check=True)


def test_the_state_root_holds_nothing_but_containers(pyoci: Any, bundle_factory: Any,
                                                     workdir: Path) -> None:  # fmt: skip
    """--root belongs to the engine: after a whole lifecycle with seccomp (create, start,
    exec, pause, kill, delete), a run, and creates that fail at each stage, nothing is
    left in it, not even pyoci's own files (no cache, lock or temp file)."""
    data = Path(__file__).resolve().parent.parent / "data" / "seccomp" / "default.json"
    seccomp = json.loads(data.read_text())

    def with_seccomp(cfg: dict[str, Any]) -> None:
        cfg["linux"]["seccomp"] = seccomp

    b = bundle_factory(["sleep", "100"], mutate=with_seccomp)
    assert not pyoci.root.exists()
    pid_file = workdir / "pid"
    pyoci("create", "-b", str(b.path), "--pid-file", str(pid_file), "life", check=True)
    assert os.listdir(pyoci.root) == ["life"]
    pyoci("start", "life", check=True)
    assert pyoci("exec", "life", "true").code == 0
    pyoci("pause", "life", check=True)
    pyoci("resume", "life", check=True)
    pyoci("kill", "life", "KILL", check=True)
    assert wait_for(lambda: pyoci.state("life")["status"] == "stopped")
    pyoci("delete", "life", check=True)
    assert os.listdir(pyoci.root) == []

    run = bundle_factory(["true"], mutate=with_seccomp)
    assert pyoci("run", "-b", str(run.path), "ran").code == 0

    def bad_seccomp(cfg: dict[str, Any]) -> None:  # fails after the cgroups exist
        cfg["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_NOPE"}

    def failing_hook(cfg: dict[str, Any]) -> None:  # fails once the init waits
        with_seccomp(cfg)
        cfg["hooks"] = {"createRuntime": [{"path": "/bin/false"}]}

    for mutate in (bad_seccomp, failing_hook):
        bad = bundle_factory(["true"], mutate=mutate)
        res = pyoci("create", "-b", str(bad.path), "failed")
        assert res.code == 1 and len(res.err.strip().splitlines()) == 1, res
    assert os.listdir(pyoci.root) == []
