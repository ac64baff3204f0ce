"""LSM labels through real containers.

On a host without the LSM a requested profile or label is a clear error; the
tests that need the LSM itself are skipped with the reason (the exact writes
are unit-tested against fake procfs trees in tests/unit/test_lsm.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers import RuntimeCLI

from pyoci.init import lsm
from pyoci.init.procfs import ProcFS

pytestmark = pytest.mark.root


def _host() -> tuple[bool, bool]:
    proc = ProcFS.at("/proc")
    try:
        return lsm.apparmor_enabled(proc), lsm.selinux_enabled(proc)
    finally:
        proc.close()


APPARMOR, SELINUX = _host()
needs_apparmor = pytest.mark.skipif(not APPARMOR, reason="AppArmor is not enabled on this host")
needs_selinux = pytest.mark.skipif(not SELINUX, reason="SELinux is not enabled on this host")
without_apparmor = pytest.mark.skipif(APPARMOR, reason="this host has AppArmor")
without_selinux = pytest.mark.skipif(SELINUX, reason="this host has SELinux")

LABEL = "system_u:system_r:container_t:s0:c100,c200"
FILE_LABEL = "system_u:object_r:container_file_t:s0:c100,c200"


def _run(pyoci: RuntimeCLI, bundle_factory: Any, script: str, **edits: Any) -> Any:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["process"].update(edits.get("process", {}))
        cfg["linux"].update(edits.get("linux", {}))

    b = bundle_factory(["sh", "-c", script], mutate=mutate)
    return pyoci("run", "--bundle", str(b.path), "lsm")


@without_apparmor
def test_apparmor_profile_without_apparmor_is_an_error(pyoci: RuntimeCLI,
                                                       bundle_factory: Any) -> None:  # fmt: skip
    res = _run(pyoci, bundle_factory, "echo ran", process={"apparmorProfile": "docker-default"})
    assert res.code != 0 and "ran" not in res.out, res
    assert "AppArmor is not enabled" in res.err and "docker-default" in res.err, res


@without_selinux
def test_selinux_label_without_selinux_is_an_error(pyoci: RuntimeCLI,
                                                   bundle_factory: Any) -> None:  # fmt: skip
    res = _run(pyoci, bundle_factory, "echo ran", process={"selinuxLabel": LABEL})
    assert res.code != 0 and "ran" not in res.out, res
    assert "SELinux is not enabled" in res.err and "process.selinuxLabel" in res.err, res


@without_selinux
def test_mount_label_without_selinux_is_an_error(pyoci: RuntimeCLI,
                                                 bundle_factory: Any) -> None:  # fmt: skip
    res = _run(pyoci, bundle_factory, "echo ran", linux={"mountLabel": FILE_LABEL})
    assert res.code != 0 and "ran" not in res.out, res
    assert "SELinux is not enabled" in res.err and "linux.mountLabel" in res.err, res


@without_apparmor
def test_exec_apparmor_profile_without_apparmor_is_an_error(
    pyoci: RuntimeCLI, bundle_factory: Any
) -> None:
    b = bundle_factory(["sleep", "30"])
    pyoci("create", "--bundle", str(b.path), "lsmexec", check=True)
    try:
        res = pyoci("exec", "--apparmor", "p1", "lsmexec", "echo", "ran")
        assert res.code != 0 and "ran" not in res.out, res
        assert "AppArmor is not enabled" in res.err, res
    finally:
        pyoci("delete", "--force", "lsmexec")


@needs_apparmor
def test_apparmor_profile_applies(pyoci: RuntimeCLI, bundle_factory: Any, tmp_path: Path) -> None:
    """A profile the test runner does not run under (loaded for the test, in complain
    mode so that it allows everything) confines the container's process."""
    parser = shutil.which("apparmor_parser")
    assert parser is not None, "AppArmor is enabled but apparmor_parser is not installed"
    name = f"pyoci-test-{os.getpid()}"
    own = Path("/proc/self/attr/apparmor/current").read_text()
    assert not own.startswith(name), own
    src = tmp_path / name
    src.write_text(f"profile {name} flags=(complain) {{\n}}\n")
    subprocess.run([parser, "--replace", str(src)], check=True, capture_output=True)
    try:
        res = _run(pyoci, bundle_factory, "cat /proc/self/attr/apparmor/current",
                   process={"apparmorProfile": name})  # fmt: skip
    finally:
        subprocess.run([parser, "--remove", str(src)], check=False, capture_output=True)
    assert res.code == 0 and res.out.strip("\0\n") == f"{name} (complain)", res


@needs_selinux
def test_selinux_label_applies(pyoci: RuntimeCLI, bundle_factory: Any) -> None:
    res = _run(pyoci, bundle_factory, "cat /proc/self/attr/current",
               process={"selinuxLabel": LABEL})  # fmt: skip
    assert res.code == 0 and res.out.strip("\0\n") == LABEL, res


@needs_selinux
def test_mount_label_applies(pyoci: RuntimeCLI, bundle_factory: Any) -> None:
    res = _run(pyoci, bundle_factory, "grep ' /dev/shm ' /proc/self/mountinfo",
               linux={"mountLabel": FILE_LABEL})  # fmt: skip
    assert res.code == 0 and f'context="{FILE_LABEL}"' in res.out, res
