#!/usr/bin/env python3
"""End to end through the engines: pyoci against runc (and crun), in one run.

What users time is ``ctr run``, ``podman run`` or ``docker run``, not a runtime
command alone.  This benchmark starts PRIVATE engine instances (containerd,
podman, dockerd: own sockets, roots, state, exec roots and runtime roots, all
under one temp dir; never the host's daemons; podman's own ``start``/``delete``
calls carry no --root, so that state lives in the runtimes' default roots, as
in the engine tests) and times, interleaved and
paired round by round::

    ctr run --rm --runc-binary RT IMG ID /bin/true     containerd's runc shim, an imported image
    podman --runtime RT run --rm --rootfs DIR /bin/true  through conmon
    docker run --rm --runtime RT IMG /bin/true           dockerd (--add-runtime) on that containerd

for RT = pyoci, runc and crun (crun where it can run: this hybrid host's
cgroups need what ``bench/bench.py`` does, a private mount namespace with an
empty tmpfs over /sys/fs/cgroup/unified; every runtime and engine runs there,
same conditions for all).  Each round runs every engine with every runtime,
in an order rotated from round to round.  It prints the medians, the per-round
ratios pyoci/runc (median, min, max), which runtime calls each engine made for
one container (a first, untimed pass through a wrapper between the engine and
the runtime that appends each call's argv to a file), and, in more rounds
through that wrapper, each call's wall time, CPU time and peak RSS inside the
engine.

The set-up reuses the engine tests' (tests/engines/): their containerd, podman
and dockerd drivers, configs and clean-up.  The image is built here without a
network: the busybox rootfs as a one-layer OCI archive (``ctr image import``)
and ``docker import``.  Everything is removed at the end: daemons (by pid),
shims, containers, the cgroups under one parent made for this run, the temp
dir (mounts go with the private mount namespace).

Needs the test tools (``tools/bootstrap.sh --test``: it imports tests/engines/),
containerd, podman with conmon, dockerd, runc, gcc (the wrapper is static C).

Usage (as root):  .venv/bin/python bench/engines.py [-n 10] [--engines ctr,podman,docker]
                  [--also pyoci-main=/other/venv/bin/pyoci] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent / "tests"
sys.path[:0] = [str(HERE), str(TESTS / "engines"), str(TESTS)]  # tests/engines/conftest.py

from conftest import NS, Containerd, kill_leftover_pids  # noqa: E402
from conftest import Runtime as EngineRuntime  # noqa: E402
from helpers import build_busybox_rootfs, mounts_under, remove_new_empty_dirs  # noqa: E402
from test_docker import Docker  # noqa: E402
from test_podman import Podman  # noqa: E402

from bench import enter_private_mount_ns  # noqa: E402

IMAGE = "docker.io/library/pyoci-bench:latest"
DOCKER_IMAGE = "pyoci-bench:latest"
CGROUP_PARENT = f"/pyoci-bench-{uuid.uuid4().hex[:8]}"
ENGINES = ("ctr", "podman", "docker")

# Between the engine and a runtime: runs it (fork, exec, wait4) and appends one
# line per call to LOG: wall ms, CPU ms (user+sys of the runtime and the children
# it reaped), peak RSS KiB, the call's start and end on CLOCK_MONOTONIC (ms, the
# clock of Python's time.monotonic, for the timeline), a tab, then the argv.
# Static C, so that it costs the same small amount for every runtime; it is not
# a subreaper, so a container's init is still reparented to the shim or conmon as
# without it.
WRAPPER_C = r"""
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    struct timespec t0, t1;
    struct rusage ru;
    int st = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t p = fork();
    if (p == 0) { argv[0] = REAL; execv(REAL, argv); _exit(127); }
    while (wait4(p, &st, 0, &ru) < 0 && errno == EINTR) {}
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int fd = open(LOG, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
        char line[16384];
        int n = snprintf(line, sizeof line, "%.3f %.3f %ld %.3f %.3f\t",
            (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6,
            (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3
                + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3,
            ru.ru_maxrss, t0.tv_sec * 1e3 + t0.tv_nsec / 1e6, t1.tv_sec * 1e3 + t1.tv_nsec / 1e6);
        for (int i = 1; i < argc && n < (int)sizeof line - 2; i++)
            n += snprintf(line + n, sizeof line - n, i > 1 ? " %s" : "%s", argv[i]);
        if (n > (int)sizeof line - 2) n = sizeof line - 2;
        line[n++] = '\n';
        write(fd, line, n);
        close(fd);
    }
    if (WIFSIGNALED(st)) {
        signal(WTERMSIG(st), SIG_DFL);
        raise(WTERMSIG(st));
        return 128 + WTERMSIG(st);
    }
    return WEXITSTATUS(st);
}
"""


def _c_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ------------------------------------------------------------------ the image


def _tar_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def oci_archive(rootfs: Path, dest: Path, name: str) -> Path:
    """The rootfs as a one-layer OCI image archive that ``ctr image import`` reads."""
    layer_buf = io.BytesIO()
    with tarfile.open(fileobj=layer_buf, mode="w") as layer:
        layer.add(str(rootfs), arcname=".")
    layer_tar = layer_buf.getvalue()
    layer_gz = gzip.compress(layer_tar, mtime=0)
    config = {
        "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, "amd64"),
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
        "rootfs": {
            "type": "layers",
            "diff_ids": ["sha256:" + hashlib.sha256(layer_tar).hexdigest()],
        },
    }
    blobs: dict[str, bytes] = {}

    def blob(data: bytes, media: str) -> dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"mediaType": media, "digest": f"sha256:{digest}", "size": len(data)}

    cfg_desc = blob(json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json")
    layer_desc = blob(layer_gz, "application/vnd.oci.image.layer.v1.tar+gzip")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": cfg_desc, "layers": [layer_desc]}  # fmt: skip
    man_desc = blob(json.dumps(manifest).encode(), "application/vnd.oci.image.manifest.v1+json")
    man_desc["annotations"] = {"io.containerd.image.name": name,
                               "org.opencontainers.image.ref.name": "latest"}  # fmt: skip
    index = {"schemaVersion": 2, "manifests": [man_desc]}
    with tarfile.open(dest, "w") as tar:
        _tar_member(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        _tar_member(tar, "index.json", json.dumps(index).encode())
        for digest, data in blobs.items():
            _tar_member(tar, f"blobs/sha256/{digest}", data)
    return dest


# ------------------------------------------------------------------ the runtimes


class Rt:
    """A runtime under test: its binary, and a recording wrapper of it."""

    def __init__(self, name: str, binary: str, base: Path) -> None:
        self.name = name
        self.binary = binary
        wdir = base / "rec" / name  # named as the runtime: podman keys json logging on it
        wdir.mkdir(parents=True)
        self.calls_log = base / "rec" / f"{name}.calls"
        self.wrapper = wdir / Path(binary).name
        src = wdir / "wrapper.c"
        src.write_text(WRAPPER_C)
        subprocess.run(
            ["gcc", "-O2", "-static", "-o", str(self.wrapper), str(src),
             f"-DREAL={_c_string(binary)}", f"-DLOG={_c_string(str(self.calls_log))}"],
            check=True,
        )  # fmt: skip

    def path(self, record: bool) -> str:
        return str(self.wrapper) if record else self.binary


def crun_usable(crun: str, rootfs: Path, base: Path) -> bool:
    bundle = base / "crun-probe"
    bundle.mkdir()
    (bundle / "rootfs").symlink_to(rootfs)
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["/bin/true"]
    cfg["linux"]["cgroupsPath"] = f"{CGROUP_PARENT}/crun-probe"
    (bundle / "config.json").write_text(json.dumps(cfg))
    root = base / "crun-probe-root"
    res = subprocess.run([crun, "--root", str(root), "run", "--bundle", str(bundle), "probe"],
                         capture_output=True, stdin=subprocess.DEVNULL)  # fmt: skip
    subprocess.run([crun, "--root", str(root), "delete", "--force", "probe"], capture_output=True)
    return res.returncode == 0


# ------------------------------------------------------------------ the engines


class Engines:
    """Private containerd, podman and dockerd, and one ``run --rm`` on each."""

    def __init__(self, base: Path, rootfs: Path, rts: list[Rt], which: list[str]) -> None:
        self.base = base
        self.rts = rts
        self.which = which
        self.containerd: Containerd | None = None
        self.podman: Podman | None = None
        self.docker: Docker | None = None
        self.rootfs = rootfs
        self.seq = 0
        self.span = (0.0, 0.0)  # the last run's start and end, time.monotonic() in ms

    def start(self) -> None:
        if {"ctr", "docker"} & set(self.which):
            (self.base / "ctrd").mkdir()
            self.containerd = Containerd(self.base / "ctrd", self.rootfs)
            self.containerd.start()
            if "ctr" in self.which:
                archive = oci_archive(self.rootfs, self.base / "image.tar", IMAGE)
                res = self.containerd.ctr("image", "import", str(archive), timeout=120)
                if res.code != 0:
                    raise RuntimeError(f"ctr image import: {res}")
        if "podman" in self.which:
            (self.base / "podman").mkdir()
            own = self.base / "podman" / "rootfs"  # podman writes into a --rootfs
            shutil.copytree(self.rootfs, own, symlinks=True)
            self.podman = Podman(self.base / "podman", own)
        if "docker" in self.which:
            assert self.containerd is not None
            client = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
            (self.base / "docker").mkdir()
            self.docker = Docker(self.base / "docker", self.containerd, client)
            extra = []
            for rt in self.rts:
                extra += ["--add-runtime", f"b-{rt.name}={rt.binary}",
                          "--add-runtime", f"r-{rt.name}={rt.wrapper}"]  # fmt: skip
            self.docker.start("", extra_args=extra, cgroup_parent=f"{CGROUP_PARENT}/docker")
            tar = subprocess.run(["tar", "-C", str(self.rootfs), "-c", "."], capture_output=True,
                                 check=True)  # fmt: skip
            res = self.docker("import", "-", DOCKER_IMAGE, input=tar.stdout)
            if res.code != 0:
                raise RuntimeError(f"docker import: {res}")

    def argv(self, engine: str, rt: Rt, record: bool) -> list[str]:
        self.seq += 1
        cid = f"b{self.seq}-{rt.name}"
        if engine == "ctr":
            assert self.containerd is not None
            c = self.containerd
            return ["ctr", "--address", c.address, "--namespace", NS, "run", "--rm",
                    "--runc-binary", rt.path(record),
                    "--runc-root", str(c.runtime_root),
                    "--cgroup", f"{CGROUP_PARENT}/ctrd-{cid}",
                    "--fifo-dir", str(c.fifo_dir),
                    IMAGE, cid, "/bin/true"]  # fmt: skip
        if engine == "podman":
            assert self.podman is not None
            p = self.podman
            return p.args(EngineRuntime(rt.name, rt.path(record)),
                          "run", "--rm", "--name", cid,
                          "--cgroup-parent", f"{CGROUP_PARENT}/podman",
                          "--network", "none",
                          "--rootfs", str(p.rootfs), "/bin/true")  # fmt: skip
        assert self.docker is not None
        return self.docker.args("run", "--rm", "--name", cid,
                                "--runtime", f"{'r' if record else 'b'}-{rt.name}",
                                "--network", "none", DOCKER_IMAGE, "/bin/true")  # fmt: skip

    def run(self, engine: str, rt: Rt, record: bool = False) -> float:
        argv = self.argv(engine, rt, record)
        env = self.podman.env if engine == "podman" and self.podman else None
        cwd = self.podman.base if engine == "podman" and self.podman else None
        t0 = time.perf_counter()
        m0 = time.monotonic()
        res = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, env=env,
                             cwd=cwd, timeout=120)  # fmt: skip
        wall = (time.perf_counter() - t0) * 1000
        self.span = (m0 * 1000, time.monotonic() * 1000)
        if res.returncode != 0:
            raise RuntimeError(f"{engine} with {rt.name} exited {res.returncode}: "
                               f"{res.stderr.decode(errors='replace').strip()[-800:]}")  # fmt: skip
        return wall

    def stop(self) -> list[str]:
        problems: list[str] = []
        if self.podman is not None:
            for rt in self.rts:
                with contextlib.suppress(Exception):
                    self.podman(EngineRuntime(rt.name, rt.binary), "rm", "--all", "--force")
        if self.docker is not None:
            try:
                self.docker.stop()
            except AssertionError as exc:
                problems.append(str(exc))
        if self.containerd is not None:
            try:
                self.containerd.stop()
            except AssertionError as exc:
                problems.append(str(exc))
        left = kill_leftover_pids(str(self.base))
        if left:
            problems.append(f"processes left, killed: {left}")
        return problems


# ------------------------------------------------------------------ clean-up


def remove_cgroup_parent() -> list[str]:
    """rmdir our parent cgroup (and below) in every hierarchy; report what stays."""
    left = []
    base = Path("/sys/fs/cgroup")
    for hier in base.iterdir() if base.exists() else []:
        if hier.name == "unified":
            continue  # our empty tmpfs (enter_private_mount_ns): gone with the namespace
        top = hier / CGROUP_PARENT.lstrip("/")
        if not top.is_dir():
            continue
        subs = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
        for d in [*subs, top]:
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
            else:
                left.append(str(d))
    return left


@contextlib.contextmanager
def side_dirs(problems: list[str]) -> Iterator[None]:
    """containerd's shim sockets (/run/containerd/s) and dockerd's /run/docker,
    made by the engines themselves, and the runtimes' default roots (podman's
    calls without --root): removed if new and empty; anything left in a
    default root is reported."""
    dirs = [Path("/run/containerd"), Path("/run/docker")]
    roots = [Path(f"/run/{name}") for name in ("pyoci", "runc", "crun")]
    existed = {p: p.exists() for p in [*dirs, *roots]}
    before = {p: set(p.iterdir()) if p.is_dir() else set() for p in roots}
    try:
        yield
    finally:
        for p in dirs:
            with contextlib.suppress(OSError):
                remove_new_empty_dirs(p, existed[p])
        for p in roots:
            new = (set(p.iterdir()) if p.is_dir() else set()) - before[p]
            problems += [f"left in a default root: {x}" for x in sorted(new)]
            if not existed[p] and not new:
                with contextlib.suppress(OSError):
                    p.rmdir()


# ------------------------------------------------------------------ report


def shorten(line: str, rt: Rt, base: Path) -> str:
    words = []
    for w in line.split():
        if (w.startswith("b") and w.endswith(f"-{rt.name}") and w[1:].split("-")[0].isdigit()) or (
            len(w) == 64 and all(c in "0123456789abcdef" for c in w)
        ):
            w = "ID"
        w = w.replace(str(base), "$TMP")
        words.append(w)
    return " ".join(words)


Call = tuple[float, float, int, str, float, float]  # wall, CPU, RSS, argv, start, end


def _read_calls(rt: Rt) -> list[Call]:
    out = []
    for line in rt.calls_log.read_text().splitlines() if rt.calls_log.exists() else []:
        head, _, argv = line.partition("\t")
        wall, cpu, rss, start, end = head.split()
        out.append((float(wall), float(cpu), int(rss), argv, float(start), float(end)))
    rt.calls_log.unlink(missing_ok=True)
    out.sort(key=lambda c: c[4])
    return out


def call_name(argv: str) -> str:
    verb = verb_of(argv)
    if verb == "delete" and ("--force" in argv.split() or " -f " in argv):
        return "delete --force"
    return verb


def timeline(span: tuple[float, float], calls: list[Call]) -> list[tuple[str, float]]:
    """One engine run cut at its runtime calls: (what, ms) from the engine's
    start to its exit: the engine's own work before, between and after the
    calls, and each call.  A call that ends after the engine exited (the shim's
    last delete can) makes the last piece negative."""
    pieces: list[tuple[str, float]] = []
    at, before = span[0], "engine start"
    seen: Counter[str] = Counter()
    for _wall, _cpu, _rss, argv, start, end in calls:
        name = call_name(argv)
        seen[name] += 1
        if seen[name] > 1:
            name += f" #{seen[name]}"
        pieces.append((f"{before} -> {name}", start - at))
        pieces.append((name, end - start))
        at, before = end, name
    pieces.append((f"{before} -> engine exit", span[1] - at))
    return pieces


def record_calls(eng: Engines, rts: list[Rt], base: Path) -> dict[str, dict[str, list[str]]]:
    calls: dict[str, dict[str, list[str]]] = {}
    for engine in eng.which:
        for rt in rts:
            rt.calls_log.unlink(missing_ok=True)
            eng.run(engine, rt, record=True)
            time.sleep(0.3)  # the shim's last delete can follow ctr's exit
            lines = [c[3] for c in _read_calls(rt)]
            calls.setdefault(engine, {})[rt.name] = [shorten(ln, rt, base) for ln in lines]
    return calls


Samples = dict[str, dict[str, dict[str, list[tuple[float, float, int]]]]]
Timelines = dict[str, dict[str, list[list[tuple[str, float]]]]]


def measure_calls(eng: Engines, rts: list[Rt], rounds: int) -> tuple[Samples, Timelines]:
    """Every engine x runtime ``rounds`` times through the measuring wrapper:
    engine -> runtime -> call ("create", "delete --force"...) -> samples, and
    engine -> runtime -> each run's timeline."""
    out: Samples = {}
    lines: Timelines = {}
    for i in range(rounds):
        for engine in eng.which:
            for rt in rts[i % len(rts) :] + rts[: i % len(rts)]:
                eng.run(engine, rt, record=True)
                time.sleep(0.1)  # the shim's last delete can follow ctr's exit
                calls = _read_calls(rt)
                lines.setdefault(engine, {}).setdefault(rt.name, []).append(
                    timeline(eng.span, calls)
                )
                for wall, cpu, rss, argv, _start, _end in calls:
                    per = out.setdefault(engine, {}).setdefault(rt.name, {})
                    per.setdefault(call_name(argv), []).append((wall, cpu, rss))
    return out, lines


def report_timelines(lines: Timelines, names: list[str]) -> dict[str, Any]:
    """Median ms of each piece of the runs, per engine and runtime, and pyoci
    minus each other runtime: where the end-to-end difference is spent (the
    calls themselves, or the engine's work around them, e.g. while the
    container runs between ``start`` and the first ``delete``)."""
    print("\ntimeline of one run (same rounds): median ms of each piece, in order")
    figures: dict[str, Any] = {}
    for engine, per_rt in lines.items():
        labels = list(dict.fromkeys(lbl for nm in names for tl in per_rt.get(nm, [])
                                    for lbl, _ in tl))  # fmt: skip
        print(f"  {engine}: " + "".join(f"{nm:>9}" for nm in names)
              + "".join(f"{'pyoci-' + nm:>13}" for nm in names[1:] if nm in per_rt))  # fmt: skip
        med: dict[str, dict[str, float]] = {}
        for nm in names:
            runs = per_rt.get(nm, [])
            for lbl in labels:
                got = [ms for tl in runs for piece, ms in tl if piece == lbl]
                if got and len(got) * 2 >= len(runs):  # in most runs, not an odd extra call
                    med.setdefault(nm, {})[lbl] = statistics.median(got)
        for lbl in labels:
            row = f"    {lbl:<40}"
            for nm in names:
                v = med.get(nm, {}).get(lbl)
                row += f"{v:>9.1f}" if v is not None else f"{'-':>9}"
            for nm in names[1:]:
                a, b = med.get("pyoci", {}).get(lbl), med.get(nm, {}).get(lbl)
                row += f"{a - b:>+13.1f}" if a is not None and b is not None else f"{'':>13}"
            print(row)
        figures[engine] = med
    return figures


def report_calls(samples: Samples, names: list[str], e2e: dict[str, dict[str, list[float]]],
                 rounds: int) -> dict[str, Any]:  # fmt: skip
    print(f"\nthe runtime calls inside the engines ({rounds} more rounds through the measuring"
          " wrapper): median wall ms / CPU ms / peak RSS KiB")  # fmt: skip
    figures: dict[str, Any] = {}
    for engine, per_rt in samples.items():
        verbs = list(dict.fromkeys(v for nm in names for v in per_rt.get(nm, {})))
        for verb in verbs:
            row = f"  {engine:<7}{verb:<16}"
            for nm in names:
                got = per_rt.get(nm, {}).get(verb, [])
                if got:
                    row += (f"{nm} {statistics.median(g[0] for g in got):5.1f}/"
                            f"{statistics.median(g[1] for g in got):4.1f}/"
                            f"{max(g[2] for g in got):>5}   ")  # fmt: skip
            print(row)
        row = f"  {engine:<7}{'sum per run':<16}"
        for nm in names:
            calls = per_rt.get(nm, {})
            total = sum(statistics.median(g[0] for g in got) for got in calls.values())
            share = total / statistics.median(e2e[engine][nm]) if e2e.get(engine) else 0.0
            row += f"{nm} {total:5.1f} ({share:.0%} of the run)   "
            figures.setdefault(engine, {})[nm] = {
                "calls_ms": {v: statistics.median(g[0] for g in got) for v, got in calls.items()},
                "cpu_ms": {v: statistics.median(g[1] for g in got) for v, got in calls.items()},
                "peak_rss_kb": {v: max(g[2] for g in got) for v, got in calls.items()},
                "sum_ms": total,
            }
        print(row)
    return figures


def verb_of(line: str) -> str:
    verbs = ("create", "start", "delete", "kill", "state", "run", "exec", "features", "--version")
    for w in line.split():
        if w in verbs:
            return w
    return line.split()[0] if line else "?"


def report(times: dict[str, dict[str, list[float]]], calls: dict[str, dict[str, list[str]]],
           names: list[str], n: int) -> dict[str, Any]:  # fmt: skip
    print(f"\nend to end, {n} rounds, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
          "medians in ms")  # fmt: skip
    print(f"{'engine':<10}" + "".join(f"{nm:>10}" for nm in names)
          + "".join(f"{'pyoci/' + nm:>24}" for nm in names[1:]))  # fmt: skip
    figures: dict[str, Any] = {"rounds": n, "engines": {}}
    for engine, per_rt in times.items():
        row = f"{engine:<10}" + "".join(f"{statistics.median(per_rt[nm]):>10.1f}" for nm in names)
        f: dict[str, Any] = {nm: {"median_ms": statistics.median(v), "samples_ms": v}
                             for nm, v in per_rt.items()}  # fmt: skip
        for other in names[1:]:
            ratios = [a / b for a, b in zip(per_rt["pyoci"], per_rt[other], strict=True)]
            med = statistics.median(per_rt["pyoci"]) / statistics.median(per_rt[other])
            row += (
                f"{med:>8.3f} ({statistics.median(ratios):.2f} {min(ratios):.2f}-{max(ratios):.2f})"
            )
            f[f"pyoci/{other}"] = {"ratio_of_medians": med, "per_round": ratios}
        figures["engines"][engine] = f
        print(row)
    print("  (pyoci/X: ratio of the medians, then (median of the per-round ratios, min-max))")
    targets = {"ctr": 1.08, "podman": 1.00}
    if "runc" in names:
        for engine, tgt in targets.items():
            if engine in times:
                r = statistics.median(times[engine]["pyoci"]) / statistics.median(
                    times[engine]["runc"]
                )
                print(
                    f"  {engine} pyoci/runc {r:.3f}x: {'ok' if r <= tgt else 'MISSES'} target {tgt}"
                )
        for nm in names:
            if nm not in ("pyoci", "runc", "crun"):  # --also: each against runc too
                for engine, per_rt in times.items():
                    r = statistics.median(per_rt[nm]) / statistics.median(per_rt["runc"])
                    print(f"  {engine} {nm}/runc {r:.3f}x")
    print("\nruntime calls per container (one untimed run through a recording wrapper)")
    for engine, per_rt in calls.items():
        for nm, lines in per_rt.items():
            verbs = Counter(verb_of(ln) for ln in lines)
            summary = ", ".join(f"{v} x{c}" if c > 1 else v for v, c in verbs.items())
            print(f"  {engine} / {nm}: {len(lines)} calls: {summary}")
            if nm == "pyoci":
                for ln in lines:
                    print(f"      {ln}")
    figures["calls"] = calls
    return figures


# ------------------------------------------------------------------ main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=10, help="rounds (each: every engine x runtime)")
    ap.add_argument("--pyoci", default=None, help="pyoci binary (default: next to python, PATH)")
    ap.add_argument("--engines", default=",".join(ENGINES), help="subset of ctr,podman,docker")
    ap.add_argument("--no-crun", action="store_true", help="leave crun out")
    ap.add_argument("--json", default=None, help="write the raw figures here")
    ap.add_argument("--call-rounds", type=int, default=-1,
                    help="rounds through the measuring wrapper (default n/2, >= 3)")  # fmt: skip
    ap.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="another runtime in the same rounds (e.g. pyoci-main=/other/venv/bin/pyoci)",
    )
    opts = ap.parse_args()
    if os.geteuid() != 0:
        print("bench: run as root", file=sys.stderr)
        return 2
    which = [e for e in opts.engines.split(",") if e]
    if not set(which) <= set(ENGINES):
        print(f"bench: engines are {','.join(ENGINES)}", file=sys.stderr)
        return 2
    pyoci = opts.pyoci or str(Path(sys.executable).with_name("pyoci"))
    if not os.path.exists(pyoci):
        pyoci = shutil.which("pyoci") or ""
    runc = shutil.which("runc")
    if not pyoci or not runc:
        print("bench: needs pyoci and runc", file=sys.stderr)
        return 2
    enter_private_mount_ns()
    base = Path(tempfile.mkdtemp(prefix="pyoci-engines-"))
    eng: Engines | None = None
    problems: list[str] = []
    try:
        with side_dirs(problems):
            rootfs = build_busybox_rootfs(base / "rootfs")
            rts = [Rt("pyoci", pyoci, base), Rt("runc", runc, base)]
            crun = shutil.which("crun")
            if crun and not opts.no_crun:
                if crun_usable(crun, rootfs, base):
                    rts.append(Rt("crun", crun, base))
                else:
                    print("bench: crun cannot run here; left out", file=sys.stderr)
            for spec in opts.also:
                name, _, path = spec.partition("=")
                rts.append(Rt(name, path, base))
            eng = Engines(base, rootfs, rts, which)
            eng.start()
            calls = record_calls(eng, rts, base)
            for engine in which:  # warm-up: page cache, first cgroups
                for rt in rts:
                    eng.run(engine, rt)
            times: dict[str, dict[str, list[float]]] = {
                e: {rt.name: [] for rt in rts} for e in which
            }
            for i in range(opts.n):
                for engine in which:
                    order = rts[i % len(rts) :] + rts[: i % len(rts)]
                    for rt in order:
                        times[engine][rt.name].append(eng.run(engine, rt))
            names = [rt.name for rt in rts]
            rounds = opts.call_rounds if opts.call_rounds >= 0 else max(3, opts.n // 2)
            per_call, lines = measure_calls(eng, rts, rounds) if rounds else ({}, {})
            figures = report(times, calls, names, opts.n)
            if per_call:
                figures["calls_measured"] = report_calls(per_call, names, times, rounds)
                figures["timeline_ms"] = report_timelines(lines, names)
            if opts.json:
                Path(opts.json).write_text(json.dumps(figures, indent=2))
    finally:
        if eng is not None:
            problems += eng.stop()
        time.sleep(0.2)
        problems += [f"cgroup left: {d}" for d in remove_cgroup_parent()]
        left = mounts_under(str(base))
        for m in sorted(left, key=len, reverse=True):
            subprocess.run(["umount", "-l", m], check=False)
        shutil.rmtree(base, ignore_errors=True)
    for p in problems:
        print(f"bench: clean-up: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
