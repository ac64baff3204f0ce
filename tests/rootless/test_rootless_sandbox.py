"""The embedding API as an unprivileged user: pyoci.run() and a Container."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import pytest
from rootless_support import TEST_TMP, Account, wait_gone

pytestmark = [pytest.mark.rootless, pytest.mark.root]

SCRIPT = """
import json, sys, pyoci
from pyoci.sandbox import Config, Container
rootfs, root = sys.argv[1], sys.argv[2]
probe = "echo $(id -u) $(grep -c : /proc/net/dev); touch /x 2>/dev/null || echo ro"
r = pyoci.run(["sh", "-c", probe],
              rootfs=rootfs, root=root, capture_output=True, text=True, timeout=30)
out = {"rc": r.returncode, "stdout": r.stdout}
try:
    pyoci.run(["sleep", "300"], rootfs=rootfs, root=root, timeout=0.5)
except pyoci.TimeoutExpired as exc:
    out["timeout"] = exc.result.returncode
with Container(Config(["sh", "-c", "exit 3"], rootfs=rootfs), root=root) as c:
    c.start()
    out["wait"] = c.wait(timeout=30)
with Container(Config(["sleep", "300"], rootfs=rootfs), root=root) as c:
    c.start()
    e = c.exec(["sh", "-c", "id -u; kill -9 $$"], capture_output=True, text=True)
    out["exec"] = [e.returncode, e.stdout]
    try:
        c.exec(["sh", "-c", "sleep 3031 & exec sleep 3032"], timeout=0.5)
    except pyoci.TimeoutExpired as exc:
        out["exec_timeout"] = [exc.result.returncode, c.poll()]
try:
    pyoci.run(["true"], rootfs=rootfs, root=root, memory="32m")
    out["limit"] = "applied"
except pyoci.PyociError as exc:
    out["limit"] = type(exc).__name__
print(json.dumps(out))
"""


def test_run_and_container_as_the_user(user: Account, shared_rootfs: Path) -> None:
    TEST_TMP.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="rl-sbx-", dir=TEST_TMP))
    os.chmod(work, 0o755)
    user.chown(work)
    before = user.processes()
    try:
        res = user.run([sys.executable, "-P", "-c", SCRIPT, str(shared_rootfs), str(work / "root")],
                       env={"XDG_RUNTIME_DIR": str(work), "TMPDIR": str(work)})
        assert res.code == 0, res
        out = json.loads(res.out.strip().splitlines()[-1])
        # a limit that cannot be enforced (no delegated cgroup) is refused, never dropped
        assert out.pop("limit") in ("CgroupError", "applied")
        assert out == {"rc": 0, "stdout": "0 1\nro\n", "timeout": -9, "wait": 3,
                       "exec": [-9, "0\n"], "exec_timeout": [-9, None]}
        assert not [n for n in os.listdir(work / "root") if not n.startswith(".")]
        assert not wait_gone(user, before)
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
