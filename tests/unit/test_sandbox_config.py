"""pyoci.sandbox.Config: the builder's output, validated as create validates (no root)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import pyoci
from pyoci.errors import ConfigError
from pyoci.sandbox import Bind, Config, Tmpfs
from pyoci.sandbox.config import parse_size, parse_user
from pyoci.sandbox.results import CalledProcessError, Completed, TimeoutExpired, error_from


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    (tmp_path / "rootfs").mkdir()
    return tmp_path / "rootfs"


def test_defaults_are_the_spec_defaults_locked_down(rootfs: Path) -> None:
    cfg = Config(["echo", "hi"], rootfs=rootfs, rootless=False)
    spec = cfg.spec
    assert spec["process"]["args"] == ["echo", "hi"]
    assert spec["process"]["terminal"] is False
    assert spec["process"]["env"] == [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    ]
    assert spec["root"] == {"path": str(rootfs), "readonly": True}
    types = [ns["type"] for ns in spec["linux"]["namespaces"]]
    assert "network" in types and "pid" in types and "mount" in types
    cfg.validate()


def test_helpers_produce_a_valid_config(rootfs: Path) -> None:
    cfg = (
        Config(["sh"], rootfs=rootfs, rootless=False)
        .env({"A": "1"})
        .cwd("/tmp")
        .user("1000:100")
        .limits(memory="256m", pids=64, cpus=0.5)
        .mount(Bind("/srv", "/data"))
        .mount(Tmpfs("/tmp", size="64m"))
        .network(True)
        .readonly(False)
        .cgroup_parent("/sandboxes")
    )
    spec = cfg.spec
    assert "A=1" in spec["process"]["env"]
    assert spec["process"]["user"] == {"uid": 1000, "gid": 100}
    res = spec["linux"]["resources"]
    assert res["memory"] == {"limit": 256 << 20, "swap": 256 << 20}
    assert res["pids"] == {"limit": 64}
    assert res["cpu"] == {"quota": 50_000, "period": 100_000}
    assert "network" not in [ns["type"] for ns in spec["linux"]["namespaces"]]
    mounts = {m["destination"]: m for m in spec["mounts"]}
    assert "ro" in mounts["/data"]["options"]
    assert mounts["/tmp"]["type"] == "tmpfs" and f"size={64 << 20}" in mounts["/tmp"]["options"]
    assert cfg.for_container("c1").spec["linux"]["cgroupsPath"] == "/sandboxes/c1"
    cfg.validate()
    bundle = cfg.bundle()
    try:
        assert (Path(bundle.path) / "config.json").is_file()
    finally:
        bundle.remove()
    assert not Path(bundle.path).exists()


def test_rootless_id_maps(rootfs: Path) -> None:
    cfg = Config(["true"], rootfs=rootfs, rootless=True).id_maps([(0, 1000, 1)], [(0, 1000, 1)])
    linux = cfg.spec["linux"]
    assert {"type": "user"} in linux["namespaces"]
    assert linux["uidMappings"] == [{"containerID": 0, "hostID": 1000, "size": 1}]
    cfg.validate()


def test_validation_is_creates(rootfs: Path) -> None:
    cfg = Config(["true"], rootfs=rootfs, rootless=False)
    cfg.spec["process"]["user"] = {"uid": "x", "gid": 0}
    with pytest.raises(ConfigError, match="uid"):
        cfg.validate()
    with pytest.raises(ConfigError, match="rootfs"):
        Config(["true"], rootfs=rootfs / "nope").validate()


@pytest.mark.parametrize(
    "bad",
    [
        lambda c: c.limits(memory="lots"),
        lambda c: c.limits(memory=0),
        lambda c: c.limits(pids=0),
        lambda c: c.limits(cpus=-1),
        lambda c: c.cwd("relative"),
        lambda c: c.user("bob"),
        lambda c: c.env({"A=B": "1"}),
        lambda c: c.mount(Bind("/x", "rel")),
    ],
)
def test_bad_values_raise_config_error(rootfs: Path, bad: object) -> None:
    cfg = Config(["true"], rootfs=rootfs, rootless=False)
    with pytest.raises(ConfigError):
        bad(cfg)  # type: ignore[operator]


def test_args_must_be_a_sequence(rootfs: Path) -> None:
    with pytest.raises(ConfigError):
        Config("echo hi", rootfs=rootfs)  # type: ignore[arg-type]


def test_sizes_and_users() -> None:
    assert parse_size("1.5g") == 3 << 29
    assert parse_size(4096) == 4096
    assert parse_user(5) == {"uid": 5, "gid": 5}
    assert parse_user((1, 2)) == {"uid": 1, "gid": 2}


def test_results_are_subprocess_types() -> None:
    r = Completed(["x"], -9, b"", b"", oom_killed=True)
    assert isinstance(r, subprocess.CompletedProcess) and r.signal == 9
    with pytest.raises(subprocess.CalledProcessError) as info:
        r.check_returncode()
    assert "SIGKILL" in str(info.value) and isinstance(info.value, CalledProcessError)
    assert issubclass(TimeoutExpired, subprocess.TimeoutExpired)
    assert issubclass(TimeoutExpired, pyoci.PyociError)
    exc = error_from({"error": "ContainerExists", "message": "container with id x already exists"})
    assert type(exc).__name__ == "ContainerExists" and "already exists" in str(exc)
    missing = error_from({"error": "SetupError", "message": 'exec: "x": executable file not found'})
    assert isinstance(missing, FileNotFoundError)


def test_import_pyoci_stays_lazy() -> None:
    code = "import sys, pyoci; print('pyoci.sandbox' in sys.modules, 'subprocess' in sys.modules)"
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["False", "False"], out.stderr
    code = "import pyoci; print(pyoci.run.__module__, pyoci.Container.__name__)"
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["pyoci.sandbox.oneshot", "Container"], out.stderr
