"""``--systemd-cgroup`` on a host without systemd as PID 1 (this CI machine).

The real driver is exercised in a systemd guest (tests/systemd/); here: the flag
is accepted on every command (containerd's go-runc passes it to all of them,
before the command) and later commands find the manager in the state; create
with it fails with runc's one-line errors and leaves nothing behind.
"""

from __future__ import annotations

import glob
import json
from pathlib import Path
from typing import Any

import pytest
from helpers import RuntimeCLI, log_lines

from pyoci.cgroups.systemd import NO_SYSTEMD, systemd_running

pytestmark = pytest.mark.root

needs_no_systemd = pytest.mark.skipif(
    systemd_running(), reason="this host runs systemd: tests/systemd/ covers the driver here"
)


def scopes(name: str) -> list[str]:
    return glob.glob(f"/sys/fs/cgroup/*/*/{name}") + glob.glob(f"/sys/fs/cgroup/*/{name}")


def one_error_line(res: Any) -> str:
    lines = res.err.strip().splitlines()
    assert res.code == 1 and len(lines) == 1, res
    assert res.out == ""
    return str(lines[0])


@needs_no_systemd
@pytest.mark.parametrize("path", ["", "system.slice:pyoci-test:{id}"])
def test_create_without_systemd_fails_and_leaves_nothing(
    pyoci: RuntimeCLI, bundle_factory: Any, workdir: Path, path: str
) -> None:
    cid = f"sdnone-{workdir.name}"

    def set_path(cfg: dict[str, Any]) -> None:
        cfg["linux"]["cgroupsPath"] = path.format(id=cid)

    b = bundle_factory(["true"], cgroup=False, mutate=set_path)
    res = pyoci("--systemd-cgroup", "create", "-b", str(b.path), cid)
    assert one_error_line(res) == f"pyoci: {NO_SYSTEMD}"
    assert log_lines(pyoci.log)[-1]["msg"] == NO_SYSTEMD  # type: ignore[arg-type]
    assert not (pyoci.root / cid).exists()
    assert scopes(f"pyoci-{cid}.scope") == [] and scopes(f"pyoci-test-{cid}.scope") == []
    assert scopes(cid) == []  # nor a cgroupfs cgroup instead
    # run too
    res = pyoci("--systemd-cgroup", "run", "-b", str(b.path), cid)
    assert one_error_line(res) == f"pyoci: {NO_SYSTEMD}"
    assert not (pyoci.root / cid).exists()


@pytest.mark.parametrize(
    ("path", "annotations", "message"),
    [
        ("/pyoci-test/x", {},
         'expected cgroupsPath to be of format "slice:prefix:name" for systemd cgroups,'
         ' got "/pyoci-test/x" instead'),
        ("a:b", {},
         'expected cgroupsPath to be of format "slice:prefix:name" for systemd cgroups,'
         ' got "a:b" instead'),
        ("a--b.slice:p:n", {}, "invalid slice name: a--b.slice"),
        ("system.slice:p:n", {"org.systemd.property.Ab": "true"},
         "annotation org.systemd.property.Ab name incorrect: too short"),
        ("system.slice:p:n", {"org.systemd.property.TimeoutStopSec": "'x'"},
         "annotation org.systemd.property.TimeoutStopSec='x' value parse error: not a number"),
    ],
)  # fmt: skip
def test_config_errors_come_first(
    pyoci: RuntimeCLI,
    bundle_factory: Any,
    path: str,
    annotations: dict[str, str],
    message: str,
) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["linux"]["cgroupsPath"] = path
        cfg["annotations"] = annotations

    b = bundle_factory(["true"], cgroup=False, mutate=mutate)
    res = pyoci("--systemd-cgroup", "create", "-b", str(b.path), "sdbad")
    assert one_error_line(res) == f"pyoci: {message}"
    assert not (pyoci.root / "sdbad").exists()


def test_flag_accepted_on_every_command_of_a_cgroupfs_container(
    pyoci: RuntimeCLI, bundle_factory: Any
) -> None:
    """The manager comes from the state: a cgroupfs container stays one."""
    b = bundle_factory(["sleep", "100"])
    sd = "--systemd-cgroup"
    pyoci("create", "-b", str(b.path), "sdflag", check=True)
    state = json.loads(pyoci(sd, "state", "sdflag", check=True).out)
    assert state["status"] == "created"
    assert "sdflag" in pyoci(sd, "list", check=True).out
    pyoci(sd, "start", "sdflag", check=True)
    pyoci(sd, "kill", "sdflag", "CONT", check=True)
    pyoci(sd, "update", "--pids-limit", "50", "sdflag", check=True)
    pyoci(sd, "pause", "sdflag", check=True)
    assert json.loads(pyoci(sd, "state", "sdflag", check=True).out)["status"] == "paused"
    pyoci(sd, "resume", "sdflag", check=True)
    assert json.loads(pyoci(sd, "ps", "--format", "json", "sdflag", check=True).out)
    stats = json.loads(pyoci(sd, "events", "--stats", "sdflag", check=True).out)
    assert stats["data"]["pids"]["limit"] == 50
    pyoci(sd, "exec", "sdflag", "true", check=True)
    pyoci(sd, "kill", "--all", "sdflag", "KILL", check=True)
    pyoci(sd, "delete", "--force", "sdflag", check=True)
    assert not (pyoci.root / "sdflag").exists()
    doc = json.loads(pyoci(sd, "features", check=True).out)
    assert doc["linux"]["cgroup"]["systemd"] is True
    assert doc["linux"]["cgroup"]["systemdUser"] is True
