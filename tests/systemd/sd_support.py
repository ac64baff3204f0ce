"""Helpers of the real-systemd tests (conftest.py has the fixtures and the skip)."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import Bundle, RuntimeCLI, make_bundle, rmdir_cgroup_tree

HERE = Path(__file__).parent
CGROUP_ROOT = Path("/sys/fs/cgroup")
PREFIX = "pyoci-sdtest"
# the state roots: tmpfs (the guest's /run), never the 9p-shared checkout
STATE_BASE = Path("/run/pyoci-sdtest")
SKIP_REASON = "needs systemd as PID 1 on cgroup v2 (tools/systemd-guest.sh runs it in a guest)"


def systemd_host() -> bool:
    return Path("/run/systemd/system").is_dir() and (CGROUP_ROOT / "cgroup.controllers").exists()


# ------------------------------------------------------------------ systemd views


def systemctl(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemctl", "--no-pager", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def show(unit: str, *props: str) -> dict[str, str]:
    """``systemctl show UNIT -p A,B``: {A: value, B: value}; a list property shown as
    several lines (DeviceAllow) is joined with ", "."""
    res = systemctl("show", unit, "-p", ",".join(props))
    assert res.returncode == 0, res
    out: dict[str, str] = {}
    for line in res.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = f"{out[key]}, {value}" if key in out and value else value
    return out


def status_code(unit: str) -> int:
    """``systemctl status UNIT``'s exit: 0 active, 3 inactive or failed, 4 no such unit."""
    return systemctl("status", unit).returncode


def unit_loaded(unit: str) -> bool:
    return show(unit, "LoadState").get("LoadState") not in ("not-found", None)


def daemon_reload() -> None:
    res = systemctl("daemon-reload", timeout=120)
    assert res.returncode == 0, res


def expand_slice(slice_name: str) -> str:
    """``a-b.slice`` -> ``/a.slice/a-b.slice`` (systemd's nesting; ``-.slice`` is the root)."""
    if slice_name == "-.slice":
        return ""
    stem = slice_name.removesuffix(".slice")
    path, acc = "", ""
    for part in stem.split("-"):
        acc = f"{acc}-{part}" if acc else part
        path += f"/{acc}.slice"
    return path


def cgroup_of(pid: int) -> str:
    """The v2 line of /proc/PID/cgroup as the host sees it: ``/system.slice/x.scope``."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return line[3:]
    raise AssertionError(f"no cgroup v2 line for pid {pid}")


def cg_read(cgdir: Path, name: str) -> str:
    return (cgdir / name).read_text().strip()


def cg_procs(cgdir: Path) -> list[str]:
    """The pids in a cgroup; none when it is gone (or going: ENODEV)."""
    try:
        return cg_read(cgdir, "cgroup.procs").split()
    except OSError:
        return []


def cg_values(cgdir: Path, names: list[str]) -> dict[str, str]:
    return {n: cg_read(cgdir, n) for n in names}


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


# ------------------------------------------------------------------ runtimes


class SdRuntime(RuntimeCLI):
    """A runtime called with ``--systemd-cgroup`` (a global flag, as go-runc passes it)."""

    def global_args(self) -> list[str]:
        return [*super().global_args(), "--systemd-cgroup"]

    def __call__(self, *args: str, **kw: Any) -> Any:
        kw.setdefault("timeout", 120)  # an emulated guest: Python starts in about a second
        return super().__call__(*args, **kw)

    def pid(self, cid: str) -> int:
        pid: int = self.state(cid)["pid"]
        return pid


class Scope:
    """One container's systemd names: its cgroupsPath, unit and cgroup directory."""

    def __init__(self, cid: str, slice_name: str = "system.slice", prefix: str = PREFIX) -> None:
        self.cid = cid
        self.slice = slice_name
        self.unit = f"{prefix}-{cid}.scope"
        self.cgroups_path = f"{slice_name}:{prefix}:{cid}"
        self.path = f"{expand_slice(slice_name)}/{self.unit}"  # as in /proc/PID/cgroup

    @property
    def dir(self) -> Path:
        return CGROUP_ROOT / self.path.lstrip("/")


class Units:
    """The units and slices one test may make: cleaned (only those) afterwards."""

    def __init__(self, rt: SdRuntime) -> None:
        self.rt = rt
        self.units: list[str] = []
        self.slices: list[str] = []
        self.dirs: list[Path] = []

    def scope(self, slice_name: str = "system.slice", prefix: str = PREFIX) -> Scope:
        cid = f"{self.rt.name}-{secrets.token_hex(4)}"
        s = Scope(cid, slice_name, prefix)
        self.add(s.unit, s.dir)
        return s

    def add(self, unit: str, cgdir: Path | None = None) -> None:
        self.units.append(unit)
        if cgdir is not None:
            self.dirs.append(cgdir)

    def add_slice(self, slice_name: str) -> None:
        self.slices.append(slice_name)
        self.dirs.append(CGROUP_ROOT / expand_slice(slice_name).lstrip("/"))

    def cleanup(self) -> list[str]:
        """Stop and reset what is left; what the runtime left behind, for the test to fail on."""
        left = []
        for unit in self.units:
            if unit_loaded(unit):
                st = show(unit, "ActiveState").get("ActiveState")
                left.append(f"unit {unit} ({st})")
                systemctl("stop", unit)
                systemctl("reset-failed", unit)
        for d in self.dirs:
            if d.is_dir() and not any(d.name == s for s in self.slices):
                left.append(f"cgroup {d}")
        # slices are systemd's (made on demand for a scope), not the runtime's: stop them
        for s in sorted(self.slices, key=len, reverse=True):
            systemctl("stop", s)
        for d in sorted(self.dirs, key=lambda p: -len(p.parts)):
            if d.is_dir():
                rmdir_cgroup_tree(d)
        return left


def runc_bug(rt: SdRuntime, request: pytest.FixtureRequest, bug: str) -> None:
    """runc 1.1.5 is known to get this wrong (the fact sheet's bug list): a strict xfail."""
    if rt.name == "runc":
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"runc 1.1.5: {bug}"))


# ------------------------------------------------------------------ bundles


def sd_bundle(
    workdir: Path,
    rootfs: Path,
    scope: Scope | str,
    args: list[str] | None = None,
    *,
    resources: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    mutate: Callable[[dict[str, Any]], None] | None = None,
    name: str = "",
) -> Bundle:
    """A busybox bundle in ``scope`` (or a raw cgroupsPath), without a cgroup
    namespace (so the container's /proc/self/cgroup names its scope)."""
    path = scope.cgroups_path if isinstance(scope, Scope) else scope

    def change(cfg: dict[str, Any]) -> None:
        cfg["root"]["path"] = str(rootfs)  # runc refuses a symlink
        cfg["linux"]["cgroupsPath"] = path
        cfg["linux"]["namespaces"] = [
            ns for ns in cfg["linux"]["namespaces"] if ns["type"] != "cgroup"
        ]
        if resources:
            cfg["linux"].setdefault("resources", {}).update(resources)
        if annotations:
            cfg.setdefault("annotations", {}).update(annotations)
        if mutate is not None:
            mutate(cfg)

    bname = name or (scope.cid if isinstance(scope, Scope) else f"b{secrets.token_hex(3)}")
    return make_bundle(workdir, rootfs, args or ["sleep", "1000"], cgroup=False, name=bname,
                       mutate=change)  # fmt: skip


def start(rt: SdRuntime, bundle: Bundle, cid: str) -> int:
    """create + start; the init's pid."""
    res = rt("create", "--bundle", str(bundle.path), cid)
    assert res.code == 0, f"{rt.name} create: {res}"
    res = rt("start", cid)
    assert res.code == 0, f"{rt.name} start: {res}"
    return rt.pid(cid)


def delete(rt: SdRuntime, cid: str) -> None:
    res = rt("delete", "--force", cid)
    assert res.code == 0, f"{rt.name} delete --force: {res}"


def log_text(rt: SdRuntime) -> str:
    return rt.log.read_text() if rt.log is not None and rt.log.exists() else ""


def json_out(text: str) -> Any:
    return json.loads(text)
