"""The lifecycle of runtime.md: create → start → (exit/kill) → delete, its preconditions,
what stays resident, exit codes, stdio, pid files, and rollback of a failed create."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import leftovers, log_lines, pids_with_cmdline, wait_for

pytestmark = pytest.mark.root


def one_error(res: Any, *words: str) -> str:
    """The result is a failure with exactly one stderr line containing ``words``."""
    assert res.code == 1, res
    lines = res.err.strip().splitlines()
    assert len(lines) == 1, res.err
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def is_stopped(rt: Any, cid: str) -> bool:
    return bool(rt.state(cid)["status"] == "stopped")


# ------------------------------------------------------------------- transitions


def test_full_lifecycle(pyoci: Any, bundle_factory: Any, workdir: Path) -> None:
    from pyoci.spec.validate import validate_state

    b = bundle_factory(["sleep", "100"], mutate=lambda c: c.update(ociVersion="1.0.2"))
    res = pyoci("create", "-b", str(b.path), "life")
    assert res.code == 0 and res.out == "", res
    st = pyoci.state("life")
    assert validate_state(st) == []
    assert st["status"] == "created"
    assert st["id"] == "life" and st["bundle"] == str(b.path)
    assert st["ociVersion"] == "1.3.0", "the spec version the state complies with"
    pid = st["pid"]
    assert pid > 0 and Path(f"/proc/{pid}").exists()
    # the init waits: it has not exec'd the user process yet
    assert Path(f"/proc/{pid}/comm").read_text().strip() != "sleep"

    pyoci("start", "life", check=True)
    st = pyoci.state("life")
    assert validate_state(st) == []
    assert st["status"] == "running" and st["pid"] == pid
    assert wait_for(lambda: Path(f"/proc/{pid}/comm").read_text().strip() == "sleep")

    pyoci("kill", "life", "KILL", check=True)
    assert wait_for(lambda: is_stopped(pyoci, "life"))
    assert pyoci.state("life")["pid"] == 0
    assert validate_state(pyoci.state("life")) == []

    pyoci("delete", "life", check=True)
    one_error(pyoci("state", "life"), "container life does not exist")
    assert not (pyoci.root / "life").exists()


def test_process_exit_makes_it_stopped(pyoci: Any, bundle_factory: Any) -> None:
    b = bundle_factory(["true"])
    pyoci("create", "-b", str(b.path), "exits", check=True)
    pyoci("start", "exits", check=True)
    assert wait_for(lambda: is_stopped(pyoci, "exits"))
    pyoci("delete", "exits", check=True)


def test_start_preconditions(pyoci: Any, bundle_factory: Any) -> None:
    b = bundle_factory(["sleep", "100"])
    pyoci("create", "-b", str(b.path), "pre", check=True)
    pyoci("start", "pre", check=True)
    one_error(pyoci("start", "pre"), "cannot start an already running container")
    assert pyoci.state("pre")["status"] == "running"
    pyoci("kill", "pre", "9", check=True)
    assert wait_for(lambda: is_stopped(pyoci, "pre"))
    one_error(pyoci("start", "pre"), "cannot start a container that has stopped")
    pyoci("delete", "pre", check=True)
    one_error(pyoci("start", "pre"), "container pre does not exist")


def test_create_without_process_then_start_fails(pyoci: Any, bundle_factory: Any,
                                                 workdir: Path) -> None:  # fmt: skip
    """config.md: process is REQUIRED only when start is called; runtime.md start:
    "This operation MUST generate an error if process was not set."  The container
    is then stopped, and delete removes it (poststop hooks included)."""
    marker = workdir / "poststop-ran"

    def mutate(cfg: dict[str, Any]) -> None:
        del cfg["process"]
        cfg["hooks"] = {"poststop": [{"path": "/bin/touch", "args": ["touch", str(marker)]}]}

    b = bundle_factory(mutate=mutate)
    pyoci("create", "-b", str(b.path), "noproc", check=True)
    st = pyoci.state("noproc")
    assert st["status"] == "created" and st["pid"] > 0, st
    one_error(pyoci("start", "noproc"), "process")
    assert wait_for(lambda: is_stopped(pyoci, "noproc"))
    one_error(pyoci("start", "noproc"), "cannot start a container that has stopped")
    pyoci("delete", "noproc", check=True)
    assert marker.exists()
    assert not leftovers(pyoci, workdir)


def test_run_without_process_fails_and_leaves_nothing(pyoci: Any, bundle_factory: Any,
                                                      workdir: Path) -> None:  # fmt: skip
    b = bundle_factory(mutate=lambda cfg: cfg.pop("process"))
    one_error(pyoci("run", "-b", str(b.path), "noproc-run"), "process")
    assert not leftovers(pyoci, workdir)


def test_delete_preconditions(pyoci: Any, bundle_factory: Any) -> None:
    """runtime.md: delete of a container that is not stopped MUST fail (even created)."""
    b = bundle_factory(["sleep", "100"])
    pyoci("create", "-b", str(b.path), "del", check=True)
    pid = pyoci.state("del")["pid"]
    one_error(pyoci("delete", "del"), "cannot delete container del that is not stopped: created")
    assert pyoci.state("del")["status"] == "created"
    pyoci("start", "del", check=True)
    one_error(pyoci("delete", "del"), "that is not stopped: running")
    assert pyoci.state("del")["status"] == "running"
    assert Path(f"/proc/{pid}").exists()
    pyoci("delete", "--force", "del", check=True)
    assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[
        2
    ] in ("Z", "X")
    one_error(pyoci("delete", "del"), "container del does not exist")


def test_delete_force_of_created_container(pyoci: Any, bundle_factory: Any) -> None:
    b = bundle_factory(["sleep", "100"])
    pyoci("create", "-b", str(b.path), "fc", check=True)
    pid = pyoci.state("fc")["pid"]
    pyoci("delete", "-f", "fc", check=True)
    assert wait_for(lambda: not Path(f"/proc/{pid}").exists())


def test_delete_force_unknown_exits_zero(pyoci: Any) -> None:
    res = pyoci("delete", "--force", "never-existed")
    assert res.code == 0 and res.err == "", res
    assert pyoci("delete", "-f", "never-existed").code == 0  # containerd calls it twice


def test_kill_preconditions_and_signal_forms(pyoci: Any, bundle_factory: Any) -> None:
    for n, sig in enumerate(("9", "KILL", "SIGKILL", "kill")):
        cid = f"k{n}"
        b = bundle_factory(["sleep", "100"])
        pyoci("create", "-b", str(b.path), cid, check=True)
        pyoci("start", cid, check=True)
        pyoci("kill", cid, sig, check=True)
        assert wait_for(lambda cid=cid: is_stopped(pyoci, cid)), sig
        one_error(pyoci("kill", cid, "9"), "container not running")
        pyoci("delete", cid, check=True)
    one_error(pyoci("kill", "nope", "9"), "container nope does not exist")


def test_kill_created_container(pyoci: Any, bundle_factory: Any) -> None:
    """kill is allowed on a created container (runtime.md): the waiting init goes."""
    b = bundle_factory(["sleep", "100"])
    pyoci("create", "-b", str(b.path), "kc", check=True)
    pyoci("kill", "kc", check=True)  # SIGTERM
    assert wait_for(lambda: is_stopped(pyoci, "kc"))
    pyoci("delete", "kc", check=True)


def test_kill_default_is_sigterm_and_named_signals(pyoci: Any, bundle_factory: Any,
                                                   workdir: Path) -> None:  # fmt: skip
    out = workdir / "sig"
    out.mkdir()
    script = ("trap 'echo USR1 >> /out/log' USR1; trap 'echo TERM >> /out/log; exit 0' TERM;"
              "echo ready >> /out/log; while :; do sleep 0.05; done")  # fmt: skip

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["mounts"].append({"destination": "/out", "type": "bind", "source": str(out),
                              "options": ["bind"]})  # fmt: skip

    b = bundle_factory(["sh", "-c", script], mutate=mutate)
    pyoci("create", "-b", str(b.path), "sigs", check=True)
    pyoci("start", "sigs", check=True)
    log = out / "log"
    assert wait_for(lambda: log.exists() and "ready" in log.read_text())
    pyoci("kill", "sigs", "SIGUSR1", check=True)
    assert wait_for(lambda: "USR1" in log.read_text())
    pyoci("kill", "sigs", "usr1", check=True)  # (not queued: wait before the next one)
    assert wait_for(lambda: log.read_text().count("USR1") == 2)
    pyoci("kill", "sigs", "10", check=True)
    assert wait_for(lambda: log.read_text().count("USR1") == 3)
    pyoci("kill", "sigs", check=True)
    assert wait_for(lambda: is_stopped(pyoci, "sigs"))
    assert log.read_text().splitlines()[-1] == "TERM"
    pyoci("delete", "sigs", check=True)


@pytest.mark.parametrize("sig", ["FOO", "SIGNOPE", "0", "65", "9x", "SIG"])
def test_bad_signal(pyoci: Any, bundle_factory: Any, sig: str) -> None:
    b = bundle_factory(["sleep", "100"])
    pyoci("create", "-b", str(b.path), "badsig", check=True)
    one_error(pyoci("kill", "badsig", sig), "signal")
    assert pyoci.state("badsig")["status"] == "created"
    pyoci("delete", "-f", "badsig", check=True)


def test_kill_all(pyoci: Any, bundle_factory: Any) -> None:
    b = bundle_factory(["sh", "-c", "sleep 100 & sleep 100 & wait"])
    pyoci("create", "-b", str(b.path), "all", check=True)
    pyoci("start", "all", check=True)
    pid = pyoci.state("all")["pid"]

    def children() -> list[str]:
        return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()

    assert wait_for(lambda: len(children()) == 2)
    kids = children()
    pyoci("kill", "--all", "all", "KILL", check=True)
    assert wait_for(lambda: is_stopped(pyoci, "all"))
    assert wait_for(lambda: not any(Path(f"/proc/{k}").exists() for k in kids))
    pyoci("delete", "all", check=True)


# ---------------------------------------------------------------- run and exits


@pytest.mark.parametrize("code", [0, 3, 42, 255])
def test_run_exit_code(pyoci: Any, bundle_factory: Any, code: int) -> None:
    b = bundle_factory(["sh", "-c", f"exit {code}"])
    res = pyoci("run", "-b", str(b.path), f"exit{code}")
    assert res.code == code, res
    assert not (pyoci.root / f"exit{code}").exists(), "run deletes the container"


def test_run_killed_by_signal(pyoci: Any, bundle_factory: Any, workdir: Path) -> None:
    """The container's init dies of SIGKILL (sent from the host: pid 1 of its pid
    namespace ignores signals sent from inside): ``run`` exits 128 + 9, as a shell
    reports a killed child and runc's run does, and deletes the container."""
    import signal
    import subprocess

    b = bundle_factory(["sh", "-c", "echo up; exec sleep 100"])
    with open(workdir / "out", "w") as out:
        proc = subprocess.Popen([*pyoci.global_args(), "run", "-b", str(b.path), "killed"],
                                stdout=out, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        assert wait_for(lambda: "up" in (workdir / "out").read_text())
        os.kill(pyoci.state("killed")["pid"], signal.SIGKILL)
        assert proc.wait(timeout=10) == 128 + signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not (pyoci.root / "killed").exists(), "run deletes the container"


def test_run_detach(pyoci: Any, bundle_factory: Any, workdir: Path) -> None:
    b = bundle_factory(["sleep", "100"])
    started = time.monotonic()
    res = pyoci("run", "--detach", "-b", str(b.path), "det")
    assert res.code == 0 and res.out == "", res
    assert time.monotonic() - started < 10
    st = pyoci.state("det")
    assert st["status"] == "running"
    assert not pids_with_cmdline(str(pyoci.root)), "nothing of pyoci stays after run -d"
    pyoci("delete", "-f", "det", check=True)


def test_run_keep(pyoci: Any, bundle_factory: Any) -> None:
    b = bundle_factory(["sh", "-c", "exit 5"])
    res = pyoci("run", "--keep", "-b", str(b.path), "keep")
    assert res.code == 5
    assert pyoci.state("keep")["status"] == "stopped"
    pyoci("delete", "keep", check=True)


def test_run_forwards_signals(pyoci: Any, bundle_factory: Any, workdir: Path) -> None:
    import subprocess

    b = bundle_factory(["sh", "-c", "trap 'exit 7' TERM; echo up; while :; do sleep 0.05; done"])
    with open(workdir / "out", "w") as out:
        proc = subprocess.Popen([*pyoci.global_args(), "run", "-b", str(b.path), "fwd"],
                                stdout=out, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        assert wait_for(lambda: "up" in (workdir / "out").read_text())
        proc.terminate()
        assert proc.wait(timeout=10) == 7
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ------------------------------------------------------------------ stdio, pids


def test_created_container_inherits_create_stdio(pyoci: Any, bundle_factory: Any,
                                                 workdir: Path) -> None:  # fmt: skip
    b = bundle_factory(["sh", "-c", "echo to-stdout; echo to-stderr >&2; read x; echo got:$x"])
    (workdir / "in").write_text("input-line\n")
    with open(workdir / "out", "w") as out, open(workdir / "in") as inp:
        res = pyoci("create", "-b", str(b.path), "stdio", stdout=out, stdin=inp.fileno())
    assert res.code == 0, res
    pyoci("start", "stdio", check=True)
    assert wait_for(lambda: is_stopped(pyoci, "stdio"))
    assert (workdir / "out").read_text() == "to-stdout\ngot:input-line\n"
    pyoci("delete", "stdio", check=True)


def test_only_the_init_stays_after_create_and_nothing_after_start(
    pyoci: Any, bundle_factory: Any
) -> None:
    b = bundle_factory(["sleep", "100"])
    pyoci("create", "-b", str(b.path), "resident", check=True)
    pid = pyoci.state("resident")["pid"]
    # every pyoci Python process has the private --root on its command line
    # (forks keep it): none is left, and the init waits as pyoci-waiter
    assert pids_with_cmdline(str(pyoci.root)) == []
    assert Path(f"/proc/{pid}/exe").readlink().name == "memfd:pyoci-waiter (deleted)"
    assert Path(f"/proc/{pid}/comm").read_text().strip() != "sleep"
    pyoci("start", "resident", check=True)
    assert wait_for(lambda: pids_with_cmdline(str(pyoci.root)) == [])
    assert Path(f"/proc/{pid}/comm").read_text().strip() == "sleep"
    pyoci("delete", "-f", "resident", check=True)


def test_pid_file(pyoci: Any, bundle_factory: Any, workdir: Path) -> None:
    pid_file = workdir / "piddir" / "init.pid"
    pid_file.parent.mkdir()
    pid_file.write_text("stale")
    before = pid_file.stat().st_ino
    b = bundle_factory(["sleep", "100"])
    pyoci("create", "--pid-file", str(pid_file), "-b", str(b.path), "pidf", check=True)
    assert pid_file.read_text() == str(pyoci.state("pidf")["pid"])
    # replaced by rename (atomic), no temporary files left next to it
    assert pid_file.stat().st_ino != before
    assert os.listdir(pid_file.parent) == ["init.pid"]
    pyoci("delete", "-f", "pidf", check=True)


def test_pid_file_relative_path(pyoci: Any, bundle_factory: Any, workdir: Path) -> None:
    import subprocess

    b = bundle_factory(["sleep", "100"])
    argv = [*pyoci.global_args(), "create", "--pid-file", "rel.pid", "-b", str(b.path), "relpid"]
    subprocess.run(argv, cwd=workdir, check=True, stdout=subprocess.DEVNULL)
    assert (workdir / "rel.pid").read_text() == str(pyoci.state("relpid")["pid"])
    pyoci("delete", "-f", "relpid", check=True)


def test_list(pyoci: Any, bundle_factory: Any) -> None:
    import json

    assert pyoci("list").out.split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert pyoci("list", "-q").out == ""
    assert json.loads(pyoci("list", "--format", "json").out or "null") in (None, [])
    a = bundle_factory(["sleep", "100"])
    b = bundle_factory(["sleep", "100"])
    pyoci("create", "-b", str(a.path), "one", check=True)
    pyoci("run", "-d", "-b", str(b.path), "two", check=True)
    assert pyoci("list", "--quiet").out == "one\ntwo\n"
    table = pyoci("list").out.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    rows = {r.split()[0]: r.split() for r in table[1:]}
    assert rows["one"][1] == str(pyoci.state("one")["pid"]) and rows["one"][2] == "created"
    assert rows["two"][2] == "running" and rows["two"][3] == str(b.path)
    assert rows["two"][5] == "root"
    docs = json.loads(pyoci("list", "-f", "json").out)
    assert [d["id"] for d in docs] == ["one", "two"]
    assert {d["status"] for d in docs} == {"created", "running"}
    assert {d["owner"] for d in docs} == {"root"}
    assert pyoci.state("one")["owner"] == ""  # as runc: only list fills it in
    assert [d["bundle"] for d in docs] == [str(a.path), str(b.path)]
    pyoci("delete", "-f", "one", check=True)
    pyoci("delete", "-f", "two", check=True)


# ---------------------------------------------------------- failure leaves nothing


def test_create_same_id_twice(pyoci: Any, bundle_factory: Any) -> None:
    b = bundle_factory(["sleep", "100"])
    pyoci("create", "-b", str(b.path), "dup", check=True)
    pid = pyoci.state("dup")["pid"]
    one_error(pyoci("create", "-b", str(b.path), "dup"), "dup", "already exists")
    st = pyoci.state("dup")
    assert st["status"] == "created" and st["pid"] == pid
    pyoci("delete", "-f", "dup", check=True)


def _bad(name: str, workdir: Path, bundle_factory: Any) -> tuple[list[str], str]:
    """A bad create: (argv, a word the error must name)."""
    if name == "bad-json":
        b = bundle_factory(["true"])
        (b.path / "config.json").write_text('{"ociVersion": "1.0.0", ')
        return ["create", "-b", str(b.path), "x"], "JSON"
    if name == "schema":
        b = bundle_factory(["true"], mutate=lambda c: c["process"].update(args=[]))
        return ["create", "-b", str(b.path), "x"], "process.args"
    if name == "semantic":
        b = bundle_factory(["true"], mutate=lambda c: c["linux"]["namespaces"].append(
            {"type": "pid"}))  # fmt: skip
        return ["create", "-b", str(b.path), "x"], "pid"
    if name == "no-config":
        d = workdir / "empty-bundle"
        d.mkdir()
        return ["create", "-b", str(d), "x"], "config.json"
    if name == "no-bundle":
        return ["create", "-b", str(workdir / "nowhere"), "x"], "nowhere"
    if name == "no-rootfs":
        b = bundle_factory(["true"], mutate=lambda c: c["root"].update(path="missing-rootfs"))
        return ["create", "-b", str(b.path), "x"], "missing-rootfs"
    if name == "bad-id":
        b = bundle_factory(["true"])
        return ["create", "-b", str(b.path), "../evil"], "evil"
    if name == "late-failure":  # fails in the init, after namespaces, cgroup and mounts
        b = bundle_factory(["no-such-binary"])
        return ["create", "-b", str(b.path), "x"], "no-such-binary"
    if name == "mount-failure":
        b = bundle_factory(["true"], mutate=lambda c: c["mounts"].append(
            {"destination": "/m", "type": "bind", "source": "/nonexistent-src",
             "options": ["bind"]}))  # fmt: skip
        return ["create", "-b", str(b.path), "x"], "/nonexistent-src"
    if name == "hook-failure":
        b = bundle_factory(["true"], mutate=lambda c: c.update(hooks={"createRuntime": [
            {"path": "/bin/false"}]}))  # fmt: skip
        return ["create", "-b", str(b.path), "x"], "createRuntime"
    if name == "pid-file-dir-missing":  # fails after the init is up: rolled back too
        b = bundle_factory(["sleep", "100"])
        return ["create", "--pid-file", str(workdir / "no" / "dir" / "pid"), "-b", str(b.path),
                "x"], "pid"  # fmt: skip
    if name == "intel-rdt":  # no resctrl here: refused; with one: not supported
        b = bundle_factory(["true"], mutate=lambda c: c["linux"].update(
            intelRdt={"closID": "x"}))  # fmt: skip
        return ["create", "-b", str(b.path), "x"], "intelRdt"
    if name == "empty-id":
        b = bundle_factory(["true"])
        return ["create", "-b", str(b.path), ""], "id"
    if name == "unknown-flag":
        return ["create", "--no-such-flag", "x"], "no-such-flag"
    if name == "missing-arg":
        return ["create"], "create"
    raise AssertionError(name)


BAD_CREATES = ["bad-json", "schema", "semantic", "no-config", "no-bundle", "no-rootfs",
               "bad-id", "late-failure", "mount-failure", "hook-failure", "unknown-flag",
               "missing-arg", "pid-file-dir-missing", "empty-id", "intel-rdt"]  # fmt: skip


@pytest.mark.parametrize("case", BAD_CREATES)
def test_bad_create_leaves_nothing(pyoci: Any, bundle_factory: Any, workdir: Path,
                                   case: str) -> None:  # fmt: skip
    argv, word = _bad(case, workdir, bundle_factory)
    line = one_error(pyoci(*argv), word)
    assert line.startswith("pyoci: ")
    last = log_lines(pyoci.log)[-1]
    assert last["level"] == "error" and word in last["msg"] and last["time"], last
    assert set(last) == {"level", "msg", "time"}
    assert not leftovers(pyoci, workdir)


@pytest.mark.parametrize(
    "argv,word",
    [
        (["state", "ghost"], "container ghost does not exist"),
        (["start", "ghost"], "container ghost does not exist"),
        (["kill", "ghost"], "container ghost does not exist"),
        (["delete", "ghost"], "container ghost does not exist"),
        (["state"], "state"),
        (["kill"], "kill"),
        (["no-such-command"], "no-such-command"),
        (["list", "--format", "yaml"], "yaml"),
        (["delete", "--bogus", "ghost"], "bogus"),
    ],
)
def test_bad_operation_is_one_line_and_logged(pyoci: Any, workdir: Path, argv: list[str],
                                              word: str) -> None:  # fmt: skip
    one_error(pyoci(*argv), word)
    last = log_lines(pyoci.log)[-1]
    assert last["level"] == "error" and word in last["msg"], last
    assert not leftovers(pyoci, workdir)


def test_failed_create_runs_no_resident_process(pyoci: Any, bundle_factory: Any,
                                                workdir: Path) -> None:  # fmt: skip
    """A failure in the init (after the pid namespace and cgroup exist) is rolled back."""
    b = bundle_factory(["sleep", "100"], mutate=lambda c: c["process"].update(cwd="relative"))
    res = pyoci("create", "-b", str(b.path), "x")
    assert res.code == 1
    assert not leftovers(pyoci, workdir)


def test_text_log_format(pyoci: Any, workdir: Path) -> None:
    log = workdir / "text.log"
    import subprocess

    proc = subprocess.run([pyoci.binary, "--root", str(pyoci.root), "--log", str(log),
                           "state", "ghost"], capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 1
    line = log.read_text().splitlines()[-1]
    assert line.startswith('time="') and "level=error" in line
    assert 'msg="container ghost does not exist"' in line


def test_wrong_state_and_bad_signal_are_logged(pyoci: Any, bundle_factory: Any,
                                               workdir: Path) -> None:  # fmt: skip
    """Each refused operation: exit 1, one stderr line, the same message as the last JSON
    log line, and the container unchanged."""
    b = bundle_factory(["sleep", "100"])
    pyoci("create", "-b", str(b.path), "ws", check=True)

    def refused(*argv: str) -> None:
        line = one_error(pyoci(*argv))
        last = log_lines(pyoci.log)[-1]
        assert last["level"] == "error" and "pyoci: " + last["msg"] == line, (line, last)

    refused("delete", "ws")  # created, not stopped
    refused("kill", "ws", "NOSIG")
    assert pyoci.state("ws")["status"] == "created"
    pyoci("start", "ws", check=True)
    refused("start", "ws")
    refused("delete", "ws")
    assert pyoci.state("ws")["status"] == "running"
    pyoci("kill", "ws", "KILL", check=True)
    assert wait_for(lambda: is_stopped(pyoci, "ws"))
    refused("kill", "ws", "TERM")
    refused("start", "ws")
    pyoci("delete", "ws", check=True)
    assert not leftovers(pyoci, workdir)


def test_run_reports_the_init_killed_by_a_signal(pyoci: Any, bundle_factory: Any,
                                                 workdir: Path) -> None:  # fmt: skip
    """run's exit status is 128+N when the container's init dies of signal N."""
    import subprocess

    b = bundle_factory(["sleep", "100"])
    with open(workdir / "out", "w") as out:
        proc = subprocess.Popen([*pyoci.global_args(), "run", "-b", str(b.path), "victim"],
                                stdout=out, stderr=out)  # fmt: skip
    try:
        assert wait_for(lambda: pyoci("state", "victim").code == 0
                        and pyoci.state("victim")["status"] == "running")  # fmt: skip
        os.kill(pyoci.state("victim")["pid"], 9)
        assert proc.wait(timeout=10) == 137
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not (pyoci.root / "victim").exists()
