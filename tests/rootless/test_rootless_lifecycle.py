"""The whole lifecycle as an unprivileged user (issue 6), checked from the host as root."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers import log_lines, proc_status, wait_for
from rootless_support import Delegation, Env, cgroup2_mount

pytestmark = [pytest.mark.rootless, pytest.mark.root]


def bind(dest: str, source: Path | str, *options: str) -> dict[str, Any]:
    return {"destination": dest, "type": "bind", "source": str(source),
            "options": ["rbind", *options]}  # fmt: skip


def add_mounts(*mounts: dict[str, Any], all_caps: bool = False) -> Any:
    """Add mounts; ``all_caps``: every capability (in the container's user namespace)."""

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["mounts"].extend(mounts)
        if all_caps:
            from pyoci.spec.names import CAPABILITIES

            caps = sorted(CAPABILITIES)
            cfg["process"]["capabilities"] = {
                k: caps for k in ("bounding", "effective", "permitted", "inheritable", "ambient")
            }
            cfg["process"]["noNewPrivileges"] = False

    return mutate


def multi_range(env: Env, user: dict[str, int] | None = None) -> Any:
    """Container 0 = the user, 1..65536 = its subordinate ids (podman's layout)."""
    u = env.user
    assert u.subuid and u.subgid, "tools/test-user.sh gives the user /etc/subuid and /etc/subgid"

    def mutate(cfg: dict[str, Any]) -> None:
        linux = cfg["linux"]
        linux["uidMappings"] = [
            {"containerID": 0, "hostID": u.uid, "size": 1},
            {"containerID": 1, "hostID": u.subuid[0], "size": u.subuid[1]},
        ]
        linux["gidMappings"] = [
            {"containerID": 0, "hostID": u.gid, "size": 1},
            {"containerID": 1, "hostID": u.subgid[0], "size": u.subgid[1]},
        ]
        if user is not None:
            cfg["process"]["user"] = user

    return mutate


def host_ids(pid: int) -> tuple[list[int], list[int]]:
    st = proc_status(pid)
    return [int(x) for x in st["Uid"].split()], [int(x) for x in st["Gid"].split()]


def map_lines(text: str) -> list[list[int]]:
    return [[int(x) for x in line.split()] for line in text.splitlines() if line.strip()]


def gone(pid: int) -> bool:
    """Dead: no /proc entry, or a zombie not yet reaped by the host's init."""
    try:
        return proc_status(pid)["State"].startswith(("Z", "X"))
    except OSError:
        return True


def implemented(env: Env, verb: str) -> bool:
    return env.rt(verb, "--help").code == 0


# ---------------------------------------------------------------- lifecycle


def test_spec_rootless_as_the_user(env: Env) -> None:
    cfg = env.spec
    linux = cfg["linux"]
    assert {"type": "user"} in linux["namespaces"]
    assert not any(ns["type"] == "network" for ns in linux["namespaces"])
    assert linux["uidMappings"] == [{"containerID": 0, "hostID": env.user.uid, "size": 1}]
    assert linux["gidMappings"] == [{"containerID": 0, "hostID": env.user.gid, "size": 1}]
    assert "resources" not in linux
    mounts = {m["destination"]: m for m in cfg["mounts"]}
    assert not any(o.startswith("gid=") for o in mounts["/dev/pts"]["options"])
    assert "rbind" in mounts["/sys"]["options"]


def test_lifecycle_as_the_user(env: Env) -> None:
    rt, u = env.rt, env.user
    b = env.bundle(["sleep", "1000"])
    res = rt("create", "--bundle", str(b), "life")
    assert res.code == 0, res

    # state lives under $XDG_RUNTIME_DIR/pyoci, private to the user
    st = os.stat(rt.root)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (u.uid, 0o700)
    assert (rt.root / "life" / "state.json").stat().st_uid == u.uid
    state = rt.state("life")
    assert state["status"] == "created"
    pid = state["pid"]

    # uid 0 inside is the user outside
    uids, gids = host_ids(pid)
    assert uids == [u.uid] * 4 and gids == [u.gid] * 4
    assert map_lines(Path(f"/proc/{pid}/uid_map").read_text()) == [[0, u.uid, 1]]
    assert map_lines(Path(f"/proc/{pid}/gid_map").read_text()) == [[0, u.gid, 1]]
    assert Path(f"/proc/{pid}/setgroups").read_text().strip() == "deny"

    listed = rt("list", "--format", "json")
    assert listed.code == 0, listed
    assert [c["id"] for c in json.loads(listed.out)] == ["life"]

    assert rt("start", "life").code == 0
    assert rt.state("life")["status"] == "running"

    ex = rt("exec", "life", "sh", "-c", "id -u; id -g; cat /proc/self/uid_map")
    assert ex.code == 0, ex
    lines = ex.out.splitlines()
    assert lines[:2] == ["0", "0"]
    assert map_lines("\n".join(lines[2:])) == [[0, u.uid, 1]]

    assert rt("kill", "life", "KILL").code == 0
    assert wait_for(lambda: rt.state("life")["status"] == "stopped", 10)
    res = rt("delete", "life")
    assert res.code == 0, res
    assert not (rt.root / "life").exists()
    assert wait_for(lambda: gone(pid), 5)


def test_run_detached_then_delete_force(env: Env) -> None:
    rt = env.rt
    b = env.bundle(["sleep", "1000"])
    res = rt("run", "--detach", "--bundle", str(b), "bg")
    assert res.code == 0, res
    pid = rt.state("bg")["pid"]
    assert rt.state("bg")["status"] == "running"
    res = rt("delete", "bg")
    assert res.code == 1 and "not stopped" in res.err
    res = rt("delete", "--force", "bg")
    assert res.code == 0, res
    assert wait_for(lambda: gone(pid), 5)
    assert not (rt.root / "bg").exists()


def test_run_foreground_exit_code_and_output(env: Env) -> None:
    res = env.run("echo out; echo err >&2; exit 3")
    assert (res.code, res.out, res.err) == (3, "out\n", "err\n")


def test_kill_created_container(env: Env) -> None:
    rt = env.rt
    b = env.bundle(["true"])
    assert rt("create", "--bundle", str(b), "k").code == 0
    assert rt("kill", "k", "TERM").code == 0
    assert wait_for(lambda: rt.state("k")["status"] == "stopped", 10)
    assert rt("delete", "k").code == 0


# ---------------------------------------------------------------- id mappings


def test_uid_map_inside(env: Env) -> None:
    res = env.run("cat /proc/self/uid_map; echo --; cat /proc/self/gid_map; echo --; id")
    assert res.code == 0, res
    uid_map, gid_map, ident = res.out.split("--\n")
    assert map_lines(uid_map) == [[0, env.user.uid, 1]]
    assert map_lines(gid_map) == [[0, env.user.gid, 1]]
    assert ident.startswith("uid=0(root) gid=0(root)")


def test_bind_mount_files_belong_to_the_user(env: Env) -> None:
    data = env.user_dir("data")
    res = env.run(
        "echo hi > /data/file && mkdir /data/dir && touch /data/dir/inner",
        add_mounts(bind("/data", data, "rw")),
        copy_rootfs=True,
    )
    assert res.code == 0, res
    for p in (data / "file", data / "dir", data / "dir" / "inner"):
        st = p.lstat()
        assert (st.st_uid, st.st_gid) == (env.user.uid, env.user.gid), p
    assert (data / "file").read_text() == "hi\n"


def test_multi_range_mapping(env: Env) -> None:
    """Container uid 1000 is subuid base + 999 on the host (newuidmap/newgidmap)."""
    u, rt = env.user, env.rt
    assert u.subuid is not None and u.subgid is not None
    data = env.user_dir("data", 0o777)

    def mutate(cfg: dict[str, Any]) -> None:
        multi_range(env, {"uid": 1000, "gid": 1000})(cfg)
        add_mounts(bind("/data", data, "rw"))(cfg)

    b = env.bundle(["sh", "-c", "touch /data/by-1000; exec sleep 1000"], mutate, copy_rootfs=True)
    res = rt("create", "--bundle", str(b), "multi")
    assert res.code == 0, res
    pid = rt.state("multi")["pid"]
    expected_map = [[0, u.uid, 1], [1, u.subuid[0], u.subuid[1]]]
    assert map_lines(Path(f"/proc/{pid}/uid_map").read_text()) == expected_map
    assert map_lines(Path(f"/proc/{pid}/gid_map").read_text()) == [
        [0, u.gid, 1], [1, u.subgid[0], u.subgid[1]],
    ]  # fmt: skip
    # newgidmap was used: setgroups stays allowed
    assert Path(f"/proc/{pid}/setgroups").read_text().strip() == "allow"
    assert rt("start", "multi").code == 0
    assert wait_for(lambda: (data / "by-1000").exists(), 10)
    st = (data / "by-1000").stat()
    assert (st.st_uid, st.st_gid) == (u.subuid[0] + 999, u.subgid[0] + 999)
    uids, gids = host_ids(pid)
    assert uids == [u.subuid[0] + 999] * 4 and gids == [u.subgid[0] + 999] * 4
    ex = rt("exec", "--user", "0:0", "multi", "sh", "-c", "id -u; touch /data/by-0")
    assert (ex.code, ex.out) == (0, "0\n"), ex
    assert (data / "by-0").stat().st_uid == u.uid
    assert rt("delete", "--force", "multi").code == 0


def test_subordinate_root(env: Env) -> None:
    """The container's root may itself be a subordinate id: the init still reaches
    exec.fifo in the user's private state directory."""
    u = env.user
    assert u.subuid is not None and u.subgid is not None

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": u.subuid[0], "size": 1000}]
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": u.subgid[0], "size": 1000}]

    res = env.run("id -u; cat /proc/self/uid_map", mutate)
    assert res.code == 0, res
    lines = res.out.splitlines()
    assert lines[0] == "0"
    assert map_lines(lines[1]) == [[0, u.subuid[0], 1000]]


# ---------------------------------------------------------------- no host privileges


def test_cannot_gain_host_privileges(env: Env) -> None:
    """Even with every capability (of its user namespace), the container's root is
    the user on the host: root's files stay root's."""
    hostdir = env.workdir / "rootowned"  # root's, as the files in it
    hostdir.mkdir(mode=0o755)
    readonly = hostdir / "ro.txt"
    readonly.write_text("original\n")
    os.chmod(readonly, 0o644)
    secret = hostdir / "secret.txt"
    secret.write_text("secret\n")
    os.chmod(secret, 0o600)
    script = """
        echo pwned > /ro.txt && echo WROTE-RO
        mount -o remount,bind,rw /ro.txt 2>/dev/null; echo pwned > /ro.txt && echo WROTE-RO-RW
        cat /secret.txt && echo READ-SECRET
        echo pwned > /secret.txt && echo WROTE-SECRET
        touch /hostdir/new && echo CREATED
        chmod 777 /hostdir && echo CHMOD
        mknod /dev/shm/null c 1 3 && echo MKNOD-CHAR
        mknod /dev/shm/vda b 253 0 && echo MKNOD-BLOCK
        echo 1 > /proc/sys/kernel/sysrq && echo SYSCTL
        echo done
    """
    res = env.run(
        script,
        add_mounts(
            bind("/ro.txt", readonly, "ro"),
            bind("/secret.txt", secret, "rw"),
            bind("/hostdir", hostdir, "rw"),
            all_caps=True,
        ),
        copy_rootfs=True,
    )
    assert res.code == 0, res
    assert res.out.strip().splitlines()[-1] == "done", res
    for marker in ("WROTE", "READ-SECRET", "CREATED", "CHMOD", "MKNOD", "SYSCTL"):
        assert marker not in res.out, res
    assert readonly.read_text() == "original\n"
    assert secret.read_text() == "secret\n"
    assert sorted(p.name for p in hostdir.iterdir()) == ["ro.txt", "secret.txt"]
    assert stat.S_IMODE(hostdir.stat().st_mode) == 0o755


def test_mounts_stay_in_the_container(env: Env) -> None:
    """The container may mount in its own mount namespace; the host sees none of it."""
    data = env.user_dir("data")
    (data / "host-file").write_text("host\n")
    script = """
        mount -t tmpfs inner /data && echo MOUNTED
        touch /data/inside
        ls /data
    """
    res = env.run(script, add_mounts(bind("/data", data, "rw"), all_caps=True), copy_rootfs=True)
    assert res.code == 0, res
    assert "MOUNTED" in res.out  # allowed inside (its own mount namespace) ...
    assert "host-file" not in res.out
    # ... and invisible outside
    assert sorted(p.name for p in data.iterdir()) == ["host-file"]
    with open("/proc/self/mountinfo") as f:
        assert str(data) not in f.read()


def test_devices_are_bind_mounts_of_host_nodes(env: Env) -> None:
    script = """
        for d in null zero full random urandom tty; do stat -c '%n %t:%T' /dev/$d; done
        grep -c ' /dev/null ' /proc/self/mountinfo
        echo x > /dev/null && echo NULL-OK
        head -c 8 /dev/zero | wc -c
    """
    res = env.run(script)
    assert res.code == 0, res
    lines = res.out.split()
    expected = {"/dev/null": "1:3", "/dev/zero": "1:5", "/dev/full": "1:7",
                "/dev/random": "1:8", "/dev/urandom": "1:9", "/dev/tty": "5:0"}  # fmt: skip
    got = dict(zip(lines[0:12:2], lines[1:12:2], strict=True))
    assert got == expected
    assert lines[12] == "1", "/dev/null is a mount (a bind of the host's node)"
    assert lines[13:] == ["NULL-OK", "8"]


def test_devpts_gid_unmapped_falls_back(env: Env) -> None:
    """runc's default devpts options (gid=5) with only the user's own gid mapped."""

    def mutate(cfg: dict[str, Any]) -> None:
        for m in cfg["mounts"]:
            if m["type"] == "devpts":
                m["options"].append("gid=5")

    res = env.run("grep ' /dev/pts ' /proc/self/mountinfo", mutate)
    assert res.code == 0, res
    assert "devpts" in res.out and "gid=" not in res.out


def test_devpts_gid_kept_when_mapped(env: Env) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        multi_range(env)(cfg)
        for m in cfg["mounts"]:
            if m["type"] == "devpts":
                m["options"].append("gid=5")

    res = env.run("grep ' /dev/pts ' /proc/self/mountinfo; stat -c %g /dev/pts/ptmx", mutate)
    assert res.code == 0, res
    # mountinfo shows the host's gid: container gid 5 is subgid base + 4
    assert env.user.subgid is not None
    assert f"gid={env.user.subgid[0] + 4}," in res.out


def test_oom_score_adj_lowering_is_ignored(env: Env) -> None:
    current = int(Path("/proc/self/oom_score_adj").read_text())
    target = min(current, 0) - 100

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["process"]["oomScoreAdj"] = target

    res = env.run("cat /proc/self/oom_score_adj", mutate)
    assert res.code == 0, res
    assert int(res.out) >= target + 1  # could not lower it, and did not fail


def test_oom_score_adj_raising_applies(env: Env) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["process"]["oomScoreAdj"] = 500

    res = env.run("cat /proc/self/oom_score_adj", mutate)
    assert (res.code, res.out.strip()) == (0, "500"), res


def test_rlimits_within_the_users_limits(env: Env) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}]

    res = env.run("ulimit -n; ulimit -Hn", mutate)
    assert (res.code, res.out.split()) == (0, ["100", "200"]), res


def test_rlimit_above_the_users_hard_limit_is_an_error(env: Env) -> None:
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("RLIMIT_NOFILE hard limit is unlimited here: nothing to exceed")

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["process"]["rlimits"] = [
            {"type": "RLIMIT_NOFILE", "soft": hard + 1, "hard": hard + 1}
        ]

    res = env.run("true", mutate)
    assert res.code == 1
    assert "setrlimit RLIMIT_NOFILE" in res.err


def test_time_namespace_offsets(env: Env) -> None:
    if not os.path.exists("/proc/self/ns/time"):
        pytest.skip("this kernel has no time namespaces")

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["linux"]["namespaces"].append({"type": "time"})
        cfg["linux"]["timeOffsets"] = {"boottime": {"secs": 10 * 86400, "nanosecs": 0}}

    res = env.run("cut -d' ' -f1 /proc/uptime", mutate)
    assert res.code == 0, res
    with open("/proc/uptime") as f:
        host = float(f.read().split()[0])
    assert float(res.out) >= host + 10 * 86400 - 5


def test_new_network_namespace(env: Env) -> None:
    """With its own network namespace a rootless container may mount a new sysfs."""

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["linux"]["namespaces"].append({"type": "network"})
        for m in cfg["mounts"]:
            if m["destination"] == "/sys":
                m.update(type="sysfs", source="sysfs", options=["nosuid", "noexec", "nodev", "ro"])

    res = env.run("ls /sys/class/net; grep ' /sys ' /proc/self/mountinfo", mutate)
    assert res.code == 0, res
    lines = res.out.splitlines()
    assert lines[0] == "lo"
    assert " - sysfs " in lines[1]


def test_cgroup_mount_without_cgroup_namespace(env: Env) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        ns = cfg["linux"]["namespaces"]
        cfg["linux"]["namespaces"] = [n for n in ns if n["type"] != "cgroup"]

    res = env.run("grep -c ' /sys/fs/cgroup' /proc/self/mountinfo", mutate)
    assert res.code == 0, res
    assert int(res.out) >= 1


def test_hooks_run_as_the_user(env: Env) -> None:
    out = env.user_dir("hooks")

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["hooks"] = {
            "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", f"id -u > {out}/rt"]}],
            "poststop": [{"path": "/bin/sh", "args": ["sh", "-c", f"id -u > {out}/stop"]}],
        }

    res = env.run("true", mutate)
    assert res.code == 0, res
    assert (out / "rt").read_text().strip() == str(env.user.uid)
    assert (out / "stop").read_text().strip() == str(env.user.uid)


def test_failed_create_leaves_nothing(env: Env) -> None:
    b = env.bundle(["/no/such/program"])
    res = env.rt("create", "--bundle", str(b), "bad")
    assert res.code == 1
    assert "/no/such/program" in res.err
    assert not (env.rt.root / "bad").exists()
    # the env fixture checks for processes and mounts


# ---------------------------------------------------------------- errors


def test_error_without_xdg_runtime_dir(env: Env) -> None:
    res = env.user.run([env.rt.binary, "list"])  # a clean environment, no --root
    assert res.code == 1
    assert res.err == (
        "pyoci: XDG_RUNTIME_DIR is not set: rootless pyoci keeps its state there;"
        " set it or pass --root DIR\n"
    )


def test_error_without_user_namespace(env: Env) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        linux = cfg["linux"]
        linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] != "user"]
        del linux["uidMappings"], linux["gidMappings"]

    res = env.run("true", mutate, cid="nouserns")
    assert res.code == 1
    assert res.err.startswith("pyoci: rootless containers need a user namespace")
    assert 'add {"type":"user"}' in res.err and "pyoci spec --rootless" in res.err
    assert "Traceback" not in res.err
    logged = [line for line in log_lines(env.rt.log) if line["level"] == "error"]
    assert logged and "need a user namespace" in logged[-1]["msg"]
    assert not (env.rt.root / "nouserns").exists()


def test_error_without_subuid_entry(env: Env) -> None:
    """newuidmap refuses (here: /etc/subuid without the user, in a private mount
    namespace): the error names the file and the fix."""
    empty = env.workdir / "empty"
    empty.write_text("")

    def mutate(cfg: dict[str, Any]) -> None:
        multi_range(env)(cfg)
        u = env.user
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": u.gid, "size": 1}]

    b = env.bundle(["true"], mutate)
    script = 'mount --bind "$0" /etc/subuid && exec "$@"'
    argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, str(empty),
            *env.rt.global_args(), "run", "--bundle", str(b), "nosub"]  # fmt: skip
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert res.returncode == 1, res
    assert "newuidmap" in res.stderr
    assert f"/etc/subuid has no range for user {env.user.name}" in res.stderr
    assert "usermod --add-subuids" in res.stderr
    assert not (env.rt.root / "nosub").exists()


def test_error_mapping_outside_subuid_range(env: Env) -> None:
    u = env.user
    assert u.subuid is not None
    outside = u.subuid[0] + u.subuid[1] + 1000

    def mutate(cfg: dict[str, Any]) -> None:
        multi_range(env)(cfg)
        cfg["linux"]["uidMappings"][1]["hostID"] = outside

    res = env.run("true", mutate, cid="outside")
    assert res.code == 1
    assert "newuidmap" in res.err and "/etc/subuid" in res.err
    assert f"outside {u.name}'s ranges" in res.err
    assert not (env.rt.root / "outside").exists()


def test_error_resources_without_delegated_cgroup(env: Env) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["linux"]["resources"] = {"pids": {"limit": 10}}

    res = env.run("true", mutate, cid="limited")
    assert res.code == 1
    assert "resources were requested but no cgroup" in res.err
    assert "writable by this user" in res.err
    assert not (env.rt.root / "limited").exists()
    assert not list(Path("/sys/fs/cgroup").glob("*/pyoci/limited"))


def test_no_resources_runs_without_a_cgroup(env: Env) -> None:
    rt = env.rt
    b = env.bundle(["sleep", "1000"])
    assert rt("create", "--bundle", str(b), "nocg").code == 0
    record = json.loads((rt.root / "nocg" / "state.json").read_text())
    assert "cgroup" not in record
    pid = record["pid"]
    # the init stayed in the cgroups it was started in (ours)
    assert Path(f"/proc/{pid}/cgroup").read_text() == Path("/proc/self/cgroup").read_text()
    if implemented(env, "pause"):
        res = rt("pause", "nocg")
        assert res.code == 1 and "Traceback" not in res.err, res
    assert rt("delete", "--force", "nocg").code == 0


# ---------------------------------------------------------------- delegated cgroup


@pytest.fixture
def delegation(env: Env) -> Any:
    mount = cgroup2_mount()
    if mount is None:
        pytest.skip("no cgroup2 hierarchy on this host")
    d = Delegation(mount, env.user, env.workdir.name)
    env.rt.cgroup_launch = str(d.launch)
    yield d
    env.rt.cleanup()  # before the cgroup goes
    d.remove()


def _resources_for(controllers: list[str]) -> tuple[dict[str, Any], str, str]:
    """Resources one delegated controller can take: (resources, file, expected value)."""
    if "pids" in controllers:
        return {"pids": {"limit": 42}}, "pids.max", "42"
    if "memory" in controllers:
        return {"memory": {"limit": 64 << 20}}, "memory.max", str(64 << 20)
    if "hugetlb" in controllers:
        limit = 4 * (2 << 20)
        return {"hugepageLimits": [{"pageSize": "2MB", "limit": limit}]}, "hugetlb.2MB.max", str(
            limit
        )
    return {}, "", ""


def test_delegated_cgroup2_subtree(env: Env, delegation: Delegation) -> None:
    rt = env.rt
    resources, knob, value = _resources_for(delegation.controllers)
    inner = f"{delegation.inner}/ctr"

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["linux"]["cgroupsPath"] = inner
        if resources:
            cfg["linux"]["resources"] = resources

    b = env.bundle(["sleep", "1000"], mutate)
    res = rt("create", "--bundle", str(b), "deleg")
    assert res.code == 0, res
    pid = rt.state("deleg")["pid"]
    cgdir = Path(delegation.mount + inner)
    assert cgdir.is_dir()
    assert f"0::{inner}\n" in Path(f"/proc/{pid}/cgroup").read_text()
    assert str(pid) in (cgdir / "cgroup.procs").read_text().split()
    if knob:
        assert (cgdir / knob).read_text().strip() == value
    assert rt("start", "deleg").code == 0

    ex = rt("exec", "deleg", "true")
    assert ex.code == 0, ex
    if implemented(env, "ps"):
        ps = rt("ps", "--format", "json", "deleg")
        assert ps.code == 0, ps
        assert pid in json.loads(ps.out)
    if implemented(env, "pause"):
        assert rt("pause", "deleg").code == 0
        assert rt.state("deleg")["status"] == "paused"
        assert (cgdir / "cgroup.freeze").read_text().strip() == "1"
        assert rt("resume", "deleg").code == 0
        assert rt.state("deleg")["status"] == "running"

    assert rt("kill", "--all", "deleg", "KILL").code == 0
    assert wait_for(lambda: rt.state("deleg")["status"] == "stopped", 10)
    assert rt("delete", "deleg").code == 0
    assert wait_for(lambda: not cgdir.exists(), 5), "delete removes the container's cgroup"



def test_error_mount_point_in_a_rootfs_the_user_does_not_own(env: Env) -> None:
    data = env.user_dir("data")
    res = env.run("true", add_mounts(bind("/new-dir", data)), cid="mp")
    assert res.code == 1
    assert f"mount {data} to /new-dir: create mount point: Permission denied" in res.err
    assert not (env.rt.root / "mp").exists()
