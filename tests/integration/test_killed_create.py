"""A runtime command SIGKILLed at any instant leaves a container that ``delete --force``
cleans completely (issue 12 §3): engines kill the runtime when a timeout expires.

``create`` (and ``run``, ``run -d``, and ``delete`` itself) is killed after a delay swept in small
steps over its whole duration, and at each phase a blocking hook holds it in (prestart,
createRuntime, createContainer; startContainer for ``run -d``).  After each kill:
``state`` answers sanely, ``delete --force`` exits 0, and then no state directory, no
cgroup directory in any hierarchy and no process of the container is left, and the same
id is created (and cleaned) again at once.

Runs on this hybrid host and in the pure cgroup v2 and v1 guests (tools/cgroup-guests.sh);
each sweep stays within a budget (PYOCI_KILL_SWEEP_SECONDS, default 7): in the emulated
guests, 20-40 times slower, that is one kill per variant.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import RuntimeCLI, wait_for

pytestmark = pytest.mark.root

BUDGET = float(os.environ.get("PYOCI_KILL_SWEEP_SECONDS", "7"))
SLOW = 300  # seconds a command may take (a create in the emulated v1 guest: over 30)


def _cgroup_mounts() -> list[str]:
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[0] in ("cgroup", "cgroup2"):
                out.append(left.split()[4])
    return out


CGROUP_MOUNTS = _cgroup_mounts()


def cgroups_of(cid: str) -> list[str]:
    """The container's cgroup (default path /pyoci/<id>) in every hierarchy."""
    return [f"{m}/pyoci/{cid}" for m in CGROUP_MOUNTS if os.path.isdir(f"{m}/pyoci/{cid}")]


def processes_of(cid: str, markers: list[str]) -> list[str]:
    """Live (not zombie) processes in the container's cgroup, or whose command line
    holds one of ``markers`` (the state root: the runtime, stage 1, the init before its
    execve; a marker argument of the hooks)."""
    found = []
    needles = [m.encode() for m in markers]
    cg = f"/pyoci/{cid}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X"):
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{entry}/cgroup", "rb") as f:
                cgroups = f.read()
        except OSError:
            continue
        if any(n in cmdline for n in needles) or any(
            line.endswith(cg) or cg + b"/" in line for line in cgroups.splitlines()
        ):
            shown = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{entry}: {shown}")
    return found


class Killer:
    """One container id, killed and cleaned again and again."""

    def __init__(self, rt: RuntimeCLI, bundle: Path, cid: str, marker: str) -> None:
        self.rt = rt
        self.bundle = bundle
        self.cid = cid
        self.markers = [str(rt.root), marker]
        self.kills = 0

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([*self.rt.global_args(), *args], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip

    def kill(self, proc: subprocess.Popen[bytes], after: float | Callable[[], bool]) -> str:
        """SIGKILL ``proc`` after a delay or once ``after()`` holds; return how it ended."""
        reached = True
        if callable(after):  # (minutes in an emulated guest)
            reached = wait_for(lambda: after() or proc.poll() is not None, timeout=180)
        else:
            time.sleep(after)
        ended = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert reached, "the awaited moment never came"
        self.kills += 1
        return "finished" if ended else "killed"

    def check_state(self) -> None:
        """``state`` of what the kill left: one sane answer, never a crash."""
        res = self.rt("state", self.cid, timeout=SLOW)
        if res.code == 0:
            doc = json.loads(res.out)
            # paused: a delete killed while the v1 freezer held the processes
            sane = ("stopped", "created", "running", "paused")
            assert doc["id"] == self.cid and doc["status"] in sane, doc
        else:
            assert "does not exist" in res.err and len(res.err.strip().splitlines()) == 1, res
        listed = self.rt("list", "-q", timeout=SLOW)
        assert listed.code == 0, listed

    def clean(self, what: str) -> None:
        res = self.rt("delete", "--force", self.cid, timeout=SLOW)
        assert res.code == 0 and not res.err, (what, res)  # not even a warning
        self.assert_gone(what)

    def assert_gone(self, what: str) -> None:
        assert not (self.rt.root / self.cid).exists(), (what, os.listdir(self.rt.root))
        assert cgroups_of(self.cid) == [], (what, cgroups_of(self.cid))
        # stage 1 and hooks die with the runtime (their parent-death signal): give the
        # kernel a moment to finish them (the guest: seconds)
        assert wait_for(lambda: not processes_of(self.cid, self.markers), timeout=30), (
            what, processes_of(self.cid, self.markers))  # fmt: skip

    def recreate(self, what: str) -> None:
        """The same id at once: created, then cleaned again."""
        res = self.rt("create", "--bundle", str(self.bundle), self.cid, timeout=SLOW)
        assert res.code == 0, (what, res)
        self.clean(what + ", then created again")


def _sweep(duration: float, step: Callable[[float], None]) -> int:
    """Run ``step(delay)`` at half ``duration``, then for delays from 0 to a bit past
    it, as many as the budget allows (up to 24; about 10 here, none in the emulated
    guest, where one step takes half a minute and the host runs the sweep)."""
    start = time.monotonic()
    step(duration / 2)
    per_step = time.monotonic() - start
    steps = min(24, int(BUDGET / per_step))
    if steps < 2:
        return 1
    for i in range(steps):
        step(duration * 1.1 * i / (steps - 1))
    return steps + 1


def _sh_hook(marker: str, script: str) -> dict[str, Any]:
    return {"path": "/bin/sh", "args": ["sh", "-c", script, marker]}


@pytest.fixture
def killer(pyoci: RuntimeCLI, bundle_factory: Any, workdir: Path) -> Killer:
    cid = f"kc-{workdir.name}"
    b = bundle_factory(["sleep", "1000"], cgroup=False)  # the default /pyoci/<id>
    return Killer(pyoci, b.path, cid, marker=f"marker-{workdir.name}")


@pytest.mark.parametrize("verb", ["create", "run -d", "run"])
def test_killed_at_any_instant_is_cleanable(killer: Killer, verb: str) -> None:
    args = verb.split()  # a foreground run waits for the container: always killed
    start = time.monotonic()
    killer.recreate(f"{verb}: a first create")  # and how long one takes here
    duration = time.monotonic() - start
    if verb == "run":
        duration *= 1.5  # and the start
    outcomes = []

    def step(delay: float) -> None:
        proc = killer.spawn(*args, "--bundle", str(killer.bundle), killer.cid)
        what = f"{verb} killed after {delay * 1000:.0f} ms"
        outcomes.append(killer.kill(proc, delay))
        killer.check_state()
        killer.clean(what)
        killer.recreate(what)

    if _sweep(duration * 0.8, step) > 1:  # (a delete is about a fifth of duration)
        # the sweep really killed it midway (and, last, let one finish)
        assert "killed" in outcomes, outcomes


def test_killed_delete_is_cleanable(killer: Killer) -> None:
    killer.rt("run", "-d", "-b", str(killer.bundle), killer.cid, check=True, timeout=SLOW)
    start = time.monotonic()
    killer.clean("a delete")
    duration = time.monotonic() - start

    def step(delay: float) -> None:
        killer.rt("run", "-d", "-b", str(killer.bundle), killer.cid, check=True, timeout=SLOW)
        proc = killer.spawn("delete", "--force", killer.cid)
        what = f"delete killed after {delay * 1000:.0f} ms"
        killer.kill(proc, delay)
        killer.check_state()
        killer.clean(what)
        killer.recreate(what)

    _sweep(duration, step)


@pytest.mark.parametrize(
    "phase", ["prestart", "createRuntime", "createContainer", "startContainer"]
)
def test_killed_while_a_hook_runs(
    pyoci: RuntimeCLI, bundle_factory: Any, workdir: Path, phase: str
) -> None:
    """The runtime is killed while a hook of ``phase`` blocks: the hook dies with it (or
    with the container), and everything is cleaned."""
    marker = f"marker-{workdir.name}"
    shared = workdir / "shared"
    shared.mkdir()
    running = shared / "hook.running"
    hold = shared / "hook.hold"
    os.mkfifo(hold)
    # startContainer runs in the container, after pivot_root: it sees shared/ as /var
    where = "/var" if phase == "startContainer" else str(shared)
    # no child process: the shell itself blocks in read
    hook = _sh_hook(marker, f"touch {where}/hook.running; read x < {where}/hook.hold")

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["hooks"] = {phase: [hook]}
        if phase == "startContainer":
            cfg["mounts"].append({"destination": "/var", "type": "bind",
                                  "source": str(shared), "options": ["rbind"]})  # fmt: skip

    b = bundle_factory(["sleep", "1000"], cgroup=False, mutate=mutate)
    k = Killer(pyoci, b.path, f"kh-{workdir.name}", marker)
    verb = ["run", "--detach"] if phase == "startContainer" else ["create"]
    proc = k.spawn(*verb, "--bundle", str(b.path), k.cid)
    assert k.kill(proc, running.exists) == "killed", f"the {phase} hook never ran"
    k.check_state()
    k.clean(f"killed in a {phase} hook")  # the hook too: its marker is in its cmdline
    running.unlink()
    # and the same id again, the hook released at once
    with open(hold, "w+b", buffering=0) as f:  # read-write: never blocks
        proc = k.spawn(*verb, "--bundle", str(b.path), k.cid)
        assert wait_for(running.exists, timeout=180)
        f.write(b"go\n")
        assert proc.wait(timeout=180) == 0
    k.clean(f"created again after a kill in a {phase} hook")


def test_half_made_container_is_reported_and_removed(pyoci: RuntimeCLI,
                                                     bundle_factory: Any) -> None:  # fmt: skip
    """A state directory without state.json (a create killed right after its mkdir, or
    a delete right before its rmdir): stopped once nobody holds its lock, listed, and
    removed by delete; "creating" while a create holds the lock."""
    import fcntl

    b = bundle_factory(["sleep", "1000"], cgroup=False)
    pyoci.root.mkdir(mode=0o700)
    (pyoci.root / "half").mkdir()
    (pyoci.root / "half" / ".state.json.12345").write_text("{")  # an interrupted write
    (pyoci.root / ".hidden").mkdir()  # not containers: never listed
    (pyoci.root / "file").write_text("")
    assert pyoci.state("half")["status"] == "stopped"
    assert pyoci("list", "-q", timeout=SLOW).out.split() == ["half"]
    fd = os.open(pyoci.root / "half", os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a create between its mkdir and first write
        assert pyoci.state("half")["status"] == "creating"
        res = pyoci("create", "--bundle", str(b.path), "half", timeout=SLOW)
        assert res.code == 1 and "exists" in res.err, res
    finally:
        os.close(fd)
    res = pyoci("kill", "half", "KILL", timeout=SLOW)
    assert res.code == 1 and "not running" in res.err, res
    pyoci("delete", "half", check=True, timeout=SLOW)
    assert sorted(os.listdir(pyoci.root)) == [".hidden", "file"]
    pyoci("create", "--bundle", str(b.path), "half", check=True, timeout=SLOW)
    pyoci("delete", "--force", "half", check=True, timeout=SLOW)
    (pyoci.root / ".hidden").rmdir()
    (pyoci.root / "file").unlink()
