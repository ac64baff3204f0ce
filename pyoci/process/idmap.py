"""Writing a child's uid_map/gid_map from the parent.

As root the maps are written directly.  Unprivileged, a single mapping of the
caller's own id is written directly (with ``setgroups`` denied, which the
kernel requires); anything else goes through the setuid helpers
``newuidmap``/``newgidmap`` (Debian ``uidmap``), which check /etc/subuid and
/etc/subgid.
"""

from __future__ import annotations

import os

from pyoci.errors import SetupError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def format_map(mappings: list[dict[str, Any]]) -> str:
    return "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in mappings)


def _write(path: str, data: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise SetupError(f"open {path}: {exc.strerror}") from None
    try:
        os.write(fd, data.encode())
    except OSError as exc:
        raise SetupError(f"write {path} ({data.strip()!r}): {exc.strerror}") from None
    finally:
        os.close(fd)


def is_own_single_mapping(mappings: list[dict[str, Any]], own: int) -> bool:
    return len(mappings) == 1 and mappings[0]["hostID"] == own and mappings[0]["size"] == 1


def write_id_maps(pid: int, linux: dict[str, Any], *, rootless: bool = False) -> None:
    uid_maps = list(linux.get("uidMappings") or [])
    gid_maps = list(linux.get("gidMappings") or [])
    if os.geteuid() == 0:
        if gid_maps:
            _write(f"/proc/{pid}/gid_map", format_map(gid_maps))
        if uid_maps:
            _write(f"/proc/{pid}/uid_map", format_map(uid_maps))
        return
    if is_own_single_mapping(gid_maps, os.getegid()):
        _write(f"/proc/{pid}/setgroups", "deny")
        _write(f"/proc/{pid}/gid_map", format_map(gid_maps))
    elif gid_maps:
        _run_helper("newgidmap", pid, gid_maps)
    if is_own_single_mapping(uid_maps, os.geteuid()):
        _write(f"/proc/{pid}/uid_map", format_map(uid_maps))
    elif uid_maps:
        _run_helper("newuidmap", pid, uid_maps)


def _find(name: str) -> str:
    for d in ("/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"):
        if os.access(f"{d}/{name}", os.X_OK):
            return f"{d}/{name}"
    raise SetupError(
        f"{name} not found: multi-range id mappings need it (Debian package uidmap)"
    )


def _run_helper(name: str, pid: int, mappings: list[dict[str, Any]]) -> None:
    exe = _find(name)
    args = [exe, str(pid)]
    for m in mappings:
        args += [str(m["containerID"]), str(m["hostID"]), str(m["size"])]
    rfd, wfd = os.pipe2(os.O_CLOEXEC)
    child = os.fork()
    if child == 0:  # pragma: no cover - child
        try:
            os.dup2(wfd, 2)
            os.dup2(wfd, 1)
            os.execv(exe, args)
        finally:
            os._exit(127)
    os.close(wfd)
    out = b""
    while chunk := os.read(rfd, 4096):
        out += chunk
    os.close(rfd)
    _, status = os.waitpid(child, 0)
    if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
        detail = out.decode(errors="replace").strip().splitlines()
        why = detail[-1] if detail else f"exit status {os.waitstatus_to_exitcode(status)}"
        kind = name[3:6]  # uid / gid
        raise SetupError(
            f"{name} {' '.join(args[1:])} failed: {why.removeprefix(name + ': ')}"
            f" ({_subid_hint(kind, mappings)})"
        )


def _subid_hint(kind: str, mappings: list[dict[str, Any]]) -> str:
    """Why newuidmap/newgidmap most likely refused, naming the file to fix."""
    import pwd

    uid = os.getuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    path = f"/etc/sub{kind}"
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return f"{path} does not exist: add a range for {user}, e.g. usermod --add-sub{kind}s"
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}"
    own = os.getuid() if kind == "uid" else os.getgid()
    ranges = []
    for line in lines:
        fields = line.strip().split(":")
        if len(fields) == 3 and fields[0] in (user, str(uid)) and fields[2].isdigit():
            ranges.append((int(fields[1]) if fields[1].isdigit() else -1, int(fields[2])))
    if not ranges:
        return (
            f"{path} has no range for user {user}: add one, e.g. "
            f"usermod --add-sub{kind}s 100000-165535 {user}"
        )
    wanted = [
        (int(m["hostID"]), int(m["size"]))
        for m in mappings
        if not (int(m["hostID"]) == own and int(m["size"]) == 1)
    ]
    for host, size in wanted:
        if not any(lo <= host and host + size <= lo + n for lo, n in ranges):
            have = ", ".join(f"{lo}-{lo + n - 1}" for lo, n in ranges)
            return (
                f"host {kind}s {host}-{host + size - 1} are outside {user}'s ranges"
                f" in {path} ({have})"
            )
    return f"check {path} for user {user}"
