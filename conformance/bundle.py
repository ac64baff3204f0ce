"""Throwaway bundles around the static helper: a minimal rootfs, a baseline config.

The rootfs holds only ``/helper`` (the suite's static multi-call program) and
the directories the baseline mounts need; no distro image. The baseline
config is written here from the spec (not taken from ``RUNTIME spec``, which
differs between runtimes): ociVersion 1.0.2 (every 1.x runtime must accept
it), no terminal, the pid/network/ipc/uts/mount namespaces, the usual /proc,
/dev, /dev/pts, /dev/shm, /dev/mqueue and /sys mounts, and a cgroupsPath under
the session's unique parent.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import itertools
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

from conformance.runtime import Result, Runtime

BASE_OCI_VERSION = "1.0.2"
DEFAULT_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
    "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]
DEFAULT_NAMESPACES = ["pid", "network", "ipc", "uts", "mount"]
HELPER_SOURCE = Path(__file__).parent / "helper" / "helper.c"


def build_helper(dest_dir: Path) -> Path:
    """Compile the helper with ``gcc -static -O2`` into ``dest_dir``."""
    out = dest_dir / "helper"
    cmd = ["gcc", "-static", "-O2", "-Wall", "-o", str(out), str(HELPER_SOURCE)]
    p = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        raise RuntimeError(f"building the helper failed: {' '.join(cmd)}\n{p.stderr}")
    return out


def base_config(cid: str, cgroup_parent: str) -> dict[str, Any]:
    return {
        "ociVersion": BASE_OCI_VERSION,
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": ["/helper", "true"],
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: list(DEFAULT_CAPS)
                             for k in ("bounding", "effective", "permitted")},
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": False},
        "hostname": "conformance",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
        ],
        "linux": {
            "namespaces": [{"type": t} for t in DEFAULT_NAMESPACES],
            "cgroupsPath": f"{cgroup_parent}/{cid}",
        },
    }


@dataclasses.dataclass
class Session:
    """What every bundle of one test session shares."""

    runtime: Runtime
    helper: Path
    workdir: Path
    cgroup_parent: str  # e.g. /pyoci-conf-1a2b3c4d
    tag: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex[:8])
    _counter: itertools.count[int] = dataclasses.field(default_factory=itertools.count)

    def next_name(self) -> str:
        return f"c{next(self._counter):03d}"


class Bundle:
    """One bundle directory, its config, and the container made from it."""

    def __init__(self, session: Session, args: list[str] | None = None) -> None:
        self.session = session
        self.rt = session.runtime
        name = session.next_name()
        self.id = f"conf-{session.tag}-{name}"
        self.dir = session.workdir / name
        self.rootfs = self.dir / "rootfs"
        self.stdout_path = self.dir / "stdout"
        self.stderr_path = self.dir / "stderr"
        self._make_rootfs()
        self.config = base_config(self.id, session.cgroup_parent)
        if args is not None:
            self.config["process"]["args"] = ["/helper", *args]
        self.created = False

    # ---- files ------------------------------------------------------------

    def _make_rootfs(self) -> None:
        for d in ("proc", "sys", "dev", "tmp", "etc", "bin", "mnt", "root"):
            (self.rootfs / d).mkdir(parents=True, exist_ok=True)
        os.chmod(self.rootfs / "tmp", 0o1777)
        try:
            os.link(self.session.helper, self.rootfs / "helper")
        except OSError:
            shutil.copy2(self.session.helper, self.rootfs / "helper")
        (self.rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/root:/helper\n")
        (self.rootfs / "etc" / "group").write_text("root:x:0:\n")

    def write_config(self) -> None:
        (self.dir / "config.json").write_text(json.dumps(self.config, indent=1))

    @property
    def linux(self) -> dict[str, Any]:
        linux: dict[str, Any] = self.config.setdefault("linux", {})
        return linux

    @property
    def process(self) -> dict[str, Any]:
        proc: dict[str, Any] = self.config.setdefault("process", {})
        return proc

    def set_args(self, *args: str) -> None:
        self.process["args"] = ["/helper", *args]

    def namespaces(self) -> list[dict[str, Any]]:
        ns: list[dict[str, Any]] = self.linux.setdefault("namespaces", [])
        return ns

    def add_namespace(self, ns_type: str, path: str | None = None) -> None:
        self.remove_namespace(ns_type)
        entry: dict[str, Any] = {"type": ns_type}
        if path:
            entry["path"] = path
        self.namespaces().append(entry)

    def remove_namespace(self, ns_type: str) -> None:
        self.linux["namespaces"] = [n for n in self.namespaces() if n["type"] != ns_type]

    def add_mount(self, mount: dict[str, Any]) -> None:
        self.config.setdefault("mounts", []).append(mount)

    def output(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def errors(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    # ---- lifecycle --------------------------------------------------------

    def create(self, *, write: bool = True, pid_file: Path | None = None) -> Result:
        if write:
            self.write_config()
        res = self.rt.create(self.id, self.dir, pid_file=pid_file,
                             stdout=self.stdout_path, stderr=self.stderr_path)
        self.created = True
        return res

    def start(self) -> Result:
        return self.rt.start(self.id)

    def state(self) -> dict[str, Any] | None:
        return self.rt.state_json(self.id)

    def status(self) -> str | None:
        return self.rt.status(self.id)

    def kill(self, signal: str | None = "TERM") -> Result:
        return self.rt.kill(self.id, signal)

    def delete(self, *, force: bool = False) -> Result:
        return self.rt.delete(self.id, force=force)

    def wait(self, status: str = "stopped", timeout: float = 10.0) -> str | None:
        return self.rt.wait_status(self.id, status, timeout=timeout)

    def must_create(self) -> Result:
        res = self.create()
        assert res.ok, f"create failed\n{res.describe()}\n{self.rt.log_tail()}"
        return res

    def run(self, timeout: float = 10.0) -> str:
        """create, start, wait until stopped; the container's stdout."""
        self.must_create()
        res = self.start()
        assert res.ok, f"start failed\n{res.describe()}\n{self.rt.log_tail()}"
        status = self.wait("stopped", timeout)
        assert status == "stopped", f"container still {status} after {timeout}s"
        return self.output()

    def cleanup(self) -> None:
        if self.created:
            st = self.rt.state_json(self.id)
            if st is not None:
                if st.get("status") in ("created", "running", "paused"):
                    self.rt.kill(self.id, "KILL")
                    self.rt.wait_status(self.id, "stopped", timeout=5)
                self.rt.delete(self.id, force=True)
        with contextlib.suppress(OSError):
            shutil.rmtree(self.dir)


def parse_kv(text: str) -> dict[str, str]:
    """``key=value`` lines of the helper's output (the first value of a key wins)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("ERR "):
            k, v = line.split("=", 1)
            out.setdefault(k.strip(), v.strip())
    return out


def parse_stat(text: str) -> dict[str, dict[str, str]]:
    """The helper's ``stat`` lines, by path."""
    out: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        if line.startswith("path="):
            fields = dict(f.split("=", 1) for f in line.split())
            out.setdefault(fields["path"], fields)
    return out


def mountinfo(text: str) -> list[dict[str, Any]]:
    """/proc/self/mountinfo lines (as printed by ``helper cat``) as dicts."""
    out: list[dict[str, Any]] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 10 or " - " not in line:
            continue
        left, right = line.split(" - ", 1)
        lf = left.split()
        rf = right.split()
        out.append({
            "id": lf[0], "parent": lf[1], "root": lf[3], "mountpoint": lf[4],
            "options": lf[5].split(","), "optional": lf[6:],
            "fstype": rf[0], "source": rf[1] if len(rf) > 1 else "",
            "super": rf[2].split(",") if len(rf) > 2 else [],
        })
    return out


def deep(obj: Any) -> Any:
    return copy.deepcopy(obj)
