"""Terminals, as runc's: ``process.terminal`` with ``--console-socket`` (create and
exec), and ``run``/``exec`` wiring the caller's terminal when there is no socket.

With a console socket the pty is made inside the container; its master goes to
the socket with SCM_RIGHTS and the payload ``/dev/ptmx``; ``consoleSize`` is
applied; the slave is the process's stdio and controlling terminal.
"""

from __future__ import annotations

import array
import fcntl
import json
import os
import select
import shlex
import shutil
import socket
import struct
import subprocess
import termios
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import Bundle, RuntimeCLI, wait_for

pytestmark = pytest.mark.root

BOTH = pytest.mark.parametrize("rt_name", ["pyoci", "runc"])
Factory = Callable[..., Bundle]
TIOCGPTN = 0x80045430

# what the process reports about its terminal (same output expected everywhere)
PROBE = (
    "tty; stty size; for f in 0 1 2; do readlink /proc/self/fd/$f; done;"
    " echo via-controlling-tty > /dev/tty;"
    ' [ "$(cut -d" " -f6 /proc/self/stat)" != 0 ] && echo has-ctty'
)
PROBE_OUT = [
    "/dev/pts/0", "33 77", "/dev/pts/0", "/dev/pts/0", "/dev/pts/0",
    "via-controlling-tty", "has-ctty",
]  # fmt: skip


@pytest.fixture
def rt(request: pytest.FixtureRequest) -> RuntimeCLI:
    fixture: RuntimeCLI = request.getfixturevalue(request.node.callspec.params["rt_name"])
    return fixture


def make(
    rt: RuntimeCLI,
    factory: Factory,
    rootfs: Path,
    args: list[str],
    *,
    terminal: bool = True,
    mutate: Callable[[dict[str, Any]], None] | None = None,
) -> Bundle:
    def m(cfg: dict[str, Any]) -> None:
        cfg["root"]["path"] = str(rootfs)  # runc refuses a symlinked rootfs
        cfg["process"]["terminal"] = terminal
        cfg["process"]["consoleSize"] = {"height": 33, "width": 77}
        cfg["process"]["env"] = ["PATH=/bin", "TERM=dumb", "HOME=/root"]
        if mutate is not None:
            mutate(cfg)

    return factory(args, mutate=m)


class ConsoleSocket:
    """The engine's side of --console-socket: accept, receive one fd and its name."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(1)

    def receive(self, timeout: float = 10) -> tuple[str, list[int]]:
        self.sock.settimeout(timeout)
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(timeout)
            fds = array.array("i")
            msg, anc, _flags, _addr = conn.recvmsg(4096, socket.CMSG_SPACE(4 * fds.itemsize))
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
        return msg.decode(), list(fds)

    def close(self) -> None:
        self.sock.close()


def read_all(master: int, timeout: float = 20) -> str:
    """Everything the process writes to its terminal, until its side closes."""
    got = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the last slave fd is closed
            break
        if not chunk:
            break
        got += chunk
    return got.decode(errors="replace").replace("\r\n", "\n")


def check_master(name: str, fds: list[int]) -> int:
    assert name == "/dev/ptmx", name
    assert len(fds) == 1, fds
    master = fds[0]
    # a pty master: it knows its slave's number; consoleSize is set on it
    fcntl.ioctl(master, TIOCGPTN, b"\0" * 4)
    rows, cols = struct.unpack("HHHH", fcntl.ioctl(master, termios.TIOCGWINSZ, b"\0" * 8))[:2]
    assert (rows, cols) == (33, 77)
    return master


# ----------------------------------------------------------- --console-socket


@BOTH
def test_create_console_socket(rt: RuntimeCLI, rt_name: str, bundle_factory: Factory,
                               rootfs: Path, workdir: Path) -> None:  # fmt: skip
    b = make(rt, bundle_factory, rootfs, ["sh", "-c", PROBE + "; exit 3"])
    cs = ConsoleSocket(workdir / f"console-{rt_name}.sock")
    try:
        res = rt("create", "--bundle", str(b.path), "--console-socket", str(cs.path), "tc")
        assert res.code == 0, res
        name, fds = cs.receive()
    finally:
        cs.close()
    master = check_master(name, fds)
    try:
        rt("start", "tc", check=True)
        out = read_all(master)
    finally:
        os.close(master)
    assert out.splitlines() == PROBE_OUT, out
    assert wait_for(lambda: rt.state("tc")["status"] == "stopped")
    rt("delete", "tc", check=True)


@BOTH
def test_exec_console_socket(rt: RuntimeCLI, rt_name: str, bundle_factory: Factory,
                             rootfs: Path, workdir: Path) -> None:  # fmt: skip
    b = make(rt, bundle_factory, rootfs, ["sleep", "1000"], terminal=False)
    rt("run", "-d", "--bundle", str(b.path), "te", check=True)
    process = {
        "terminal": True,
        "consoleSize": {"height": 33, "width": 77},
        "args": ["sh", "-c", PROBE + "; exit 3"],
        "env": ["PATH=/bin", "TERM=dumb"],
        "cwd": "/",
    }
    pfile = workdir / f"process-{rt_name}.json"
    pfile.write_text(json.dumps(process))
    pid_file = workdir / f"exec-{rt_name}.pid"
    cs = ConsoleSocket(workdir / f"console-{rt_name}.sock")
    try:
        res = rt("exec", "--process", str(pfile), "--detach", "--pid-file", str(pid_file),
                 "--console-socket", str(cs.path), "te")  # fmt: skip
        assert res.code == 0, res
        name, fds = cs.receive()
    finally:
        cs.close()
    master = check_master(name, fds)
    try:
        assert int(pid_file.read_text()) > 0
        out = read_all(master)
    finally:
        os.close(master)
    assert out.splitlines() == PROBE_OUT, out
    # the same through the flags (exec -t): consoleSize is not inherited
    cs = ConsoleSocket(workdir / f"console2-{rt_name}.sock")
    try:
        res = rt("exec", "-t", "-d", "--console-socket", str(cs.path), "te", "sh", "-c",
                 "tty; stty size")  # fmt: skip
        assert res.code == 0, res
        name, fds = cs.receive()
    finally:
        cs.close()
    assert name == "/dev/ptmx" and len(fds) == 1
    try:
        assert read_all(fds[0]).splitlines()[0].startswith("/dev/pts/")
    finally:
        os.close(fds[0])


@BOTH
def test_console_socket_misuse(rt: RuntimeCLI, rt_name: str, bundle_factory: Factory,
                               rootfs: Path, workdir: Path) -> None:  # fmt: skip
    b = make(rt, bundle_factory, rootfs, ["true"])
    res = rt("create", "--bundle", str(b.path), "m1")
    assert res.code == 1, res
    assert f"cannot allocate tty if {rt_name} will detach without setting console socket" in (
        res.err
    ), res
    res = rt("run", "-d", "--bundle", str(b.path), "m1")
    assert res.code == 1 and "without setting console socket" in res.err, res
    b2 = make(rt, bundle_factory, rootfs, ["true"], terminal=False)
    cs = ConsoleSocket(workdir / f"console-{rt_name}.sock")
    try:
        res = rt("create", "--bundle", str(b2.path), "--console-socket", str(cs.path), "m2")
    finally:
        cs.close()
    assert res.code == 1, res
    assert f"cannot use console socket if {rt_name} will not detach or allocate tty" in res.err
    assert not (rt.root / "m1").exists() and not (rt.root / "m2").exists()


# ---------------------------------------------------- the caller's own terminal


def under_script(
    cmd: list[str], stdin_text: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    if shutil.which("script") is None:
        pytest.skip("script is not installed (Debian package bsdutils)")
    return subprocess.run(
        ["script", "-qec", shlex.join(cmd), "/dev/null"],
        input=stdin_text,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@BOTH
def test_run_with_terminal_wires_the_callers_terminal(
    rt: RuntimeCLI, rt_name: str, bundle_factory: Factory, rootfs: Path
) -> None:
    """``run`` with terminal: true and no --console-socket, under script(1): the
    caller's terminal is the container's (both directions), exit code passed on."""
    b = make(rt, bundle_factory, rootfs, ["sh", "-c", "tty; read x; echo got $x; exit 6"])
    proc = under_script([*rt.global_args(), "run", "--bundle", str(b.path), "tr"], "hello\n")
    assert proc.returncode == 6, proc
    out = proc.stdout.replace("\r\n", "\n")
    assert "/dev/pts/0\n" in out and "got hello\n" in out, proc
    assert not (rt.root / "tr").exists()


@BOTH
def test_exec_tty_wires_the_callers_terminal(
    rt: RuntimeCLI, rt_name: str, bundle_factory: Factory, rootfs: Path
) -> None:
    b = make(rt, bundle_factory, rootfs, ["sleep", "1000"], terminal=False)
    rt("run", "-d", "--bundle", str(b.path), "tx", check=True)
    proc = under_script(
        [*rt.global_args(), "exec", "-t", "tx", "sh", "-c",
         "tty; read x; echo got $x; echo x > /dev/tty && echo ctty; exit 2"],
        "hi there\n",
    )  # fmt: skip
    assert proc.returncode == 2, proc
    out = proc.stdout.replace("\r\n", "\n")
    assert "/dev/pts/0\n" in out and "got hi there\n" in out and "ctty\n" in out, proc
