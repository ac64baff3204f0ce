"""checkpoint / restore with ``--systemd-cgroup``: the restored tree lands in a
transient scope made for it (as runc: the unit is started with CRIU's pid, and
CRIU's children, the restored processes, stay in it), removed on delete.  One
checkpoint + restore per runtime (CRIU 3.17 runs on the guest's 6.1 kernel)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from helpers import sh
from sd_support import SdRuntime, Units, cgroup_of, sd_bundle, show, unit_loaded, wait_until

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.slow]

COUNTER = "i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.2; done"


def detached(rt: SdRuntime, *args: str) -> None:
    """The runtime with /dev/null as stdio (what CRIU can dump and restore, and
    no pipe a detached container would hold open); the --log says why it failed."""
    res = subprocess.run([*rt.global_args(), *args], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         timeout=120, check=False)  # fmt: skip
    log = rt.log.read_text() if rt.log is not None and rt.log.exists() else ""
    assert res.returncode == 0, f"{rt.name} {args[0]}: exit {res.returncode}: {log}"


def count(rootfs: Path) -> int:
    try:
        return int((rootfs / "tmp" / "count").read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def test_checkpoint_restore_in_scope(
    rt: SdRuntime, units: Units, workdir: Path, rootfs: Path
) -> None:
    if shutil.which("criu") is None:
        pytest.skip("criu is not installed (Debian package criu)")
    own = workdir / "rootfs-copy"
    shutil.copytree(rootfs, own, symlinks=True)
    scope = units.scope()
    b = sd_bundle(workdir, own, scope, sh(COUNTER))
    detached(rt, "run", "-d", "--bundle", str(b.path), scope.cid)
    pid = rt.pid(scope.cid)
    assert cgroup_of(pid) == scope.path
    wait_until(lambda: count(own) > 2, 60, "the counter")
    img = workdir / "img"
    detached(rt, "checkpoint", "--image-path", str(img), scope.cid)
    # checkpointed: the container is deleted, its scope stopped
    assert rt("state", scope.cid).code != 0
    wait_until(lambda: not unit_loaded(scope.unit), 30, f"{scope.unit} to go")
    at_dump = count(own)

    detached(rt, "restore", "-d", "--image-path", str(img), "--bundle", str(b.path), scope.cid)
    new_pid = rt.pid(scope.cid)
    assert new_pid != pid
    assert cgroup_of(new_pid) == scope.path
    assert show(scope.unit, "ActiveState", "ControlGroup") == {
        "ActiveState": "active", "ControlGroup": scope.path}  # fmt: skip
    assert str(new_pid) in (scope.dir / "cgroup.procs").read_text().split()
    time.sleep(1)
    assert count(own) > at_dump, "the restored counter does not go on"
    res = rt("delete", "--force", scope.cid)
    assert res.code == 0, res
    wait_until(lambda: not unit_loaded(scope.unit), 30, f"{scope.unit} to go after delete")

    # a restore that fails (a corrupt image) leaves no container and no unit
    (img / "inventory.img").write_bytes(b"\x00garbage")
    res = subprocess.run([*rt.global_args(), "restore", "-d", "--image-path", str(img),
                          "--bundle", str(b.path), scope.cid], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120,
                         check=False)  # fmt: skip
    assert res.returncode != 0
    assert rt("state", scope.cid).code != 0
    wait_until(lambda: not unit_loaded(scope.unit), 30, f"{scope.unit} to go after a failure")
    assert not scope.dir.exists()


