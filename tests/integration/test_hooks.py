"""Hooks (runtime.md, config.md#posix-platform-hooks): the six phases with the state on
stdin, at the right moment and in the right namespaces, their args/env/timeout, and what a
failure does."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import leftovers, log_lines, pids_with_cmdline, wait_for

pytestmark = pytest.mark.root

PHASES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
          "poststop")  # fmt: skip

# One script for every phase: $1 = phase, $2 = where to write (a host path, or /hooklog
# inside the container for startContainer).
HOOK = """#!/bin/sh
cat > "$2/$1.state"
{
  echo "args=$*"
  echo "var=$HOOKVAR"
  echo "leak=$PYOCI_TEST_LEAK"
  echo "mnt=$(readlink /proc/self/ns/mnt)"
  echo "net=$(readlink /proc/self/ns/net)"
  echo "uts=$(readlink /proc/self/ns/uts)"
} > "$2/$1.info"
"""


def _info(path: Path) -> dict[str, str]:
    return dict(ln.split("=", 1) for ln in path.read_text().splitlines())


@pytest.fixture
def hooked(bundle_factory: Any, workdir: Path) -> Any:
    """A bundle with one hook per phase, each logging to ``workdir/hooklog``."""
    log = workdir / "hooklog"
    log.mkdir()
    host_hook = workdir / "hook.sh"
    host_hook.write_text(HOOK)
    host_hook.chmod(0o755)
    env = ["HOOKVAR=value with spaces", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]

    def hook(phase: str, path: str, where: str) -> dict[str, Any]:
        return {"path": path, "args": ["hook.sh", phase, where], "env": env}

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["hooks"] = {
            phase: [hook(phase, str(host_hook), str(log))]
            for phase in PHASES
            if phase != "startContainer"
        }
        # startContainer runs in the container after pivot_root: a path there
        cfg["hooks"]["startContainer"] = [hook("startContainer", "/hook.sh", "/hooklog")]
        cfg["mounts"].append({"destination": "/hooklog", "type": "bind", "source": str(log),
                              "options": ["bind"]})  # fmt: skip
        cfg["annotations"] = {"org.example.key": "value"}

    b = bundle_factory(["sleep", "100"], mutate=mutate, copy_rootfs=True)
    (b.rootfs / "hook.sh").write_text(HOOK)
    (b.rootfs / "hook.sh").chmod(0o755)
    b.hooklog = log
    return b


def test_all_six_phases(pyoci: Any, hooked: Any) -> None:
    log: Path = hooked.hooklog
    env = dict(os.environ, PYOCI_TEST_LEAK="leaked")

    def seen() -> set[str]:
        return {p.name.split(".")[0] for p in log.glob("*.info")}

    pyoci("create", "-b", str(hooked.path), "hooks", check=True, env=env)
    assert seen() == {"prestart", "createRuntime", "createContainer"}
    pid = pyoci.state("hooks")["pid"]
    pyoci("start", "hooks", check=True, env=env)
    assert seen() == set(PHASES) - {"poststop"}
    pyoci("delete", "-f", "hooks", check=True, env=env)
    assert seen() == set(PHASES)

    host = {n: os.readlink(f"/proc/self/ns/{n}") for n in ("mnt", "net", "uts")}
    expected_status = {"prestart": "creating", "createRuntime": "creating",
                       "createContainer": "creating", "startContainer": "created",
                       "poststart": "running", "poststop": "stopped"}  # fmt: skip
    container_ns = None
    for phase in PHASES:
        info = _info(log / f"{phase}.info")
        where = "/hooklog" if phase == "startContainer" else str(log)
        assert info["args"] == f"{phase} {where}", info
        assert info["var"] == "value with spaces"
        assert info["leak"] == "", "the hook's env is only what the config gives"
        state = json.loads((log / f"{phase}.state").read_text())
        assert state["id"] == "hooks" and state["status"] == expected_status[phase], state
        assert state["bundle"] == str(hooked.path)
        assert state["annotations"] == {"org.example.key": "value"}
        assert state["ociVersion"]
        if phase != "poststop":
            assert state["pid"] == pid
        in_container = phase in ("createContainer", "startContainer")
        ns = {n: info[n] for n in ("mnt", "net", "uts")}
        if in_container:
            assert ns["mnt"] != host["mnt"] and ns["net"] != host["net"], phase
            container_ns = container_ns or ns
            assert ns == container_ns, phase
        else:
            assert ns == host, f"{phase} runs in the runtime's namespaces"


def test_hook_timeout(pyoci: Any, bundle_factory: Any, workdir: Path) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["hooks"] = {"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "7.77"],
                                           "timeout": 1}]}  # fmt: skip

    b = bundle_factory(["true"], mutate=mutate)
    t0 = time.monotonic()
    res = pyoci("create", "-b", str(b.path), "slow")
    assert time.monotonic() - t0 < 5
    assert res.code == 1
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and "createRuntime" in lines[0] and "timed out" in lines[0], res
    assert not pids_with_cmdline("7.77"), "the timed-out hook was killed"
    assert not leftovers(pyoci, workdir)


@pytest.mark.parametrize("phase", ["prestart", "createRuntime", "createContainer"])
def test_failing_create_hook_aborts_and_cleans_up(pyoci: Any, bundle_factory: Any,
                                                  workdir: Path, phase: str) -> None:  # fmt: skip
    marker = workdir / "poststop-ran"

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["hooks"] = {
            phase: [{"path": "/bin/sh", "args": ["sh", "-c", "echo boom >&2; exit 3"]}],
            # records whether the state is gone when it runs (lifecycle 12-13:
            # delete, then the poststop hooks), as test_poststop_hook_timing for delete
            "poststop": [{"path": "/bin/sh", "args": [
                "sh", "-c", f"test -e {pyoci.root}/fails && echo present > {marker}"
                f" || echo gone > {marker}"]}],
        }

    b = bundle_factory(["true"], mutate=mutate)
    res = pyoci("create", "-b", str(b.path), "fails")
    assert res.code == 1
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and phase in lines[0], res
    assert log_lines(pyoci.log)[-1]["level"] == "error"
    assert not leftovers(pyoci, workdir)
    # runtime.md lifecycle 3-5: stop the container and continue at step 12 (delete),
    # then 13 (poststop hooks): for every create-time phase, createContainer too
    assert marker.exists(), f"no poststop hook ran after the failing {phase} hook"
    assert marker.read_text().strip() == "gone", "poststop ran before the state was removed"


def test_failing_create_leaves_no_process_of_its_hook(
    pyoci: Any, bundle_factory: Any, workdir: Path
) -> None:
    """Without a PID namespace, killing the init does not end what a failing
    createContainer hook left running in the container's cgroup: the rollback
    kills it too and removes the cgroup (as delete does)."""
    tag = f"pyoci-orphan-{workdir.name}"

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["linux"]["namespaces"] = [
            ns for ns in cfg["linux"]["namespaces"] if ns["type"] != "pid"
        ]
        script = f"(exec -a {tag} sleep 100) </dev/null >/dev/null 2>&1 & exit 3"
        cfg["hooks"] = {"createContainer": [{"path": "/bin/bash", "args": ["bash", "-c", script]}]}

    b = bundle_factory(["true"], mutate=mutate)
    res = pyoci("create", "-b", str(b.path), "orphan")
    assert res.code == 1, res
    assert not leftovers(pyoci, workdir)
    assert not pids_with_cmdline(tag), "the hook's process outlived the failed create"


def test_failing_start_container_hook_stops_the_container(pyoci: Any, bundle_factory: Any,
                                                          workdir: Path) -> None:  # fmt: skip
    out = workdir / "out"
    out.mkdir()

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["hooks"] = {"startContainer": [{"path": "/bin/false"}]}
        cfg["mounts"].append({"destination": "/out", "type": "bind", "source": str(out),
                              "options": ["bind"]})  # fmt: skip

    b = bundle_factory(["touch", "/out/user-process-ran"], mutate=mutate)
    pyoci("create", "-b", str(b.path), "sc", check=True)
    res = pyoci("start", "sc")
    assert res.code == 1, res
    assert "startContainer" in res.err
    assert wait_for(lambda: pyoci.state("sc")["status"] == "stopped")
    assert not (out / "user-process-ran").exists()
    pyoci("delete", "sc", check=True)


def test_failing_poststart_is_an_error_and_stops_the_container(
    pyoci: Any, bundle_factory: Any, workdir: Path
) -> None:
    """runtime.md lifecycle 9 (v1.3.0): a failing poststart hook is an error and
    the container is stopped; delete destroys it and runs the poststop hooks."""
    marker = workdir / "poststop-ran"

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["hooks"] = {
            "poststart": [{"path": "/bin/false"}, {"path": "/bin/true"}],
            "poststop": [{"path": "/bin/touch", "args": ["touch", str(marker)]}],
        }

    b = bundle_factory(["sleep", "100"], mutate=mutate)
    pyoci("create", "-b", str(b.path), "ps", check=True)
    res = pyoci("start", "ps")
    assert res.code == 1, res
    assert "poststart" in res.err and len(res.err.strip().splitlines()) == 1, res
    errors = [ln for ln in log_lines(pyoci.log) if ln["level"] == "error"]
    assert "poststart" in errors[-1]["msg"], log_lines(pyoci.log)
    assert wait_for(lambda: pyoci.state("ps")["status"] == "stopped")
    assert not marker.exists()
    pyoci("delete", "ps", check=True)
    assert marker.exists()


def test_failing_poststop_only_warns(pyoci: Any, bundle_factory: Any, workdir: Path) -> None:
    marker = workdir / "second-ran"

    def mutate(cfg: dict[str, Any]) -> None:
        touch = {"path": "/bin/touch", "args": ["touch", str(marker)]}
        cfg["hooks"] = {"poststop": [{"path": "/bin/false"}, touch]}

    b = bundle_factory(["true"], mutate=mutate)
    pyoci("create", "-b", str(b.path), "pst", check=True)
    pyoci("start", "pst", check=True)
    assert wait_for(lambda: pyoci.state("pst")["status"] == "stopped")
    res = pyoci("delete", "pst")
    assert res.code == 0, res
    assert not (pyoci.root / "pst").exists()
    assert marker.exists(), "the remaining poststop hooks still run"
    warnings = [ln for ln in log_lines(pyoci.log) if ln["level"] == "warning"]
    assert any("poststop" in w["msg"] for w in warnings)


def test_hook_not_found(pyoci: Any, bundle_factory: Any, workdir: Path) -> None:
    b = bundle_factory(["true"], mutate=lambda c: c.update(hooks={"createRuntime": [
        {"path": "/nonexistent/hook"}]}))  # fmt: skip
    res = pyoci("create", "-b", str(b.path), "nohook")
    assert res.code == 1
    assert len(res.err.strip().splitlines()) == 1 and "createRuntime" in res.err
    assert not leftovers(pyoci, workdir)


def test_hooks_run_in_order(pyoci: Any, bundle_factory: Any, workdir: Path) -> None:
    log = workdir / "order"

    def h(word: str) -> dict[str, Any]:
        return {"path": "/bin/sh", "args": ["sh", "-c", f"echo {word} >> {log}"]}

    b = bundle_factory(["true"], mutate=lambda c: c.update(hooks={
        "createRuntime": [h("one"), h("two"), h("three")]}))  # fmt: skip
    pyoci("run", "-b", str(b.path), "order", check=True)
    assert log.read_text().split() == ["one", "two", "three"]


def test_start_waits_for_a_long_startcontainer_hook(pyoci: Any, bundle_factory: Any) -> None:
    """start waits for the startContainer hooks as long as the init lives (their
    own timeouts bound them), then the process runs: no fixed cap of its own."""

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["hooks"] = {"startContainer": [{"path": "/bin/sleep", "args": ["sleep", "11"]}]}

    b = bundle_factory(["sh", "-c", "echo ran > /tmp/ran; sleep 100"], mutate=mutate)
    pyoci("create", "-b", str(b.path), "slowhook", check=True)
    started = time.monotonic()
    res = pyoci("start", "slowhook", timeout=60)
    assert res.code == 0, res
    assert time.monotonic() - started >= 11
    assert pyoci.state("slowhook")["status"] == "running"
    pyoci("delete", "--force", "slowhook", check=True)
