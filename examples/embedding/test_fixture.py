"""A pytest fixture that gives each test a fresh container.

    PYOCI_EXAMPLE_ROOTFS=/path/to/rootfs pytest examples/embedding/test_fixture.py
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

import pyoci
from pyoci.sandbox import Config, Container, Tmpfs

ROOTFS = os.environ.get("PYOCI_EXAMPLE_ROOTFS", "")


@pytest.fixture
def box() -> Iterator[Container]:
    """A running container with a writable /work; killed and deleted after the
    test, whether it passed, failed or was interrupted."""
    if not ROOTFS:
        pytest.skip("PYOCI_EXAMPLE_ROOTFS is not set (a rootfs with sh)")
    config = Config(["sleep", "3600"], rootfs=ROOTFS).mount(Tmpfs("/work", size="16m"))
    with Container(config) as c:
        c.start()
        yield c


def test_state_does_not_leak_between_tests_1(box: Container) -> None:
    r = box.exec(["sh", "-c", "ls /work; echo one > /work/f"], capture_output=True)
    assert r.returncode == 0 and r.stdout == b""


def test_state_does_not_leak_between_tests_2(box: Container) -> None:
    r = box.exec(["ls", "/work"], capture_output=True)
    assert r.stdout == b""  # a fresh container: test 1's file is not here


def test_the_container_is_isolated(box: Container) -> None:
    r = box.exec(["ls", "/sys/class/net"], capture_output=True, text=True)
    assert r.stdout.split() == ["lo"]
    assert box.state == "running"
    box.kill(signal.SIGKILL)
    assert box.wait(timeout=10) == -signal.SIGKILL


def test_timeouts_are_subprocess_compatible(box: Container) -> None:
    import subprocess

    with pytest.raises(subprocess.TimeoutExpired):
        box.wait(timeout=0.1)  # still running afterwards, as Popen.wait
    assert box.poll() is None
    assert isinstance(pyoci.TimeoutExpired(["x"], 1.0), subprocess.TimeoutExpired)
