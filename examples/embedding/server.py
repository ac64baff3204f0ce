#!/usr/bin/env python3
"""An asyncio server running N sandboxes at once: each request runs a shell
snippet in its own container, with a deadline; the event loop never blocks
(pidfd/socket readiness on the loop, no threads).

    python3 server.py ROOTFS [N]     # runs N jobs concurrently and prints them
"""

from __future__ import annotations

import asyncio
import sys
import time

import pyoci


async def handle(rootfs: str, job: int, limit: asyncio.Semaphore) -> str:
    async with limit:
        try:
            r = await pyoci.run_async(
                ["sh", "-c", f"echo job {job}; sleep 0.{job % 3}"],
                rootfs=rootfs,
                capture_output=True,
                text=True,
                timeout=5,
                memory="32m",
                pids=16,
            )
        except pyoci.TimeoutExpired:
            return f"job {job}: timed out"
        return f"{r.stdout.strip()}: exit {r.returncode} in {r.duration:.2f}s"


async def main(rootfs: str, n: int) -> int:
    limit = asyncio.Semaphore(8)  # at most 8 containers at once
    started = time.monotonic()
    for line in await asyncio.gather(*(handle(rootfs, i, limit) for i in range(n))):
        print(line)
    print(f"{n} sandboxes in {time.monotonic() - started:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 8)))
