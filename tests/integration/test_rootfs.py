"""Rootfs, mounts, /dev, masked/readonly paths, sysctl: real containers, checked inside and out."""

from __future__ import annotations

import os
import stat
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import parse_mountinfo

pytestmark = pytest.mark.root

MOUNTINFO = "cat /proc/self/mountinfo"


def _mounts(cfg: dict[str, Any], *mounts: dict[str, Any]) -> None:
    cfg["mounts"].extend(mounts)


def tmpfs(dest: str, *options: str) -> dict[str, Any]:
    return {"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": list(options)}


def bind(dest: str, source: str | Path, *options: str) -> dict[str, Any]:
    return {"destination": dest, "type": "bind", "source": str(source), "options": list(options)}


@pytest.fixture
def host_submount(workdir: Path) -> Iterator[Path]:
    """A host directory ``src`` with a file and a tmpfs mounted on ``src/sub``."""
    src = workdir / "src"
    (src / "sub").mkdir(parents=True)
    (src / "file").write_text("hello from the host\n")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "hostsub", str(src / "sub")],
                   check=True)  # fmt: skip
    (src / "sub" / "inner").write_text("inner\n")
    try:
        yield src
    finally:
        subprocess.run(["umount", "-R", str(src / "sub")], check=False)


# ------------------------------------------------------------------ default mounts


def test_default_mounts_types_and_options(run_sh: Any) -> None:
    res = run_sh(MOUNTINFO)
    m = parse_mountinfo(res.out)
    assert m["/proc"].fstype == "proc"
    dev = m["/dev"]
    assert dev.fstype == "tmpfs"
    assert "nosuid" in dev.options
    assert not dev.options & {"relatime", "noatime"}, "strictatime: neither relatime nor noatime"
    assert {"mode=755", "size=65536k"} <= dev.super_options
    pts = m["/dev/pts"]
    assert pts.fstype == "devpts"
    assert {"nosuid", "noexec"} <= pts.options
    assert {"gid=5", "mode=620", "ptmxmode=666"} <= pts.super_options
    shm = m["/dev/shm"]
    assert shm.fstype == "tmpfs" and shm.source == "shm"
    assert {"nosuid", "nodev", "noexec"} <= shm.options
    assert "size=65536k" in shm.super_options  # mode=1777 is tmpfs's default: not shown
    assert m["/dev/mqueue"].fstype == "mqueue"
    sysfs = m["/sys"]
    assert sysfs.fstype == "sysfs"
    assert {"ro", "nosuid", "nodev", "noexec"} <= sysfs.options
    cg = [e for p, e in m.items() if p.startswith("/sys/fs/cgroup")]
    assert cg, "no cgroup mount"
    assert all("ro" in e.options for e in cg), cg
    assert {e.fstype for e in cg} & {"cgroup", "cgroup2"}
    # nothing of the host's tree is left in the container's table
    assert not [p for p in m if p.startswith("/tmp/pyoci-tests")]


def test_cgroup_mount_shows_own_cgroup_only(run_sh: Any) -> None:
    """With a cgroup namespace the container sees its own cgroup as the root."""
    res = run_sh("cat /proc/self/cgroup")
    for line in res.out.splitlines():
        assert line.rsplit(":", 1)[1] == "/", res.out


# ------------------------------------------------------------------------- binds


def test_bind_mount_options(run_sh: Any, workdir: Path, bundle_factory: Any) -> None:
    vol = workdir / "vol"
    vol.mkdir()
    (vol / "f").write_text("data\n")
    (workdir / "single").write_text("single file\n")

    def mutate(cfg: dict[str, Any]) -> None:
        _mounts(
            cfg,
            bind("/mnt/ro", vol, "bind", "ro", "nosuid", "nodev", "noexec"),
            bind("/mnt/rw", vol, "rbind", "rw"),
            bind("/mnt/file", workdir / "single", "bind", "ro"),
            # relative sources are relative to the bundle
            bind("/mnt/rel", "relvol", "bind"),
        )

    script = (
        "exec 2>&1; cat /mnt/ro/f; touch /mnt/ro/x; touch /mnt/rw/y && echo wrote;"
        "cat /mnt/file; ls /mnt/rel; echo ==; " + MOUNTINFO
    )
    b = run_sh.bundle(script, mutate, copy_rootfs=True)
    (b.path / "relvol").mkdir()
    (b.path / "relvol" / "marker").write_text("")
    res = run_sh.rt("run", "-b", str(b.path), "binds")
    assert res.code == 0, res
    head, _, table = res.out.partition("==\n")
    assert "data" in head
    assert "Read-only file system" in head
    assert "wrote" in head and (vol / "y").exists()
    assert "single file" in head
    assert "marker" in head
    m = parse_mountinfo(table)
    assert {"ro", "nosuid", "nodev", "noexec"} <= m["/mnt/ro"].options
    assert "rw" in m["/mnt/rw"].options and "nosuid" not in m["/mnt/rw"].options
    assert "ro" in m["/mnt/file"].options
    assert (b.rootfs / "mnt" / "file").is_file(), "a file destination is created as a file"


def test_bind_versus_rbind_and_recursive_attributes(run_sh: Any, host_submount: Path) -> None:
    src = host_submount

    def mutate(cfg: dict[str, Any]) -> None:
        _mounts(
            cfg,
            bind("/b/plain", src, "bind"),
            bind("/b/rbind", src, "rbind"),
            bind("/b/rbind-ro", src, "rbind", "ro"),
            bind("/b/rro", src, "rbind", "rro"),
            bind("/b/rflags", src, "rbind", "rnosuid", "rnodev", "rnoexec", "rnoatime"),
        )

    res = run_sh(MOUNTINFO + "; echo ==; cat /b/rbind/sub/inner; ls /b/plain/sub | wc -l",
                 mutate, copy_rootfs=True)  # fmt: skip
    table, _, rest = res.out.partition("==\n")
    m = parse_mountinfo(table)
    assert "/b/plain/sub" not in m, "bind is not recursive"
    assert "inner" in rest and rest.split()[-1] == "0"
    assert m["/b/rbind/sub"].fstype == "tmpfs"
    # "ro" applies to the mount itself; "rro" to the whole tree (mount_setattr AT_RECURSIVE)
    assert "ro" in m["/b/rbind-ro"].options
    assert "rw" in m["/b/rbind-ro/sub"].options
    assert "ro" in m["/b/rro"].options and "ro" in m["/b/rro/sub"].options
    sub = m["/b/rflags/sub"]
    assert {"nosuid", "nodev", "noexec", "noatime"} <= sub.options, sub


def test_bind_source_missing_is_an_error(pyoci: Any, bundle_factory: Any, workdir: Path) -> None:
    b = bundle_factory(["true"], mutate=lambda c: _mounts(c, bind("/x", workdir / "nope", "bind")))
    res = pyoci("run", "-b", str(b.path), "missing-src")
    assert res.code == 1
    assert "nope" in res.err and len(res.err.strip().splitlines()) == 1


# ------------------------------------------------------------------ tmpfs options


def test_tmpfs_options_and_atime(run_sh: Any) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        _mounts(
            cfg,
            tmpfs("/t/opts", "size=1m", "mode=1770", "uid=1000", "gid=1000", "nr_inodes=100"),
            tmpfs("/t/relatime", "relatime"),
            tmpfs("/t/strict", "strictatime"),
            tmpfs("/t/noatime", "noatime", "nodiratime"),
            tmpfs("/t/ro", "ro", "nosuid", "nodev", "noexec"),
            tmpfs("/t/sync", "sync", "dirsync"),
        )

    res = run_sh(MOUNTINFO + "; echo ==; stat -c '%a %u %g' /t/opts; touch /t/ro/x 2>&1; true",
                 mutate, copy_rootfs=True)  # fmt: skip
    table, _, rest = res.out.partition("==\n")
    m = parse_mountinfo(table)
    assert {"size=1024k", "mode=1770", "uid=1000", "gid=1000", "nr_inodes=100"} <= m[
        "/t/opts"
    ].super_options
    assert rest.splitlines()[0] == "1770 1000 1000"
    assert "relatime" in m["/t/relatime"].options
    assert not m["/t/strict"].options & {"relatime", "noatime"}
    assert {"noatime", "nodiratime"} <= m["/t/noatime"].options
    assert {"ro", "nosuid", "nodev", "noexec"} <= m["/t/ro"].options
    assert "Read-only file system" in rest
    assert {"sync", "dirsync"} <= m["/t/sync"].options | m["/t/sync"].super_options


def test_remount_changes_the_existing_mount(run_sh: Any, workdir: Path) -> None:
    """config.md mount options: ``remount`` (MS_REMOUNT) remounts the mount already at
    the destination with the entry's flags and data; it never stacks a new one."""
    src = workdir / "bsrc"
    src.mkdir()

    def mutate(cfg: dict[str, Any]) -> None:
        _mounts(
            cfg,
            tmpfs("/t/sb", "size=1m"),
            tmpfs("/t/sb", "remount", "ro", "nosuid", "size=2m"),  # the superblock and mount
            bind("/t/b", src, "bind"),
            bind("/t/b", src, "bind", "remount", "ro", "nodev"),  # per-mount flags only
        )

    res = run_sh(MOUNTINFO + "; echo ==; touch /t/sb/x /t/b/x 2>&1; true", mutate,
                 copy_rootfs=True)  # fmt: skip
    table, _, rest = res.out.partition("==\n")
    lines = [ln for ln in table.splitlines() if ln.split()[4] in ("/t/sb", "/t/b")]
    assert len(lines) == 2, f"remount stacked a mount: {lines}"
    m = parse_mountinfo(table)
    assert {"ro", "nosuid"} <= m["/t/sb"].options and m["/t/sb"].fstype == "tmpfs"
    assert "size=2048k" in m["/t/sb"].super_options, m["/t/sb"]
    assert {"ro", "nodev"} <= m["/t/b"].options, m["/t/b"]
    assert rest.count("Read-only file system") == 2, rest
    assert not (src / "x").exists()


def test_remount_of_nothing_is_an_error(pyoci: Any, bundle_factory: Any) -> None:
    b = bundle_factory(["true"], mutate=lambda cfg: _mounts(cfg, tmpfs("/tmp", "remount", "ro")))
    res = pyoci("create", "-b", str(b.path), "rm0")
    assert res.code == 1, res
    assert "remount" in res.err and "/tmp" in res.err and len(res.err.strip().splitlines()) == 1


def test_tmpcopyup(run_sh: Any, bundle_factory: Any) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        _mounts(cfg, tmpfs("/etc", "tmpcopyup", "mode=755"))

    res = run_sh(
        "cat /etc/passwd | head -1; echo new > /etc/added; ls /etc; echo ==; " + MOUNTINFO,
        mutate,
        copy_rootfs=True,
    )
    head, _, table = res.out.partition("==\n")
    assert head.startswith("root:x:0:0")
    assert "hostname" in head and "added" in head
    assert parse_mountinfo(table)["/etc"].fstype == "tmpfs"


def test_other_filesystem_types(run_sh: Any) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        _mounts(
            cfg,
            {"destination": "/x/proc", "type": "proc", "source": "proc", "options": ["nosuid"]},
            {"destination": "/x/mq", "type": "mqueue", "source": "mqueue", "options": []},
            {"destination": "/x/pts", "type": "devpts", "source": "devpts",
             "options": ["newinstance", "ptmxmode=0600"]},
            {"destination": "/x/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]},
        )  # fmt: skip

    m = parse_mountinfo(run_sh(MOUNTINFO, mutate, copy_rootfs=True).out)
    assert m["/x/proc"].fstype == "proc" and "nosuid" in m["/x/proc"].options
    assert m["/x/mq"].fstype == "mqueue"
    assert m["/x/pts"].fstype == "devpts" and "ptmxmode=600" in m["/x/pts"].super_options
    assert m["/x/sys"].fstype == "sysfs" and "ro" in m["/x/sys"].options


def test_unknown_filesystem_is_an_error(pyoci: Any, bundle_factory: Any) -> None:
    b = bundle_factory(["true"], mutate=lambda c: _mounts(c, {
        "destination": "/x", "type": "nosuchfs", "source": "none"}))  # fmt: skip
    res = pyoci("run", "-b", str(b.path), "badfs")
    assert res.code == 1
    assert "/x" in res.err and len(res.err.strip().splitlines()) == 1


# ------------------------------------------------------------------- propagation


def test_propagation_flags_on_mounts(run_sh: Any) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        _mounts(
            cfg,
            tmpfs("/p/shared", "shared"),
            tmpfs("/p/private", "private"),
            tmpfs("/p/unbindable", "unbindable"),
            # a bind of the shared mount made a slave of it
            bind("/p/slave", "rootfs/p/shared", "bind", "slave"),
            bind("/p/rshared", "rootfs/p/shared", "rbind", "rshared"),
        )

    m = parse_mountinfo(run_sh(MOUNTINFO, mutate, copy_rootfs=True).out)
    assert m["/p/shared"].propagation == {"shared"}
    assert m["/p/private"].propagation == set()
    assert m["/p/unbindable"].propagation == {"unbindable"}
    assert m["/p/slave"].propagation == {"master"}
    assert "shared" in m["/p/rshared"].propagation


@pytest.fixture
def shared_host_dir(workdir: Path) -> Iterator[Path]:
    """A host directory made a shared mount (so host mounts below it can propagate)."""
    d = workdir / "shared"
    d.mkdir()
    subprocess.run(["mount", "--bind", str(d), str(d)], check=True)
    subprocess.run(["mount", "--make-shared", str(d)], check=True)
    try:
        yield d
    finally:
        subprocess.run(["umount", "-R", str(d)], check=False)


@pytest.mark.parametrize("prop,propagates", [("rslave", True), ("rprivate", False)])
def test_host_mount_propagates_into_container(
    pyoci: Any, bundle_factory: Any, shared_host_dir: Path, prop: str, propagates: bool
) -> None:
    """rslave: a mount made on the host later appears in the container; rprivate: not."""
    b = bundle_factory(["sleep", "100"], mutate=lambda c: _mounts(
        c, bind("/vol", shared_host_dir, "rbind", prop)), copy_rootfs=True)  # fmt: skip
    pyoci("create", "-b", str(b.path), "prop", check=True)
    pid = pyoci.state("prop")["pid"]
    late = shared_host_dir / "late"
    late.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "late", str(late)], check=True)
    try:
        table = Path(f"/proc/{pid}/mountinfo").read_text()
        assert ("/vol/late" in parse_mountinfo(table)) == propagates
    finally:
        subprocess.run(["umount", str(late)], check=False)
        pyoci("delete", "-f", "prop")


def test_container_mounts_do_not_reach_the_host(pyoci: Any, bundle_factory: Any,
                                                shared_host_dir: Path) -> None:  # fmt: skip
    """Even on a shared host mount, what the container mounts stays in the container."""
    b = bundle_factory(
        ["sh", "-c", "mkdir -p /vol/inner && mount -t tmpfs x /vol/inner && echo mounted"],
        mutate=lambda c: (
            _mounts(c, bind("/vol", shared_host_dir, "rbind")),
            c["process"]["capabilities"]["bounding"].append("CAP_SYS_ADMIN"),
            c["process"]["capabilities"]["effective"].append("CAP_SYS_ADMIN"),
            c["process"]["capabilities"]["permitted"].append("CAP_SYS_ADMIN"),
        ),
        copy_rootfs=True,
    )
    res = pyoci("run", "-b", str(b.path), "nomount")
    assert "mounted" in res.out, res
    assert not any(p.endswith("/inner") for p in _host_mountpoints())


def _host_mountpoints() -> list[str]:
    return [ln.split()[4] for ln in Path("/proc/self/mountinfo").read_text().splitlines()]


@pytest.mark.parametrize(
    "prop,tag",
    [("shared", {"shared"}), ("private", set()), ("unbindable", {"unbindable"}), ("slave", set())],
)
def test_rootfs_propagation(run_sh: Any, prop: str, tag: set[str]) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["linux"]["rootfsPropagation"] = prop

    m = parse_mountinfo(run_sh(MOUNTINFO, mutate).out)
    # the host's / is private here, so a slave has no master to show
    assert m["/"].propagation == tag


# ------------------------------------------------------------- root and its paths


def test_root_readonly(run_sh: Any) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["root"]["readonly"] = True

    res = run_sh("exec 2>&1; touch /x; touch /dev/shm/ok && echo shm-ok; echo ==; " + MOUNTINFO,
                 mutate)  # fmt: skip
    head, _, table = res.out.partition("==\n")
    assert "Read-only file system" in head
    assert "shm-ok" in head
    assert "ro" in parse_mountinfo(table)["/"].options


def test_root_writable_by_default(run_sh: Any, bundle_factory: Any) -> None:
    res = run_sh("touch /written && echo ok; " + MOUNTINFO, copy_rootfs=True)
    assert "ok" in res.out
    assert "rw" in parse_mountinfo(res.out)["/"].options


def test_root_path_relative_to_bundle_and_absolute(pyoci: Any, bundle_factory: Any,
                                                   rootfs: Path) -> None:  # fmt: skip
    b = bundle_factory(
        ["cat", "/etc/hostname"], mutate=lambda c: c["root"].update(path=str(rootfs))
    )
    res = pyoci("run", "-b", str(b.path), "abs")
    assert res.code == 0 and res.out == "rootfs\n", res


def test_destinations_created_inside_rootfs(run_sh: Any, workdir: Path) -> None:
    (workdir / "f").write_text("x")

    def mutate(cfg: dict[str, Any]) -> None:
        _mounts(cfg, tmpfs("/deep/a/b/c"), bind("/deep/file/here", workdir / "f", "bind"))

    b = run_sh.bundle("cat /deep/file/here; " + MOUNTINFO, mutate, copy_rootfs=True)
    res = run_sh.rt("run", "-b", str(b.path), "deep")
    assert res.code == 0, res
    m = parse_mountinfo(res.out)
    assert "/deep/a/b/c" in m and "/deep/file/here" in m
    assert (b.rootfs / "deep/a/b/c").is_dir()
    assert (b.rootfs / "deep/file/here").is_file()


def test_symlinked_destination_stays_in_rootfs(run_sh: Any) -> None:
    """A destination through an absolute symlink resolves inside the rootfs, not on the host."""
    escape = Path(f"/tmp/pyoci-escape-{uuid.uuid4().hex[:8]}")
    b = run_sh.bundle(MOUNTINFO, lambda c: _mounts(c, tmpfs("/evil/x")), copy_rootfs=True)
    (b.rootfs / "evil").symlink_to(escape)
    res = run_sh.rt("run", "-b", str(b.path), "symlink")
    assert res.code == 0, res
    assert not escape.exists(), "the runtime followed a symlink out of the rootfs"
    assert (b.rootfs / escape.relative_to("/") / "x").is_dir()
    assert str(escape / "x") in parse_mountinfo(res.out)


def test_no_pivot(pyoci: Any, bundle_factory: Any) -> None:
    b = bundle_factory(["sh", "-c", "cat /etc/hostname; ls /; " + MOUNTINFO])
    res = pyoci("run", "--no-pivot", "-b", str(b.path), "nopivot")
    assert res.code == 0, res
    assert res.out.startswith("rootfs\n")
    m = parse_mountinfo(res.out)
    assert m["/proc"].fstype == "proc"


# -------------------------------------------------------------------------- /dev

DEV_SCRIPT = (
    "for d in null zero full random urandom tty; do stat -c '%n %F %t:%T %a %u:%g' /dev/$d; done;"
    "echo ==; for l in fd stdin stdout stderr ptmx; do echo $l $(readlink /dev/$l); done;"
    "echo ==; head -c 3 /dev/zero | wc -c; (echo x > /dev/full) 2>&1 || echo full-failed;"
    "echo x > /dev/null && echo null-ok; head -c 8 /dev/urandom | wc -c;"
    "test -e /dev/console && echo console || echo no-console;"
    "echo ==; stat -c '%n %F' /dev/pts/ptmx; " + MOUNTINFO
)


def test_default_devices(run_sh: Any) -> None:
    res = run_sh(DEV_SCRIPT)
    devs, links, use, rest = res.out.split("==\n")
    expect = {
        "null": "1:3", "zero": "1:5", "full": "1:7", "random": "1:8", "urandom": "1:9",
        "tty": "5:0",
    }  # fmt: skip
    lines = {ln.split()[0]: ln for ln in devs.splitlines()}
    for name, majmin in expect.items():
        line = lines[f"/dev/{name}"]
        assert "character special file" in line, line
        assert f" {majmin} 666 0:0" in line, line
    assert links.splitlines() == [
        "fd /proc/self/fd",
        "stdin /proc/self/fd/0",
        "stdout /proc/self/fd/1",
        "stderr /proc/self/fd/2",
        "ptmx pts/ptmx",
    ]
    assert use.splitlines()[0] == "3"
    assert "full-failed" in use and "No space left on device" in use
    assert "null-ok" in use and "\n8\n" in use
    assert "no-console" in use, "/dev/console only with a terminal"
    assert "/dev/pts/ptmx character special file" in rest
    assert parse_mountinfo(rest)["/dev/pts"].fstype == "devpts"


def test_linux_devices(run_sh: Any) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["linux"]["devices"] = [
            {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
             "fileMode": 0o620, "uid": 1000, "gid": 1001},
            {"path": "/dev/loop-test", "type": "b", "major": 7, "minor": 0, "fileMode": 0o600},
            {"path": "/dev/sub/dir/null2", "type": "c", "major": 1, "minor": 3,
             "fileMode": 0o666},
            {"path": "/dev/fifo", "type": "p", "fileMode": 0o640},
        ]  # fmt: skip
        cfg["linux"]["resources"]["devices"].append(
            {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
        )
        cfg["process"]["user"]["umask"] = 0o077  # must not change the modes

    res = run_sh(
        "for d in /dev/fuse /dev/loop-test /dev/sub/dir/null2 /dev/fifo; do "
        "stat -c '%n %F %t:%T %a %u:%g' $d; done; echo x > /dev/sub/dir/null2 && echo ok",
        mutate,
    )
    lines = res.out.splitlines()
    assert lines[0] == "/dev/fuse character special file a:e5 620 1000:1001"
    assert lines[1] == "/dev/loop-test block special file 7:0 600 0:0"
    assert lines[2] == "/dev/sub/dir/null2 character special file 1:3 666 0:0"
    assert lines[3].startswith("/dev/fifo fifo") and lines[3].endswith(" 640 0:0")
    assert lines[4] == "ok"


@pytest.mark.parametrize("existing", ["file", "dir", "symlink", "other-device", "fifo"])
def test_device_over_a_non_matching_file_is_an_error(pyoci: Any, bundle_factory: Any,
                                                      existing: str) -> None:  # fmt: skip
    """config-linux.md devices: "If a file already exists at path that does not match
    the requested device, the runtime MUST generate an error"."""
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["linux"]["devices"] = [{"path": "/mnt/dev0", "type": "c", "major": 1, "minor": 3}]

    b = bundle_factory(["true"], mutate=mutate, copy_rootfs=True)
    (b.rootfs / "mnt").mkdir(exist_ok=True)
    path = b.rootfs / "mnt" / "dev0"
    if existing == "file":
        path.write_text("a regular file")
    elif existing == "dir":
        path.mkdir()
    elif existing == "symlink":
        path.symlink_to("/dev/null")
    elif existing == "other-device":
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 5))
    else:
        os.mkfifo(path)
    res = pyoci("create", "-b", str(b.path), "dev0")
    assert res.code == 1, res
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and "/mnt/dev0" in lines[0] and "does not match" in lines[0], res
    if existing == "file":
        assert path.read_text() == "a regular file", "the file in the rootfs was replaced"


def test_device_over_the_same_device_is_fine(run_sh: Any, bundle_factory: Any) -> None:
    """A node already there that is the requested device is kept (mode and owner applied)."""
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["linux"]["devices"] = [{"path": "/mnt/null0", "type": "c", "major": 1, "minor": 3,
                                    "fileMode": 0o640, "uid": 7, "gid": 8},
                                   {"path": "/dev/null", "type": "c", "major": 1, "minor": 3,
                                    "fileMode": 0o666}]  # fmt: skip

    b = run_sh.bundle("stat -c '%n %t:%T %a %u:%g' /mnt/null0 /dev/null", mutate,
                      copy_rootfs=True)  # fmt: skip
    (b.rootfs / "mnt").mkdir(exist_ok=True)
    os.mknod(b.rootfs / "mnt" / "null0", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    res = run_sh.rt("run", "--bundle", str(b.path), "same", check=True)
    assert res.out.splitlines() == ["/mnt/null0 1:3 640 7:8", "/dev/null 1:3 666 0:0"], res


# ---------------------------------------------------------- masked / readonly paths


def test_masked_paths(run_sh: Any) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["linux"]["maskedPaths"] += ["/etc/secret", "/etc/secretdir", "/does/not/exist"]

    b = run_sh.bundle(
        "exec 2>&1; cat /proc/timer_list | wc -c; ls -A /sys/firmware | wc -l;"
        "cat /etc/secret | wc -c; ls -A /etc/secretdir | wc -l; cat /proc/keys | wc -c;"
        "touch /etc/secretdir/x; true",
        mutate,
        copy_rootfs=True,
    )
    (b.rootfs / "etc" / "secret").write_text("top secret\n")
    (b.rootfs / "etc" / "secretdir").mkdir()
    (b.rootfs / "etc" / "secretdir" / "key").write_text("k")
    res = run_sh.rt("run", "-b", str(b.path), "masked")
    assert res.code == 0, res
    lines = res.out.splitlines()
    assert lines[:5] == ["0", "0", "0", "0", "0"], res.out
    assert "Read-only file system" in res.out
    assert (b.rootfs / "etc" / "secret").read_text() == "top secret\n"


def test_readonly_paths(run_sh: Any) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["linux"]["readonlyPaths"] += ["/var", "/does/not/exist"]

    res = run_sh(
        "exec 2>&1; echo h > /proc/sys/kernel/hostname;"
        "touch /var/x; touch /tmp/ok && echo tmp-ok; echo ==; " + MOUNTINFO,
        mutate,
        copy_rootfs=True,
    )
    head, _, table = res.out.partition("==\n")
    assert head.count("Read-only file system") == 2, head
    assert "tmp-ok" in head
    m = parse_mountinfo(table)
    for p in ("/var", "/proc/sys", "/proc/bus"):
        assert "ro" in m[p].options, m[p]


def test_sysctl(run_sh: Any) -> None:
    host_forward = Path("/proc/sys/net/ipv4/ip_forward").read_text()

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["linux"]["sysctl"] = {
            "net.ipv4.ip_forward": "1" if host_forward.strip() == "0" else "0",
            "kernel.shm_rmid_forced": "1",
            "net.ipv4.ping_group_range": "0 1000",
        }

    res = run_sh(
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shm_rmid_forced "
        "/proc/sys/net/ipv4/ping_group_range",
        mutate,
    )
    lines = res.out.split("\n")
    assert lines[0] != host_forward.strip()
    assert lines[1] == "1"
    assert lines[2].split() == ["0", "1000"]
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == host_forward


def test_bad_sysctl_is_an_error(pyoci: Any, bundle_factory: Any, workdir: Path) -> None:
    b = bundle_factory(["true"], mutate=lambda c: c["linux"].update(
        sysctl={"net.ipv4.no_such_knob": "1"}))  # fmt: skip
    res = pyoci("run", "-b", str(b.path), "badsysctl")
    assert res.code == 1
    assert "no_such_knob" in res.err and len(res.err.strip().splitlines()) == 1


# ---------------------------------------------------------------- idmapped mounts


@pytest.fixture
def owned_dir(workdir: Path) -> Path:
    d = workdir / "owned"
    d.mkdir()
    (d / "by-root").write_text("r")
    (d / "by-1000").write_text("u")
    os.chown(d / "by-1000", 1000, 1000)
    return d


def test_idmapped_bind_mount(run_sh: Any, owned_dir: Path) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        m = bind("/idm", owned_dir, "bind", "idmap")
        m["uidMappings"] = [{"containerID": 0, "hostID": 2000, "size": 1001}]
        m["gidMappings"] = [{"containerID": 0, "hostID": 3000, "size": 1001}]
        _mounts(cfg, m, bind("/plain", owned_dir, "bind"))

    res = run_sh(
        "stat -c '%n %u:%g' /idm/by-root /idm/by-1000 /plain/by-root; "
        "touch /idm/new 2>/dev/null && echo created; echo ==; " + MOUNTINFO,
        mutate,
        copy_rootfs=True,
    )
    head, _, table = res.out.partition("==\n")
    assert head.splitlines()[:3] == [
        "/idm/by-root 2000:3000",
        "/idm/by-1000 3000:4000",
        "/plain/by-root 0:0",
    ]
    assert "idmapped" in parse_mountinfo(table)["/idm"].options
    # root of the container (host 0) is not mapped by the mount: it cannot create files there
    assert "created" not in head
    assert not (owned_dir / "new").exists()


def test_ridmap_applies_to_submounts(run_sh: Any, host_submount: Path) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        for dest, opt in (("/r", "ridmap"), ("/i", "idmap")):
            m = bind(dest, host_submount, "rbind", opt)
            m["uidMappings"] = [{"containerID": 0, "hostID": 5000, "size": 10}]
            m["gidMappings"] = [{"containerID": 0, "hostID": 5000, "size": 10}]
            _mounts(cfg, m)

    m = parse_mountinfo(run_sh(MOUNTINFO, mutate, copy_rootfs=True).out)
    assert "idmapped" in m["/r"].options and "idmapped" in m["/r/sub"].options
    assert "idmapped" in m["/i"].options and "idmapped" not in m["/i/sub"].options


def test_idmap_without_mappings_or_userns_is_an_error(pyoci: Any, bundle_factory: Any,
                                                      owned_dir: Path) -> None:  # fmt: skip
    b = bundle_factory(["true"], mutate=lambda c: _mounts(c, bind("/idm", owned_dir, "bind",
                                                                  "idmap")))  # fmt: skip
    res = pyoci("run", "-b", str(b.path), "idmap-err")
    assert res.code == 1
    assert "idmap" in res.err and len(res.err.strip().splitlines()) == 1


def test_idmap_with_the_containers_user_namespace(run_sh: Any, owned_dir: Path,
                                                  workdir: Path) -> None:  # fmt: skip
    """Without mappings on the mount, the container's own maps apply: the host's root
    files are root's inside a user namespace (instead of the overflow id)."""
    workdir.chmod(0o755)

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["linux"]["namespaces"].append({"type": "user"})
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        _mounts(cfg, bind("/idm", owned_dir, "bind", "idmap"), bind("/plain", owned_dir, "bind"))

    b = run_sh.bundle("stat -c '%n %u:%g' /idm/by-root /idm/by-1000 /plain/by-root; "
                      "touch /idm/made-inside && echo made", mutate, copy_rootfs=True)  # fmt: skip
    for d in ("idm", "plain"):  # the container's root may not create them in a host-owned /
        (b.rootfs / d).mkdir()
    res = run_sh.rt("run", "-b", str(b.path), "idm-userns")
    assert res.code == 0, res
    assert res.out.splitlines() == [
        "/idm/by-root 0:0",
        "/idm/by-1000 1000:1000",
        "/plain/by-root 65534:65534",
        "made",
    ]
    # written through the idmapped mount as the container's root: host root on disk
    assert (owned_dir / "made-inside").stat().st_uid == 0


def test_devices_in_a_user_namespace(run_sh: Any, workdir: Path) -> None:
    """mknod is not allowed in a user namespace: default devices and linux.devices are
    bind mounts of the host's nodes there, with the same type and numbers."""
    if not Path("/dev/fuse").exists():
        pytest.skip("the host has no /dev/fuse to bind")
    workdir.chmod(0o755)

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["linux"]["namespaces"].append({"type": "user"})
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        cfg["linux"]["devices"] = [{"path": "/dev/fuse", "type": "c", "major": 10,
                                    "minor": 229}]  # fmt: skip

    res = run_sh(
        "for d in null zero full random urandom tty fuse; do stat -c '%n %F %t:%T' /dev/$d; done;"
        "head -c 2 /dev/zero | wc -c",
        mutate,
    )
    lines = res.out.splitlines()
    assert lines[0] == "/dev/null character special file 1:3"
    assert lines[6] == "/dev/fuse character special file a:e5"
    assert lines[7] == "2"


@pytest.mark.parametrize("cgroupns", [True, False])
def test_cgroup_mount_shows_the_containers_cgroup(run_sh: Any, cgroupns: bool) -> None:
    """/sys/fs/cgroup inside is the container's own cgroup (its limits at the top),
    with and without a cgroup namespace."""
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():  # pure v2
        files = "/sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max"
    else:
        files = "/sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max"

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["linux"]["resources"]["memory"] = {"limit": 64 * 1024 * 1024}
        cfg["linux"]["resources"]["pids"] = {"limit": 77}
        if not cgroupns:
            cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"]
                                          if n["type"] != "cgroup"]  # fmt: skip

    res = run_sh(f"cat {files}", mutate)
    assert res.out.split() == [str(64 * 1024 * 1024), "77"]
