#!/usr/bin/env python3
"""Benchmark the embedding API against ``runc run`` and ``crun run`` through
subprocess, in one run.

Sequential (interleaved, ``-n`` rounds; busybox ``/bin/true``, one rootfs):

* ``pyoci.run()``              the one-call API (fork server + shim)
* ``Runtime`` lifecycle        create/start/wait/delete in-process (forks the caller:
                               not safe in a threaded program; for reference)
* ``runc run``, ``crun run``   ``subprocess.run([..., "run", ...])``

then throughput with ``--concurrency`` sandboxes in flight: ``pyoci.run_async``
under ``asyncio.gather`` against ``runc run``/``crun run`` through
``asyncio.create_subprocess_exec``, in ``--rounds`` interleaved rounds (this
host is shared: single rounds swing by 2x).  Last, the CPU time one container
costs each runtime (the children's rusage), which bounds throughput on a
2-core host.  It prints medians and the ratios measured in this run.

crun refuses hybrid cgroups, so (as ``bench/bench.py``) everything runs in a
private mount namespace where ``/sys/fs/cgroup/unified`` is covered by an empty
tmpfs: the same conditions for all.

Usage (as root):  python3 bench/embed.py [-n 30] [--rounds 5] [--runs 1000]
``--runs N`` also does N sequential ``pyoci.run()`` calls and prints the fd
count and RSS before and after (the leak check of issue 15).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import pyoci
from pyoci.sandbox import Config


def oci_bundle(work: Path, rootfs: Path, name: str) -> Path:
    bundle = work / name
    bundle.mkdir()
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["true"]
    cfg["root"] = {"path": str(rootfs), "readonly": True}
    (bundle / "config.json").write_text(json.dumps(cfg))
    return bundle


def enter_private_mount_ns() -> None:
    """As bench/bench.py: a mount namespace of our own where the (nearly empty)
    cgroup2 hierarchy of a hybrid host is hidden, which crun refuses."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x00020000) != 0:  # CLONE_NEWNS
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    if libc.mount(b"none", b"/", None, 0x4000 | 0x40000, None) != 0:  # MS_REC | MS_PRIVATE
        raise OSError(ctypes.get_errno(), "make / private")
    unified = b"/sys/fs/cgroup/unified"
    if os.path.isdir(unified) and libc.mount(b"tmpfs", unified, b"tmpfs", 0, None) != 0:
        raise OSError(ctypes.get_errno(), "tmpfs over /sys/fs/cgroup/unified")


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def stop_fork_server() -> None:
    """End this process's fork server: its children's CPU time is then counted
    in ours (RUSAGE_CHILDREN)."""
    from pyoci.sandbox import container as impl

    if impl._server is not None:
        impl._server[1].close()
        impl._server[2].wait()
        impl._server = None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=30)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=0)
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("run as root", file=sys.stderr)
        return 2
    from helpers import build_busybox_rootfs

    enter_private_mount_ns()
    work = Path(tempfile.mkdtemp(prefix="pyoci-bench-embed-"))
    try:
        rootfs = build_busybox_rootfs(work / "rootfs")
        root = str(work / "pyoci-root")
        peers: dict[str, tuple[str, Path, str]] = {}  # name -> binary, bundle, root
        for name in ("runc", "crun"):
            binary = shutil.which(name)
            if binary is None or shutil.which("runc") is None:
                continue
            bundle = oci_bundle(work, rootfs, f"{name}-bundle")
            probe = [binary, "--root", str(work / "probe"), "run", "-b", str(bundle), "probe"]
            if subprocess.run(probe, capture_output=True).returncode != 0:
                print("bench: crun cannot run here; skipping it", file=sys.stderr)
                continue
            peers[name] = (binary, bundle, str(work / f"{name}-root"))
        cfg = Config(["true"], rootfs=rootfs)
        rt_bundle = cfg.bundle()
        rt = pyoci.Runtime(root)

        def api_run() -> None:
            assert pyoci.run(["true"], config=cfg, root=root).returncode == 0

        def lifecycle() -> None:
            cid = f"b-{uuid.uuid4().hex[:10]}"
            st = rt.create(cid, rt_bundle.path)
            pidfd = os.pidfd_open(st.pid or 0)
            rt.start(cid)
            import select

            select.select([pidfd], [], [])
            os.close(pidfd)
            rt.delete(cid, force=True)

        def peer_run(name: str) -> Callable[[], None]:
            binary, bundle, proot = peers[name]

            def run() -> None:
                cid = f"b-{uuid.uuid4().hex[:10]}"
                subprocess.run([binary, "--root", proot, "run", "-b", str(bundle), cid],
                               check=True)

            return run

        cases: dict[str, Callable[[], None]] = {
            "pyoci.run()": api_run, "Runtime lifecycle (fork)": lifecycle,
        }
        for name in peers:
            cases[f"{name} run (subprocess)"] = peer_run(name)
        for fn in cases.values():  # warm caches
            fn()
        times: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(a.n):
            for name, fn in cases.items():
                times[name].append(timed(fn))
        print(f"sequential, n={a.n} interleaved, ms: median (p25)")
        med = {k: statistics.median(v) * 1000 for k, v in times.items()}
        p25 = {k: sorted(v)[len(v) // 4] * 1000 for k, v in times.items()}
        for name in cases:
            print(f"  {name:28s} {med[name]:7.1f} ({p25[name]:.1f})")
        for name in peers:
            peer = f"{name} run (subprocess)"
            print(f"  ratio pyoci.run()/{name} run: {med['pyoci.run()'] / med[peer]:.2f}"
                  f" (p25 {p25['pyoci.run()'] / p25[peer]:.2f}; target <= 0.5)")

        total = max(a.n, 3 * a.concurrency)
        c = a.concurrency

        async def api_many() -> None:
            sem = asyncio.Semaphore(c)

            async def one() -> None:
                async with sem:
                    await pyoci.run_async(["true"], config=cfg, root=root)

            await asyncio.gather(*(one() for _ in range(total)))

        def peer_many(name: str) -> Callable[[], object]:
            binary, bundle, proot = peers[name]

            async def many() -> None:
                sem = asyncio.Semaphore(c)

                async def one() -> None:
                    async with sem:
                        cid = f"b-{uuid.uuid4().hex[:10]}"
                        p = await asyncio.create_subprocess_exec(
                            binary, "--root", proot, "run", "-b", str(bundle), cid)
                        await p.wait()

                await asyncio.gather(*(one() for _ in range(total)))

            return lambda: asyncio.run(many())

        batches: dict[str, Callable[[], object]] = {"pyoci.run_async": lambda: asyncio.run(
            api_many())}
        for name in peers:
            batches[f"{name} (subprocess)"] = peer_many(name)
        rates: dict[str, list[float]] = {k: [] for k in batches}
        for _ in range(a.rounds):
            for name, fn in batches.items():
                rates[name].append(total / timed(fn))
        print(f"throughput, {c} in flight, {total} containers x {a.rounds} rounds:"
              " containers/s median (max)")
        for name, r in rates.items():
            print(f"  {name:20s} {statistics.median(r):7.1f} ({max(r):.1f})")
        api_rate = statistics.median(rates["pyoci.run_async"])
        for name in peers:
            ratio = api_rate / statistics.median(rates[f"{name} (subprocess)"])
            print(f"  ratio pyoci/{name} throughput: {ratio:.2f} (target >= 2)")

        # CPU time per container (what bounds throughput on few cores)
        n_cpu = max(10, a.n // 2)
        stop_fork_server()
        before = children_cpu()
        for _ in range(n_cpu):
            api_run()
        stop_fork_server()
        cpu = {"pyoci.run()": (children_cpu() - before) / n_cpu}
        for name in peers:
            before = children_cpu()
            for _ in range(n_cpu):
                peer_run(name)()
            cpu[f"{name} run"] = (children_cpu() - before) / n_cpu
        print("CPU per container (user+sys of every process it took), ms:")
        for name, secs in cpu.items():
            print(f"  {name:28s} {secs * 1000:7.1f}")

        if a.runs:
            def rss() -> int:
                with open("/proc/self/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            return int(line.split()[1])
                return 0

            api_run()  # (a fork server again: its socket is one fd)
            fds0, rss0 = len(os.listdir("/proc/self/fd")), rss()
            for _ in range(a.runs):
                api_run()
            print(f"{a.runs} sequential run(): fds {fds0} -> {len(os.listdir('/proc/self/fd'))},"
                  f" RSS {rss0} -> {rss()} kB, state dirs left:"
                  f" {[n for n in os.listdir(root) if not n.startswith('.')]}")
        rt_bundle.remove()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
