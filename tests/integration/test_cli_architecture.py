"""What issue 8 can hold deterministically (speed itself is the benchmark's job):
the modules each command imports, an isolated interpreter, one thread."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import pyoci_binary

pytestmark = pytest.mark.root

# Heavy or start-up-costly modules that the commands engines call most must not load.
FORBIDDEN_LEAN = {
    "jsonschema", "pyroute2", "subprocess", "argparse", "typing", "re", "json", "enum",
    "dataclasses", "signal", "socket", "threading", "_cffi_backend", "pyoci.ops.container",
    "pyoci.spec.load", "pyoci.cgroups.manager", "pyoci.process.idmap",
    "os", "posixpath", "_collections_abc",  # 16% of a state (pyoci.util.lean_os)
    # the systemd driver's D-Bus client: create, update, delete only
    "pyoci.dbus", "pyoci.dbus.systemd1",
}  # fmt: skip
FORBIDDEN_CREATE = {"jsonschema", "pyroute2", "subprocess", "argparse", "typing", "json",
                    "enum", "dataclasses", "threading"}  # fmt: skip
# The process that runs `create` (and waits in `run`) leaves the init's code and
# the native layer to stage 1, loads `os` nowhere, and the jsonschema-side
# validation module only for a config the compiled check rejects, the hook runner
# only for hooks to run (peak RSS, time).
FORBIDDEN_CREATE_PARENT = FORBIDDEN_CREATE | {
    "os", "posixpath", "_collections_abc", "pyoci.init.stage", "pyoci.init.security",
    "pyoci.spec.validate", "pyoci.ops.hooks",
}  # fmt: skip


def imports_of(pyoci: Any, *args: str) -> set[str]:
    env = dict(os.environ, PYOCI_DEBUG_IMPORTS="1")
    res = pyoci(*args, env=env)
    assert res.code == 0, res
    line = [ln for ln in res.err.splitlines() if ln.startswith("pyoci-imports: ")][-1]
    return set(line.split(": ", 1)[1].split())


def test_create_and_run_leave_the_inits_code_to_stage_1(pyoci: Any, bundle_factory: Any) -> None:
    b = [bundle_factory(["true"]).path for _ in range(2)]  # one cgroup each
    create = imports_of(pyoci, "create", "-b", str(b[0]), "heavy")
    assert not create & FORBIDDEN_CREATE_PARENT, sorted(create & FORBIDDEN_CREATE_PARENT)
    # validated by the compiled check (the jsonschema side is forbidden), which
    # the command then unloads (pyoci.spec.load.DROP_VALIDATOR: peak RSS)
    assert "pyoci.spec.semantic" in create
    assert "pyoci.spec._schema_compiled" not in create
    # create's own process needs no native code; run's only its one prctl
    # (subreaper), from the plain C extension: no cffi (peak RSS)
    assert not create & {"_cffi_backend", "pyoci.native", "pyoci.native._lean"}
    run = imports_of(pyoci, "run", "-b", str(b[1]), "heavy2")
    assert not run & FORBIDDEN_CREATE_PARENT, sorted(run & FORBIDDEN_CREATE_PARENT)
    assert "pyoci.native._lean" in run
    no_cffi = {"_cffi_backend", "pyoci.native._lib", "pyoci.native._syscalls"}
    assert not run & no_cffi, sorted(run & no_cffi)
    assert pyoci("delete", "--force", "heavy").code == 0


def test_lean_commands_import_nothing_heavy(pyoci: Any, bundle_factory: Any) -> None:
    b = bundle_factory(["sleep", "100"])
    create = imports_of(pyoci, "create", "-b", str(b.path), "lean")
    assert not create & FORBIDDEN_CREATE, create & FORBIDDEN_CREATE
    seen: dict[str, set[str]] = {}
    seen["state"] = imports_of(pyoci, "state", "lean")
    seen["list"] = imports_of(pyoci, "list")
    seen["start"] = imports_of(pyoci, "start", "lean")
    seen["kill --all"] = imports_of(pyoci, "kill", "--all", "lean", "CONT")
    seen["kill"] = imports_of(pyoci, "kill", "lean", "KILL")
    seen["delete"] = imports_of(pyoci, "delete", "--force", "lean")
    for cmd, modules in seen.items():
        cgroup_files = cmd in ("delete", "kill --all")
        forbidden = FORBIDDEN_LEAN - ({"pyoci.cgroups.manager"} if cgroup_files else set())
        assert not modules & forbidden, (cmd, sorted(modules & forbidden))


# What ``delete --force`` of a missing container may load (containerd's shim makes
# that call after every container's own delete): the CLI's entry, its flag parser
# and the id check; no state store, lifecycle module or user-namespace probe.
NOT_FOUND_PYOCI = {
    "pyoci", "pyoci.cli", "pyoci.cli.args", "pyoci.cli.delete", "pyoci.errors",
    "pyoci.state", "pyoci.util", "pyoci.util.lean_os", "pyoci.util.log",
}  # fmt: skip


def test_delete_force_of_a_missing_container_is_the_cheapest_path(
    pyoci: Any, tmp_path: Path
) -> None:
    """As runc: exit 0, nothing on stdout or stderr, nothing in --log; the
    id is checked; it loads only the CLI's entry (NOT_FOUND_PYOCI)."""
    log = tmp_path / "log.json"
    env = dict(os.environ, PYOCI_DEBUG_IMPORTS="1")
    res = pyoci("--log", str(log), "--log-format", "json", "delete", "--force", "gone", env=env)
    assert res.code == 0, res
    assert res.out == ""
    lines = res.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pyoci-imports: "), res.err
    loaded = set(lines[0].split(": ", 1)[1].split())
    ours = {m for m in loaded if m == "pyoci" or m.startswith("pyoci.")}
    assert ours == NOT_FOUND_PYOCI, sorted(ours ^ NOT_FOUND_PYOCI)
    assert not loaded & (FORBIDDEN_LEAN | {"fcntl", "_json", "select"}), sorted(
        loaded & (FORBIDDEN_LEAN | {"fcntl", "_json", "select"})
    )
    assert not log.exists() or log.read_text() == ""
    # without --force it is still the error runc gives, and an invalid id is refused
    res = pyoci("delete", "gone")
    assert res.code == 1 and "does not exist" in res.err, res
    res = pyoci("delete", "--force", "../escape")
    assert res.code == 1 and "invalid container id" in res.err, res


def test_the_lean_verbs_do_not_probe_for_a_user_namespace(pyoci: Any, bundle_factory: Any) -> None:
    """runc's --rootless=auto is decided only by the verbs that use it (create,
    run, exec...): state, start, kill and delete load no pyoci.process."""
    b = bundle_factory(["sleep", "100"])
    assert pyoci("create", "-b", str(b.path), "noprobe").code == 0
    try:
        for args in (("state", "noprobe"), ("kill", "noprobe", "CONT")):
            assert "pyoci.process" not in imports_of(pyoci, *args), args
    finally:
        assert "pyoci.process" not in imports_of(pyoci, "delete", "--force", "noprobe")


def test_the_command_runs_an_isolated_interpreter(tmp_path: Path) -> None:
    """PYTHONPATH, PYTHONSTARTUP, user site and .pth files must not reach pyoci:
    a root runtime must never run code from the caller's environment."""
    evil = tmp_path / "evil"
    (evil / "pyoci").mkdir(parents=True)
    marker = tmp_path / "hijacked"
    payload = f"open({str(marker)!r}, 'w').write('x')\n"
    (evil / "pyoci" / "__init__.py").write_text(payload)
    (evil / "sitecustomize.py").write_text(payload)
    (evil / "usercustomize.py").write_text(payload)
    (tmp_path / "startup.py").write_text(payload)
    env = dict(
        os.environ,
        PYTHONPATH=str(evil),
        PYTHONSTARTUP=str(tmp_path / "startup.py"),
        PYTHONUSERBASE=str(evil),
        PYTHONINSPECT="1",
    )
    res = subprocess.run([pyoci_binary(), "--version"], env=env, capture_output=True,
                         text=True, timeout=30)  # fmt: skip
    assert res.returncode == 0, res
    assert res.stdout.startswith("pyoci version "), res
    assert not marker.exists(), "code from the caller's environment ran inside pyoci"
    # and the interpreter really runs with -I -S
    probe = subprocess.run(
        [pyoci_binary(), "--version"],
        env=dict(os.environ, PYOCI_DEBUG_IMPORTS="1"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    loaded = set(probe.stderr.split(": ", 1)[1].split())
    assert "site" not in loaded, "the site module ran (.pth files would too)"


def test_the_runtime_process_never_starts_a_thread() -> None:
    """fork + unshare + setns need a single thread: no module of pyoci may
    import _thread or threading (the benchmark and tests may).  One exception:
    the embedding API's handle (``pyoci/sandbox/container.py``) runs in the
    embedder's process, never in a runtime process (the shim does not import
    it), and takes a lock so that any thread may call it; it starts no thread."""
    root = Path(__file__).resolve().parents[2] / "pyoci"
    embedder_side = root / "sandbox" / "container.py"
    assert "Thread(" not in embedder_side.read_text()
    offenders = []
    for path in root.rglob("*.py"):
        if path == embedder_side:
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n.split(".")[0] in ("_thread", "threading", "concurrent") for n in names):
                offenders.append(f"{path.relative_to(root.parent)}:{node.lineno}")
    assert not offenders, offenders


def test_the_command_ends_without_interpreter_teardown() -> None:
    """Finalizing the interpreter is ~18% of a short command: the launcher ends
    through ``exit_now`` (flush, then ``_exit``), in the installed command too."""
    tree = ast.parse(Path(pyoci_binary()).read_text())
    last = tree.body[-1]
    assert isinstance(last, ast.Expr) and isinstance(last.value, ast.Call), ast.dump(last)
    assert isinstance(last.value.func, ast.Name) and last.value.func.id == "exit_now"


EXIT_NOW = """
import atexit, sys
from pyoci.cli import exit_now
atexit.register(lambda: sys.stderr.write("teardown ran\\n"))
sys.stdout.write("x" * int(sys.argv[2]))
sys.stderr.write("buffered ")
exit_now(int(sys.argv[1]))
"""


def test_exit_now_flushes_what_python_buffers_and_skips_teardown() -> None:
    res = subprocess.run([sys.executable, "-I", "-c", EXIT_NOW, "3", "200000"], capture_output=True,
                         text=True, timeout=30)  # fmt: skip
    assert res.returncode == 3, res.stderr
    assert res.stdout == "x" * 200000
    assert res.stderr == "buffered ", res.stderr  # flushed; atexit work did not run


def test_exit_now_fails_a_command_whose_output_was_lost() -> None:
    """Output still in the buffer that cannot be written fails the command."""
    with open("/dev/full", "w") as full:
        res = subprocess.run([sys.executable, "-I", "-c", EXIT_NOW, "0", "10"], stdout=full,
                             stderr=subprocess.PIPE, text=True, timeout=30)  # fmt: skip
    assert res.returncode == 1, res.stderr
    # an error the command already reports keeps its own status
    with open("/dev/full", "w") as full:
        res = subprocess.run([sys.executable, "-I", "-c", EXIT_NOW, "2", "10"], stdout=full,
                             stderr=subprocess.PIPE, text=True, timeout=30)  # fmt: skip
    assert res.returncode == 2, res.stderr


def test_create_with_a_seccomp_profile_maps_no_libseccomp(
    pyoci: Any, bundle_factory: Any, tmp_path: Path
) -> None:
    """A miss compiles in a short-lived child, a hit reads the cache entry: in
    neither does the runtime process load libseccomp, cffi or the compiler
    (pyoci.seccomp.cache; peak RSS)."""
    import json

    profile = json.loads((Path(__file__).parent.parent / "data/seccomp/default.json").read_text())

    def with_profile(cfg: dict[str, Any]) -> None:
        cfg["linux"]["seccomp"] = profile

    bundles = [bundle_factory(["true"], mutate=with_profile) for _ in range(2)]  # one cgroup each
    env = dict(os.environ, PYOCI_DEBUG_IMPORTS="1", PYOCI_SECCOMP_CACHE=str(tmp_path / "sc"))
    heavy = {"_cffi_backend", "pyoci.native._seccomp", "pyoci.seccomp.compile", "pyoci.native"}
    try:
        for cid, b in zip(("sc-miss", "sc-hit"), bundles, strict=True):
            res = pyoci("create", "-b", str(b.path), cid, env=env)
            assert res.code == 0, res
            line = [ln for ln in res.err.splitlines() if ln.startswith("pyoci-imports: ")][-1]
            loaded = set(line.split(": ", 1)[1].split())
            assert "pyoci.seccomp.cache" in loaded, cid
            assert not loaded & heavy, (cid, sorted(loaded & heavy))
        assert len(os.listdir(tmp_path / "sc")) == 1
    finally:
        for cid in ("sc-miss", "sc-hit"):
            pyoci("delete", "--force", cid)
