"""The ``pyoci`` command: runc-compatible global flags, one module per verb.

This is the one error boundary: a ``PyociError`` becomes exit status 1, one
line on stderr per problem, and a JSON (or text) ``level=error`` line in the
``--log`` file, which containerd's shim shows to users.
"""

from __future__ import annotations

import posix  # not os, for the short commands: pyoci.util.lean_os says why
import sys

from pyoci.cli.args import BOOL, STRING, Flag, Parsed, parse
from pyoci.errors import PyociError, UsageError
from pyoci.util import lean_os, log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyoci.ops.lifecycle import RuntimeOptions

# verb -> module under pyoci.cli (imported only when used)
COMMANDS: dict[str, str] = {
    "create": "create",
    "start": "start",
    "run": "run",
    "state": "state",
    "kill": "kill",
    "delete": "delete",
    "list": "list_",
    "spec": "spec",
    "features": "features",
    "exec": "exec_",
    "update": "update",
    "pause": "pause",
    "resume": "resume",
    "ps": "ps",
    "events": "events",
    "checkpoint": "checkpoint",
    "restore": "restore",
}

GLOBAL_FLAGS = [
    Flag("root", STRING, "root directory for storage of container state"),
    Flag("log", STRING, "set the log file to write pyoci logs to (default is stderr)"),
    Flag("log-format", STRING, "set the log format ('text' (default), or 'json')", "text"),
    Flag("debug", BOOL, "enable debug logging"),
    Flag("systemd-cgroup", BOOL, "use systemd cgroup manager"),
    Flag(
        "rootless", STRING, "ignore cgroup permission errors ('true', 'false', or 'auto')", "auto"
    ),
    Flag("criu", STRING, "path to the criu binary (checkpoint, restore)", "criu"),
    Flag("help, h", BOOL, "show help"),
    Flag("version, v", BOOL, "print the version"),
]

USAGE = """NAME:
   pyoci - an OCI container runtime written in Python

USAGE:
   pyoci [global options] command [command options] [arguments...]

COMMANDS:
   create    create a container
   start     executes the user defined process in a created container
   run       create and run a container
   state     output the state of a container
   kill      send a signal to the container's init process
   delete    delete any resources held by the container
   list      lists containers started by pyoci with the given root
   exec      execute new process inside the container
   ps        ps displays the processes running inside a container
   pause     pause suspends all processes inside the container
   resume    resumes all processes that have been previously paused
   update    update container resource constraints
   events    display container events such as OOM notifications and stats
   checkpoint  checkpoint a running container (CRIU)
   restore   restore a container from a previous checkpoint (CRIU)
   spec      create a new specification file
   features  show the enabled features

GLOBAL OPTIONS:
   --root value        root directory for storage of container state
                       (default: /run/pyoci, or $XDG_RUNTIME_DIR/pyoci when not root)
   --log value         log file (default: stderr)
   --log-format value  log format: text or json (default: text)
   --debug             enable debug output in the log
   --systemd-cgroup    use the systemd cgroup manager
   --rootless value    true, false or auto (default: auto)
   --criu value        path to the criu binary (default: criu)
   --help, -h          show help
   --version, -v       print the version
"""


class Context:
    """Global options, shared by every verb."""

    def __init__(self, g: Parsed) -> None:
        self.root_flag = g.text("root")
        self.systemd_cgroup = g.flag("systemd_cgroup")
        rootless = (g.text("rootless") or "auto").lower()
        if rootless not in ("true", "false", "auto"):
            raise UsageError(f"invalid --rootless value {rootless!r}: want true, false or auto")
        # None: runc's auto, probed only by the verbs that need it (RuntimeOptions)
        self.rootless: bool | None = None if rootless == "auto" else rootless == "true"
        self.debug = g.flag("debug")
        self.log_path = g.text("log")
        self.log_format = g.text("log_format") or "text"
        self.criu = g.text("criu")

    @property
    def root(self) -> str:
        if self.root_flag:
            return lean_os.abspath(self.root_flag)
        xdg = lean_os.getenv("XDG_RUNTIME_DIR")
        if posix.geteuid() == 0:
            # root of a user namespace (rootless podman) keeps its state with the
            # user's, as runc does; real root in /run
            if xdg and lean_os.getenv("USER") != "root" and _in_userns():
                return f"{xdg}/pyoci"
            return "/run/pyoci"
        if not xdg:
            raise UsageError(
                "XDG_RUNTIME_DIR is not set: rootless pyoci keeps its state there; "
                "set it or pass --root DIR"
            )
        return f"{xdg}/pyoci"

    def options(self) -> RuntimeOptions:
        from pyoci.ops.lifecycle import RuntimeOptions

        return RuntimeOptions(self.root, systemd_cgroup=self.systemd_cgroup, rootless=self.rootless)


def _in_userns() -> bool:
    from pyoci.process import running_in_user_namespace

    return running_in_user_namespace()


def _version() -> str:
    from pyoci import SPEC_VERSION, __version__

    commit = "unknown"
    here = lean_os.dirname(lean_os.dirname(lean_os.abspath(__file__)))
    try:
        with open(f"{here}/_commit.txt") as f:
            commit = f.read().strip() or commit
    except OSError:
        pass
    return f"pyoci version {__version__}\ncommit: {commit}\nspec: {SPEC_VERSION}\n"


def _out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    try:
        return _main(argv)
    except PyociError as exc:
        return _fail(exc)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1
    except OSError as exc:  # an unexpected system error: still one clear line
        where = f": {exc.filename}" if exc.filename else ""
        return _fail(PyociError(f"{exc.strerror or exc}{where}"))
    except Exception as exc:  # a bug: still one line (and the traceback with --debug)
        if log._debug:
            raise
        return _fail(PyociError(f"internal error: {type(exc).__name__}: {exc}"))
    finally:
        if lean_os.getenv("PYOCI_DEBUG_IMPORTS") is not None:  # for tests of what a command imports
            sys.stderr.write(f"pyoci-imports: {' '.join(sorted(sys.modules))}\n")
            sys.stderr.flush()


def exit_now(code: int) -> None:
    """End the command without tearing the interpreter down.

    Finalization (unloading every module, a last garbage collection) is about a
    fifth of a short command's instructions and does nothing a runtime needs:
    pyoci writes its files with ``os`` calls or ``with`` blocks, registers no
    ``atexit`` work, and the kernel closes descriptors.  What Python buffers
    (stdout, stderr) is flushed first; an unwritable stdout fails the command.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            if stream is sys.stdout and code == 0:
                code = 1
    posix._exit(code)


def _fail(exc: PyociError) -> int:
    lines = [ln for ln in str(exc).splitlines() if ln] or [type(exc).__name__]
    for line in lines:
        sys.stderr.write(f"pyoci: {line}\n")
    sys.stderr.flush()
    if log._path is not None:
        log.error("; ".join(lines))
    return exc.exit_code


def _main(argv: list[str]) -> int:
    # global flags come before the command
    cmd_index = len(argv)
    i = 0
    while i < len(argv):
        a = argv[i]
        if not a.startswith("-") or a == "-":
            cmd_index = i
            break
        name = a.lstrip("-").partition("=")[0]
        takes_value = name in ("root", "log", "log-format", "rootless", "criu") and "=" not in a
        i += 2 if takes_value else 1
    g = parse(argv[:cmd_index], GLOBAL_FLAGS)
    fmt = g.text("log_format") or "text"
    if fmt not in ("text", "json"):
        raise UsageError(f"unknown log-format {fmt!r}")
    log.configure(g.text("log"), fmt, g.flag("debug"))
    if g.flag("version"):
        _out(_version())
        return 0
    rest = argv[cmd_index:]
    if not rest or g.flag("help"):
        _out(USAGE)
        return 0 if g.flag("help") or not rest else 1
    cmd = rest[0]
    if cmd == "help":
        _out(USAGE)
        return 0
    module_name = COMMANDS.get(cmd)
    if module_name is None:
        raise UsageError(f"no such command {cmd!r} (see pyoci --help)")
    module = __import__(f"pyoci.cli.{module_name}", fromlist=["run"])
    ctx = Context(g)
    cmd_args = rest[1:]
    if "--help" in cmd_args[:1] or "-h" in cmd_args[:1]:
        _out(module.USAGE)
        return 0
    parsed = parse(
        cmd_args, module.FLAGS, stop_after_positional=getattr(module, "STOP_AFTER", None)
    )
    log.debug(f"{cmd} {' '.join(cmd_args)}")
    code: int = module.run(ctx, parsed)
    return code
