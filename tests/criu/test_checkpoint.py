"""checkpoint / restore through CRIU, pyoci and runc side by side (same flows, same
expectations).  Runs where ``criu check`` passes: in CI, the pure cgroup v2 guest.

Containers run detached with every stdio on /dev/null (the runtime reopens the
container's own; a host file would be a descriptor CRIU cannot resolve), on a
copied rootfs whose files the test reads from outside.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import Bundle, RuntimeCLI, remove_new_empty_dirs, sh

pytestmark = [pytest.mark.root, pytest.mark.needs_criu, pytest.mark.slow]

RUNTIMES = ["pyoci", "runc"]
TIMEOUT = 120  # the guest is 20-40x slower than a host

# a counter in the shell's memory, a random tag kept in memory, an fd held open on a log
COUNTER = (
    "m=$(head -c 512 /dev/urandom | md5sum | cut -c1-16); exec 3>>/tmp/log; i=0; "
    'while :; do i=$((i+1)); echo "$i $m" >&3; echo $i > /tmp/count.new; '
    "mv /tmp/count.new /tmp/count; sleep 0.1; done"
)


@pytest.fixture(params=RUNTIMES)
def rt(request: pytest.FixtureRequest) -> RuntimeCLI:
    runtime: RuntimeCLI = request.getfixturevalue(request.param)
    return runtime


def cli(rt: RuntimeCLI, *args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    """The runtime with every stdio on /dev/null but stderr (a pipe only for the
    commands that do not leave a container holding it)."""
    detached = args[0] in ("run", "restore")
    return subprocess.run(
        rt.global_args() + list(args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL if detached else subprocess.PIPE,
        stderr=subprocess.DEVNULL if detached else subprocess.PIPE,
        text=True,
        timeout=timeout,
        check=False,
    )


def ok(rt: RuntimeCLI, *args: str) -> None:
    res = cli(rt, *args)
    if res.returncode != 0:
        log = rt.log.read_text() if rt.log and rt.log.exists() else ""
        raise AssertionError(
            f"{rt.name} {' '.join(args)}: exit {res.returncode}: {res.stderr}{log}"
        )


def status(rt: RuntimeCLI, cid: str) -> dict[str, Any] | None:
    res = cli(rt, "state", cid)
    return json.loads(res.stdout) if res.returncode == 0 else None


def count(b: Bundle) -> int:
    try:
        return int((b.rootfs / "tmp" / "count").read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def wait_count(b: Bundle, above: int, timeout: float = TIMEOUT) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = count(b)
        if n > above:
            return n
        time.sleep(0.2)
    raise AssertionError(f"the counter did not pass {above} in {timeout}s (at {count(b)})")


def log_lines(b: Bundle) -> list[tuple[int, str]]:
    out = []
    for line in (b.rootfs / "tmp" / "log").read_text().splitlines():
        n, _, tag = line.partition(" ")
        if n.isdigit() and tag:
            out.append((int(n), tag))
    return out


@pytest.fixture
def counter(
    rt: RuntimeCLI, bundle_factory: Callable[..., Bundle], workdir: Path
) -> Callable[[str], Bundle]:
    def start(cid: str, script: str = COUNTER, mutate: Any = None) -> Bundle:
        b: Bundle = bundle_factory(sh(script), copy_rootfs=True, mutate=mutate)
        ok(rt, "run", "-d", "--bundle", str(b.path), cid)
        return b

    return start


def test_counter_memory_and_files_go_on_in_another_id(
    rt: RuntimeCLI, counter: Callable[..., Bundle], workdir: Path
) -> None:
    b = counter("cr1")
    old_pid = status(rt, "cr1")["pid"]  # type: ignore[index]
    wait_count(b, 3)
    img, work = workdir / f"img-{rt.name}", workdir / f"work-{rt.name}"
    ok(rt, "checkpoint", "--image-path", str(img), "--work-path", str(work), "cr1")
    # checkpointed: stopped and deleted (as runc)
    assert status(rt, "cr1") is None
    assert (work / "dump.log").exists() and (img / "descriptors.json").exists()
    at_dump = count(b)
    time.sleep(1)
    assert count(b) == at_dump, "the container still runs after checkpoint"

    ok(rt, "restore", "-d", "--image-path", str(img), "--work-path", str(work),
       "--bundle", str(b.path), "cr1-restored")  # fmt: skip
    st = status(rt, "cr1-restored")
    assert st is not None and st["status"] == "running", st
    assert st["pid"] != old_pid
    after = wait_count(b, at_dump + 2)
    assert after > at_dump
    lines = log_lines(b)
    numbers = [n for n, _ in lines]
    # one run of the same process: no restart from 1, the same memory tag, the
    # same open file (appended to, in order)
    assert numbers == list(range(1, len(numbers) + 1)), numbers[-20:]
    assert len({tag for _, tag in lines}) == 1
    # the restored tree is in the restored container's cgroup
    with open(f"/proc/{st['pid']}/cgroup") as f:
        cgroups = f.read()
    path = b.config["linux"]["cgroupsPath"]
    assert path in cgroups, cgroups
    ok(rt, "delete", "-f", "cr1-restored")


def test_leave_running_and_pre_dump_with_parent(
    rt: RuntimeCLI, counter: Callable[..., Bundle], workdir: Path
) -> None:
    b = counter("cr2")
    wait_count(b, 2)
    pre, final = workdir / "img" / "pre", workdir / "img" / "final"
    ok(rt, "checkpoint", "--pre-dump", "--image-path", str(pre), "cr2")
    assert status(rt, "cr2")["status"] == "running"  # type: ignore[index]
    n = wait_count(b, count(b))
    ok(rt, "checkpoint", "--leave-running", "--parent-path", "../pre",
       "--image-path", str(final), "cr2")  # fmt: skip
    assert status(rt, "cr2")["status"] == "running"  # type: ignore[index]
    assert os.readlink(final / "parent") == "../pre"
    at_dump = wait_count(b, n)  # still counting after the dump
    ok(rt, "delete", "-f", "cr2")
    (b.rootfs / "tmp" / "count").write_text("0\n")
    ok(rt, "restore", "-d", "--image-path", str(final), "--bundle", str(b.path), "cr2")
    resumed = wait_count(b, 0)
    assert resumed > 1, "restarted from the beginning"
    assert len({tag for _, tag in log_lines(b)}) == 1
    assert at_dump >= n
    ok(rt, "delete", "-f", "cr2")


TCP = (
    # (busybox nc ends the connection at the end of its stdin: give it one that lasts)
    "sleep 100000 | nc -l -p 5000 > /tmp/got & "
    # until the listener is up (port 5000 = 0x1388, state 0A = LISTEN)
    "until cat /proc/net/tcp /proc/net/tcp6 | grep -q ':1388 .* 0A '; do sleep 0.2; done; "
    "i=0; while :; do i=$((i+1)); echo $i; echo $i > /tmp/count; sleep 0.2; done "
    "| nc 127.0.0.1 5000"
)


@pytest.fixture
def netns(rt: RuntimeCLI) -> Iterator[str]:
    """A network namespace with lo up, to join by path.  (runc, and pyoci as
    runc, always restore the container's own network namespace "empty": lo
    down, so a connection inside it cannot come back; an external one, joined
    by path, is left to exist across the restore.)"""
    name = f"criu-{rt.name}-{os.getpid()}"
    existed = Path("/run/netns").exists()
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield f"/run/netns/{name}"
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)
        remove_new_empty_dirs(Path("/run/netns"), existed)


def test_established_tcp_connection_in_external_netns(
    rt: RuntimeCLI, counter: Callable[..., Bundle], workdir: Path, netns: str
) -> None:
    def join(cfg: dict[str, Any]) -> None:
        for ns in cfg["linux"]["namespaces"]:
            if ns["type"] == "network":
                ns["path"] = netns

    b = counter("cr3", TCP, join)
    wait_count(b, 3)
    img = workdir / "img-tcp"
    res = cli(rt, "checkpoint", "--image-path", str(img), "cr3")
    assert res.returncode != 0, "CRIU dumped an established connection without --tcp-established"
    assert status(rt, "cr3")["status"] == "running"  # type: ignore[index]
    ok(rt, "checkpoint", "--tcp-established", "--image-path", str(img), "cr3")
    ok(rt, "restore", "-d", "--tcp-established", "--image-path", str(img),
       "--bundle", str(b.path), "cr3")  # fmt: skip
    st = status(rt, "cr3")
    assert st is not None and st["status"] == "running", st
    # both ends of the connection are back, established (port 5000 = 0x1388, state
    # 01; busybox nc -l closed its listener on accepting).  What flows afterwards
    # is not checked: with both runtimes nothing more arrives in the guest (not
    # investigated; likely CRIU's network lock left on a namespace it did not restore).
    states = []
    for name in ("tcp", "tcp6"):
        for line in Path(f"/proc/{st['pid']}/net/{name}").read_text().splitlines()[1:]:
            f = line.split()
            if f[1].endswith(":1388") or f[2].endswith(":1388"):
                states.append(f[3])
    assert states.count("01") == 2, states
    ok(rt, "delete", "-f", "cr3")


def test_corrupt_image_leaves_nothing(
    rt: RuntimeCLI, counter: Callable[..., Bundle], workdir: Path
) -> None:
    b = counter("cr4")
    wait_count(b, 1)
    img, work = workdir / "img-bad", workdir / "work-bad"
    ok(rt, "checkpoint", "--image-path", str(img), "--work-path", str(work), "cr4")
    for page in img.glob("pages-*.img"):
        with open(page, "r+b") as f:
            f.truncate(max(0, page.stat().st_size // 2 - 1))
    (img / "inventory.img").write_bytes(b"\x00garbage")
    res = cli(rt, "restore", "-d", "--image-path", str(img),
              "--work-path", str(work), "--bundle", str(b.path), "cr4")  # fmt: skip
    assert res.returncode != 0
    assert status(rt, "cr4") is None
    assert not [p for p in rt.root.iterdir() if not p.name.startswith(".")]
    if rt.name == "pyoci":
        # (restore's stderr is /dev/null here: the --log line says why, in one line)
        lines = [json.loads(x) for x in rt.log.read_text().splitlines()]  # type: ignore[union-attr]
        failed = [x["msg"] for x in lines if "criu failed" in x["msg"]]
        assert failed and "restore.log" in failed[-1] and "\n" not in failed[-1], lines
    # leftovers (state, cgroup, processes, mounts) are checked by the fixture too
    cg = b.config["linux"]["cgroupsPath"]
    assert not Path(f"/sys/fs/cgroup{cg}").exists()
