#!/usr/bin/env python3
"""Run untrusted code with limits and a timeout (as root, or rootless with
cgroup delegation).

    python3 untrusted.py ROOTFS

ROOTFS: a root filesystem with ``sh`` (e.g. busybox, or an unpacked image).
"""

from __future__ import annotations

import sys

import pyoci


def judge(rootfs: str, script: str, stdin: str = "") -> str:
    """One verdict for one submission, as an online judge would give it."""
    try:
        r = pyoci.run(
            ["sh", "-c", script],
            rootfs=rootfs,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=2,  # wall clock: kills every process of the container
            memory="32m",  # no swap either
            pids=32,  # a fork bomb stays small
            cpus=0.5,
            network=False,  # only lo (the default)
        )
    except pyoci.TimeoutExpired as exc:
        return f"time limit exceeded (output so far: {exc.stdout!r})"
    if r.oom_killed:
        return f"memory limit exceeded (peak {r.memory_peak} bytes)"
    if r.returncode < 0:
        return f"killed by signal {-r.returncode}"
    return f"exit {r.returncode}: {r.stdout.strip()} (cpu {r.cpu_time:.3f}s)"


def main() -> int:
    rootfs = sys.argv[1]
    print(judge(rootfs, "read a b; echo $((a + b))", "2 3\n"))
    print(judge(rootfs, "echo started; while :; do :; done"))
    print(judge(rootfs, "x=$(head -c 67108864 /dev/zero | tr '\\0' a)"))
    print(judge(rootfs, "ping -c1 -W1 1.1.1.1 >/dev/null 2>&1 && echo online || echo offline"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
