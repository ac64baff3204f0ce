#!/usr/bin/env python3
"""``create`` on pure cgroup v2 with and without the init born in its cgroup.

On a pure cgroup v2 host pyoci's stage 1 spawns the container's init straight
into its cgroup (``clone3`` ``CLONE_INTO_CGROUP``, ``pyoci.native.clone3``);
without that, the parent moves stage 1 there (a ``cgroup.procs`` write, which
waits for an RCU grace period).  This runs, interleaved and in a rotating
order, ``create`` then ``delete`` of the same busybox ``/bin/true`` bundle
(``runc spec``, terminal off) with:

* ``pyoci``: as installed (clone3 into the cgroup);
* ``pyoci-move``: the same interpreter and code with the clone3 path turned
  off in-process (``pyoci.ops.container._can_spawn_into_cgroup`` returns
  False: the parent moves stage 1, as before);
* ``runc`` and ``crun`` when installed.

Both pyoci variants start through the same generated wrapper (``python3 -IS``,
as the ``pyoci`` command), so they differ only in that one decision.  Before
timing, one untimed create of each pyoci variant in a cgroup made beforehand
and watched with inotify checks what is measured: no write to its
``cgroup.procs`` with clone3, one without.

It prints per runtime the median and p90 wall time of ``create``, and the
median of the per-round ratios against ``pyoci-move`` and runc.

Needs root and a pure cgroup v2 host.  This machine is hybrid: run it in the
pure v2 guest (the guest is emulated, 20-40x slower: only the ratios mean
anything)::

    ../shared/tools/cgvm/run-in-cgv2.sh --v2 \\
        '.venv/bin/python3 -P bench/v2create.py -n 15'

or, on a hybrid host, with ``--private-v2``: in a private mount namespace
where ``/sys/fs/cgroup`` is the host's cgroup2 hierarchy alone, which every
runtime then takes for a pure v2 host (real hardware, so real grace periods;
the controllers stay on v1, so no limits are applied)::

    .venv/bin/python3 -P bench/v2create.py --private-v2 -n 30
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IN_MODIFY = 0x2
SITE = f"lib/python{sys.version_info[0]}.{sys.version_info[1]}/site-packages"

WRAPPER = """#!{python} -IS
import gc
import sys

gc.set_threshold(20000, 50, 50)
sys.path.append({site!r})
{patch}
from pyoci.cli import exit_now, main

exit_now(main(sys.argv[1:]))
"""
PATCH_MOVE = """import pyoci.ops.container as _c

_c._can_spawn_into_cgroup = lambda namespaces: False  # the parent moves stage 1
"""


def enter_private_v2() -> None:
    """A private mount namespace with the cgroup2 hierarchy alone on /sys/fs/cgroup."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def check(ret: int, what: str) -> None:
        if ret != 0:
            err = ctypes.get_errno()
            raise SystemExit(f"--private-v2: {what}: {os.strerror(err)}")

    check(libc.unshare(0x00020000), "unshare(CLONE_NEWNS)")
    check(libc.mount(b"none", b"/", None, 16384 | (1 << 18), None), "make / private")
    check(libc.umount2(b"/sys/fs/cgroup", 2), "umount /sys/fs/cgroup")  # MNT_DETACH
    check(libc.mount(b"none", b"/sys/fs/cgroup", b"cgroup2", 0, None), "mount cgroup2")


def build_bundle(base: Path) -> Path:
    bundle = base / "bundle"
    rootfs = bundle / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    for d in ("proc", "sys", "dev", "tmp", "etc"):
        (rootfs / d).mkdir()
    shutil.copy2(shutil.which("busybox") or "/bin/busybox", rootfs / "bin" / "busybox")
    (rootfs / "bin" / "true").symlink_to("busybox")
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["/bin/true"]
    (bundle / "config.json").write_text(json.dumps(cfg, indent=2))
    return bundle


def wrappers(base: Path) -> dict[str, str]:
    """The two pyoci variants: same interpreter, same start, one decision apart."""
    venv = Path(sys.executable).parent.parent
    out = {}
    for name, patch in (("pyoci", ""), ("pyoci-move", PATCH_MOVE)):
        path = base / name
        text = WRAPPER.format(python=sys.executable, site=str(venv / SITE), patch=patch)
        path.write_text(text)
        path.chmod(0o755)
        out[name] = str(path)
    return out


class Runtime:
    def __init__(self, name: str, argv: list[str], root: Path, bundle: Path) -> None:
        self.name = name
        self.argv = argv
        self.root = root
        self.bundle = bundle
        self.create_ms: list[float] = []

    def run(self, *args: str) -> float:
        # stderr to a file, not a pipe: the created init keeps create's stdio open
        with tempfile.TemporaryFile() as err:
            t0 = time.perf_counter()
            proc = subprocess.run(
                [*self.argv, "--root", str(self.root), *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                check=False,
                timeout=600,
            )
            ms = (time.perf_counter() - t0) * 1000
            if proc.returncode != 0:
                err.seek(0)
                raise SystemExit(f"{self.name} {' '.join(args)}: {err.read().decode().strip()}")
        return ms

    def create(self, cid: str, cgroups_path: str) -> float:
        cfg = json.loads((self.bundle / "config.json").read_text())
        cfg["linux"]["cgroupsPath"] = cgroups_path
        (self.bundle / "config.json").write_text(json.dumps(cfg))
        return self.run("create", "--bundle", str(self.bundle), cid)

    def delete(self, cid: str) -> None:
        self.run("delete", "--force", cid)


def procs_writes(rt: Runtime, cgroup: str) -> int:
    """Create once in a cgroup made beforehand (empty: create accepts it) and
    count the writes to its cgroup.procs (inotify IN_MODIFY)."""
    from pyoci import native

    path = Path("/sys/fs/cgroup") / cgroup.lstrip("/")
    path.mkdir(parents=True)
    fd = native.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        native.inotify_add_watch(fd, f"{path}/cgroup.procs", IN_MODIFY)
        rt.create("check", cgroup)
        writes = 0
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            data = b""
        off = 0
        while off < len(data):
            _wd, mask, _cookie, size = struct.unpack_from("iIII", data, off)
            off += 16 + size
            writes += bool(mask & IN_MODIFY)
        rt.delete("check")
    finally:
        os.close(fd)
        for p in (path, path.parent):
            try:
                p.rmdir()
            except OSError:
                pass
    return writes


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=15, help="creates per runtime")
    ap.add_argument(
        "--private-v2",
        action="store_true",
        help="hybrid host: see the cgroup2 hierarchy alone, in a private mount namespace",
    )
    ap.add_argument("--raw", action="store_true", help="also print every sample, in order")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root")
    if args.private_v2:
        enter_private_v2()
    from pyoci.cgroups import layout

    if layout.detect().mode != "v2":
        raise SystemExit("needs a pure cgroup v2 host (run it in the v2 guest, see --help)")
    base = Path(tempfile.mkdtemp(prefix="v2create-", dir="/run"))
    try:
        bundles = base / "bundles"
        runtimes = []
        for name, binary in wrappers(base).items():
            runtimes.append(Runtime(name, [binary], base / f"root-{name}",
                                    build_bundle(bundles / name)))  # fmt: skip
        for name in ("runc", "crun"):
            binary = shutil.which(name)
            if binary:
                rt = Runtime(name, [binary], base / f"root-{name}", build_bundle(bundles / name))
                try:  # once, untimed: can it run here?
                    rt.create("try", f"/v2create-{os.getpid()}-try/{name}")
                    rt.delete("try")
                except SystemExit as exc:
                    print(f"{name}: left out, it cannot create here: {exc}")
                    continue
                finally:
                    for d in (f"{name}", ""):
                        try:
                            os.rmdir(f"/sys/fs/cgroup/v2create-{os.getpid()}-try/{d}")
                        except OSError:
                            pass
                runtimes.append(rt)
        tag = f"v2create-{os.getpid()}"
        writes = {rt.name: procs_writes(rt, f"/{tag}-check/{rt.name}") for rt in runtimes[:2]}
        print(f"writes to cgroup.procs per create: {writes}")
        if writes != {"pyoci": 0, "pyoci-move": 1}:
            raise SystemExit("the variants do not differ as they should: not measuring")
        for i in range(args.n):
            order = runtimes[i % len(runtimes) :] + runtimes[: i % len(runtimes)]
            for rt in order:
                cid = f"b{i}"
                rt.create_ms.append(rt.create(cid, f"/{tag}/{rt.name}-{i}"))
                rt.delete(cid)
        try:
            os.rmdir(f"/sys/fs/cgroup/{tag}")
        except OSError:
            pass
    finally:
        shutil.rmtree(base, ignore_errors=True)

    by = {rt.name: rt for rt in runtimes}
    where = (
        "this host, private v2 view" if args.private_v2 else "pure v2 (in the guest: ratios only)"
    )
    print(f"\ncreate, {args.n} each, interleaved, ms wall, {where}")
    print("ratios: median of the per-round ratios (ratio of the medians, of the p25s)")
    head = f"{'runtime':<12} {'p25':>7} {'median':>7} {'p90':>7}"
    refs = [r for r in ("pyoci-move", "runc") if r in by]
    print(head + "".join(f" {'/' + r:>22}" for r in refs))
    for rt in runtimes:
        ms = rt.create_ms
        line = f"{rt.name:<12} {quantile(ms, 0.25):7.1f} {statistics.median(ms):7.1f}"
        line += f" {quantile(ms, 0.9):7.1f}"
        for ref in refs:
            other = by[ref].create_ms
            paired = statistics.median(a / b for a, b in zip(ms, other, strict=True))
            of_medians = statistics.median(ms) / statistics.median(other)
            of_p25 = quantile(ms, 0.25) / quantile(other, 0.25)
            line += f" {f'{paired:.2f} ({of_medians:.2f}, {of_p25:.2f})':>22}"
        print(line)
    if args.raw:
        for rt in runtimes:
            print(f"{rt.name}: {' '.join(f'{v:.0f}' for v in rt.create_ms)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
