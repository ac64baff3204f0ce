"""Shared test helpers: a busybox rootfs, bundles, and a runtime under test.

The runtime under test is the installed ``pyoci`` command (``PYOCI_BINARY``,
else ``pyoci`` next to the test interpreter, else on PATH).  ``runc`` is
driven through the same ``RuntimeCLI`` for differential tests.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
SESSION = uuid.uuid4().hex[:8]
# Every cgroup a test creates lives under this parent (removed at the end).
CGROUP_PARENT = f"/pyoci-test-{SESSION}"


def pyoci_binary() -> str:
    env = os.environ.get("PYOCI_BINARY")
    if env:
        return env
    here = Path(sys.executable).parent / "pyoci"
    if here.exists():
        return str(here)
    found = shutil.which("pyoci")
    if found:
        return found
    raise RuntimeError("pyoci is not installed: run `pip install .` (see README)")


def build_busybox_rootfs(dest: Path) -> Path:
    """A minimal rootfs: /bin/busybox with every applet as a symlink, /etc files."""
    if (dest / "bin" / "busybox").exists():
        return dest
    tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    for d in ("bin", "etc", "proc", "sys", "dev", "tmp", "root", "home/user", "var", "run"):
        (tmp / d).mkdir(parents=True, exist_ok=True)
    os.chmod(tmp / "tmp", 0o1777)
    shutil.copy2(BUSYBOX, tmp / "bin" / "busybox")
    applets = subprocess.run(
        [BUSYBOX, "--list"], check=True, capture_output=True, text=True
    ).stdout.split()
    for applet in applets:
        link = tmp / "bin" / applet
        if not link.exists():
            link.symlink_to("busybox")
    (tmp / "sbin").symlink_to("bin")
    (tmp / "usr").mkdir()
    (tmp / "usr" / "bin").symlink_to("../bin")
    (tmp / "usr" / "sbin").symlink_to("../bin")
    (tmp / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    )
    (tmp / "etc" / "group").write_text("root:x:0:\ntty:x:5:\nuser:x:1000:\nnogroup:x:65534:\n")
    (tmp / "etc" / "hostname").write_text("rootfs\n")
    try:
        tmp.rename(dest)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # another worker won the race
    return dest


def base_config(args: list[str] | None = None) -> dict[str, Any]:
    """``pyoci spec`` made test-friendly: no terminal, a cgroup under the test parent."""
    from pyoci.spec.default import default_config

    cfg = default_config()
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = args or ["true"]
    cfg["root"]["readonly"] = False
    return cfg


class Bundle:
    def __init__(self, path: Path, config: dict[str, Any]) -> None:
        self.path = path
        self.config = config

    @property
    def rootfs(self) -> Path:
        return self.path / "rootfs"

    def write(self) -> Bundle:
        (self.path / "config.json").write_text(json.dumps(self.config, indent=2))
        return self


def make_bundle(
    base: Path,
    rootfs: Path,
    args: list[str] | None = None,
    *,
    copy_rootfs: bool = False,
    cgroup: bool = True,
    name: str = "bundle",
    mutate: Any = None,
) -> Bundle:
    """A bundle dir under ``base``; the rootfs is a symlink to the shared one unless copied."""
    path = base / name
    path.mkdir(parents=True, exist_ok=True)
    if copy_rootfs:
        shutil.copytree(rootfs, path / "rootfs", symlinks=True)
    else:
        (path / "rootfs").symlink_to(rootfs)
    cfg = base_config(args)
    if cgroup:
        cfg["linux"]["cgroupsPath"] = f"{CGROUP_PARENT}/{path.parent.name}-{name}"
    if mutate is not None:
        mutate(cfg)
    return Bundle(path, copy.deepcopy(cfg)).write()


class Result:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def __repr__(self) -> str:
        return f"Result(code={self.code}, out={self.out!r}, err={self.err!r})"


class RuntimeCLI:
    """Runs one OCI runtime binary with its own state root and log file."""

    def __init__(self, binary: str, root: Path, log: Path | None = None, name: str = "") -> None:
        self.binary = binary
        self.root = root
        self.log = log
        self.name = name or Path(binary).name

    def global_args(self) -> list[str]:
        args = [self.binary, "--root", str(self.root)]
        if self.log is not None:
            args += ["--log", str(self.log), "--log-format", "json"]
        return args

    def __call__(
        self,
        *args: str,
        timeout: float = 30,
        input: str | None = None,
        check: bool = False,
        stdin: int | None = None,
        env: dict[str, str] | None = None,
    ) -> Result:
        proc = subprocess.run(
            self.global_args() + list(args),
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            stdin=stdin if input is None else None,
            env=env,
        )
        res = Result(proc)
        if check and res.code != 0:
            raise AssertionError(f"{self.name} {' '.join(args)} failed: {res}")
        return res

    def state(self, cid: str) -> dict[str, Any]:
        res = self("state", cid, check=True)
        doc: dict[str, Any] = json.loads(res.out)
        return doc

    def run_capture(self, cid: str, bundle: Bundle, timeout: float = 30) -> Result:
        """``run`` in the foreground, capturing the container's stdout/stderr."""
        return self("run", "--bundle", str(bundle.path), cid, timeout=timeout)

    def cleanup(self) -> None:
        """Force-delete everything left under this root."""
        if not self.root.exists():
            return
        for entry in self.root.iterdir():
            if entry.is_dir() and not entry.name.startswith("."):
                self("delete", "--force", entry.name, timeout=30)


def mounts_under(prefix: str) -> list[str]:
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            if mp.startswith(prefix):
                out.append(mp)
    return out


def cgroup_dirs_of_session() -> list[str]:
    found = []
    base = Path("/sys/fs/cgroup")
    if not base.exists():
        return found
    for hier in base.iterdir():
        d = hier / CGROUP_PARENT.lstrip("/")
        if d.exists():
            for sub in d.rglob("*"):
                if sub.is_dir():
                    found.append(str(sub))
    return found


def remove_session_cgroups() -> None:
    base = Path("/sys/fs/cgroup")
    if not base.exists():
        return
    for hier in base.iterdir():
        d = hier / CGROUP_PARENT.lstrip("/")
        if not d.exists():
            continue
        for sub in sorted((p for p in d.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            try:
                sub.rmdir()
            except OSError:
                pass
        try:
            d.rmdir()
        except OSError:
            pass
