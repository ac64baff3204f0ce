"""The ``--systemd-cgroup`` driver against a real systemd: pyoci and runc side by side.

Every test here needs systemd as PID 1 on a pure cgroup v2 host with the system
D-Bus; tools/systemd-guest.sh boots such a guest (../shared/tools/cgvm
``run-in-cgv2.sh --systemd``) and runs this directory in it.  Anywhere else the
whole directory is skipped with that reason.

Each flow is parametrized over the runtime (``rt``): ``pyoci`` under test and
Debian's runc 1.1.5, the reference, both called as go-runc calls them
(``--systemd-cgroup`` as a global flag on every command, a private ``--root``
on tmpfs, a JSON log).  Where runc 1.1.5 is known to be wrong (the bug list of
../shared/reference/systemd-driver.md section 6) its case is a strict xfail
naming the bug.

Units are named ``pyoci-sdtest-<runtime>-<random>.scope`` (``system.slice:
pyoci-sdtest:<id>``); a test's teardown force-deletes its containers, then
stops and resets only the units and slices it registered, removes their cgroup
directories, and fails the test if the runtime had left any of them behind.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import pyoci_binary
from sd_support import HERE, SKIP_REASON, STATE_BASE, SdRuntime, Units, systemd_host

CALL_FAILED = pytest.StashKey[bool]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = HERE.resolve()
    skip = pytest.mark.skip(reason=SKIP_REASON)
    ok = systemd_host()
    for item in items:
        if here in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.systemd)
            if not ok:
                item.add_marker(skip)


@pytest.fixture(params=["pyoci", "runc"])
def rt(request: pytest.FixtureRequest) -> Iterator[SdRuntime]:
    if request.param == "pyoci":
        binary = pyoci_binary()
    else:
        found = shutil.which("runc")
        if found is None:
            pytest.skip("runc is not installed (Debian package runc): the reference run is skipped")
        binary = found
    STATE_BASE.mkdir(parents=True, exist_ok=True)
    d = Path(tempfile.mkdtemp(prefix=f"{request.param}-", dir=STATE_BASE))
    r = SdRuntime(binary, d / "root", d / "log.json", name=request.param)
    yield r
    shutil.rmtree(d, ignore_errors=True)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """In the guest (PYOCI_SYSTEMD_GUEST set), a failure is printed at once: a guest
    killed by its timeout never gets to pytest's summary."""
    if report.failed and os.environ.get("PYOCI_SYSTEMD_GUEST"):
        sys.stdout.write(f"\n>> {report.nodeid} ({report.when}):\n{report.longreprtext[-4000:]}\n")
        sys.stdout.flush()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    rep = yield
    if rep.when == "call":
        item.stash[CALL_FAILED] = rep.failed or hasattr(rep, "wasxfail")
    return rep


@pytest.fixture
def units(rt: SdRuntime, request: pytest.FixtureRequest) -> Iterator[Units]:
    """Containers still there are force-deleted; then what the runtime left
    (state dirs, units, cgroups) fails the test, unless it already failed."""
    u = Units(rt)
    yield u
    problems = []
    if rt.root.exists():
        rt.cleanup()
        left = [p.name for p in rt.root.iterdir() if not p.name.startswith(".")]
        if left:
            problems.append(f"state dirs left after delete --force: {left}")
    problems += u.cleanup()
    if not request.node.stash.get(CALL_FAILED, True):
        assert not problems, f"{rt.name} left behind: {problems}"
