"""Fixtures shared by every test: the runtime under test, bundles, leak checks."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
# conformance.refs (where ../shared and the runtime-spec are) and conformance.skips
# (the CI skip rule): plain modules of the repository.  Appended, so that the
# installed pyoci still wins over the source tree's.
sys.path.append(str(Path(__file__).resolve().parent.parent))

from helpers import (
    CGROUP_PARENT,
    Bundle,
    Result,
    RuntimeCLI,
    build_busybox_rootfs,
    cgroup_dirs_of_session,
    leftovers,
    make_bundle,
    mounts_under,
    pyoci_binary,
    remove_session_cgroups,
    sh,
)

IS_ROOT = os.geteuid() == 0
# the work dirs of this session (other sessions may run tests under TEST_TMP meanwhile)
_SESSION_WORKDIRS: list[str] = []
TEST_TMP = Path(os.environ.get("PYOCI_TEST_TMP", "/tmp/pyoci-tests"))


def pytest_configure(config: pytest.Config) -> None:
    from conformance.skips import SkipCheck

    # every skip must be one the host explains (conformance/skips.py, PYOCI_CI_SKIPS)
    if not config.pluginmanager.has_plugin("pyoci-skips"):
        config.pluginmanager.register(SkipCheck("tests"), "pyoci-skips")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_root = pytest.mark.skip(reason="needs root (run the suite as root)")
    skip_runc = pytest.mark.skip(reason="runc is not installed (Debian package runc)")
    have_runc = shutil.which("runc") is not None
    for item in items:
        if "root" in item.keywords and not IS_ROOT:
            item.add_marker(skip_root)
        if "runc" in item.keywords and not have_runc:
            item.add_marker(skip_runc)


@pytest.fixture(scope="session")
def rootfs() -> Path:
    TEST_TMP.mkdir(parents=True, exist_ok=True)
    return build_busybox_rootfs(TEST_TMP / "rootfs-busybox")


@pytest.fixture
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    TEST_TMP.mkdir(parents=True, exist_ok=True)
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="t-", dir=TEST_TMP))
    _SESSION_WORKDIRS.append(str(d))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def pyoci(workdir: Path) -> Iterator[RuntimeCLI]:
    """The runtime under test, with a private state root and a JSON log."""
    rt = RuntimeCLI(pyoci_binary(), workdir / "state", workdir / "log.json", name="pyoci")
    yield rt
    rt.cleanup()
    problems = leftovers(rt, workdir)
    assert not problems, f"left behind: {problems}"


@pytest.fixture
def runc(workdir: Path) -> Iterator[RuntimeCLI]:
    binary = shutil.which("runc")
    if binary is None:
        pytest.skip("runc is not installed (Debian package runc)")
    rt = RuntimeCLI(binary, workdir / "runc-state", workdir / "runc-log.json", name="runc")
    yield rt
    rt.cleanup()


@pytest.fixture
def bundle_factory(workdir: Path, rootfs: Path) -> Callable[..., Bundle]:
    counter = [0]

    def factory(args: list[str] | None = None, **kw: Any) -> Bundle:
        counter[0] += 1
        kw.setdefault("name", f"b{counter[0]}")
        return make_bundle(workdir, rootfs, args, **kw)

    return factory


class Runner:
    """Runs busybox shell scripts as containers of one runtime (``run`` in the foreground)."""

    def __init__(self, rt: RuntimeCLI, factory: Callable[..., Bundle]) -> None:
        self.rt = rt
        self.factory = factory
        self.count = 0

    def bundle(self, script: str, mutate: Any = None, **kw: Any) -> Bundle:
        return self.factory(sh(script), mutate=mutate, **kw)

    def __call__(
        self, script: str, mutate: Any = None, *, check: bool = True, cid: str = "", **kw: Any
    ) -> Result:
        b = self.bundle(script, mutate, **kw)
        self.count += 1
        res = self.rt("run", "--bundle", str(b.path), cid or f"c{self.count}")
        if check and res.code != 0:
            raise AssertionError(f"{self.rt.name} run failed: {res}")
        return res


@pytest.fixture
def run_sh(pyoci: RuntimeCLI, bundle_factory: Callable[..., Bundle]) -> Runner:
    """``run_sh(script, mutate=...)``: run a shell script in a pyoci container."""
    return Runner(pyoci, bundle_factory)


@pytest.fixture
def runc_sh(runc: RuntimeCLI, bundle_factory: Callable[..., Bundle]) -> Runner:
    return Runner(runc, bundle_factory)


@pytest.fixture(scope="session", autouse=True)
def session_leak_check() -> Iterator[None]:
    """After the whole suite: no mounts, cgroups or state of ours left behind."""
    yield
    mounts = [m for d in _SESSION_WORKDIRS for m in mounts_under(d + "/")]
    cgroups = cgroup_dirs_of_session()
    remove_session_cgroups()
    problems = []
    if mounts:
        problems.append(f"mounts left under this session's work dirs: {mounts}")
    if cgroups:
        problems.append(f"cgroups left under {CGROUP_PARENT}: {cgroups}")
    if problems:
        pytest.fail("leak check: " + "; ".join(problems), pytrace=False)
