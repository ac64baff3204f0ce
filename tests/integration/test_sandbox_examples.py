"""The embedding examples in examples/embedding/ run as documented."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.root

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "embedding"


def _run(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    # -P: the installed pyoci, not the checkout's (its native part is built on install)
    return subprocess.run([sys.executable, "-P", *args], capture_output=True, text=True,
                          timeout=300, **kw)  # type: ignore[call-overload, no-any-return]


def test_untrusted_code_example(rootfs: Path) -> None:
    r = _run([str(EXAMPLES / "untrusted.py"), str(rootfs)])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("exit 0: 5")
    assert lines[1].startswith("time limit exceeded") and "started" in lines[1]
    assert lines[2].startswith("memory limit exceeded")
    assert lines[3].startswith("exit 0: offline")


def test_pytest_fixture_example(rootfs: Path) -> None:
    r = _run(["-m", "pytest", "-p", "no:cacheprovider", "-q", str(EXAMPLES / "test_fixture.py")],
             env={**os.environ, "PYOCI_EXAMPLE_ROOTFS": str(rootfs)}, cwd="/")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "4 passed" in r.stdout


def test_asyncio_server_example(rootfs: Path) -> None:
    r = _run([str(EXAMPLES / "server.py"), str(rootfs), "12"])
    assert r.returncode == 0, r.stderr
    assert sorted(line.split(":")[0] for line in r.stdout.splitlines()[:-1]) == sorted(
        f"job {i}" for i in range(12)
    )
