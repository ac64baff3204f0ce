"""``exec``: a new process in a created or running container, as runc's.

Most cases run against pyoci and runc with the same bundle and compare: the
process joins every namespace and the cgroup of the init, gets the same
process rules (env, cwd, user, capabilities, no_new_privs, rlimits, seccomp),
and exec's exit code is the process's unless exec itself failed (255).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import Bundle, RuntimeCLI, parse_status, pids_with_cmdline, wait_for

pytestmark = pytest.mark.root

BOTH = pytest.mark.parametrize("rt_name", ["pyoci", "runc"])


@pytest.fixture
def rt(request: pytest.FixtureRequest) -> RuntimeCLI:
    """The runtime named by the test's ``rt_name`` parameter."""
    fixture: RuntimeCLI = request.getfixturevalue(request.node.callspec.params["rt_name"])
    return fixture


Factory = Callable[..., Bundle]


def start(
    rt: RuntimeCLI,
    bundle_factory: Factory,
    rootfs: Path,
    cid: str,
    args: list[str] | None = None,
    mutate: Callable[[dict[str, Any]], None] | None = None,
    *,
    started: bool = True,
) -> Bundle:
    """A container (``sleep 1000`` by default) created, and started unless told."""

    def m(cfg: dict[str, Any]) -> None:
        cfg["root"]["path"] = str(rootfs)  # runc refuses a symlinked rootfs
        cfg["process"]["env"] = ["PATH=/bin:/usr/bin", "HOME=/root", "TERM=dumb"]
        if mutate is not None:
            mutate(cfg)

    b = bundle_factory(args or ["sleep", "1000"], mutate=m, name=f"{rt.name}-{cid}")
    rt("create", "--bundle", str(b.path), cid, check=True)
    if started:
        rt("start", cid, check=True)
    return b


def init_pid(rt: RuntimeCLI, cid: str) -> int:
    return int(rt.state(cid)["pid"])


# ------------------------------------------------------------------ the basics


@BOTH
def test_output_and_exit_code(rt: RuntimeCLI, rt_name: str, bundle_factory: Factory,
                              rootfs: Path) -> None:  # fmt: skip
    start(rt, bundle_factory, rootfs, "c")
    res = rt("exec", "c", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (res.code, res.out, res.err) == (3, "out\n", "err\n"), res
    res = rt("exec", "c", "true")
    assert (res.code, res.out) == (0, ""), res
    # killed by a signal: 128 + signal, as a shell reports it
    res = rt("exec", "c", "sh", "-c", "kill -9 $$")
    assert res.code == 137, res


def test_same_as_runc_env_cwd_user_caps(
    pyoci: RuntimeCLI, runc: RuntimeCLI, bundle_factory: Factory, rootfs: Path
) -> None:
    """The flags of exec, applied the same way."""
    script = (
        'echo "env $A|$B|$HOME|$PATH"; echo "cwd $(pwd)"; echo "ids $(id -u) $(id -g) $(id -G)";'
        " grep -E '^(Cap|NoNewPrivs)' /proc/self/status"
    )
    flags = [
        ["--env", "A=1", "--env", "B=two words", "--cwd", "/tmp"],
        ["--user", "1000:1000", "--additional-gids", "5", "--additional-gids", "65534"],
        ["--user", "1000"],
        ["--cap", "CAP_NET_ADMIN", "--cap", "CAP_SYS_TIME"],
        ["--no-new-privs"],
        ["--user", "1000:1000", "--cap", "CAP_NET_RAW"],
    ]

    def relaxed(cfg: dict[str, Any]) -> None:
        cfg["process"]["noNewPrivileges"] = False

    outs: dict[str, list[str]] = {}
    for rt in (pyoci, runc):
        start(rt, bundle_factory, rootfs, "same", mutate=relaxed)
        outs[rt.name] = []
        for f in flags:
            res = rt("exec", *f, "same", "sh", "-c", script)
            assert res.code == 0, (rt.name, f, res)
            outs[rt.name].append(res.out)
        rt("delete", "--force", "same", check=True)
    for f, mine, theirs in zip(flags, outs["pyoci"], outs["runc"], strict=True):
        assert mine == theirs, f"exec {' '.join(f)}:\npyoci:\n{mine}\nrunc:\n{theirs}"
    # and the values are the ones asked for
    assert "env 1|two words|/root|/bin:/usr/bin\ncwd /tmp\n" in outs["pyoci"][0]
    assert "ids 1000 1000 1000 5 65534" in outs["pyoci"][1]
    assert parse_status(outs["pyoci"][4])["NoNewPrivs"] == "1"
    assert parse_status(outs["pyoci"][0])["NoNewPrivs"] == "0"
    eff = int(parse_status(outs["pyoci"][3])["CapEff"], 16)
    assert eff & (1 << 12) and eff & (1 << 25)  # NET_ADMIN, SYS_TIME


@BOTH
def test_process_file(rt: RuntimeCLI, rt_name: str, bundle_factory: Factory, rootfs: Path,
                      workdir: Path) -> None:  # fmt: skip
    start(rt, bundle_factory, rootfs, "pf")
    proc = {
        "args": ["sh", "-c", 'echo "$X $(pwd) $(id -u):$(id -g)"; ulimit -n; exit 4'],
        "env": ["PATH=/bin", "X=from-file"],
        "cwd": "/home/user",
        "user": {"uid": 1000, "gid": 1000},
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 321}],
        "noNewPrivileges": True,
    }
    path = workdir / f"process-{rt_name}.json"
    path.write_text(json.dumps(proc))
    res = rt("exec", "--process", str(path), "pf")
    assert res.code == 4, res
    assert res.out == "from-file /home/user 1000:1000\n321\n", res
    # a bad process file is refused before anything runs (exec's own failure: 255)
    path.write_text(json.dumps({"args": [], "cwd": "/"}))
    res = rt("exec", "--process", str(path), "pf")
    assert res.code == 255, res


@BOTH
def test_preserve_fds(rt: RuntimeCLI, rt_name: str, bundle_factory: Factory, rootfs: Path,
                      workdir: Path) -> None:  # fmt: skip
    start(rt, bundle_factory, rootfs, "fds")
    data = workdir / f"data-{rt_name}"
    data.write_text("through fd 3\n")
    r = os.open(data, os.O_RDONLY)
    try:
        res = rt("exec", "--preserve-fds", "1", "fds", "sh", "-c", "cat <&3; ls /proc/self/fd",
                 fds={3: r})  # fmt: skip
        assert res.code == 0, res
        lines = res.out.splitlines()
        assert lines[0] == "through fd 3", res
        # 0-2, 3 and the fd of ls itself; nothing else leaked in
        assert set(lines[1:]) <= {"0", "1", "2", "3", "4"}, res
        res = rt("exec", "fds", "sh", "-c", "cat <&3", fds={3: r})
        assert res.code != 0, res  # not preserved without the flag
    finally:
        os.close(r)


@BOTH
def test_detach_and_pid_file(rt: RuntimeCLI, rt_name: str, bundle_factory: Factory,
                             rootfs: Path, workdir: Path) -> None:  # fmt: skip
    start(rt, bundle_factory, rootfs, "det")
    pid_file = workdir / f"exec-{rt_name}.pid"
    t0 = time.monotonic()
    res = rt("exec", "--detach", "--pid-file", str(pid_file), "det", "sleep", "77")
    assert res.code == 0 and res.out == "", res
    assert time.monotonic() - t0 < 10
    pid = int(pid_file.read_text())
    assert Path(f"/proc/{pid}/comm").read_text().strip() == "sleep"
    ipid = init_pid(rt, "det")
    for ns in ("pid", "mnt", "net", "ipc", "uts"):
        assert os.readlink(f"/proc/{pid}/ns/{ns}") == os.readlink(f"/proc/{ipid}/ns/{ns}"), ns
    assert Path(f"/proc/{pid}/cgroup").read_text() == Path(f"/proc/{ipid}/cgroup").read_text()
    assert os.readlink(f"/proc/{pid}/root") == os.readlink(f"/proc/{ipid}/root")
    res = rt("exec", "det", "sh", "-c", "ps -o pid,comm | grep -c sleep")
    assert res.out.strip() == "2", res  # the init and the exec'd sleep, one pid namespace
    os.kill(pid, 9)


@BOTH
def test_exec_into_created_container(rt: RuntimeCLI, rt_name: str, bundle_factory: Factory,
                                     rootfs: Path) -> None:  # fmt: skip
    start(rt, bundle_factory, rootfs, "cr", ["sh", "-c", "echo started"], started=False)
    res = rt("exec", "cr", "sh", "-c", "echo in created; cat /proc/1/comm")
    assert res.code == 0, res
    assert res.out.startswith("in created\n"), res
    assert rt.state("cr")["status"] == "created"
    rt("start", "cr", check=True)


@BOTH
def test_exec_in_stopped_container(rt: RuntimeCLI, rt_name: str, bundle_factory: Factory,
                                   rootfs: Path) -> None:  # fmt: skip
    start(rt, bundle_factory, rootfs, "st", ["true"])
    assert wait_for(lambda: rt.state("st")["status"] == "stopped")
    res = rt("exec", "st", "true")
    assert res.code == 255, res
    assert "cannot exec in a stopped container" in res.err, res
    res = rt("exec", "nosuch", "true")
    assert res.code == 255 and "does not exist" in res.err, res


@BOTH
def test_tty_detach_needs_console_socket(rt: RuntimeCLI, rt_name: str, bundle_factory: Factory,
                                         rootfs: Path) -> None:  # fmt: skip
    start(rt, bundle_factory, rootfs, "tt")
    res = rt("exec", "-t", "-d", "tt", "true")
    assert res.code == 255, res
    assert (
        f"cannot allocate tty if {rt_name} will detach without setting console socket" in res.err
    ), res


@BOTH
def test_seccomp_without_no_new_privs(rt: RuntimeCLI, rt_name: str, bundle_factory: Factory,
                                      rootfs: Path) -> None:  # fmt: skip
    """noNewPrivileges false and no CAP_SYS_ADMIN (podman's default): the filter still
    goes in, for the init and for exec'd processes."""

    def profile(cfg: dict[str, Any]) -> None:
        cfg["process"]["noNewPrivileges"] = False
        cfg["linux"]["seccomp"] = {
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
            ],
        }

    start(rt, bundle_factory, rootfs, "sc", mutate=profile)
    res = rt("exec", "sc", "sh", "-c",
             "mkdir /tmp/x; grep -E '^(Seccomp|NoNewPrivs|CapEff)' /proc/self/status")  # fmt: skip
    assert "Operation not permitted" in res.err, res
    st = parse_status(res.out)
    assert st["Seccomp"] == "2" and st["NoNewPrivs"] == "0", res
    assert not int(st["CapEff"], 16) & (1 << 21), res  # CAP_SYS_ADMIN was not kept
    res = rt("exec", "sc", "sh", "-c", "grep -E '^Seccomp' /proc/1/status")
    assert parse_status(res.out)["Seccomp"] == "2", res


def test_signals_are_forwarded(pyoci: RuntimeCLI, bundle_factory: Factory, rootfs: Path) -> None:
    start(pyoci, bundle_factory, rootfs, "sig")
    proc = subprocess.Popen(
        [*pyoci.global_args(), "exec", "sig", "sh", "-c",
         'trap "echo got TERM; exit 9" TERM; echo ready; while :; do sleep 0.05; done'],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(15)
    out, err = proc.communicate(timeout=20)
    assert (proc.returncode, out) == (9, "got TERM\n"), (out, err)


# --------------------------------------------------------- CVE-2019-5736 shape


@BOTH
def test_entering_process_is_not_reachable_from_the_container(
    rt: RuntimeCLI, rt_name: str, bundle_factory: Factory, rootfs: Path, workdir: Path
) -> None:
    """While the exec'ing process still runs the runtime's (host) code inside the
    container's namespaces, a container process must not reach it: no
    /proc/PID/exe (the host binary: CVE-2019-5736), /proc/PID/environ, fd or mem.

    The runtime is held there by a FIFO put at the container's /etc/passwd once
    the container runs: the user lookup blocks opening it (pyoci reads it for
    HOME, which the process file leaves out; runc reads it always).  The
    container's init is the prober: it waits for /gate/go, then looks."""
    import shutil

    own = workdir / f"rootfs-{rt_name}"
    shutil.copytree(rootfs, own, symlinks=True)
    gate = workdir / f"gate-{rt_name}"
    gate.mkdir()
    marker = "[p]yoci" if rt_name == "pyoci" else "[r]unc"  # never matches the prober
    probe = (
        "while [ ! -e /gate/go ]; do sleep 0.02; done;"
        " for d in /proc/[0-9]*; do grep -q '" + marker + "' $d/cmdline 2>/dev/null || continue;"
        " echo pid ${d#/proc/};"
        " readlink $d/exe >/dev/null 2>&1 && echo exe readable;"
        " cat $d/environ >/dev/null 2>&1 && echo environ readable;"
        " readlink $d/fd/0 >/dev/null 2>&1 && echo fd readable;"
        " dd if=$d/mem bs=1 count=0 2>/dev/null && echo mem opened;"
        " done > /gate/out; readlink /proc/1/exe >> /gate/out; touch /gate/done; sleep 1000"
    )

    def m(cfg: dict[str, Any]) -> None:
        cfg["root"]["path"] = str(own)
        cfg["mounts"].append(
            {"destination": "/gate", "type": "bind", "source": str(gate),
             "options": ["rbind", "rw"]}
        )  # fmt: skip

    start(rt, bundle_factory, rootfs, "cve", ["sh", "-c", probe], mutate=m)
    ipid = init_pid(rt, "cve")
    (own / "etc" / "passwd").rename(own / "etc" / "passwd.real")
    os.mkfifo(own / "etc" / "passwd", 0o644)
    proc_file = workdir / f"p-{rt_name}.json"
    proc_file.write_text(json.dumps({"args": ["true"], "env": ["PATH=/bin"], "cwd": "/"}))
    blocked = subprocess.Popen(
        [*rt.global_args(), "exec", "--process", str(proc_file), "cve"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        needle = "pyoci" if rt_name == "pyoci" else "runc"

        def entering() -> bool:
            """A runtime process inside the container's pid namespace (host view)."""
            want = os.readlink(f"/proc/{ipid}/ns/pid")
            for pid in pids_with_cmdline(needle):
                try:
                    if os.readlink(f"/proc/{pid}/ns/pid") == want:
                        return True
                except OSError:
                    continue
            return False

        assert wait_for(entering, 20), "the exec'ing process never entered the container"
        time.sleep(0.2)  # well inside its wait on the FIFO
        (gate / "go").write_text("")
        assert wait_for((gate / "done").exists, 20)
        lines = (gate / "out").read_text().splitlines()
        assert any(ln.startswith("pid ") for ln in lines), lines
        # control: an ordinary container process is reachable (the probe can tell)
        assert lines[-1] == "/bin/busybox", lines
        reachable = [ln for ln in lines if "readable" in ln or "opened" in ln]
        assert not reachable, f"{rt_name}: the entering process is reachable: {lines}"
    finally:
        # let it go: a writer on the FIFO gives it a passwd
        fd = os.open(own / "etc" / "passwd", os.O_WRONLY)
        os.write(fd, b"root:x:0:0:root:/root:/bin/sh\n")
        os.close(fd)
        _out, err = blocked.communicate(timeout=30)
        (own / "etc" / "passwd").unlink()
        (own / "etc" / "passwd.real").rename(own / "etc" / "passwd")
    assert blocked.returncode == 0, err
