"""linux.seccomp through real containers: errno, kill, argument conditions, the
default profile, NOTIFY with an agent, and the filter installed last.

The filter itself is tested in ``test_seccomp_filter.py`` (forked children);
here the whole path runs: the parent compiles (through the cache), the init
or exec's process installs, the parent hands a listener fd to the agent.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import select
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import RuntimeCLI
from helpers import seccomp_profile as profile
from helpers import seccomp_rule as rule

pytestmark = pytest.mark.root

DATA = Path(__file__).resolve().parent.parent / "data" / "seccomp"

NO_CORE = {"type": "RLIMIT_CORE", "hard": 0, "soft": 0}  # SIGSYS dumps core otherwise
SIGSYS = 31


TMPFS = {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777"]}


def with_seccomp(seccomp: dict[str, Any], **process: Any) -> Callable[[dict[str, Any]], None]:
    """The profile, no core dumps, and a private /tmp (the rootfs is shared)."""

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["linux"]["seccomp"] = seccomp
        cfg["mounts"].append(TMPFS)
        cfg["process"]["rlimits"] = [*cfg["process"].get("rlimits", []), NO_CORE]
        cfg["process"].update(process)

    return mutate


def run(pyoci: RuntimeCLI, bundle_factory: Any, script: str, seccomp: dict[str, Any],
        cid: str = "sc", **process: Any) -> Any:  # fmt: skip
    b = bundle_factory(["sh", "-c", script], mutate=with_seccomp(seccomp, **process))
    return pyoci("run", "--bundle", str(b.path), cid)


def status_of(out: str) -> dict[str, str]:
    """The ``key:\tvalue`` lines of /proc/PID/status found in ``out``."""
    found = {}
    for line in out.splitlines():
        key, sep, value = line.partition(":\t")
        if sep:
            found[key] = value.strip()
    return found


# ------------------------------------------------------------------ actions


def test_denied_syscall_fails_with_the_configured_errno(pyoci: RuntimeCLI,
                                                        bundle_factory: Any) -> None:  # fmt: skip
    sc = profile(rule(["mkdir", "mkdirat"], "SCMP_ACT_ERRNO", errnoRet=errno.EXDEV))
    res = run(pyoci, bundle_factory, "mkdir /tmp/x; echo rc=$?; ls -d /tmp/x; touch /tmp/y && "
              "echo touched", sc)  # fmt: skip
    assert res.code == 0, res
    assert os.strerror(errno.EXDEV) in res.err, res
    assert "rc=1" in res.out and "touched" in res.out, res
    # and without the rule the same script makes the directory
    res = run(pyoci, bundle_factory, "mkdir /tmp/x && echo made", profile(), cid="plain")
    assert "made" in res.out, res


def test_errno_defaults(pyoci: RuntimeCLI, bundle_factory: Any) -> None:
    # a rule's ERRNO without errnoRet: EPERM
    res = run(pyoci, bundle_factory, "mkdir /tmp/x", profile(rule(["mkdir", "mkdirat"],
                                                                 "SCMP_ACT_ERRNO")))  # fmt: skip
    assert res.code == 1 and os.strerror(errno.EPERM) in res.err, res
    # defaultErrnoRet: what the default action answers (mount, sethostname: not allowed)
    sc = json.loads((DATA / "default.json").read_text())
    sc["defaultErrnoRet"] = errno.EROFS
    res = run(pyoci, bundle_factory, "mount -t tmpfs none /mnt; hostname x; echo end", sc)
    assert res.code == 0 and res.out == "end\n", res
    assert res.err.count(os.strerror(errno.EROFS)) == 2, res


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                                    "SCMP_ACT_KILL_THREAD"])  # fmt: skip
def test_kill_kills(pyoci: RuntimeCLI, bundle_factory: Any, action: str) -> None:
    sc = profile(rule(["mkdir", "mkdirat"], action))
    # the shell survives its child's death and reports the signal
    res = run(pyoci, bundle_factory, "mkdir /tmp/x; echo status=$?", sc)
    assert res.code == 0, res
    assert f"status={128 + SIGSYS}" in res.out, res
    # the container process itself killed: run reports 128+SIGSYS
    b = bundle_factory(["mkdir", "/tmp/x"], mutate=with_seccomp(sc))
    res = pyoci("run", "--bundle", str(b.path), "direct")
    assert res.code == 128 + SIGSYS, res


def test_argument_conditions(pyoci: RuntimeCLI, bundle_factory: Any) -> None:
    sc = profile(
        # kill(pid, SIGUSR1) denied; other signals pass
        rule(["kill"], "SCMP_ACT_ERRNO", errnoRet=errno.EPERM,
             args=[{"index": 1, "value": 10, "op": "SCMP_CMP_EQ"}]),
        # setting the setuid bit denied (mode is argument 1 of chmod, 2 of fchmodat)
        rule(["chmod"], "SCMP_ACT_ERRNO", errnoRet=errno.EACCES,
             args=[{"index": 1, "value": 0o4000, "valueTwo": 0o4000, "op": "SCMP_CMP_MASKED_EQ"}]),
        rule(["fchmodat", "fchmodat2"], "SCMP_ACT_ERRNO", errnoRet=errno.EACCES,
             args=[{"index": 2, "value": 0o4000, "valueTwo": 0o4000, "op": "SCMP_CMP_MASKED_EQ"}]),
        # kill with a signal number above 60 denied too (GT)
        rule(["kill"], "SCMP_ACT_ERRNO", errnoRet=errno.ENOTSUP,
             args=[{"index": 1, "value": 60, "op": "SCMP_CMP_GT"}]),
    )  # fmt: skip
    script = (
        "trap '' USR1 USR2 64; "
        "kill -USR1 $$ && echo usr1=ok || echo usr1=denied; "
        "kill -USR2 $$ && echo usr2=ok || echo usr2=denied; "
        "kill -64 $$ && echo sig64=ok || echo sig64=denied; "
        "touch /tmp/f; chmod 755 /tmp/f && echo 755=ok; "
        "chmod 4755 /tmp/f && echo 4755=ok || echo 4755=denied; stat -c %a /tmp/f"
    )
    res = run(pyoci, bundle_factory, script, sc)
    assert res.code == 0, res
    lines = res.out.split()
    assert lines == ["usr1=denied", "usr2=ok", "sig64=denied", "755=ok", "4755=denied", "755"], res
    assert os.strerror(errno.EACCES) in res.err, res


def test_default_profile_runs_a_busybox_shell(pyoci: RuntimeCLI, bundle_factory: Any) -> None:
    sc = json.loads((DATA / "default.json").read_text())
    script = (
        "echo hello; ls / >/dev/null; wc -l < /etc/passwd; mkdir /tmp/d && rmdir /tmp/d; "
        "echo data > /tmp/f && cat /tmp/f; (sleep 0.01 &) ; wait; date >/dev/null; "
        "cat /proc/self/status"
    )
    res = run(pyoci, bundle_factory, script, sc)
    assert res.code == 0, res
    assert res.out.startswith("hello\n3\ndata\n"), res
    st = status_of(res.out)
    assert st["Seccomp"] == "2" and st["Seccomp_filters"] == "1", st


def test_the_compiled_profile_is_cached(pyoci: RuntimeCLI, bundle_factory: Any,
                                        workdir: Path) -> None:  # fmt: skip
    """Out of the state root: PYOCI_SECCOMP_CACHE, else /var/cache/pyoci/seccomp for
    root; 0700, one entry per profile, a hit gives the same filter."""
    sc = json.loads((DATA / "default.json").read_text())
    cache = workdir / "cache" / "seccomp"
    env = dict(os.environ, PYOCI_SECCOMP_CACHE=str(cache))
    b = bundle_factory(["sh", "-c", "grep Seccomp /proc/self/status"],
                       mutate=with_seccomp(sc))  # fmt: skip
    outs = []
    for cid in ("one", "two"):
        res = pyoci("run", "--bundle", str(b.path), cid, env=env)
        assert res.code == 0, res
        outs.append(res.out)
        assert not pyoci.root.exists() or os.listdir(pyoci.root) == []
    assert outs[0] == outs[1] and "Seccomp:\t2" in outs[0], outs
    entries = os.listdir(cache)
    assert len(entries) == 1, entries
    assert oct(cache.stat().st_mode & 0o777) == "0o700"
    # a planted entry (others could write it) is not used: the filter is compiled again
    entry = cache / entries[0]
    entry.chmod(0o666)
    res = pyoci("run", "--bundle", str(b.path), "three", env=env)
    assert res.code == 0 and res.out == outs[0], res
    assert entry.stat().st_mode & 0o777 == 0o600  # replaced by a good one
    # by default, root's cache is /var/cache/pyoci/seccomp
    env.pop("PYOCI_SECCOMP_CACHE")
    assert pyoci("run", "--bundle", str(b.path), "four", env=env).code == 0
    default = Path("/var/cache/pyoci/seccomp")
    st = default.stat()
    assert (st.st_uid, st.st_mode & 0o777) == (0, 0o700)
    assert entries[0] in os.listdir(default)  # the same key: same profile, build, kernel


# ------------------------------------------------------------ installed last


INIT_NEEDS = ["capset", "setresuid", "setresgid", "setgroups", "setuid", "setgid", "prctl",
              "chdir", "umask", "setrlimit", "prlimit64", "keyctl", "close_range"]  # fmt: skip


def test_filter_is_the_last_step_before_execve(pyoci: RuntimeCLI, bundle_factory: Any) -> None:
    """A profile may deny what the init itself needs: it is installed after all of it."""
    sc = profile(rule(INIT_NEEDS, "SCMP_ACT_ERRNO", errnoRet=errno.EPERM))
    res = run(pyoci, bundle_factory, "id -u; id -G; cat /proc/self/status", sc,
              user={"uid": 1000, "gid": 1000, "additionalGids": [5]},
              noNewPrivileges=True)  # fmt: skip
    assert res.code == 0, res
    assert res.out.split()[:3] == ["1000", "1000", "5"], res
    st = status_of(res.out)
    assert st["Seccomp"] == "2" and st["NoNewPrivs"] == "1", st
    assert int(st["CapEff"], 16) == 0, st  # uid 1000 without ambient caps


def test_without_no_new_privs_the_filter_still_loads(pyoci: RuntimeCLI,
                                                      bundle_factory: Any) -> None:  # fmt: skip
    """noNewPrivileges false and no CAP_SYS_ADMIN in the final sets: seccomp(2) needs
    the capability, so the init installs while it still holds it; the container ends
    up with exactly its configured capabilities."""
    sc = profile(rule(["mkdir", "mkdirat"], "SCMP_ACT_ERRNO", errnoRet=errno.EXDEV))
    res = run(pyoci, bundle_factory, "mkdir /tmp/x; cat /proc/self/status", sc,
              noNewPrivileges=False)  # fmt: skip
    assert res.code == 0, res
    assert os.strerror(errno.EXDEV) in res.err, res
    st = status_of(res.out)
    assert st["Seccomp"] == "2" and st["NoNewPrivs"] == "0", st
    default_caps = (1 << 29) | (1 << 5) | (1 << 10)  # AUDIT_WRITE, KILL, NET_BIND_SERVICE
    assert int(st["CapEff"], 16) == default_caps, st
    assert int(st["CapPrm"], 16) == default_caps, st
    assert int(st["CapBnd"], 16) == default_caps, st


def test_exec_gets_the_filter(pyoci: RuntimeCLI, bundle_factory: Any) -> None:
    sc = profile(rule(["mkdir", "mkdirat"], "SCMP_ACT_ERRNO", errnoRet=errno.EXDEV))
    b = bundle_factory(["sleep", "30"], mutate=with_seccomp(sc))
    pyoci("create", "--bundle", str(b.path), "ex", check=True)
    try:
        res = pyoci("exec", "ex", "sh", "-c", "mkdir /tmp/x; grep Seccomp: /proc/self/status")
        assert os.strerror(errno.EXDEV) in res.err and "Seccomp:\t2" in res.out, res
    finally:
        pyoci("delete", "--force", "ex")


# ---------------------------------------------------------------------- notify

SECCOMP_IOCTL_NOTIF_RECV = 0xC0502100
SECCOMP_IOCTL_NOTIF_SEND = 0xC0182101
SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1
NOTIF = struct.Struct("=QIIiIQ6Q")  # id, pid, flags, data.nr, data.arch, data.ip, args
NOTIF_RESP = struct.Struct("=QqiI")  # id, val, error, flags


class Agent:
    """A seccomp agent: takes each connection's fd + process state, answers mkdir.

    The n-th mkdir it sees is answered with ``answers[n]``: an errno (negative),
    0 (pretend success) or "continue" (let the kernel run it).
    """

    def __init__(self, path: Path, answers: list[int | str]) -> None:
        self.path = path
        self.answers = list(answers)
        self.states: list[dict[str, Any]] = []
        self.seen: list[tuple[int, int]] = []  # (pid, syscall nr)
        self.errors: list[BaseException] = []
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(4)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        fds: list[int] = []
        try:
            while not self.stop.is_set():
                ready = select.select([self.server, *fds], [], [], 0.05)[0]
                for r in ready:
                    if r is self.server:
                        fds.append(self._accept())
                    elif self._answer(r) is False:
                        fds.remove(r)
                        os.close(r)
        except BaseException as exc:  # reported by close()
            self.errors.append(exc)
        finally:
            for fd in fds:
                os.close(fd)

    def _accept(self) -> int:
        conn, _ = self.server.accept()
        with conn:
            conn.settimeout(5)
            msg, fds, _, _ = socket.recv_fds(conn, 65536, 4)
            chunks = [msg]
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        assert len(fds) == 1, fds
        self.states.append(json.loads(b"".join(chunks)))
        return fds[0]

    def _answer(self, fd: int) -> bool:
        buf = bytearray(NOTIF.size)
        try:
            fcntl.ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, buf, True)
        except OSError as exc:
            if exc.errno == errno.ENOENT:  # every user of the filter is gone
                return False
            raise
        ident, pid, _, nr, *_ = NOTIF.unpack(buf)
        self.seen.append((pid, nr))
        answer = self.answers.pop(0) if self.answers else "continue"
        if answer == "continue":
            resp = NOTIF_RESP.pack(ident, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE)
        else:
            resp = NOTIF_RESP.pack(ident, 0, int(answer), 0)
        try:
            fcntl.ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, bytearray(resp), True)
        except OSError as exc:
            if exc.errno != errno.ENOENT:  # the caller died meanwhile
                raise
        return True

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.server.close()
        if self.errors:
            raise self.errors[0]


@pytest.fixture
def agent_factory(workdir: Path) -> Iterator[Callable[[list[int | str]], Agent]]:
    agents: list[Agent] = []

    def make(answers: list[int | str]) -> Agent:
        a = Agent(workdir / f"agent{len(agents)}.sock", answers)
        agents.append(a)
        return a

    yield make
    for a in agents:
        a.close()


def test_notify_agent_gets_fd_and_state_and_answers(
    pyoci: RuntimeCLI, bundle_factory: Any, agent_factory: Any
) -> None:
    agent = agent_factory([-errno.EXDEV, 0, "continue"])
    sc = profile(rule(["mkdir", "mkdirat"], "SCMP_ACT_NOTIFY"),
                 listenerPath=str(agent.path), listenerMetadata="tenant=blue")  # fmt: skip
    script = (
        "mkdir /tmp/a; echo a=$?; mkdir /tmp/b; echo b=$?; mkdir /tmp/c; echo c=$?; "
        "ls -d /tmp/a /tmp/b /tmp/c 2>/dev/null; true"
    )
    b = bundle_factory(["sh", "-c", script], mutate=with_seccomp(sc))
    res = pyoci("run", "--bundle", str(b.path), "notified")
    assert res.code == 0, res
    # EXDEV, pretended success (nothing made), really made
    assert res.out.split() == ["a=1", "b=0", "c=0", "/tmp/c"], res
    assert os.strerror(errno.EXDEV) in res.err
    assert len(agent.states) == 1, agent.states
    doc = agent.states[0]
    assert doc["fds"] == ["seccompFd"] and doc["metadata"] == "tenant=blue", doc
    assert doc["ociVersion"] and doc["pid"] == doc["state"]["pid"] > 0, doc
    assert doc["state"]["id"] == "notified" and doc["state"]["status"] == "creating", doc
    assert doc["state"]["bundle"] == str(b.path), doc
    assert len(agent.seen) == 3


def test_notify_exec_sends_its_own_listener(
    pyoci: RuntimeCLI, bundle_factory: Any, agent_factory: Any
) -> None:
    agent = agent_factory([-errno.ENOTSUP, -errno.EXDEV])
    sc = profile(rule(["mkdir", "mkdirat"], "SCMP_ACT_NOTIFY"), listenerPath=str(agent.path))
    b = bundle_factory(["sleep", "30"], mutate=with_seccomp(sc))
    pyoci("create", "--bundle", str(b.path), "nx", check=True)
    try:
        pyoci("start", "nx", check=True)
        script = "mkdir /tmp/x; echo $?; grep Seccomp: /proc/self/status"
        res = pyoci("exec", "nx", "sh", "-c", script)
        assert res.code == 0, res
        assert os.strerror(errno.ENOTSUP) in res.err, res
        assert "Seccomp:\t2" in res.out, res
        assert len(agent.states) == 2, agent.states
        init, proc = agent.states
        assert init["state"]["status"] == "creating"
        assert proc["state"]["status"] == "running" and proc["pid"] != init["pid"], proc
        assert proc["state"]["id"] == "nx"
    finally:
        pyoci("delete", "--force", "nx")


def test_notify_listener_unreachable_fails_create(pyoci: RuntimeCLI, bundle_factory: Any,
                                                  workdir: Path) -> None:  # fmt: skip
    sc = profile(rule(["mkdir"], "SCMP_ACT_NOTIFY"), listenerPath=str(workdir / "nobody.sock"))
    b = bundle_factory(["true"], mutate=with_seccomp(sc))
    res = pyoci("create", "--bundle", str(b.path), "nolistener")
    assert res.code != 0 and "seccomp listener" in res.err, res



# -------------------------------------------------------------------- features


def test_features_reports_seccomp_truthfully(pyoci: RuntimeCLI) -> None:
    """``pyoci features`` lists what compile_profile accepts and this kernel has."""
    from pyoci.seccomp.features import seccomp_features

    res = pyoci("features")
    if res.code != 0 and "features" in res.err and "no such command" in res.err:
        pytest.skip("pyoci features is not implemented in this build")
    assert res.code == 0, res
    got = json.loads(res.out)["linux"]["seccomp"]
    assert got == seccomp_features(), got
    assert got["enabled"] is True
    assert {"SCMP_ACT_ERRNO", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_NOTIFY"} <= set(got["actions"])
    assert "SCMP_CMP_MASKED_EQ" in got["operators"]
    if os.uname().machine == "x86_64":
        assert "SCMP_ARCH_X86_64" in got["archs"]
    assert set(got["supportedFlags"]) <= set(got["knownFlags"])
