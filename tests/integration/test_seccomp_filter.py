"""Compiled profiles installed for real, in a forked child with no_new_privs.

No root needed: with no_new_privs any process may install a filter.  Every
child ends in ``os._exit`` (or is killed by its filter) and reports through a
pipe; the parent asserts on the wait status and the report.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import resource
import select
import signal
import socket
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import seccomp_profile as profile
from helpers import seccomp_rule as rule

from pyoci import native
from pyoci.errors import SetupError
from pyoci.native._seccomp import lib
from pyoci.seccomp.compile import compile_profile
from pyoci.seccomp.load import install
from pyoci.seccomp.notify import send_to_listener
from pyoci.seccomp.program import SeccompProgram

DATA = Path(__file__).resolve().parent.parent / "data" / "seccomp"
BUSYBOX = "/bin/busybox"

PR_SET_NO_NEW_PRIVS = 38
CAP_SYS_ADMIN = 21
CLONE_NEWUSER = 0x10000000
AF_VSOCK = 40

LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.syscall.restype = ctypes.c_long

NATIVE = lib.seccomp_arch_native()
on_x86_64 = pytest.mark.skipif(
    lib.seccomp_arch_resolve_name(b"x86_64") != NATIVE, reason="syscall numbers of x86_64"
)

Body = Callable[[int, "int | None"], int]


def raw_syscall(nr: int, *args: int) -> int:
    """-errno or the result, never raises."""
    ret = LIBC.syscall(ctypes.c_long(nr), *(ctypes.c_long(a) for a in args))
    return -ctypes.get_errno() if ret < 0 else int(ret)


def sysno(name: str) -> int:
    return lib.seccomp_syscall_resolve_name(name.encode())


def in_child(
    program: SeccompProgram,
    body: Body,
    *,
    nnp: bool = True,
    before: Callable[[], None] | None = None,
) -> tuple[int, bytes, int]:
    """Fork; the child sets no_new_privs, installs ``program`` and runs ``body``.

    Returns (wait status, what the child wrote to its pipe, child pid).
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 125
        try:
            os.close(r)
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGSYS dumps core
            if before is not None:
                before()
            if nnp:
                native.prctl(PR_SET_NO_NEW_PRIVS, 1)
            listener = install(program)
            code = body(w, listener)
        except BaseException as exc:
            try:
                os.write(w, f"{type(exc).__name__}: {exc}".encode())
            except BaseException:
                pass
            code = 126
        finally:
            os._exit(code)
    os.close(w)
    status = None
    try:
        chunks = []
        while chunk := os.read(r, 65536):
            chunks.append(chunk)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(r)
        if status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    return status, b"".join(chunks), pid


def exited(status: int, data: bytes = b"") -> int:
    assert os.WIFEXITED(status), (status, data)
    return os.WEXITSTATUS(status)


def report(w: int, obj: object) -> int:
    os.write(w, json.dumps(obj).encode())
    return 0


# --- errno -----------------------------------------------------------------


def test_denied_syscall_fails_with_the_configured_errno(tmp_path: Path) -> None:
    prog = compile_profile(
        profile(
            rule(["mkdir", "mkdirat"], "SCMP_ACT_ERRNO", errnoRet=errno.EROFS),
            rule(["getcwd"], "SCMP_ACT_ERRNO"),  # errnoRet defaults to EPERM
        )
    )
    target = tmp_path / "made"

    def body(w: int, listener: int | None) -> int:
        got: list[int | None] = []
        for call in (lambda: os.mkdir(target), os.getcwd):
            try:
                call()
                got.append(0)
            except OSError as exc:
                got.append(exc.errno)
        return report(w, [got, listener])

    status, data, _ = in_child(prog, body)
    assert exited(status, data) == 0, data
    assert json.loads(data) == [[errno.EROFS, errno.EPERM], None]
    assert not target.exists()


def test_trace_without_tracer_is_enosys() -> None:
    prog = compile_profile(profile(rule(["getcwd"], "SCMP_ACT_TRACE", errnoRet=3)))

    def body(w: int, listener: int | None) -> int:
        return -raw_syscall(sysno("getcwd"), 0, 0)

    status, data, _ = in_child(prog, body)
    assert exited(status, data) == errno.ENOSYS


def test_log_allows() -> None:
    prog = compile_profile(profile(rule(["getcwd", "getppid"], "SCMP_ACT_LOG")))

    def body(w: int, listener: int | None) -> int:
        return report(w, [os.getcwd(), os.getppid()])

    status, data, _ = in_child(prog, body)
    assert exited(status, data) == 0
    assert json.loads(data) == [os.getcwd(), os.getpid()]


# --- kill ------------------------------------------------------------------


@pytest.mark.parametrize(
    "action", ["SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP"]
)
def test_kill_actions_end_the_process_with_sigsys(action: str) -> None:
    prog = compile_profile(profile(rule(["getppid"], action)))

    def body(w: int, listener: int | None) -> int:
        os.write(w, b"before")
        os.getppid()
        os.write(w, b"after")
        return 0

    status, data, _ = in_child(prog, body)
    assert os.WIFSIGNALED(status), (status, data)
    assert os.WTERMSIG(status) == signal.SIGSYS
    assert data == b"before"


# --- argument conditions ---------------------------------------------------


def test_argument_conditions() -> None:
    uname26 = 0x0020000
    prog = compile_profile(
        profile(
            # personality is denied only for UNAME26
            rule(
                ["personality"],
                "SCMP_ACT_ERRNO",
                errnoRet=errno.EACCES,
                args=[{"index": 0, "value": uname26, "op": "SCMP_CMP_EQ"}],
            ),
            # umask is denied when the new mask keeps group+other write off
            rule(
                ["umask"],
                "SCMP_ACT_ERRNO",
                errnoRet=errno.EDOM,
                args=[{"index": 0, "value": 0o022, "valueTwo": 0o022, "op": "SCMP_CMP_MASKED_EQ"}],
            ),
            # kill is denied for signals above SIGUSR2 and to pids > 1 at once
            rule(
                ["kill"],
                "SCMP_ACT_ERRNO",
                errnoRet=errno.ESRCH,
                args=[
                    {"index": 0, "value": 1, "op": "SCMP_CMP_GT"},
                    {"index": 1, "value": signal.SIGUSR2, "op": "SCMP_CMP_GT"},
                ],
            ),
        )
    )

    def body(w: int, listener: int | None) -> int:
        me = os.getpid()
        return report(
            w,
            {
                "query": raw_syscall(sysno("personality"), 0xFFFFFFFF) >= 0,
                "uname26": raw_syscall(sysno("personality"), uname26),
                "linux": raw_syscall(sysno("personality"), 0),
                "umask027": raw_syscall(sysno("umask"), 0o027),
                "umask002": raw_syscall(sysno("umask"), 0o002) >= 0,
                "kill0": raw_syscall(sysno("kill"), me, 0),
                "killpipe": raw_syscall(sysno("kill"), me, int(signal.SIGPIPE)),
                "killusr2": raw_syscall(sysno("kill"), me, 0) == 0,
            },
        )

    status, data, _ = in_child(prog, body)
    assert exited(status, data) == 0, data
    assert json.loads(data) == {
        "query": True,
        "uname26": -errno.EACCES,
        "linux": 0,  # the old personality, PER_LINUX
        "umask027": -errno.EDOM,
        "umask002": True,
        "kill0": 0,
        "killpipe": -errno.ESRCH,  # SIGPIPE (13) > SIGUSR2 (12) and pid > 1
        "killusr2": True,
    }


def test_conditions_on_one_argument_each_match() -> None:
    # Two conditions on arg 0: runc (and we) make them two rules.
    prog = compile_profile(
        profile(
            rule(
                ["personality"],
                "SCMP_ACT_ERRNO",
                args=[
                    {"index": 0, "value": 0x0020000, "op": "SCMP_CMP_EQ"},
                    {"index": 0, "value": 0x0040000, "op": "SCMP_CMP_EQ"},
                ],
            )
        )
    )

    def body(w: int, listener: int | None) -> int:
        nr = sysno("personality")
        return report(
            w, [raw_syscall(nr, 0x0020000), raw_syscall(nr, 0x0040000), raw_syscall(nr, 0)]
        )

    status, data, _ = in_child(prog, body)
    assert exited(status, data) == 0, data
    assert json.loads(data) == [-errno.EPERM, -errno.EPERM, 0]


# --- flags and permission --------------------------------------------------


@pytest.mark.parametrize(
    "flag",
    ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
)
def test_flags_load(flag: str) -> None:
    prog = compile_profile(profile(rule(["getcwd"], "SCMP_ACT_ERRNO"), flags=[flag]))
    assert prog.flags

    def body(w: int, listener: int | None) -> int:
        try:
            os.getcwd()
        except OSError as exc:
            return exc.errno or 1
        return 0

    status, data, _ = in_child(prog, body)
    assert exited(status, data) == errno.EPERM


def drop_cap_sys_admin() -> None:
    eff, perm, inh = native.capget()
    native.capset(eff & ~(1 << CAP_SYS_ADMIN), perm, inh)


def test_install_needs_no_new_privs_or_cap_sys_admin() -> None:
    prog = compile_profile(profile(rule(["getcwd"], "SCMP_ACT_ERRNO")))
    status, data, _ = in_child(prog, lambda w, listener: 0, nnp=False, before=drop_cap_sys_admin)
    assert exited(status, data) == 126
    assert data == (
        b"SetupError: seccomp: installing the filter: Permission denied "
        b"(needs no_new_privs or CAP_SYS_ADMIN)"
    )
    assert issubclass(SetupError, Exception)


@pytest.mark.root
@pytest.mark.skipif(not native.capget()[0] & (1 << CAP_SYS_ADMIN), reason="needs CAP_SYS_ADMIN")
def test_install_with_cap_sys_admin_and_no_nnp() -> None:
    prog = compile_profile(profile(rule(["getcwd"], "SCMP_ACT_ERRNO")))

    def body(w: int, listener: int | None) -> int:
        with open("/proc/self/status") as f:
            nnp = [line.split()[1] for line in f if line.startswith("NoNewPrivs:")]
        return report(w, nnp)

    status, data, _ = in_child(prog, body, nnp=False)
    assert exited(status, data) == 0
    assert json.loads(data) == ["0"]  # the filter did not set no_new_privs


# --- notify ----------------------------------------------------------------

SECCOMP_IOCTL_NOTIF_RECV = 0xC0502100  # _IOWR('!', 0, struct seccomp_notif)  (80 bytes)
SECCOMP_IOCTL_NOTIF_SEND = 0xC0182101  # _IOWR('!', 1, struct seccomp_notif_resp) (24 bytes)
SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1
NOTIF = struct.Struct("=QIIiIQ6Q")  # id, pid, flags, data.nr, data.arch, data.ip, data.args
NOTIF_RESP = struct.Struct("=QqiI")  # id, val, error, flags


def agent_answer(notify_fd: int, error: int, val: int, flags: int) -> tuple[int, int]:
    """Wait for one notification, answer it; return (pid, syscall nr)."""
    ready, _, _ = select.select([notify_fd], [], [], 10)
    assert ready, "no seccomp notification within 10 s"
    buf = bytearray(NOTIF.size)
    fcntl.ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_RECV, buf, True)
    ident, pid, _, nr, _, _, *_ = NOTIF.unpack(buf)
    resp = bytearray(NOTIF_RESP.pack(ident, val, error, flags))
    fcntl.ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_SEND, resp, True)
    return pid, nr


@pytest.mark.parametrize(
    "flags", [[], ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", "SECCOMP_FILTER_FLAG_TSYNC"]]
)
def test_notify_agent_answers(tmp_path: Path, flags: list[str]) -> None:
    sock_path = str(tmp_path / "agent.sock")
    prog = compile_profile(
        profile(
            rule(["mkdir", "mkdirat"], "SCMP_ACT_NOTIFY"),
            listenerPath=sock_path,
            listenerMetadata="answer=exdev,fake,continue",
            flags=flags,
        )
    )
    assert prog.needs_listener and prog.listener_path == sock_path
    dirs = [tmp_path / "d1", tmp_path / "d2", tmp_path / "d3"]

    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(1)
    server.settimeout(10)

    def body(w: int, listener: int | None) -> int:
        assert listener is not None
        state = {
            "ociVersion": "1.3.0",
            "id": "seccomp-test",
            "status": "creating",
            "pid": os.getpid(),
            "bundle": str(tmp_path),
        }
        send_to_listener(prog.listener_path or "", listener, state, prog.listener_metadata)
        os.close(listener)
        got: list[int | None] = []
        for d in dirs:
            try:
                os.mkdir(d)
                got.append(0)
            except OSError as exc:
                got.append(exc.errno)
        return report(w, got)

    pid = os.fork()
    if pid == 0:  # pragma: no cover - a child that runs in_child's logic
        server.close()
        status, data, _ = in_child(prog, body)
        os._exit(0 if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and data else 1)
    notify_fd = -1
    try:
        conn, _ = server.accept()
        with conn:
            conn.settimeout(10)
            msg, fds, _, _ = socket.recv_fds(conn, 65536, 1)
            chunks = [msg]
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        assert len(fds) == 1
        notify_fd = fds[0]
        doc = json.loads(b"".join(chunks))
        assert doc["fds"] == ["seccompFd"]
        assert doc["metadata"] == "answer=exdev,fake,continue"
        assert doc["ociVersion"] == "1.3.0"
        assert doc["state"]["id"] == "seccomp-test" and doc["pid"] == doc["state"]["pid"]
        calls = [
            agent_answer(notify_fd, -errno.EXDEV, 0, 0),  # fail it
            agent_answer(notify_fd, 0, 0, 0),  # pretend it worked
            agent_answer(notify_fd, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE),  # let it run
        ]
        assert {p for p, _ in calls} == {doc["pid"]}
        assert {nr for _, nr in calls} <= {sysno("mkdir"), sysno("mkdirat")}
        _, status = os.waitpid(pid, 0)
        pid = 0
        assert exited(status) == 0
    finally:
        server.close()
        if notify_fd >= 0:
            os.close(notify_fd)
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    assert [d.exists() for d in dirs] == [False, False, True]


def test_notify_answers_reach_the_child(tmp_path: Path) -> None:
    """Same as above but checks the errno each mkdir saw, from the child's report."""
    sock_path = str(tmp_path / "agent.sock")
    prog = compile_profile(
        profile(rule(["mkdir", "mkdirat"], "SCMP_ACT_NOTIFY"), listenerPath=sock_path)
    )
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(1)
    server.settimeout(10)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover
        code = 1
        try:
            os.close(r)
            server.close()
            native.prctl(PR_SET_NO_NEW_PRIVS, 1)
            listener = install(prog)
            assert listener is not None
            send_to_listener(sock_path, listener, {"pid": os.getpid(), "id": "x"}, None)
            os.close(listener)
            got: list[int | None] = []
            for name in ("a", "b"):
                try:
                    os.mkdir(tmp_path / name)
                    got.append(0)
                except OSError as exc:
                    got.append(exc.errno)
            os.write(w, json.dumps(got).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    notify_fd = -1
    try:
        conn, _ = server.accept()
        with conn:
            _, fds, _, _ = socket.recv_fds(conn, 65536, 1)
        notify_fd = fds[0]
        agent_answer(notify_fd, -errno.EXDEV, 0, 0)
        agent_answer(notify_fd, 0, 0, 0)
        data = os.read(r, 4096)
        _, status = os.waitpid(pid, 0)
        pid = 0
    finally:
        os.close(r)
        server.close()
        if notify_fd >= 0:
            os.close(notify_fd)
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    assert exited(status) == 0
    assert json.loads(data) == [errno.EXDEV, 0]
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


# --- the default profile ---------------------------------------------------


def default_profile(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((DATA / "default.json").read_text())
    doc.update(changes)
    return doc


@pytest.mark.skipif(not os.access(BUSYBOX, os.X_OK), reason="needs busybox-static at /bin/busybox")
def test_default_profile_runs_a_busybox_shell(tmp_path: Path) -> None:
    prog = compile_profile(default_profile())
    script = (
        "echo ok; ls / >/dev/null && echo ls; mkdir $T/dir && echo mkdir; "
        "grep ^Seccomp: /proc/self/status; grep ^NoNewPrivs: /proc/self/status"
    )

    def body(w: int, listener: int | None) -> int:
        os.dup2(w, 1)
        os.execve(BUSYBOX, ["sh", "-c", script], {"PATH": "/bin", "T": str(tmp_path)})

    status, data, _ = in_child(prog, body)
    assert exited(status, data) == 0, data
    assert data.decode().split("\n") == ["ok", "ls", "mkdir", "Seccomp:\t2", "NoNewPrivs:\t1", ""]


def denied_calls(w: int, listener: int | None) -> int:
    out = {
        "unshare_user": raw_syscall(sysno("unshare"), CLONE_NEWUSER),
        "mount": raw_syscall(sysno("mount"), 0, 0, 0, 0, 0),
        "keyctl": raw_syscall(sysno("keyctl"), 0, 0, 0, 0, 0),
        "clone3": raw_syscall(sysno("clone3"), 0, 0),
    }
    try:
        socket.socket(AF_VSOCK, socket.SOCK_STREAM).close()
        out["vsock"] = 0
    except OSError as exc:
        out["vsock"] = -(exc.errno or 0)
    return report(w, out)


def test_default_profile_denies_the_dangerous_calls() -> None:
    status, data, _ = in_child(compile_profile(default_profile()), denied_calls)
    assert exited(status, data) == 0, data
    assert json.loads(data) == {
        "unshare_user": -errno.EPERM,
        "mount": -errno.EPERM,
        "keyctl": -errno.EPERM,
        "clone3": -errno.ENOSYS,  # so that libc falls back to clone(2), whose flags we see
        "vsock": -errno.EPERM,
    }


def test_default_errno_ret_applies() -> None:
    status, data, _ = in_child(
        compile_profile(default_profile(defaultErrnoRet=errno.EACCES)), denied_calls
    )
    assert exited(status, data) == 0, data
    assert json.loads(data)["mount"] == -errno.EACCES
    assert json.loads(data)["keyctl"] == -errno.EACCES


@on_x86_64
def test_syscalls_newer_than_the_profile_get_enosys() -> None:
    doc = default_profile()
    top = max(sysno(n) for entry in doc["syscalls"] for n in entry["names"])
    mseal = 462  # x86_64, Linux 6.10; unknown to the profile
    if mseal <= top:
        pytest.skip("the profile names syscalls up to mseal")
    if raw_syscall(mseal, 0, 0, 0) == -errno.ENOSYS:
        pytest.skip("this kernel has no mseal(2)")

    def body(w: int, listener: int | None) -> int:
        return report(w, [raw_syscall(mseal, 0, 0, 0), raw_syscall(sysno("mount"), 0, 0, 0, 0, 0)])

    status, data, _ = in_child(compile_profile(doc), body)
    assert exited(status, data) == 0, data
    assert json.loads(data) == [-errno.ENOSYS, -errno.EPERM]


def test_forked_children_inherit_the_filter() -> None:
    prog = compile_profile(profile(rule(["getcwd"], "SCMP_ACT_ERRNO", errnoRet=errno.ENOLINK)))

    def body(w: int, listener: int | None) -> int:
        pid = os.fork()
        if pid == 0:
            os._exit(-raw_syscall(sysno("getcwd"), 0, 0) & 0xFF)
        _, status = os.waitpid(pid, 0)
        return os.WEXITSTATUS(status)

    status, data, _ = in_child(prog, body)
    assert exited(status, data) == errno.ENOLINK
