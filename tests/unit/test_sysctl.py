"""pyoci.spec.sysctl: which namespace owns a linux.sysctl key, and its file below /proc/sys.

Pure (no root): the classifier decides at create whether a key may be written
at all; a key no namespace of the container owns would change the host.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pyoci.spec import sysctl
from pyoci.spec.sysctl import BadSysctl

IPC = [
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
    "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
    "fs.mqueue.msg_max", "fs.mqueue.queues_max", "fs/mqueue/msgsize_max",
]  # fmt: skip
NETWORK = [
    "net.ipv4.ip_forward", "net.core.somaxconn", "net/ipv4/ip_forward",
    "net.ipv4.conf.all.rp_filter", "net.ipv6.conf.default.disable_ipv6",
]  # fmt: skip
UTS = ["kernel.hostname", "kernel.domainname", "kernel/domainname"]
HOST = [
    "vm.swappiness", "vm/overcommit_memory", "kernel.pid_max", "kernel.core_pattern",
    "kernel.modprobe", "kernel.msgmax_extra", "kernel.sem.x", "fs.file-max",
    "fs.protected_symlinks", "fs.mqueue", "dev.tty.ldisc_autoload", "user.max_user_namespaces",
    "abi.vsyscall32", "debug.exception-trace", "crypto.fips_enabled", "netfilter.x", "network.x",
    "kernel", "net",
]  # fmt: skip


@pytest.mark.parametrize("key", IPC)
def test_ipc_keys(key: str) -> None:
    assert sysctl.namespace_of(key) == sysctl.IPC


@pytest.mark.parametrize("key", NETWORK)
def test_network_keys(key: str) -> None:
    assert sysctl.namespace_of(key) == sysctl.NETWORK


@pytest.mark.parametrize("key", UTS)
def test_uts_keys(key: str) -> None:
    assert sysctl.namespace_of(key) == sysctl.UTS


@pytest.mark.parametrize("key", HOST)
def test_keys_of_no_namespace(key: str) -> None:
    assert sysctl.namespace_of(key) is None


@pytest.mark.parametrize(
    ("key", "path", "name"),
    [
        ("net.ipv4.ip_forward", "sys/net/ipv4/ip_forward", "net.ipv4.ip_forward"),
        ("net/ipv4/ip_forward", "sys/net/ipv4/ip_forward", "net.ipv4.ip_forward"),
        # sysctl(8): in the dotted form "/" stands for a "." inside a component...
        ("net.ipv4.conf.eth0/100.forwarding", "sys/net/ipv4/conf/eth0.100/forwarding",
         "net.ipv4.conf.eth0/100.forwarding"),
        # ...and in the slash form (first separator "/") dots are literal
        ("net/ipv4/conf/eth0.100/forwarding", "sys/net/ipv4/conf/eth0.100/forwarding",
         "net.ipv4.conf.eth0/100.forwarding"),
        ("kernel.shm_rmid_forced", "sys/kernel/shm_rmid_forced", "kernel.shm_rmid_forced"),
        ("vm", "sys/vm", "vm"),
    ],
)  # fmt: skip
def test_both_separators_name_the_same_file(key: str, path: str, name: str) -> None:
    assert sysctl.proc_path(key) == path
    assert sysctl.canonical(key) == name


@pytest.mark.parametrize(
    "key",
    [
        "", ".", "/", "..", "net..ipv4", "net.ipv4.", ".net.ipv4", "net/", "/net/ipv4",
        "../x", "net/../vm/swappiness", "net/./ipv4", "net/ipv4/../../vm/swappiness",
        "net.ipv4/../../x", "net.//.x", "net./.x", "net.ipv4.ip_forward\0", "net\0.x",
        "net//ipv4", "net.ipv4..ip_forward",
    ],
)  # fmt: skip
def test_malformed_names(key: str) -> None:
    with pytest.raises(BadSysctl):
        sysctl.components(key)
    with pytest.raises(BadSysctl):
        sysctl.proc_path(key)
    assert "not a valid name" in str(sysctl.problem(key, {"network"}, {}, _never))


def test_a_component_never_leaves_proc_sys() -> None:
    """Whatever the key, each component is one plain name: no '..', no empty step."""
    for key in ("net.a/b.c", "net/a.b/c", "a.b.c/d/e", "x/y.z"):
        for part in sysctl.proc_path(key).split("/"):
            assert part not in ("", ".", "..")


def _never(kind: str, path: str) -> bool:
    raise AssertionError(f"no joined namespace to check, asked for {kind} {path}")


def _runtime_is(*paths: str) -> object:
    def check(kind: str, path: str) -> bool:
        return path in paths

    return check


@pytest.mark.parametrize(
    ("key", "new", "joined", "expected"),
    [
        ("net.ipv4.ip_forward", {"network"}, {}, None),
        ("net.ipv4.ip_forward", set(), {},
         'sysctl "net.ipv4.ip_forward" not allowed in host network namespace'),
        ("net.ipv4.ip_forward", {"ipc", "uts"}, {},
         'sysctl "net.ipv4.ip_forward" not allowed in host network namespace'),
        ("net.ipv4.ip_forward", set(), {"network": "/run/netns/other"}, None),
        ("net.ipv4.ip_forward", set(), {"network": "/run/netns/host"},
         'sysctl "net.ipv4.ip_forward" not allowed in host network namespace'
         ' ("/run/netns/host" is the runtime\'s own)'),
        ("kernel.msgmax", {"ipc"}, {}, None),
        ("fs.mqueue.msg_max", {"network", "uts"}, {},
         'sysctl "fs.mqueue.msg_max" is not allowed in the hosts ipc namespace'),
        ("kernel.sem", set(), {"ipc": "/run/netns/host"},
         'sysctl "kernel.sem" is not allowed in the hosts ipc namespace'
         ' ("/run/netns/host" is the runtime\'s own)'),
        ("kernel.domainname", {"uts"}, {}, None),
        ("kernel.hostname", set(), {"uts": "/run/netns/other"}, None),
        ("kernel.domainname", {"network", "ipc"}, {},
         'sysctl "kernel.domainname" is not allowed in the hosts uts namespace'),
        # no namespace owns these, whatever the container has
        ("vm.swappiness", {"network", "ipc", "uts", "user", "pid", "mount"}, {},
         'sysctl "vm.swappiness" is not in a separate kernel namespace'),
        ("kernel.pid_max", {"network", "ipc", "uts", "pid"}, {},
         'sysctl "kernel.pid_max" is not in a separate kernel namespace'),
        ("fs.file-max", {"ipc"}, {},
         'sysctl "fs.file-max" is not in a separate kernel namespace'),
    ],
)  # fmt: skip
def test_problem(key: str, new: set[str], joined: dict[str, str], expected: str | None) -> None:
    assert sysctl.problem(key, new, joined, _runtime_is("/run/netns/host")) == expected  # type: ignore[arg-type]


def test_a_joined_path_that_cannot_be_checked_is_an_error() -> None:
    def check(kind: str, path: str) -> bool:
        raise FileNotFoundError(2, "No such file or directory", path)

    assert sysctl.problem("net.core.somaxconn", set(), {"network": "/gone"}, check) == (
        'sysctl "net.core.somaxconn": cannot check network namespace "/gone": '
        "No such file or directory"
    )


@pytest.mark.parametrize(("kind", "name"), [("network", "net"), ("ipc", "ipc"), ("uts", "uts")])
def test_is_runtime_ns_compares_device_and_inode(tmp_path: Path, kind: str, name: str) -> None:
    assert sysctl.is_runtime_ns(kind, f"/proc/self/ns/{name}")
    assert sysctl.is_runtime_ns(kind, f"/proc/thread-self/ns/{name}")
    other = tmp_path / "file"
    other.write_text("")
    assert not sysctl.is_runtime_ns(kind, str(other))
    with pytest.raises(OSError):
        sysctl.is_runtime_ns(kind, str(tmp_path / "missing"))


def test_runtime_namespaces_are_ours() -> None:
    import os

    ids = sysctl.runtime_namespaces()
    assert set(ids) == {"network", "ipc", "uts"}
    for kind, name in sysctl.NS_FILES.items():
        st = os.stat(f"/proc/self/ns/{name}")
        assert ids[kind] == (st.st_dev, st.st_ino)
