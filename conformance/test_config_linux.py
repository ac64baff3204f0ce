"""config-linux.md: namespaces, devices, network devices, cgroups, seccomp, paths."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.bundle import Bundle, Session, mountinfo, parse_kv, parse_stat
from conformance.conftest import cgroup_dirs, cgroup_mounts
from conformance.plugin import clause
from conformance.runtime import Runtime

MakeBundle = Callable[..., Bundle]
NS_LINK = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
           "user": "user", "cgroup": "cgroup", "time": "time"}


def host_ns(t: str) -> str:
    return os.readlink(f"/proc/self/ns/{NS_LINK.get(t, t)}")


def userns(b: Bundle, base: int = 100000) -> None:
    b.add_namespace("user")
    b.linux["uidMappings"] = [{"containerID": 0, "hostID": base, "size": 65536}]
    b.linux["gidMappings"] = [{"containerID": 0, "hostID": base, "size": 65536}]


def pure_cgroup_v2() -> bool:
    return all(t == "cgroup2" for _, t in cgroup_mounts()) and bool(cgroup_mounts())


# ---- default filesystems -------------------------------------------------------------------


@clause("config-linux.md", "The following filesystems SHOULD be made available in each container's")
def test_default_filesystems(bundle: MakeBundle) -> None:
    out = bundle("cat", "/proc/self/mountinfo").run()
    types = {m["mountpoint"]: m["fstype"] for m in mountinfo(out)}
    assert types.get("/proc") == "proc", types
    assert types.get("/sys") == "sysfs", types
    assert types.get("/dev/pts") == "devpts", types
    assert types.get("/dev/shm") == "tmpfs", types


# ---- namespaces ----------------------------------------------------------------------------


def _ns_param(t: str) -> Any:
    return pytest.param(t, marks=[
        clause("config-linux.md", "The following namespace types SHOULD be supported:"),
        clause("config-linux.md", "If `path` is not specified, the runtime MUST create a new")])


@pytest.mark.parametrize("ns_type", [_ns_param(t) for t in NS_LINK])
def test_new_namespace(bundle: MakeBundle, ns_type: str) -> None:
    if ns_type == "time" and not os.path.exists("/proc/self/ns/time"):
        pytest.skip("this kernel has no time namespaces")
    b = bundle("ns")
    if ns_type == "user":
        userns(b)
    else:
        b.add_namespace(ns_type)
    kv = parse_kv(b.run())
    link = NS_LINK[ns_type]
    assert kv.get(link), f"the container did not report its {link} namespace"
    assert kv[link] != host_ns(ns_type), f"{ns_type}: still the runtime's {kv[link]}"


@clause("config-linux.md", "If a namespace type is not specified in the `namespaces` array, the")
def test_inherit_unlisted_namespaces(bundle: MakeBundle) -> None:
    b = bundle("ns")
    b.remove_namespace("ipc")
    b.remove_namespace("uts")
    b.remove_namespace("network")
    del b.config["hostname"]  # a hostname needs a UTS namespace of its own
    kv = parse_kv(b.run())
    for t in ("ipc", "uts", "network", "cgroup", "user"):
        assert kv.get(NS_LINK[t]) == host_ns(t), f"{t}: {kv.get(NS_LINK[t])} != {host_ns(t)}"


@clause("config-linux.md", "If a namespace type is not specified in the `namespaces` array, the")
def test_inherit_mount_namespace(bundle: MakeBundle, rt: Runtime, session: Session) -> None:
    """No mount namespace in the config: the container shares the runtime's, and the
    runtime must leave that namespace's root alone (no pivot_root in it).

    The runtime runs in a private copy of our mount namespace (``unshare -m``) with a
    sentinel process, so a runtime that does pivot only breaks that copy."""
    b = bundle()
    b.remove_namespace("mount")
    helper = str(session.helper)
    inside = b.rootfs / helper.lstrip("/")
    inside.parent.mkdir(parents=True)
    os.link(b.rootfs / "helper", inside)  # the same path whichever root the runtime uses
    b.process["args"] = [helper, "pause"]
    b.write_config()
    sentinel_file = b.dir / "sentinel.pid"
    script = 'sleep 60 & echo $! > "$1"; shift; exec "$@"'
    cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
           str(sentinel_file), *rt.command("create", "--bundle", str(b.dir), b.id)]
    with open(b.stdout_path, "ab") as out, open(b.stderr_path, "ab") as err:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                           timeout=60, check=False)
    b.created = True
    sentinel = int(sentinel_file.read_text())
    try:
        host = os.stat("/")
        sroot = os.stat(f"/proc/{sentinel}/root")
        assert (sroot.st_dev, sroot.st_ino) == (host.st_dev, host.st_ino), \
            "the runtime changed the root of its own mount namespace (pivot_root or " \
            "mounts without a mount namespace of the container's own)"
        assert p.returncode == 0, f"create failed: {b.errors()}"
        st = b.state()
        assert st is not None
        assert os.readlink(f"/proc/{st['pid']}/ns/mnt") == \
            os.readlink(f"/proc/{sentinel}/ns/mnt"), \
            "the container has a mount namespace of its own"
    finally:
        os.kill(sentinel, 9)


class NsHolder:
    """A process of ours in fresh namespaces, for containers to join by path."""

    def __init__(self, flags: list[str]) -> None:
        self.proc = subprocess.Popen(["unshare", *flags, "sleep", "60"])
        deadline = time.monotonic() + 5
        # unshare --fork: the sleeper is the child in the new pid namespace.
        self.pid = self.proc.pid
        while time.monotonic() < deadline:
            kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
            if "--fork" not in flags:
                if os.readlink(f"/proc/{self.pid}/ns/uts") != host_ns("uts") or \
                        "--uts" not in flags:
                    break
            elif kids.exists() and kids.read_text().split():
                self.pid = int(kids.read_text().split()[0])
                break
            time.sleep(0.02)

    def path(self, t: str) -> str:
        if t == "pid":
            return f"/proc/{self.proc.pid}/ns/pid_for_children"
        return f"/proc/{self.pid}/ns/{NS_LINK[t]}"

    def link(self, t: str) -> str:
        return os.readlink(self.path(t))

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def holder() -> Iterator[NsHolder]:
    h = NsHolder(["--uts", "--ipc", "--net", "--cgroup", "--pid", "--fork", "--mount-proc"])
    yield h
    h.close()


@clause("config-linux.md", "The runtime MUST place the container process in the namespace "
                           "associated")
@pytest.mark.parametrize("ns_type", ["network", "uts", "ipc", "cgroup", "pid"])
def test_join_namespace_by_path(bundle: MakeBundle, holder: NsHolder, ns_type: str) -> None:
    b = bundle("ns")
    b.add_namespace(ns_type, holder.path(ns_type))
    want = holder.link(ns_type)
    kv = parse_kv(b.run())
    assert kv.get(NS_LINK[ns_type]) == want, f"{ns_type}: {kv.get(NS_LINK[ns_type])} != {want}"


@clause("config-linux.md", "The runtime MUST generate an error if `path` is not associated with a")
def test_namespace_path_of_other_type(bundle: MakeBundle, holder: NsHolder) -> None:
    b = bundle()
    b.add_namespace("uts", holder.path("network"))
    res = b.create()
    assert not res.ok, \
        f"a uts namespace given a network namespace path was accepted\n{res.describe()}"


@clause("config-linux.md", "The runtime MUST generate an error if `path` is not associated with a")
def test_namespace_path_not_a_namespace(bundle: MakeBundle) -> None:
    b = bundle()
    b.add_namespace("network", str(b.rootfs / "helper"))
    res = b.create()
    assert not res.ok, f"a regular file accepted as a namespace path\n{res.describe()}"


@clause("config-linux.md", "This value MUST be an absolute path in the runtime mount namespace.")
def test_namespace_path_relative_rejected(bundle: MakeBundle, holder: NsHolder) -> None:
    b = bundle()
    b.add_namespace("uts", holder.path("uts").lstrip("/"))
    res = b.create()
    assert not res.ok, f"a relative namespace path was accepted\n{res.describe()}"


@clause("config-linux.md", "If a `namespaces` field contains duplicated namespaces with same "
                           "`type`")
def test_duplicate_namespace_rejected(bundle: MakeBundle) -> None:
    b = bundle()
    b.namespaces().append({"type": "uts"})
    res = b.create()
    assert not res.ok, f"a duplicated uts namespace was accepted\n{res.describe()}"


@clause("config-linux.md", "The runtime SHOULD NOT modify the ownership of referenced filesystems")
def test_userns_does_not_chown_rootfs(bundle: MakeBundle) -> None:
    b = bundle("ids")
    userns(b)
    before = {p: (p.stat().st_uid, p.stat().st_gid) for p in [b.rootfs, *b.rootfs.rglob("*")]}
    out = b.run()
    assert "uid=0 " in out, out
    after = {p: (p.stat().st_uid, p.stat().st_gid) for p in before if p.exists()}
    changed = {str(p): (before[p], v) for p, v in after.items() if before[p] != v}
    assert not changed, f"ownership changed: {changed}"


# ---- devices -------------------------------------------------------------------------------


@clause("config-linux.md", "`devices` (array of objects, OPTIONAL) lists devices that MUST be "
                           "available")
def test_devices_created(bundle: MakeBundle) -> None:
    b = bundle("stat", "/dev/conf-null", "/mnt/dev/conf-zero", "/dev/conf-fifo")
    b.linux["devices"] = [
        {"type": "c", "path": "/dev/conf-null", "major": 1, "minor": 3, "fileMode": 0o640,
         "uid": 1, "gid": 2},
        {"type": "c", "path": "/mnt/dev/conf-zero", "major": 1, "minor": 5},
        {"type": "p", "path": "/dev/conf-fifo", "fileMode": 0o600},
    ]
    b.linux.setdefault("resources", {})["devices"] = [
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"}]
    st = parse_stat(b.run())
    null = st.get("/dev/conf-null", {})
    assert (null.get("type"), null.get("major"), null.get("minor")) == ("chr", "1", "3"), st
    assert (null.get("mode"), null.get("uid"), null.get("gid")) == ("0640", "1", "2"), null
    zero = st.get("/mnt/dev/conf-zero", {})
    assert (zero.get("type"), zero.get("major"), zero.get("minor")) == ("chr", "1", "5"), st
    assert st.get("/dev/conf-fifo", {}).get("type") == "fifo", st


@clause("config-linux.md", "If a file already exists at `path` that does not match the requested "
                           "device")
def test_device_path_conflict(bundle: MakeBundle) -> None:
    b = bundle()
    (b.rootfs / "mnt" / "taken").write_text("a regular file")
    b.linux["devices"] = [{"type": "c", "path": "/mnt/taken", "major": 1, "minor": 3}]
    res = b.create()
    assert not res.ok, f"a device over an existing regular file was accepted\n{res.describe()}"


DEFAULT_DEVICES = {"/dev/null": (1, 3), "/dev/zero": (1, 5), "/dev/full": (1, 7),
                   "/dev/random": (1, 8), "/dev/urandom": (1, 9), "/dev/tty": (5, 0)}


@clause("config-linux.md", "In addition to any devices configured with this setting, the runtime "
                           "MUST also supply:")
def test_default_devices(bundle: MakeBundle) -> None:
    b = bundle("stat", *DEFAULT_DEVICES, "/dev/ptmx", "--", "lstat", "/dev/ptmx",
               "--", "readlink", "/dev/ptmx", "--", "open", "/dev/null", "rw",
               "--", "open", "/dev/zero", "r", "--", "open", "/dev/urandom", "r")
    out = b.run()
    st = parse_stat(out)
    for path, (major, minor) in DEFAULT_DEVICES.items():
        s = st.get(path, {})
        assert (s.get("type"), s.get("major"), s.get("minor")) == ("chr", str(major), str(minor)), \
            f"{path}: {s}"
    ptmx = st.get("/dev/ptmx", {})
    assert ptmx.get("type") == "chr" and ptmx.get("major") == "5", f"/dev/ptmx: {ptmx}"
    if "/dev/ptmx -> " in out:
        assert "/dev/ptmx -> pts/ptmx" in out or "/dev/ptmx -> /dev/pts/ptmx" in out, out
    for dev in ("/dev/null", "/dev/zero", "/dev/urandom"):
        assert f"open {dev} ok" in out, out


# ---- network devices -----------------------------------------------------------------------


@pytest.fixture
def veth(session: Session) -> Iterator[tuple[str, str]]:
    """A veth pair of ours (name a, peer b); a is for the container."""
    a, peer = f"cf{session.tag}a", f"cf{session.tag}b"
    p = subprocess.run(["ip", "link", "add", a, "type", "veth", "peer", "name", peer],
                       capture_output=True, text=True, check=False)
    if p.returncode != 0:
        pytest.skip(f"cannot create a veth pair here: {p.stderr.strip()}")
    subprocess.run(["ip", "addr", "add", "10.211.7.1/24", "dev", a], check=True)
    yield a, peer
    for name in (a, peer):
        subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)


def _link_exists(name: str) -> bool:
    return Path(f"/sys/class/net/{name}").exists()


@clause("config-linux.md", "A set of network devices that MUST be made available in the container.")
@clause("config-linux.md", "The runtime MUST set the network device state to \"up\" after")
@clause("config-linux.md", "The runtime MUST preserve existing network interface attributes")
def test_net_device_moved(bundle: MakeBundle, veth: tuple[str, str]) -> None:
    a, _ = veth
    b = bundle("cat", "/sys/class/net/eth7/flags", "/proc/net/fib_trie")
    b.linux["netDevices"] = {a: {"name": "eth7"}}
    out = b.run()
    lines = out.splitlines()
    assert lines and lines[0].startswith("0x"), f"eth7 not in the container: {out}"
    assert int(lines[0], 16) & 1, f"eth7 is not up (flags {lines[0]})"
    assert "10.211.7.1" in out, f"the address of {a} was not kept: {out}"
    assert not _link_exists(a), f"{a} is still in the host namespace"


@clause("config-linux.md", "If a network device with the specified name already exists in the "
                           "container")
def test_net_device_name_taken(bundle: MakeBundle, veth: tuple[str, str]) -> None:
    a, _ = veth
    b = bundle()
    b.linux["netDevices"] = {a: {"name": "lo"}}
    res = b.create()
    assert not res.ok, f"moving {a} in as 'lo' was accepted\n{res.describe()}"


@clause("config-linux.md", "In that case, the runtime MUST allow the move, and the kernel will")
def test_net_device_name_template(bundle: MakeBundle, veth: tuple[str, str]) -> None:
    a, _ = veth
    b = bundle("ls", "/sys/class/net")
    b.linux["netDevices"] = {a: {"name": "cfx%d"}}
    out = b.run()
    assert "cfx0" in out.split(), out


@clause("config-linux.md", "The runtime MUST check if moving the network interface to the "
                           "container")
def test_net_device_missing(bundle: MakeBundle, session: Session) -> None:
    b = bundle()
    b.linux["netDevices"] = {f"cf{session.tag}z": {}}
    res = b.create()
    assert not res.ok, f"moving a device that does not exist was accepted\n{res.describe()}"


@clause("config-linux.md", "The runtime MUST NOT actively manage the interface's lifecycle")
@clause("config-linux.md", "The runtime MUST NOT attempt to move the interface out of the "
                           "namespace")
def test_net_device_not_moved_back(bundle: MakeBundle, veth: tuple[str, str]) -> None:
    a, peer = veth
    b = bundle("exit", "0")
    b.linux["netDevices"] = {a: {}}
    b.run()
    assert not _link_exists(a)
    assert b.delete().ok
    time.sleep(0.3)
    assert not _link_exists(a), f"{a} was moved back to the host"
    assert not _link_exists(peer), "the veth pair outlived the container's network namespace"


# ---- cgroups -------------------------------------------------------------------------------


def _proc_cgroups(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cgroup").read_text().splitlines()


@clause("config-linux.md", "In the case of an absolute path (starting with `/`), the runtime MUST "
                           "take")
def test_cgroups_path_absolute(bundle: MakeBundle) -> None:
    b = bundle("pause")
    b.must_create()
    pid = b.state()["pid"]  # type: ignore[index]
    path = b.linux["cgroupsPath"]
    lines = _proc_cgroups(pid)
    # Every v1 hierarchy with a controller, and the v2 one on a pure v2 host.
    for line in lines:
        _, ctrls, p = line.split(":", 2)
        if ctrls and "name=" not in ctrls:
            assert p == path, f"{line}: not at {path}"
    dirs = cgroup_dirs(path)
    assert dirs, f"no cgroup directory {path} under any mount"
    for d in dirs:
        procs = (d / "cgroup.procs").read_text().split()
        if d.parent.name != "unified" or pure_cgroup_v2():
            assert str(pid) in procs, f"{d}: {procs}"


@clause("config-linux.md", "the runtime MUST consistently attach to the same place in the cgroups")
def test_cgroups_path_consistent(bundle: MakeBundle, session: Session) -> None:
    path = f"{session.cgroup_parent}/shared-{session.tag}"
    seen: list[list[str]] = []
    for _ in range(2):
        b = bundle("pause")
        b.linux["cgroupsPath"] = path
        b.must_create()
        seen.append(_proc_cgroups(b.state()["pid"]))  # type: ignore[index]
        b.kill("KILL")
        b.wait("stopped")
        assert b.delete().ok
    assert seen[0] == seen[1], seen


def _owner_check(b: Bundle) -> list[str]:
    b.must_create()
    out = []
    for d in cgroup_dirs(b.linux["cgroupsPath"]):
        st = d.stat()
        if st.st_uid != 0:
            out.append(f"{d} owned by {st.st_uid}")
    return out


@clause("config-linux.md", "Runtimes SHOULD NOT change the ownership of container cgroups when")
def test_cgroup_owner_unchanged_on_v1(bundle: MakeBundle) -> None:
    if pure_cgroup_v2():
        pytest.skip("cgroup v1 is not in use on this host")
    b = bundle("pause")
    userns(b)
    b.add_namespace("cgroup")
    b.process["user"] = {"uid": 1000, "gid": 1000}
    b.add_mount({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                 "options": ["rw", "nosuid", "noexec", "nodev"]})
    assert not _owner_check(b)


@clause("config-linux.md", "A runtime SHOULD NOT change the ownership of a container cgroup unless")
@clause("config-linux.md", "If the configuration does not specify such a mount, the runtime")
def test_cgroup_owner_unchanged_without_cgroupns(bundle: MakeBundle) -> None:
    b = bundle("pause")
    userns(b)
    b.process["user"] = {"uid": 1000, "gid": 1000}
    assert not _owner_check(b)


def _delegated_owner_check(b: Bundle, names: list[str]) -> None:
    """A v2 container with user and cgroup namespaces and a cgroup mount: its cgroup and
    exactly the files ``names`` of it belong to the container's root user."""
    userns(b)
    b.add_namespace("cgroup")
    b.process["user"] = {"uid": 1000, "gid": 1000}
    b.add_mount({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                 "options": ["rw", "nosuid", "noexec", "nodev"]})
    b.must_create()
    (d,) = cgroup_dirs(b.linux["cgroupsPath"])
    host_uid = 100000 + 1000
    assert d.stat().st_uid == host_uid, f"{d} owned by {d.stat().st_uid}"
    for f in d.iterdir():
        want = host_uid if f.name in names else 0
        assert f.stat().st_uid == want, f"{f}: owner {f.stat().st_uid}, expected {want}"


@clause("config-linux.md", "Runtimes SHOULD change the cgroup ownership if and only if the cgroup")
@clause("config-linux.md", "A runtime that changes the cgroup ownership SHOULD only change the "
                           "ownership")
@clause("config-linux.md", "The runtime SHOULD NOT change the ownership of any other files.")
def test_cgroup_owner_delegated_on_v2(bundle: MakeBundle) -> None:
    if not pure_cgroup_v2():
        pytest.skip("cgroup ownership is only delegated on a pure cgroup v2 host "
                    "(this one mounts cgroup v1 hierarchies)")
    delegate = Path("/sys/kernel/cgroup/delegate")
    names = delegate.read_text().split() if delegate.exists() else \
        ["cgroup.procs", "cgroup.subtree_control", "cgroup.threads"]
    _delegated_owner_check(bundle("pause"), names)


@clause("config-linux.md", "If the `/sys/kernel/cgroup/delegate` file does not exist, the runtime "
                           "MUST fall")
@clause("config-linux.md", "Runtimes MUST NOT fail in this scenario, and SHOULD change the "
                           "ownership")
def test_cgroup_delegate_fallback(bundle: MakeBundle, session: Session) -> None:
    """The runtime runs where ``/sys/kernel/cgroup/delegate`` does not exist (a private
    mount namespace with an empty tmpfs on /sys/kernel/cgroup, as on kernels before
    4.15): it must still create the container, handing over the fallback list."""
    if not pure_cgroup_v2():
        pytest.skip("needs a pure cgroup v2 host (this one mounts cgroup v1 hierarchies)")
    hide = session.workdir / "runtime-without-delegate"
    hide.write_text("#!/bin/sh\nexec unshare -m --propagation private sh -c 'mount -t tmpfs "
                    "-o ro,mode=0555 none /sys/kernel/cgroup && exec \"$0\" \"$@\"' "
                    f"{session.runtime.binary} \"$@\"\n")
    hide.chmod(0o755)
    b = bundle("pause")
    b.rt = Runtime(str(hide), session.runtime.root, session.runtime.log)
    _delegated_owner_check(b, ["cgroup.procs", "cgroup.subtree_control", "cgroup.threads"])


@clause("config-linux.md", "The runtime MUST apply entries in the listed order.")
@pytest.mark.parametrize("order,expect", [("deny-then-allow", "ok"), ("allow-then-deny", "EPERM")])
def test_device_allowlist_order(bundle: MakeBundle, order: str, expect: str) -> None:
    b = bundle("open", "/dev/conf-kmsg", "w")
    b.linux["devices"] = [{"type": "c", "path": "/dev/conf-kmsg", "major": 1, "minor": 11,
                           "fileMode": 0o600}]
    allow = {"allow": True, "type": "c", "major": 1, "minor": 11, "access": "rwm"}
    deny = {"allow": False, "type": "c", "major": 1, "minor": 11, "access": "rwm"}
    rules = [{"allow": False, "access": "rwm"}]
    rules += [deny, allow] if order == "deny-then-allow" else [allow, deny]
    b.linux["resources"] = {"devices": rules}
    out = b.run()
    if expect == "ok":
        assert "open /dev/conf-kmsg ok" in out, out
    else:
        assert "ERR open /dev/conf-kmsg EPERM" in out, out


@clause("config-linux.md", "`0` is a valid limit value for the `pids` cgroup controller")
def test_pids_limit_zero(bundle: MakeBundle) -> None:
    b = bundle("pause")
    b.linux["resources"] = {"pids": {"limit": 0}}
    res = b.create()
    assert res.ok, res.describe()
    values = [(d / "pids.max").read_text().strip() for d in cgroup_dirs(b.linux["cgroupsPath"])
              if (d / "pids.max").exists()]
    assert values == ["0"], f"pids.max: {values}"


@clause("config-linux.md", "The runtime MUST generate an error when the configuration refers to a "
                           "cgroup")
def test_unified_missing_controller(bundle: MakeBundle) -> None:
    unified = [m for m, t in cgroup_mounts() if t == "cgroup2"]
    if not unified:
        pytest.skip("no cgroup2 hierarchy here")
    controllers = Path(unified[0], "cgroup.controllers").read_text().split()
    if "pids" in controllers:
        pytest.skip("the pids controller is available in cgroup v2 here")
    b = bundle()
    b.linux["resources"] = {"unified": {"pids.max": "10"}}
    res = b.create()
    assert not res.ok, f"unified pids.max accepted without a v2 pids controller\n{res.describe()}"


@clause("config-linux.md", "Configuration unknown to the runtime MUST still be written to the "
                           "relevant")
@clause("config-linux.md", "The OCI runtime MUST ensure that the needed cgroup controllers are "
                           "enabled")
def test_unified_written(bundle: MakeBundle) -> None:
    unified = [m for m, t in cgroup_mounts() if t == "cgroup2"]
    if not unified:
        pytest.skip("no cgroup2 hierarchy here")
    controllers = Path(unified[0], "cgroup.controllers").read_text().split()
    b = bundle("pause")
    values = {"cgroup.max.depth": "7"}
    if "pids" in controllers:
        values["pids.max"] = "33"
    b.linux["resources"] = {"unified": values}
    res = b.create()
    assert res.ok, res.describe()
    dirs = [d for d in cgroup_dirs(b.linux["cgroupsPath"]) if (d / "cgroup.max.depth").exists()]
    assert dirs, "no cgroup v2 directory for the container"
    for k, v in values.items():
        assert (dirs[0] / k).read_text().strip() == v, f"{k}: {(dirs[0] / k).read_text()}"


@clause("config-linux.md", "If the conversion is not possible the runtime MUST generate an error.")
def test_v1_config_on_v2_not_convertible(bundle: MakeBundle) -> None:
    if not pure_cgroup_v2():
        pytest.skip("needs a pure cgroup v2 host (this one mounts cgroup v1 hierarchies)")
    b = bundle()
    b.linux["resources"] = {"memory": {"kernelTCP": 1 << 20}}
    res = b.create()
    assert not res.ok, res.describe()


@clause("runtime.md", "If the runtime cannot apply a property as specified in the configuration")
def test_network_resources_without_controller(bundle: MakeBundle) -> None:
    """linux.resources.network needs the net_cls / net_prio controllers."""
    mounted = Path("/proc/self/mountinfo").read_text()
    if "net_cls" in mounted or "net_prio" in mounted:
        pytest.skip("net_cls / net_prio are mounted here: the settings can be applied")
    b = bundle()
    b.linux["resources"] = {"network": {"classID": 1048577,
                                        "priorities": [{"name": "lo", "priority": 1}]}}
    res = b.create()
    assert not res.ok, \
        f"network classID/priorities accepted without a net_cls/net_prio cgroup\n{res.describe()}"


@clause("config-linux.md", "If no mounted `resctrl` pseudo-filesystem is available in the runtime "
                           "mount")
def test_intel_rdt_without_resctrl(bundle: MakeBundle) -> None:
    if any(" resctrl " in line for line in Path("/proc/self/mountinfo").read_text().splitlines()):
        pytest.skip("resctrl is mounted here")
    b = bundle()
    b.linux["intelRdt"] = {"closID": "conformance"}
    res = b.create()
    assert not res.ok, f"intelRdt accepted without a resctrl filesystem\n{res.describe()}"


# ---- seccomp -------------------------------------------------------------------------------

SYS_GETCPU = 309  # x86_64


def _seccomp(b: Bundle, syscalls: list[dict[str, Any]], **extra: Any) -> None:
    b.linux["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                          "architectures": ["SCMP_ARCH_X86_64"], "syscalls": syscalls, **extra}


@clause("config-linux.md#seccomp", "config-linux:seccomp:1")
@clause("config-linux.md#seccomp", "config-linux:seccomp:8")
def test_seccomp_errno_on_action_without_errno(bundle: MakeBundle) -> None:
    b = bundle()
    _seccomp(b, [{"names": ["getcpu"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}])
    res = b.create()
    assert not res.ok, f"errnoRet with SCMP_ACT_ALLOW accepted\n{res.describe()}"


@clause("config-linux.md#seccomp", "config-linux:seccomp:1")
def test_seccomp_default_errno_on_action_without_errno(bundle: MakeBundle) -> None:
    b = bundle()
    _seccomp(b, [{"names": ["getcpu"], "action": "SCMP_ACT_ERRNO"}], defaultErrnoRet=1)
    res = b.create()
    assert not res.ok, \
        f"defaultErrnoRet with defaultAction SCMP_ACT_ALLOW accepted\n{res.describe()}"


@clause("config-linux.md", "`names` MUST contain at least one entry.")
def test_seccomp_empty_names(bundle: MakeBundle) -> None:
    b = bundle()
    _seccomp(b, [{"names": [], "action": "SCMP_ACT_ERRNO"}])
    res = b.create()
    assert not res.ok, f"a syscall rule with no names accepted\n{res.describe()}"


@clause("config-linux.md", "This field MUST NOT be set if `listenerPath` is not set.")
def test_seccomp_metadata_without_listener(bundle: MakeBundle) -> None:
    b = bundle()
    _seccomp(b, [{"names": ["getcpu"], "action": "SCMP_ACT_ERRNO"}], listenerMetadata="x")
    res = b.create()
    assert not res.ok, f"listenerMetadata without listenerPath accepted\n{res.describe()}"


@clause("config-linux.md", "If sending to this socket fails, the runtime MUST generate an error.")
def test_seccomp_listener_unreachable(bundle: MakeBundle) -> None:
    b = bundle()
    _seccomp(b, [{"names": ["getcpu"], "action": "SCMP_ACT_NOTIFY"}],
             listenerPath=str(b.dir / "nobody-listens.sock"))
    res = b.create()
    if res.ok:
        res = b.start()
    assert not res.ok, f"an unreachable seccomp listener was not an error\n{res.describe()}"


class Listener:
    """A seccomp agent stand-in: accepts connections, keeps what arrives."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(4)
        self.sock.settimeout(15)
        self.connections: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                conn.settimeout(10)
                msgs: list[tuple[bytes, list[int]]] = []
                with conn:
                    while True:
                        data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 8)
                        if not data and not fds:
                            break
                        msgs.append((data, fds))
                self.connections.append({"messages": msgs, "closed": True})

    def close(self) -> None:
        self.sock.close()
        for c in self.connections:
            for _data, fds in c["messages"]:
                for fd in fds:
                    with contextlib.suppress(OSError):
                        os.close(fd)


@clause("config-linux.md", "This socket MUST use `AF_UNIX` domain and `SOCK_STREAM` type.")
@clause("config-linux.md", "The runtime MUST send exactly one container process state per "
                           "connection.")
@clause("config-linux.md", "The connection MUST NOT be reused and it MUST be closed after sending")
@clause("config-linux.md", "The container runtime MUST send the container process state over the "
                           "UNIX socket")
@clause("config-linux.md", "If more than one `sendmsg(2)` is used, the file descriptors MUST be "
                           "sent only")
def test_seccomp_listener(bundle: MakeBundle) -> None:
    b = bundle("exit", "0")
    listener = Listener(b.dir / "agent.sock")
    try:
        _seccomp(b, [{"names": ["getcpu"], "action": "SCMP_ACT_NOTIFY"}],
                 listenerPath=str(listener.path), listenerMetadata="conformance-meta")
        b.run()
        deadline = time.monotonic() + 5
        while not listener.connections and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(listener.connections) == 1, f"{len(listener.connections)} connections"
        msgs = listener.connections[0]["messages"]
        assert msgs, "the runtime sent nothing"
        payload = b"".join(m[0] for m in msgs)
        first_fds = msgs[0][1]
        assert all(not m[1] for m in msgs[1:]), "file descriptors after the first sendmsg"
        state = json.loads(payload)
        assert state.get("fds") == ["seccompFd"], state
        assert len(first_fds) == 1, f"{len(first_fds)} fds received"
        assert isinstance(state.get("pid"), int) and state["pid"] > 0, state
        assert state.get("metadata") == "conformance-meta", state
        assert isinstance(state.get("ociVersion"), str), state
        assert state.get("state", {}).get("id") == b.id, state
        assert os.readlink(f"/proc/self/fd/{first_fds[0]}").startswith("anon_inode:"), \
            "the fd is not a seccomp notify fd"
    finally:
        listener.close()


# ---- masked / readonly paths -----------------------------------------------------------------


@clause("config-linux.md#masked-paths", "The values MUST be absolute paths in the container "
                                        "namespace.")
def test_masked_paths_relative_rejected(bundle: MakeBundle) -> None:
    b = bundle()
    b.linux["maskedPaths"] = ["proc/kcore"]
    res = b.create()
    assert not res.ok, f"a relative masked path was accepted\n{res.describe()}"


@clause("config-linux.md#masked-paths", "The values MUST be absolute paths in the container "
                                        "namespace.")
def test_masked_paths_applied(bundle: MakeBundle) -> None:
    b = bundle("cat", "/proc/kcore", "/mnt/secret/file", "--", "ls", "/mnt/secret")
    (b.rootfs / "mnt" / "secret").mkdir()
    (b.rootfs / "mnt" / "secret" / "file").write_text("hidden")
    b.linux["maskedPaths"] = ["/proc/kcore", "/mnt/secret", "/no/such/path"]
    out = b.run()
    assert "hidden" not in out and "file" not in out.split(), out


@clause("config-linux.md#readonly-paths", "The values MUST be absolute paths in the container "
                                          "namespace.")
def test_readonly_paths_relative_rejected(bundle: MakeBundle) -> None:
    b = bundle()
    b.linux["readonlyPaths"] = ["proc/sys"]
    res = b.create()
    assert not res.ok, f"a relative readonly path was accepted\n{res.describe()}"


@clause("config-linux.md#readonly-paths", "The values MUST be absolute paths in the container "
                                          "namespace.")
def test_readonly_paths_applied(bundle: MakeBundle) -> None:
    b = bundle("write", "/mnt/ro/file", "x", "--", "write", "/mnt/rw", "x")
    (b.rootfs / "mnt" / "ro").mkdir()
    b.linux["readonlyPaths"] = ["/mnt/ro", "/no/such/path"]
    out = b.run()
    assert "ERR write /mnt/ro/file EROFS" in out and "write /mnt/rw ok" in out, out
