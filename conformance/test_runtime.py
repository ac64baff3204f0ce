"""runtime.md and runtime-linux.md: state, lifecycle, operations, errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conformance.bundle import Bundle, parse_kv, parse_stat
from conformance.clauses import spec_dir
from conformance.conftest import cgroup_dirs
from conformance.plugin import clause
from conformance.runtime import Runtime, pid_alive

MakeBundle = Callable[..., Bundle]
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")


def validate_state(state: dict[str, Any]) -> list[str]:
    """Problems of a state document against the spec's state-schema.json."""
    import jsonschema
    import referencing
    import referencing.jsonschema

    schema_dir = spec_dir() / "schema"

    def retrieve(uri: str) -> referencing.Resource[Any]:
        name = uri.rsplit("/", 1)[-1]
        return referencing.Resource.from_contents(
            json.loads((schema_dir / name).read_text()),
            default_specification=referencing.jsonschema.DRAFT4)

    registry: referencing.Registry[Any] = referencing.Registry(retrieve=retrieve)  # type: ignore[call-arg]
    schema = json.loads((schema_dir / "state-schema.json").read_text())
    schema["$id"] = "file:///state-schema.json"
    validator = jsonschema.Draft4Validator(schema, registry=registry)
    return [f"{'/'.join(map(str, e.absolute_path)) or '.'}: {e.message}"
            for e in validator.iter_errors(state)]


# ---- state ------------------------------------------------------------------------


@clause("runtime.md", "`ociVersion` (string, REQUIRED) is version of the Open Container")
@clause("runtime.md", "`id` (string, REQUIRED) is the container's ID.")
@clause("runtime.md", "`status` (string, REQUIRED) is the runtime state of the container.")
@clause("runtime.md", "`pid` (int, REQUIRED when `status` is `created` or `running` on Linux")
@clause("runtime.md", "`bundle` (string, REQUIRED) is the absolute path to the container's bundle")
def test_state_fields(bundle: MakeBundle) -> None:
    b = bundle("pause")
    b.must_create()
    st = b.state()
    assert st is not None, "state printed no JSON object"
    assert isinstance(st.get("ociVersion"), str) and SEMVER.match(st["ociVersion"]), st
    assert st.get("id") == b.id, st
    assert st.get("status") == "created", st
    assert isinstance(st.get("pid"), int) and st["pid"] > 0, st
    assert pid_alive(st["pid"]), f"state pid {st['pid']} is not a live process"
    assert st.get("bundle") == str(b.dir), st
    assert os.path.isabs(st["bundle"])
    assert b.start().ok
    st = b.state()
    assert st is not None and st.get("status") == "running", st
    assert isinstance(st.get("pid"), int) and st["pid"] > 0, st


@clause("runtime.md", "When serialized in JSON, the format MUST adhere to the JSON Schema")
@clause("runtime.md", "This operation MUST return the state of a container as specified in the "
                      "State")
def test_state_matches_schema(bundle: MakeBundle) -> None:
    b = bundle("exit", "0")
    b.config["annotations"] = {"org.example.key": "value"}
    b.must_create()
    for expected in ("created", "running-or-stopped", "stopped"):
        st = b.state()
        assert st is not None
        problems = validate_state(st)
        assert not problems, f"state while {expected}: {problems}\n{st}"
        if expected == "created":
            assert b.start().ok
        elif expected == "running-or-stopped":
            b.wait("stopped")


@clause("runtime.md", "Additional values MAY be defined by the runtime, however, they MUST be used")
def test_state_status_values(bundle: MakeBundle) -> None:
    b = bundle("sleep", "1")
    b.must_create()
    assert b.status() == "created"
    assert b.start().ok
    assert b.status() == "running"
    assert b.wait("stopped", 10) == "stopped"


@clause("runtime.md", "This MUST be unique across all containers on this host.")
@clause("runtime.md", "If the ID provided is not unique across all containers within the scope of")
def test_create_duplicate_id(bundle: MakeBundle, rt: Runtime) -> None:
    first = bundle("pause")
    first.must_create()
    pid = first.state()["pid"]  # type: ignore[index]
    second = bundle("write", "/second-ran")
    second.write_config()
    res = rt.create(first.id, second.dir, stdout=second.stdout_path, stderr=second.stderr_path)
    assert not res.ok, f"a second container with id {first.id} was created\n{res.describe()}"
    st = first.state()
    assert st is not None and st["status"] == "created" and st["pid"] == pid, st
    assert st["bundle"] == str(first.dir), "the existing container now points at another bundle"


@clause("runtime.md", "If the ID provided is not unique across all containers within the scope of")
@pytest.mark.parametrize("bad_id", ["../escape", "a/b", ""])
def test_create_invalid_id(bundle: MakeBundle, rt: Runtime, bad_id: str) -> None:
    b = bundle()
    b.write_config()
    res = rt.create(bad_id, b.dir)
    if res.ok:
        rt.delete(bad_id, force=True)
    assert not res.ok, f"container id {bad_id!r} accepted\n{res.describe()}"


# ---- operations ---------------------------------------------------------------------


@clause("runtime.md", "The entity using a runtime to create a container MUST be able to use the")
@clause("runtime.md", "Unless otherwise stated, runtimes MUST support the following operations.")
@clause("runtime.md", "This operation MUST create a new container.")
def test_all_operations_on_one_container(bundle: MakeBundle) -> None:
    b = bundle("sigwait")
    res = b.create()
    assert res.ok, res.describe()
    assert b.status() == "created"
    assert b.start().ok
    deadline = time.monotonic() + 5
    while "ready" not in b.output() and time.monotonic() < deadline:
        time.sleep(0.02)
    res = b.kill("KILL")
    assert res.ok, res.describe()
    assert b.wait("stopped") == "stopped"
    res = b.delete()
    assert res.ok, res.describe()
    assert b.state() is None


@clause("runtime.md", "This operation MUST generate an error if it is not provided the ID of a "
                      "container.")
def test_state_without_id(rt: Runtime) -> None:
    res = rt.run("state")
    assert not res.ok, res.describe()


@clause("runtime.md", "Attempting to query a container that does not exist MUST generate an error.")
def test_state_unknown_container(rt: Runtime) -> None:
    res = rt.state("conformance-no-such-container")
    assert not res.ok, res.describe()


@clause("runtime.md", "This operation MUST generate an error if it is not provided a path to the "
                      "bundle")
def test_create_without_id(bundle: MakeBundle, rt: Runtime) -> None:
    b = bundle()
    b.write_config()
    res = rt.run("create", "--bundle", str(b.dir))
    assert not res.ok, res.describe()


@clause("runtime.md", "This operation MUST generate an error if it is not provided a path to the "
                      "bundle")
def test_create_with_missing_bundle(bundle: MakeBundle, rt: Runtime) -> None:
    b = bundle()
    res = rt.create(b.id, b.dir / "no-such-bundle")
    b.created = True
    assert not res.ok, res.describe()
    assert rt.state(b.id).returncode != 0, "a container exists after a failed create"


@pytest.mark.parametrize("op", [
    pytest.param(op, marks=clause(f"runtime.md#{op}", "MUST generate an error if it is not "
                                  "provided the container ID."))
    for op in ("start", "kill", "delete")])
def test_operation_without_id(rt: Runtime, op: str) -> None:
    res = rt.run(op)
    assert not res.ok, res.describe()


@clause("runtime.md", "`process.args` MUST NOT be applied until triggered by the `start` "
                      "operation.")
@clause("runtime.md", "the user-specified program (from `process`) MUST NOT be run at this time.")
@clause("runtime.md", "This operation MUST run the user-specified program as specified by "
                      "`process`.")
@clause("runtime.md", "The runtime MUST run the user-specified program, as specified by `process`.")
def test_program_runs_only_at_start(bundle: MakeBundle) -> None:
    b = bundle("write", "/ran", "yes", "--", "args", "a b", "c")
    b.must_create()
    time.sleep(0.3)
    assert not (b.rootfs / "ran").exists(), "the user program ran during create"
    assert b.start().ok
    assert b.wait("stopped") == "stopped"
    assert (b.rootfs / "ran").read_text() == "yes"
    kv = parse_kv(b.output())
    assert (kv.get("arg1"), kv.get("arg2")) == ("a b", "c"), b.output()


@clause("runtime.md", "All of the properties configured in `config.json` except for `process` "
                      "MUST be applied.")
@clause("runtime.md", "The container's runtime environment MUST be created according to the "
                      "configuration")
def test_create_applies_config_before_start(bundle: MakeBundle) -> None:
    b = bundle("pause")
    b.must_create()
    st = b.state()
    assert st is not None
    pid = st["pid"]
    for ns in ("pid", "net", "ipc", "uts", "mnt"):
        assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"), \
            f"{ns} namespace not created at create"
    uts = subprocess.run(["nsenter", "-t", str(pid), "-u", "hostname"], capture_output=True,
                         text=True, check=False)
    assert uts.stdout.strip() == "conformance", uts
    cgroups = Path(f"/proc/{pid}/cgroup").read_text()
    assert b.config["linux"]["cgroupsPath"] in cgroups, \
        f"the init is not in cgroup {b.config['linux']['cgroupsPath']}:\n{cgroups}"


@clause("runtime.md", "Any updates to `config.json` after this step MUST NOT affect the container.")
def test_config_changes_after_create_ignored(bundle: MakeBundle) -> None:
    b = bundle("uname", "--", "args", "original")
    b.must_create()
    b.config["hostname"] = "changed"
    b.set_args("args", "changed")
    b.write_config()
    assert b.start().ok
    assert b.wait("stopped") == "stopped"
    out = b.output()
    assert "nodename=conformance" in out and "arg1=original" in out, out


@clause("runtime.md", "If the runtime is unable to create the environment specified in the")
@clause("runtime.md", "If the runtime cannot apply a property as specified in the configuration, "
                      "it")
@clause("runtime.md", "generating an error MUST leave the state of the environment as if the "
                      "operation")
def test_create_failure_leaves_nothing(bundle: MakeBundle, rt: Runtime) -> None:
    b = bundle("write", "/ran")
    b.add_mount({"destination": "/mnt/x", "type": "none",
                 "source": str(b.dir / "no-such-source"), "options": ["bind"]})
    res = b.create()
    assert not res.ok, f"create succeeded with a bind mount of a missing source\n{res.describe()}"
    assert rt.state(b.id).returncode != 0, "a container exists after a failed create"
    assert not (b.rootfs / "ran").exists()
    assert not cgroup_dirs(b.config["linux"]["cgroupsPath"]), "failed create left its cgroup"
    # The id is free again.
    b.config["mounts"].pop()
    res = b.create()
    assert res.ok, f"the id of a failed create cannot be reused\n{res.describe()}"


@clause("runtime.md", "If the runtime cannot apply a property as specified in the configuration, "
                      "it")
def test_create_fails_on_unknown_sysctl(bundle: MakeBundle, rt: Runtime) -> None:
    b = bundle()
    b.linux["sysctl"] = {"kernel.conformance_no_such_key": "1"}
    res = b.create()
    assert not res.ok, res.describe()
    assert rt.state(b.id).returncode != 0


# ---- start ------------------------------------------------------------------------------


@clause("runtime.md", "Attempting to `start` a container that is not `created` MUST have no effect")
def test_start_running_container(bundle: MakeBundle) -> None:
    b = bundle("sigwait")
    b.must_create()
    assert b.start().ok
    pid = b.state()["pid"]  # type: ignore[index]
    res = b.start()
    assert not res.ok, "start of a running container succeeded"
    st = b.state()
    assert st is not None and st["status"] == "running" and st["pid"] == pid, st
    assert b.output().count("ready") <= 1


@clause("runtime.md", "Attempting to `start` a container that is not `created` MUST have no effect")
def test_start_stopped_container(bundle: MakeBundle) -> None:
    b = bundle("write", "/count", "x")
    b.run()
    (b.rootfs / "count").unlink()
    res = b.start()
    assert not res.ok, "start of a stopped container succeeded"
    time.sleep(0.2)
    assert not (b.rootfs / "count").exists(), "the program ran again"
    assert b.status() == "stopped"


@clause("runtime.md", "This operation MUST create a new container.")
@clause("config.md", "This property is REQUIRED when `start` is called.")
def test_create_without_process(bundle: MakeBundle) -> None:
    """process is OPTIONAL in config.json: only start needs it."""
    b = bundle()
    del b.config["process"]
    res = b.create()
    assert res.ok, f"create refused a config without process\n{res.describe()}"
    assert b.status() == "created"


@clause("runtime.md", "This operation MUST generate an error if `process` was not set.")
@clause("config.md", "This property is REQUIRED when `start` is called.")
def test_start_without_process(bundle: MakeBundle) -> None:
    b = bundle()
    del b.config["process"]
    res = b.create()
    if not res.ok:
        pytest.skip("create already refused the config without process "
                    "(a failure of test_create_without_process)")
    res = b.start()
    assert not res.ok, "start succeeded without process"


# ---- kill -------------------------------------------------------------------------------


@clause("runtime.md", "This operation MUST send the specified signal to the container process.")
@pytest.mark.parametrize("sig,num", [("USR1", 10), ("SIGUSR2", 12), ("15", 15), ("HUP", 1)])
def test_kill_sends_signal(bundle: MakeBundle, sig: str, num: int) -> None:
    b = bundle("sigwait")
    b.must_create()
    assert b.start().ok
    deadline = time.monotonic() + 5
    while "ready" not in b.output() and time.monotonic() < deadline:
        time.sleep(0.02)
    res = b.kill(sig)
    assert res.ok, res.describe()
    assert b.wait("stopped") == "stopped"
    assert f"signal={num}" in b.output(), b.output()


@clause("runtime.md", "This operation MUST send the specified signal to the container process.")
def test_kill_created_container(bundle: MakeBundle) -> None:
    b = bundle("write", "/ran")
    b.must_create()
    pid = b.state()["pid"]  # type: ignore[index]
    res = b.kill("KILL")
    assert res.ok, res.describe()
    assert b.wait("stopped") == "stopped"
    assert not pid_alive(pid)
    assert not (b.rootfs / "ran").exists()


@clause("runtime.md", "Attempting to send a signal to a container that is neither `created` nor")
def test_kill_stopped_container(bundle: MakeBundle) -> None:
    b = bundle("exit", "0")
    b.run()
    res = b.kill("KILL")
    assert not res.ok, "kill of a stopped container succeeded"
    assert b.status() == "stopped"
    assert b.delete().ok


# ---- delete -----------------------------------------------------------------------------


@clause("runtime.md", "Attempting to `delete` a container that is not `stopped` MUST have no "
                      "effect")
def test_delete_created_container(bundle: MakeBundle) -> None:
    b = bundle("write", "/ran")
    b.must_create()
    pid = b.state()["pid"]  # type: ignore[index]
    res = b.delete()
    assert not res.ok, "delete of a created container succeeded"
    st = b.state()
    assert st is not None and st["status"] == "created" and st["pid"] == pid, st
    assert pid_alive(pid)


@clause("runtime.md", "Attempting to `delete` a container that is not `stopped` MUST have no "
                      "effect")
def test_delete_running_container(bundle: MakeBundle) -> None:
    b = bundle("sigwait")
    b.must_create()
    assert b.start().ok
    pid = b.state()["pid"]  # type: ignore[index]
    res = b.delete()
    assert not res.ok, "delete of a running container succeeded"
    st = b.state()
    assert st is not None and st["status"] == "running" and st["pid"] == pid, st


@clause("runtime.md", "Deleting a container MUST delete the resources that were created during the")
@clause("runtime.md", "The container MUST be destroyed by undoing the steps performed during "
                      "create")
def test_delete_removes_resources(bundle: MakeBundle, rt: Runtime) -> None:
    b = bundle("exit", "0")
    b.must_create()
    pid = b.state()["pid"]  # type: ignore[index]
    cg = b.config["linux"]["cgroupsPath"]
    assert cgroup_dirs(cg), "no cgroup was created"
    assert b.start().ok
    assert b.wait("stopped") == "stopped"
    res = b.delete()
    assert res.ok, res.describe()
    assert rt.state(b.id).returncode != 0, "the container still exists"
    assert not pid_alive(pid)
    assert not cgroup_dirs(cg), f"cgroup {cg} left after delete"


@clause("runtime.md", "resources associated with the container, but not created by this "
                      "container, MUST NOT be deleted")
def test_delete_keeps_foreign_resources(bundle: MakeBundle, session: Any) -> None:
    holder = subprocess.Popen(["unshare", "--uts", "--ipc", "sleep", "60"])
    try:
        time.sleep(0.2)
        src = b_dir = None
        b = bundle("exit", "0")
        src = b.dir / "volume"
        src.mkdir()
        (src / "keep").write_text("data")
        b.add_mount({"destination": "/mnt/vol", "type": "none", "source": str(src),
                     "options": ["rbind", "rw"]})
        b.add_namespace("uts", f"/proc/{holder.pid}/ns/uts")
        b.add_namespace("ipc", f"/proc/{holder.pid}/ns/ipc")
        uts_before = os.readlink(f"/proc/{holder.pid}/ns/uts")
        b.run()
        assert b.delete().ok
        b_dir = b.dir
        assert (src / "keep").read_text() == "data", "the bind-mount source was touched"
        assert (b_dir / "config.json").exists() and (b_dir / "rootfs" / "helper").exists(), \
            "delete removed the bundle"
        assert holder.poll() is None, "the process owning the joined namespaces was killed"
        assert os.readlink(f"/proc/{holder.pid}/ns/uts") == uts_before
    finally:
        holder.kill()
        holder.wait()


# ---- runtime-linux.md --------------------------------------------------------------------


@clause("runtime-linux.md", "runtimes MUST create the following symlinks if the source file exists")
def test_dev_symlinks(bundle: MakeBundle) -> None:
    b = bundle("readlink", "/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr")
    out = b.run()
    links = dict(line.split(" -> ", 1) for line in out.splitlines() if " -> " in line)
    assert links == {"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0",
                     "/dev/stdout": "/proc/self/fd/1", "/dev/stderr": "/proc/self/fd/2"}, out


def _stat_of(out: str, path: str) -> dict[str, str]:
    return parse_stat(out).get(path, {})
