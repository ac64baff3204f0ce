"""cgroupsPath for the systemd driver: ``slice:prefix:name`` as runc reads it
(libcontainer/specconv ``CreateCgroupConfig``, opencontainers/cgroups
``systemd/common.go`` ``ExpandSlice``/``getUnitName``)."""

from __future__ import annotations

import pytest

from pyoci.cgroups.systemd_props import expand_slice, go_quote, parse_cgroups_path
from pyoci.errors import CgroupError


@pytest.mark.parametrize(
    ("path", "slice_", "unit", "cgroup"),
    [
        # what the engines send
        ("system.slice:docker:abc", "system.slice", "docker-abc.scope",
         "/system.slice/docker-abc.scope"),
        ("machine.slice:libpod:abc", "machine.slice", "libpod-abc.scope",
         "/machine.slice/libpod-abc.scope"),
        (
            "kubepods-burstable-pod1_2.slice:cri-containerd:abc",
            "kubepods-burstable-pod1_2.slice",
            "cri-containerd-abc.scope",
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1_2.slice"
            "/cri-containerd-abc.scope",
        ),
        # empty parts: default slice; empty prefix gives "-name.scope" (as runc)
        (":docker:abc", "system.slice", "docker-abc.scope", "/system.slice/docker-abc.scope"),
        ("::x", "system.slice", "-x.scope", "/system.slice/-x.scope"),
        ("system.slice::x", "system.slice", "-x.scope", "/system.slice/-x.scope"),
        # the root slice
        ("-.slice:p:x", "-.slice", "p-x.scope", "/p-x.scope"),
        # a name ending in .slice is the unit itself, prefix ignored
        ("system.slice:ignored:system-pod.slice", "system.slice", "system-pod.slice",
         "/system.slice/system-pod.slice"),
    ],
)  # fmt: skip
def test_parse(path: str, slice_: str, unit: str, cgroup: str) -> None:
    spec = parse_cgroups_path(path, "id1")
    assert (spec.slice, spec.unit, spec.cgroup()) == (slice_, unit, cgroup)
    assert spec.is_slice == unit.endswith(".slice")


def test_empty_path_is_pyoci_scope_in_system_slice() -> None:
    for empty in (None, ""):
        spec = parse_cgroups_path(empty, "c1")
        assert (spec.slice, spec.unit) == ("system.slice", "pyoci-c1.scope")


def test_rootless_default_slice_is_user_slice() -> None:
    assert parse_cgroups_path("", "c1", rootless=True).slice == "user.slice"
    assert parse_cgroups_path(":p:n", "c1", rootless=True).slice == "user.slice"
    assert parse_cgroups_path("a.slice:p:n", "c1", rootless=True).slice == "a.slice"


@pytest.mark.parametrize(
    "path", ["/a/b", "a:b", "a:b:c:d", "x", "system.slice:docker", ":", "a:b:c:"]
)
def test_not_three_parts_is_runcs_error(path: str) -> None:
    with pytest.raises(CgroupError) as exc:
        parse_cgroups_path(path, "id1")
    assert str(exc.value) == (
        'expected cgroupsPath to be of format "slice:prefix:name" for systemd cgroups,'
        f' got "{path}" instead'
    )


def test_error_quotes_like_go() -> None:
    assert go_quote('a"b\\c\n') == '"a\\"b\\\\c\\n"'


@pytest.mark.parametrize(
    ("slice_", "expanded"),
    [
        ("system.slice", "/system.slice"),
        ("test-a-b.slice", "/test.slice/test-a.slice/test-a-b.slice"),
        ("test-a.slice", "/test.slice/test-a.slice"),
        ("-.slice", "/"),
        ("a.b.slice", "/a.b.slice"),
    ],
)
def test_expand_slice(slice_: str, expanded: str) -> None:
    assert expand_slice(slice_) == expanded


@pytest.mark.parametrize(
    "bad",
    [
        "system",  # no .slice suffix
        ".slice",  # bare suffix
        "slice",
        "a/b.slice",  # path separator
        "../x.slice",
        "a--b.slice",  # empty component
        "-a.slice",
        "a-.slice",
        "--.slice",
    ],
)
def test_expand_slice_rejects(bad: str) -> None:
    with pytest.raises(CgroupError, match=f"^invalid slice name: {bad}$".replace(".", r"\.")):
        expand_slice(bad)


@pytest.mark.parametrize(
    "path", ["a--b.slice:p:n", "x:p:n", "a/b.slice:p:n", "system.slice:p:a--b.slice"]
)
def test_bad_slices_are_config_errors(path: str) -> None:
    with pytest.raises(CgroupError, match="invalid slice name"):
        parse_cgroups_path(path, "id")


@pytest.mark.parametrize("path", ["system.slice:p:a/../../x", "system.slice:../..:x"])
def test_unit_names_cannot_climb(path: str) -> None:
    with pytest.raises(CgroupError, match="invalid systemd unit name"):
        parse_cgroups_path(path, "id")
