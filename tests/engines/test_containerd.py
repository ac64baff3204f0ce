"""containerd's runc shim (containerd-shim-runc-v2) driving the runtime, through ``ctr``.

containerd runs on its own config, sockets and root/state dirs (no CRI plugin;
``ctr run --rootfs`` needs no snapshot or image).  The shim calls the runtime as
it calls runc: ``--root R --log BUNDLE/log.json --log-format json`` then
create/start/exec/ps/pause/resume/kill/delete (and ``delete --force`` again).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import (
    Gate,
    Result,
    Runtime,
    assert_ran_under,
    error_lines,
    finish,
    kill_leftover_pids,
    read_until,
    start_reading,
    stop_pid,
    under_script,
)
from helpers import CGROUP_PARENT, wait_for

pytestmark = [pytest.mark.engines, pytest.mark.root]

NS = "pyoci-tests"

CONFIG = """\
version = 2
root = "{base}/root"
state = "{base}/state"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "{base}/c.sock"

[ttrpc]
  address = "{base}/c.sock.ttrpc"

[debug]
  level = "info"

[plugins."io.containerd.internal.v1.opt"]
  path = "{base}/opt"
"""


class Containerd:
    def __init__(self, base: Path, rootfs: Path) -> None:
        self.base = base
        self.rootfs = rootfs
        self.address = str(base / "c.sock")
        self.runtime_root = base / "rt"
        self.fifo_dir = base / "fifo"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = base / "containerd.log"

    def start(self) -> None:
        (self.base / "config.toml").write_text(CONFIG.format(base=self.base))
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                ["containerd", "--config", str(self.base / "config.toml")],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"containerd exited: {self.log.read_text()[-2000:]}")
            if Path(self.address).exists() and self.ctr("version").code == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"containerd did not answer in 30s: {self.log.read_text()[-2000:]}")

    def ctr(self, *args: str, timeout: float = 60) -> Result:
        proc = subprocess.run(
            ["ctr", "--address", self.address, "--namespace", NS, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return Result.of(proc)

    def bundle(self, cid: str) -> Path:
        return self.base / "state" / "io.containerd.runtime.v2.task" / NS / cid

    def runtime_log(self, cid: str) -> Path:
        return self.bundle(cid) / "log.json"

    def run_args(
        self, runtime: Runtime, cid: str, *cmd: str, flags: tuple[str, ...] = ()
    ) -> list[str]:
        return [
            "ctr", "--address", self.address, "--namespace", NS, "run",
            "--runc-binary", runtime.path,
            "--runc-root", str(self.runtime_root),
            "--cgroup", f"{CGROUP_PARENT}/ctrd-{cid}",
            "--fifo-dir", str(self.fifo_dir),
            *flags,
            "--rootfs", str(self.rootfs),
            cid, *cmd,
        ]  # fmt: skip

    def task_status(self, cid: str) -> str:
        res = self.ctr("task", "ls")
        for line in res.out.splitlines()[1:]:
            parts = line.split()
            if parts and parts[0] == cid:
                return parts[-1]
        return ""

    def remove_all(self) -> None:
        for line in self.ctr("task", "ls", "-q").out.split():
            self.ctr("task", "kill", "-s", "SIGKILL", line)
            wait_for(lambda cid=line: self.task_status(cid) in ("STOPPED", ""), 10)
            self.ctr("task", "delete", "--force", line)
        for line in self.ctr("container", "ls", "-q").out.split():
            self.ctr("container", "delete", line)

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            if self.proc.poll() is None:
                self.remove_all()
        finally:
            stop_pid(self.proc)
            # a shim outlives containerd by design: ours name our socket
            left = kill_leftover_pids(self.address)
            assert not left, f"containerd shims left running: {left}"


@pytest.fixture(scope="session")
def containerd(engine_base: Path, rootfs: Path) -> Iterator[Containerd]:
    if shutil.which("containerd") is None or shutil.which("ctr") is None:
        pytest.skip("containerd is not installed (Debian package containerd)")
    if shutil.which("containerd-shim-runc-v2") is None:
        pytest.skip("containerd-shim-runc-v2 is not installed (Debian package containerd)")
    base = engine_base / "ctrd"
    base.mkdir()
    c = Containerd(base, rootfs)
    try:
        c.start()
        yield c
    finally:
        c.stop()


@pytest.fixture
def gate(engine_base: Path) -> Gate:
    return Gate(engine_base)


def gate_mount(gate: Gate) -> tuple[str, ...]:
    return ("--mount", f"type=bind,src={gate.dir},dst=/gate,options=rbind:rw")


def cid_for(request: pytest.FixtureRequest, runtime: Runtime) -> str:
    name = request.node.originalname.removeprefix("test_").replace("_", "-")
    return f"{name}-{runtime.name}"


# ---------------------------------------------------------------------------- flows


def test_oneshot_output_and_exit_code(
    containerd: Containerd, runtime: Runtime, gate: Gate, request: pytest.FixtureRequest
) -> None:
    cid = cid_for(request, runtime)
    proc = start_reading(
        containerd.run_args(
            runtime, cid, "/bin/sh", "-c", f"echo hello from $0; {Gate.WAIT}; exit 3", "sh",
            flags=("--rm", *gate_mount(gate)),
        )
    )  # fmt: skip
    seen = read_until(proc, b"hello from")
    log = containerd.runtime_log(cid)
    assert_ran_under(runtime, log, cid)
    gate.open()
    res = finish(proc, seen)
    assert res.code == 3, res
    assert res.out == "hello from sh\n", res
    assert not containerd.bundle(cid).exists()
    assert containerd.ctr("container", "ls", "-q").out.split() == []


def test_detached_task(
    containerd: Containerd, runtime: Runtime, request: pytest.FixtureRequest
) -> None:
    cid = cid_for(request, runtime)
    c = containerd
    script = 'trap "exit 7" TERM; sleep 1000 & wait'
    res = c.ctr(*c.run_args(runtime, cid, "/bin/sh", "-c", script, flags=("-d",))[5:])
    assert res.code == 0, res
    log = c.runtime_log(cid)
    assert_ran_under(runtime, log, cid)
    init_pid = int((c.bundle(cid) / "init.pid").read_text())
    assert c.task_status(cid) == "RUNNING"

    # exec: output and exit code (exec --process F --detach --pid-file F)
    res = c.ctr("task", "exec", "--exec-id", "e1", cid, "/bin/sh", "-c", "echo in exec $$; exit 5")
    assert res.code == 5, res
    assert res.out.startswith("in exec "), res
    res = c.ctr("task", "exec", "--exec-id", "e2", "--cwd", "/tmp", cid, "/bin/pwd")
    assert (res.code, res.out) == (0, "/tmp\n"), res

    # ps (ps --format json)
    res = c.ctr("task", "ps", cid)
    assert res.code == 0, res
    pids = [int(ln.split()[0]) for ln in res.out.splitlines()[1:]]
    assert init_pid in pids and len(pids) == 2, res  # sh and its sleep

    # pause / resume: the processes really stop and go on
    res = c.ctr("task", "pause", cid)
    assert res.code == 0, res
    assert c.task_status(cid) == "PAUSED"
    assert _frozen(init_pid)
    res = c.ctr("task", "resume", cid)
    assert res.code == 0, res
    assert c.task_status(cid) == "RUNNING"
    assert not _frozen(init_pid)
    res = c.ctr("task", "exec", "--exec-id", "e3", cid, "/bin/true")
    assert res.code == 0, res

    # metrics: the shim reads the container's cgroup
    res = c.ctr("task", "metrics", cid)
    assert res.code == 0, res
    assert "pids.current" in res.out and "memory.usage_in_bytes" in res.out, res

    # kill (SIGTERM by default): the trap runs, exit status 7
    res = c.ctr("task", "kill", cid)
    assert res.code == 0, res
    assert wait_for(lambda: c.task_status(cid) == "STOPPED", 20), c.ctr("task", "ls")
    assert not error_lines(log), log.read_text()
    res = c.ctr("task", "delete", cid)
    assert res.code == 0, res
    assert "exit code 7" in res.err, res
    assert not c.bundle(cid).exists()
    res = c.ctr("container", "delete", cid)
    assert res.code == 0, res
    # the shim's cleanup ran `delete --force` on the deleted container: no complaint
    # (runc 1.1 does complain: it exits 255 as its --log's directory is gone)
    complaints = [
        ln for ln in c.log.read_text().splitlines()
        if "failed to remove runc container" in ln and f"{runtime.path} did not" in ln
    ]  # fmt: skip
    if runtime.name == "pyoci":
        assert not complaints, complaints


def test_exec_with_tty(
    containerd: Containerd, runtime: Runtime, request: pytest.FixtureRequest
) -> None:
    """ctr task exec -t: exec --console-socket; the pty reaches ctr."""
    cid = cid_for(request, runtime)
    c = containerd
    res = c.ctr(*c.run_args(runtime, cid, "/bin/sleep", "1000", flags=("-d",))[5:])
    assert res.code == 0, res
    try:
        cmd = [
            "ctr", "--address", c.address, "--namespace", NS, "task", "exec", "-t",
            "--exec-id", "t1", cid, "/bin/sh", "-c", "tty; exit 6",
        ]  # fmt: skip
        proc = subprocess.run(under_script(cmd), capture_output=True, text=True, timeout=60)
        assert proc.returncode == 6, proc
        assert "/dev/pts/" in proc.stdout, proc
        # kill --all ID 9: every process of the container, through its cgroup
        res = c.ctr("task", "exec", "-d", "--exec-id", "bg", cid, "/bin/sleep", "999")
        assert res.code == 0, res
        res = c.ctr("task", "kill", "--all", "-s", "SIGKILL", cid)
        assert res.code == 0, res
        assert wait_for(lambda: c.task_status(cid) == "STOPPED", 20)
    finally:
        c.ctr("task", "kill", "-s", "SIGKILL", cid)
        wait_for(lambda: c.task_status(cid) == "STOPPED", 20)
        c.ctr("task", "delete", cid)
        c.ctr("container", "delete", cid)


def test_tty_run(
    containerd: Containerd, runtime: Runtime, gate: Gate, request: pytest.FixtureRequest
) -> None:
    """ctr run -t under script: create --console-socket; ctr wires its terminal."""
    cid = cid_for(request, runtime)
    cmd = containerd.run_args(
        runtime, cid, "/bin/sh", "-c", f"tty; {Gate.WAIT}; exit 4",
        flags=("--rm", "-t", *gate_mount(gate)),
    )  # fmt: skip
    proc = start_reading(under_script(cmd))
    seen = read_until(proc, b"/dev/pts/")
    assert_ran_under(runtime, containerd.runtime_log(cid), cid)
    gate.open()
    res = finish(proc, seen)
    assert res.code == 4, res


def test_memory_limit_oom_kill(
    containerd: Containerd, runtime: Runtime, gate: Gate, request: pytest.FixtureRequest
) -> None:
    cid = cid_for(request, runtime)
    c = containerd
    events = start_reading(["ctr", "--address", c.address, "--namespace", NS, "events"])
    try:
        time.sleep(0.2)  # subscribed
        proc = start_reading(
            c.run_args(
                runtime, cid, "/bin/sh", "-c",
                f"echo limited; {Gate.WAIT}; tail /dev/zero",
                flags=("--rm", "--memory-limit", str(32 << 20), *gate_mount(gate)),
            )
        )  # fmt: skip
        seen = read_until(proc, b"limited")
        assert_ran_under(runtime, c.runtime_log(cid), cid)
        assert _memory_limit(f"{CGROUP_PARENT}/ctrd-{cid}") == 32 << 20
        gate.open()
        res = finish(proc, seen, timeout=120)
        assert res.code == 137, res
        # the shim watched the cgroup's OOM notifications and said so
        read_until(events, f'/tasks/oom {{"container_id":"{cid}"}}'.encode(), timeout=10)
    finally:
        stop_pid(events)


def test_runtime_error_reaches_the_user(
    containerd: Containerd, runtime: Runtime, request: pytest.FixtureRequest
) -> None:
    """A failed create: the shim shows the last "level":"error" line of log.json."""
    cid = cid_for(request, runtime)
    res = containerd.ctr(
        *containerd.run_args(runtime, cid, "/no/such/program", flags=("--rm",))[5:]
    )
    assert res.code != 0, res
    assert "OCI runtime create failed" in res.err and "/no/such/program" in res.err, res
    # read from the log: else "unable to retrieve OCI runtime error" (no log) or
    # go-runc's "<binary> did not terminate successfully: <stderr>" (no error line)
    assert "unable to retrieve OCI runtime error" not in res.err, res
    assert "did not terminate successfully" not in res.err, res
    assert "Traceback" not in res.err, res
    containerd.ctr("container", "delete", cid)
    assert not containerd.bundle(cid).exists()


# ---------------------------------------------------------------------------- helpers


def _frozen(pid: int) -> bool:
    """The freezer (v1) or cgroup.freeze (v2) of pid's cgroup says frozen."""
    with open(f"/proc/{pid}/cgroup") as f:
        lines = f.read().splitlines()
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "freezer" in controllers.split(","):
            state = Path(f"/sys/fs/cgroup/freezer{path}/freezer.state").read_text().strip()
            return state == "FROZEN"
        if controllers == "" and Path(f"/sys/fs/cgroup{path}/cgroup.freeze").exists():
            return Path(f"/sys/fs/cgroup{path}/cgroup.freeze").read_text().strip() == "1"
    raise AssertionError(f"no freezer for {pid}: {lines}")


def _memory_limit(path: str) -> int:
    for f in (
        Path(f"/sys/fs/cgroup/memory{path}/memory.limit_in_bytes"),  # v1
        Path(f"/sys/fs/cgroup{path}/memory.max"),  # v2
    ):
        if f.exists():
            return int(f.read_text())
    raise AssertionError(f"no memory cgroup {path}")

