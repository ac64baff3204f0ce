"""Namespaces: new ones differ from the host's, joined ones are the given ones; userns, timens."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import remove_new_empty_dirs

pytestmark = pytest.mark.root

# runtime-spec type -> /proc/PID/ns name
NS = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts", "mount": "mnt",
      "cgroup": "cgroup", "user": "user", "time": "time"}  # fmt: skip
READ_NS = (
    "for n in pid net ipc uts mnt cgroup user time; do echo $n $(readlink /proc/self/ns/$n); done"
)


def host_ns(name: str) -> str:
    return os.readlink(f"/proc/self/ns/{name}")


def ns_table(text: str) -> dict[str, str]:
    return dict(ln.split(" ", 1) for ln in text.splitlines() if " " in ln)


def set_namespaces(cfg: dict[str, Any], *types: str, **paths: str) -> None:
    cfg["linux"]["namespaces"] = [{"type": t} for t in types] + [
        {"type": t, "path": p} for t, p in paths.items()
    ]


def userns(cfg: dict[str, Any], host_uid: int = 100000, size: int = 65536) -> None:
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": host_uid, "size": size}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": host_uid, "size": size}]


def test_new_namespaces_differ_from_the_host(run_sh: Any) -> None:
    """The default config: pid, network, ipc, uts, mount, cgroup new; user and time shared."""
    inside = ns_table(run_sh(READ_NS).out)
    for name in ("pid", "net", "ipc", "uts", "mnt", "cgroup"):
        assert inside[name] != host_ns(name), name
    for name in ("user", "time"):
        assert inside[name] == host_ns(name), name


def test_all_eight_namespaces(run_sh: Any, workdir: Path) -> None:
    workdir.chmod(0o755)

    def mutate(cfg: dict[str, Any]) -> None:
        set_namespaces(cfg, "pid", "network", "ipc", "uts", "mount", "cgroup", "time")
        userns(cfg)

    inside = ns_table(run_sh(READ_NS + "; echo pid1 $$", mutate).out)
    for name in NS.values():
        assert inside[name] != host_ns(name), name
    assert inside["pid1"] == "1"


def test_namespaces_seen_from_outside(pyoci: Any, bundle_factory: Any) -> None:
    b = bundle_factory(["sleep", "100"])
    pyoci("create", "-b", str(b.path), "outside", check=True)
    pid = pyoci.state("outside")["pid"]
    for name in ("pid", "net", "ipc", "uts", "mnt", "cgroup"):
        assert os.readlink(f"/proc/{pid}/ns/{name}") != host_ns(name), name
    assert os.readlink(f"/proc/{pid}/ns/user") == host_ns("user")
    pyoci("delete", "-f", "outside", check=True)


def test_unlisted_namespaces_are_the_hosts(run_sh: Any) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        set_namespaces(cfg, "mount", "pid")
        del cfg["hostname"]  # needs a uts namespace

    inside = ns_table(run_sh(READ_NS + "; hostname", mutate).out)
    for name in ("net", "ipc", "uts", "cgroup"):
        assert inside[name] == host_ns(name), name
    assert inside["mnt"] != host_ns("mnt")


def test_pid_namespace(run_sh: Any) -> None:
    res = run_sh("echo $$; ps -o pid")
    lines = res.out.split()
    assert lines[0] == "1"
    pids = [int(p) for p in lines[2:]]
    assert 1 in pids and max(pids) < 10, pids  # nothing of the host's


def test_hostname_and_domainname(run_sh: Any) -> None:
    host = Path("/proc/sys/kernel/hostname").read_text()
    host_dom = Path("/proc/sys/kernel/domainname").read_text()

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["hostname"] = "box-1"
        cfg["domainname"] = "example.org"

    res = run_sh("hostname; cat /proc/sys/kernel/domainname", mutate)
    assert res.out == "box-1\nexample.org\n"
    assert Path("/proc/sys/kernel/hostname").read_text() == host
    assert Path("/proc/sys/kernel/domainname").read_text() == host_dom


def test_lo_up_in_new_network_namespace(run_sh: Any, pyoci: Any, bundle_factory: Any) -> None:
    # IFF_UP (0x1) | IFF_LOOPBACK (0x8), and only lo
    res = run_sh("cat /sys/class/net/lo/flags; ls /sys/class/net")
    flags, ifaces = res.out.split("\n", 1)
    assert int(flags, 16) & 0x1
    assert ifaces.split() == ["lo"]
    # from outside, through the init's network namespace
    b = bundle_factory(["sleep", "100"])
    pyoci("create", "-b", str(b.path), "lo", check=True)
    pid = pyoci.state("lo")["pid"]
    out = subprocess.run(["nsenter", "-t", str(pid), "-n", "ip", "-o", "link", "show", "lo"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "UP" in out.split("<")[1].split(">")[0].split(",")
    pyoci("delete", "-f", "lo", check=True)


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"pyoci-test-{uuid.uuid4().hex[:8]}"
    run_netns = Path("/run/netns")
    existed = run_netns.exists()
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)
        remove_new_empty_dirs(run_netns, existed)  # ip leaves /run/netns mounted


def test_join_network_namespace_by_path(run_sh: Any, netns: str) -> None:
    path = f"/var/run/netns/{netns}"
    subprocess.run(["ip", "netns", "exec", netns, "ip", "link", "add", "br-pyoci", "type",
                    "bridge"], check=True)  # fmt: skip

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["linux"]["namespaces"] = [
            ns if ns["type"] != "network" else {"type": "network", "path": path}
            for ns in cfg["linux"]["namespaces"]
        ]
        cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] != "/sys"]

    res = run_sh("readlink /proc/self/ns/net; cat /proc/net/dev", mutate)
    expected = f"net:[{os.stat(path).st_ino}]"
    assert res.out.splitlines()[0] == expected
    assert "br-pyoci" in res.out


def test_join_namespaces_of_another_container(pyoci: Any, bundle_factory: Any) -> None:
    a = bundle_factory(["sleep", "100"], mutate=lambda c: c.update(hostname="first"))
    pyoci("create", "-b", str(a.path), "first", check=True)
    pid = pyoci.state("first")["pid"]

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["linux"]["namespaces"] = [
            {"type": "pid"},
            {"type": "mount"},
            {"type": "network", "path": f"/proc/{pid}/ns/net"},
            {"type": "ipc", "path": f"/proc/{pid}/ns/ipc"},
            {"type": "uts", "path": f"/proc/{pid}/ns/uts"},
        ]
        cfg.pop("hostname", None)

    b = bundle_factory(["sh", "-c", READ_NS + "; hostname"], mutate=mutate)
    res = pyoci("run", "-b", str(b.path), "second")
    assert res.code == 0, res
    inside = ns_table(res.out)
    for name in ("net", "ipc", "uts"):
        assert inside[name] == os.readlink(f"/proc/{pid}/ns/{name}"), name
    assert inside["pid"] != os.readlink(f"/proc/{pid}/ns/pid")
    assert res.out.splitlines()[-1] == "first"
    pyoci("delete", "-f", "first", check=True)


def test_join_missing_namespace_path_fails_clearly(pyoci: Any, bundle_factory: Any) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["linux"]["namespaces"].append({"type": "time", "path": "/nonexistent/ns/time"})

    b = bundle_factory(["true"], mutate=mutate)
    res = pyoci("run", "-b", str(b.path), "nons")
    assert res.code == 1
    assert "/nonexistent/ns/time" in res.err and len(res.err.strip().splitlines()) == 1


def test_user_namespace_maps(pyoci: Any, bundle_factory: Any, workdir: Path) -> None:
    workdir.chmod(0o755)
    b = bundle_factory(
        ["sh", "-c", "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map;"
         "stat -c %u /bin/busybox; touch /tmp/by-root-inside; sleep 100"],
        mutate=lambda c: userns(c, 100000, 65536), copy_rootfs=True,
    )  # fmt: skip
    out_path = workdir / "out"
    with open(out_path, "w") as out:
        res = pyoci("create", "-b", str(b.path), "userns", stdout=out)
    assert res.code == 0, res
    pid = pyoci.state("userns")["pid"]
    pyoci("start", "userns", check=True)

    def done() -> bool:
        return len(out_path.read_text().splitlines()) >= 5

    from helpers import wait_for

    assert wait_for(done, 10)
    lines = out_path.read_text().splitlines()
    assert lines[0:2] == ["0", "0"]
    assert lines[2].split() == ["0", "100000", "65536"]
    assert lines[3].split() == ["0", "100000", "65536"]
    # host root's files are unmapped inside: the overflow id
    assert lines[4] == "65534"
    # outside, uid 0 of the container is host uid 100000
    status = Path(f"/proc/{pid}/status").read_text()
    uid_line = next(ln for ln in status.splitlines() if ln.startswith("Uid:"))
    assert uid_line.split()[1:] == ["100000"] * 4
    assert wait_for(lambda: (b.rootfs / "tmp" / "by-root-inside").exists(), 5)
    assert (b.rootfs / "tmp" / "by-root-inside").stat().st_uid == 100000
    pyoci("delete", "-f", "userns", check=True)


def test_time_namespace_offsets(run_sh: Any) -> None:
    day = 86400

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["linux"]["namespaces"].append({"type": "time"})
        cfg["linux"]["timeOffsets"] = {
            "boottime": {"secs": 10 * day, "nanosecs": 0},
            "monotonic": {"secs": 3 * day, "nanosecs": 500},
        }

    host_uptime = float(Path("/proc/uptime").read_text().split()[0])
    res = run_sh("cat /proc/uptime; cat /proc/self/timens_offsets", mutate)
    lines = res.out.splitlines()
    inside_uptime = float(lines[0].split()[0])
    assert 10 * day <= inside_uptime - host_uptime < 10 * day + 60
    offsets = {ln.split()[0]: ln.split()[1:] for ln in lines[1:]}
    assert offsets["monotonic"] == [str(3 * day), "500"]
    assert offsets["boottime"] == [str(10 * day), "0"]
    assert float(Path("/proc/uptime").read_text().split()[0]) < host_uptime + 60


def test_cgroup_namespace(run_sh: Any) -> None:
    inside = run_sh("cat /proc/self/cgroup").out
    assert all(ln.endswith(":/") for ln in inside.splitlines()), inside

    def no_cgroupns(cfg: dict[str, Any]) -> None:
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"]
                                      if n["type"] != "cgroup"]  # fmt: skip

    shared = run_sh("cat /proc/self/cgroup", no_cgroupns).out
    assert any("pyoci-test-" in ln for ln in shared.splitlines()), shared


def test_ipc_namespace_isolated(run_sh: Any) -> None:
    res = run_sh("cat /proc/sysvipc/shm | wc -l")
    assert res.out.strip() == "1"  # the header only


def test_join_user_namespace_of_another_container(pyoci: Any, bundle_factory: Any,
                                                  workdir: Path) -> None:  # fmt: skip
    workdir.chmod(0o755)
    a = bundle_factory(["sleep", "100"], mutate=lambda c: userns(c, 300000, 65536))
    pyoci("create", "-b", str(a.path), "owner", check=True)
    pid = pyoci.state("owner")["pid"]

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["linux"]["namespaces"] = [
            {"type": "user", "path": f"/proc/{pid}/ns/user"},
            {"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"},
            {"type": "network", "path": f"/proc/{pid}/ns/net"},
        ]  # fmt: skip

    b = bundle_factory(["sh", "-c", "readlink /proc/self/ns/user; id -u; cat /proc/self/uid_map"],
                       mutate=mutate)  # fmt: skip
    res = pyoci("run", "-b", str(b.path), "joiner")
    assert res.code == 0, res
    lines = res.out.splitlines()
    assert lines[0] == os.readlink(f"/proc/{pid}/ns/user")
    assert lines[1] == "0"
    assert lines[2].split() == ["0", "300000", "65536"]
    pyoci("delete", "-f", "owner", check=True)


def test_no_mount_namespace_shares_the_runtimes_root_and_mounts(
    pyoci: Any, bundle_factory: Any, workdir: Path
) -> None:
    """config-linux.md: an unlisted namespace is inherited.  Without a mount
    namespace, pyoci must not mount or pivot_root in the runtime's own
    namespace: root.path applies as a chroot, the mounts table is the runtime's.
    pyoci runs in a private mount namespace here, so a regression cannot touch
    the host's."""
    out = workdir / "root-inode"
    mounts_out = workdir / "mounts"

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["linux"]["namespaces"] = [
            ns for ns in cfg["linux"]["namespaces"] if ns["type"] not in ("mount", "cgroup")
        ]

    b = bundle_factory(
        ["/bin/sh", "-c", "stat -c %i / > /result; cat /proc/self/mountinfo > /mounts 2>&1; true"],
        mutate=mutate,
        copy_rootfs=True,
    )
    (b.rootfs / "proc").mkdir(exist_ok=True)
    before = os.stat("/").st_ino
    script = (
        'mount --make-rprivate / && '
        f'{pyoci.binary} --root {pyoci.root} --log {pyoci.log} --log-format json '
        f'run -b {b.path} nomnt; echo rc=$?; stat -c %i /'
    )
    res = subprocess.run(["unshare", "-m", "sh", "-c", script],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    lines = res.stdout.split()
    assert "rc=0" in lines, res
    assert lines[-1] == str(before), "the runtime's own root changed"
    # chrooted into the bundle's rootfs, no mounts of its own (no /proc in it)
    assert (b.rootfs / "result").read_text().strip() == str(b.rootfs.stat().st_ino)
    assert "No such file" in (b.rootfs / "mounts").read_text()
    assert "no mount namespace" in pyoci.log.read_text()
    del out, mounts_out
