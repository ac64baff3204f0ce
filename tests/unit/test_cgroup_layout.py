"""Host mode detection and cgroupsPath resolution on fake /proc and /sys/fs/cgroup trees."""

from __future__ import annotations

from pathlib import Path

import pytest
from cgroup_helpers import HYBRID_V1, FakeHost

from pyoci.cgroups import layout
from pyoci.cgroups.manager import manager_for_create
from pyoci.errors import CgroupError
from pyoci.util.mountinfo import unescape


def test_detect_pure_v2(tmp_path: Path) -> None:
    host = FakeHost(tmp_path, unified="root", v2_controllers="cpu memory pids")
    got = layout.detect(host.cgroup_root, host.proc_root)
    assert got.mode == "v2"
    assert got.v1 == []
    assert got.unified is not None
    assert got.unified.mountpoint == host.cgroup_root
    assert got.unified.controllers == ["cpu", "memory", "pids"]


def test_detect_pure_v1(tmp_path: Path) -> None:
    host = FakeHost(tmp_path, v1=HYBRID_V1)
    got = layout.detect(host.cgroup_root, host.proc_root)
    assert got.mode == "v1"
    assert got.unified is None
    ctls = {tuple(h.controllers): h.mountpoint for h in got.v1}
    assert ctls[("cpu", "cpuacct")] == f"{host.cgroup_root}/cpu,cpuacct"
    assert ctls[("name=systemd",)] == f"{host.cgroup_root}/systemd"
    assert ("memory",) in ctls


def test_detect_hybrid(tmp_path: Path) -> None:
    host = FakeHost(tmp_path, v1=HYBRID_V1, unified="unified", v2_controllers="hugetlb")
    got = layout.detect(host.cgroup_root, host.proc_root)
    assert got.mode == "hybrid"
    assert got.unified is not None
    assert got.unified.mountpoint == f"{host.cgroup_root}/unified"
    assert got.unified.controllers == ["hugetlb"]
    assert len(got.v1) == len(HYBRID_V1)


def test_detect_ignores_other_mounts(tmp_path: Path) -> None:
    host = FakeHost(tmp_path, v1=("memory",))
    mi = host.proc / "self" / "mountinfo"
    mi.write_text(
        mi.read_text()
        + "90 31 0:90 / /elsewhere/memory rw - cgroup cgroup rw,memory\n"
        + "91 31 0:91 / /proc rw - proc proc rw\n"
        + f"92 31 0:92 / {host.cgroup_root}/weird rw - cgroup cgroup rw,xattr\n"
    )
    got = layout.detect(host.cgroup_root, host.proc_root)
    assert [h.mountpoint for h in got.v1] == [f"{host.cgroup_root}/memory"]


def test_detect_nothing_mounted(tmp_path: Path) -> None:
    host = FakeHost(tmp_path)
    with pytest.raises(CgroupError, match="no cgroup"):
        layout.detect(host.cgroup_root, host.proc_root)


def test_mountinfo_escapes(tmp_path: Path) -> None:
    assert unescape(r"/a\040b") == "/a b"
    assert unescape("/plain") == "/plain"


def test_own_cgroups(tmp_path: Path) -> None:
    host = FakeHost(
        tmp_path,
        v1=("cpu,cpuacct", "memory", "name=systemd"),
        unified="unified",
        own={"memory": "/process_api/abc", "cpu,cpuacct": "/x", "": "/u/leaf"},
    )
    own = layout.own_cgroups(host.proc_root)
    assert own["memory"] == "/process_api/abc"
    assert own["cpu,cpuacct"] == "/x"
    assert own["name=systemd"] == "/"
    assert own[""] == "/u/leaf"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("/a/b", "/a/b"),
        ("/a/../../b", "/b"),
        ("//a//b/", "/a/b"),
        ("a/b", "a/b"),
        ("../../a", "a"),
        ("a/../..", ""),
        ("./x", "x"),
    ],
)
def test_clean_inner(raw: str, clean: str) -> None:
    assert layout.clean_inner(raw) == clean


# ---------------------------------------------------------------- cgroupsPath -> directories


def test_absolute_path_v1_and_hybrid(tmp_path: Path) -> None:
    host = FakeHost(tmp_path, v1=HYBRID_V1, unified="unified", v2_controllers="hugetlb")
    m = manager_for_create("c1", "/my/ctr", cgroup_root=host.cgroup_root, proc_root=host.proc_root)
    assert m is not None
    root = host.cgroup_root
    assert m.v1["memory"] == f"{root}/memory/my/ctr"
    assert m.v1["cpu"] == m.v1["cpuacct"] == f"{root}/cpu,cpuacct/my/ctr"
    assert m.v1["name=systemd"] == f"{root}/systemd/my/ctr"
    assert m.unified == f"{root}/unified/my/ctr"
    assert m.v2 == ["hugetlb"]
    assert m.mode == "hybrid"
    assert len(m.dirs()) == len(HYBRID_V1) + 1
    assert m.owned == []


def test_default_path(tmp_path: Path) -> None:
    host = FakeHost(tmp_path, unified="root")
    m = manager_for_create("abc", None, cgroup_root=host.cgroup_root, proc_root=host.proc_root)
    assert m is not None
    assert m.unified == f"{host.cgroup_root}/pyoci/abc"
    assert m.owned == [f"{host.cgroup_root}/pyoci"]  # ours by convention: removed when empty


def test_relative_path_v1_is_under_own_cgroup(tmp_path: Path) -> None:
    host = FakeHost(tmp_path, v1=("memory", "pids"), own={"memory": "/process_api/abc"})
    m = manager_for_create("c", "sub/ctr", cgroup_root=host.cgroup_root, proc_root=host.proc_root)
    assert m is not None
    assert m.v1["memory"] == f"{host.cgroup_root}/memory/process_api/abc/sub/ctr"
    assert m.v1["pids"] == f"{host.cgroup_root}/pids/sub/ctr"


def test_relative_path_v2_is_beside_own_cgroup(tmp_path: Path) -> None:
    host = FakeHost(tmp_path, unified="root", own={"": "/system.slice/runtime.scope"})
    m = manager_for_create("c", "ctr", cgroup_root=host.cgroup_root, proc_root=host.proc_root)
    assert m is not None
    assert m.unified == f"{host.cgroup_root}/system.slice/ctr"


def test_relative_path_cannot_escape(tmp_path: Path) -> None:
    host = FakeHost(tmp_path, v1=("memory",), own={"memory": "/a/b"})
    m = manager_for_create(
        "c", "../../../../x", cgroup_root=host.cgroup_root, proc_root=host.proc_root
    )
    assert m is not None
    assert m.v1["memory"] == f"{host.cgroup_root}/memory/a/b/x"


def test_namespaced_mount_root(tmp_path: Path) -> None:
    # /sys/fs/cgroup/memory shows the host's /docker/xyz: /proc/self/cgroup
    # paths must be taken relative to it.
    host = FakeHost(tmp_path, v1=("memory",), own={"memory": "/docker/xyz/inner"})
    mi = host.proc / "self" / "mountinfo"
    mi.write_text(
        mi.read_text().replace(
            " / " + host.cgroup_root + "/memory", " /docker/xyz " + host.cgroup_root + "/memory"
        )
    )
    m = manager_for_create("c", "ctr", cgroup_root=host.cgroup_root, proc_root=host.proc_root)
    assert m is not None
    assert m.v1["memory"] == f"{host.cgroup_root}/memory/inner/ctr"


@pytest.mark.parametrize("path", ["/", "/..", "", "."])
def test_paths_that_name_no_cgroup(tmp_path: Path, path: str) -> None:
    host = FakeHost(tmp_path, unified="root")
    if path == "":
        m = manager_for_create("c", path, cgroup_root=host.cgroup_root, proc_root=host.proc_root)
        assert m is not None and m.unified is not None and m.unified.endswith("/pyoci/c")
        return
    with pytest.raises(CgroupError, match="does not name a cgroup"):
        manager_for_create("c", path, cgroup_root=host.cgroup_root, proc_root=host.proc_root)


def test_systemd_path_needs_the_systemd_driver(tmp_path: Path) -> None:
    host = FakeHost(tmp_path, unified="root")
    from pyoci.cgroups.systemd import systemd_running

    if not systemd_running():
        with pytest.raises(CgroupError, match="systemd not running on this host"):
            manager_for_create(
                "c",
                "system.slice:pyoci:c",
                systemd=True,
                cgroup_root=host.cgroup_root,
                proc_root=host.proc_root,
            )
    with pytest.raises(CgroupError, match="slice:prefix:name"):
        manager_for_create(
            "c", "system.slice:pyoci:c", cgroup_root=host.cgroup_root, proc_root=host.proc_root
        )


@pytest.mark.parametrize("cid", ["", "a/b", "..", "."])
def test_bad_container_id(tmp_path: Path, cid: str) -> None:
    host = FakeHost(tmp_path, unified="root")
    with pytest.raises(CgroupError, match="container id"):
        manager_for_create(cid, None, cgroup_root=host.cgroup_root, proc_root=host.proc_root)
