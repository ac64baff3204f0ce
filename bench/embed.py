#!/usr/bin/env python3
"""Benchmark the embedding API against runc through subprocess, in one run.

Interleaved, ``-n`` times each (busybox ``/bin/true``, the same rootfs):

* ``pyoci.run()``              the one-call API (exec'd shim per container)
* ``Runtime`` lifecycle        create/start/wait/delete in-process (forks the caller:
                               not safe in a threaded program; the shim's baseline)
* ``runc run`` (subprocess)    ``subprocess.run(["runc", "run", ...])``

then the throughput of 8 sandboxes in flight: ``pyoci.run_async`` under
``asyncio.gather`` against 8 ``runc run`` through ``asyncio.create_subprocess_exec``.
It prints medians and the ratios pyoci/runc measured in this run.  (crun refuses
this host's hybrid cgroups; ``bench/bench.py`` shows how it is run there.)

Usage (as root):  python3 bench/embed.py [-n 30] [--runs 1000]
``--runs N`` also does N sequential ``pyoci.run()`` calls and prints the fd
count and RSS before and after (the leak check of issue 15).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import pyoci
from pyoci.sandbox import Config


def runc_bundle(work: Path, rootfs: Path) -> Path:
    bundle = work / "runc-bundle"
    bundle.mkdir()
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["true"]
    cfg["root"] = {"path": str(rootfs), "readonly": True}
    (bundle / "config.json").write_text(json.dumps(cfg))
    return bundle


def timed(fn: object) -> float:
    t = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--runs", type=int, default=0)
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("run as root", file=sys.stderr)
        return 2
    from helpers import build_busybox_rootfs

    work = Path(tempfile.mkdtemp(prefix="pyoci-bench-embed-"))
    try:
        rootfs = build_busybox_rootfs(work / "rootfs")
        root = str(work / "pyoci-root")
        runc_root = str(work / "runc-root")
        have_runc = shutil.which("runc") is not None
        rb = runc_bundle(work, rootfs) if have_runc else None
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

        def runc_run() -> None:
            cid = f"b-{uuid.uuid4().hex[:10]}"
            subprocess.run(["runc", "--root", runc_root, "run", "-b", str(rb), cid], check=True)

        cases = {"pyoci.run()": api_run, "Runtime lifecycle (fork)": lifecycle}
        if have_runc:
            cases["runc run (subprocess)"] = runc_run
        for fn in cases.values():  # warm caches
            fn()
        times: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(a.n):
            for name, fn in cases.items():
                times[name].append(timed(fn))
        print(f"sequential, n={a.n}, median ms:")
        med = {k: statistics.median(v) * 1000 for k, v in times.items()}
        for name, ms in med.items():
            print(f"  {name:28s} {ms:8.1f}")
        shim_cost = med["pyoci.run()"] - med["Runtime lifecycle (fork)"]
        print(f"  shim cost (run() - in-process lifecycle): {shim_cost:+.1f} ms")
        if have_runc:
            ratio = med["pyoci.run()"] / med["runc run (subprocess)"]
            print(f"  ratio pyoci.run()/runc run: {ratio:.2f}"
                  " (target <= 0.5)")

        total = a.n * 2
        c = a.concurrency

        async def api_many() -> None:
            sem = asyncio.Semaphore(c)

            async def one() -> None:
                async with sem:
                    await pyoci.run_async(["true"], config=cfg, root=root)

            await asyncio.gather(*(one() for _ in range(total)))

        async def runc_many() -> None:
            sem = asyncio.Semaphore(c)

            async def one() -> None:
                async with sem:
                    cid = f"b-{uuid.uuid4().hex[:10]}"
                    p = await asyncio.create_subprocess_exec(
                        "runc", "--root", runc_root, "run", "-b", str(rb), cid)
                    await p.wait()

            await asyncio.gather(*(one() for _ in range(total)))

        t_api = timed(lambda: asyncio.run(api_many()))
        print(f"throughput, {c} in flight, {total} containers:")
        print(f"  pyoci.run_async   {total / t_api:7.1f} /s")
        if have_runc:
            t_runc = timed(lambda: asyncio.run(runc_many()))
            print(f"  runc (subprocess) {total / t_runc:7.1f} /s")
            print(f"  ratio pyoci/runc throughput: {t_runc / t_api:.2f} (target >= 2)")

        if a.runs:
            def rss() -> int:
                with open("/proc/self/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            return int(line.split()[1])
                return 0

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
