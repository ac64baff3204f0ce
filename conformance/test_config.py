"""config.md: root, mounts and mount options, process, hooks, annotations, extensibility."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.bundle import Bundle, Session, mountinfo, parse_kv
from conformance.conftest import cgroup_mounts
from conformance.plugin import clause
from conformance.runtime import Runtime

MakeBundle = Callable[..., Bundle]


def mounts_at(out: str, path: str) -> list[dict[str, Any]]:
    return [m for m in mountinfo(out) if m["mountpoint"] == path]


def top_mount(out: str, path: str) -> dict[str, Any]:
    found = mounts_at(out, path)
    assert found, f"nothing mounted at {path}:\n{out}"
    return found[-1]


# ---- specification version / root -------------------------------------------------------


@clause("config.md", "`ociVersion` (string, REQUIRED) MUST be in SemVer v2.0.0 format")
@clause("config.md", "Runtimes MUST generate an error when invalid or unsupported values are "
                     "encountered.")
def test_oci_version_not_semver(bundle: MakeBundle) -> None:
    b = bundle()
    b.config["ociVersion"] = "not.a.version"
    res = b.create()
    assert not res.ok, f"ociVersion 'not.a.version' accepted\n{res.describe()}"


@clause("config.md", "On all other platforms, this field is REQUIRED.")
def test_root_required(bundle: MakeBundle) -> None:
    b = bundle()
    del b.config["root"]
    res = b.create()
    assert not res.ok, f"a config without root was accepted\n{res.describe()}"


@clause("config.md", "A directory MUST exist at the path declared by the field.")
def test_root_path_missing(bundle: MakeBundle) -> None:
    b = bundle()
    b.config["root"]["path"] = "no-such-rootfs"
    res = b.create()
    assert not res.ok, res.describe()


@clause("config.md", "A directory MUST exist at the path declared by the field.")
def test_root_path_absolute(bundle: MakeBundle) -> None:
    b = bundle("stat", "/helper")
    b.config["root"]["path"] = str(b.rootfs)
    assert "type=reg" in b.run()


@clause("config.md", "If true then the root filesystem MUST be read-only inside the container")
def test_root_readonly(bundle: MakeBundle) -> None:
    b = bundle("write", "/should-fail", "--", "write", "/tmp/x", "--", "statvfs", "/")
    b.config["root"]["readonly"] = True
    out = b.run()
    assert "ERR write /should-fail EROFS" in out, out
    assert "flags=ro" in out, out
    assert not (b.rootfs / "should-fail").exists()


@clause("config.md", "If true then the root filesystem MUST be read-only inside the container")
def test_root_writable_by_default(bundle: MakeBundle) -> None:
    b = bundle("write", "/written", "ok")
    out = b.run()
    assert "write /written ok" in out, out


# ---- mounts ------------------------------------------------------------------------------


@clause("config.md", "The runtime MUST mount entries in the listed order.")
def test_mounts_in_order(bundle: MakeBundle) -> None:
    b = bundle("cat", "/proc/self/mountinfo", "--", "stat", "/mnt/a/b/c")
    b.add_mount({"destination": "/mnt/a", "type": "tmpfs", "source": "tmpfs",
                 "options": ["size=1m"]})
    b.add_mount({"destination": "/mnt/a/b", "type": "tmpfs", "source": "tmpfs",
                 "options": ["size=2m"]})
    b.add_mount({"destination": "/mnt/a/b/c", "type": "tmpfs", "source": "tmpfs",
                 "options": ["size=3m"]})
    b.add_mount({"destination": "/mnt/s", "type": "tmpfs", "source": "first",
                 "options": ["size=1m"]})
    b.add_mount({"destination": "/mnt/s", "type": "tmpfs", "source": "second",
                 "options": ["size=2m"]})
    out = b.run()
    mi = mountinfo(out)
    order = [m["mountpoint"] for m in mi if m["mountpoint"].startswith("/mnt/")]
    assert order == ["/mnt/a", "/mnt/a/b", "/mnt/a/b/c", "/mnt/s", "/mnt/s"], order
    stacked = mounts_at(out, "/mnt/s")
    assert [m["source"] for m in stacked] == ["first", "second"], stacked


@clause("config.md", "it MAY be a relative path, in which case it MUST be interpreted as relative "
                     "to")
def test_mount_relative_destination(bundle: MakeBundle) -> None:
    b = bundle("cat", "/proc/self/mountinfo")
    b.add_mount({"destination": "mnt/rel", "type": "tmpfs", "source": "tmpfs"})
    b.process["cwd"] = "/tmp"
    out = b.run()
    assert mounts_at(out, "/mnt/rel"), out


# Per-mount (vfsmount) flags as /proc/self/mountinfo shows them, and superblock flags.
def _mnt(m: dict[str, Any]) -> set[str]:
    return set(m["options"])


def _sb(m: dict[str, Any]) -> set[str]:
    return set(m["super"])


# option -> (extra options for the mount, check of the resulting mount)
MountCheck = Callable[[dict[str, Any]], bool]
TMPFS_OPTIONS: dict[str, MountCheck] = {
    "async": lambda m: "sync" not in _sb(m),
    "atime": lambda m: "noatime" not in _mnt(m),
    "defaults": lambda m: {"rw"} <= _mnt(m) and not _mnt(m) & {"nosuid", "nodev", "noexec"},
    "dev": lambda m: "nodev" not in _mnt(m),
    "diratime": lambda m: "nodiratime" not in _mnt(m),
    "dirsync": lambda m: "dirsync" in _sb(m),
    "exec": lambda m: "noexec" not in _mnt(m),
    "iversion": lambda m: True,
    "lazytime": lambda m: "lazytime" in _sb(m),
    "loud": lambda m: True,
    "noatime": lambda m: "noatime" in _mnt(m),
    "nodev": lambda m: "nodev" in _mnt(m),
    "nodiratime": lambda m: "nodiratime" in _mnt(m),
    "noexec": lambda m: "noexec" in _mnt(m),
    "noiversion": lambda m: True,
    "nolazytime": lambda m: "lazytime" not in _sb(m),
    "norelatime": lambda m: True,  # the kernel defaults to relatime anyway
    "nostrictatime": lambda m: True,
    "nosuid": lambda m: "nosuid" in _mnt(m),
    "nosymfollow": lambda m: "nosymfollow" in _mnt(m),
    "relatime": lambda m: "relatime" in _mnt(m),
    "ro": lambda m: "ro" in _mnt(m),
    "rw": lambda m: "rw" in _mnt(m),
    "silent": lambda m: True,
    "strictatime": lambda m: not _mnt(m) & {"relatime", "noatime"},
    "suid": lambda m: "nosuid" not in _mnt(m),
    "symfollow": lambda m: "nosymfollow" not in _mnt(m),
    "sync": lambda m: "sync" in _sb(m),
}
# Recursive options (mount_setattr AT_RECURSIVE) on an rbind of the host's /dev,
# checked on its /dev/shm submount (the host mounts it rw,nosuid,nodev... or not).
RECURSIVE_OPTIONS: dict[str, MountCheck] = {
    "rro": lambda m: "ro" in _mnt(m),
    "rrw": lambda m: "rw" in _mnt(m),
    "rnosuid": lambda m: "nosuid" in _mnt(m),
    "rsuid": lambda m: "nosuid" not in _mnt(m),
    "rnodev": lambda m: "nodev" in _mnt(m),
    "rdev": lambda m: "nodev" not in _mnt(m),
    "rnoexec": lambda m: "noexec" in _mnt(m),
    "rexec": lambda m: "noexec" not in _mnt(m),
    "rnoatime": lambda m: "noatime" in _mnt(m),
    "ratime": lambda m: "noatime" not in _mnt(m),
    "rnodiratime": lambda m: "nodiratime" in _mnt(m),
    "rdiratime": lambda m: "nodiratime" not in _mnt(m),
    "rrelatime": lambda m: "relatime" in _mnt(m),
    "rnorelatime": lambda m: True,
    "rstrictatime": lambda m: not _mnt(m) & {"relatime", "noatime"},
    "rnostrictatime": lambda m: True,
    "rnosymfollow": lambda m: "nosymfollow" in _mnt(m),
    "rsymfollow": lambda m: "nosymfollow" not in _mnt(m),
}
# The recursive options with no clause of their own in the table ("rnodev" is not listed).
_RECURSIVE_CLAUSES = {k for k in RECURSIVE_OPTIONS if k != "rnodev"}


def _mount_point(opt: str) -> str:
    return f"/mnt/o-{opt}"


class MountRun:
    """One container with every option on its own mount; options whose mount
    breaks create are retried one by one, so one bad option fails alone."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.results: dict[str, tuple[bool, str]] = {}
        self.bundles: list[Bundle] = []

    def _bundle(self, opts: list[str]) -> Bundle:
        b = Bundle(self.session, ["cat", "/proc/self/mountinfo"])
        self.bundles.append(b)
        for opt in opts:
            if opt in RECURSIVE_OPTIONS:
                b.add_mount({"destination": _mount_point(opt), "type": "none",
                             "source": "/dev", "options": ["rbind", opt]})
            else:
                b.add_mount({"destination": _mount_point(opt), "type": "tmpfs",
                             "source": "tmpfs", "options": [opt]})
        return b

    def run(self, opts: list[str]) -> None:
        b = self._bundle(opts)
        res = b.create()
        if res.ok and b.start().ok and b.wait("stopped") == "stopped":
            out = b.output()
            for o in opts:
                self.results[o] = (True, out)
            return
        if len(opts) == 1:
            self.results[opts[0]] = (False, res.describe())
            return
        for o in opts:
            self.run([o])

    def cleanup(self) -> None:
        for b in self.bundles:
            b.cleanup()


@pytest.fixture(scope="module")
def mount_run(session: Session) -> Iterator[MountRun]:
    mr = MountRun(session)
    mr.run([*TMPFS_OPTIONS, *RECURSIVE_OPTIONS])
    yield mr
    mr.cleanup()


def _option_param(opt: str) -> Any:
    return pytest.param(opt, marks=clause("config.md", f"config:linux-mount-options:{opt}"))


@pytest.mark.parametrize("opt", [_option_param(o) for o in TMPFS_OPTIONS])
def test_mount_option(mount_run: MountRun, opt: str) -> None:
    ok, out = mount_run.results[opt]
    assert ok, f"a tmpfs mount with option {opt!r} failed:\n{out}"
    m = top_mount(out, _mount_point(opt))
    assert TMPFS_OPTIONS[opt](m), f"option {opt}: mount shows {m['options']} / {m['super']}"


@pytest.mark.parametrize("opt", [_option_param(o) if o in _RECURSIVE_CLAUSES
                                 else pytest.param(o) for o in RECURSIVE_OPTIONS])
def test_mount_option_recursive(mount_run: MountRun, opt: str) -> None:
    ok, out = mount_run.results[opt]
    assert ok, f"an rbind mount of /dev with option {opt!r} failed:\n{out}"
    top = top_mount(out, _mount_point(opt))
    sub = [m for m in mountinfo(out) if m["mountpoint"].startswith(_mount_point(opt) + "/")]
    assert sub, f"rbind of /dev brought no submounts: {out}"
    for m in [top, *sub]:
        assert RECURSIVE_OPTIONS[opt](m), \
            f"option {opt}: {m['mountpoint']} shows {m['options']} / {m['super']}"


@clause("config.md", "config:linux-mount-options:bind")
def test_mount_bind(bundle: MakeBundle) -> None:
    b = bundle("cat", "/mnt/vol/file", "--", "write", "/mnt/vol/back", "hi")
    vol = b.dir / "vol"
    vol.mkdir()
    (vol / "file").write_text("from host\n")
    b.add_mount({"destination": "/mnt/vol", "type": "none", "source": str(vol),
                 "options": ["bind"]})
    out = b.run()
    assert "from host" in out, out
    assert (vol / "back").read_text() == "hi"


@clause("config.md", "config:linux-mount-options:bind")
def test_mount_bind_relative_source(bundle: MakeBundle) -> None:
    b = bundle("cat", "/mnt/vol/file")
    (b.dir / "vol").mkdir()
    (b.dir / "vol" / "file").write_text("relative\n")
    b.add_mount({"destination": "/mnt/vol", "type": "none", "source": "vol",
                 "options": ["bind"]})
    assert "relative" in b.run()


@clause("config.md", "config:linux-mount-options:rbind")
def test_mount_rbind_keeps_submounts(bundle: MakeBundle) -> None:
    b = bundle("cat", "/proc/self/mountinfo")
    b.add_mount({"destination": "/mnt/bind", "type": "none", "source": "/dev",
                 "options": ["bind"]})
    b.add_mount({"destination": "/mnt/rbind", "type": "none", "source": "/dev",
                 "options": ["rbind"]})
    out = b.run()
    mi = mountinfo(out)
    assert not [m for m in mi if m["mountpoint"].startswith("/mnt/bind/")], \
        "bind (not rbind) brought submounts along"
    assert [m for m in mi if m["mountpoint"].startswith("/mnt/rbind/")], \
        "rbind brought no submounts"


@clause("config.md", "config:linux-mount-options:remount")
def test_mount_remount(bundle: MakeBundle) -> None:
    b = bundle("cat", "/proc/self/mountinfo")
    b.add_mount({"destination": "/mnt/r", "type": "tmpfs", "source": "tmpfs"})
    b.add_mount({"destination": "/mnt/r", "type": "tmpfs", "source": "tmpfs",
                 "options": ["remount", "ro"]})
    out = b.run()
    found = mounts_at(out, "/mnt/r")
    assert len(found) == 1, f"remount stacked a second mount: {found}"
    assert "ro" in found[0]["options"], found


PROPAGATION: dict[str, Callable[[list[str]], bool]] = {
    "shared": lambda opt: any(o.startswith("shared:") for o in opt),
    "rshared": lambda opt: any(o.startswith("shared:") for o in opt),
    "private": lambda opt: not any(o.startswith(("shared:", "master:")) for o in opt),
    "rprivate": lambda opt: not any(o.startswith(("shared:", "master:")) for o in opt),
    "slave": lambda opt: not any(o.startswith("shared:") for o in opt),
    "rslave": lambda opt: not any(o.startswith("shared:") for o in opt),
    "unbindable": lambda opt: "unbindable" in opt,
    "runbindable": lambda opt: "unbindable" in opt,
}


@pytest.mark.parametrize("opt", [_option_param(o) for o in PROPAGATION])
def test_mount_propagation(bundle: MakeBundle, opt: str) -> None:
    b = bundle("cat", "/proc/self/mountinfo")
    b.add_mount({"destination": "/mnt/p", "type": "none", "source": "/dev",
                 "options": ["rbind", opt]})
    out = b.run()
    top = top_mount(out, "/mnt/p")
    assert PROPAGATION[opt](top["optional"]), f"{opt}: /mnt/p has {top['optional']}"
    if opt.startswith("r"):
        subs = [m for m in mountinfo(out) if m["mountpoint"].startswith("/mnt/p/")]
        assert subs
        for m in subs:
            assert PROPAGATION[opt](m["optional"]), f"{opt}: {m['mountpoint']} has {m['optional']}"


@clause("config.md", "config:linux-mount-options:slave")
def test_mount_slave_of_shared(bundle: MakeBundle) -> None:
    """A slave bind of a host mount that is shared joins it as master:N, not shared:N."""
    if not any("shared:" in line and " /run/netns " in line
               for line in Path("/proc/self/mountinfo").read_text().splitlines()):
        pytest.skip("this host has no shared /run/netns mount to bind as a slave")
    b = bundle("cat", "/proc/self/mountinfo")
    b.add_mount({"destination": "/mnt/dst", "type": "none", "source": "/run/netns",
                 "options": ["bind", "slave"]})
    out = b.run()
    top = top_mount(out, "/mnt/dst")
    assert any(o.startswith("master:") for o in top["optional"]) and \
        not any(o.startswith("shared:") for o in top["optional"]), top


@clause("config.md", "Runtimes SHOULD treat unknown options as filesystem-specific ones")
def test_mount_filesystem_options(bundle: MakeBundle) -> None:
    b = bundle("cat", "/proc/self/mountinfo")
    b.add_mount({"destination": "/mnt/fs", "type": "tmpfs", "source": "tmpfs",
                 "options": ["nosuid", "size=1m", "mode=710", "nr_inodes=100"]})
    out = b.run()
    m = top_mount(out, "/mnt/fs")
    assert {"size=1024k", "mode=710", "nr_inodes=100"} <= set(m["super"]), m
    assert "nosuid" in m["options"]


# ---- idmapped mounts -----------------------------------------------------------------------


def _userns(b: Bundle, host_base: int = 100000) -> None:
    b.add_namespace("user")
    b.linux["uidMappings"] = [{"containerID": 0, "hostID": host_base, "size": 65536}]
    b.linux["gidMappings"] = [{"containerID": 0, "hostID": host_base, "size": 65536}]


def _idmap_source(b: Bundle, uid: int, gid: int) -> Path:
    src = b.dir / "idsrc"
    src.mkdir()
    # A user-namespaced init cannot create directories in a rootfs owned by the host's root.
    (b.rootfs / "mnt" / "id").mkdir(parents=True, exist_ok=True)
    (src / "f").write_text("x")
    os.chown(src / "f", uid, gid)
    return src


def _idmap_params(*numbers: int) -> list[Any]:
    """idmap and ridmap, each marked with its option row and its numbered sentences
    (idmap's are 1-4, ridmap's 5-8: pass the idmap numbers)."""
    out = []
    for opt, shift in (("idmap", 0), ("ridmap", 4)):
        marks = [clause("config.md", f"config:linux-mount-options:{opt}-{n + shift}")
                 for n in numbers]
        out.append(pytest.param(opt, marks=marks))
    return out


@pytest.mark.parametrize("opt", [
    pytest.param(p.values[0], marks=[*p.marks, clause(
        "config.md", f"config:linux-mount-options:{p.values[0]}")])
    for p in _idmap_params(1, 2)])
def test_idmap_mount_with_mappings(bundle: MakeBundle, opt: str) -> None:
    b = bundle("stat", "/mnt/id/f")
    _userns(b)  # container 0-65535 = host 100000-165535
    src = _idmap_source(b, 1000, 1000)
    # The mount maps the file system's 1000 to host 100005 (uid) / 100006 (gid): seen
    # from the container's user namespace, uid 5 and gid 6.  Unmapped it would be 65534.
    b.add_mount({"destination": "/mnt/id", "type": "bind", "source": str(src),
                 "options": ["bind", opt],
                 "uidMappings": [{"containerID": 1000, "hostID": 100005, "size": 1}],
                 "gidMappings": [{"containerID": 1000, "hostID": 100006, "size": 1}]})
    out = b.run()
    assert "uid=5 gid=6" in out, out


@pytest.mark.parametrize("opt", _idmap_params(3))
def test_idmap_mount_without_mappings_in_userns(bundle: MakeBundle, opt: str) -> None:
    b = bundle("stat", "/mnt/id/f")
    _userns(b)
    src = _idmap_source(b, 7, 7)
    b.add_mount({"destination": "/mnt/id", "type": "bind", "source": str(src),
                 "options": ["bind", opt]})
    res = b.create()
    if not res.ok:
        # "otherwise an error MUST be returned": an error is conforming, if it is one:
        # a message, and no container left behind.
        said = res.stderr.strip() or b.rt.log_tail().strip()
        assert said, f"create failed without an error message\n{res.describe()}"
        assert b.state() is None, f"create failed but the container exists: {b.state()}"
        return
    assert b.start().ok and b.wait() == "stopped"
    out = b.output()
    # With the container's own mapping on the mount, the file system's 7 is host 100007,
    # which is 7 in the container (unmapped, host 7 would show as 65534).
    assert "uid=7 gid=7" in out, f"create succeeded but no id mapping was applied: {out}"


@pytest.mark.parametrize("opt", _idmap_params(4))
def test_idmap_mount_without_userns(bundle: MakeBundle, opt: str) -> None:
    b = bundle()
    src = _idmap_source(b, 0, 0)
    b.add_mount({"destination": "/mnt/id", "type": "bind", "source": str(src),
                 "options": ["bind", opt]})
    res = b.create()
    assert not res.ok, f"{opt} without mappings nor user namespace was accepted\n{res.describe()}"


@clause("config.md", "If specified, it MUST be specified along with `gidMappings`.")
def test_mount_uid_mappings_alone(bundle: MakeBundle) -> None:
    b = bundle()
    _userns(b)
    src = _idmap_source(b, 0, 0)
    b.add_mount({"destination": "/mnt/id", "type": "bind", "source": str(src),
                 "options": ["bind", "idmap"],
                 "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 1}]})
    res = b.create()
    assert not res.ok, f"uidMappings without gidMappings accepted\n{res.describe()}"


@clause("config.md", "If specified, it MUST be specified along with `uidMappings`.")
def test_mount_gid_mappings_alone(bundle: MakeBundle) -> None:
    b = bundle()
    _userns(b)
    src = _idmap_source(b, 0, 0)
    b.add_mount({"destination": "/mnt/id", "type": "bind", "source": str(src),
                 "options": ["bind", "idmap"],
                 "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 1}]})
    res = b.create()
    assert not res.ok, f"gidMappings without uidMappings accepted\n{res.describe()}"


# ---- process --------------------------------------------------------------------------------


@clause("config.md", "Runtimes MUST ignore `consoleSize` if `terminal` is `false` or unset.")
def test_console_size_ignored_without_terminal(bundle: MakeBundle) -> None:
    b = bundle("tty")
    b.process["consoleSize"] = {"height": 10, "width": 20}
    out = b.run()
    assert parse_kv(out).get("tty1") == "0", out


@clause("config.md#process", "This value MUST be an absolute path.")
def test_cwd_relative_rejected(bundle: MakeBundle) -> None:
    b = bundle()
    b.process["cwd"] = "tmp"
    res = b.create()
    assert not res.ok, f"relative cwd accepted\n{res.describe()}"


@clause("config.md#process", "This value MUST be an absolute path.")
def test_cwd_applied(bundle: MakeBundle) -> None:
    b = bundle("cwd")
    b.process["cwd"] = "/tmp"
    assert "cwd=/tmp" in b.run()


@clause("config.md", "at least one entry is REQUIRED (non-Windows)")
def test_args_empty_rejected(bundle: MakeBundle) -> None:
    b = bundle()
    b.process["args"] = []
    res = b.create()
    if res.ok:
        res = b.start()
    assert not res.ok, "empty process.args accepted by create and start"


@clause("config.md", "that entry is used with the same semantics as `execvp`'s *file*")
def test_args_path_lookup(bundle: MakeBundle) -> None:
    b = bundle()
    os.link(b.rootfs / "helper", b.rootfs / "bin" / "helper")
    b.process["args"] = ["helper", "cwd"]
    b.process["env"] = ["PATH=/nonexistent:/bin"]
    assert "cwd=/" in b.run()


RLIMITS = {"RLIMIT_NOFILE": (512, 1000), "RLIMIT_CPU": (100, 200),
           "RLIMIT_MSGQUEUE": (8192, 16384), "RLIMIT_CORE": (0, 4096),
           "RLIMIT_NPROC": (1000, 2000)}


@clause("config.md", "For each entry in `rlimits`, a `getrlimit(3)` on `type` MUST succeed.")
@clause("config.md", "`rlim.rlim_cur` MUST match the configured value.")
@clause("config.md", "`rlim.rlim_max` MUST match the configured value.")
def test_rlimits(bundle: MakeBundle) -> None:
    b = bundle("rlimits")
    b.process["rlimits"] = [{"type": t, "soft": s, "hard": h} for t, (s, h) in RLIMITS.items()]
    kv = parse_kv(b.run())
    for t, (s, h) in RLIMITS.items():
        assert kv.get(t) == f"{s},{h}", f"{t}: {kv.get(t)} != {s},{h}"


@clause("config.md", "The runtime MUST generate an error for any values which cannot be mapped")
def test_rlimit_unknown_type(bundle: MakeBundle) -> None:
    b = bundle()
    b.process["rlimits"] = [{"type": "RLIMIT_CONFORMANCE", "soft": 1, "hard": 1}]
    res = b.create()
    assert not res.ok, res.describe()


@clause("config.md", "If `rlimits` contains duplicated entries with same `type`, the runtime MUST")
def test_rlimit_duplicate(bundle: MakeBundle) -> None:
    b = bundle()
    b.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 100},
                            {"type": "RLIMIT_NOFILE", "soft": 200, "hard": 200}]
    res = b.create()
    assert not res.ok, f"duplicate rlimits accepted\n{res.describe()}"


def _bounding_caps() -> set[int]:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapBnd:"):
            v = int(line.split()[1], 16)
            return {i for i in range(64) if v >> i & 1}
    return set()


@clause("config.md", "Any value which cannot be mapped to a relevant kernel interface, or cannot "
                     "be")
@clause("config.md", "Runtimes SHOULD NOT fail if the container configuration requests "
                     "capabilities")
def test_capability_unknown_is_a_warning(bundle: MakeBundle, rt: Runtime) -> None:
    b = bundle("status")
    for k in ("bounding", "effective", "permitted"):
        b.process["capabilities"][k].append("CAP_CONFORMANCE_NO_SUCH")
    res = b.create()
    said = res.stdout + res.stderr + b.errors() + rt.log_tail(50)
    assert "CAP_CONFORMANCE_NO_SUCH" in said, \
        f"nothing logged about the unknown capability\n{res.describe()}"
    assert res.ok, f"create failed on an unknown capability (SHOULD NOT fail)\n{res.describe()}"


@clause("config.md", "Any value which cannot be mapped to a relevant kernel interface, or cannot "
                     "be")
@clause("config.md", "Runtimes SHOULD NOT fail if the container configuration requests "
                     "capabilities")
def test_capability_not_grantable_is_a_warning(bundle: MakeBundle, rt: Runtime) -> None:
    """A capability missing from the runtime's own bounding set cannot be granted."""
    names = {24: "CAP_SYS_RESOURCE", 21: "CAP_SYS_ADMIN", 25: "CAP_SYS_TIME",
             16: "CAP_SYS_MODULE", 17: "CAP_SYS_RAWIO"}
    missing = [n for i, n in names.items() if i not in _bounding_caps()]
    if not missing:
        pytest.skip("this host's bounding set has every capability: none is ungrantable")
    cap = missing[0]
    b = bundle("status")
    for k in ("bounding", "effective", "permitted"):
        b.process["capabilities"][k].append(cap)
    res = b.create()
    said = res.stdout + res.stderr + b.errors() + rt.log_tail(50)
    assert cap in said, f"nothing logged about {cap}, which cannot be granted\n{res.describe()}"
    assert res.ok, f"create failed on {cap} (SHOULD NOT fail)\n{res.describe()}"


@clause("config.md", "If `oomScoreAdj` is set, the runtime MUST set `oom_score_adj` to the given")
def test_oom_score_adj_set(bundle: MakeBundle) -> None:
    b = bundle("cat", "/proc/self/oom_score_adj")
    b.process["oomScoreAdj"] = 123
    assert b.run().strip() == "123"


@clause("config.md", "If `oomScoreAdj` is not set, the runtime MUST NOT change the value")
def test_oom_score_adj_unchanged(bundle: MakeBundle, rt: Runtime) -> None:
    b = bundle("cat", "/proc/self/oom_score_adj")
    b.write_config()
    # Run create from a parent whose oom_score_adj is 77 (raising it needs no privilege).
    cmd = rt.command("create", "--bundle", str(b.dir), b.id)
    with open(b.stdout_path, "ab") as out, open(b.stderr_path, "ab") as err:
        p = subprocess.run(["sh", "-c", 'echo 77 > /proc/self/oom_score_adj && exec "$@"', "sh",
                            *cmd], stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                           check=False, timeout=30)
    b.created = True
    assert p.returncode == 0, b.errors()
    assert b.start().ok and b.wait() == "stopped"
    assert b.output().strip() == "77", b.output()


# ---- hooks ------------------------------------------------------------------------------------

HOOK_TYPES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
              "poststop")


def parse_hook_log(text: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    cur: dict[str, Any] | None = None
    for line in text.splitlines():
        if line.startswith("== "):
            cur = {"tag": line[3:].strip(), "env": [], "arg": []}
            records.append(cur)
        elif cur is not None and "=" in line:
            k, v = line.split("=", 1)
            if k in ("env", "arg"):
                cur[k].append(v)
            else:
                cur[k] = v
    return records


class HookRun:
    """One container with two hooks of every type, driven through its lifecycle."""

    def __init__(self, session: Session) -> None:
        self.b = Bundle(session, ["hook", "/hooks.log", "process", "--", "ns", "--",
                                  "sleep", "0.5"])
        self.log = self.b.rootfs / "hooks.log"
        helper = str(session.helper)
        hooks: dict[str, list[dict[str, Any]]] = {}
        for t in HOOK_TYPES:
            inside = t == "startContainer"
            path = "/helper" if inside else helper
            log = "/hooks.log" if inside else str(self.log)
            hooks[t] = [{"path": path, "args": ["helper", "hook", log, f"{t}-{i}"],
                         "env": [f"HOOK_TAG={t}-{i}"]} for i in (1, 2)]
        self.b.config["hooks"] = hooks
        self.times: dict[str, float] = {}
        self.results: dict[str, Any] = {}

    def ns_now(self) -> int:
        return time.clock_gettime_ns(time.CLOCK_MONOTONIC)

    def run(self) -> None:
        b = self.b
        self.times["create0"] = self.ns_now()
        self.results["create"] = b.create()
        self.times["create1"] = self.ns_now()
        self.after_create = self.records()
        st = b.state()
        self.pid = st.get("pid") if st else None
        self.times["start0"] = self.ns_now()
        self.results["start"] = b.start()
        self.times["start1"] = self.ns_now()
        self.after_start = self.records()
        b.wait("stopped")
        self.times["delete0"] = self.ns_now()
        self.results["delete"] = b.delete()
        self.times["delete1"] = self.ns_now()
        self.after_delete = self.records()

    def records(self) -> list[dict[str, Any]]:
        return parse_hook_log(self.log.read_text()) if self.log.exists() else []

    def get(self, tag: str) -> dict[str, Any]:
        for r in self.after_delete:
            if r["tag"] == tag:
                return r
        raise AssertionError(f"hook {tag} never ran; ran: {[r['tag'] for r in self.after_delete]}")


@pytest.fixture(scope="module")
def hook_run(session: Session) -> Iterator[HookRun]:
    hr = HookRun(session)
    hr.run()
    yield hr
    hr.b.cleanup()


def _runtime_ns() -> dict[str, str]:
    return {t: os.readlink(f"/proc/self/ns/{t}") for t in ("mnt", "net", "uts", "ipc", "pid")}


def _host_root() -> str:
    st = os.stat("/")
    return f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}:{st.st_ino}"


def _check_ran(hr: HookRun, hook: str) -> None:
    assert hr.results["create"].ok, hr.results["create"].describe()
    hr.get(f"{hook}-1")


@pytest.mark.parametrize("hook,when", [
    pytest.param("prestart", "create", marks=clause("runtime.md",
        "The `prestart` hooks MUST be invoked by the runtime.")),
    pytest.param("createRuntime", "create", marks=clause("runtime.md",
        "The `createRuntime` hooks MUST be invoked")),
    pytest.param("createContainer", "create", marks=clause("runtime.md",
        "The `createContainer` hooks MUST be invoked")),
    pytest.param("startContainer", "start", marks=clause("runtime.md",
        "The `startContainer` hooks MUST be invoked")),
    pytest.param("poststart", "start", marks=clause("runtime.md",
        "The `poststart` hooks MUST be invoked")),
    pytest.param("poststop", "delete", marks=clause("runtime.md",
        "The `poststop` hooks MUST be invoked")),
])
def test_hook_invoked(hook_run: HookRun, hook: str, when: str) -> None:
    for op in ("create", "start", "delete"):
        assert hook_run.results[op].ok, hook_run.results[op].describe()
    during = {"create": hook_run.after_create, "start": hook_run.after_start,
              "delete": hook_run.after_delete}[when]
    tags = [r["tag"] for r in during]
    assert f"{hook}-1" in tags and f"{hook}-2" in tags, f"{hook} hooks not run by {when}: {tags}"
    if when == "start":
        assert f"{hook}-1" not in [r["tag"] for r in hook_run.after_create], \
            f"{hook} ran during create"
    if when == "delete":
        assert f"{hook}-1" not in [r["tag"] for r in hook_run.after_start], \
            f"{hook} ran before delete"


@clause("config.md", "Hooks MUST be called in the listed order.")
@clause("config.md", "The `prestart` hooks MUST be called before the `createRuntime` hooks.")
@clause("config.md", "The `createContainer` hooks MUST be called after the `createRuntime` hooks.")
def test_hook_order(hook_run: HookRun) -> None:
    tags = [r["tag"] for r in hook_run.after_delete if r["tag"] != "process"]
    expected = [f"{t}-{i}" for t in HOOK_TYPES for i in (1, 2)]
    assert tags == expected, tags


@clause("config.md", "The state of the container MUST be passed to hooks over stdin")
def test_hook_stdin_state(hook_run: HookRun) -> None:
    from conformance.test_runtime import validate_state

    for r in hook_run.after_delete:
        if r["tag"] == "process":
            continue
        try:
            st = json.loads(r["stdin"])
        except ValueError:
            raise AssertionError(f"{r['tag']}: stdin is not JSON: {r['stdin']!r}") from None
        assert st.get("id") == hook_run.b.id, f"{r['tag']}: {st}"
        assert st.get("bundle") == str(hook_run.b.dir), f"{r['tag']}: {st}"
        problems = validate_state(st)
        assert not problems, f"{r['tag']}: {problems}: {st}"
        if not r["tag"].startswith("poststop"):
            assert isinstance(st.get("pid"), int) and st["pid"] > 0, f"{r['tag']}: {st}"


RUNTIME_NS_HOOKS = ("prestart", "createRuntime", "poststart", "poststop")


@pytest.mark.parametrize("hook", [
    pytest.param("prestart", marks=[clause("config.md#posix-platform-hooks",
        "The `prestart` hooks MUST be executed in the runtime namespace."),
                                    clause("config.md#prestart",
                                        "The `prestart` hooks MUST be executed in the runtime "
                                        "namespace."),
                                    clause("config.md#prestart",
                                        "The `prestart` hooks' path MUST resolve in the runtime "
                                        "namespace."),
                                    clause("config.md", "config:posix-platform-hooks:3")]),
    pytest.param("createRuntime", marks=[clause("config.md#posix-platform-hooks",
        "The `createRuntime` hooks MUST be executed in the runtime namespace."),
                                         clause("config.md#createruntime-hooks",
                                             "The `createRuntime` hooks MUST be executed in the "
                                             "runtime namespace."),
                                         clause("config.md#createruntime-hooks",
                                             "The `createRuntime` hooks' path MUST resolve"),
                                         clause("config.md", "config:posix-platform-hooks:7")]),
    pytest.param("poststart", marks=[clause("config.md#posix-platform-hooks",
        "The `poststart` hooks MUST be executed in the runtime namespace."),
                                     clause("config.md#poststart",
                                         "The `poststart` hooks MUST be executed in the runtime "
                                         "namespace."),
                                     clause("config.md#poststart",
                                         "The `poststart` hooks' path MUST resolve"),
                                     clause("config.md", "config:posix-platform-hooks:13")]),
    pytest.param("poststop", marks=[clause("config.md#posix-platform-hooks",
        "The `poststop` hooks MUST be executed in the runtime namespace."),
                                    clause("config.md#poststop",
                                        "The `poststop` hooks MUST be executed in the runtime "
                                        "namespace."),
                                    clause("config.md#poststop",
                                        "The `poststop` hooks' path MUST resolve"),
                                    clause("config.md", "config:posix-platform-hooks:15")]),
])
def test_hook_in_runtime_namespace(hook_run: HookRun, hook: str) -> None:
    r = hook_run.get(f"{hook}-1")
    host = _runtime_ns()
    for t, v in host.items():
        assert r.get(f"ns_{t}") == v, f"{hook} ran in another {t} namespace: {r.get(f'ns_{t}')}"


def _container_ns(hr: HookRun) -> dict[str, str]:
    kv = parse_kv(hr.b.output())
    return {t: kv.get(t, "") for t in ("mnt", "net", "uts", "ipc", "pid")}


@pytest.mark.parametrize("hook", [
    pytest.param("createContainer", marks=[clause("config.md#posix-platform-hooks",
        "The `createContainer` hooks MUST be executed in the container namespace."),
                                           clause("config.md#createcontainer-hooks",
                                               "The `createContainer` hooks MUST be executed in "
                                               "the container namespace."),
                                           clause("config.md#createcontainer-hooks",
                                               "The `createContainer` hooks' path MUST resolve in "
                                               "the runtime namespace."),
                                           clause("config.md", "config:posix-platform-hooks:9")]),
    pytest.param("startContainer", marks=[clause("config.md#posix-platform-hooks",
        "The `startContainer` hooks MUST be executed in the container namespace."),
                                          clause("config.md#startcontainer-hooks",
                                              "The `startContainer` hooks MUST be executed in the "
                                              "container namespace."),
                                          clause("config.md#startcontainer-hooks",
                                              "The `startContainer` hooks' path MUST resolve in "
                                              "the container namespace."),
                                          clause("config.md", "config:posix-platform-hooks:11")]),
])
def test_hook_in_container_namespace(hook_run: HookRun, hook: str) -> None:
    r = hook_run.get(f"{hook}-1")
    cns = _container_ns(hook_run)
    for t, v in cns.items():
        assert v, f"the container process did not report its {t} namespace"
        assert r.get(f"ns_{t}") == v, f"{hook} ran in {t} {r.get(f'ns_{t}')}, container has {v}"


@clause("config.md#prestart", "The `prestart` hooks MUST be called as part of the `create` "
                              "operation after")
@clause("config.md#createruntime-hooks", "The `createRuntime` hooks MUST be called as part of the "
                                         "`create` operation after")
@clause("config.md#createcontainer-hooks", "The `createContainer` hooks MUST be called as part of "
                                           "the `create` operation after")
def test_create_hooks_before_pivot_root(hook_run: HookRun) -> None:
    host_root = _host_root()
    t0, t1 = hook_run.times["create0"], hook_run.times["create1"]
    for hook in ("prestart", "createRuntime", "createContainer"):
        r = hook_run.get(f"{hook}-1")
        assert t0 <= int(r["time"]) <= t1, f"{hook} did not run during create"
        if hook == "createContainer":
            # Its state carries the pid as seen in the container: look at its own "/"
            # (the container's namespaces are checked by test_hook_in_container_namespace).
            assert r.get("root") == host_root, \
                f"createContainer: / is {r.get('root')}, not the runtime's {host_root} " \
                "(pivot_root already done)"
        else:
            for t in ("net", "uts", "ipc", "pid", "mnt"):
                assert r.get(f"target_ns_{t}") and r[f"target_ns_{t}"] != _runtime_ns()[t], \
                    f"{hook}: the container's {t} namespace did not exist yet"
            assert r.get("target_root") == host_root, \
                f"{hook}: the container's root is {r.get('target_root')}, not yet " \
                f"the runtime's {host_root}: pivot_root already done"


@clause("config.md", "The `startContainer` hooks MUST be called before the user-specified process "
                     "is executed")
def test_start_container_hook_timing(hook_run: HookRun) -> None:
    r = hook_run.get("startContainer-1")
    p = hook_run.get("process")
    t0, t1 = hook_run.times["start0"], hook_run.times["start1"]
    assert t0 <= int(r["time"]) <= t1, "startContainer did not run during start"
    assert int(r["time"]) < int(p["time"]), "the process ran before startContainer"


@clause("config.md", "The `poststart` hooks MUST be called after the user-specified process is "
                     "executed but before")
def test_poststart_hook_timing(hook_run: HookRun) -> None:
    r = hook_run.get("poststart-1")
    t0, t1 = hook_run.times["start0"], hook_run.times["start1"]
    assert t0 <= int(r["time"]) <= t1, "poststart did not run before start returned"
    cmd = r.get("target_cmdline", "")
    assert cmd.startswith("/helper hook /hooks.log process"), \
        f"poststart: the container process was not yet the user program: {cmd!r}"


@clause("config.md", "The `poststop` hooks MUST be called after the container is deleted but "
                     "before")
def test_poststop_hook_timing(hook_run: HookRun, bundle: MakeBundle) -> None:
    r = hook_run.get("poststop-1")
    t0, t1 = hook_run.times["delete0"], hook_run.times["delete1"]
    assert t0 <= int(r["time"]) <= t1, "poststop did not run during delete"
    assert "target_root" not in r, f"poststop ran while the container process lived: {r}"
    # "after the container is deleted": when the hook runs, the container's state
    # (ROOT/ID, the runc-compatible layout) and its cgroups are gone already.
    b = bundle("exit", "0")
    probe = b.dir / "poststop-probe"
    gone = [(b.rt.root / b.id, "state")]
    gone += [(Path(mnt) / b.linux["cgroupsPath"].lstrip("/"), "cgroup")
             for mnt, _ in cgroup_mounts()]
    script = "; ".join(f"[ -e {shlex.quote(str(path))} ] && echo {what} {shlex.quote(str(path))}"
                       for path, what in gone)
    b.config["hooks"] = {"poststop": [{"path": "/bin/sh", "args": [
        "sh", "-c", f"{{ {script}; echo checked; }} > {shlex.quote(str(probe))}"]}]}
    b.run()
    assert b.delete().ok
    seen = probe.read_text().splitlines() if probe.exists() else ["the hook did not run"]
    assert seen == ["checked"], f"still there when poststop ran: {seen}"


@clause("config.md#posix-platform-hooks", "config:posix-platform-hooks:1")
@clause("config.md#posix-platform-hooks", "config:posix-platform-hooks:5")
def test_hook_relative_path_rejected(bundle: MakeBundle) -> None:
    b = bundle()
    b.config["hooks"] = {"createRuntime": [{"path": "bin/true"}]}
    res = b.create()
    assert not res.ok, f"a hook with a relative path was accepted\n{res.describe()}"


@clause("config.md#posix-platform-hooks", "config:posix-platform-hooks:2")
@clause("config.md#posix-platform-hooks", "config:posix-platform-hooks:6")
def test_hook_zero_timeout_rejected(bundle: MakeBundle, session: Session) -> None:
    b = bundle()
    # The hook sleeps: a runtime that runs it with a zero timer (runc 1.1 does) then
    # fails on the timer every time; with "true" the hook could win that race on a
    # loaded machine and the result would depend on scheduling (seen in CI).
    hook = {"path": str(session.helper), "args": ["helper", "sleep", "5"], "timeout": 0}
    b.config["hooks"] = {"createRuntime": [hook]}
    res = b.create()
    assert not res.ok, f"a hook with timeout 0 was accepted\n{res.describe()}"


FAIL_CLAUSES = {
    "prestart": "If any `prestart` hook fails, the runtime MUST generate an error",
    "createRuntime": "If any `createRuntime` hook fails, the runtime MUST generate an error",
    "createContainer": "If any `createContainer` hook fails, the runtime MUST generate an error",
    "startContainer": "If any `startContainer` hook fails, the runtime MUST generate an error",
    "poststart": "If any `poststart` hook fails, the runtime MUST generate an error",
}


def _failing_hook_bundle(make: MakeBundle, session: Session, hook: str) -> tuple[Bundle, Path]:
    b = make("write", "/ran", "yes")
    log = b.rootfs / "hooks.log"
    inside = hook == "startContainer"
    fail = {"path": "/helper" if inside else str(session.helper),
            "args": ["helper", "hook", "/hooks.log" if inside else str(log), f"{hook}-fails"],
            "env": ["HOOK_EXIT=3"]}
    b.config["hooks"] = {hook: [fail],
                         "poststop": [{"path": str(session.helper),
                                       "args": ["helper", "hook", str(log), "poststop"]}]}
    return b, log


@pytest.mark.parametrize("hook", [pytest.param(h, marks=clause("runtime.md", q))
                                  for h, q in FAIL_CLAUSES.items()])
def test_failing_hook_is_an_error(bundle: MakeBundle, session: Session, rt: Runtime,
                                  hook: str) -> None:
    b, log = _failing_hook_bundle(bundle, session, hook)
    res = b.create()
    if hook in ("startContainer", "poststart"):
        assert res.ok, res.describe()
        res = b.start()
    assert not res.ok, f"a failing {hook} hook did not make the operation fail"
    tags = [r["tag"] for r in parse_hook_log(log.read_text())] if log.exists() else []
    assert f"{hook}-fails" in tags, f"the {hook} hook did not run: {tags}"
    if hook != "poststart":
        time.sleep(0.2)
        assert not (b.rootfs / "ran").exists(), f"the program ran although {hook} failed"
    # "stop the container": it is not left running or waiting.
    status = rt.status(b.id)
    assert status in (None, "stopped"), f"after the failing {hook} hook: {status}"


@pytest.mark.parametrize("hook", [pytest.param(h, marks=clause("runtime.md", q))
                                  for h, q in FAIL_CLAUSES.items()])
def test_failing_hook_continues_at_step_12(bundle: MakeBundle, session: Session, rt: Runtime,
                                           hook: str) -> None:
    """'continue the lifecycle at step 12': the container is destroyed and (step 13)
    the poststop hooks run."""
    b, log = _failing_hook_bundle(bundle, session, hook)
    res = b.create()
    if hook in ("startContainer", "poststart"):
        assert res.ok, res.describe()
        b.start()
    if rt.status(b.id) is not None:
        b.delete(force=True)
    tags = [r["tag"] for r in parse_hook_log(log.read_text())] if log.exists() else []
    assert "poststop" in tags, f"poststop hooks not run after the failing {hook} hook: {tags}"


@clause("runtime.md", "If any `poststop` hook fails, the runtime MUST log a warning, but the "
                      "remaining")
@clause("runtime.md", "logging a warning does not change the flow of the operation; it MUST "
                      "continue")
def test_failing_poststop_hook_is_a_warning(bundle: MakeBundle, session: Session,
                                            rt: Runtime) -> None:
    b = bundle("exit", "0")
    log = b.rootfs / "hooks.log"
    h = str(session.helper)
    b.config["hooks"] = {"poststop": [
        {"path": h, "args": ["helper", "hook", str(log), "poststop-1"], "env": ["HOOK_EXIT=3"]},
        {"path": h, "args": ["helper", "hook", str(log), "poststop-2"]}]}
    b.run()
    res = b.delete()
    assert res.ok, f"delete failed because a poststop hook failed\n{res.describe()}"
    tags = [r["tag"] for r in parse_hook_log(log.read_text())]
    assert tags == ["poststop-1", "poststop-2"], tags
    assert rt.state(b.id).returncode != 0, "the container was not deleted"


# ---- annotations / extensibility ------------------------------------------------------------


@clause("config.md", "Runtimes MUST handle unknown annotation keys like any other unknown "
                     "property.")
def test_unknown_annotations_accepted(bundle: MakeBundle) -> None:
    b = bundle("exit", "0")
    b.config["annotations"] = {"com.example.conformance.unknown": "x",
                               "org.opencontainers.image.os": "linux"}
    b.run()
    st = b.state()
    assert st is not None
    ann = st.get("annotations")
    assert ann in (None, {}) or ann.get("com.example.conformance.unknown") == "x", st


@clause("config.md", "Keys MUST NOT be an empty string.")
def test_annotation_empty_key_rejected(bundle: MakeBundle) -> None:
    b = bundle()
    b.config["annotations"] = {"": "value"}
    res = b.create()
    assert not res.ok, f"an annotation with an empty key was accepted\n{res.describe()}"


@clause("config.md", "Values MUST be strings.")
@clause("config.md", "Annotations MUST be a key-value map.")
def test_annotation_value_not_string_rejected(bundle: MakeBundle) -> None:
    b = bundle()
    b.config["annotations"] = {"com.example.number": 5}
    res = b.create()
    assert not res.ok, f"a non-string annotation value was accepted\n{res.describe()}"


@clause("config.md", "Runtimes MAY log unknown properties but MUST otherwise ignore them.")
def test_unknown_properties_ignored(bundle: MakeBundle) -> None:
    b = bundle("cwd")
    b.config["conformanceUnknownTop"] = {"a": [1, 2]}
    b.process["conformanceUnknownProcess"] = True
    b.linux["conformanceUnknownLinux"] = "x"
    b.config["mounts"][0]["conformanceUnknownMount"] = 1
    assert "cwd=/" in b.run()


@clause("config.md", "Runtimes MUST generate an error when invalid or unsupported values are "
                     "encountered.")
@pytest.mark.parametrize("what", ["namespace-type", "mount-destination-type", "rlimit-soft",
                                  "uid-type", "capability-type"])
def test_invalid_values_rejected(bundle: MakeBundle, what: str) -> None:
    b = bundle()
    if what == "namespace-type":
        b.namespaces().append({"type": "conformance-bogus"})
    elif what == "mount-destination-type":
        b.add_mount({"destination": 42, "type": "tmpfs", "source": "tmpfs"})
    elif what == "rlimit-soft":
        b.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": "many", "hard": 10}]
    elif what == "uid-type":
        b.process["user"]["uid"] = "root"
    elif what == "capability-type":
        b.process["capabilities"]["bounding"] = "CAP_CHOWN"
    res = b.create()
    assert not res.ok, f"invalid {what} accepted\n{res.describe()}"
