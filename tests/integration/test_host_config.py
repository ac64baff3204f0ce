"""Config values that would reach the host, or that the kernel reads as "unchanged"
(issue 12, sections 1 and 2): each refused at create (or exec) with one line
naming the problem, nothing changed on the host, nothing left behind; and the
shapes that are fine still work.  runc 1.1.5 is run on the same bundles where it
behaves well.

Defense -> weakening (tried once locally, never committed) -> failing tests:

1. linux.sysctl only for a namespace the container owns (spec.semantic + spec.sysctl)
   -> weakened: semantic._check_sysctl returns at once
   -> fails: sysctl_of_the_host_is_refused[all ten shapes] (the host's value changed:
      vm.swappiness 60 -> 61, somaxconn 4096 -> 4097, domainname "(none)" -> "pyoci-test"...),
      a_bind_of_the_runtimes_netns_is_the_host, the_host_init_netns_is_refused (an unclear
      setns EACCES).  Malformed names were still refused, by the init's own parse
      (procfs.write_sysctl, the second line; it showed the init imported
      pyoci.spec.sysctl after pivot_root, now imported with procfs).
   The init checks again where the namespaces exist (stage._write_sysctls: the key's
   namespace must not be the runtime's, by device and inode): with 1 weakened, no host
   value changed and each shape failed in the init ("the network namespace is the
   runtime's own", "not in a separate kernel namespace").
2. joined namespaces compared by device and inode with the runtime's own
   -> weakened: sysctl.is_runtime_ns returns False
   -> fails: [net-in-the-runtimes-netns], [ipc-in-the-runtimes-ipcns] (the host's msgmnb
      changed), a_bind_of_the_runtimes_netns_is_the_host, the_host_init_netns_is_refused
3. process ids in 0..4294967294 and mapped (spec.semantic.process_problems)
   -> weakened: _check_id returns at once
   -> fails: ids_the_kernel_reads_as_unchanged[uid, gid, additional-gid] (create
      succeeded: uid 4294967295 left the init root), unmapped_ids_in_a_user_namespace (an
      unclear EINVAL), exec_is_checked_as_create[user-*, additional-gids, process-json-*]
      (exec --user 4294967295 ran)
4. hostname and netDevices: the same joined-namespace comparison (semantic._not_the_runtimes)
5. the init refuses such ids itself and reads its ids back (security.switch_user):
   with 3 weakened, create fails "switch to user 4294967295:0: uid 4294967295 is not a
   valid id" (tests/unit/test_security_pure.py: switch_user_refuses_ids_...)
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import Bundle, RuntimeCLI, leftovers, wait_for

pytestmark = pytest.mark.root

Mutate = Callable[[dict[str, Any]], None]

# The host files the bundles below aim at (all harmless to change, and restored
# if a defense fails).
WATCHED = [
    "vm/swappiness", "kernel/printk_ratelimit_burst", "fs/lease-break-time",
    "net/core/somaxconn", "kernel/msgmnb", "fs/mqueue/msg_max", "kernel/domainname",
]  # fmt: skip


def _read(rel: str) -> str:
    return Path("/proc/sys", rel).read_text()


@pytest.fixture
def host_sysctls() -> Iterator[dict[str, str]]:
    """The watched host values; after the test, any change is undone and fails it."""
    before = {rel: _read(rel) for rel in WATCHED}
    yield before
    changed = {rel: (value, _read(rel)) for rel, value in before.items() if _read(rel) != value}
    for rel, (value, _now) in changed.items():
        Path("/proc/sys", rel).write_text(value)
    assert not changed, f"the host's sysctls changed: {changed}"


def other_value(rel: str) -> str:
    """A value the host does not have (so a write to the host would show)."""
    current = _read(rel).strip()
    return str(int(current) + 1) if current.isdigit() else "pyoci-test"


def without_ns(*kinds: str) -> Mutate:
    def mutate(cfg: dict[str, Any]) -> None:
        linux = cfg["linux"]
        linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] not in kinds]
        if "uts" in kinds:
            cfg.pop("hostname", None)

    return mutate


def joined_ns(kind: str, path: str) -> Mutate:
    def mutate(cfg: dict[str, Any]) -> None:
        for ns in cfg["linux"]["namespaces"]:
            if ns["type"] == kind:
                ns["path"] = path

    return mutate


def sysctl(key: str, value: str, *more: Mutate) -> Mutate:
    def mutate(cfg: dict[str, Any]) -> None:
        for m in more:
            m(cfg)
        cfg["linux"]["sysctl"] = {key: value}

    return mutate


def userns(cfg: dict[str, Any]) -> None:
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]


@pytest.fixture
def make(bundle_factory: Callable[..., Bundle], rootfs: Path) -> Callable[..., Bundle]:
    """A bundle both runtimes take (runc wants root.path absolute, not a symlink):
    the shared rootfs, or with ``copy_rootfs`` a private one (for tests that look
    for a file the container would write)."""

    def factory(args: list[str], mutate: Mutate | None = None, copy_rootfs: bool = False,
                **kw: Any) -> Bundle:  # fmt: skip
        def both(cfg: dict[str, Any]) -> None:
            if not copy_rootfs:
                cfg["root"]["path"] = str(rootfs)
            if mutate is not None:
                mutate(cfg)

        return bundle_factory(args, mutate=both, copy_rootfs=copy_rootfs, **kw)

    return factory


def refused(rt: RuntimeCLI, b: Bundle, cid: str, workdir: Path, *words: str) -> str:
    """create fails: exit 1, one stderr line with ``words``, nothing left behind."""
    res = rt("create", "-b", str(b.path), cid)
    assert res.code == 1, res
    lines = res.err.strip().splitlines()
    assert len(lines) == 1, res.err
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert rt("state", cid).code != 0, "a container exists after a failed create"
    assert not leftovers(rt, workdir)
    return lines[0]


def runc_refuses(runc: RuntimeCLI, b: Bundle, cid: str) -> None:
    res = runc("create", "-b", str(b.path), cid)
    if res.code == 0:
        runc("delete", "--force", cid)
    assert res.code != 0, f"runc accepted it: {res}"
    assert runc("state", cid).code != 0


# ------------------------------------------------------------------ 1. sysctls

# name -> (key, host file it would change, namespaces mutation, words of the error)
HOST_SHAPES: dict[str, tuple[str, str, Mutate | None, str]] = {
    "vm": ("vm.swappiness", "vm/swappiness", None,
           'sysctl "vm.swappiness" is not in a separate kernel namespace'),
    "vm-slash": ("vm/swappiness", "vm/swappiness", None,
                 'sysctl "vm/swappiness" is not in a separate kernel namespace'),
    "kernel": ("kernel.printk_ratelimit_burst", "kernel/printk_ratelimit_burst", None,
               'sysctl "kernel.printk_ratelimit_burst" is not in a separate kernel namespace'),
    "fs": ("fs.lease-break-time", "fs/lease-break-time", None,
           'sysctl "fs.lease-break-time" is not in a separate kernel namespace'),
    "net-without-netns": ("net.core.somaxconn", "net/core/somaxconn", without_ns("network"),
                          'sysctl "net.core.somaxconn" not allowed in host network namespace'),
    "net-in-the-runtimes-netns": (
        "net.core.somaxconn", "net/core/somaxconn", joined_ns("network", "/proc/self/ns/net"),
        'sysctl "net.core.somaxconn" not allowed in host network namespace'),
    "ipc-without-ipcns": ("kernel.msgmnb", "kernel/msgmnb", without_ns("ipc"),
                          'sysctl "kernel.msgmnb" is not allowed in the hosts ipc namespace'),
    "mqueue-without-ipcns": (
        "fs.mqueue.msg_max", "fs/mqueue/msg_max", without_ns("ipc"),
        'sysctl "fs.mqueue.msg_max" is not allowed in the hosts ipc namespace'),
    "ipc-in-the-runtimes-ipcns": (
        "kernel.msgmnb", "kernel/msgmnb", joined_ns("ipc", "/proc/self/ns/ipc"),
        'sysctl "kernel.msgmnb" is not allowed in the hosts ipc namespace'),
    "domainname-without-uts": (
        "kernel.domainname", "kernel/domainname", without_ns("uts"),
        'sysctl "kernel.domainname" is not allowed in the hosts uts namespace'),
}  # fmt: skip
# runc 1.1.5 checks only that an IPC namespace is listed, not whether a joined one
# is the host's: it writes the host's kernel.msgmnb (pyoci refuses).
RUNC_UNSAFE = {"ipc-in-the-runtimes-ipcns"}


@pytest.mark.parametrize("shape", list(HOST_SHAPES))
def test_sysctl_of_the_host_is_refused(
    shape: str, pyoci: RuntimeCLI, make: Any, workdir: Path, host_sysctls: dict[str, str]
) -> None:
    key, rel, ns, words = HOST_SHAPES[shape]
    b = make(["true"], sysctl(key, other_value(rel), *([ns] if ns else [])))
    refused(pyoci, b, "host-sysctl", workdir, words)
    assert _read(rel) == host_sysctls[rel]


@pytest.mark.runc
@pytest.mark.parametrize("shape", [s for s in HOST_SHAPES if s not in RUNC_UNSAFE])
def test_runc_refuses_the_same_sysctls(
    shape: str, runc: RuntimeCLI, make: Any, host_sysctls: dict[str, str]
) -> None:
    key, rel, ns, _words = HOST_SHAPES[shape]
    b = make(["true"], sysctl(key, other_value(rel), *([ns] if ns else [])))
    runc_refuses(runc, b, "host-sysctl")
    assert _read(rel) == host_sysctls[rel]


def test_the_host_init_netns_is_refused(
    pyoci: RuntimeCLI, make: Any, workdir: Path, host_sysctls: dict[str, str]
) -> None:
    """/proc/1/ns/net: the host's (refused as the runtime's own), or unreadable here
    (PID 1 may deny ptrace access): refused as not checkable.  Never written."""
    b = make(["true"], sysctl("net.core.somaxconn", other_value("net/core/somaxconn"),
                              joined_ns("network", "/proc/1/ns/net")))  # fmt: skip
    line = refused(pyoci, b, "pid1-net", workdir, 'sysctl "net.core.somaxconn"')
    assert "not allowed in host network namespace" in line or "cannot check" in line, line


@pytest.fixture
def bound_host_netns(tmp_path: Path) -> Iterator[str]:
    """A path outside /proc (as ``ip netns`` makes) naming the runtime's network namespace
    (not under the test's workdir, where a mount is a leftover)."""
    target = tmp_path / "hostnet"
    target.write_text("")
    subprocess.run(["mount", "--bind", "/proc/self/ns/net", str(target)], check=True)
    try:
        yield str(target)
    finally:
        subprocess.run(["umount", str(target)], check=True)


def test_a_bind_of_the_runtimes_netns_is_the_host(
    pyoci: RuntimeCLI, make: Any, workdir: Path, host_sysctls: dict[str, str],
    bound_host_netns: str,
) -> None:  # fmt: skip
    b = make(["true"], sysctl("net.core.somaxconn", other_value("net/core/somaxconn"),
                              joined_ns("network", bound_host_netns)))  # fmt: skip
    refused(pyoci, b, "bound-net", workdir,
            'sysctl "net.core.somaxconn" not allowed in host network namespace')  # fmt: skip


@pytest.mark.runc
def test_runc_refuses_a_bind_of_its_netns(
    runc: RuntimeCLI, make: Any, host_sysctls: dict[str, str], bound_host_netns: str
) -> None:
    b = make(["true"], sysctl("net.core.somaxconn", other_value("net/core/somaxconn"),
                              joined_ns("network", bound_host_netns)))  # fmt: skip
    runc_refuses(runc, b, "bound-net")


MALFORMED = {
    # name -> the host file a naive join of the components would reach
    "net/../vm/swappiness": "vm/swappiness",
    "../x": None,
    "net..ipv4": None,
    "net.ipv4.conf.all/../../../../vm/swappiness": "vm/swappiness",
    "net/./core/somaxconn": "net/core/somaxconn",
    "net.": None,
}


@pytest.mark.parametrize("key", list(MALFORMED))
def test_malformed_sysctl_names_are_refused(
    key: str, pyoci: RuntimeCLI, make: Any, workdir: Path, host_sysctls: dict[str, str]
) -> None:
    rel = MALFORMED[key]
    b = make(["true"], sysctl(key, other_value(rel) if rel else "1"))
    refused(pyoci, b, "bad-name", workdir, f'sysctl "{key}"', "not a valid name")


# runc 1.1.5 accepts a "." step (the file is the same, in the container's netns)
RUNC_ACCEPTS = {"net/./core/somaxconn"}


@pytest.mark.runc
@pytest.mark.parametrize("key", [k for k in MALFORMED if k not in RUNC_ACCEPTS])
def test_runc_refuses_malformed_names(
    key: str, runc: RuntimeCLI, make: Any, host_sysctls: dict[str, str]
) -> None:
    """runc fails later (in its init, on the path it made), but fails."""
    rel = MALFORMED[key]
    runc_refuses(runc, make(["true"], sysctl(key, other_value(rel) if rel else "1")), "bad")


def test_owned_sysctls_apply_inside_only(
    pyoci: RuntimeCLI, make: Any, workdir: Path, host_sysctls: dict[str, str]
) -> None:
    """New network, IPC and UTS namespaces: their keys (both separators) are set in
    the container, and the host keeps its values."""
    conn, msgmnb = other_value("net/core/somaxconn"), other_value("kernel/msgmnb")
    mq = other_value("fs/mqueue/msg_max")

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["linux"]["sysctl"] = {
            "net/core/somaxconn": conn,
            "kernel.msgmnb": msgmnb,
            "fs/mqueue/msg_max": mq,
            "kernel.domainname": "pyoci-test",
        }

    b = make(["cat", "/proc/sys/net/core/somaxconn", "/proc/sys/kernel/msgmnb",
              "/proc/sys/fs/mqueue/msg_max", "/proc/sys/kernel/domainname"], mutate)  # fmt: skip
    res = pyoci("run", "-b", str(b.path), "owned")
    assert res.code == 0, res
    assert res.out.split() == [conn, msgmnb, mq, "pyoci-test"]
    # host_sysctls: the host's values did not change


def test_net_sysctl_in_a_user_namespaces_netns(
    pyoci: RuntimeCLI, make: Any, host_sysctls: dict[str, str]
) -> None:
    """A network namespace owned by the container's user namespace: its root may set it."""
    conn = other_value("net/core/somaxconn")

    def mutate(cfg: dict[str, Any]) -> None:
        userns(cfg)
        cfg["linux"]["sysctl"] = {"net.core.somaxconn": conn}

    b = make(["cat", "/proc/sys/net/core/somaxconn"], mutate)
    res = pyoci("run", "-b", str(b.path), "userns-net")
    assert res.code == 0, res
    assert res.out.strip() == conn


@pytest.mark.runc
def test_runc_applies_the_slash_form_too(
    runc: RuntimeCLI, make: Any, host_sysctls: dict[str, str]
) -> None:
    conn = other_value("net/core/somaxconn")
    b = make(["cat", "/proc/sys/net/core/somaxconn"],
             sysctl("net/core/somaxconn", conn))  # fmt: skip
    res = runc("run", "-b", str(b.path), "slash")
    assert res.code == 0, res
    assert res.out.strip() == conn


def test_hostname_in_the_runtimes_uts_namespace_is_refused(
    pyoci: RuntimeCLI, make: Any, workdir: Path
) -> None:
    """Same class: joining the runtime's UTS namespace and setting hostname would
    rename the host (runc 1.1.5 only checks that a uts namespace is listed)."""
    import socket

    host = socket.gethostname()
    b = make(["true"], lambda c: (joined_ns("uts", "/proc/self/ns/uts")(c),
                                  c.update(hostname="pyoci-renamed-the-host")))  # fmt: skip
    refused(pyoci, b, "host-uts", workdir,
            'hostname: the uts namespace "/proc/self/ns/uts" is the runtime\'s own')  # fmt: skip
    assert socket.gethostname() == host


def test_net_devices_in_the_runtimes_netns_are_refused(
    pyoci: RuntimeCLI, make: Any, workdir: Path
) -> None:
    """Same class: "moving" a device within the host's namespace would rename it."""
    def mutate(cfg: dict[str, Any]) -> None:
        joined_ns("network", "/proc/self/ns/net")(cfg)
        cfg["linux"]["netDevices"] = {"lo": {"name": "lo-x"}}

    b = make(["true"], mutate)
    words = 'linux.netDevices: the network namespace "/proc/self/ns/net" is the runtime\'s own'
    refused(pyoci, b, "host-dev", workdir, words)
    assert Path("/sys/class/net/lo").exists()


# ------------------------------------------------------ 2. ids, env, no process

MAX = 4294967295  # (uid_t)-1

ID_SHAPES: dict[str, tuple[dict[str, Any], str]] = {
    "uid": ({"uid": MAX, "gid": 0}, f"process.user.uid: {MAX} is not a valid id"),
    "gid": ({"uid": 0, "gid": MAX}, f"process.user.gid: {MAX} is not a valid id"),
    "additional-gid": ({"uid": 0, "gid": 0, "additionalGids": [1, MAX]},
                       f"process.user.additionalGids[1]: {MAX} is not a valid id"),
    # past uint32: the schema's words
    "uid-past-uint32": ({"uid": MAX + 1, "gid": 0}, "process.user.uid: 4294967296"),
    "additional-gid-past-uint32": ({"uid": 0, "gid": 0, "additionalGids": [MAX + 1]},
                                   "process.user.additionalGids[0]: 4294967296"),
    "uid-negative": ({"uid": -1, "gid": 0}, "process.user.uid: -1"),
}  # fmt: skip


def _user(user: dict[str, Any], *more: Mutate) -> Mutate:
    def mutate(cfg: dict[str, Any]) -> None:
        for m in more:
            m(cfg)
        cfg["process"]["user"] = user

    return mutate


@pytest.mark.parametrize("shape", list(ID_SHAPES))
def test_ids_the_kernel_reads_as_unchanged(
    shape: str, pyoci: RuntimeCLI, make: Any, workdir: Path
) -> None:
    user, words = ID_SHAPES[shape]
    b = make(["touch", "/ran"], _user(user), copy_rootfs=True)
    refused(pyoci, b, "bad-id", workdir, words)
    assert not (b.rootfs / "ran").exists()


@pytest.mark.runc
@pytest.mark.parametrize("shape", list(ID_SHAPES))
def test_runc_refuses_the_same_ids(shape: str, runc: RuntimeCLI, make: Any) -> None:
    user, _words = ID_SHAPES[shape]
    b = make(["touch", "/ran"], _user(user), copy_rootfs=True)
    runc_refuses(runc, b, "bad-id")
    assert not (b.rootfs / "ran").exists()


@pytest.mark.parametrize(
    ("user", "words"),
    [
        ({"uid": 70000, "gid": 0},
         "process.user.uid: 70000 is not mapped in the user namespace (linux.uidMappings)"),
        ({"uid": 0, "gid": 70000},
         "process.user.gid: 70000 is not mapped in the user namespace (linux.gidMappings)"),
        ({"uid": 0, "gid": 0, "additionalGids": [70000]},
         "process.user.additionalGids[0]: 70000 is not mapped in the user namespace"),
    ],
)  # fmt: skip
def test_unmapped_ids_in_a_user_namespace(
    user: dict[str, Any], words: str, pyoci: RuntimeCLI, make: Any, workdir: Path
) -> None:
    refused(pyoci, make(["true"], _user(user, userns)), "unmapped", workdir, words)


@pytest.mark.runc
@pytest.mark.parametrize(
    "user",
    [{"uid": 70000, "gid": 0}, {"uid": 0, "gid": 70000},
     {"uid": 0, "gid": 0, "additionalGids": [70000]}],
)  # fmt: skip
def test_runc_refuses_unmapped_ids(user: dict[str, Any], runc: RuntimeCLI, make: Any) -> None:
    runc_refuses(runc, make(["true"], _user(user, userns)), "unmapped")


def test_mapped_ids_in_a_user_namespace_work(pyoci: RuntimeCLI, make: Any) -> None:
    b = make(["id"], _user({"uid": 1000, "gid": 1000, "additionalGids": [5]}, userns))
    res = pyoci("run", "-b", str(b.path), "mapped")
    assert res.code == 0, res
    assert "uid=1000" in res.out and "gid=1000" in res.out and "5(tty)" in res.out, res.out


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ("FOO", "process.env[1]: \"FOO\" has no '=' (want NAME=value)"),
        ("=x", 'process.env[1]: "=x" has an empty name'),
    ],
)
def test_env_entries_must_be_name_value(
    entry: str, words: str, pyoci: RuntimeCLI, make: Any, workdir: Path
) -> None:
    b = make(["touch", "/ran"], lambda c: c["process"].update(env=["PATH=/bin", entry]),
             copy_rootfs=True)  # fmt: skip
    refused(pyoci, b, "bad-env", workdir, words)
    assert not (b.rootfs / "ran").exists()


@pytest.mark.runc
@pytest.mark.parametrize("entry", ["FOO", "=x"])
def test_runc_refuses_the_same_env(entry: str, runc: RuntimeCLI, make: Any) -> None:
    b = make(["touch", "/ran"], lambda c: c["process"].update(env=["PATH=/bin", entry]),
             copy_rootfs=True)  # fmt: skip
    runc_refuses(runc, b, "bad-env")
    assert not (b.rootfs / "ran").exists()


# exec: the same checks, on the flags and on process.json
EXEC_SHAPES: dict[str, tuple[list[str], dict[str, Any] | None, str]] = {
    "user-uid": (["--user", str(MAX)], None, f"process.user.uid: {MAX} is not a valid id"),
    "user-gid": (["--user", f"0:{MAX}"], None, f"process.user.gid: {MAX} is not a valid id"),
    "user-past-uint32": (["--user", str(MAX + 1)], None,
                         f"process.user.uid: {MAX + 1} is not a valid id"),
    "user-negative": (["--user", "-1"], None, "process.user.uid: -1 is not a valid id"),
    "additional-gids": (["--additional-gids", str(MAX)], None,
                        f"process.user.additionalGids[0]: {MAX} is not a valid id"),
    "env": (["--env", "FOO"], None, "\"FOO\" has no '='"),
    "env-empty-name": (["--env", "=x"], None, '"=x" has an empty name'),
    "process-json-uid": ([], {"user": {"uid": MAX, "gid": 0}},
                         f"process.user.uid: {MAX} is not a valid id"),
    "process-json-additional-gids": ([], {"user": {"uid": 0, "gid": 0,
                                                   "additionalGids": [MAX]}},
                                     f"process.user.additionalGids[0]: {MAX} is not a valid id"),
    "process-json-env": ([], {"env": ["PATH=/bin", "FOO"]}, "process.env[1]: \"FOO\" has no '='"),
}  # fmt: skip
# runc 1.1.5 parses --user as uint32 and wraps 4294967296 to 0: that exec runs as root.
RUNC_EXEC_UNSAFE = {"user-past-uint32"}


def _container_procs(rt: RuntimeCLI, cid: str) -> list[int]:
    res = rt("ps", "--format", "json", cid)
    assert res.code == 0, res
    return sorted(json.loads(res.out))


def _exec_refused(
    rt: RuntimeCLI, cid: str, workdir: Path, flags: list[str], process: dict[str, Any] | None
) -> Any:
    if process is not None:
        doc = {"args": ["touch", "/exec-ran"], "cwd": "/", **process}
        path = workdir / "process.json"
        path.write_text(json.dumps(doc))
        return rt("exec", "-p", str(path), cid)
    return rt("exec", *flags, cid, "touch", "/exec-ran")


@pytest.mark.parametrize("shape", list(EXEC_SHAPES))
def test_exec_is_checked_as_create(
    shape: str, pyoci: RuntimeCLI, make: Any, workdir: Path
) -> None:
    """A bad exec fails (255, runc's exec code) with one line, and the container
    is unaffected: same status, same init, no new process, nothing ran."""
    flags, process, words = EXEC_SHAPES[shape]
    b = make(["sleep", "100"], copy_rootfs=True)
    pyoci("run", "-d", "-b", str(b.path), "ex", check=True)
    before = pyoci.state("ex")
    procs = _container_procs(pyoci, "ex")
    res = _exec_refused(pyoci, "ex", workdir, flags, process)
    assert res.code == 255, res
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], res.err
    after = pyoci.state("ex")
    assert (after["status"], after["pid"]) == ("running", before["pid"])
    assert _container_procs(pyoci, "ex") == procs
    assert not (b.rootfs / "exec-ran").exists()
    pyoci("delete", "--force", "ex", check=True)


@pytest.mark.runc
@pytest.mark.parametrize("shape", [s for s in EXEC_SHAPES if s not in RUNC_EXEC_UNSAFE])
def test_runc_exec_refuses_the_same(
    shape: str, runc: RuntimeCLI, make: Any, workdir: Path
) -> None:
    flags, process, _words = EXEC_SHAPES[shape]
    b = make(["sleep", "100"], copy_rootfs=True)
    runc("run", "-d", "-b", str(b.path), "ex", check=True)
    res = _exec_refused(runc, "ex", workdir, flags, process)
    assert res.code != 0, res
    assert runc.state("ex")["status"] == "running"
    assert not (b.rootfs / "exec-ran").exists()
    runc("delete", "--force", "ex", check=True)


def test_exec_user_unmapped_in_the_containers_userns(
    pyoci: RuntimeCLI, make: Any, workdir: Path
) -> None:
    b = make(["sleep", "100"], userns)
    pyoci("run", "-d", "-b", str(b.path), "ex-userns", check=True)
    pid = pyoci.state("ex-userns")["pid"]
    for flags, words in (
        (["--user", "70000"], "process.user.uid: 70000 is not mapped in the user namespace"),
        (["--user", "0:70000"], "process.user.gid: 70000 is not mapped in the user namespace"),
        (["--additional-gids", "70000"], "additionalGids[0]: 70000 is not mapped"),
    ):
        res = pyoci("exec", *flags, "ex-userns", "true")
        assert res.code == 255, res
        assert len(res.err.strip().splitlines()) == 1 and words in res.err, res.err
    res = pyoci("exec", "--user", "1000:1000", "ex-userns", "id", "-u")
    assert res.code == 0 and res.out.strip() == "1000", res
    assert pyoci.state("ex-userns")["pid"] == pid
    pyoci("delete", "--force", "ex-userns", check=True)


def test_without_process_the_container_waits_created_until_start(
    pyoci: RuntimeCLI, make: Any, workdir: Path
) -> None:
    """config.md: process is REQUIRED only at start (create accepts it: the
    conformance suite's clause); runtime.md start: MUST generate an error if
    process was not set.  So the container stays created, its init waiting,
    and start names the missing process; delete then removes everything."""
    b = make(["true"], lambda c: c.pop("process"))
    pyoci("create", "-b", str(b.path), "noproc", check=True)
    pid = pyoci.state("noproc")["pid"]
    time.sleep(0.5)  # the init does not exit on its own
    st = pyoci.state("noproc")
    assert (st["status"], st["pid"]) == ("created", pid)
    assert Path(f"/proc/{pid}").exists()
    res = pyoci("start", "noproc")
    assert res.code == 1, res
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and "without process" in lines[0], res.err
    assert wait_for(lambda: pyoci.state("noproc")["status"] == "stopped")
    pyoci("delete", "noproc", check=True)
    assert not leftovers(pyoci, workdir)
