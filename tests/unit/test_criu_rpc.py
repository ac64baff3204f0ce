"""CRIU's RPC without CRIU: the hand-written protobuf encoding against bytes that
CRIU's own rpc_pb2 (python3-protobuf, pycriu) produced for the same messages, and
runc's checkpoint/restore flags mapped to criu_opts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers import pyoci_binary

from pyoci.criu import messages as M
from pyoci.criu import mounts as MNT
from pyoci.criu import options as O
from pyoci.criu import wire
from pyoci.errors import UsageError

# criu_req DUMP as pycriu.rpc_pb2 serialises it (protobuf 4.21, CRIU 3.17's rpc.proto)
DUMP_REQ = bytes.fromhex(
    "080112a301080510d20918014804520864756d702e6c6f675a0c0a0831302e302e302e31101b60016a092f"
    "782f726f6f746673ba01180a0a2f6574632f686f737473120a2f6574632f686f737473c00101ca010b1209"
    "2f70796f63692f6332da010e0a0a706970653a5b3132335d1001900203aa021c6e65745b34303236353331"
    "3939325d3a657874526f6f744e65744e53b00280808080048803ffffffffffffffffff01900301"
)
NOTIFY_RESP = bytes.fromhex("080610012a110a0c706f73742d726573746f726510e12138feffffffffffffffff01")
VERSION_RESP = bytes.fromhex("080a10015206080310112001")


def test_request_bytes_match_protobuf() -> None:
    opts = {
        "images_dir_fd": 5,
        "pid": 1234,
        "leave_running": True,
        "log_level": 4,
        "log_file": "dump.log",
        "root": "/x/rootfs",
        "manage_cgroups": True,
        "notify_scripts": True,
        "empty_ns": 0x40000000,
        "orphan_pts_master": True,
        "ext_mnt": [{"key": "/etc/hosts", "val": "/etc/hosts"}],
        "external": ["net[4026531992]:extRootNetNS"],
        "manage_cgroups_mode": M.CG_SOFT,
        "cg_root": [{"path": "/pyoci/c2"}],
        "inherit_fd": [{"key": "pipe:[123]", "fd": 1}],
        "ps": {"address": "10.0.0.1", "port": 27},
        "status_fd": -1,  # a negative int32 takes ten bytes
    }
    assert wire.encode({"type": M.DUMP, "opts": opts}, M.REQ) == DUMP_REQ
    assert wire.decode(DUMP_REQ, M.REQ) == {"type": M.DUMP, "opts": opts}


def test_responses_decode() -> None:
    assert wire.decode(NOTIFY_RESP, M.RESP) == {
        "type": M.NOTIFY,
        "success": True,
        "notify": {"script": "post-restore", "pid": 4321},
        "cr_errno": -2,
    }
    v = wire.decode(VERSION_RESP, M.RESP)["version"]
    assert (v["major_number"], v["minor_number"], v["sublevel"]) == (3, 17, 1)


def test_unknown_fields_are_skipped_and_garbage_refused() -> None:
    extra = wire.encode({"type": M.DUMP, "success": True}, M.RESP) + bytes.fromhex("f80701")
    assert wire.decode(extra, M.RESP) == {"type": M.DUMP, "success": True}
    for bad in (b"\x08", b"\x12\x05ab", b"\x0f"):
        with pytest.raises(wire.WireError):
            wire.decode(bad, M.RESP)
    with pytest.raises(wire.WireError):
        wire.decode(b"\x0a\x01x", M.RESP)  # type is a varint, not bytes
    with pytest.raises(KeyError):
        wire.encode({"no_such_field": 1}, M.OPTS)


def test_varint_edges() -> None:
    for n in (0, 1, 127, 128, 300, 2**31 - 1, 2**32 - 1, 2**63):
        assert wire.decode_varint(wire.encode_varint(n), 0) == (n, len(wire.encode_varint(n)))
    assert wire.encode_varint(-1) == b"\xff" * 9 + b"\x01"


def test_image_paths_as_runc(tmp_path: Path) -> None:
    assert O.image_paths(None, None, "/work") == ("/work/checkpoint", "")
    assert O.image_paths("img/../i2", None, "/w") == ("/w/i2", "")
    (tmp_path / "pre").mkdir()
    (tmp_path / "file").write_text("")
    assert O.image_paths(str(tmp_path / "final"), "../pre", "/") == (
        str(tmp_path / "final"),
        "../pre",
    )
    with pytest.raises(UsageError, match="must be relative"):
        O.image_paths("x", "/abs", "/")
    with pytest.raises(UsageError, match="no such directory"):
        O.image_paths(str(tmp_path / "final"), "../missing", "/")
    with pytest.raises(UsageError, match="not a directory"):
        O.image_paths(str(tmp_path / "final"), "../file", "/")


def test_flag_values() -> None:
    assert O.parse_page_server("10.1.2.3:27") == ("10.1.2.3", 27)
    assert O.parse_page_server("[::1]:27") == ("::1", 27)
    for bad in ("nohost", ":27", "h:", "h:0", "h:x"):
        with pytest.raises(UsageError):
            O.parse_page_server(bad)
    assert O.parse_cgroups_mode("soft") == M.CG_SOFT
    assert O.parse_cgroups_mode("strict") == M.CG_STRICT
    assert O.parse_cgroups_mode("ignore") == M.CG_IGNORE
    with pytest.raises(UsageError):
        O.parse_cgroups_mode("props")
    assert O.parse_empty_ns([]) == O.CLONE_NEWNET  # always (runc manages no network)
    assert O.parse_empty_ns(["network"]) == O.CLONE_NEWNET
    with pytest.raises(UsageError, match="pid"):
        O.parse_empty_ns(["pid"])
    assert O.config_file({}) == "/etc/criu/runc.conf"
    assert O.config_file({"org.criu.config": ""}) is None
    assert O.config_file({"org.criu.config": "/etc/x.conf"}) == "/etc/x.conf"


def test_dump_and_restore_opts() -> None:
    o = O.CriuOptions()
    o.parent_path = "../pre"
    o.tcp_established = True
    o.manage_cgroups_mode = M.CG_FULL
    d = O.dump_opts(o, 42, "/rootfs")
    assert d["pid"] == 42 and d["root"] == "/rootfs" and d["log_file"] == "dump.log"
    assert d["parent_img"] == "../pre" and d["track_mem"] is True
    assert d["tcp_established"] is True and d["manage_cgroups_mode"] == M.CG_FULL
    assert d["orphan_pts_master"] is True and d["empty_ns"] == O.CLONE_NEWNET
    r = O.restore_opts(o, "/state/c/criu-root")
    assert r["rst_sibling"] is True and r["evasive_devices"] is True
    assert r["log_file"] == "restore.log" and "parent_img" not in r and "pid" not in r
    wire.encode({"type": M.DUMP, "opts": dict(d, images_dir_fd=3)}, M.REQ)
    wire.encode({"type": M.RESTORE, "opts": dict(r, images_dir_fd=3)}, M.REQ)
    assert O.pipe_inherit_fds(["/dev/null", "pipe:[77]", "pipe:[78]"]) == [
        {"key": "pipe:[77]", "fd": 1},
        {"key": "pipe:[78]", "fd": 2},
    ]


HYBRID = """\
25 22 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid shared:11 - cgroup cgroup rw,xattr,name=systemd
28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:12 - cgroup cgroup rw,cpu,cpuacct
"""
PROC_CGROUP = "2:cpu,cpuacct:/pyoci/c2\n1:name=systemd:/pyoci/c2\n0::/pyoci/c2\n"


def test_cgroup_mounts_and_roots() -> None:
    h = MNT.host_hierarchies(HYBRID)
    assert h == [
        ("/sys/fs/cgroup/unified", "cgroup2", [""]),
        ("/sys/fs/cgroup/systemd", "cgroup", ["name=systemd"]),
        ("/sys/fs/cgroup/cpu,cpuacct", "cgroup", ["cpu", "cpuacct"]),
    ]
    own = MNT.parse_proc_cgroup(PROC_CGROUP)
    assert own == {
        "cpu": "/pyoci/c2",
        "cpuacct": "/pyoci/c2",
        "name=systemd": "/pyoci/c2",
        "": "/pyoci/c2",
    }
    assert MNT.cgroup_binds("/sys/fs/cgroup", h, own) == [
        ("/sys/fs/cgroup/unified", "/sys/fs/cgroup/unified/pyoci/c2"),
        ("/sys/fs/cgroup/systemd", "/sys/fs/cgroup/systemd/pyoci/c2"),
        ("/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpu,cpuacct/pyoci/c2"),
    ]
    v2 = [("/sys/fs/cgroup", "cgroup2", [""])]
    assert MNT.cgroup_binds("/sys/fs/cgroup", v2, {"": "/a/b"}) == [
        ("/sys/fs/cgroup", "/sys/fs/cgroup/a/b")
    ]
    roots = MNT.cgroup_roots(own)
    assert {"ctrl": "cpu", "path": "/pyoci/c2"} in roots
    assert {"path": "/pyoci/c2"} in roots  # the cgroup2 one: CRIU's default root


def test_external_mounts_from_config() -> None:
    config = {
        "mounts": [
            {"destination": "/data/", "type": "bind", "source": "data", "options": ["rbind"]},
            {"destination": "/etc/hosts", "source": "/etc/hosts", "options": ["bind", "ro"]},
            {"destination": "/proc", "type": "proc", "source": "proc"},
        ],
        "linux": {"devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]},
    }
    assert MNT.bind_mounts(config, "/b") == [("/data", "/b/data"), ("/etc/hosts", "/etc/hosts")]
    assert MNT.device_paths(config)[-1] == "/dev/fuse" and "/dev/null" in MNT.device_paths(config)


@pytest.mark.parametrize(
    "args",
    [
        ["restore", "--no-pivot", "x"],
        ["checkpoint", "--empty-ns", "pid", "x"],
        ["checkpoint", "--manage-cgroups-mode", "bogus", "x"],
        ["checkpoint", "--page-server", "nohostport", "x"],
        ["checkpoint", "--status-fd", "5", "x"],
        ["checkpoint", "--parent-path", "/abs", "x"],
        ["restore", "--parent-path", "p", "x"],  # runc's restore has no such flag
    ],
)
def test_cli_refuses_what_it_cannot_honour(args: list[str], tmp_path: Path) -> None:
    res = subprocess.run(
        [pyoci_binary(), "--root", str(tmp_path), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode != 0
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert not list(tmp_path.iterdir())


def test_help_and_features_name_the_commands() -> None:
    import json

    out = subprocess.run([pyoci_binary(), "--help"], capture_output=True, text=True).stdout
    assert "checkpoint" in out and "restore" in out and "--criu" in out
    feats = json.loads(
        subprocess.run([pyoci_binary(), "features"], capture_output=True, text=True).stdout
    )
    assert feats["annotations"]["org.opencontainers.runc.checkpoint.enabled"] == "true"
