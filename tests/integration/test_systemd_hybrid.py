"""``--systemd-cgroup`` on a cgroup v1 / hybrid host, pyoci and runc side by side.

The qemu systemd guest (tests/systemd/) boots pure cgroup v2 only, so this is where the
v1/hybrid path of the driver meets real cgroups: this host's own v1 hierarchies (and the
cgroup2 one at /sys/fs/cgroup/unified on hybrid), with ``fake_systemd1.py --cgroups`` on a
private dbus-daemon playing systemd 252 (it makes the scope's and slices' directories in the
hierarchies systemd manages, moves the pids there, writes the limits it is told to the v1
files, stops and garbage-collects scopes as systemd does; see its docstring).

Everything runs in a private mount namespace (held by one ``sleep``) where a tmpfs over
/run/systemd holds ``system/`` (how both runtimes detect systemd) and, if the host has none,
a ``name=systemd`` hierarchy is mounted; ``DBUS_SYSTEM_BUS_ADDRESS`` points both at the
private bus.  Every cgroup made is under slices named ``pyocitest<random>…``, removed at
the end.  Where runc 1.1.5 differs, its case is a strict xfail saying how.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import Bundle, RuntimeCLI
from test_dbus_daemon import CONFIG, _read_line, _stop

from pyoci.cgroups import layout
from pyoci.cgroups.systemd import systemd_running
from pyoci.dbus.systemd1 import Systemd

FAKE = str(Path(__file__).with_name("fake_systemd1.py"))
SYSTEMD_V1 = ("cpu", "cpuacct", "blkio", "memory", "devices", "pids")


def _host() -> tuple[layout.Layout | None, str]:
    try:
        hosts = layout.detect("/sys/fs/cgroup", "/proc")
    except Exception as exc:
        return None, f"cgroups not detected: {exc}"
    if hosts.mode not in ("v1", "hybrid"):
        return None, f"needs a cgroup v1 or hybrid host without systemd (this one is {hosts.mode})"
    if not any("devices" in h.controllers for h in hosts.v1):
        return None, ("needs a cgroup v1 or hybrid host without systemd (this one has no v1"
                      " devices hierarchy)")
    if systemd_running():
        # a fake beside the real one would make directories in its hierarchies
        return None, ("needs a cgroup v1 or hybrid host without systemd (this one runs"
                      " systemd as PID 1)")
    return hosts, ""


HOSTS, WHY_NOT = _host()
if HOSTS is None:
    print(f"test_systemd_hybrid: skipped: {WHY_NOT}", file=sys.stderr)

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(HOSTS is None, reason=WHY_NOT or "-"),
    pytest.mark.skipif(shutil.which("dbus-daemon") is None,
                       reason="dbus-daemon is not installed (Debian package dbus)"),
    pytest.mark.skipif(shutil.which("nsenter") is None or shutil.which("unshare") is None,
                       reason="util-linux nsenter/unshare are not installed"),
]

# The private mount namespace: /run/systemd/system (sd_booted), and a name=systemd
# hierarchy if the host has none (a tmpfs over /sys/fs/cgroup that gets the host's
# hierarchies moved back into it, plus one for name=systemd).
HOLDER = r"""
set -e
mount --make-rprivate /
mount -t tmpfs -o mode=0755 tmpfs /run/systemd
mkdir /run/systemd/system
if [ "$NEED_NAME_SYSTEMD" = 1 ]; then
    keep="$WORK/cgroup-host"
    mkdir "$keep"
    mount --rbind /sys/fs/cgroup "$keep"
    mount -t tmpfs -o mode=0755 tmpfs /sys/fs/cgroup
    for d in "$keep"/*; do
        n=$(basename "$d")
        mkdir "/sys/fs/cgroup/$n"
        mount --move "$d" "/sys/fs/cgroup/$n"
    done
    mkdir -p /sys/fs/cgroup/systemd
    mountpoint -q /sys/fs/cgroup/systemd ||
        mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
fi
if [ "$MODE" = v1 ] && [ -d /sys/fs/cgroup/unified ]; then
    umount /sys/fs/cgroup/unified  # a pure v1 host, as runc and pyoci see it
fi
echo ready
exec sleep 100000
"""


class Env:
    def __init__(self, holder: int, bus: str, slice_base: str) -> None:
        self.holder = holder
        self.bus = bus
        self.base = slice_base  # "pyocitest<hex>"
        self.count = 0

    def nsenter(self) -> list[str]:
        return ["nsenter", f"--mount=/proc/{self.holder}/ns/mnt", "--",
                "env", f"DBUS_SYSTEM_BUS_ADDRESS={self.bus}"]

    def new_slice(self) -> str:
        self.count += 1
        return f"{self.base}x{self.count}.slice"

    def systemd(self) -> Systemd:
        return Systemd.open(self.bus, timeout=10)

    def in_ns(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.nsenter(), *args], capture_output=True, text=True,
                              timeout=30, check=False)


def _mountpoints(env: Env) -> dict[str, str]:
    """Hierarchy key ("cpu", "name=systemd", "" for cgroup2...) -> its mountpoint in the
    namespace, seen from here (through the holder's /proc/PID/root)."""
    text = env.in_ns("cat", "/proc/self/mountinfo").stdout
    out: dict[str, str] = {}
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields = right.split()
        mountpoint = left.split()[4]
        if fields[0] == "cgroup2" and mountpoint.startswith("/sys/fs/cgroup"):
            out[""] = f"/proc/{env.holder}/root{mountpoint}"
        elif fields[0] == "cgroup":
            opts = [o for o in fields[2].split(",")
                    if o in layout.KNOWN_V1_CONTROLLERS or o.startswith("name=")]
            out[",".join(sorted(opts))] = f"/proc/{env.holder}/root{mountpoint}"
    return out


@pytest.fixture(scope="module",
                params=["hybrid", "v1"] if HOSTS is not None and HOSTS.mode == "hybrid" else ["v1"])
def env(request: pytest.FixtureRequest) -> Iterator[Env]:
    """The namespace, bus and fake systemd; on a hybrid host once as it is and once with
    the cgroup2 hierarchy unmounted in the namespace (pure v1)."""
    work = Path(tempfile.mkdtemp(prefix="pyoci-sdhybrid-"))
    work.chmod(0o755)
    base = f"pyocitest{uuid.uuid4().hex[:8]}"
    procs: list[subprocess.Popen[str]] = []
    holder = None
    try:
        path = str(work / "bus")
        (work / "bus.conf").write_text(CONFIG.format(path=path, abstract=f"pyoci-{base}"))
        dbus = subprocess.Popen(["dbus-daemon", f"--config-file={work / 'bus.conf'}", "--nofork",
                                 "--print-address"], stdout=subprocess.PIPE, text=True)
        procs.append(dbus)
        _read_line(dbus)
        address = f"unix:path={path}"
        need = "0" if os.path.isdir("/sys/fs/cgroup/systemd") else "1"
        holder = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", HOLDER],
            stdout=subprocess.PIPE, text=True,
            env={**os.environ, "NEED_NAME_SYSTEMD": need, "WORK": str(work),
                 "MODE": request.param})
        assert _read_line(holder) == "ready"
        e = Env(holder.pid, address, base)
        fake = subprocess.Popen([*e.nsenter(), sys.executable, "-I", FAKE, "--bus", address,
                                 "--cgroups"], stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONPATH": ""})
        procs.append(fake)
        assert _read_line(fake) == "ready"
        e.mounts = _mountpoints(e)  # type: ignore[attr-defined]
        assert ("" in e.mounts) == (request.param == "hybrid"), e.mounts  # type: ignore[attr-defined]
        yield e
        # the slices: stopped as systemd would be asked to (the fake trims them)
        with e.systemd() as sd:
            for name in sorted(_slices(e), key=len, reverse=True):
                sd.stop_unit(name)
    finally:
        for proc in reversed(procs):
            _stop(proc)
        if holder is not None:
            # whatever is left (the runtimes' own dirs in other hierarchies), in the namespace
            _remove_all(holder.pid, base)
            holder.kill()
            holder.wait()
        shutil.rmtree(work, ignore_errors=True)


def _slices(env: Env) -> list[str]:
    import ast

    with env.systemd() as sd:
        reply = sd.conn.call("org.freedesktop.systemd1", "/", "org.pyoci.Test", "Units",
                              timeout=5)
    units = ast.literal_eval(str(reply.body[0]))["units"]
    return [n for n in units if n.startswith(env.base) and n.endswith(".slice")]


def _remove_all(holder: int, base: str) -> None:
    script = (f'for d in $(find /sys/fs/cgroup/ -mindepth 2 -maxdepth 2 -type d -name "{base}*");'
              ' do find "$d" -depth -type d -exec rmdir {} \\; ; done')
    subprocess.run(["nsenter", f"--mount=/proc/{holder}/ns/mnt", "--", "sh", "-c", script],
                   check=False, timeout=30)


class SdRuntime(RuntimeCLI):
    """A runtime run in the namespace, on the private bus, with --systemd-cgroup."""

    def __init__(self, env: Env, binary: str, root: Path, log: Path, name: str) -> None:
        super().__init__(binary, root, log, name)
        self.env = env

    def global_args(self) -> list[str]:
        return [*self.env.nsenter(), *super().global_args(), "--systemd-cgroup"]


@pytest.fixture(params=["pyoci", "runc"])
def rt(request: pytest.FixtureRequest, env: Env, workdir: Path) -> Iterator[SdRuntime]:
    if request.param == "pyoci":
        from helpers import pyoci_binary

        binary = pyoci_binary()
    else:
        found = shutil.which("runc")
        if found is None:
            pytest.skip("runc is not installed (Debian package runc)")
        binary = found
    r = SdRuntime(env, binary, workdir / f"{request.param}-state",
                  workdir / f"{request.param}-log.json", request.param)
    yield r
    r.cleanup()


class Box:
    """One container of one runtime in one slice."""

    def __init__(self, env: Env, rt: SdRuntime, factory: Callable[..., Bundle],
                 slice_: str, cid: str, resources: dict[str, Any] | None = None,
                 args: list[str] | None = None, *, name: str = "",
                 prefix: str = "") -> None:
        """``name``, ``prefix``: of the unit (``<prefix>-<name>.scope``), by default
        the runtime's name and ``cid``."""
        self.env, self.rt, self.slice, self.cid = env, rt, slice_, cid
        name, prefix = name or cid, prefix or rt.name
        self.unit = f"{prefix}-{name}.scope"
        self.path = layout_path(slice_) + "/" + self.unit

        def mutate(cfg: dict[str, Any]) -> None:
            cfg["linux"]["cgroupsPath"] = f"{slice_}:{prefix}:{name}"
            if resources:
                cfg["linux"]["resources"].update(resources)

        # (runc refuses a rootfs that is a symlink)
        self.bundle = factory(args or ["sleep", "1000"], cgroup=False, mutate=mutate,
                              name=f"{rt.name}-{cid}", copy_rootfs=rt.name == "runc")

    def create(self) -> Any:
        return self.rt("create", "-b", str(self.bundle.path), self.cid)

    def pid(self) -> int:
        return int(self.rt.state(self.cid)["pid"])

    def dirs(self) -> dict[str, str]:
        mounts: dict[str, str] = self.env.mounts  # type: ignore[attr-defined]
        return {key: mp + self.path for key, mp in mounts.items()}

    def read(self, key: str, file: str) -> str:
        return Path(self.dirs()[key], file).read_text().strip()


def layout_path(slice_: str) -> str:
    stem = slice_[: -len(".slice")]
    parts = stem.split("-")
    return "".join("/" + "-".join(parts[: i + 1]) + ".slice" for i in range(len(parts)))


def key_of(ctl: str, env: Env) -> str:
    mounts: dict[str, str] = env.mounts  # type: ignore[attr-defined]
    return next(k for k in mounts if ctl in k.split(","))


def _unit_record(env: Env, unit: str) -> dict[str, Any]:
    """What the fake knows of a unit (org.pyoci.Test.Units)."""
    import ast

    with env.systemd() as sd:
        reply = sd.conn.call("org.freedesktop.systemd1", "/", "org.pyoci.Test", "Units",
                             timeout=5)
    found: dict[str, Any] = ast.literal_eval(str(reply.body[0]))["units"][unit]
    return found


def unit_prop(env: Env, unit: str, prop: str) -> object:
    with env.systemd() as sd:
        return sd.unit_property(unit, "org.freedesktop.systemd1.Scope", prop)


def wait_gone(path: str, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while os.path.exists(path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


RESOURCES: dict[str, Any] = {
    "memory": {"limit": 64 << 20, "reservation": 32 << 20},
    "cpu": {"shares": 512, "quota": 20000, "period": 100000, "cpus": "0", "mems": "0"},
    "pids": {"limit": 50},
}


def test_lifecycle(env: Env, rt: SdRuntime, bundle_factory: Any, workdir: Path) -> None:
    """create: the scope's directory in every hierarchy with the init in it, the limits in
    the files and told to systemd; update; pause/resume; ps; events --stats; kill --all;
    delete removes every directory of the container."""
    box = Box(env, rt, bundle_factory, env.new_slice(), f"life-{workdir.name}", RESOURCES)
    res = box.create()
    assert res.code == 0, res
    pid = box.pid()
    dirs = box.dirs()
    # every hierarchy: systemd's (name=systemd, cgroup2 on hybrid, cpu...pids) and the
    # ones the runtime joins itself (cpuset, freezer...)
    for key, d in dirs.items():
        procs = Path(d, "cgroup.procs").read_text().split()
        assert str(pid) in procs, (key, d, procs)
    cgroup_lines = dict(line.split(":", 2)[1:] for line in
                        Path(f"/proc/{pid}/cgroup").read_text().splitlines())
    for key in dirs:
        assert cgroup_lines[key] == box.path, (key, cgroup_lines)
    # the limits: in the files, and in systemd's properties
    assert box.read(key_of("memory", env), "memory.limit_in_bytes") == str(64 << 20)
    assert box.read(key_of("cpu", env), "cpu.shares") == "512"
    assert box.read(key_of("cpu", env), "cpu.cfs_quota_us") == "20000"
    assert box.read(key_of("cpu", env), "cpu.cfs_period_us") == "100000"
    assert box.read(key_of("pids", env), "pids.max") == "50"
    assert unit_prop(env, box.unit, "MemoryLimit") == 64 << 20
    assert unit_prop(env, box.unit, "CPUShares") == 512
    assert unit_prop(env, box.unit, "CPUQuotaPerSecUSec") == 200000
    assert unit_prop(env, box.unit, "TasksMax") == 50
    assert unit_prop(env, box.unit, "Delegate") is True
    assert unit_prop(env, box.unit, "Slice") == box.slice
    devices = box.read(key_of("devices", env), "devices.list").splitlines()
    assert "a *:* rwm" not in devices and "c 1:3 rwm" in devices, devices
    if any("freezer" in k.split(",") for k in dirs):
        # systemd denies every device before allowing the list again: the container is
        # frozen meanwhile (runc freezeBeforeSet), then thawed
        assert _unit_record(env, box.unit)["frozen_at_devices"] == ["FROZEN"]
        assert box.read(key_of("freezer", env), "freezer.state") == "THAWED"

    res = rt("update", "--memory", str(128 << 20), "--pids-limit", "60",
             "--cpu-quota", "30000", box.cid)
    assert res.code == 0, res
    assert box.read(key_of("memory", env), "memory.limit_in_bytes") == str(128 << 20)
    assert box.read(key_of("pids", env), "pids.max") == "60"
    assert box.read(key_of("cpu", env), "cpu.cfs_quota_us") == "30000"
    assert unit_prop(env, box.unit, "MemoryLimit") == 128 << 20
    assert unit_prop(env, box.unit, "TasksMax") == 60
    assert unit_prop(env, box.unit, "CPUQuotaPerSecUSec") == 300000
    if any("freezer" in k.split(",") for k in dirs):
        # update leaves the device rules alone (neither runtime sends them again)
        assert _unit_record(env, box.unit)["frozen_at_devices"] == ["FROZEN"]
        assert box.read(key_of("freezer", env), "freezer.state") == "THAWED"

    # daemon-reload: systemd writes its view of every limit again; nothing changes
    before = {k: _files(d, k) for k, d in dirs.items()}
    with env.systemd() as sd:
        sd.conn.call("org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                     "org.freedesktop.systemd1.Manager", "Reload", timeout=10)
    assert {k: _files(d, k) for k, d in dirs.items()} == before

    assert rt("start", box.cid).code == 0
    # exec: the new process joins the container's cgroup in every hierarchy
    assert rt("exec", "-d", box.cid, "sleep", "999").code == 0
    res = rt("ps", "--format", "json", box.cid)
    pids = json.loads(res.out)
    assert len(pids) == 2, res
    for p in pids:
        lines = dict(line.split(":", 2)[1:] for line in
                     Path(f"/proc/{p}/cgroup").read_text().splitlines())
        assert {k: lines[k] for k in dirs} == {k: box.path for k in dirs}
    if "freezer" in ",".join(dirs):
        assert rt("pause", box.cid).code == 0
        assert box.read(key_of("freezer", env), "freezer.state") == "FROZEN"
        assert rt.state(box.cid)["status"] == "paused"
        assert rt("resume", box.cid).code == 0
        assert box.read(key_of("freezer", env), "freezer.state") == "THAWED"
    res = rt("ps", "--format", "json", box.cid)
    assert res.code == 0 and pid in json.loads(res.out), res
    res = rt("events", "--stats", box.cid)
    assert res.code == 0, res
    stats = json.loads(res.out)["data"]
    assert stats["pids"]["current"] >= 1 and stats["memory"]["usage"]["usage"] > 0, stats

    assert rt("kill", "--all", box.cid, "KILL").code == 0
    deadline = time.monotonic() + 10
    while rt.state(box.cid)["status"] != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # systemd stops and garbage-collects the empty scope: its directories go, the
    # runtime's own (cpuset, freezer...) stay for delete
    assert wait_gone(dirs["name=systemd"])
    with env.systemd() as sd:
        assert sd.unit_state(box.unit) is None
    res = rt("delete", box.cid)
    assert res.code == 0, res
    left = [d for d in dirs.values() if os.path.exists(d)]
    assert left == [], left


def test_delete_removes_the_slices_it_made(env: Env, rt: SdRuntime, bundle_factory: Any,
                                           workdir: Path, request: pytest.FixtureRequest) -> None:
    """The slice directories systemd made stay (the slice unit is still active); the ones
    the runtime made itself in the other hierarchies (cpuset, freezer...) go."""
    slice_ = env.new_slice()
    box = Box(env, rt, bundle_factory, slice_, f"sl-{workdir.name}")
    assert box.create().code == 0
    mounts: dict[str, str] = env.mounts  # type: ignore[attr-defined]
    assert rt("delete", "--force", box.cid).code == 0
    systemd_keys = {k for k in mounts if k in ("", "name=systemd")
                    or set(k.split(",")) & set(SYSTEMD_V1)}
    for key, mp in mounts.items():
        assert not os.path.exists(mp + box.path), key
    kept = [k for k in systemd_keys if os.path.isdir(mounts[k] + "/" + slice_)]
    assert sorted(kept) == sorted(systemd_keys)
    if rt.name == "runc":
        request.applymarker(pytest.mark.xfail(
            strict=True, reason="runc 1.1.5 removes only the scope's directory in the"
            " hierarchies it joins itself: the slice directories it made there stay"))
    made = [k for k in mounts if k not in systemd_keys and os.path.isdir(mounts[k] + "/" + slice_)]
    assert made == []


def test_nested_slice(env: Env, rt: SdRuntime, bundle_factory: Any, workdir: Path) -> None:
    slice_ = env.new_slice()[: -len(".slice")] + "-inner.slice"
    box = Box(env, rt, bundle_factory, slice_, f"nest-{workdir.name}")
    assert box.path.startswith(f"/{slice_.split('-')[0]}.slice/{slice_}/")
    assert box.create().code == 0
    pid = box.pid()
    for key, d in box.dirs().items():
        assert str(pid) in Path(d, "cgroup.procs").read_text().split(), key
    assert rt("delete", "--force", box.cid).code == 0
    assert [d for d in box.dirs().values() if os.path.exists(d)] == []


def test_same_name_again_at_once(env: Env, rt: SdRuntime, bundle_factory: Any,
                                 workdir: Path) -> None:
    slice_ = env.new_slice()
    box = Box(env, rt, bundle_factory, slice_, f"again-{workdir.name}")
    for _ in range(2):
        res = box.create()
        assert res.code == 0, res
        assert str(box.pid()) in Path(box.dirs()["name=systemd"], "cgroup.procs").read_text()
        assert rt("delete", "--force", box.cid).code == 0
        assert [d for d in box.dirs().values() if os.path.exists(d)] == []


def test_unit_exists_refused(env: Env, rt: SdRuntime, bundle_factory: Any, workdir: Path,
                             request: pytest.FixtureRequest) -> None:
    """A second container with the same cgroupsPath: systemd says UnitExists; the scope
    is not empty, so create fails and the first container is untouched."""
    slice_ = env.new_slice()
    first = Box(env, rt, bundle_factory, slice_, f"ex-{workdir.name}")
    assert first.create().code == 0
    second = Box(env, rt, bundle_factory, slice_, f"ex2-{workdir.name}",
                 name=f"ex-{workdir.name}")
    res = second.create()
    try:
        if rt.name == "runc" and res.code == 0:
            request.applymarker(pytest.mark.xfail(
                strict=True, reason="runc 1.1.5 ignores UnitExists (runc #3780, fixed in"
                " 1.2 by #3782): the second container is created in the first one's directories"))
        assert res.code != 0, res
        assert "not empty" in res.err or "already exists" in res.err, res.err
        assert not (rt.root / second.cid).exists()
        assert rt.state(first.cid)["status"] == "created"
        assert str(first.pid()) in Path(first.dirs()["name=systemd"], "cgroup.procs").read_text()
    finally:
        rt("delete", "--force", second.cid)
        rt("delete", "--force", first.cid)


def test_delete_resets_a_failed_unit(env: Env, rt: SdRuntime, bundle_factory: Any,
                                     workdir: Path, request: pytest.FixtureRequest) -> None:
    """runc's delete.bats "runc delete removes failed systemd unit": RuntimeMaxSec=2 and
    TimeoutStopSec=1 (annotations) make systemd kill the container and leave the unit
    "failed"; delete resets it, and the name can be used again."""
    box = Box(env, rt, bundle_factory, env.new_slice(), f"rf-{workdir.name}")
    box.bundle.config["annotations"] = {"org.systemd.property.RuntimeMaxSec": "uint64 2",
                                        "org.systemd.property.TimeoutStopSec": "uint64 1"}
    box.bundle.write()
    assert box.create().code == 0
    assert rt("start", box.cid).code == 0
    with env.systemd() as sd:
        deadline = time.monotonic() + 15
        while sd.unit_state(box.unit) != "failed":
            assert time.monotonic() < deadline
            time.sleep(0.1)
    assert rt.state(box.cid)["status"] == "stopped"
    assert rt("delete", box.cid).code == 0
    assert [d for d in box.dirs().values() if os.path.exists(d)] == []
    if rt.name == "runc":
        request.applymarker(pytest.mark.xfail(
            strict=True, reason="runc 1.1.5 delete does not call ResetFailedUnit: the failed"
            " unit stays (runc #3780; fixed later by 43564a7b5)"))
    with env.systemd() as sd:
        assert sd.unit_state(box.unit) is None
    assert box.create().code == 0  # the same unit name again
    assert rt("delete", "--force", box.cid).code == 0


def test_failed_create_leaves_nothing(env: Env, rt: SdRuntime, bundle_factory: Any,
                                      workdir: Path) -> None:
    """create fails after the unit started (the process's executable does not exist): the
    unit is stopped, every directory removed, no state left."""
    box = Box(env, rt, bundle_factory, env.new_slice(), f"bad-{workdir.name}",
              args=["/no/such/program"])
    res = box.create()
    assert res.code != 0, res
    assert not (rt.root / box.cid).exists()
    with env.systemd() as sd:
        deadline = time.monotonic() + 5  # (or collected by systemd once empty)
        while sd.unit_state(box.unit) is not None:
            assert time.monotonic() < deadline, sd.unit_state(box.unit)
            time.sleep(0.1)
    assert [d for d in box.dirs().values() if os.path.exists(d)] == []


def test_killed_create_is_cleanable(env: Env, rt: SdRuntime, bundle_factory: Any,
                                    workdir: Path, request: pytest.FixtureRequest) -> None:
    """create SIGKILLed while a createRuntime hook blocks (the unit started, the limits
    set): delete --force stops the unit and removes every directory and the state; the
    same id is created again at once."""
    hold = workdir / "hold"
    os.mkfifo(hold)
    running = workdir / "running"
    box = Box(env, rt, bundle_factory, env.new_slice(), f"kill-{workdir.name}", RESOURCES)
    box.bundle.config["hooks"] = {"createRuntime": [{
        "path": "/bin/sh", "args": ["sh", "-c", f"touch {running}; read x < {hold}"]}]}
    box.bundle.write()
    proc = subprocess.Popen([*rt.global_args(), "create", "-b", str(box.bundle.path), box.cid],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not running.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the hook never ran"
            time.sleep(0.02)
        with env.systemd() as sd:
            assert sd.unit_state(box.unit) == "active"
        proc.send_signal(signal.SIGKILL)  # (nsenter and env exec'd: this is the runtime)
        proc.wait()
    finally:
        # a hook that outlived its runtime reads EOF and exits
        fd = os.open(hold, os.O_RDWR | os.O_NONBLOCK)
        os.close(fd)
    res = rt("delete", "--force", box.cid)
    assert res.code == 0, res
    assert not (rt.root / box.cid).exists()
    with env.systemd() as sd:
        deadline = time.monotonic() + 5
        while sd.unit_state(box.unit) is not None:
            assert time.monotonic() < deadline, sd.unit_state(box.unit)
            time.sleep(0.1)
    if rt.name == "runc":
        request.applymarker(pytest.mark.xfail(
            strict=True, reason="runc 1.1.5 killed in create: delete --force leaves the"
            " scope's directories in the hierarchies it joined itself (cpuset, freezer)"))
    assert [d for d in box.dirs().values() if os.path.exists(d)] == []
    box.bundle.config.pop("hooks")
    box.bundle.write()
    assert box.create().code == 0
    assert rt("delete", "--force", box.cid).code == 0
    assert [d for d in box.dirs().values() if os.path.exists(d)] == []


def test_failed_job(env: Env, rt: SdRuntime, bundle_factory: Any, workdir: Path) -> None:
    """The start job ends "failed" (the fake's ``failed-`` units): create fails with
    runc's message, nothing is left, the failed unit is reset."""
    slice_ = env.new_slice()
    box = Box(env, rt, bundle_factory, slice_, f"f-{workdir.name}", prefix="failed")
    res = box.create()
    assert res.code != 0
    assert f"error creating systemd unit `failed-{box.cid}.scope`: got `failed`" in res.err \
        or f"error creating systemd unit failed-{box.cid}.scope: got failed" in res.err, res.err
    assert not (rt.root / box.cid).exists()
    with env.systemd() as sd:
        assert sd.unit_state(f"failed-{box.cid}.scope") is None


# the files compared between the runtimes, per controller
COMPARED = {
    "cpu": ("cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us"),
    "memory": ("memory.limit_in_bytes", "memory.soft_limit_in_bytes",
               "memory.memsw.limit_in_bytes"),
    "pids": ("pids.max",),
    "devices": ("devices.list",),
    "freezer": ("freezer.state",),
    "cpuset": ("cpuset.cpus", "cpuset.mems"),
    "blkio": ("blkio.weight",),
}
# what differs between the runtimes' units by design: the names and the pid
OWN = ("Description", "PIDs", "Slice", "ControlGroup")


def _files(d: str, key: str) -> dict[str, Any]:
    """The compared files of one hierarchy's directory."""
    files: dict[str, Any] = {}
    for ctl in key.split(","):
        for file in COMPARED.get(ctl, ()):
            if os.path.exists(f"{d}/{file}"):
                text = Path(d, file).read_text().strip()
                if file == "devices.list":
                    # pyoci allows /dev/console (5:1) besides runc's defaults, with
                    # either driver (pyoci/cgroups/devices.py): not the driver's doing
                    files[file] = sorted(set(text.splitlines()) - {"c 5:1 rwm"})
                else:
                    files[file] = text
    return files


def _view(env: Env, box: Box) -> dict[str, Any]:
    """The container's cgroups and unit, comparable across runtimes."""
    pid = box.pid()
    out: dict[str, Any] = {}
    for key, d in box.dirs().items():
        joined = str(pid) in Path(d, "cgroup.procs").read_text().split()
        out[key or "cgroup2"] = {"joined": joined, **_files(d, key)}
    import ast

    with env.systemd() as sd:
        reply = sd.conn.call("org.freedesktop.systemd1", "/", "org.pyoci.Test", "Units",
                             timeout=5)
    props = ast.literal_eval(str(reply.body[0]))["units"][box.unit]["props"]
    out["unit"] = {k: _unset(v) for k, v in props.items() if k not in OWN}
    out["unit"] = {k: v for k, v in out["unit"].items() if v is not None}
    if "DeviceAllow" in out["unit"]:
        out["unit"]["DeviceAllow"] = sorted(
            (_major_name(p), a) for p, a in out["unit"]["DeviceAllow"][1]
            if p != "/dev/char/5:1")
    return out


def _unset(value: tuple[str, object]) -> tuple[str, object] | None:
    """None for a property's "unset" value (pyoci sends those at create so that a later
    update can reset them; runc leaves them out)."""
    return None if value[1] in ((1 << 64) - 1, b"") else value


def _major_name(path: str) -> str:
    """``char-pts`` (runc 1.1.5) and ``char-136`` (pyoci; systemd >= 240 takes numbers)
    are the same rule."""
    for prefix, section in (("char-", "Character devices:"), ("block-", "Block devices:")):
        if path.startswith(prefix) and not path[len(prefix):].isdigit():
            text = Path("/proc/devices").read_text()
            body = text.split(section, 1)[1].split("\n\n", 1)[0]
            for line in body.splitlines():
                fields = line.split()
                if len(fields) == 2 and fields[1] == path[len(prefix):]:
                    return prefix + fields[0]
    return path


def _same(pyoci: dict[str, Any], runc: dict[str, Any]) -> None:
    diff = {k: (pyoci.get(k), runc.get(k)) for k in sorted({*pyoci, *runc})
            if pyoci.get(k) != runc.get(k)}
    assert diff == {}, "\n".join(f"{k}:\n  pyoci {p}\n  runc  {r}" for k, (p, r) in diff.items())


def test_same_as_runc(env: Env, bundle_factory: Any, workdir: Path) -> None:
    """One config through both runtimes: the same files in every hierarchy and the same
    unit properties in the end (after create, and after an update)."""
    runc = shutil.which("runc")
    if runc is None:
        pytest.skip("runc is not installed (Debian package runc)")
    from helpers import pyoci_binary

    boxes = []
    for name, binary in (("pyoci", pyoci_binary()), ("runc", runc)):
        r = SdRuntime(env, binary, workdir / f"{name}-state", workdir / f"{name}-log.json", name)
        box = Box(env, r, bundle_factory, env.new_slice(), f"same-{workdir.name}", RESOURCES,
                  prefix=f"ctr{name}")
        boxes.append(box)
    try:
        for box in boxes:
            assert box.create().code == 0
        _same(*[_view(env, b) for b in boxes])
        for box in boxes:
            res = box.rt("update", "--memory", str(96 << 20), "--cpu-share", "256",
                         "--pids-limit", "70", "--cpu-quota", "40000", box.cid)
            assert res.code == 0, res
        _same(*[_view(env, b) for b in boxes])
    finally:
        for box in boxes:
            box.rt.cleanup()


def test_delete_force_paused(env: Env, rt: SdRuntime, bundle_factory: Any,
                             workdir: Path) -> None:
    """delete --force of a paused container: the frozen processes are killed (a frozen v1
    task dies only once thawed) and every directory goes, without waiting for systemd's
    stop timeout (90 s: the runtime's 30 s timeout here would fail first)."""
    box = Box(env, rt, bundle_factory, env.new_slice(), f"pz-{workdir.name}")
    assert box.create().code == 0
    assert rt("start", box.cid).code == 0
    assert rt("pause", box.cid).code == 0
    pid = box.pid()
    res = rt("delete", "--force", box.cid)
    assert res.code == 0, res
    assert _dead(pid)
    assert [d for d in box.dirs().values() if os.path.exists(d)] == []


def _dead(pid: int, timeout: float = 5.0) -> bool:
    """Gone, or a zombie (its reaper is not ours)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return True
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return True
        time.sleep(0.05)
    return False


def test_run_foreground(env: Env, rt: SdRuntime, bundle_factory: Any, workdir: Path) -> None:
    """run: the container's process exits 3, run exits 3 and nothing is left."""
    box = Box(env, rt, bundle_factory, env.new_slice(), f"run-{workdir.name}",
              args=["sh", "-c", "exit 3"])
    res = rt("run", "-b", str(box.bundle.path), box.cid)
    assert res.code == 3, res
    assert not (rt.root / box.cid).exists()
    assert [d for d in box.dirs().values() if os.path.exists(d)] == []


def test_scope_collected_after_exit(env: Env, rt: SdRuntime, bundle_factory: Any,
                                    workdir: Path) -> None:
    """The container's process exits: systemd collects the empty scope (its directories
    go); update and events are refused as "not running", ps lists nothing, delete
    removes the rest (the runtime's own directories)."""
    box = Box(env, rt, bundle_factory, env.new_slice(), f"ux-{workdir.name}",
              args=["sh", "-c", "exit 0"])
    assert box.create().code == 0
    assert rt("start", box.cid).code == 0
    assert wait_gone(box.dirs()["name=systemd"])
    res = rt("update", "--memory", str(96 << 20), box.cid)
    assert res.code == 1 and res.err.strip().endswith("container not running"), res
    res = rt("events", "--stats", box.cid)
    assert res.code == 1 and "not running" in res.err, res
    res = rt("ps", box.cid)
    assert res.code == 0 and len(res.out.splitlines()) == 1, res
    assert rt("delete", box.cid).code == 0
    assert [d for d in box.dirs().values() if os.path.exists(d)] == []


def test_cpu_quota_rounded_as_systemd_has_it(env: Env, rt: SdRuntime, bundle_factory: Any,
                                             workdir: Path,
                                             request: pytest.FixtureRequest) -> None:
    """A quota of 12345 us per 100 ms is 123450 us/s; systemd keeps CPUQuotaPerSecUSec in
    10 ms steps, so it gets 130000 and would write 13000 on any reload: the runtime
    writes 13000 itself (as current runc does: addCPUQuota), and a daemon-reload changes
    nothing."""
    box = Box(env, rt, bundle_factory, env.new_slice(), f"q-{workdir.name}",
              {"cpu": {"quota": 12345, "period": 100000}})
    assert box.create().code == 0
    try:
        cpu = key_of("cpu", env)
        assert unit_prop(env, box.unit, "CPUQuotaPerSecUSec") == 130000
        if rt.name == "runc":
            request.applymarker(pytest.mark.xfail(
                strict=True, reason="runc 1.1.5 writes the unrounded quota (12345) to"
                " cpu.cfs_quota_us while systemd has 130 ms/s: a daemon-reload makes it 13000"))
        assert box.read(cpu, "cpu.cfs_quota_us") == "13000"
        with env.systemd() as sd:
            sd.conn.call("org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                         "org.freedesktop.systemd1.Manager", "Reload", timeout=10)
        assert box.read(cpu, "cpu.cfs_quota_us") == "13000"
    finally:
        rt("delete", "--force", box.cid)


def test_tasks_max(env: Env, rt: SdRuntime, bundle_factory: Any, workdir: Path,
                   request: pytest.FixtureRequest) -> None:
    """No pids limit: the scope has systemd's DefaultTasksMax in both views; update -1:
    unlimited ("max", TasksMax=infinity); update 0: 1 (systemd refuses TasksMax=0; the
    fact sheet's current runc sends 1)."""
    box = Box(env, rt, bundle_factory, env.new_slice(), f"tm-{workdir.name}")
    assert box.create().code == 0
    try:
        pids = key_of("pids", env)
        with env.systemd() as sd:
            default = sd.manager_property("DefaultTasksMax")
        assert box.read(pids, "pids.max") == str(default)
        assert rt("update", "--pids-limit", "-1", box.cid).code == 0
        assert box.read(pids, "pids.max") == "max"
        assert unit_prop(env, box.unit, "TasksMax") == (1 << 64) - 1
        if rt.name == "runc":
            request.applymarker(pytest.mark.xfail(
                strict=True, reason="runc 1.1.5 takes --pids-limit 0 as \"not given\":"
                " nothing changes"))
        assert rt("update", "--pids-limit", "0", box.cid).code == 0
        assert box.read(pids, "pids.max") == "1"
        assert unit_prop(env, box.unit, "TasksMax") == 1
    finally:
        rt("delete", "--force", box.cid)
