"""podman 4.3 ``container checkpoint`` / ``container restore`` with ``--runtime``
pyoci, and runc as the reference, in the same run (podman drives ``checkpoint
--image-path --work-path`` and, through conmon, ``restore --detach --pid-file
--bundle``).  A private podman (own --root/--runroot, vfs, cgroupfs, no network)
on a copied busybox rootfs."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import CGROUP_PARENT, pyoci_binary

pytestmark = [pytest.mark.root, pytest.mark.needs_criu, pytest.mark.slow, pytest.mark.engines]

CONF = """\
[containers]
netns = "none"
log_driver = "k8s-file"
cgroups = "no-conmon"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "none"
runtime_supports_json = ["crun", "runc", "pyoci"]
conmon_path = ["/usr/bin/conmon"]
"""
COUNTER = "i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.2; done"


@pytest.fixture(params=["pyoci", "runc"])
def runtime(request: pytest.FixtureRequest) -> str:
    if shutil.which("podman") is None or shutil.which("conmon") is None:
        pytest.skip("podman or conmon is not installed (Debian packages podman, conmon)")
    if request.param == "runc":
        found = shutil.which("runc")
        if found is None:
            pytest.skip("runc is not installed: the reference run is skipped")
        return found
    return pyoci_binary()


@pytest.fixture
def podman(
    runtime: str, workdir: Path, rootfs: Path
) -> Iterator[tuple[list[str], dict[str, str], Path]]:
    base = workdir / "podman"
    base.mkdir()
    (base / "containers.conf").write_text(CONF)
    own = base / "rootfs"
    shutil.copytree(rootfs, own, symlinks=True)
    cmd = [
        "podman", "--root", str(base / "root"), "--runroot", str(base / "run"),
        "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none",
        "--tmpdir", str(base / "tmp"), "--runtime", runtime,
    ]  # fmt: skip
    env = dict(os.environ, CONTAINERS_CONF=str(base / "containers.conf"))
    yield cmd, env, own
    subprocess.run([*cmd, "rm", "--all", "--force", "--time", "0"], env=env, check=False,
                   capture_output=True, timeout=120)  # fmt: skip


def count(rootfs: Path) -> int:
    try:
        return int((rootfs / "tmp" / "count").read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def wait_above(rootfs: Path, n: int, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if count(rootfs) > n:
            return count(rootfs)
        time.sleep(0.3)
    raise AssertionError(f"counter stuck at {count(rootfs)}")


def test_podman_checkpoint_restore(podman: tuple[list[str], dict[str, str], Path]) -> None:
    cmd, env, rootfs = podman

    def pm(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cmd, *args], env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=180, check=False)  # fmt: skip

    res = pm("run", "-d", "--name", "cp", "--network", "none",
             "--cgroup-parent", f"{CGROUP_PARENT}/podman", "--rootfs", str(rootfs),
             "/bin/sh", "-c", COUNTER)  # fmt: skip
    assert res.returncode == 0, res
    wait_above(rootfs, 2)
    res = pm("container", "checkpoint", "cp")
    assert res.returncode == 0, res
    assert "Exited" in pm("ps", "-a", "--format", "{{.Status}}").stdout
    at_dump = count(rootfs)
    res = pm("container", "restore", "cp")
    assert res.returncode == 0, res
    assert wait_above(rootfs, at_dump) > at_dump
    assert "Up" in pm("ps", "-a", "--format", "{{.Status}}").stdout
    assert pm("rm", "-f", "-t", "0", "cp").returncode == 0
