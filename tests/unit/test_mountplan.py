"""Spec mounts → mount plan (pure: no syscalls, no root)."""

from __future__ import annotations

import pytest

from pyoci.init.mountplan import mount_option_names, parse_options, plan_mount, plan_mounts
from pyoci.init.rootfs import mount_attrs
from pyoci.native import consts as c


def test_flags_set_and_clear_in_order() -> None:
    flags, prop, aset, aclr, data, ext = parse_options(["ro", "nosuid", "rw", "nodev", "exec"])
    assert flags == c.MS_NOSUID | c.MS_NODEV
    assert (prop, aset, aclr, data, ext) == ([], 0, 0, "", set())


def test_unknown_options_are_filesystem_data() -> None:
    flags, _p, _s, _c, data, _e = parse_options(["size=64k", "nosuid", "mode=755", "uid=5"])
    assert flags == c.MS_NOSUID
    assert data == "size=64k,mode=755,uid=5"


@pytest.mark.parametrize(
    "opt,expected",
    [
        ("shared", c.MS_SHARED),
        ("rshared", c.MS_SHARED | c.MS_REC),
        ("slave", c.MS_SLAVE),
        ("rslave", c.MS_SLAVE | c.MS_REC),
        ("private", c.MS_PRIVATE),
        ("rprivate", c.MS_PRIVATE | c.MS_REC),
        ("unbindable", c.MS_UNBINDABLE),
        ("runbindable", c.MS_UNBINDABLE | c.MS_REC),
    ],
)
def test_propagation_options(opt: str, expected: int) -> None:
    flags, prop, *_ = parse_options([opt])
    assert flags == 0 and prop == [expected]


def test_propagation_keeps_every_option_in_order() -> None:
    _f, prop, *_ = parse_options(["rprivate", "shared"])
    assert prop == [c.MS_PRIVATE | c.MS_REC, c.MS_SHARED]


def test_recursive_attributes() -> None:
    _f, _p, aset, aclr, _d, _e = parse_options(["rro", "rnosuid", "rnodev", "rnoexec"])
    assert aset == (c.MOUNT_ATTR_RDONLY | c.MOUNT_ATTR_NOSUID | c.MOUNT_ATTR_NODEV
                    | c.MOUNT_ATTR_NOEXEC)  # fmt: skip
    assert aclr == 0
    # a later opposite option wins
    _f, _p, aset, aclr, _d, _e = parse_options(["rro", "rrw"])
    assert aset == 0 and aclr == c.MOUNT_ATTR_RDONLY


def test_recursive_atime_clears_the_atime_field() -> None:
    _f, _p, aset, aclr, _d, _e = parse_options(["rnoatime"])
    assert aset == c.MOUNT_ATTR_NOATIME and aclr & c.MOUNT_ATTR__ATIME
    _f, _p, aset, aclr, _d, _e = parse_options(["rstrictatime"])
    assert aset == c.MOUNT_ATTR_STRICTATIME and aclr & c.MOUNT_ATTR__ATIME
    _f, _p, aset, aclr, _d, _e = parse_options(["rrelatime"])
    assert aset == c.MOUNT_ATTR_RELATIME and aclr == c.MOUNT_ATTR__ATIME


def test_extensions_are_not_passed_to_the_filesystem() -> None:
    _f, _p, _s, _c, data, ext = parse_options(["tmpcopyup", "idmap", "size=1m"])
    assert ext == {"tmpcopyup", "idmap"}
    assert data == "size=1m"


def test_bind_detection_and_source_relative_to_bundle() -> None:
    step = plan_mount({"destination": "/data", "type": "none", "source": "vol",
                       "options": ["rbind", "ro"]}, "/bundles/b1")  # fmt: skip
    assert step.is_bind and step.recursive
    assert step.source == "/bundles/b1/vol"
    assert step.fstype == ""
    assert step.flags & c.MS_RDONLY and step.flags & c.MS_BIND
    assert step.needs_remount
    assert step.remount_flags & c.MS_REMOUNT and step.remount_flags & c.MS_REC


def test_remount_plan() -> None:
    step = plan_mount({"destination": "/x", "type": "tmpfs", "source": "tmpfs",
                       "options": ["remount", "ro", "size=1m"]}, "/b")  # fmt: skip
    assert step.remount and not step.is_bind
    assert step.flags == c.MS_REMOUNT | c.MS_RDONLY and step.data == "size=1m"
    step = plan_mount({"destination": "/x", "type": "none", "source": "rel",
                       "options": ["bind", "remount", "nosuid"]}, "/b")  # fmt: skip
    assert step.remount and not step.is_bind and step.source == "rel"
    assert step.flags == c.MS_BIND | c.MS_REMOUNT | c.MS_NOSUID


def test_type_bind_without_option_is_a_bind() -> None:
    step = plan_mount({"destination": "/x", "type": "bind", "source": "/src"}, "/b")
    assert step.is_bind and not step.recursive and step.source == "/src"
    step = plan_mount({"destination": "/x", "type": "rbind", "source": "/src"}, "/b")
    assert step.is_bind and step.recursive


def test_non_bind_source_is_kept_verbatim() -> None:
    step = plan_mount({"destination": "/proc", "type": "proc", "source": "proc"}, "/b")
    assert not step.is_bind and step.source == "proc" and step.fstype == "proc"
    assert not step.needs_remount


def test_idmap_plan() -> None:
    ids = [{"containerID": 0, "hostID": 1000, "size": 10}]
    step = plan_mount({"destination": "/x", "type": "bind", "source": "/s",
                       "options": ["rbind", "ridmap"], "uidMappings": ids,
                       "gidMappings": ids}, "/b")  # fmt: skip
    assert step.idmap and step.recursive and step.uid_mappings == ids
    step = plan_mount({"destination": "/x", "type": "bind", "source": "/s",
                       "options": ["bind", "idmap"]}, "/b")  # fmt: skip
    assert step.idmap and not step.recursive and step.uid_mappings == []
    # mappings alone ask for an idmapping too
    step = plan_mount({"destination": "/x", "type": "bind", "source": "/s", "options": ["bind"],
                       "uidMappings": ids, "gidMappings": ids}, "/b")  # fmt: skip
    assert step.idmap


def test_plan_mounts_keeps_order() -> None:
    mounts = [{"destination": f"/m{i}", "type": "tmpfs", "source": "tmpfs"} for i in range(5)]
    assert [s.destination for s in plan_mounts(mounts, "/b")] == [f"/m{i}" for i in range(5)]


def test_mount_attrs_from_flags() -> None:
    assert mount_attrs(c.MS_RDONLY | c.MS_NOSUID) == c.MOUNT_ATTR_RDONLY | c.MOUNT_ATTR_NOSUID
    assert mount_attrs(c.MS_NOATIME | c.MS_STRICTATIME) == c.MOUNT_ATTR_NOATIME
    assert mount_attrs(c.MS_STRICTATIME) == c.MOUNT_ATTR_STRICTATIME
    assert mount_attrs(c.MS_NODEV | c.MS_NOEXEC | c.MS_NOSYMFOLLOW | c.MS_NODIRATIME) == (
        c.MOUNT_ATTR_NODEV | c.MOUNT_ATTR_NOEXEC | c.MOUNT_ATTR_NOSYMFOLLOW
        | c.MOUNT_ATTR_NODIRATIME)  # fmt: skip
    assert mount_attrs(c.MS_BIND | c.MS_REC) == 0


def test_every_advertised_option_is_understood() -> None:
    """What ``features`` lists: each option is a flag, a propagation, a recursive
    attribute or an extension; none ends up as filesystem data."""
    names = mount_option_names()
    assert "remount" in names and len(names) == len(set(names))
    # features.md: SHOULD NOT list filesystem-specific options (mount(8): acl and
    # noacl belong to ext4, xfs...); pyoci still takes them (as MS_POSIXACL)
    assert not {"acl", "noacl"} & set(names)
    assert parse_options(["acl"])[0] == c.MS_POSIXACL
    # options that only clear a flag (or are the default): nothing to set
    clearing = {"defaults", "async", "rw", "suid", "dev", "exec", "atime", "diratime", "loud",
                "noacl", "nomand", "noiversion", "nolazytime", "norelatime", "nostrictatime",
                "symfollow"}  # fmt: skip
    for name in names:
        flags, prop, aset, aclr, data, ext = parse_options([name])
        assert data == "", name
        assert flags or prop or aset or aclr or ext or name in clearing, name
