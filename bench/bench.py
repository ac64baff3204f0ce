#!/usr/bin/env python3
"""Benchmark pyoci against runc (and crun where it can run), in one run.

Each runtime drives the same busybox ``/bin/true`` bundle (``runc spec`` with
terminal off), interleaved: for every iteration, each runtime in turn does

* lifecycle:  create → state → start → wait (init exits) → delete → delete
  --force again (containerd's shim makes that call for a container already gone)
* kill:       create → kill KILL → wait → delete
* run:        run (foreground: create + start + wait + delete)

and the benchmark records, per phase, the wall time of the command, its CPU
time (user+sys of the command and every child it reaped, from wait4) and its
peak RSS (ru_maxrss), plus the private memory held by the waiting init
between create and start (smaps_rollup of the init).  Then throughput with 2
and 8 lifecycles in flight.  It prints medians, p90 and the paired ratios
pyoci/runc and pyoci/crun, measured in this same run.

crun refuses this host's hybrid cgroups, so the benchmark runs every runtime
in a private mount namespace where /sys/fs/cgroup/unified is covered by an
empty tmpfs (the same conditions for all three).

Usage (as root):  python3 bench/bench.py [-n 30] [--pyoci PATH] [--json out.json]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

CLONE_NEWNS = 0x00020000
MS_REC = 16384
MS_PRIVATE = 1 << 18


MEASURE = ""
MEASURE_C = r"""
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    struct timespec t0, t1;
    struct rusage ru;
    int st = 0;
    fcntl(3, F_SETFD, FD_CLOEXEC);  /* the result pipe must not reach the runtime */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t p = fork();
    if (p == 0) { execv(argv[1], argv + 1); _exit(127); }
    wait4(p, &st, 0, &ru);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double wall = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    double cpu = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3
               + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    dprintf(3, "%d %.3f %.3f %ld\n", code, wall, cpu, ru.ru_maxrss);
    return 0;
}
"""


def build_measure(base: Path) -> str:
    src = base / "measure.c"
    src.write_text(MEASURE_C)
    exe = base / "measure"
    subprocess.run(["gcc", "-O2", "-static", "-o", str(exe), str(src)], check=True)
    return str(exe)


def enter_private_mount_ns() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise OSError(ctypes.get_errno(), "make / private")
    unified = b"/sys/fs/cgroup/unified"
    if os.path.isdir(unified) and libc.mount(b"tmpfs", unified, b"tmpfs", 0, None) != 0:
        raise OSError(ctypes.get_errno(), "tmpfs over /sys/fs/cgroup/unified")


def build_bundle(base: Path) -> Path:
    bundle = base / "bundle"
    rootfs = bundle / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    for d in ("proc", "sys", "dev", "tmp", "etc"):
        (rootfs / d).mkdir()
    busybox = shutil.which("busybox") or "/bin/busybox"
    shutil.copy2(busybox, rootfs / "bin" / "busybox")
    for applet in ("true", "sh", "sleep"):
        (rootfs / "bin" / applet).symlink_to("busybox")
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["/bin/true"]
    (bundle / "config.json").write_text(json.dumps(cfg, indent=2))
    return bundle


class Runtime:
    def __init__(self, name: str, binary: str, root: Path) -> None:
        self.name = name
        self.binary = binary
        self.root = root
        self.samples: dict[str, list[tuple[float, float, int]]] = {}
        self.init_private_kb: list[int] = []

    def cmd(self, *args: str) -> tuple[int, float, float, int]:
        """Run one command: (exit code, wall ms, cpu ms, peak RSS KiB).

        Through a tiny static helper that forks and execs the command: the
        peak RSS of a process spawned straight from this (large) Python
        process would include this process's memory (the kernel records the
        old mm's high-water mark at exec).
        """
        argv = [MEASURE, self.binary, "--root", str(self.root), *args]
        devnull = os.open(os.devnull, os.O_RDWR)
        rfd, wfd = os.pipe()
        try:
            pid = os.posix_spawn(
                MEASURE,
                argv,
                os.environ,
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, devnull, 0),
                    (os.POSIX_SPAWN_DUP2, devnull, 1),
                    (os.POSIX_SPAWN_DUP2, devnull, 2),
                    (os.POSIX_SPAWN_DUP2, wfd, 3),
                ],
            )
            os.close(wfd)
            wfd = -1
            out = b""
            while chunk := os.read(rfd, 256):
                out += chunk
            os.waitpid(pid, 0)
        finally:
            os.close(devnull)
            os.close(rfd)
            if wfd >= 0:
                os.close(wfd)
        code, wall, cpu, rss = out.split()
        return int(code), float(wall), float(cpu), int(rss)

    def timed(self, phase: str, *args: str) -> int:
        code, wall, cpu, rss = self.cmd(*args)
        if code != 0:
            again = subprocess.run(
                [self.binary, "--root", str(self.root), *args], capture_output=True, text=True
            )
            raise RuntimeError(
                f"{self.name} {' '.join(args)} exited {code} (again: {again.returncode} "
                f"{again.stderr.strip()})"
            )
        self.samples.setdefault(phase, []).append((wall, cpu, rss))
        return code

    def lifecycle(self, bundle: Path, cid: str) -> None:
        pidfile = self.root.parent / f"{self.name}-{cid}.pid"
        self.timed("create", "create", "--bundle", str(bundle), "--pid-file", str(pidfile), cid)
        pid = int(pidfile.read_text())
        self.init_private_kb.append(private_kb(pid))
        self.timed("state", "state", cid)
        pidfd = os.pidfd_open(pid)
        self.timed("start", "start", cid)
        t0 = time.perf_counter()
        select.select([pidfd], [], [], 10)
        os.close(pidfd)
        self.samples.setdefault("wait", []).append(((time.perf_counter() - t0) * 1000, 0.0, 0))
        wait_gone(self, cid)
        self.timed("delete", "delete", cid)
        # containerd's shim deletes once more, a container already gone
        self.timed("delete-missing", "delete", "--force", cid)

    def kill_cycle(self, bundle: Path, cid: str) -> None:
        pidfile = self.root.parent / f"{self.name}-{cid}.pid"
        self.timed("create", "create", "--bundle", str(bundle), "--pid-file", str(pidfile), cid)
        pid = int(pidfile.read_text())
        pidfd = os.pidfd_open(pid)
        self.timed("kill", "kill", cid, "KILL")
        select.select([pidfd], [], [], 10)
        os.close(pidfd)
        wait_gone(self, cid)
        code, *_ = self.cmd("delete", cid)
        if code != 0:
            self.cmd("delete", "--force", cid)

    def run_cycle(self, bundle: Path, cid: str) -> None:
        self.timed("run", "run", "--bundle", str(bundle), cid)


def wait_gone(rt: Runtime, cid: str) -> None:
    """The init may be a zombie for a moment until its reaper collects it."""
    for _ in range(200):
        proc = subprocess.run(
            [rt.binary, "--root", str(rt.root), "state", cid], capture_output=True, text=True
        )
        if proc.returncode != 0 or '"stopped"' in proc.stdout:
            return
        time.sleep(0.005)


def private_kb(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    total = 0
    for line in text.splitlines():
        if line.startswith(("Private_Clean:", "Private_Dirty:")):
            total += int(line.split()[1])
    return total


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(q * (len(s) - 1))))
    return s[k]


def throughput(rt: Runtime, bundle: Path, inflight: int, total: int) -> float:
    """Full lifecycles per second with ``inflight`` running concurrently."""
    ids = [f"{rt.name}-tp{inflight}-{i}-{uuid.uuid4().hex[:6]}" for i in range(total)]
    lock = threading.Lock()
    errors: list[str] = []

    def worker() -> None:
        while True:
            with lock:
                if not ids:
                    return
                cid = ids.pop()
            for args in (
                ("create", "--bundle", str(bundle), cid),
                ("start", cid),
            ):
                code, *_ = rt.cmd(*args)
                if code != 0:
                    errors.append(f"{args[0]} {cid}")
            wait_gone(rt, cid)
            code, *_ = rt.cmd("delete", cid)
            if code != 0:
                rt.cmd("delete", "--force", cid)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(inflight)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        print(f"  {rt.name}: {len(errors)} errors in throughput run: {errors[:3]}", file=sys.stderr)
    return total / elapsed


def interpreter_floor(pyoci: str, n: int) -> float:
    """Median wall ms of pyoci's own interpreter doing nothing (``-I -S -c pass``):
    the floor under every pyoci command."""
    with open(pyoci, "rb") as f:
        first = f.readline().decode().strip()
    python = first[2:].split()[0] if first.startswith("#!") and "python" in first else ""
    if not python:
        python = str(Path(pyoci).with_name("python3"))
    rt = Runtime("python", python, Path("/nonexistent"))
    walls = []
    for _ in range(n):
        argv = [MEASURE, python, "-I", "-S", "-c", "pass"]
        rfd, wfd = os.pipe()
        actions = [(os.POSIX_SPAWN_DUP2, wfd, 3)]
        pid = os.posix_spawn(MEASURE, argv, os.environ, file_actions=actions)
        os.close(wfd)
        out = b""
        while chunk := os.read(rfd, 256):
            out += chunk
        os.close(rfd)
        os.waitpid(pid, 0)
        walls.append(float(out.split()[1]))
    del rt
    return statistics.median(walls)


def crun_usable(binary: str, bundle: Path, root: Path) -> bool:
    rt = Runtime("crun", binary, root)
    code, *_ = rt.cmd("run", "--bundle", str(bundle), "crun-probe")
    rt.cmd("delete", "--force", "crun-probe")
    return code == 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=30, help="containers per phase and runtime")
    ap.add_argument("--pyoci", default=None, help="pyoci binary (default: next to python, PATH)")
    ap.add_argument("--throughput", type=int, default=24, help="lifecycles per throughput run")
    ap.add_argument("--json", default=None, help="write the raw figures here")
    opts = ap.parse_args()
    if os.geteuid() != 0:
        print("bench: run as root", file=sys.stderr)
        return 2
    pyoci = opts.pyoci or str(Path(sys.executable).with_name("pyoci"))
    if not os.path.exists(pyoci):
        pyoci = shutil.which("pyoci") or ""
    if not pyoci:
        print("bench: pyoci not found (pip install . or --pyoci)", file=sys.stderr)
        return 2
    enter_private_mount_ns()
    base = Path(tempfile.mkdtemp(prefix="pyoci-bench-"))
    try:
        bundle = build_bundle(base)
        global MEASURE
        MEASURE = build_measure(base)
        runtimes = [Runtime("pyoci", pyoci, base / "pyoci-root")]
        runc = shutil.which("runc")
        if runc:
            runtimes.append(Runtime("runc", runc, base / "runc-root"))
        crun = shutil.which("crun")
        if crun and crun_usable(crun, bundle, base / "crun-root"):
            runtimes.append(Runtime("crun", crun, base / "crun-root"))
        elif crun:
            print("bench: crun cannot run here; skipping it", file=sys.stderr)
        # warm-up (page cache, first cgroup writes)
        for rt in runtimes:
            rt.run_cycle(bundle, f"{rt.name}-warmup")
            rt.samples.clear()
        for i in range(opts.n):
            for rt in runtimes:
                rt.lifecycle(bundle, f"{rt.name}-l{i}")
                rt.kill_cycle(bundle, f"{rt.name}-k{i}")
                rt.run_cycle(bundle, f"{rt.name}-r{i}")
        floor = interpreter_floor(pyoci, opts.n)
        tput: dict[str, dict[int, float]] = {}
        for inflight in (2, 8):
            for rt in runtimes:
                tput.setdefault(rt.name, {})[inflight] = throughput(
                    rt, bundle, inflight, opts.throughput
                )
        report(runtimes, tput, opts.json, floor)
    finally:
        for rt in runtimes if "runtimes" in locals() else []:
            if rt.root.exists():
                for d in rt.root.iterdir():
                    rt.cmd("delete", "--force", d.name)
        shutil.rmtree(base, ignore_errors=True)
    return 0


PHASES = ("create", "start", "wait", "delete", "delete-missing", "state", "kill", "run")


def report(
    runtimes: list[Runtime], tput: dict[str, dict[int, float]], out: str | None, floor: float
) -> None:
    figures: dict[str, Any] = {}
    for rt in runtimes:
        f: dict[str, Any] = {}
        for phase in PHASES:
            samples = rt.samples.get(phase, [])
            walls = [s[0] for s in samples]
            f[phase] = {
                "median_ms": statistics.median(walls) if walls else float("nan"),
                "p90_ms": pct(walls, 0.9),
                "cpu_ms": statistics.median([s[1] for s in samples]) if samples else float("nan"),
                "peak_rss_kb": max((s[2] for s in samples), default=0),
            }
        life = [
            sum(rt.samples[p][i][0] for p in ("create", "start", "wait", "delete"))
            for i in range(len(rt.samples.get("start", [])))
        ]
        f["lifecycle"] = {"median_ms": statistics.median(life), "p90_ms": pct(life, 0.9)}
        f["init_private_kb"] = statistics.median(rt.init_private_kb or [0])
        f["throughput_per_s"] = tput.get(rt.name, {})
        figures[rt.name] = f

    names = [rt.name for rt in runtimes]
    print(f"\n{'phase':<22}" + "".join(f"{n + ' med':>12}{'p90':>9}{'cpu':>8}" for n in names))
    for phase in (*PHASES, "lifecycle"):
        row = f"{phase:<22}"
        for n in names:
            d = figures[n][phase]
            cpu = d.get("cpu_ms", float("nan"))
            row += f"{d['median_ms']:>12.1f}{d['p90_ms']:>9.1f}{cpu:>8.1f}"
        print(row)
    print(f"\n{'peak RSS (KiB)':<22}" + "".join(f"{n:>12}" for n in names))
    for phase in ("create", "start", "state", "kill", "delete", "delete-missing", "run"):
        print(f"{phase:<22}" + "".join(f"{figures[n][phase]['peak_rss_kb']:>12}" for n in names))
    print(f"{'waiting init private':<22}" + "".join(
        f"{figures[n]['init_private_kb']:>12.0f}" for n in names))  # fmt: skip
    for k in (2, 8):
        print(f"{'throughput/s, ' + str(k) + ' in flight':<22}" + "".join(
            f"{figures[n]['throughput_per_s'].get(k, 0):>12.1f}" for n in names))  # fmt: skip

    print(f"\npyoci's interpreter alone (python -I -S -c pass): {floor:.1f} ms median")
    figures["interpreter_floor_ms"] = floor
    print("\nratios (pyoci / other, medians of this run; lower is better)")
    targets = {
        "lifecycle": 0.6, "run": 0.6, "state": 1.3, "start": 1.3, "kill": 1.3, "delete": 1.3,
    }  # fmt: skip
    for other in names[1:]:
        print(f"  vs {other}:")
        for phase in ("lifecycle", "run", "create", "start", "state", "kill", "delete",
                      "delete-missing"):  # fmt: skip
            r = figures["pyoci"][phase]["median_ms"] / figures[other][phase]["median_ms"]
            tgt = targets.get(phase) if other == "runc" else None
            mark = "" if tgt is None else ("  ok" if r <= tgt else f"  MISSES target {tgt}")
            print(f"    {phase:<14} {r:6.2f}x{mark}")
        for phase in ("create", "start", "state", "kill", "delete", "delete-missing", "run"):
            a = figures["pyoci"][phase]["peak_rss_kb"]
            b = figures[other][phase]["peak_rss_kb"]
            mark = ("  ok" if a <= b else "  MISSES target 1.0") if other == "runc" else ""
            print(f"    rss {phase:<6} {a / b if b else float('nan'):6.2f}x{mark}")
        a = figures["pyoci"]["init_private_kb"]
        b = figures[other]["init_private_kb"]
        mark = ("  ok" if a <= b else "  MISSES target 1.0") if other == "runc" else ""
        print(f"    waiting init private memory {a / b if b else float('nan'):6.2f}x{mark}")
    # what the engines call per container (bench/engines.py lists the calls)
    flows = {
        "ctr/docker": ("create", "start", "delete", "delete-missing"),
        "podman": ("create", "start", "delete"),
    }
    print("\nthe engines' runtime calls per container (sums of this run's medians, ms)")
    for flow, phases in flows.items():
        sums = {n: sum(figures[n][p]["median_ms"] for p in phases) for n in names}
        row = ", ".join(f"{n} {v:.1f}" for n, v in sums.items())
        extra = ""
        if "runc" in sums:
            extra = (f"; pyoci/runc {sums['pyoci'] / sums['runc']:.2f}x; pyoci's interpreter"
                     f" alone x{len(phases)} = {floor * len(phases):.1f}")  # fmt: skip
        print(f"  {flow:<11} {'+'.join(phases)}: {row}{extra}")
        figures[f"calls {flow}"] = sums
    if out:
        Path(out).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    sys.exit(main())
