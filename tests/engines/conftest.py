"""Real container engines driving the runtime: containerd (through its runc shim and
``ctr``) and podman (through conmon).

Every engine runs on private sockets and state directories under TEST_TMP, is
started by a fixture and stopped by pid afterwards.  Each flow is parametrized
over the runtime binary: ``pyoci`` (under test) and ``runc`` (the same flow with
the reference runtime checks the test itself).  ``assert_ran_under`` proves the
container went through the binary we named, not a fallback.

Known side effects outside TEST_TMP, both the engines' own and removed by them:
containerd's shim sockets live in /run/containerd/s (hard-coded), podman's
runtime calls without global flags keep state in the runtime's default root
(/run/pyoci, /run/runc) until the container is removed.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    CGROUP_PARENT,
    SESSION,
    pids_with_cmdline,
    pyoci_binary,
    remove_new_empty_dirs,
    rmdir_cgroup_tree,
    wait_for,
)

TEST_TMP = Path(os.environ.get("PYOCI_TEST_TMP", "/tmp/pyoci-tests"))


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code = code
        self.out = out
        self.err = err

    @classmethod
    def of(cls, proc: subprocess.CompletedProcess[str]) -> Result:
        return cls(proc.returncode, proc.stdout, proc.stderr)

    def __repr__(self) -> str:
        return f"Result(code={self.code}, out={self.out!r}, err={self.err!r})"


class Runtime:
    """The OCI runtime binary an engine is told to use."""

    def __init__(self, name: str, path: str) -> None:
        self.name = name
        self.path = path

    def __repr__(self) -> str:
        return self.name

    @property
    def default_root(self) -> Path:
        """Where it keeps state when called without --root (as podman does)."""
        return Path(f"/run/{self.name}")


@pytest.fixture(params=["pyoci", "runc"])
def runtime(request: pytest.FixtureRequest) -> Runtime:
    if request.param == "pyoci":
        return Runtime("pyoci", pyoci_binary())
    found = shutil.which("runc")
    if found is None:
        pytest.skip("runc is not installed (Debian package runc): the reference run is skipped")
    return Runtime("runc", found)


def marker_lines(log: Path, cid: str) -> list[dict[str, Any]]:
    """pyoci's ``pyoci create ID`` info line(s) in a runtime log file."""
    if not log.exists():
        return []
    out = []
    for line in log.read_text().splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and doc.get("msg") == f"pyoci create {cid}":
            out.append(doc)
    return out


def assert_ran_under(runtime: Runtime, log: Path, cid: str) -> None:
    """The runtime log of the container proves which binary created it."""
    found = marker_lines(log, cid)
    if runtime.name == "pyoci":
        assert len(found) == 1, f"no 'pyoci create {cid}' line in {log}: pyoci did not run"
        assert found[0]["level"] == "info"
    else:
        assert not found, f"{runtime.name} run wrote pyoci's marker in {log}"


def error_lines(log: Path) -> list[str]:
    if not log.exists():
        return []
    return [ln for ln in log.read_text().splitlines() if '"level":"error"' in ln.replace(" ", "")]


class Gate:
    """A directory bind-mounted at /gate: the container waits for /gate/go.

    Lets a test look at the engine's state (the runtime log, which the engine
    deletes with the task) while the container is still there."""

    WAIT = "while [ ! -e /gate/go ]; do sleep 0.05; done"

    def __init__(self, base: Path) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="gate-", dir=base))
        os.chmod(self.dir, 0o777)

    def open(self) -> None:
        (self.dir / "go").write_text("")


def start_reading(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def read_until(proc: subprocess.Popen[bytes], text: bytes, timeout: float = 30) -> bytes:
    """Read proc's stdout until ``text`` shows up (or fail with what came)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    got = b""
    deadline = time.monotonic() + timeout
    while text not in got:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        got += chunk
    assert text in got, f"{text!r} not seen in {got!r}"
    return got


def finish(proc: subprocess.Popen[bytes], seen: bytes = b"", timeout: float = 60) -> Result:
    out, err = proc.communicate(timeout=timeout)
    return Result(proc.returncode, (seen + out).decode(errors="replace"), err.decode())


def under_script(cmd: list[str]) -> list[str]:
    """``cmd`` with a controlling terminal: util-linux script, output to stdout only."""
    if shutil.which("script") is None:
        pytest.skip("script is not installed (Debian package bsdutils)")
    import shlex

    return ["script", "-qec", shlex.join(cmd), "/dev/null"]


def stop_pid(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def kill_leftover_pids(needle: str) -> list[int]:
    """Kill (by pid) processes whose command line names one of our private paths."""
    pids = pids_with_cmdline(needle)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


def remove_cgroups_named(prefix: str) -> None:
    """rmdir the (empty) cgroups an engine left under our session parent."""
    base = Path("/sys/fs/cgroup")
    for hier in base.iterdir() if base.exists() else []:
        top = hier / CGROUP_PARENT.lstrip("/")
        if not top.is_dir():
            continue
        for d in sorted(top.rglob(f"{prefix}*"), key=lambda p: -len(p.parts)):
            if d.is_dir():
                rmdir_cgroup_tree(d)


def _tree(root: Path) -> set[Path]:
    return {root, *root.rglob("*")} if root.exists() else set()


def restore_default_roots(before: dict[Path, set[Path]]) -> list[str]:
    """What the engines' runtime calls left under the runtimes' default roots
    (podman's calls carry no --root): anything new there is a leak (a state root
    holds nothing but container directories, pyoci keeps no cache in it),
    reported, not removed.  A root directory that was not there before and is
    left empty is removed."""
    leaks: list[str] = []
    for root, old in before.items():
        new = _tree(root) - old
        leaks += sorted(str(p) for p in new if p != root and p.parent == root)
        if root in new:
            try:
                root.rmdir()
            except OSError:
                pass
    return leaks


@pytest.fixture(scope="session")
def engine_base() -> Iterator[Path]:
    TEST_TMP.mkdir(parents=True, exist_ok=True)
    d = Path(tempfile.mkdtemp(prefix=f"eng-{SESSION[:4]}-", dir=TEST_TMP))
    roots = [Runtime(name, "").default_root for name in ("pyoci", "runc")]
    before = {root: _tree(root) for root in roots}
    # made by the engines themselves: containerd's shim sockets (a fixed
    # directory), dockerd's plugins directory
    side_dirs = [Path("/run/containerd"), Path("/run/docker")]
    existed = {p: p.exists() for p in side_dirs}
    yield d
    for p in side_dirs:
        remove_new_empty_dirs(p, existed[p])
    if not os.environ.get("PYOCI_KEEP_ENGINE_TMP"):  # set it to look at the engines' logs
        shutil.rmtree(d, ignore_errors=True)
    leaks = restore_default_roots(before)
    assert not leaks, f"left in a runtime's default root: {leaks}"


def wait_file(path: Path, timeout: float = 20) -> None:
    assert wait_for(path.exists, timeout), f"{path} did not appear in {timeout}s"


# ------------------------------------------------------------------ containerd

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
        if args[:2] == ("task", "exec"):
            # ctr's default FIFO directory is /run/containerd/fifo, and a
            # detached exec's FIFOs are never removed: keep them in ours
            args = ("task", "exec", "--fifo-dir", str(self.fifo_dir), *args[2:])
        proc = subprocess.run(
            ["ctr", "--address", self.address, "--namespace", NS, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return Result.of(proc)

    def bundle(self, cid: str, namespace: str = NS) -> Path:
        return self.base / "state" / "io.containerd.runtime.v2.task" / namespace / cid

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
