"""Fixtures of the conformance suite: the session (runtime, helper, workdir, cgroup
parent), the bundle factory, and the cleanup of everything a run made."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conformance.bundle import Bundle, Session, build_helper
from conformance.plugin import (  # noqa: F401  (the plugin's hooks, registered here)
    STATE_KEY,
    pytest_addoption,
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_runtest_logreport,
    pytest_sessionfinish,
    pytest_sessionstart,
    pytest_terminal_summary,
)
from conformance.runtime import Runtime

IS_ROOT = os.geteuid() == 0


def cgroup_mounts() -> list[tuple[str, str]]:
    """(mountpoint, fstype) of every visible cgroup / cgroup2 mount in our mount
    namespace (a mount hidden by a later one on the same point is left out)."""
    top: dict[str, str] = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        top[left.split()[4]] = right.split()[0] if right else ""
    return [(m, t) for m, t in top.items() if t in ("cgroup", "cgroup2")]


def cgroup_dirs(path: str) -> list[Path]:
    """The existing directories of cgroup ``path`` (absolute) in every hierarchy."""
    rel = path.lstrip("/")
    return [Path(mnt) / rel for mnt, _ in cgroup_mounts() if (Path(mnt) / rel).is_dir()]


def remove_cgroup_tree(parent: str) -> list[str]:
    """Kill what still runs under our unique parent (processes our containers
    started, by pid) and remove its directories, deepest first."""
    problems: list[str] = []
    for top in cgroup_dirs(parent):
        dirs = sorted((d for d in top.rglob("*") if d.is_dir()), key=lambda d: -len(d.parts))
        for d in [*dirs, top]:
            procs = d / "cgroup.procs"
            with contextlib.suppress(OSError):
                for pid in procs.read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
                        problems.append(f"process {pid} left in {d}")
        for d in [*dirs, top]:
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    import time

                    time.sleep(0.05)
            else:
                problems.append(f"cannot remove {d}")
    return problems


@pytest.fixture(scope="session")
def session(request: pytest.FixtureRequest) -> Iterator[Session]:
    if not IS_ROOT:
        pytest.skip("the conformance suite needs root (containers with every namespace)")
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the static helper")
    binary = request.config.stash[STATE_KEY].runtime
    if not os.access(binary, os.X_OK):
        pytest.exit(f"runtime {binary!r} is not an executable", returncode=4)
    workdir = Path(tempfile.mkdtemp(prefix="oci-conf-"))
    os.chmod(workdir, 0o755)
    helper_dir = workdir / "helper-bin"
    helper_dir.mkdir()
    helper = build_helper(helper_dir)
    tag = uuid.uuid4().hex[:8]
    rt = Runtime(binary, workdir / "state", workdir / "runtime.log")
    sess = Session(runtime=rt, helper=helper, workdir=workdir,
                   cgroup_parent=f"/pyoci-conf-{tag}", tag=tag)
    yield sess
    remove_cgroup_tree(sess.cgroup_parent)
    if os.environ.get("CONFORMANCE_KEEP"):
        return
    for _ in range(3):
        try:
            shutil.rmtree(workdir)
            break
        except OSError:
            import time

            time.sleep(0.2)


@pytest.fixture
def rt(session: Session) -> Runtime:
    return session.runtime


@pytest.fixture
def bundle(session: Session) -> Iterator[Callable[..., Bundle]]:
    """A factory: ``bundle("cat", "/etc/hostname")`` makes a bundle whose process is
    ``/helper cat /etc/hostname``; every bundle is force-deleted after the test."""
    made: list[Bundle] = []

    def make(*args: str) -> Bundle:
        b = Bundle(session, list(args) if args else None)
        made.append(b)
        return b

    yield make
    for b in made:
        b.cleanup()
