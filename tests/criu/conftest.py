"""CRIU tests: skipped, with the reason, where ``criu check`` fails (CRIU 3.17 on
kernels past 6.x's vDSO changes, e.g. the 6.18 development machine); CI runs
them in the pure cgroup v2 guest (tools/cgroup-guests.sh), on Debian's 6.1, and
one checkpoint + restore in its v1 and hybrid guests."""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache

import pytest


@cache
def criu_problem() -> str | None:
    criu = shutil.which("criu") or ("/usr/sbin/criu" if os.path.exists("/usr/sbin/criu") else None)
    if criu is None:
        return "criu is not installed (Debian package criu)"
    try:
        res = subprocess.run([criu, "check"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"criu check failed to run: {exc}"
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or res.stdout.strip().splitlines() or ["?"])[-1]
        return f"`criu check` fails on this kernel: {last}"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mine = [i for i in items if "/tests/criu/" in str(i.fspath) and "needs_criu" in i.keywords]
    if not mine:
        return
    why = criu_problem()
    if why is not None:
        for item in mine:
            item.add_marker(pytest.mark.skip(reason=why))
