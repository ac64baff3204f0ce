"""Log lines to ``--log`` in runc's text or JSON format (containerd reads the JSON)."""

from __future__ import annotations

import posix  # not os, for the short commands: pyoci.util.lean_os says why
import time

_path: str | None = None
_format = "text"
_debug = False


def configure(path: str | None, fmt: str = "text", debug: bool = False) -> None:
    global _path, _format, _debug
    _path = path
    _format = fmt
    _debug = debug


def _timestamp() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e9):09d}Z"


def format_line(level: str, msg: str, fmt: str) -> str:
    ts = _timestamp()
    if fmt == "json":
        from pyoci.util import jsonio  # only when a line is written

        return jsonio.dumps({"level": level, "msg": msg, "time": ts}) + "\n"
    from pyoci.util import jsonio

    return f"time={jsonio.dumps(ts)} level={level} msg={jsonio.dumps(msg)}\n"


def write(level: str, msg: str) -> None:
    """Append one line to the --log file (or stderr when there is none)."""
    if level == "debug" and not _debug:
        return
    line = format_line(level, msg, _format)
    if _path is None:
        if level in ("debug", "info"):
            return
        posix.write(2, line.encode())
        return
    try:
        flags = posix.O_WRONLY | posix.O_APPEND | posix.O_CREAT | posix.O_CLOEXEC
        fd = posix.open(_path, flags, 0o644)
    except OSError:
        return
    try:
        posix.write(fd, line.encode())
    finally:
        posix.close(fd)


def debug(msg: str) -> None:
    if _debug:
        write("debug", msg)


def info(msg: str) -> None:
    write("info", msg)


def warning(msg: str) -> None:
    write("warning", msg)


def error(msg: str) -> None:
    write("error", msg)
