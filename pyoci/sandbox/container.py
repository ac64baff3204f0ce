"""A ``Popen``-shaped handle on one embedded container.

The container is set up by a helper process started by **exec** (never a fork
of the embedder running Python: see :mod:`pyoci.sandbox`), which stays as the
container's shim: it reaps the init, reports the exit status with the cgroup's
accounting, deletes the container on request, and deletes it by itself when
the embedder goes away.  Everything else (signals, pause, stats, update) is
done in the embedder's process, without forking.
"""

from __future__ import annotations

import _socket
import json
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import IO, Any

from pyoci.errors import ContainerNotFound, InvalidState, PyociError, SetupError
from pyoci.sandbox.config import Bundle, Config, parse_size
from pyoci.sandbox.results import Completed, Stats, TimeoutExpired, error_from

PIPE = subprocess.PIPE
DEVNULL = subprocess.DEVNULL
STDOUT = subprocess.STDOUT

StdioArg = int | IO[Any] | None


def default_root() -> str:
    """``/run/pyoci`` as root; ``$XDG_RUNTIME_DIR/pyoci`` rootless."""
    if os.geteuid() == 0:
        return "/run/pyoci"
    base = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/pyoci-{os.geteuid()}"
    return f"{base}/pyoci"


def _interpreter(entry: str) -> list[str]:
    """``python -I -S -c <entry>`` that finds this pyoci (and its dependencies)
    without site: no user site, no PYTHON* variables, no .pth side effects."""
    import pyoci

    here = os.path.dirname(os.path.dirname(os.path.abspath(pyoci.__file__)))
    paths = [here] + [
        p for p in sys.path if p and p != here and ("site-packages" in p or "dist-packages" in p)
    ]
    code = f"import sys;sys.path[:0]={paths!r};{entry}"
    return [sys.executable, "-I", "-S", "-c", code]


SHIM = "from pyoci.sandbox._shim import main;sys.exit(main(sys.argv[1:]))"


def _decode(data: bytes | None, encoding: str | None, errors: str | None) -> Any:
    if data is None:
        return None
    text = data.decode(encoding or "utf-8", errors or "strict")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def stdio_args(
    input: bytes | str | None,
    stdin: StdioArg,
    stdout: StdioArg,
    stderr: StdioArg,
    capture_output: bool,
) -> tuple[StdioArg, StdioArg, StdioArg]:
    """``input`` and ``capture_output`` as ``subprocess.run`` turns them into stdio."""
    if input is not None:
        if stdin is not None:
            raise ValueError("stdin and input arguments may not both be used.")
        stdin = PIPE
    if capture_output:
        if stdout is not None or stderr is not None:
            raise ValueError("stdout and stderr arguments may not be used with capture_output.")
        stdout = stderr = PIPE
    return stdin, stdout, stderr


class _Streams:
    """The embedder's ends of the ``PIPE`` streams (as ``Popen``'s attributes)."""

    def __init__(self) -> None:
        self.stdin: IO[bytes] | None = None
        self.stdout: IO[bytes] | None = None
        self.stderr: IO[bytes] | None = None

    def resolve(
        self, stdin: StdioArg, stdout: StdioArg, stderr: StdioArg
    ) -> tuple[list[int], list[int]]:
        """The container's fds 0, 1, 2 (as ``Popen`` reads its arguments), and
        those of them to close once sent."""
        to_close: list[int] = []

        def fd_of(arg: StdioArg, index: int) -> int:
            if arg is None:
                try:
                    os.fstat(index)
                    return index
                except OSError:
                    arg = DEVNULL  # the embedder's own is closed
            if arg == DEVNULL:
                fd = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
                to_close.append(fd)
                return fd
            if arg == PIPE:
                r, w = os.pipe2(os.O_CLOEXEC)
                if index == 0:
                    self.stdin = open(w, "wb", buffering=0)  # noqa: SIM115
                    to_close.append(r)
                    return r
                setattr(self, ("stdout", "stderr")[index - 1], open(r, "rb"))  # noqa: SIM115
                to_close.append(w)
                return w
            if isinstance(arg, int):
                if arg < 0:
                    raise ValueError(f"bad file descriptor {arg}")
                return arg
            return arg.fileno()

        try:
            fd0 = fd_of(stdin, 0)
            fd1 = fd_of(stdout, 1)
            fd2 = fd1 if stderr == STDOUT else fd_of(stderr, 2)
        except BaseException:
            for fd in to_close:
                os.close(fd)
            self.close()
            raise
        return [fd0, fd1, fd2], to_close

    def close(self) -> None:
        for f in (self.stdin, self.stdout, self.stderr):
            if f is not None:
                f.close()


FORKSERVER = "from pyoci.sandbox._forkserver import main;sys.exit(main(sys.argv[1:]))"
_server_lock = threading.Lock()
_server: tuple[int, _socket.socket, subprocess.Popen[bytes]] | None = None


# the largest config sent in the request (the fork server reads 64 KiB)
_INLINE_CONFIG_MAX = 48 * 1024


def _launch(request: list[str], fds: list[int]) -> subprocess.Popen[bytes] | None:
    """Start the shim of one container: by the fork server (default), or, with
    ``PYOCI_SANDBOX_LAUNCH=spawn``, as a process of its own (returned)."""
    if os.environ.get("PYOCI_SANDBOX_LAUNCH") == "spawn":
        return subprocess.Popen(
            [*_interpreter(SHIM), *request[:3], str(fds[3]), *request[3:]],
            stdin=fds[0], stdout=fds[1], stderr=fds[2], pass_fds=[fds[3]],
            start_new_session=True,  # the terminal's ^C is the embedder's to handle
        )
    from pyoci.util import jsonio
    from pyoci.util.fdpass import pack_fds

    data = jsonio.dumps(request).encode()
    rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, pack_fds(fds))]
    with _server_lock:
        for attempt in (1, 2):
            sock = _fork_server(restart=attempt == 2)
            try:
                sock.sendmsg([data], rights)
                return None
            except OSError:
                if attempt == 2:
                    raise
    return None


def _fork_server(restart: bool) -> _socket.socket:
    """The fork server of this process (started by exec on first use, again
    after a fork of the embedder or if it died)."""
    global _server
    if _server is not None and (
        restart or _server[0] != os.getpid() or _server[2].poll() is not None
    ):
        if _server[0] == os.getpid():
            _server[1].close()
            _server[2].wait()
        _server = None
    if _server is None:
        ours, theirs = _socket.socketpair(
            _socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC
        )
        try:
            proc = subprocess.Popen(
                [*_interpreter(FORKSERVER), str(theirs.fileno())],
                stdin=DEVNULL, stdout=DEVNULL, pass_fds=[theirs.fileno()],
                start_new_session=True,
            )
        finally:
            theirs.close()
        _server = (os.getpid(), ours, proc)
    return _server[1]


class _Pump:
    """Feed ``input`` to the container's stdin and collect its stdout/stderr
    (non-blocking fds; driven by poll or by an event loop)."""

    def __init__(self, proc: _Streams, data: bytes | None) -> None:
        self.writing: int | None = None
        self.data = memoryview(data or b"")
        self.pos = 0
        self.chunks: dict[int, list[bytes]] = {}
        self.names: dict[int, str] = {}
        if proc.stdin is not None:
            if data:
                self.writing = proc.stdin.fileno()
                os.set_blocking(self.writing, False)
            else:
                proc.stdin.close()
        for name in ("stdout", "stderr"):
            f = getattr(proc, name)
            if f is not None:
                fd = f.fileno()
                os.set_blocking(fd, False)
                self.chunks[fd] = []
                self.names[fd] = name
        self.open_readers = set(self.chunks)
        self.proc = proc
        self.max_output: int | None = None
        self.stored: dict[int, int] = {}
        self.truncated = False

    @property
    def done(self) -> bool:
        return self.writing is None and not self.open_readers

    def on_write(self) -> None:
        assert self.writing is not None
        try:
            n = os.write(self.writing, self.data[self.pos : self.pos + 65536])
        except BlockingIOError:
            return
        except BrokenPipeError:
            n = len(self.data)  # the container closed its stdin: as subprocess, ignore
        self.pos += n
        if self.pos >= len(self.data):
            self.writing = None
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass

    def on_read(self, fd: int) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        if not data:
            self.open_readers.discard(fd)
            return
        if self.max_output is not None:
            room = self.max_output - self.stored.get(fd, 0)
            if len(data) > room:
                data = data[: max(room, 0)]
                self.truncated = True
            self.stored[fd] = self.stored.get(fd, 0) + len(data)
        if data:
            self.chunks[fd].append(data)

    def output(self, name: str) -> bytes | None:
        for fd, n in self.names.items():
            if n == name:
                return b"".join(self.chunks[fd])
        return None


class Container:
    """One container, created (not started) by the constructor.

    ``stdin``/``stdout``/``stderr`` take what ``subprocess.Popen`` takes:
    None (inherit), ``DEVNULL``, ``PIPE``, an fd, a file object, and
    ``STDOUT`` for stderr.  With ``tty=True`` the process gets a terminal and
    ``pty`` is its master fd (stdio arguments are then ignored).
    Use it as a context manager: leaving the block kills and deletes the
    container, whatever ended it (exception, KeyboardInterrupt).

    Any thread may call any method, also while another waits: ``wait()`` in
    one thread does not hold back ``exec()``, ``kill()`` or ``delete()`` in
    others (one of them reads the shim's messages and files them for all).
    ``communicate()`` calls take turns, as ``Popen``'s should.  The ``*_async``
    methods are for one event loop's thread, where several tasks may await the
    same container (they share one reader of the shim's socket).
    """

    def __init__(
        self,
        config: Config,
        *,
        stdin: StdioArg = None,
        stdout: StdioArg = None,
        stderr: StdioArg = None,
        tty: bool = False,
        text: bool = False,
        encoding: str | None = None,
        errors: str | None = None,
        root: str | None = None,
        id: str | None = None,
        systemd_cgroup: bool = False,
        _wait: bool = True,
        _run: bool = False,
    ) -> None:
        from pyoci.ops.lifecycle import RuntimeOptions

        self.config = config
        self.args: list[str] = list(config.spec["process"]["args"])
        self.id = id or f"pyoci-{uuid.uuid4().hex[:16]}"
        self.root = root or default_root()
        self._opts = RuntimeOptions(
            self.root, systemd_cgroup=systemd_cgroup, rootless=config.rootless
        )
        self.pid: int | None = None
        self.returncode: int | None = None
        self.pty: int | None = None
        self.text_mode = bool(text or encoding or errors)
        self.encoding, self.errors = encoding, errors
        self.stdin: IO[Any] | None = None
        self.stdout: IO[Any] | None = None
        self.stderr: IO[Any] | None = None
        self.exit_stats: dict[str, Any] = {}
        self.created_at = time.monotonic()
        # Any thread may call any method.  One at a time reads the control
        # socket (``_reading``) and files what it got (exit statuses, answers by
        # request number) under ``_cond``; the others wait on ``_cond``.
        self._cond = threading.Condition(threading.Lock())
        self._reading = False
        self._sent = 0  # requests sent
        self._answered = 0  # answers received (the shim answers in order)
        self._answers: dict[int, dict[str, Any]] = {}
        self._shim_gone = False  # its end of the control socket is closed
        self._deleting = False  # a delete was asked for
        self._io_lock = threading.Lock()  # communicate(): one pump at a time
        self._ctl_future: Any = None  # asyncio: the shared readiness of the socket
        self._ctl_loop: Any = None
        self._pump: _Pump | None = None
        self._exec_status: dict[int, int] = {}  # pid -> wait status of exec'd processes
        #: bytes kept of each of stdout and stderr by ``communicate``; past it
        #: the container is killed and ``truncated`` set (None: no cap)
        self.max_output: int | None = None
        self.truncated = False
        self._deleted = False
        if tty:
            config = config.copy().terminal(True)
            stdin = stdout = stderr = DEVNULL
        spec = config.for_container(self.id)
        # Hooks get the state's bundle and may read its config.json: a real
        # bundle then.  Otherwise the shim gets the config in the request (no
        # bundle directory to make and remove), validated here as create
        # validates, and the bundle is the rootfs's directory.
        # (A config too big for one request, 64 KiB, goes in a bundle too.)
        self._bundle: Bundle | None = None
        config_text = ""
        if not spec.spec.get("hooks"):
            spec.validate()
            config_text = json.dumps(spec.spec)
            bundle_path = os.path.dirname(spec.spec["root"]["path"]) or "/"
        if not config_text or len(config_text) > _INLINE_CONFIG_MAX:
            config_text = ""
            self._bundle = spec.bundle()
            bundle_path = self._bundle.path
        ours, theirs = _socket.socketpair(
            _socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC
        )
        self._ctl = ours
        self._spawned: subprocess.Popen[bytes] | None = None
        # b: the bundle is pyoci's, the shim removes it if the embedder vanishes
        flags = "x" + ("b" if self._bundle else "") + ("t" if tty else "")
        flags += "r" if config.rootless else ""
        flags += "s" if systemd_cgroup else ""
        # run(): the shim starts the container at once and deletes it when it exits
        flags += "ad" if _run else ""
        self._shim_deleted = False  # (so the embedder only tidies up its side)
        self._streams = _Streams()
        try:
            child, to_close = self._streams.resolve(stdin, stdout, stderr)
            try:
                request = [self.root, self.id, bundle_path, flags, config_text]
                self._spawned = _launch(request, [*child, theirs.fileno()])
            finally:
                theirs.close()
                for fd in to_close:
                    os.close(fd)
        except BaseException:
            ours.close()
            self._streams.close()
            if self._bundle is not None:
                self._bundle.remove()
            raise
        self._wrap_streams()
        if _wait:
            try:
                self._created(self._recv_raw())
            except BaseException:
                self._abandon()
                raise

    # ------------------------------------------------------------ plumbing

    def _wrap_streams(self) -> None:
        import io

        for name in ("stdin", "stdout", "stderr"):
            raw = getattr(self._streams, name)
            if raw is not None and self.text_mode:
                raw = io.TextIOWrapper(
                    raw, encoding=self.encoding or "utf-8", errors=self.errors or "strict",
                    write_through=name == "stdin",
                )
            setattr(self, name, raw)

    def _created(self, msg: dict[str, Any]) -> None:
        if "created" not in msg:
            raise error_from(msg) if "error" in msg else SetupError(f"shim: {msg}")
        self.pid = int(msg["created"])
        self.setup_time = float(msg.get("took") or 0.0)
        fds = msg.get("_fds") or []
        if fds:
            self.pty = fds[0]

    def _abandon(self) -> None:
        """Creation failed or was interrupted: the shim deletes on EOF."""
        self._deleted = True
        try:
            # our EOF makes the shim delete the container; its EOF says it is done
            self._ctl.shutdown(_socket.SHUT_WR)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if select.select([self._ctl], [], [], 1)[0] and not self._ctl.recv(65536):
                    break
        except OSError:
            pass
        self._drop_ctl_reader()
        self._ctl.close()
        if self._spawned is not None:
            self._spawned.wait()
        # the shim is gone: if it died before deleting (killed), delete here
        from pyoci.ops import lifecycle

        try:
            lifecycle.delete(self._opts, self.id, force=True)
        except (OSError, PyociError):
            pass
        self._close_streams()
        if self._bundle is not None:
            self._bundle.remove()

    def _recv_raw(self) -> dict[str, Any]:
        """Read one message (blocking); ``{"eof": True}`` once the shim has
        closed its end (after a delete, or it vanished: ``_check_gone`` tells)."""
        from pyoci.util import jsonio
        from pyoci.util.fdpass import cmsg_space, unpack_fds

        data, anc, _flags, _addr = self._ctl.recvmsg(65536, cmsg_space(1))
        fds: list[int] = []
        for level, kind, payload in anc:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                fds += unpack_fds(payload)
        if not data:
            return {"eof": True}
        msg: dict[str, Any] = jsonio.loads(data)
        if fds:
            for fd in fds:
                os.set_inheritable(fd, False)
            msg["_fds"] = fds
        return msg

    def _apply(self, msg: dict[str, Any]) -> None:
        """File a message (``_cond`` held, or from the event loop's thread)."""
        if msg.get("eof"):
            self._shim_gone = True
            return
        if "exec_exited" in msg:
            self._exec_status[int(msg["exec_exited"])] = int(msg["status"])
        if msg.get("deleted"):
            self._shim_deleted = True
        if "exited" in msg:
            self.exit_stats = msg.get("stats") or {}
            self.returncode = os.waitstatus_to_exitcode(int(msg["exited"]))
        if "ok" in msg or "error" in msg or "exec_started" in msg:
            self._answers[self._answered] = msg
            self._answered += 1

    def _read_message(self) -> dict[str, Any]:
        """Read and file one message (the asyncio methods: one thread)."""
        msg = self._recv_raw()
        self._apply(msg)
        return msg

    def _progress(self, timeout: float | None) -> bool:
        """With ``_cond`` held: read and file one message within ``timeout``
        (None: no limit), or, while another thread reads, wait for it to file
        one.  False when nothing came (or the shim is gone)."""
        if self._shim_gone:
            return False
        if self._reading:
            return self._cond.wait(timeout)
        self._reading = True
        msg = None
        self._cond.release()
        try:
            if timeout is None or select.select([self._ctl], [], [], max(0.0, timeout))[0]:
                msg = self._recv_raw()
        finally:
            self._cond.acquire()
            self._reading = False
            if msg is not None:
                self._apply(msg)
            self._cond.notify_all()
        return msg is not None and not msg.get("eof")

    def _check_gone(self) -> None:
        if self._deleted or (self._shim_gone and (self._deleting or self._shim_deleted)):
            raise InvalidState(f"container {self.id} was deleted")
        if self._shim_gone:
            raise SetupError(f"container {self.id}: its shim exited unexpectedly")

    def _send(self, op: str, fds: Sequence[int], fields: Mapping[str, Any]) -> int:
        """Send a request (``_cond`` held); its number, to find its answer by."""
        from pyoci.util import jsonio

        if self._deleted or self._shim_gone:
            raise ContainerNotFound(self.id)
        data = jsonio.dumps({"op": op, **fields}).encode()
        try:
            if fds:
                from pyoci.util.fdpass import pack_fds

                rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, pack_fds(list(fds)))]
                self._ctl.sendmsg([data], rights)
            else:
                self._ctl.send(data)
        except OSError as exc:
            gone = f"container {self.id}: its shim is gone ({exc.strerror})"
            raise SetupError(gone) from None
        self._sent += 1
        if op == "delete":
            self._deleting = True
        return self._sent - 1

    def _request(self, op: str, fds: Sequence[int] = (), **fields: Any) -> dict[str, Any]:
        """Send a request (with ``fds`` by SCM_RIGHTS) and return its answer."""
        with self._cond:
            ticket = self._send(op, fds, fields)
            while ticket not in self._answers:
                if self._shim_gone:
                    raise SetupError(f"container {self.id}: its shim exited unexpectedly")
                self._progress(None)
            msg = self._answers.pop(ticket)
        if "error" in msg:
            raise error_from(msg)
        return msg

    def _pump_until(self, pump: _Pump, done: Any, deadline: float | None) -> bool:
        """Move ``pump``'s data (and read the control socket when no other
        thread does) until ``done()``; False if ``deadline`` passed first."""
        while True:
            with self._cond:
                if done():
                    return True
                reader = not self._reading and not self._shim_gone and not done()
                if reader:
                    self._reading = True
            rlist: list[Any] = list(pump.open_readers)
            if reader:
                rlist.append(self._ctl)
            wlist = [pump.writing] if pump.writing is not None else []
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not reader:  # another thread files the messages: look again soon
                remaining = 0.05 if remaining is None else min(remaining, 0.05)
            msg = None
            try:
                r, w, _x = select.select(rlist, wlist, [], remaining)
                if reader and self._ctl in r:
                    msg = self._recv_raw()
            finally:
                if reader:
                    with self._cond:
                        self._reading = False
                        if msg is not None:
                            self._apply(msg)
                        self._cond.notify_all()
            if not r and not w and deadline is not None and time.monotonic() >= deadline:
                return False
            if w:
                pump.on_write()
            for item in r:
                if item is not self._ctl:
                    pump.on_read(item)
                    self._check_output_cap(pump)
            if not rlist and not wlist and not reader:
                with self._cond:  # nothing to pump: wait for the reader's news
                    if not done():
                        self._cond.wait(remaining)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Run the container's process (``pyoci start``)."""
        self._request("start")

    def poll(self) -> int | None:
        with self._cond:
            while (
                self.returncode is None and not self._deleted and not self._reading
                and self._progress(0)
            ):
                pass
            return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to exit and return its returncode (``-N`` for
        signal N).  On timeout raise ``TimeoutExpired``; it keeps running."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self.returncode is None:
                self._check_gone()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutExpired(self.args, timeout or 0.0)
                self._progress(remaining)
            return self.returncode

    def communicate(
        self, input: bytes | str | None = None, timeout: float | None = None
    ) -> tuple[Any, Any]:
        """As ``Popen.communicate``: send ``input``, read stdout/stderr to EOF,
        wait for the exit.  On timeout raise ``TimeoutExpired`` (with the output
        so far); the container keeps running and a later call goes on."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._io_lock:
            pump = self._get_pump(input)

            def done() -> bool:
                gone = self._deleted or self._shim_gone
                return pump.done and (self.returncode is not None or gone)

            if not self._pump_until(pump, done, deadline):
                out, err = self._outputs(pump)
                raise TimeoutExpired(self.args, timeout or 0.0, out, err)
            return self._outputs(pump)

    def _get_pump(self, input: bytes | str | None) -> _Pump:
        if self._pump is None:
            if isinstance(input, str):
                input = input.encode(self.encoding or "utf-8", self.errors or "strict")
            self._pump = _Pump(self._streams, input)
            self._pump.max_output = self.max_output
        return self._pump

    def _check_output_cap(self, pump: _Pump) -> None:
        """Past ``max_output``: kill the container (its output is cut there)."""
        if pump.truncated and not self.truncated:
            self.truncated = True
            self.kill()

    def _outputs(self, pump: _Pump) -> tuple[Any, Any]:
        out, err = pump.output("stdout"), pump.output("stderr")
        if self.text_mode:
            enc, errs = self.encoding, self.errors
            return _decode(out, enc, errs), _decode(err, enc, errs)
        return out, err

    def send_signal(self, sig: int) -> None:
        """Signal the container's init (nothing when it has exited)."""
        from pyoci.errors import ContainerNotRunning
        from pyoci.ops import lifecycle

        try:
            lifecycle.kill(self._opts, self.id, int(sig))
        except (ContainerNotRunning, ContainerNotFound):
            pass  # it has exited (and run()'s shim may have deleted it): as Popen

    def terminate(self) -> None:
        self.send_signal(15)

    def kill(self, sig: int = 9) -> None:
        """Send ``sig`` (default SIGKILL) to every process of the container."""
        from pyoci.errors import ContainerNotRunning
        from pyoci.ops import lifecycle

        try:
            lifecycle.kill(self._opts, self.id, int(sig), all_processes=True)
        except (ContainerNotRunning, ContainerNotFound):
            pass

    def delete(self, force: bool = False) -> None:
        """Delete the container (``force``: kill it first) and everything pyoci
        made for it: state, cgroup, bundle, shim.  Idempotent."""
        with self._cond:
            if self._deleted:
                return
            shim_deleted = self._shim_deleted or self._shim_gone
        if not shim_deleted:
            self._request("delete", force=force)
        self._tidy()

    def _tidy(self) -> None:
        """The embedder's side of a delete, once (another thread may race us)."""
        with self._cond:
            if self._deleted:
                return
            while self._reading:  # (it reads the shim's EOF now)
                self._cond.wait(1.0)
            self._finish_delete()
            self._cond.notify_all()

    def _finish_delete(self) -> None:
        self._deleted = True
        self._drop_ctl_reader()
        self._ctl.close()
        if self._spawned is not None:
            self._spawned.wait()
        self._close_streams()
        if self._bundle is not None:
            self._bundle.remove()

    def _close_streams(self) -> None:
        for f in (self.stdin, self.stdout, self.stderr):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass
        if self.pty is not None:
            os.close(self.pty)
            self.pty = None

    def __enter__(self) -> Container:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        try:
            self.close()
        except Exception:
            if exc_type is None:
                raise
            # the body's exception is the one to see; the shim deletes on our EOF

    def close(self) -> None:
        """Kill and delete, never raising for a container already gone."""
        if self._deleted:
            return
        try:
            self.delete(force=True)
        except BaseException:
            # the shim is gone or the delete failed: closing our end makes a
            # live shim delete by itself; make sure nothing stays on our side
            self._abandon()
            raise

    # ------------------------------------------------------------ cgroup verbs

    @property
    def state(self) -> str:
        """``created``, ``running``, ``paused``, ``stopped``, or ``deleted``."""
        if self._deleted or self._shim_deleted:
            return "deleted"
        from pyoci.ops import lifecycle

        return lifecycle.state(self._opts, self.id).status

    def pause(self) -> None:
        from pyoci.ops import cgroup_verbs as cgroup_verbs

        cgroup_verbs.pause(self._opts, self.id)

    def resume(self) -> None:
        from pyoci.ops import cgroup_verbs as cgroup_verbs

        cgroup_verbs.resume(self._opts, self.id)

    def update(
        self,
        resources: Mapping[str, Any] | None = None,
        *,
        memory: int | str | None = None,
        pids: int | None = None,
        cpus: float | None = None,
    ) -> list[str]:
        """Change limits of the live container (a partial ``linux.resources``
        and/or the ``run()`` shorthands).  Returns warnings."""
        from pyoci.ops import cgroup_verbs as cgroup_verbs

        patch: dict[str, Any] = dict(resources or {})
        if memory is not None:
            size = parse_size(memory)
            patch["memory"] = {"limit": size, "swap": size}
        if pids is not None:
            patch["pids"] = {"limit": pids}
        if cpus is not None:
            patch["cpu"] = {"quota": max(1000, int(cpus * 100_000)), "period": 100_000}
        return cgroup_verbs.update(self._opts, self.id, patch)

    def processes(self) -> list[int]:
        """Host pids of the container's processes."""
        from pyoci.ops import cgroup_verbs as cgroup_verbs

        return cgroup_verbs.processes(self._opts, self.id)

    def stats(self) -> Stats:
        from pyoci.sandbox._shim import cgroup_stats

        return _stats(cgroup_stats(self._opts, self.id))

    # ------------------------------------------------------------ exec

    def exec(
        self,
        args: Sequence[str],
        *,
        input: bytes | str | None = None,
        stdin: StdioArg = None,
        stdout: StdioArg = None,
        stderr: StdioArg = None,
        capture_output: bool = False,
        timeout: float | None = None,
        check: bool = False,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        user: int | str | None = None,
        text: bool = False,
        encoding: str | None = None,
        errors: str | None = None,
    ) -> Completed:
        """Run another process in the container and wait for it, as
        ``subprocess.run`` (stdio, ``input``, ``capture_output``, ``text``,
        ``check``).  The shim starts it (the embedder is not forked) and
        reports its wait status: a process killed by signal N returns ``-N``.

        ``timeout``: the process and every process it started are killed (the
        rest of the container keeps running), then :class:`TimeoutExpired` is
        raised with the output so far and ``result`` (``timed_out``, ``-9``).
        Any thread may exec while others exec, wait or signal."""
        stdin, stdout, stderr = stdio_args(input, stdin, stdout, stderr, capture_output)
        data, fields = _exec_request(args, input, env, cwd, user, encoding, errors)
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        streams = _Streams()
        timed_out = False
        child, to_close = streams.resolve(stdin, stdout, stderr)
        try:
            try:
                reply = self._request("exec", fds=child, **fields)
            finally:
                for fd in to_close:
                    os.close(fd)
            pid = int(reply["exec_started"])
            pump = _Pump(streams, data)

            def done() -> bool:
                if self._shim_gone and pid not in self._exec_status:
                    raise SetupError(f"container {self.id}: its shim exited during exec")
                return pump.done and pid in self._exec_status

            if not self._pump_until(pump, done, deadline):
                timed_out = True
                self._request("exec_kill", pid=pid)
                if pump.writing is not None:
                    pump.writing = None
                    assert streams.stdin is not None
                    streams.stdin.close()
                # killed: what is in the pipes, not an EOF that a process it
                # started elsewhere may hold back (subprocess.run does not
                # wait for it either)
                self._pump_until(pump, lambda: pid in self._exec_status, None)
                _drain(pump)
            with self._cond:
                status = self._exec_status.pop(pid)
        finally:
            streams.close()
        return self._exec_result(
            args, status, pump, started, timed_out, timeout, check, text, encoding, errors
        )

    def _exec_result(
        self,
        args: Sequence[str],
        status: int,
        pump: _Pump,
        started: float,
        timed_out: bool,
        timeout: float | None,
        check: bool,
        text: bool,
        encoding: str | None,
        errors: str | None,
    ) -> Completed:
        out, err = pump.output("stdout"), pump.output("stderr")
        if text or encoding or errors:
            out, err = _decode(out, encoding, errors), _decode(err, encoding, errors)
        result = Completed(
            list(args), os.waitstatus_to_exitcode(status), out, err, id=self.id,
            timed_out=timed_out, duration=time.monotonic() - started,
        )
        if timed_out:
            raise TimeoutExpired(result.args, timeout or 0.0, out, err, result)
        if check:
            result.check_returncode()
        return result

    # ------------------------------------------------------------ asyncio

    @classmethod
    async def create_async(cls, config: Config, **kw: Any) -> Container:
        """The constructor without blocking the event loop while the shim sets up."""
        import asyncio

        self = cls(config, _wait=False, **kw)  # (_run passes through kw)
        try:
            await asyncio.wait([self._ctl_ready()])
            self._created(self._recv_raw())
        except BaseException:
            self._abandon()
            raise
        return self

    def _ctl_ready(self) -> Any:
        """A future done when the control socket is readable, shared by every
        task of the loop waiting on it (a second ``add_reader`` on the fd would
        replace the first: a waiting task would never wake)."""
        import asyncio

        loop = asyncio.get_running_loop()
        fut = self._ctl_future
        if fut is not None and not fut.done():
            return fut
        fut = loop.create_future()
        if self._shim_gone:
            fut.set_result(None)
            return fut
        fd = self._ctl.fileno()

        def ready() -> None:
            loop.remove_reader(fd)
            if not fut.done():
                fut.set_result(None)

        loop.add_reader(fd, ready)
        self._ctl_future, self._ctl_loop = fut, loop
        return fut

    def _drop_ctl_reader(self) -> None:
        """Before the control socket is closed: no reader may stay on the loop."""
        fut, loop = self._ctl_future, self._ctl_loop
        self._ctl_future = self._ctl_loop = None
        if fut is not None and not fut.done() and loop is not None:
            try:
                loop.remove_reader(self._ctl.fileno())
            except (RuntimeError, ValueError, OSError):
                pass  # (its loop is closed, or another thread's)
            fut.cancel()

    async def _next(self, *others: Any) -> None:
        """Wait until the control socket is readable (or one of ``others`` is
        done), then file every message it holds, without blocking."""
        import asyncio

        await asyncio.wait([self._ctl_ready(), *others], return_when=asyncio.FIRST_COMPLETED)
        self._drain_ctl()

    def _drain_ctl(self) -> None:
        """File every message the control socket holds, without blocking; if
        any, wake the other tasks parked on the shared readiness future: woken
        by ``others`` (a pipe of the pump, say), this task may have read what
        made the socket readable before the loop saw it, and they would wait
        for the next message (there may be none: a container that has exited
        is only deleted when asked)."""
        got = False
        while not self._shim_gone and select.select([self._ctl], [], [], 0)[0]:
            self._read_message()
            got = True
        fut, loop = self._ctl_future, self._ctl_loop
        if got and fut is not None and not fut.done() and loop is not None:
            try:
                loop.remove_reader(self._ctl.fileno())
            except (RuntimeError, ValueError, OSError):
                pass
            fut.set_result(None)

    async def wait_async(self) -> int:
        """``wait()`` for asyncio: readiness of the shim's socket on the loop (the
        shim learns of the exit from a pidfd), no thread."""
        while self.returncode is None:
            self._check_gone()
            await self._next()
        return self.returncode

    async def communicate_async(self, input: bytes | str | None = None) -> tuple[Any, Any]:
        """``communicate()`` for asyncio (no timeout: use ``asyncio.timeout``)."""
        pump = self._get_pump(input)
        await self._pump_async(
            pump, lambda: pump.done and (self.returncode is not None or self._shim_gone)
        )
        return self._outputs(pump)

    async def _pump_async(self, pump: _Pump, done: Any) -> None:
        """``_pump_until`` on the event loop: move ``pump``'s data and file the
        shim's messages until ``done()``."""
        import asyncio
        import functools

        loop = asyncio.get_running_loop()
        while not done():
            fut: asyncio.Future[tuple[str, Any]] = loop.create_future()
            ready = functools.partial(_settle, fut)
            readers = list(pump.open_readers)
            for fd in readers:
                loop.add_reader(fd, ready, "r", fd)
            writer = pump.writing
            if writer is not None:
                loop.add_writer(writer, ready, "w", writer)
            try:
                if not self._shim_gone:
                    await self._next(fut)
                else:
                    await fut
            finally:
                for r in readers:
                    loop.remove_reader(r)
                if writer is not None:
                    loop.remove_writer(writer)
            if fut.done():
                kind, fd = fut.result()
                if kind == "w":
                    pump.on_write()
                else:
                    pump.on_read(fd)
                    self._check_output_cap(pump)

    async def exec_async(
        self,
        args: Sequence[str],
        *,
        input: bytes | str | None = None,
        stdin: StdioArg = None,
        stdout: StdioArg = None,
        stderr: StdioArg = None,
        capture_output: bool = False,
        timeout: float | None = None,
        check: bool = False,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        user: int | str | None = None,
        text: bool = False,
        encoding: str | None = None,
        errors: str | None = None,
    ) -> Completed:
        """``exec()`` for asyncio.  A timeout, or cancelling the task, kills the
        process and what it started (the container runs on); cancelling then
        re-raises ``CancelledError``."""
        import asyncio

        stdin, stdout, stderr = stdio_args(input, stdin, stdout, stderr, capture_output)
        data, fields = _exec_request(args, input, env, cwd, user, encoding, errors)
        started = time.monotonic()
        streams = _Streams()
        timed_out = False
        child, to_close = streams.resolve(stdin, stdout, stderr)
        try:
            try:
                ticket = self._send("exec", child, fields)
            finally:
                for fd in to_close:
                    os.close(fd)
            reply = await self._answer_async(ticket)
            pid = int(reply["exec_started"])
            pump = _Pump(streams, data)

            def done() -> bool:
                if self._shim_gone and pid not in self._exec_status:
                    raise SetupError(f"container {self.id}: its shim exited during exec")
                return pump.done and pid in self._exec_status

            cancelled = False
            try:
                await asyncio.wait_for(self._pump_async(pump, done), timeout)
            except (TimeoutError, asyncio.CancelledError) as exc:
                cancelled = isinstance(exc, asyncio.CancelledError)
                timed_out = not cancelled
                await self._request_async("exec_kill", pid=pid)
                if pump.writing is not None:
                    pump.writing = None
                    assert streams.stdin is not None
                    streams.stdin.close()
                await self._pump_async(pump, lambda: pid in self._exec_status)
                _drain(pump)
                if cancelled:
                    self._exec_status.pop(pid, None)
                    raise
            status = self._exec_status.pop(pid)
        finally:
            streams.close()
        return self._exec_result(
            args, status, pump, started, timed_out, timeout, check, text, encoding, errors
        )

    async def _request_async(self, op: str, **fields: Any) -> None:
        await self._answer_async(self._send(op, (), fields))

    async def _answer_async(self, ticket: int) -> dict[str, Any]:
        while ticket not in self._answers:
            if self._shim_gone:
                raise SetupError(f"container {self.id}: its shim exited unexpectedly")
            await self._next()
        msg = self._answers.pop(ticket)
        if "error" in msg:
            raise error_from(msg)
        return msg

    async def start_async(self) -> None:
        """``start()`` without blocking the event loop."""
        await self._request_async("start")

    async def delete_async(self, force: bool = False) -> None:
        """``delete()`` without blocking the event loop."""
        if self._deleted:
            return
        if not self._shim_deleted:
            await self._request_async("delete", force=force)
        self._finish_delete()

    async def __aenter__(self) -> Container:
        return self

    async def __aexit__(self, exc_type: object, *exc: object) -> None:
        if not self._deleted:
            try:
                await self.delete_async(force=True)
            except BaseException as err:
                self._abandon()
                if exc_type is None or not isinstance(err, Exception):
                    raise

    def result(
        self, stdout: Any = None, stderr: Any = None, *, timed_out: bool = False
    ) -> Completed:
        """The ``Completed`` of an exited container."""
        if self.returncode is None:
            raise InvalidState(f"container {self.id} has not exited")
        s = _stats(self.exit_stats)
        return Completed(
            self.args, self.returncode, stdout, stderr, id=self.id, timed_out=timed_out,
            truncated=self.truncated,
            oom_killed=s.oom_kills > 0, memory_peak=s.memory_peak, cpu_time=s.cpu_time,
            duration=time.monotonic() - self.created_at,
        )


def _exec_request(
    args: Sequence[str],
    input: bytes | str | None,
    env: Mapping[str, str] | None,
    cwd: str | None,
    user: int | str | None,
    encoding: str | None,
    errors: str | None,
) -> tuple[bytes | None, dict[str, Any]]:
    """``input`` as bytes and the fields of an ``exec`` request."""
    if isinstance(input, str):
        input = input.encode(encoding or "utf-8", errors or "strict")
    fields: dict[str, Any] = {"args": list(args)}
    if env:
        fields["env"] = [f"{k}={v}" for k, v in env.items()]
    if cwd:
        fields["cwd"] = cwd
    if user is not None:
        from pyoci.sandbox.config import parse_user

        ids = parse_user(user)
        fields["user"] = f"{ids['uid']}:{ids['gid']}"
    return input, fields


def _drain(pump: _Pump) -> None:
    """Read what the pipes hold now, without waiting for their end."""
    for fd in list(pump.open_readers):
        while fd in pump.open_readers and select.select([fd], [], [], 0)[0]:
            before = sum(len(c) for c in pump.chunks[fd])
            pump.on_read(fd)
            if sum(len(c) for c in pump.chunks[fd]) == before and fd in pump.open_readers:
                break


def _settle(fut: Any, kind: str, what: Any) -> None:
    if not fut.done():
        fut.set_result((kind, what))


def _stats(raw: Mapping[str, Any]) -> Stats:
    return Stats(
        memory_current=int(raw.get("memory_current") or 0),
        memory_peak=raw.get("memory_peak"),
        cpu_time=int(raw.get("cpu_ns") or 0) / 1e9,
        pids_current=int(raw.get("pids") or 0),
        oom_kills=int(raw.get("oom_kills") or 0),
    )


__all__ = ["DEVNULL", "PIPE", "STDOUT", "Container", "PyociError", "default_root"]
