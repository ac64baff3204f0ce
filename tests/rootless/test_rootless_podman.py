"""Rootless podman with ``--runtime pyoci``, end to end, as the test user.

No image, no network, no overlay: ``--rootfs`` of a busybox tree the user owns,
vfs storage, ``--network none``, the cgroupfs manager, everything (storage,
run root, containers.conf, HOME) under the test's directory.  podman runs
pyoci as root of its own user namespace (the user's uid and its subordinate
ids), the case runc calls "rootless in a user namespace".
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import Result, pyoci_binary
from rootless_support import Env

pytestmark = [
    pytest.mark.rootless,
    pytest.mark.root,
    pytest.mark.skipif(
        shutil.which("podman") is None, reason="podman is not installed (Debian package podman)"
    ),
]

CONF = """\
[engine]
runtime = "pyoci"
runtime_supports_json = ["pyoci"]
cgroup_manager = "cgroupfs"
events_logger = "file"

[engine.runtimes]
pyoci = ["{pyoci}"]

[containers]
netns = "none"
"""


class Podman:
    def __init__(self, env: Env) -> None:
        self.env = env
        self.dir = env.user_dir("podman")
        self.home = self.dir / "home"
        self.home.mkdir()
        self.rootfs = self.dir / "rootfs"
        shutil.copytree(env.rootfs, self.rootfs, symlinks=True)
        (self.dir / "containers.conf").write_text(CONF.format(pyoci=pyoci_binary()))
        env.user.chown(self.dir)

    def __call__(self, *args: str, timeout: float = 120) -> Result:
        d = self.dir
        argv = ["podman", "--root", f"{d}/storage", "--runroot", f"{d}/runroot",
                "--storage-driver", "vfs", "--runtime", "pyoci",
                "--cgroup-manager", "cgroupfs", "--events-backend", "file", *args]  # fmt: skip
        env = {"HOME": str(self.home), "XDG_RUNTIME_DIR": str(self.env.rt.xdg),
               "CONTAINERS_CONF": f"{d}/containers.conf"}  # fmt: skip
        return self.env.user.run(argv, env, timeout=timeout)

    def stop_pause_process(self) -> None:
        """podman keeps a process holding its user namespace: ours, so end it."""
        pidfile = self.env.rt.xdg / "libpod" / "tmp" / "pause.pid"
        try:
            pid = int(pidfile.read_text())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def podman(env: Env) -> Iterator[Podman]:
    p = Podman(env)
    try:
        yield p
    finally:
        p("rm", "--all", "--force", "--time", "0")
        p.stop_pause_process()
        shutil.rmtree(p.dir, ignore_errors=True)


def test_podman_run_rootless(env: Env, podman: Podman) -> None:
    u = env.user
    assert u.subuid is not None
    res = podman(
        "run", "--name", "hello", "--network", "none", "--rootfs", str(podman.rootfs),
        "sh", "-c", "echo hello from pyoci; id -u; cat /proc/self/uid_map",
    )  # fmt: skip
    assert res.code == 0, res
    lines = res.out.splitlines()
    assert lines[:2] == ["hello from pyoci", "0"], res
    maps = [line.split() for line in lines[2:]]
    assert ["0", str(u.uid), "1"] in maps
    assert ["1", str(u.subuid[0]), str(u.subuid[1])] in maps
    runtime = podman("inspect", "--format", "{{.OCIRuntime}}", "hello")
    assert runtime.out.strip() == "pyoci", runtime
    assert podman("rm", "hello").code == 0
    # pyoci kept its state with the user's, and removed it
    assert env.rt.containers() == []


def test_podman_detached_exec_stop(env: Env, podman: Podman) -> None:
    res = podman("run", "--detach", "--name", "web", "--network", "none",
                 "--rootfs", str(podman.rootfs), "sleep", "1000")  # fmt: skip
    assert res.code == 0, res
    ps = podman("ps", "--format", "{{.Names}} {{.Status}}")
    assert ps.out.startswith("web Up"), ps
    ex = podman("exec", "web", "sh", "-c", "echo exec ok; id -u")
    assert (ex.code, ex.out) == (0, "exec ok\n0\n"), ex
    cid = podman("inspect", "--format", "{{.Id}}", "web").out.strip()
    assert env.rt.containers() == [cid], "pyoci's state is under $XDG_RUNTIME_DIR/pyoci"
    pid = podman("inspect", "--format", "{{.State.Pid}}", "web").out.strip()
    assert pid.isdigit() and Path(f"/proc/{pid}").exists()
    status = Path(f"/proc/{pid}/status").read_text()
    assert f"Uid:\t{env.user.uid}\t" in status  # root inside = the user outside
    stop = podman("stop", "--time", "1", "web")
    assert stop.code == 0, stop
    assert podman("rm", "web").code == 0
    assert podman("ps", "--all", "--quiet").out.strip() == ""
    assert env.rt.containers() == []
