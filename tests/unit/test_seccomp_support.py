"""The pieces around the compiler: listener hand-off, features, cache, install
errors, and what each module imports."""

from __future__ import annotations

import errno
import json
import os
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from helpers import modules_loaded_by

from pyoci.errors import NotSupported, SetupError
from pyoci.seccomp import cache, load
from pyoci.seccomp.compile import compile_profile
from pyoci.seccomp.features import seccomp_features
from pyoci.seccomp.notify import process_state, send_to_listener
from pyoci.seccomp.program import FLAG_NEW_LISTENER, SeccompProgram

ROOT = Path(__file__).resolve().parents[2]

STATE = {
    "ociVersion": "1.3.0",
    "id": "c1",
    "status": "creating",
    "pid": 4422,
    "bundle": "/b",
    "annotations": {"k": "v"},
}


# --- notify ----------------------------------------------------------------


def test_process_state_document() -> None:
    doc = json.loads(process_state("seccompFd", STATE, "MKNOD=/dev/null"))
    assert doc == {
        "ociVersion": "1.3.0",
        "fds": ["seccompFd"],
        "pid": 4422,
        "metadata": "MKNOD=/dev/null",
        "state": STATE,
    }
    assert "metadata" not in json.loads(process_state("seccompFd", STATE, None))
    assert "metadata" not in json.loads(process_state("seccompFd", STATE, ""))


class Agent:
    """Accepts one connection and keeps what it got: payload and fds."""

    def __init__(self, path: str) -> None:
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(1)
        self.server.settimeout(10)
        self.payload = b""
        self.fds: list[int] = []
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            msg, fds, _, _ = socket.recv_fds(conn, 65536, 4)
            self.fds = fds
            chunks = [msg]
            while chunk := conn.recv(65536):
                chunks.append(chunk)
            self.payload = b"".join(chunks)
        self.server.close()

    def join(self) -> None:
        self.thread.join(10)


@pytest.mark.parametrize("long_path", [False, True])
def test_send_to_listener(tmp_path: Path, long_path: bool) -> None:
    where = tmp_path
    if long_path:
        where = tmp_path / ("d" * 60) / ("e" * 60)
        where.mkdir(parents=True)
    path = str(where / "agent.sock")
    assert (len(path) > 107) == long_path
    if long_path:
        # bind(2) has the same limit: bind through the directory.
        cwd = os.getcwd()
        os.chdir(where)
        try:
            agent = Agent("agent.sock")
        finally:
            os.chdir(cwd)
    else:
        agent = Agent(path)
    r, w = os.pipe()
    try:
        send_to_listener(path, r, STATE, "meta")
        agent.join()
        assert json.loads(agent.payload) == {
            "ociVersion": "1.3.0",
            "fds": ["seccompFd"],
            "pid": 4422,
            "metadata": "meta",
            "state": STATE,
        }
        assert len(agent.fds) == 1
        # The agent's fd is the same pipe: what goes in w comes out there.
        os.write(w, b"x")
        assert os.read(agent.fds[0], 1) == b"x"
    finally:
        for fd in (r, w, *agent.fds):
            os.close(fd)


def test_send_to_listener_without_agent(tmp_path: Path) -> None:
    with pytest.raises(SetupError) as info:
        send_to_listener(str(tmp_path / "nobody.sock"), 0, STATE, None)
    assert str(info.value) == (
        f"seccomp listener {tmp_path / 'nobody.sock'}: No such file or directory"
    )


# --- features --------------------------------------------------------------


def test_features() -> None:
    feats = seccomp_features()
    assert feats["enabled"] is True
    assert set(feats) == {
        "enabled",
        "actions",
        "operators",
        "archs",
        "knownFlags",
        "supportedFlags",
    }
    for key in ("actions", "operators", "archs", "knownFlags", "supportedFlags"):
        assert feats[key] == sorted(feats[key])
    assert feats["operators"] == [
        "SCMP_CMP_EQ",
        "SCMP_CMP_GE",
        "SCMP_CMP_GT",
        "SCMP_CMP_LE",
        "SCMP_CMP_LT",
        "SCMP_CMP_MASKED_EQ",
        "SCMP_CMP_NE",
    ]
    assert set(feats["supportedFlags"]) <= set(feats["knownFlags"])
    assert len(feats["knownFlags"]) == 4
    assert {"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_TRAP"} <= set(
        feats["actions"]
    )
    assert "SCMP_ARCH_X86_64" in feats["archs"] and "SCMP_ARCH_AARCH64" in feats["archs"]


def test_features_are_what_compile_accepts() -> None:
    feats = seccomp_features()
    for action in feats["actions"]:
        doc: dict[str, Any] = {
            "defaultAction": "SCMP_ACT_ALLOW" if action != "SCMP_ACT_ALLOW" else "SCMP_ACT_LOG",
            "syscalls": [{"names": ["mkdir"], "action": action}],
        }
        if action == "SCMP_ACT_NOTIFY":
            doc["listenerPath"] = "/a"
        compile_profile(doc)
    for arch in feats["archs"]:
        try:
            compile_profile({"defaultAction": "SCMP_ACT_ALLOW", "architectures": [arch]})
        except NotSupported as exc:
            # libseccomp keeps one byte order per filter: big-endian MIPS next
            # to x86_64 is known but cannot be combined.
            assert str(exc).endswith("(different byte order)"), exc
    for flag in feats["supportedFlags"]:
        compile_profile({"defaultAction": "SCMP_ACT_ALLOW", "flags": [flag]})
    for op in feats["operators"]:
        arg = {"index": 0, "value": 1, "op": op}
        compile_profile(
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": [arg]}],
            }
        )


# --- cache -----------------------------------------------------------------

PROFILE = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}],
}


def test_cache_hit_skips_the_compiler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = cache.compile_cached(PROFILE, str(tmp_path / "c"))
    assert first.bpf == compile_profile(PROFILE).bpf
    assert os.listdir(tmp_path / "c") == [cache.cache_key(PROFILE)]
    assert (tmp_path / "c").stat().st_mode & 0o777 == 0o700

    def boom(*args: object) -> SeccompProgram:
        raise AssertionError("compiled again")

    monkeypatch.setattr("pyoci.seccomp.compile.compile_profile", boom)
    again = cache.compile_cached(PROFILE, str(tmp_path / "c"))
    assert (again.bpf, again.flags) == (first.bpf, first.flags)


def test_cache_keeps_flags_and_listener(tmp_path: Path) -> None:
    doc = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "listenerPath": "/run/agent",
        "listenerMetadata": "m",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}],
    }
    first = cache.compile_cached(doc, str(tmp_path))
    hit = cache.compile_cached(doc, str(tmp_path))
    assert hit.flags == first.flags == FLAG_NEW_LISTENER | 2
    assert (hit.listener_path, hit.listener_metadata) == ("/run/agent", "m")


def test_cache_key_follows_the_profile() -> None:
    other = dict(PROFILE, defaultErrnoRet=errno.EACCES)
    assert cache.cache_key(PROFILE) == cache.cache_key(dict(PROFILE))
    assert cache.cache_key(PROFILE) != cache.cache_key(other)


def test_cache_key_follows_what_the_loader_would_map(monkeypatch: pytest.MonkeyPatch) -> None:
    key = cache.cache_key(PROFILE)
    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/other-libseccomp")
    assert cache.cache_key(PROFILE) != key
    monkeypatch.delenv("LD_LIBRARY_PATH")
    real = cache._identity
    monkeypatch.setattr(
        cache, "_identity", lambda p: "1:2:3:4" if p == "/etc/ld.so.cache" else real(p)
    )
    assert cache.cache_key(PROFILE) != key  # ldconfig ran: libraries changed


def test_cache_entry_is_dropped_when_libseccomp_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An entry names the libseccomp that compiled it (soname link, identity,
    version) and is used only while that file is the same."""
    cache.compile_cached(PROFILE, str(tmp_path))
    data = (tmp_path / cache.cache_key(PROFILE)).read_bytes()
    rest = data[len(cache._MAGIC) + 4 + 16 :]
    lib_id = rest[2 : 2 + int.from_bytes(rest[:2], "little")].decode()
    path, same, version = lib_id.split("\0")
    assert "/libseccomp.so." in path and os.path.exists(path), lib_id
    assert cache._identity(path) == same and version.count(".") == 2
    compiled = []
    real_compile = cache._compile_in_child

    def counting(*args: Any) -> SeccompProgram:
        compiled.append(1)
        return real_compile(*args)

    monkeypatch.setattr(cache, "_compile_in_child", counting)
    cache.compile_cached(PROFILE, str(tmp_path))
    assert compiled == []  # a hit
    real_identity = cache._identity
    monkeypatch.setattr(cache, "_identity", lambda p: "9:9:9:9" if p == path else real_identity(p))
    assert cache.compile_cached(PROFILE, str(tmp_path)).bpf == compile_profile(PROFILE).bpf
    assert compiled == [1]  # replaced: compiled again


def test_the_runtime_process_never_loads_libseccomp(tmp_path: Path) -> None:
    """A miss compiles in a short-lived child, a hit reads the entry: neither
    maps libseccomp, its cffi module or the compiler in the caller (peak RSS)."""
    loaded = modules_loaded_by(
        "from pyoci.seccomp import cache\n"
        "from pyoci.errors import ConfigError\n"
        f"profile = {PROFILE!r}\n"
        f"first = cache.compile_cached(profile, {str(tmp_path)!r})\n"
        f"again = cache.compile_cached(profile, {str(tmp_path)!r})\n"
        "assert first.bpf == again.bpf and len(first) > 3\n"
        "try:\n"
        "    cache.compile_cached({'defaultAction': 'SCMP_ACT_NOPE'}, None)\n"
        "except ConfigError as exc:\n"
        "    assert 'SCMP_ACT_NOPE' in str(exc), exc\n"
    )
    assert "pyoci.seccomp.cache" in loaded
    heavy = {"pyoci.native", "pyoci.native._seccomp", "_cffi_backend", "pyoci.seccomp.compile"}
    assert not loaded & heavy, sorted(loaded & heavy)
    assert len(os.listdir(tmp_path)) == 1


def test_cache_ignores_damaged_entries(tmp_path: Path) -> None:
    good = compile_profile(PROFILE)
    entry = tmp_path / cache.cache_key(PROFILE)
    for junk in (b"", b"garbage", b"PYOCI-SECCOMP-1\n\0\0\0\0abc"):
        entry.write_bytes(junk)
        assert cache.compile_cached(PROFILE, str(tmp_path)).bpf == good.bpf
    # ...and replaces them with a good one.
    assert entry.read_bytes().endswith(good.bpf)


def test_cache_evicts_oldest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "MAX_ENTRIES", 3)
    keys = []
    for n in range(5):
        doc = dict(PROFILE, defaultErrnoRet=n + 1)
        cache.compile_cached(doc, str(tmp_path))
        keys.append(cache.cache_key(doc))
        os.utime(tmp_path / keys[-1], ns=(n * 10**9, n * 10**9))
    assert sorted(os.listdir(tmp_path)) == sorted(keys[2:])


def test_cache_not_trusted_when_others_can_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    cache.compile_cached(PROFILE, str(shared))
    assert os.listdir(shared) == []  # nothing written...
    good = compile_profile(PROFILE)
    planted = shared / cache.cache_key(PROFILE)
    allow_all = struct.pack("=HBBI", 0x06, 0, 0, 0x7FFF0000)
    planted.write_bytes(b"PYOCI-SECCOMP-1\n" + bytes(4) + allow_all)
    assert cache.compile_cached(PROFILE, str(shared)).bpf == good.bpf  # ...nor read


def test_cache_errors_are_not_cached(tmp_path: Path) -> None:
    from pyoci.errors import ConfigError

    with pytest.raises(ConfigError):
        cache.compile_cached({"defaultAction": "SCMP_ACT_NOPE"}, str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_cache_unwritable_is_only_slower(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    prog = cache.compile_cached(PROFILE, str(blocker / "cache"))
    assert prog.bpf == compile_profile(PROFILE).bpf


def test_cache_location_is_never_the_state_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("PYOCI_SECCOMP_CACHE", "XDG_CACHE_HOME", "HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(cache, "_in_user_namespace", lambda: False)
    monkeypatch.setattr(cache.posix, "geteuid", lambda: 0)
    assert cache.default_dir() == "/var/cache/pyoci/seccomp"
    monkeypatch.setattr(cache, "_in_user_namespace", lambda: True)  # rootless podman's root
    assert cache.default_dir() is None
    monkeypatch.setenv("HOME", "/home/u")
    assert cache.default_dir() == "/home/u/.cache/pyoci/seccomp"
    monkeypatch.setenv("XDG_CACHE_HOME", "/x/cache/")
    assert cache.default_dir() == "/x/cache/pyoci/seccomp"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")  # not absolute: ignored (XDG spec)
    assert cache.default_dir() == "/home/u/.cache/pyoci/seccomp"
    monkeypatch.setenv("PYOCI_SECCOMP_CACHE", str(tmp_path))
    assert cache.default_dir() == str(tmp_path)
    monkeypatch.setenv("PYOCI_SECCOMP_CACHE", "")
    assert cache.default_dir() is None


def test_cache_refuses_a_symlink_on_the_way(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    for path in (tmp_path / "link" / "seccomp", tmp_path / "link"):
        assert cache.compile_cached(PROFILE, str(path)).bpf == compile_profile(PROFILE).bpf
    assert os.listdir(real) == []  # neither followed nor written through


def test_cache_refuses_writable_ancestors_unless_sticky(tmp_path: Path) -> None:
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)  # anyone could swap our directory for theirs
    cache.compile_cached(PROFILE, str(open_dir / "c"))
    assert os.listdir(open_dir) == []
    open_dir.chmod(0o1777)  # as /tmp: others cannot rename or remove what is ours
    cache.compile_cached(PROFILE, str(open_dir / "c"))
    assert os.listdir(open_dir / "c") == [cache.cache_key(PROFILE)]


def test_cache_refuses_entries_it_did_not_write(tmp_path: Path) -> None:
    allow_all = struct.pack("=HBBI", 0x06, 0, 0, 0x7FFF0000)
    good = compile_profile(PROFILE).bpf
    key = cache.cache_key(PROFILE)
    d = tmp_path / "c"
    cache.compile_cached(PROFILE, str(d))
    entry = d / key
    head = entry.read_bytes()[: -len(good)]
    # a payload that does not match its checksum (torn, or edited)
    entry.write_bytes(head + allow_all + good[8:])
    assert cache.compile_cached(PROFILE, str(d)).bpf == good
    # a hard link to a file elsewhere
    entry.unlink()
    other = tmp_path / "other"
    other.write_bytes(head + good)
    os.link(other, entry)
    assert cache.compile_cached(PROFILE, str(d)).bpf == good
    assert entry.stat().st_nlink == 1  # replaced
    # a cache directory readable or writable by others is not used at all
    d.chmod(0o755)
    entry.write_bytes(b"PYOCI-SECCOMP-2\n" + bytes(20) + allow_all)
    assert cache.compile_cached(PROFILE, str(d)).bpf == good


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_cache_dir_of_another_user_is_not_used(tmp_path: Path) -> None:
    d = tmp_path / "c"
    d.mkdir(mode=0o700)
    os.chown(d, 65534, 65534)
    assert cache.compile_cached(PROFILE, str(d)).bpf == compile_profile(PROFILE).bpf
    assert os.listdir(d) == []


def test_cache_is_bounded_in_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache.compile_cached(PROFILE, str(tmp_path / "probe"))
    size = (tmp_path / "probe" / cache.cache_key(PROFILE)).stat().st_size  # one entry
    (tmp_path / "probe" / cache.cache_key(PROFILE)).unlink()
    (tmp_path / "probe").rmdir()
    monkeypatch.setattr(cache, "MAX_BYTES", 2 * size)
    for n in range(4):
        cache.compile_cached(dict(PROFILE, defaultErrnoRet=n + 1), str(tmp_path))
        os.utime(tmp_path / cache.cache_key(dict(PROFILE, defaultErrnoRet=n + 1)),
                 ns=(n * 10**9, n * 10**9))  # fmt: skip
    left = os.listdir(tmp_path)
    assert sorted(left) == sorted(cache.cache_key(dict(PROFILE, defaultErrnoRet=n + 1))
                                  for n in (2, 3))  # fmt: skip
    assert sum((tmp_path / n).stat().st_size for n in left) <= 2 * size


# --- install errors --------------------------------------------------------


@pytest.mark.parametrize(
    ("err", "message"),
    [
        (
            errno.EACCES,
            "seccomp: installing the filter: Permission denied "
            "(needs no_new_privs or CAP_SYS_ADMIN)",
        ),
        (
            errno.EINVAL,
            "seccomp: installing the filter: Invalid argument (flags 0x8, 1 instructions)",
        ),
        (errno.ENOMEM, "seccomp: installing the filter: Cannot allocate memory"),
    ],
)
def test_install_errors(monkeypatch: pytest.MonkeyPatch, err: int, message: str) -> None:
    def fail(flags: int, program: bytes) -> int:
        raise OSError(err, os.strerror(err), "seccomp")

    monkeypatch.setattr(load, "seccomp_set_filter", fail)
    prog = SeccompProgram(b"\x06\x00\x00\x00\x00\x00\xff\x7f", FLAG_NEW_LISTENER)
    with pytest.raises(SetupError) as info:
        load.install(prog)
    assert str(info.value) == message


def test_install_returns_listener_only_with_notify(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load, "seccomp_set_filter", lambda flags, program: 7 if flags else 0)
    ret_allow = b"\x06\x00\x00\x00\x00\x00\xff\x7f"
    assert load.install(SeccompProgram(ret_allow, FLAG_NEW_LISTENER)) == 7
    assert load.install(SeccompProgram(ret_allow, 0)) is None


# --- imports ---------------------------------------------------------------

HEAVY = ("typing", "dataclasses", "enum", "re", "json", "socket", "subprocess", "struct")


def imported_by(module: str) -> set[str]:
    code = (
        "import sys\n"
        f"sys.path.append({next(p for p in sys.path if p.endswith('site-packages'))!r})\n"
        "before = set(sys.modules)\n"
        f"import {module}\n"
        "print(' '.join(sorted(set(sys.modules) - before)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True
    )
    return set(out.stdout.split())


@pytest.mark.parametrize(
    "module",
    [
        "pyoci.seccomp.compile",
        "pyoci.seccomp.load",
        "pyoci.seccomp.notify",
        "pyoci.seccomp.cache",
        "pyoci.seccomp.features",
    ],
)
def test_imports_stay_light(module: str) -> None:
    mods = imported_by(module)
    assert not mods & set(HEAVY), sorted(mods & set(HEAVY))


def test_init_side_does_not_load_libseccomp() -> None:
    mods = imported_by("pyoci.seccomp.load")
    assert "pyoci.native._seccomp" not in mods
    assert "pyoci.seccomp.compile" not in mods
