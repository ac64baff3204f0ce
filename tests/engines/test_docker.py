"""docker through containerd driving the runtime: ``dockerd --add-runtime pyoci=PATH``.

dockerd runs on the test containerd (namespace ``moby``) with its own
data-root, exec-root, pid file and socket, no iptables, no bridge, vfs storage
and the cgroupfs driver; the image is the busybox rootfs, ``docker import``ed
(no registry).  dockerd 20.10 also leaves /etc/docker/key.json and an empty
/run/docker/plugins behind: both its own, harmless.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import (
    Containerd,
    Gate,
    Result,
    Runtime,
    assert_ran_under,
    finish,
    kill_leftover_pids,
    read_until,
    remove_cgroups_named,
    start_reading,
    stop_pid,
    under_script,
)
from helpers import CGROUP_PARENT, mounts_under, wait_for

pytestmark = [pytest.mark.engines, pytest.mark.root]

IMAGE = "pyoci-busybox:test"


class Docker:
    def __init__(self, base: Path, containerd: Containerd, client: str) -> None:
        self.base = base
        self.containerd = containerd
        self.client = client
        self.socket = base / "d.sock"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = base / "dockerd.log"

    def start(
        self, pyoci: str | None, extra_args: list[str] | None = None, cgroup_parent: str = ""
    ) -> None:
        """Start dockerd with pyoci added as runtime "pyoci" (and ``extra_args``:
        bench/engines.py adds its own runtimes and cgroup parent)."""
        cmd = [
            "dockerd",
            "--data-root", str(self.base / "data"),
            "--exec-root", str(self.base / "exec"),
            "--pidfile", str(self.base / "dockerd.pid"),
            "--host", f"unix://{self.socket}",
            "--containerd", self.containerd.address,
            "--iptables=false", "--ip6tables=false", "--ip-masq=false",
            "--bridge=none", "--userland-proxy=false",
            "--storage-driver", "vfs",
            "--exec-opt", "native.cgroupdriver=cgroupfs",
            "--cgroup-parent", cgroup_parent or f"{CGROUP_PARENT}/docker",
            *(["--add-runtime", f"pyoci={pyoci}"] if pyoci else []),
            *(extra_args or []),
        ]  # fmt: skip
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd exited: {self.log.read_text()[-2000:]}")
            if self.socket.exists() and self("version").code == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"dockerd did not answer in 60s: {self.log.read_text()[-2000:]}")

    def __call__(self, *args: str, timeout: float = 90, input: bytes | None = None) -> Result:
        proc = subprocess.run(
            self.args(*args), input=input, capture_output=True, timeout=timeout
        )
        return Result(proc.returncode, proc.stdout.decode(errors="replace"),
                      proc.stderr.decode(errors="replace"))  # fmt: skip

    def args(self, *args: str) -> list[str]:
        return [self.client, "--host", f"unix://{self.socket}", *args]

    def import_rootfs(self, rootfs: Path) -> None:
        tar = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], capture_output=True, check=True)
        res = self("import", "-", IMAGE, input=tar.stdout)
        assert res.code == 0, res

    def runtime_log(self, cid: str) -> Path:
        return self.containerd.bundle(cid, namespace="moby") / "log.json"

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            if self.proc.poll() is None:
                ids = self("ps", "--all", "--quiet").out.split()
                if ids:
                    self("rm", "--force", *ids)
        finally:
            stop_pid(self.proc, timeout=30)
            left = kill_leftover_pids(str(self.base))
            assert not left, f"docker processes left running: {left}"


@pytest.fixture(scope="session")
def docker(containerd: Containerd, engine_base: Path, rootfs: Path) -> Iterator[Docker]:
    if shutil.which("dockerd") is None:
        pytest.skip("dockerd is not installed (Debian package docker.io)")
    # the client of the same release as the daemon (a newer one may be first on PATH)
    client = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else shutil.which("docker")
    if client is None:
        pytest.skip("the docker client is not installed (Debian package docker.io)")
    from helpers import pyoci_binary

    base = engine_base / "docker"
    base.mkdir()
    d = Docker(base, containerd, client)
    try:
        d.start(pyoci_binary())
        d.import_rootfs(rootfs)
        yield d
    finally:
        d.stop()
        left = mounts_under(str(base))
        remove_cgroups_named("docker")
        assert not left, f"dockerd left mounts: {left}"


def docker_runtime(runtime: Runtime) -> str:
    """pyoci is added as "pyoci"; the reference is dockerd's own "runc"."""
    return "pyoci" if runtime.name == "pyoci" else "runc"


def name_for(request: pytest.FixtureRequest, runtime: Runtime) -> str:
    return request.node.originalname.removeprefix("test_").replace("_", "-") + "-" + runtime.name


def run_args(runtime: Runtime, name: str, *opts: str) -> list[str]:
    return ["run", "--name", name, "--runtime", docker_runtime(runtime), "--network", "none",
            *opts, IMAGE]  # fmt: skip


def test_oneshot_output_and_exit_code(
    docker: Docker, runtime: Runtime, engine_base: Path, request: pytest.FixtureRequest
) -> None:
    name = name_for(request, runtime)
    gate = Gate(engine_base)
    proc = start_reading(docker.args(
        *run_args(runtime, name, "--rm", "-v", f"{gate.dir}:/gate"),
        "/bin/sh", "-c", f"echo hello; {Gate.WAIT}; exit 3",
    ))  # fmt: skip
    seen = read_until(proc, b"hello")
    cid = docker("inspect", "--format", "{{.Id}}", name).out.strip()
    assert_ran_under(runtime, docker.runtime_log(cid), cid)
    gate.open()
    res = finish(proc, seen)
    assert (res.code, res.out) == (3, "hello\n"), res


def test_detached_exec_top_pause_stop(
    docker: Docker, runtime: Runtime, request: pytest.FixtureRequest
) -> None:
    name = name_for(request, runtime)
    res = docker(*run_args(runtime, name, "-d"), "/bin/sh", "-c",
                 'trap "exit 7" TERM; sleep 1000 & wait')  # fmt: skip
    assert res.code == 0, res
    cid = res.out.strip()
    assert_ran_under(runtime, docker.runtime_log(cid), cid)
    res = docker("exec", name, "/bin/sh", "-c", "echo in exec; exit 4")
    assert (res.code, res.out) == (4, "in exec\n"), res
    res = docker("top", name)  # the runtime's ps --format json
    assert res.code == 0 and "sleep 1000" in res.out, res
    assert docker("pause", name).code == 0
    res = docker("inspect", "--format", "{{.State.Status}}", name)
    assert res.out.strip() == "paused", res
    assert docker("unpause", name).code == 0
    res = docker("stop", "--time", "20", name)
    assert res.code == 0, res
    res = docker("inspect", "--format", "{{.State.ExitCode}}", name)
    assert res.out.strip() == "7", res
    assert docker("rm", name).code == 0
    assert wait_for(lambda: not docker.runtime_log(cid).parent.exists(), 10)


def test_run_tty(docker: Docker, runtime: Runtime, request: pytest.FixtureRequest) -> None:
    name = name_for(request, runtime)
    proc = subprocess.run(
        under_script(docker.args(*run_args(runtime, name, "--rm", "-t"), "/bin/sh", "-c",
                                 "tty; exit 5")),
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 5, proc
    assert "/dev/pts/0" in proc.stdout, proc
