"""``run`` (the CLI's ``run -d`` and the embedding API's ``run()``): when
nothing has to happen between create and start (no startContainer or poststart
hook, no terminal), create starts the container itself: the init execs the
user process as soon as it is set up, with no exec.fifo and no waiter.  The
state is running when ``run`` returns; a process that cannot be exec'd fails
``run`` with the reason and leaves nothing (runc 1.1.5's ``run -d`` exits 0
and leaves a stopped container there)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import pyoci
from pyoci.sandbox import Config

pytestmark = pytest.mark.root

DENY_EXECVE = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["execve", "execveat"], "action": "SCMP_ACT_ERRNO"}],
}


def _not_a_program(b: Any) -> None:
    prog = b.rootfs / "not-a-program"
    prog.write_bytes(b"\x00\x01 neither ELF nor a script\n")
    prog.chmod(0o755)


def test_run_detached_is_running_without_exec_fifo(pyoci: Any, bundle_factory: Any) -> None:
    b = bundle_factory(["sleep", "30"])
    res = pyoci("run", "-d", "-b", str(b.path), "direct")
    assert res.code == 0, res
    assert pyoci.state("direct")["status"] == "running"
    assert not (pyoci.root / "direct" / "exec.fifo").exists()
    # create saved it running (through ``start`` the record stays "created")
    assert json.loads((pyoci.root / "direct" / "state.json").read_text())["status"] == "running"
    pyoci("kill", "direct", "KILL", check=True)
    pyoci("delete", "--force", "direct", check=True)


def test_run_detached_with_poststart_hook_starts_after_create(
    pyoci: Any, bundle_factory: Any, workdir: Path
) -> None:
    """A poststart hook runs once the process started: create leaves it
    waiting on exec.fifo and ``start`` runs the hook, as before."""
    mark = workdir / "poststart-ran"

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["hooks"] = {"poststart": [{"path": "/bin/sh", "args": ["sh", "-c", f"cat > {mark}"]}]}

    b = bundle_factory(["sleep", "30"], mutate=mutate)
    res = pyoci("run", "-d", "-b", str(b.path), "hooked")
    assert res.code == 0, res
    state = json.loads(mark.read_text())
    assert state["status"] == "running" and state["id"] == "hooked"
    assert pyoci.state("hooked")["status"] == "running"
    assert json.loads((pyoci.root / "hooked" / "state.json").read_text())["status"] == "created"
    pyoci("delete", "--force", "hooked", check=True)


@pytest.mark.parametrize("case", ["format", "seccomp"])
def test_run_detached_exec_failure_fails_run(
    pyoci: Any, bundle_factory: Any, case: str
) -> None:
    """The execve fails after the init said STARTING (an executable the kernel
    refuses; a seccomp filter denying execve): one line with the reason, exit
    1, no container left (the pyoci fixture checks state dirs, cgroups,
    processes and mounts)."""
    if case == "format":
        b = bundle_factory(["/not-a-program"], copy_rootfs=True)
        _not_a_program(b)
        reason = "exec format error"
    else:
        b = bundle_factory(
            ["true"], mutate=lambda cfg: cfg["linux"].__setitem__("seccomp", DENY_EXECVE)
        )
        reason = "operation not permitted"
    res = pyoci("run", "-d", "-b", str(b.path), "nope")
    assert res.code == 1, res
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0].lower(), res
    assert pyoci("list", "-q").out.strip() == ""


def test_sandbox_run_exec_failure_raises(rootfs: Path, workdir: Path) -> None:
    root = str(workdir / "sroot")
    cfg = Config(["true"], rootfs=rootfs)
    cfg.spec["linux"]["seccomp"] = DENY_EXECVE
    with pytest.raises(pyoci.PyociError, match=r"(?i)operation not permitted"):
        pyoci.run(["true"], config=cfg, root=root)
    assert not [n for n in Path(root).iterdir() if not n.name.startswith(".")]
    # the same config without the filter runs
    del cfg.spec["linux"]["seccomp"]
    assert pyoci.run(["true"], config=cfg, root=root).returncode == 0
