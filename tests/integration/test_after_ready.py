"""Failures of the init after ``create`` returned (runtime.md start: "This operation MUST
generate an error" when the process cannot run): ``start`` fails with the reason, and the
container's stderr (create's stderr: the engine's log) gets one line saying it.

Both ways a created container waits: ``pyoci-waiter`` (the default) and the Python init
(startContainer hooks run in the container after the wait)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import wait_for

pytestmark = pytest.mark.root

WAITS = ["waiter", "python"]


def _bundle(bundle_factory: Any, args: list[str], wait: str, hooks: Any = None) -> Any:
    def mutate(cfg: dict[str, Any]) -> None:
        if wait == "python":  # startContainer hooks keep the Python init waiting
            cfg["hooks"] = {"startContainer": hooks or [{"path": "/bin/true"}]}

    b = bundle_factory(args, mutate=mutate, copy_rootfs=True)
    return b


def _create(pyoci: Any, b: Any, cid: str, err: Path) -> None:
    """create with its stderr (and so the container's) in the file ``err``."""
    with open(err, "w") as f:
        proc = subprocess.run([*pyoci.global_args(), "create", "-b", str(b.path), cid],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=f,
                              timeout=30, check=False)  # fmt: skip
    assert proc.returncode == 0, err.read_text()


def _stopped(pyoci: Any, cid: str) -> bool:
    return bool(pyoci.state(cid)["status"] == "stopped")


@pytest.mark.parametrize("wait", WAITS)
def test_exec_failure_after_start(pyoci: Any, bundle_factory: Any, workdir: Path,
                                  wait: str) -> None:  # fmt: skip
    """An executable that execve(2) refuses (no ELF, no #!): found at create, fails at start."""
    b = _bundle(bundle_factory, ["/not-a-program"], wait)
    prog = b.rootfs / "not-a-program"
    prog.write_bytes(b"\x00\x01 neither ELF nor a script\n")
    prog.chmod(0o755)
    err = workdir / "create.err"
    _create(pyoci, b, "bad-exec", err)
    res = pyoci("start", "bad-exec")
    assert res.code == 1, f"start succeeded although the process could not run: {res}"
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and "/not-a-program" in lines[0], res
    assert "exec format error" in lines[0].lower(), res
    assert wait_for(lambda: _stopped(pyoci, "bad-exec"))
    said = [ln for ln in err.read_text().splitlines() if "/not-a-program" in ln]
    assert len(said) == 1 and said[0].startswith("pyoci: "), err.read_text()
    assert "exec format error" in said[0].lower(), said
    pyoci("delete", "bad-exec", check=True)


def test_failing_start_container_hook_is_said_on_stderr(pyoci: Any, bundle_factory: Any,
                                                        workdir: Path) -> None:  # fmt: skip
    b = _bundle(bundle_factory, ["true"], "python",
                hooks=[{"path": "/bin/sh", "args": ["sh", "-c", "echo hook-broke >&2; exit 4"]}])
    err = workdir / "create.err"
    _create(pyoci, b, "bad-hook", err)
    res = pyoci("start", "bad-hook")
    assert res.code == 1 and "startContainer" in res.err, res
    assert wait_for(lambda: _stopped(pyoci, "bad-hook"))
    said = [ln for ln in err.read_text().splitlines() if "startContainer" in ln]
    assert len(said) == 1 and said[0].startswith("pyoci: ") and "hook-broke" in said[0], \
        err.read_text()
    pyoci("delete", "bad-hook", check=True)


@pytest.mark.parametrize("wait", WAITS)
def test_successful_start_says_nothing(pyoci: Any, bundle_factory: Any, workdir: Path,
                                       wait: str) -> None:  # fmt: skip
    b = _bundle(bundle_factory, ["sleep", "30"], wait)
    err = workdir / "create.err"
    _create(pyoci, b, "fine", err)
    t0 = time.monotonic()
    res = pyoci("start", "fine")
    assert res.code == 0, res
    assert time.monotonic() - t0 < 2
    assert pyoci.state("fine")["status"] == "running"
    assert err.read_text() == ""
    pyoci("delete", "-f", "fine", check=True)
