"""Rootless ``--systemd-cgroup`` (runc's ``systemdUser``): the user's own systemd manager.

The guest has no logind (nothing starts ``user@UID.service`` at a login), so the module
starts the user manager of the test user itself, as logind would: ``systemctl start
user@UID.service`` (which pulls in ``user-runtime-dir@UID.service``: ``/run/user/UID``),
then the user's D-Bus (``dbus.socket`` of dbus-user-session, ``/run/user/UID/bus``).
Both runtimes then run as that user with ``XDG_RUNTIME_DIR`` and
``DBUS_SESSION_BUS_ADDRESS`` set, as a login session has them; the scope lands in the
user manager's tree (``user@UID.service/user.slice/<prefix>-<id>.scope``), limited by
what ``user@.service`` delegates (Debian: ``Delegate=pids memory cpu``).

The user is ``pyoci-test`` (tools/test-user.sh; the guest shares the host's /etc), or
``$PYOCI_TEST_USER``.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import pyoci_binary
from sd_support import (
    CGROUP_ROOT,
    PREFIX,
    STATE_BASE,
    SdRuntime,
    cg_read,
    cgroup_of,
    sd_bundle,
    systemctl,
    wait_until,
)

pytestmark = [pytest.mark.systemd, pytest.mark.root]

USER = os.environ.get("PYOCI_TEST_USER", "pyoci-test")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MiB = 1 << 20


class UserManager:
    def __init__(self, name: str) -> None:
        pw = pwd.getpwnam(name)
        self.name, self.uid, self.gid, self.home = name, pw.pw_uid, pw.pw_gid, pw.pw_dir
        self.runtime_dir = f"/run/user/{self.uid}"
        self.bus = f"{self.runtime_dir}/bus"
        self.env = {"PATH": PATH, "HOME": self.home, "USER": name, "LOGNAME": name,
                    "XDG_RUNTIME_DIR": self.runtime_dir,
                    "DBUS_SESSION_BUS_ADDRESS": f"unix:path={self.bus}"}  # fmt: skip
        self.service = f"user@{self.uid}.service"
        # the user manager's own cgroup: its units are below it
        self.base = f"/user.slice/user-{self.uid}.slice/{self.service}"

    def prefix(self) -> list[str]:
        return ["runuser", "-u", self.name, "--", "env", "-i",
                *(f"{k}={v}" for k, v in self.env.items())]  # fmt: skip

    def run(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.prefix(), *argv], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)  # fmt: skip

    def show(self, unit: str, *props: str) -> dict[str, str]:
        res = self.run("systemctl", "--user", "--no-pager", "show", unit, "-p", ",".join(props))
        assert res.returncode == 0, res
        return dict(line.split("=", 1) for line in res.stdout.splitlines() if "=" in line)


@pytest.fixture(scope="module")
def manager() -> Iterator[UserManager]:
    try:
        um = UserManager(USER)
    except KeyError:
        pytest.fail(f"no user {USER} in the guest (tools/test-user.sh creates it on the host)")
    res = systemctl("start", um.service, timeout=180)
    assert res.returncode == 0, f"cannot start {um.service}: {res}"
    try:
        # dbus-user-session's dbus.socket is in the user's sockets.target: there at once,
        # but start it in case the manager is still on its way there
        res = um.run("systemctl", "--user", "start", "dbus.socket")
        assert res.returncode == 0, res
        wait_until(lambda: os.path.exists(um.bus), 60, um.bus)
        yield um
    finally:
        systemctl("stop", um.service, timeout=180)
        systemctl("stop", f"user-runtime-dir@{um.uid}.service", timeout=60)


class UserSdRuntime(SdRuntime):
    """The runtime as the user, in its login environment (go-runc's flags)."""

    def __init__(self, um: UserManager, binary: str, root: Path, log: Path, name: str) -> None:
        super().__init__(binary, root, log, name=name)
        self.um = um

    def global_args(self) -> list[str]:
        return [*self.um.prefix(), *super().global_args()]


@pytest.fixture(params=["pyoci", "runc"])
def urt(request: pytest.FixtureRequest, manager: UserManager) -> Iterator[UserSdRuntime]:
    if request.param == "pyoci":
        binary = pyoci_binary()
    else:
        found = shutil.which("runc")
        if found is None:
            pytest.skip("runc is not installed (Debian package runc): the reference run is skipped")
        binary = found
    STATE_BASE.mkdir(parents=True, exist_ok=True)
    d = Path(tempfile.mkdtemp(prefix=f"user-{request.param}-", dir=STATE_BASE))
    os.chown(d, manager.uid, manager.gid)
    r = UserSdRuntime(manager, binary, d / "root", d / "log.json", request.param)
    yield r
    shutil.rmtree(d, ignore_errors=True)


def rootless(cfg: dict[str, Any], uid: int, gid: int) -> None:
    """What ``runc spec --rootless`` changes, for this user."""
    cfg["root"]["readonly"] = True
    linux = cfg["linux"]
    linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] != "network"]
    linux["namespaces"].append({"type": "user"})
    linux["uidMappings"] = [{"containerID": 0, "hostID": uid, "size": 1}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": gid, "size": 1}]
    for m in cfg["mounts"]:
        if m["destination"] == "/sys":
            m.update(type="none", source="/sys",
                     options=["rbind", "nosuid", "noexec", "nodev", "ro"])  # fmt: skip
        opts = m.get("options") or []
        m["options"] = [o for o in opts if o not in ("gid=5",)]
    linux.pop("devices", None)
    linux["resources"] = {"pids": {"limit": 50}, "memory": {"limit": 64 * MiB}}


def test_rootless_scope_in_the_user_manager(
    urt: UserSdRuntime, manager: UserManager, workdir: Path, rootfs: Path
) -> None:
    cid = f"{urt.name}-{secrets.token_hex(4)}"
    unit = f"{PREFIX}-{cid}.scope"
    workdir.chmod(0o755)
    b = sd_bundle(workdir, rootfs, f"user.slice:{PREFIX}:{cid}",
                  mutate=lambda cfg: rootless(cfg, manager.uid, manager.gid))  # fmt: skip
    path = f"{manager.base}/user.slice/{unit}"
    cgdir = CGROUP_ROOT / path.lstrip("/")
    try:
        res = urt("create", "--bundle", str(b.path), cid)
        assert res.code == 0, f"{urt.name} create: {res}"
        res = urt("start", cid)
        assert res.code == 0, f"{urt.name} start: {res}"
        pid = urt.pid(cid)
        assert cgroup_of(pid) == path
        got = manager.show(unit, "Slice", "Delegate", "TasksMax", "MemoryMax", "ControlGroup")
        assert got == {"Slice": "user.slice", "Delegate": "yes", "TasksMax": "50",
                       "MemoryMax": str(64 * MiB), "ControlGroup": path}  # fmt: skip
        assert (cg_read(cgdir, "pids.max"), cg_read(cgdir, "memory.max")) == (
            "50", str(64 * MiB))
        res = urt("update", "--pids-limit", "70", cid)
        assert res.code == 0, res
        assert manager.show(unit, "TasksMax") == {"TasksMax": "70"}
        assert cg_read(cgdir, "pids.max") == "70"
        res = urt("delete", "--force", cid)
        assert res.code == 0, res
        assert manager.show(unit, "LoadState")["LoadState"] == "not-found"
        assert not cgdir.exists()
    finally:
        urt("delete", "--force", cid)
        manager.run("systemctl", "--user", "stop", unit)
        manager.run("systemctl", "--user", "reset-failed", unit)


def test_rootless_without_a_user_bus(urt: UserSdRuntime, manager: UserManager, workdir: Path,
                                     rootfs: Path) -> None:
    """No session bus in the environment and none at $XDG_RUNTIME_DIR/bus: runc's hint,
    one line, nothing left."""
    cid = f"{urt.name}-{secrets.token_hex(4)}"
    workdir.chmod(0o755)
    b = sd_bundle(workdir, rootfs, f"user.slice:{PREFIX}:{cid}",
                  mutate=lambda cfg: rootless(cfg, manager.uid, manager.gid))  # fmt: skip
    saved = dict(manager.env)
    manager.env.pop("DBUS_SESSION_BUS_ADDRESS")
    manager.env["XDG_RUNTIME_DIR"] = str(urt.root.parent)
    try:
        res = urt("create", "--bundle", str(b.path), cid)
    finally:
        manager.env.clear()
        manager.env.update(saved)
    assert res.code != 0
    # both: runc's hint (pyoci's message also says that no bus address was found)
    assert "maybe you need to install dbus-user-session package" in res.err, res
    if urt.name == "pyoci":
        assert "could not detect DBUS_SESSION_BUS_ADDRESS" in res.err, res
    assert not (urt.root / cid).exists()
    assert manager.show(f"{PREFIX}-{cid}.scope", "LoadState")["LoadState"] == "not-found"
