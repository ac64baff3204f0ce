"""pyoci exec: run a new process inside a created or running container."""

from __future__ import annotations

from pyoci.cli.args import BOOL, INT, LIST, STRING, Flag, Parsed, need_args

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyoci.cli import Context

USAGE = """NAME:
   pyoci exec - execute new process inside the container

USAGE:
   pyoci exec [command options] <container-id> <command> [command options]
   pyoci exec [command options] -p process.json <container-id>

OPTIONS:
   --console-socket value       AF_UNIX socket to receive the pty master
   --cwd value                  current working directory in the container
   --env value, -e value        set environment variables (repeatable)
   --tty, -t                    allocate a pseudo-TTY
   --user value, -u value       UID[:GID]
   --additional-gids value, -g  additional gids (repeatable)
   --process value, -p value    path to the process.json
   --detach, -d                 detach from the container's process
   --pid-file value             file to write the process id to
   --process-label value        SELinux label for the process
   --apparmor value             AppArmor profile for the process
   --no-new-privs               set the no new privileges value for the process
   --cap value, -c value        add a capability to the bounding set (repeatable)
   --preserve-fds value         pass N additional fds to the process (default: 0)
   --ignore-paused              allow exec in a paused container (not supported)
"""

FLAGS = [
    Flag("console-socket", STRING),
    Flag("cwd", STRING),
    Flag("env, e", LIST),
    Flag("tty, t", BOOL),
    Flag("user, u", STRING),
    Flag("additional-gids, g", LIST),
    Flag("process, p", STRING),
    Flag("detach, d", BOOL),
    Flag("pid-file", STRING),
    Flag("process-label", STRING),
    Flag("apparmor", STRING),
    Flag("no-new-privs", BOOL),
    Flag("cap, c", LIST),
    Flag("preserve-fds", INT),
    Flag("ignore-paused", BOOL),
    Flag("cgroup", LIST),
]

# exec ID cmd -flags: everything after the command is the command's
STOP_AFTER = 2


def run(ctx: Context, p: Parsed) -> int:
    from pyoci.errors import PyociError

    try:
        return _run(ctx, p)
    except PyociError as exc:
        # as runc: 255 when exec itself failed, so a process's own 1 stays distinct
        exc.exit_code = 255
        raise


def _run(ctx: Context, p: Parsed) -> int:
    need_args("exec", p.args, minimum=1)
    from pyoci.errors import UsageError
    from pyoci.ops import container
    from pyoci.ops import exec as pexec

    cid = p.args[0]
    path = p.text("process")
    if path:
        if len(p.args) > 1:
            raise UsageError("exec: give either --process FILE or a command, not both")
        process = pexec.load_process_file(path)
        if p.flag("tty"):
            process["terminal"] = True
    else:
        if len(p.args) < 2:
            raise UsageError("exec: a command (or --process FILE) is required")
        _cdir, record, _status = container.load(ctx.options(), cid)
        process = pexec.process_from_args(
            record.get("config") or {},
            p.args[1:],
            tty=p.flag("tty"),
            cwd=p.text("cwd"),
            env=p.items("env"),
            user=p.text("user"),
            additional_gids=p.items("additional_gids"),
            caps=p.items("cap"),
            no_new_privs=p.flag("no_new_privs") if "no_new_privs" in p.given else None,
            apparmor=p.text("apparmor"),
            process_label=p.text("process_label"),
        )
    return pexec.exec_process(
        ctx.options(),
        cid,
        process,
        detach=p.flag("detach"),
        pid_file=p.text("pid_file"),
        console_socket=p.text("console_socket"),
        preserve_fds=p.number("preserve_fds"),
    )
