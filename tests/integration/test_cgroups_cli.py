"""Cgroups through the CLI, on real containers: limits have effects, and
update / pause / resume / ps / events / kill --all / delete --force do what
runc's do.

Runs on this hybrid host and, from tools/test.sh, inside the pure-v2 and pure-v1
guests of ../shared/tools/cgvm/run-in-cgv2.sh (tools/cgroup-guest-tests.sh):
every assertion below holds on all three layouts, with the mode-specific
details (v1 freezer "D" state, v2 cgroup.events) chosen from the container's
own cgroup record.  Differential tests at the end compare the cgroup files
runc writes for the same resources with ours (Debian's runc).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cgroup_helpers import runc_failed
from helpers import Bundle, RuntimeCLI, wait_for

from pyoci.cgroups import layout
from pyoci.cgroups.manager import FsManager, manager_for_create, manager_from_record

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create cgroups"),
]

try:
    HOST: layout.Layout | None = layout.detect()
    NO_CGROUPS = ""
except Exception as exc:  # pragma: no cover - depends on the machine
    HOST = None
    NO_CGROUPS = str(exc)
if HOST is None:
    pytestmark.append(pytest.mark.skip(reason=f"no usable cgroup mount: {NO_CGROUPS}"))

MiB = 1 << 20
# The guests are 20-40x slower than the host: generous timeouts everywhere.
SLOW = 120.0


# ---------------------------------------------------------------- helpers


def shared_dir(workdir: Path, name: str = "w") -> tuple[Path, Callable[[dict[str, Any]], None]]:
    """A host directory bind-mounted at /w in the container."""
    d = workdir / name
    d.mkdir(exist_ok=True)

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["mounts"].append(
            {"destination": "/w", "type": "bind", "source": str(d), "options": ["rbind"]}
        )

    return d, mutate


def with_resources(**res: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["linux"].setdefault("resources", {}).update(res)

    return mutate


def both(*fns: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def mutate(cfg: dict[str, Any]) -> None:
        for fn in fns:
            fn(cfg)

    return mutate


def start(rt: RuntimeCLI, bundle: Bundle, cid: str) -> int:
    """create + start (detached); the init's host pid."""
    rt("create", "--bundle", str(bundle.path), cid, check=True, timeout=SLOW)
    rt("start", cid, check=True, timeout=SLOW)
    return int(rt.state(cid)["pid"])


def record(rt: RuntimeCLI, cid: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((rt.root / cid / "state.json").read_text())
    return doc


def manager(rt: RuntimeCLI, cid: str) -> FsManager:
    return manager_from_record(record(rt, cid)["cgroup"])


def cgroup_file(m: FsManager, controller: str, name: str) -> str:
    directory = m.v1.get(controller) or m.unified
    assert directory is not None
    return Path(f"{directory}/{name}").read_text().strip()


def stats(rt: RuntimeCLI, cid: str) -> dict[str, Any]:
    res = rt("events", "--stats", cid, check=True, timeout=SLOW)
    lines = res.out.splitlines()
    assert len(lines) == 1, res
    event: dict[str, Any] = json.loads(lines[0])
    assert event["type"] == "stats" and event["id"] == cid
    return event


def proc_state(pid: int) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("State:"):
            return line.split()[1]
    return "?"


def gone(pid: int) -> bool:
    try:
        return proc_state(pid) in ("Z", "X")
    except FileNotFoundError:
        return True


class EventStream:
    """``pyoci events`` running in the background, read line by line."""

    def __init__(self, rt: RuntimeCLI, *args: str) -> None:
        self.proc = subprocess.Popen(
            [*rt.global_args(), "events", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        assert self.proc.stdout is not None
        self.out = self.proc.stdout
        self.buf = b""

    def next(self, timeout: float = SLOW) -> dict[str, Any] | None:
        """The next event, or None at EOF."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no event in {timeout}s (got {self.buf!r})")
            ready, _, _ = select.select([self.out], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.out.fileno(), 65536)
            if not chunk:
                if self.buf:
                    break
                return None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        event: dict[str, Any] = json.loads(line)
        return event

    def until(self, kind: str, timeout: float = SLOW) -> list[dict[str, Any]]:
        """Events up to and including the first of ``kind``."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            event = self.next(max(0.1, deadline - time.monotonic()))
            assert event is not None, f"events ended before a {kind!r} event: {seen}"
            seen.append(event)
            if event["type"] == kind:
                return seen

    def wait(self, timeout: float = SLOW) -> int:
        code = self.proc.wait(timeout)
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.out.close()
        assert self.proc.stderr is not None
        self.proc.stderr.close()


@pytest.fixture
def streams() -> Iterator[list[EventStream]]:
    opened: list[EventStream] = []
    yield opened
    for s in opened:
        s.close()


# ---------------------------------------------------------------- memory


def test_oom_kill_exit_137(pyoci: RuntimeCLI, bundle_factory: Any) -> None:
    """A process over its memory limit is OOM-killed: run exits 137."""
    limit = 32 * MiB
    b = bundle_factory(
        ["tail", "/dev/zero"],  # buffers an endless line
        mutate=with_resources(memory={"limit": limit, "swap": limit}),
    )
    res = pyoci("run", "--bundle", str(b.path), "oom", timeout=SLOW)
    assert res.code == 137, res


def test_oom_counted_and_reported(
    pyoci: RuntimeCLI, bundle_factory: Any, workdir: Path, streams: list[EventStream]
) -> None:
    """An OOM kill inside a live container: an ``oom`` event from ``events``,
    and the count in ``events --stats`` (memory.raw.oom_kill)."""
    limit = 32 * MiB
    w, mount = shared_dir(workdir)
    script = (
        "until [ -e /w/go ]; do sleep 0.05; done; tail /dev/zero; echo $? > /w/rc;"
        " exec sleep 1000"
    )
    b = bundle_factory(
        ["sh", "-c", script],
        mutate=both(mount, with_resources(memory={"limit": limit, "swap": limit})),
    )
    start(pyoci, b, "oomlive")
    before = stats(pyoci, "oomlive")["data"]["memory"]
    assert before["usage"]["limit"] == limit
    assert before["raw"]["oom_kill"] == 0
    stream = EventStream(pyoci, "--interval", "1s", "oomlive")
    streams.append(stream)
    first = stream.next()  # the watcher is set up before the first stats event
    assert first is not None and first["type"] == "stats" and first["id"] == "oomlive"
    (w / "go").touch()
    events = stream.until("oom")
    assert events[-1] == {"type": "oom", "id": "oomlive"}
    # the shell creates rc, then writes it: wait for the content (a slow guest lost the race)
    assert wait_for(lambda: (w / "rc").exists() and (w / "rc").read_text().strip(), timeout=SLOW)
    assert (w / "rc").read_text().strip() == "137"  # tail: SIGKILL; the init survives
    after = stats(pyoci, "oomlive")["data"]["memory"]
    assert after["raw"]["oom_kill"] >= 1
    assert after["usage"]["max"] >= limit - 2 * MiB  # the peak reached the limit
    assert pyoci.state("oomlive")["status"] == "running"
    pyoci("delete", "--force", "oomlive", check=True, timeout=SLOW)
    assert stream.wait() == 0  # events ends with the container


# ---------------------------------------------------------------- pids


def test_fork_past_pids_limit_fails(pyoci: RuntimeCLI, bundle_factory: Any) -> None:
    b = bundle_factory(
        ["sh", "-c", "sleep 30 & sleep 30 & sleep 30 & echo all-forked"],
        mutate=with_resources(pids={"limit": 3}),
    )
    res = pyoci("run", "--bundle", str(b.path), "pids", timeout=SLOW)
    assert res.code != 0, res
    assert "can't fork" in res.out + res.err, res
    assert "all-forked" not in res.out


# ---------------------------------------------------------------- cpu


def test_cpu_quota_throttles(pyoci: RuntimeCLI, bundle_factory: Any) -> None:
    """A CPU-bound process under a 10% quota is throttled (cpu.stat via events)."""
    b = bundle_factory(
        ["sh", "-c", "while :; do :; done"],
        mutate=with_resources(cpu={"quota": 10000, "period": 100000}),
    )
    start(pyoci, b, "spin")
    assert wait_for(
        lambda: stats(pyoci, "spin")["data"]["cpu"]["throttling"].get("throttledPeriods", 0)
        > 2,
        timeout=SLOW,
        interval=0.3,
    )
    cpu = stats(pyoci, "spin")["data"]["cpu"]
    assert cpu["usage"]["total"] > 0
    assert cpu["throttling"]["periods"] >= cpu["throttling"]["throttledPeriods"] > 2
    pyoci("delete", "--force", "spin", check=True, timeout=SLOW)


# ---------------------------------------------------------------- devices


def test_denied_device_cannot_be_opened(pyoci: RuntimeCLI, bundle_factory: Any) -> None:
    """A device node the rules do not allow cannot be opened (EPERM from the
    v1 devices controller or the v2 eBPF program); allowed, the same node
    reaches its driver (c 1:42 has none: ENXIO).  /dev/null stays usable."""
    script = "head -c 1 /dev/test0; echo x > /dev/null && echo null-ok"

    def node(allow: bool) -> Callable[[dict[str, Any]], None]:
        def mutate(cfg: dict[str, Any]) -> None:
            cfg["linux"]["devices"] = [
                {"path": "/dev/test0", "type": "c", "major": 1, "minor": 42, "fileMode": 0o666}
            ]
            if allow:
                rules = cfg["linux"].setdefault("resources", {}).setdefault("devices", [])
                rules.append({"allow": True, "type": "c", "major": 1, "minor": 42, "access": "r"})

        return mutate

    denied = pyoci("run", "--bundle", str(bundle_factory(["sh", "-c", script],
                   mutate=node(False)).path), "dev", timeout=SLOW)  # fmt: skip
    assert "Operation not permitted" in denied.err, denied
    assert denied.out.split() == ["null-ok"], denied
    allowed = pyoci("run", "--bundle", str(bundle_factory(["sh", "-c", script],
                    mutate=node(True)).path), "dev2", timeout=SLOW)  # fmt: skip
    assert "Operation not permitted" not in allowed.err, allowed
    assert "No such device" in allowed.err, allowed
    assert allowed.out.split() == ["null-ok"], allowed


# ---------------------------------------------------------------- pause / resume


def test_pause_freezes_and_resume_thaws(
    pyoci: RuntimeCLI, bundle_factory: Any, workdir: Path
) -> None:
    w, mount = shared_dir(workdir)
    b = bundle_factory(
        ["sh", "-c", "while :; do echo . >> /w/beat; sleep 0.02; done"], mutate=mount
    )
    pid = start(pyoci, b, "frozen")
    beat = w / "beat"
    assert wait_for(lambda: beat.exists() and beat.stat().st_size > 2, timeout=SLOW)

    pyoci("pause", "frozen", check=True, timeout=SLOW)
    assert pyoci.state("frozen")["status"] == "paused"
    rows = [r.split() for r in pyoci("list", check=True).out.splitlines()[1:]]
    assert [r[2] for r in rows if r[0] == "frozen"] == ["paused"]
    m = manager(pyoci, "frozen")
    if "freezer" in m.v1:
        assert cgroup_file(m, "freezer", "freezer.state") == "FROZEN"
        assert all(proc_state(p) == "D" for p in m.pids())  # in the refrigerator
    else:
        assert m.unified is not None
        assert "frozen 1" in Path(f"{m.unified}/cgroup.events").read_text()
    size = beat.stat().st_size
    time.sleep(0.5)
    assert beat.stat().st_size == size, "a paused container made progress"

    res = pyoci("pause", "frozen", timeout=SLOW)
    assert res.code == 1 and "container not running" in res.err, res
    pyoci("resume", "frozen", check=True, timeout=SLOW)
    assert pyoci.state("frozen")["status"] == "running"
    assert wait_for(lambda: beat.stat().st_size > size, timeout=SLOW), "no progress after resume"
    assert proc_state(pid) != "D"
    res = pyoci("resume", "frozen", timeout=SLOW)
    assert res.code == 1 and "container not paused" in res.err, res
    pyoci("delete", "--force", "frozen", check=True, timeout=SLOW)


def test_pause_created_container(pyoci: RuntimeCLI, bundle_factory: Any) -> None:
    """A created container can be paused (runc): "paused" until resumed, then
    "created" again, and it starts."""
    b = bundle_factory(["sleep", "1000"])
    pyoci("create", "--bundle", str(b.path), "pc", check=True, timeout=SLOW)
    pyoci("pause", "pc", check=True, timeout=SLOW)
    assert pyoci.state("pc")["status"] == "paused"
    res = pyoci("start", "pc", timeout=SLOW)
    assert res.code == 1 and "paused" in res.err, res
    pyoci("resume", "pc", check=True, timeout=SLOW)
    assert pyoci.state("pc")["status"] == "created"
    pyoci("start", "pc", check=True, timeout=SLOW)
    assert pyoci.state("pc")["status"] == "running"
    pyoci("delete", "--force", "pc", check=True, timeout=SLOW)


def test_delete_force_of_paused_container(pyoci: RuntimeCLI, bundle_factory: Any) -> None:
    b = bundle_factory(["sh", "-c", "sleep 1000 & sleep 1000 & wait"])
    start(pyoci, b, "pdel")
    m = manager(pyoci, "pdel")
    assert wait_for(lambda: len(m.pids()) == 3, timeout=SLOW)
    pids = m.pids()
    pyoci("pause", "pdel", check=True, timeout=SLOW)
    res = pyoci("delete", "pdel", timeout=SLOW)
    assert res.code == 1 and "paused" in res.err, res
    pyoci("delete", "--force", "pdel", check=True, timeout=SLOW)
    assert all(gone(p) for p in pids)
    assert not any(os.path.exists(d) for d in m.dirs()), "cgroup directories left behind"
    assert not (pyoci.root / "pdel").exists()


# ---------------------------------------------------------------- update


def _exec_fork(rt: RuntimeCLI, cid: str) -> bool:
    """Can a process exec'd into the container fork?"""
    res = rt("exec", cid, "sh", "-c", "sleep 0 & wait", timeout=SLOW)
    if res.code == 0:
        return True
    assert "can't fork" in res.err, res
    return False


def test_update_changes_live_limits(pyoci: RuntimeCLI, bundle_factory: Any) -> None:
    """update (runc's flags, then containerd's --resources=- form) changes
    limits with effect, and the saved config follows."""
    b = bundle_factory(["sleep", "1000"], mutate=with_resources(pids={"limit": 1}))
    start(pyoci, b, "upd")
    m = manager(pyoci, "upd")
    assert not _exec_fork(pyoci, "upd")  # init + exec'd sh already at 1... past it

    pyoci("update", "--pids-limit", "10", "--memory", "64m", "--memory-swap", "96M",
          "--cpu-share", "512", "--cpu-quota", "20000", "--cpu-period", "100000", "upd",
          check=True, timeout=SLOW)  # fmt: skip
    assert _exec_fork(pyoci, "upd")
    assert cgroup_file(m, "pids", "pids.max") == "10"
    if "memory" in m.v1:
        assert cgroup_file(m, "memory", "memory.limit_in_bytes") == str(64 * MiB)
    else:
        assert cgroup_file(m, "memory", "memory.max") == str(64 * MiB)
    assert stats(pyoci, "upd")["data"]["memory"]["usage"]["limit"] == 64 * MiB
    if "cpu" in m.v1:
        assert cgroup_file(m, "cpu", "cpu.cfs_quota_us") == "20000"
    else:
        assert cgroup_file(m, "cpu", "cpu.max") == "20000 100000"
    saved = record(pyoci, "upd")["config"]["linux"]["resources"]
    assert saved["pids"] == {"limit": 10}
    assert saved["memory"] == {"limit": 64 * MiB, "swap": 96 * MiB}
    assert saved["cpu"] == {"shares": 512, "quota": 20000, "period": 100000}
    assert saved["devices"]  # untouched

    # containerd: update --resources=- ID, the JSON LinuxResources on stdin
    doc = {"pids": {"limit": 1}, "cpu": {"quota": 30000}, "devices": []}
    pyoci("update", "--resources=-", "upd", input=json.dumps(doc), check=True, timeout=SLOW)
    assert not _exec_fork(pyoci, "upd")
    saved = record(pyoci, "upd")["config"]["linux"]["resources"]
    assert saved["pids"] == {"limit": 1}
    assert saved["cpu"] == {"shares": 512, "quota": 30000, "period": 100000}
    assert saved["devices"]  # containerd's devices are ignored, as runc does
    if "cpu" in m.v1:
        assert cgroup_file(m, "cpu", "cpu.cfs_quota_us") == "30000"
    else:
        assert cgroup_file(m, "cpu", "cpu.max") == "30000 100000"
    pyoci("delete", "--force", "upd", check=True, timeout=SLOW)


def test_update_errors(pyoci: RuntimeCLI, bundle_factory: Any, workdir: Path) -> None:
    b = bundle_factory(["sleep", "1000"])
    res = pyoci("update", "--memory", "64m", "nosuch", timeout=SLOW)
    assert res.code == 1 and "nosuch does not exist" in res.err, res
    pyoci("create", "--bundle", str(b.path), "upderr", check=True, timeout=SLOW)
    res = pyoci("update", "--memory", "12q", "upderr", timeout=SLOW)
    assert res.code == 1 and "invalid value for memory" in res.err, res
    bad = workdir / "bad.json"
    bad.write_text("{not json")
    res = pyoci("update", "--resources", str(bad), "upderr", timeout=SLOW)
    assert res.code == 1 and "invalid JSON" in res.err, res
    res = pyoci("update", "--l3-cache-schema", "L3:0=f", "upderr", timeout=SLOW)
    assert res.code == 1 and "Intel RDT" in res.err, res
    pyoci("kill", "upderr", "KILL", check=True, timeout=SLOW)
    assert wait_for(lambda: pyoci.state("upderr")["status"] == "stopped", timeout=SLOW)
    res = pyoci("update", "--memory", "64m", "upderr", timeout=SLOW)
    assert res.code == 1 and "container not running" in res.err, res
    pyoci("delete", "upderr", check=True, timeout=SLOW)


# ---------------------------------------------------------------- ps


def test_ps_json_and_table(pyoci: RuntimeCLI, bundle_factory: Any) -> None:
    b = bundle_factory(["sh", "-c", "sleep 1000 & sleep 1000 & wait"])
    init = start(pyoci, b, "ps")
    m = manager(pyoci, "ps")
    assert wait_for(lambda: len(m.pids()) == 3, timeout=SLOW)
    pids = json.loads(pyoci("ps", "--format", "json", "ps", check=True, timeout=SLOW).out)
    assert sorted(pids) == m.pids() and init in pids
    for p in pids:  # host pids, all in the container's cgroup
        assert Path(f"/proc/{p}").exists()

    table = pyoci("ps", "ps", check=True, timeout=SLOW).out.splitlines()
    header = table[0].split()
    assert "PID" in header and "CMD" in header  # ps -ef by default
    col = header.index("PID")
    assert sorted(int(r.split()[col]) for r in table[1:]) == sorted(pids)

    table = pyoci("ps", "ps", "-o", "pid,comm", check=True, timeout=SLOW).out.splitlines()
    assert table[0].split() == ["PID", "COMMAND"]
    assert sorted(r.split()[1] for r in table[1:]) == ["sh", "sleep", "sleep"]

    res = pyoci("ps", "--format", "yaml", "ps", timeout=SLOW)
    assert res.code == 1 and "invalid format" in res.err, res
    pyoci("delete", "--force", "ps", check=True, timeout=SLOW)


# ---------------------------------------------------------------- kill --all


def _no_pid_namespace(cfg: dict[str, Any]) -> None:
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "pid"]


def test_kill_all_signals_every_process(pyoci: RuntimeCLI, bundle_factory: Any) -> None:
    """Without a PID namespace, killing the init leaves its children running:
    kill --all reaches them, even once the container is stopped; delete then
    leaves no cgroup behind."""
    b = bundle_factory(["sh", "-c", "sleep 1000 & sleep 1000 & wait"], mutate=_no_pid_namespace)
    init = start(pyoci, b, "killall")
    m = manager(pyoci, "killall")
    assert wait_for(lambda: len(m.pids()) == 3, timeout=SLOW)
    children = [p for p in m.pids() if p != init]

    pyoci("kill", "killall", "KILL", check=True, timeout=SLOW)  # the init only
    assert wait_for(lambda: pyoci.state("killall")["status"] == "stopped", timeout=SLOW)
    assert sorted(m.pids()) == sorted(children)  # orphans, still in the cgroup
    pyoci("kill", "--all", "killall", "TERM", check=True, timeout=SLOW)
    assert wait_for(lambda: all(gone(p) for p in children), timeout=SLOW)
    res = pyoci("kill", "--all", "killall", "KILL", timeout=SLOW)
    assert res.code == 1 and "container not running" in res.err, res
    pyoci("delete", "killall", check=True, timeout=SLOW)
    assert not any(os.path.exists(d) for d in m.dirs())


def test_kill_all_running(pyoci: RuntimeCLI, bundle_factory: Any) -> None:
    b = bundle_factory(["sh", "-c", "sleep 1000 & sleep 1000 & wait"])
    start(pyoci, b, "ka")
    m = manager(pyoci, "ka")
    assert wait_for(lambda: len(m.pids()) == 3, timeout=SLOW)
    pids = m.pids()
    pyoci("kill", "-a", "ka", "9", check=True, timeout=SLOW)
    assert wait_for(lambda: all(gone(p) for p in pids), timeout=SLOW)
    assert wait_for(lambda: pyoci.state("ka")["status"] == "stopped", timeout=SLOW)
    pyoci("delete", "ka", check=True, timeout=SLOW)


def test_delete_kills_leftovers_of_a_stopped_container(
    pyoci: RuntimeCLI, bundle_factory: Any
) -> None:
    """delete (no --force) of a stopped container whose orphans still run in
    its cgroup: they are killed and the cgroup removed (as runc)."""
    b = bundle_factory(["sh", "-c", "sleep 1000 & sleep 1000 & wait"], mutate=_no_pid_namespace)
    start(pyoci, b, "orphans")
    m = manager(pyoci, "orphans")
    assert wait_for(lambda: len(m.pids()) == 3, timeout=SLOW)
    pyoci("kill", "orphans", "KILL", check=True, timeout=SLOW)
    assert wait_for(lambda: pyoci.state("orphans")["status"] == "stopped", timeout=SLOW)
    left = m.pids()
    assert len(left) == 2
    pyoci("delete", "orphans", check=True, timeout=SLOW)
    assert all(gone(p) for p in left)
    assert not any(os.path.exists(d) for d in m.dirs())


# ---------------------------------------------------------------- events


def test_events_stats_document(pyoci: RuntimeCLI, bundle_factory: Any, workdir: Path,
                               streams: list[EventStream]) -> None:  # fmt: skip
    b = bundle_factory(
        ["sleep", "1000"],
        mutate=with_resources(pids={"limit": 50}, memory={"limit": 128 * MiB}),
    )
    start(pyoci, b, "ev")
    data = stats(pyoci, "ev")["data"]
    assert {"cpu", "memory", "pids", "blkio", "hugetlb"} <= set(data)
    assert data["pids"] == {"current": 1, "limit": 50}
    assert data["memory"]["usage"]["limit"] == 128 * MiB
    assert data["memory"]["usage"]["usage"] > 0

    stream = EventStream(pyoci, "--interval", "200ms", "ev")
    streams.append(stream)
    for _ in range(2):
        event = stream.next()
        assert event is not None and event["type"] == "stats" and event["id"] == "ev"
        assert event["data"]["pids"]["limit"] == 50
    pyoci("kill", "ev", "KILL", check=True, timeout=SLOW)
    assert stream.wait() == 0  # the container has no process left: events ends
    res = pyoci("events", "--stats", "ev", timeout=SLOW)
    assert res.code == 1 and "container not running" in res.err, res
    res = pyoci("events", "--interval", "0s", "nosuch", timeout=SLOW)
    assert res.code == 1, res
    pyoci("delete", "ev", check=True, timeout=SLOW)


# ---------------------------------------------------------------- differential: runc

DIFF_RESOURCES: dict[str, Any] = {
    "memory": {"limit": 96 * MiB, "reservation": 64 * MiB, "swap": 128 * MiB},
    "cpu": {"shares": 512, "quota": 30000, "period": 60000, "cpus": "0", "mems": "0"},
    "pids": {"limit": 42},
}

# (controller, v1 file, v2 file).  Not compared: v2 cpu.weight, where pyoci
# converts shares with runc's current formula (opencontainers/cgroups) and
# Debian's runc 1.1 with the older linear one.
DIFF_FILES = [
    ("memory", "memory.limit_in_bytes", "memory.max"),
    ("memory", "memory.soft_limit_in_bytes", "memory.low"),
    ("memory", "memory.memsw.limit_in_bytes", "memory.swap.max"),
    ("cpu", "cpu.shares", ""),
    ("cpu", "cpu.cfs_quota_us", "cpu.max"),
    ("cpu", "cpu.cfs_period_us", "cpu.max"),
    ("cpuset", "cpuset.cpus", "cpuset.cpus"),
    ("cpuset", "cpuset.mems", "cpuset.mems"),
    ("pids", "pids.max", "pids.max"),
]


def _compare(ours: FsManager, theirs: FsManager) -> int:
    compared = 0
    for ctl, v1_file, v2_file in DIFF_FILES:
        if ctl in ours.v1:
            mine, their = f"{ours.v1[ctl]}/{v1_file}", f"{theirs.v1[ctl]}/{v1_file}"
        elif v2_file:
            assert ours.unified is not None and theirs.unified is not None
            mine, their = f"{ours.unified}/{v2_file}", f"{theirs.unified}/{v2_file}"
        else:
            continue
        if not os.path.exists(mine) and not os.path.exists(their):
            continue  # e.g. no swap accounting on this kernel
        a, b = Path(mine).read_text(), Path(their).read_text()
        assert a == b, f"{os.path.basename(mine)}: pyoci {a!r} != runc {b!r}"
        compared += 1
    return compared


def _diff_bundles(bundle_factory: Any) -> tuple[Bundle, Bundle]:
    mutate = with_resources(**json.loads(json.dumps(DIFF_RESOURCES)))
    return (
        bundle_factory(["sleep", "1000"], mutate=mutate, name="ours"),
        # runc refuses a rootfs that is a symlink
        bundle_factory(["sleep", "1000"], mutate=mutate, name="theirs", copy_rootfs=True),
    )


@pytest.mark.runc
def test_same_cgroup_files_as_runc_create_and_update(
    pyoci: RuntimeCLI, runc: RuntimeCLI, bundle_factory: Any
) -> None:
    """The same resources through ``create``, then the same ``update`` flags and
    the same ``update --resources -`` JSON: the same values in the cgroup files."""
    mine_b, their_b = _diff_bundles(bundle_factory)
    pyoci("create", "--bundle", str(mine_b.path), "diff", check=True, timeout=SLOW)
    res = runc("create", "--bundle", str(their_b.path), "diff", timeout=SLOW)
    if res.code != 0:
        runc_failed("create", res.err)
    ours = manager(pyoci, "diff")
    theirs = manager_for_create("diff", their_b.config["linux"]["cgroupsPath"])
    assert theirs is not None and os.path.isdir(theirs.dirs()[0])
    assert _compare(ours, theirs) >= 6

    flags = ["--memory", "200m", "--memory-swap", "300m", "--memory-reservation", "100m",
             "--cpu-share", "256", "--cpu-quota", "25000", "--cpu-period", "50000",
             "--pids-limit", "55"]  # fmt: skip
    pyoci("update", *flags, "diff", check=True, timeout=SLOW)
    runc("update", *flags, "diff", check=True, timeout=SLOW)
    assert _compare(ours, theirs) >= 6

    doc = json.dumps({"memory": {"limit": 150 * MiB, "swap": 150 * MiB}, "cpu": {"shares": 1024},
                      "pids": {"limit": 77}})  # fmt: skip
    pyoci("update", "--resources", "-", "diff", input=doc, check=True, timeout=SLOW)
    runc("update", "--resources", "-", "diff", input=doc, check=True, timeout=SLOW)
    assert _compare(ours, theirs) >= 6
    assert cgroup_file(ours, "pids", "pids.max") == "77"


@pytest.mark.runc
def test_same_stats_shape_as_runc(
    pyoci: RuntimeCLI, runc: RuntimeCLI, bundle_factory: Any
) -> None:
    """``events --stats``: runc's document shape, the same limits reported."""
    mine_b, their_b = _diff_bundles(bundle_factory)
    pyoci("run", "-d", "--bundle", str(mine_b.path), "st", check=True, timeout=SLOW)
    res = runc("run", "-d", "--bundle", str(their_b.path), "st", timeout=SLOW)
    if res.code != 0:
        runc_failed("run", res.err)
    mine = stats(pyoci, "st")
    theirs = stats(runc, "st")
    assert set(mine) == set(theirs) == {"type", "id", "data"}
    assert set(theirs["data"]) <= set(mine["data"])
    assert mine["data"]["pids"] == theirs["data"]["pids"] == {"current": 1, "limit": 42}
    for key in ("limit",):
        assert mine["data"]["memory"]["usage"][key] == theirs["data"]["memory"]["usage"][key]
    # runc always prints kernel/kernelTCP (zero entries on v2, where the kernel
    # has no such counters); pyoci leaves out what the kernel does not have.
    # "cache" is omitted when zero by both, and depends on the moment (page cache).
    assert set(theirs["data"]["memory"]) - {"kernel", "kernelTCP", "cache"} <= set(
        mine["data"]["memory"])
    assert set(theirs["data"]["cpu"]) <= set(mine["data"]["cpu"])
