"""Helpers for the rootless tests (the fixtures are in conftest.py).

The test process stays root (to set up and to look from outside); every
pyoci command runs as the test user (``tools/test-user.sh`` creates it:
``pyoci-test``, or ``$PYOCI_TEST_USER``) through ``runuser`` with a clean
environment and ``XDG_RUNTIME_DIR`` set to a directory the user owns.  No
``--root`` is passed, so the default state root ($XDG_RUNTIME_DIR/pyoci) is
what is exercised.
"""

from __future__ import annotations

import copy
import json
import os
import pwd
import shutil
import subprocess
from pathlib import Path
from typing import Any

from helpers import (
    CGROUP_PARENT,
    Result,
    RuntimeCLI,
    pyoci_binary,
)

USER = os.environ.get("PYOCI_TEST_USER", "pyoci-test")
TEST_TMP = Path(os.environ.get("PYOCI_TEST_TMP", "/tmp/pyoci-tests"))
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Account:
    """The unprivileged user and its subordinate id ranges."""

    def __init__(self, name: str) -> None:
        pw = pwd.getpwnam(name)
        self.name = name
        self.uid = pw.pw_uid
        self.gid = pw.pw_gid
        self.home = pw.pw_dir
        self.subuid = _subid_range("/etc/subuid", name, self.uid)
        self.subgid = _subid_range("/etc/subgid", name, self.uid)

    def chown(self, path: Path) -> None:
        """Give ``path`` (recursively, without following symlinks) to the user."""
        os.chown(path, self.uid, self.gid, follow_symlinks=False)
        if path.is_dir() and not path.is_symlink():
            for root, dirs, files in os.walk(path):
                for n in dirs + files:
                    os.chown(os.path.join(root, n), self.uid, self.gid, follow_symlinks=False)

    def command(self, argv: list[str], env: dict[str, str] | None = None) -> list[str]:
        """``argv`` as this user, with a clean environment."""
        base = {"PATH": PATH, "HOME": self.home, "USER": self.name, "LOGNAME": self.name}
        base.update(env or {})
        return ["runuser", "-u", self.name, "--", "env", "-i",
                *(f"{k}={v}" for k, v in base.items()), *argv]  # fmt: skip

    def run(self, argv: list[str], env: dict[str, str] | None = None, **kw: Any) -> Result:
        kw.setdefault("timeout", 60)
        proc = subprocess.run(self.command(argv, env), capture_output=True, text=True, **kw)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def processes(self) -> set[int]:
        """Host pids whose real uid is the user's or one of its subordinate uids."""
        lo, n = self.subuid if self.subuid else (-1, 0)
        found = set()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            uid, state = -1, ""
            try:
                with open(f"/proc/{entry}/status") as f:
                    for line in f:
                        if line.startswith("State:"):
                            state = line.split()[1]
                        elif line.startswith("Uid:"):
                            uid = int(line.split()[1])
                            break
            except (OSError, ValueError):
                continue
            if state in ("Z", "X"):
                continue  # dead, waiting for the host's init to reap it
            if uid == self.uid or lo <= uid < lo + n:
                found.add(int(entry))
        return found


def _subid_range(path: str, name: str, uid: int) -> tuple[int, int] | None:
    try:
        with open(path) as f:
            for line in f:
                fields = line.strip().split(":")
                if len(fields) == 3 and fields[0] in (name, str(uid)):
                    return int(fields[1]), int(fields[2])
    except OSError:
        pass
    return None


class RootlessCLI(RuntimeCLI):
    """pyoci as the test user: default state root under its XDG_RUNTIME_DIR."""

    def __init__(self, user: Account, workdir: Path) -> None:
        self.user = user
        self.xdg = workdir / "xdg"
        self.xdg.mkdir(mode=0o700)
        user.chown(self.xdg)
        super().__init__(pyoci_binary(), self.xdg / "pyoci", self.xdg / "log.json", name="pyoci")
        self.cgroup_launch: str | None = None  # a cgroup dir to start pyoci in

    def env(self) -> dict[str, str]:
        return {"XDG_RUNTIME_DIR": str(self.xdg)}

    def global_args(self) -> list[str]:
        argv = [self.binary, "--log", str(self.log), "--log-format", "json"]
        cmd = self.user.command(argv, self.env())
        if self.cgroup_launch is not None:
            # start in the delegated cgroup: moving the init needs write access to
            # the common ancestor of both cgroups
            script = 'echo $$ > "$0/cgroup.procs" && exec "$@"'
            cmd = ["sh", "-c", script, self.cgroup_launch, *cmd]
        return cmd

    def containers(self) -> list[str]:
        """Everything under the state root (nothing but container directories)."""
        if not self.root.exists():
            return []
        return [p.name for p in self.root.iterdir()]

    def cleanup(self) -> None:
        for name in self.containers():
            self("delete", "--force", name, timeout=30)


class Env:
    """One test's world: the user, its pyoci, bundles in a directory it owns."""

    def __init__(
        self, user: Account, workdir: Path, rootfs: Path, spec: dict[str, Any]
    ) -> None:
        self.user = user
        self.workdir = workdir
        self.rootfs = rootfs
        self.spec = spec
        self.rt = RootlessCLI(user, workdir)
        self.count = 0

    def config(self, args: list[str], mutate: Any = None) -> dict[str, Any]:
        cfg = copy.deepcopy(self.spec)
        cfg["process"]["terminal"] = False
        cfg["process"]["args"] = args
        if mutate is not None:
            mutate(cfg)
        return cfg

    def bundle(self, args: list[str], mutate: Any = None, *, copy_rootfs: bool = False) -> Path:
        self.count += 1
        path = self.workdir / f"b{self.count}"
        path.mkdir()
        if copy_rootfs:
            shutil.copytree(self.rootfs, path / "rootfs", symlinks=True)
        else:
            (path / "rootfs").symlink_to(self.rootfs)
        (path / "config.json").write_text(json.dumps(self.config(args, mutate), indent=1))
        self.user.chown(path)
        return path

    def run(self, script: str, mutate: Any = None, *, cid: str = "", **kw: Any) -> Result:
        """``pyoci run`` of a busybox shell script in the foreground."""
        b = self.bundle(["sh", "-c", script], mutate, **kw)
        return self.rt("run", "--bundle", str(b), cid or f"c{self.count}")

    def user_dir(self, name: str, mode: int = 0o755) -> Path:
        d = self.workdir / name
        d.mkdir(mode=mode)
        os.chmod(d, mode)
        self.user.chown(d)
        return d


def wait_gone(user: Account, before: set[int], timeout: float = 5.0) -> list[str]:
    import time

    deadline = time.monotonic() + timeout
    while True:
        new = user.processes() - before
        if not new or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    out = []
    for pid in sorted(new):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode().strip()
            out.append(f"{pid} {cmdline}")
        except OSError:
            pass
    return out


# ------------------------------------------------------------------ cgroups


def cgroup2_mount() -> str | None:
    """Where the cgroup2 hierarchy is mounted (pure v2 or hybrid), if anywhere."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[:1] == ["cgroup2"]:
                return left.split()[4]
    return None


class Delegation:
    """A cgroup2 subtree given to the user (as systemd's Delegate=yes does)."""

    def __init__(self, mount: str, user: Account, name: str) -> None:
        self.mount = mount
        self.inner = f"{CGROUP_PARENT}/{name}"  # cgroupsPath prefix for containers
        self.path = Path(mount + self.inner)
        self.launch = self.path / "launch"  # where pyoci itself starts
        parent = Path(mount + CGROUP_PARENT)
        parent.mkdir(exist_ok=True)
        self.path.mkdir()
        # controllers the host hands down: enable them in what we created
        available = (parent / "cgroup.controllers").read_text().split()
        self.controllers: list[str] = []
        for ctl in available:
            try:
                (parent / "cgroup.subtree_control").write_text(f"+{ctl}")
                self.controllers.append(ctl)
            except OSError:
                pass
        self.launch.mkdir()
        for p in (self.path, self.launch):
            os.chown(p, user.uid, user.gid)
            for f in ("cgroup.procs", "cgroup.threads", "cgroup.subtree_control"):
                os.chown(p / f, user.uid, user.gid)

    def remove(self) -> None:
        for d in sorted(self.path.rglob("*"), key=lambda p: -len(p.parts)):
            if d.is_dir():
                try:
                    d.rmdir()
                except OSError:
                    pass
        try:
            self.path.rmdir()
        except OSError:
            pass
