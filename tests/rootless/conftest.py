"""Fixtures for the rootless tests: pyoci run as an unprivileged user.

Test modules import the helpers from ``rootless_support``, never from
``conftest``: several test directories have a conftest.py, and only one of
them can be the module ``conftest`` when they are collected together.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import build_busybox_rootfs, mounts_under, pyoci_binary
from rootless_support import TEST_TMP, USER, Account, Env, wait_gone


@pytest.fixture(scope="session")
def user() -> Account:
    if os.geteuid() != 0:
        pytest.skip("the rootless tests set up as root and run pyoci as an unprivileged user")
    if shutil.which("runuser") is None:
        pytest.skip("runuser is not installed (Debian package util-linux)")
    try:
        u = Account(USER)
    except KeyError:
        pytest.skip(f"no user {USER}: run tools/test-user.sh (tools/test.sh does)")
    # The user exists, so the set-up ran: pyoci failing for it is a failure (of
    # pyoci, or of tools/test-user.sh), never a missing host feature.
    res = u.run([pyoci_binary(), "--version"])
    if res.code != 0:
        pytest.fail(
            f"{USER} cannot run {pyoci_binary()}: {res.err.strip()} "
            "(tools/test-user.sh makes the virtualenv reachable)"
        )
    return u


@pytest.fixture(scope="session")
def shared_rootfs() -> Path:
    """The busybox rootfs (root's, world-readable): containers read it, never write."""
    TEST_TMP.mkdir(parents=True, exist_ok=True)
    os.chmod(TEST_TMP, 0o755)
    return build_busybox_rootfs(TEST_TMP / "rootfs-busybox")


@pytest.fixture(scope="session")
def rootless_spec(user: Account) -> dict[str, Any]:
    """``pyoci spec --rootless`` as written by the user (its own uid/gid mapped to 0)."""
    d = Path(tempfile.mkdtemp(prefix="spec-", dir=TEST_TMP))
    try:
        user.chown(d)
        res = user.run([pyoci_binary(), "spec", "--rootless", "--bundle", str(d)])
        assert res.code == 0, res
        cfg: dict[str, Any] = json.loads((d / "config.json").read_text())
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return cfg


@pytest.fixture
def env(
    user: Account, shared_rootfs: Path, rootless_spec: dict[str, Any]
) -> Iterator[Env]:
    """Per test; afterwards nothing may be left: state, mounts, processes."""
    TEST_TMP.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="rl-", dir=TEST_TMP))
    os.chmod(workdir, 0o755)
    before = user.processes()
    e = Env(user, workdir, shared_rootfs, rootless_spec)
    try:
        yield e
    finally:
        left = e.rt.containers()
        e.rt.cleanup()
        procs = wait_gone(user, before)
        mounts = mounts_under(str(workdir))
        shutil.rmtree(workdir, ignore_errors=True)
    problems = []
    if left:
        problems.append(f"state dirs: {left}")
    if procs:
        problems.append(f"processes of {user.name}: {procs}")
    if mounts:
        problems.append(f"mounts: {mounts}")
    assert not problems, f"left behind: {problems}"
