"""The three engines in their default systemd mode, each once per runtime.

On a systemd host with cgroup v2 every engine's default path passes
``--systemd-cgroup``: podman (``cgroup_manager = "systemd"``, cgroupsPath
``machine.slice:libpod:<id>``), dockerd (its cgroup driver defaults to systemd
there: ``system.slice:docker:<id>``) and containerd's runc shim when asked
(``ctr run --runc-systemd-cgroup``; what kubeadm nodes set).  Each test proves
the runtime we named ran (pyoci's ``pyoci create ID`` line in the runtime log,
absent for runc) and that the container sat in its systemd scope, and that
the scope is gone when the engine removed the container.

The daemons (containerd, dockerd) run as transient services (``systemd-run``)
on private sockets and directories, as on a real host; the helpers come from
tests/engines/conftest.py (loaded as a module, not as a conftest).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from helpers import SESSION, mounts_under
from sd_support import (
    HERE,
    SdRuntime,
    Units,
    cgroup_of,
    show,
    status_code,
    systemctl,
    wait_until,
)

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.engines]


def _engines() -> ModuleType:
    name = "pyoci_engines_support"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE.parent / "engines" / "conftest.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


eng = _engines()
TEST_TMP = Path(os.environ.get("PYOCI_TEST_TMP", "/tmp/pyoci-tests"))


def need(*binaries: str) -> None:
    for b in binaries:
        if shutil.which(b) is None:
            pytest.skip(f"{b} is not installed")


class Service:
    """A daemon run as a transient systemd service (stopped, with whatever it
    left in its cgroup, by ``systemctl stop``)."""

    def __init__(self, unit: str, cmd: list[str]) -> None:
        self.unit = unit
        res = subprocess.run(
            ["systemd-run", "--quiet", "--collect", "--unit", unit, "-p", "KillMode=mixed", *cmd],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert res.returncode == 0, res

    def alive(self) -> bool:
        return show(self.unit, "ActiveState").get("ActiveState") in ("active", "activating")

    def journal(self) -> str:
        res = subprocess.run(["journalctl", "--no-pager", "-q", "-u", self.unit, "-n", "40"],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
        return res.stdout[-3000:]

    def wait_ready(self, ready: Any, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.unit} exited: {self.journal()}")
            if ready():
                return
            time.sleep(0.3)
        raise RuntimeError(f"{self.unit} not ready in {timeout}s: {self.journal()}")

    def stop(self) -> None:
        systemctl("stop", self.unit, timeout=120)
        systemctl("reset-failed", self.unit)


class SdContainerd(eng.Containerd):  # type: ignore[misc, name-defined]
    def start(self) -> None:
        (self.base / "config.toml").write_text(eng.CONFIG.format(base=self.base))
        cmd = ["containerd", "--config", str(self.base / "config.toml")]
        self.service = Service(f"pyoci-sdtest-containerd-{SESSION}", cmd)
        self.service.wait_ready(
            lambda: Path(self.address).exists() and self.ctr("version").code == 0
        )

    def stop(self) -> None:
        try:
            if self.service.alive():
                self.remove_all()
        finally:
            self.service.stop()
            left = eng.kill_leftover_pids(self.address)
            assert not left, f"containerd shims left running: {left}"


IMAGE = "pyoci-busybox:sdtest"


class SdDocker:
    """dockerd on private dirs and socket, on the test containerd, with no cgroup
    driver or parent given: on a systemd + cgroup v2 host its default is systemd."""

    def __init__(self, base: Path, containerd: Any, client: str) -> None:
        self.base = base
        self.containerd = containerd
        self.client = client
        self.socket = base / "d.sock"

    def start(self, pyoci: str) -> None:
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
            "--add-runtime", f"pyoci={pyoci}",
        ]  # fmt: skip
        self.service = Service(f"pyoci-sdtest-dockerd-{SESSION}", cmd)
        self.service.wait_ready(lambda: self.socket.exists() and self("version").code == 0)

    def __call__(self, *args: str, timeout: float = 300, input: bytes | None = None) -> Any:
        proc = subprocess.run([self.client, "--host", f"unix://{self.socket}", *args],
                              input=input, capture_output=True, timeout=timeout)  # fmt: skip
        return eng.Result(proc.returncode, proc.stdout.decode(errors="replace"),
                          proc.stderr.decode(errors="replace"))  # fmt: skip

    def import_rootfs(self, rootfs: Path) -> None:
        tar = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], capture_output=True, check=True)
        res = self("import", "-", IMAGE, input=tar.stdout)
        assert res.code == 0, res

    def runtime_log(self, cid: str) -> Path:
        return Path(self.containerd.bundle(cid, namespace="moby")) / "log.json"

    def stop(self) -> None:
        try:
            if self.service.alive():
                ids = self("ps", "--all", "--quiet").out.split()
                if ids:
                    self("rm", "--force", *ids)
        finally:
            self.service.stop()
            left = eng.kill_leftover_pids(str(self.base))
            assert not left, f"docker processes left running: {left}"


PODMAN_CONF = """\
[containers]
default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]
netns = "none"
log_driver = "k8s-file"

[engine]
cgroup_manager = "systemd"
events_logger = "none"
runtime_supports_json = ["crun", "runc", "pyoci"]
conmon_path = ["/usr/bin/conmon"]
tmp_dir = "{base}/tmp"

[network]
network_config_dir = "{base}/net"
"""


@pytest.fixture(scope="module")
def engine_dir() -> Iterator[Path]:
    TEST_TMP.mkdir(parents=True, exist_ok=True)

    d = Path(tempfile.mkdtemp(prefix="sd-engines-", dir=TEST_TMP))
    side_dirs = [Path("/run/containerd"), Path("/run/docker")]
    existed = {p: p.exists() for p in side_dirs}
    yield d
    for p in side_dirs:
        eng.remove_new_empty_dirs(p, existed[p])
    if not os.environ.get("PYOCI_KEEP_ENGINE_TMP"):
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def containerd(engine_dir: Path, rootfs: Path) -> Iterator[Any]:
    need("containerd", "ctr", "containerd-shim-runc-v2", "systemd-run")
    base = engine_dir / "ctrd"
    base.mkdir()
    c = SdContainerd(base, rootfs)
    try:
        c.start()
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def docker(containerd: Any, engine_dir: Path, rootfs: Path) -> Iterator[Any]:
    need("dockerd")
    client = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else shutil.which("docker")
    if client is None:
        pytest.skip("the docker client is not installed (Debian package docker.io)")
    from helpers import pyoci_binary

    base = engine_dir / "docker"
    base.mkdir()
    d = SdDocker(base, containerd, client)
    try:
        d.start(pyoci_binary())
        d.import_rootfs(rootfs)
        yield d
    finally:
        d.stop()
        left = mounts_under(str(base))
        assert not left, f"dockerd left mounts: {left}"


def ran_under(rt: SdRuntime, log: Path, cid: str) -> None:
    eng.assert_ran_under(eng.Runtime(rt.name, rt.binary), log, cid)


def in_scope(pid: int, unit: str, slice_name: str) -> None:
    """The process sits in the scope, and the scope is what systemd made it."""
    path = f"/{slice_name}/{unit}"
    assert cgroup_of(pid) == path
    got = show(unit, "Slice", "ControlGroup", "Delegate", "ActiveState")
    assert got == {"Slice": slice_name, "ControlGroup": path, "Delegate": "yes",
                   "ActiveState": "active"}, got  # fmt: skip


# ------------------------------------------------------------------ containerd


def test_ctr_runc_systemd_cgroup(
    containerd: Any, rt: SdRuntime, units: Units, engine_dir: Path
) -> None:
    """``ctr run --runc-binary RUNTIME --runc-systemd-cgroup``: the shim passes
    --systemd-cgroup to every runtime call (go-runc)."""
    cid = f"ctr-{rt.name}-{SESSION[:4]}"
    unit = f"cri-containerd-{cid}.scope"
    units.add(unit)
    res = containerd.ctr(
        "run", "-d",
        "--runc-binary", rt.binary,
        "--runc-root", str(containerd.runtime_root),
        "--runc-systemd-cgroup",
        "--cgroup", f"system.slice:cri-containerd:{cid}",
        "--fifo-dir", str(containerd.fifo_dir),
        "--rootfs", str(containerd.rootfs),
        cid, "/bin/sleep", "1000",
    )  # fmt: skip
    assert res.code == 0, res
    ran_under(rt, containerd.runtime_log(cid), cid)
    tasks = containerd.ctr("task", "ls").out.splitlines()
    pid = int(next(ln.split()[1] for ln in tasks if ln.startswith(cid + " ")))
    in_scope(pid, unit, "system.slice")
    res = containerd.ctr("task", "kill", "-s", "SIGKILL", cid)
    assert res.code == 0, res
    wait_until(lambda: containerd.task_status(cid) == "STOPPED", 60, "the task to stop")
    res = containerd.ctr("task", "delete", cid)
    assert res.code == 0, res
    res = containerd.ctr("container", "delete", cid)
    assert res.code == 0, res
    assert status_code(unit) == 4


# ------------------------------------------------------------------ docker


def test_docker_default_systemd_driver(
    docker: Any, rt: SdRuntime, units: Units, engine_dir: Path
) -> None:
    res = docker("info", "--format", "{{.CgroupDriver}} {{.CgroupVersion}}")
    assert res.out.split() == ["systemd", "2"], res
    name = f"sd-{rt.name}-{SESSION[:4]}"
    runtime = "pyoci" if rt.name == "pyoci" else "runc"
    # no apparmor_parser on this machine: dockerd would load its default profile
    res = docker("run", "-d", "--name", name, "--runtime", runtime, "--network", "none",
                 "--security-opt", "apparmor=unconfined", IMAGE, "sleep", "1000")  # fmt: skip
    assert res.code == 0, res
    cid = res.out.strip()
    unit = f"docker-{cid}.scope"
    units.add(unit)
    ran_under(rt, docker.runtime_log(cid), cid)
    pid = int(docker("inspect", "--format", "{{.State.Pid}}", name).out.strip())
    in_scope(pid, unit, "system.slice")
    res = docker("rm", "--force", name)
    assert res.code == 0, res
    wait_until(lambda: status_code(unit) == 4, 60, f"{unit} to go")


# ------------------------------------------------------------------ podman


@pytest.fixture(scope="module")
def podman_base(engine_dir: Path, rootfs: Path) -> Iterator[tuple[Path, Path, Path]]:
    need("podman", "conmon")
    base = engine_dir / "podman"
    base.mkdir()
    own_rootfs = base / "rootfs"  # podman writes into a --rootfs
    shutil.copytree(rootfs, own_rootfs, symlinks=True)
    runroot = base / "runroot"  # podman refuses a runroot longer than 50 characters
    if len(str(runroot)) > 50:
        runroot = Path(tempfile.mkdtemp(prefix="pyoci-pd-", dir="/run"))
    yield base, own_rootfs, runroot
    left = mounts_under(str(base)) + mounts_under(str(runroot))
    if runroot.parent == Path("/run"):
        shutil.rmtree(runroot, ignore_errors=True)
    assert not left, f"podman left mounts: {left}"


def test_podman_default_systemd_manager(
    podman_base: tuple[Path, Path, Path], rt: SdRuntime, units: Units, engine_dir: Path
) -> None:
    """``podman --runtime RUNTIME run --rm --rootfs DIR``: cgroup_manager systemd,
    the container in ``machine.slice/libpod-<id>.scope``."""
    import resource

    base, own_rootfs, runroot = podman_base
    conf = base / f"containers-{rt.name}.conf"
    nofile = min(1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    nproc = min(4096, resource.getrlimit(resource.RLIMIT_NPROC)[1])
    conf.write_text(PODMAN_CONF.format(base=base, nofile=nofile, nproc=nproc))
    env = dict(os.environ, CONTAINERS_CONF=str(conf))
    env.pop("CONTAINERS_STORAGE_CONF", None)
    # no --cgroup-manager: containers.conf says systemd, podman's default on such a host
    podman = [
        "podman",
        "--root", str(base / "root"),
        "--runroot", str(runroot),
        "--storage-driver", "vfs",
        "--events-backend", "none",
        "--tmpdir", str(base / "tmp"),
        "--network-config-dir", str(base / "net"),
        "--runtime", rt.binary,
    ]  # fmt: skip
    gate = eng.Gate(engine_dir)
    name = f"sd-{rt.name}-{SESSION[:4]}"
    proc = subprocess.Popen(
        [*podman, "run", "--rm", "--name", name, "--network", "none", "--cgroupns", "host",
         "--security-opt", "apparmor=unconfined",
         "-v", f"{gate.dir}:/gate", "--rootfs", str(own_rootfs),
         "/bin/sh", "-c", f"cat /proc/self/cgroup; {eng.Gate.WAIT}; exit 3"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        cwd=base,
    )  # fmt: skip
    try:
        try:
            seen = eng.read_until(proc, b"\n", timeout=300)
        except AssertionError:
            eng.stop_pid(proc)
            assert proc.stderr is not None
            raise AssertionError(f"podman run: {proc.returncode} {proc.stderr.read()!r}") from None
        res = subprocess.run([*podman, "inspect", "--format", "{{.Id}} {{.State.Pid}}", name],
                             capture_output=True, text=True, env=env, timeout=180)  # fmt: skip
        assert res.returncode == 0, res
        cid, pid_text = res.stdout.split()
        unit = f"libpod-{cid}.scope"
        units.add(unit)
        assert seen.decode().strip() == f"0::/machine.slice/{unit}", seen
        log = runroot / "vfs-containers" / cid / "userdata" / "oci-log"
        ran_under(rt, log, cid)
        in_scope(int(pid_text), unit, "machine.slice")
        gate.open()
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 3, (out, err)
    finally:
        if proc.poll() is None:
            gate.open()
            eng.stop_pid(proc)
    wait_until(lambda: status_code(unit) == 4, 60, f"{unit} to go")
    res = subprocess.run([*podman, "ps", "--all", "--quiet"], capture_output=True, text=True,
                         env=env, timeout=180)  # fmt: skip
    assert res.stdout.strip() == "", res
