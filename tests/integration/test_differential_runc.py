"""Differential tests: the same bundle and the same mistakes through runc and pyoci.

runc (Debian's 1.1.5) is the reference for what clients see: the state document's
fields and transitions, exit codes, the shape of ``spec``, and what a process finds
inside the container.  Where runtime.md and runc 1.1.5 disagree, pyoci follows
runtime.md and the test says so.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    Bundle,
    RuntimeCLI,
    key_paths,
    leftovers,
    parse_mountinfo,
    parse_status,
    wait_for,
)

pytestmark = [pytest.mark.root, pytest.mark.runc]


@pytest.fixture
def both(pyoci: RuntimeCLI, runc: RuntimeCLI) -> list[RuntimeCLI]:
    return [pyoci, runc]


@pytest.fixture
def runc_bundle(bundle_factory: Callable[..., Bundle], rootfs: Path) -> Callable[..., Bundle]:
    """runc wants root.path absolute and not a symlink: point it at the shared rootfs."""

    def factory(args: list[str], mutate: Any = None, **kw: Any) -> Bundle:
        def both_mutations(cfg: dict[str, Any]) -> None:
            cfg["root"]["path"] = str(rootfs)
            if mutate is not None:
                mutate(cfg)

        return bundle_factory(args, mutate=both_mutations, **kw)

    return factory


def _status(rt: RuntimeCLI, cid: str) -> str:
    return str(rt.state(cid)["status"])


def test_state_fields_and_transitions(both: list[RuntimeCLI], runc_bundle: Any) -> None:
    seen: dict[str, list[tuple[str, set[str]]]] = {}
    docs: dict[str, dict[str, Any]] = {}
    for rt in both:
        b = runc_bundle(["sleep", "100"], mutate=lambda c: c.update(
            annotations={"org.example": "x"}))  # fmt: skip
        steps = seen.setdefault(rt.name, [])
        assert rt("create", "-b", str(b.path), "diff").code == 0
        doc = rt.state("diff")
        docs[rt.name] = doc
        steps.append((doc["status"], set(doc)))
        assert doc["bundle"] == str(b.path) and doc["id"] == "diff" and doc["pid"] > 0
        assert doc["annotations"] == {"org.example": "x"}
        rt("start", "diff", check=True)
        doc = rt.state("diff")
        steps.append((doc["status"], set(doc)))
        rt("kill", "diff", "KILL", check=True)
        assert wait_for(lambda rt=rt: _status(rt, "diff") == "stopped")
        doc = rt.state("diff")
        steps.append((doc["status"], set(doc)))
        rt("delete", "diff", check=True)
        assert rt("state", "diff").code == 1
    assert seen["pyoci"] == seen["runc"], seen
    assert [s for s, _ in seen["pyoci"]] == ["created", "running", "stopped"]
    assert docs["pyoci"]["rootfs"] == docs["runc"]["rootfs"]


def _mistakes(rt: RuntimeCLI, runc_bundle: Any, workdir: Path) -> dict[str, int]:
    """Run the same mistakes; return {what: exit code}."""
    codes: dict[str, int] = {}
    good = runc_bundle(["sleep", "100"])

    def code(name: str, *argv: str) -> None:
        codes[name] = rt(*argv).code

    code("state unknown", "state", "nope")
    code("start unknown", "start", "nope")
    code("kill unknown", "kill", "nope", "KILL")
    code("delete unknown", "delete", "nope")
    code("delete --force unknown", "delete", "--force", "nope")
    code("unknown flag", "create", "--no-such-flag", "x")
    code("unknown command", "no-such-command")
    code("missing id", "create", "-b", str(good.path))
    code("missing bundle", "create", "-b", str(workdir / "nowhere"), "x")
    bad_json = runc_bundle(["true"])
    (bad_json.path / "config.json").write_text("{not json")
    code("bad json", "create", "-b", str(bad_json.path), "x")
    no_args = runc_bundle(["true"], mutate=lambda c: c["process"].pop("args"))
    code("no args", "create", "-b", str(no_args.path), "x")
    missing_bin = runc_bundle(["/no/such/binary"])
    code("missing binary", "run", "-b", str(missing_bin.path), "x")
    rt("delete", "-f", "x")
    code("create", "create", "-b", str(good.path), "c1")
    code("create twice", "create", "-b", str(good.path), "c1")
    code("bad signal", "kill", "c1", "NOSIG")
    code("start", "start", "c1")
    code("start running", "start", "c1")
    code("delete running", "delete", "c1")
    code("kill", "kill", "c1", "9")
    wait_for(lambda: _status(rt, "c1") == "stopped")
    code("kill stopped", "kill", "c1", "9")
    code("start stopped", "start", "c1")
    code("delete stopped", "delete", "c1")
    exit3 = runc_bundle(["sh", "-c", "exit 3"])
    code("run exit 3", "run", "-b", str(exit3.path), "e3")
    return codes


def test_same_exit_codes_for_the_same_mistakes(both: list[RuntimeCLI], runc_bundle: Any,
                                               workdir: Path) -> None:  # fmt: skip
    results = {rt.name: _mistakes(rt, runc_bundle, workdir) for rt in both}
    # urfave/cli exits 3 for an unknown command; pyoci keeps 1 for every bad input
    assert results["runc"].pop("unknown command") == 3
    assert results["pyoci"].pop("unknown command") == 1
    assert results["pyoci"] == results["runc"]
    assert results["pyoci"]["run exit 3"] == 3
    assert results["pyoci"]["delete --force unknown"] == 0
    for rt in both:
        assert not leftovers(rt, workdir) or rt.name == "runc"


def test_delete_created_without_force(both: list[RuntimeCLI], runc_bundle: Any) -> None:
    """runtime.md: delete of a non-stopped container MUST fail; runc 1.1.5 deletes a
    created one anyway.  pyoci follows the spec."""
    codes = {}
    for rt in both:
        b = runc_bundle(["sleep", "100"])
        rt("create", "-b", str(b.path), "dc", check=True)
        codes[rt.name] = rt("delete", "dc").code
        rt("delete", "-f", "dc")
    assert codes == {"pyoci": 1, "runc": 0}


@pytest.mark.parametrize("rootless", [False, True])
def test_spec_has_the_same_keys(both: list[RuntimeCLI], workdir: Path, rootless: bool) -> None:
    docs = {}
    for rt in both:
        d = workdir / f"spec-{rt.name}"
        d.mkdir()
        argv = [rt.binary, "spec", "--bundle", str(d)] + (["--rootless"] if rootless else [])
        subprocess.run(argv, check=True, timeout=30)
        docs[rt.name] = json.loads((d / "config.json").read_text())
    assert key_paths(docs["pyoci"]) == key_paths(docs["runc"])
    p, r = docs["pyoci"], docs["runc"]
    assert p["process"]["capabilities"] == r["process"]["capabilities"]
    assert p["linux"]["maskedPaths"] == r["linux"]["maskedPaths"]
    assert p["linux"]["readonlyPaths"] == r["linux"]["readonlyPaths"]
    assert [m["destination"] for m in p["mounts"]] == [m["destination"] for m in r["mounts"]]
    # pyoci adds a cgroup namespace (runc's newer spec does too); otherwise the same list
    assert [n for n in p["linux"]["namespaces"] if n["type"] != "cgroup"] == r["linux"][
        "namespaces"
    ]


INSIDE = (
    "cat /proc/self/status; echo ==; cat /proc/self/mountinfo; echo ==;"
    "ls -ln /dev | tail -n +2 | awk '{print $1, $3, $4, $5, $6, $NF}'; echo ==;"
    "hostname; id; umask; pwd; env | sort; echo ==; cat /proc/self/limits; echo ==;"
    "ls -A /sys/firmware /proc/acpi 2>&1; cat /proc/self/oom_score_adj"
)


def _inside(rt: RuntimeCLI, bundle: Bundle) -> list[str]:
    res = rt("run", "-b", str(bundle.path), "inside")
    assert res.code == 0, res
    return res.out.split("==\n")


def test_same_view_from_inside(both: list[RuntimeCLI], runc_bundle: Any) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [5],
                                  "umask": 0o027}  # fmt: skip
        cfg["process"]["cwd"] = "/tmp"
        cfg["process"]["env"].append("FOO=bar")
        cfg["process"]["oomScoreAdj"] = 100
        cfg["process"]["rlimits"].append({"type": "RLIMIT_CORE", "soft": 0, "hard": 0})
        cfg["process"]["capabilities"]["ambient"] = ["CAP_NET_BIND_SERVICE"]
        cfg["process"]["capabilities"]["inheritable"] = ["CAP_NET_BIND_SERVICE"]
        cfg["hostname"] = "same"

    out = {rt.name: _inside(rt, runc_bundle(["sh", "-c", INSIDE], mutate=mutate))
           for rt in both}  # fmt: skip
    p, r = out["pyoci"], out["runc"]
    ps, rs = parse_status(p[0]), parse_status(r[0])
    for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Uid", "Gid",
                "Groups", "SigIgn", "SigBlk", "Seccomp"):  # fmt: skip
        assert ps[key] == rs[key], (key, ps[key], rs[key])
    pm, rm = parse_mountinfo(p[1]), parse_mountinfo(r[1])
    # the same mount points with the same types and per-mount options (under
    # /sys/fs/cgroup pyoci also mounts the v2 hierarchy of a hybrid host; runc 1.1.5 not)
    pm_cg = {k for k in pm if k.startswith("/sys/fs/cgroup/")}
    rm_cg = {k for k in rm if k.startswith("/sys/fs/cgroup/")}
    assert rm_cg <= pm_cg and pm_cg - rm_cg <= {"/sys/fs/cgroup/unified"}
    assert sorted(set(pm) - pm_cg) == sorted(set(rm) - rm_cg)
    for point in rm:
        assert pm[point].fstype == rm[point].fstype, point
        if point == "/sys/fs/cgroup":
            continue  # "ro" in the config: runc 1.1.5 leaves this tmpfs rw, pyoci does not
        popts, ropts = pm[point].options, rm[point].options
        if point in ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"):
            # readonlyPaths: pyoci also sets nosuid/nodev/noexec (as newer runc does)
            popts = popts - {"nosuid", "nodev", "noexec"}
        assert popts == ropts, (point, pm[point], rm[point])
    assert sorted(p[2].splitlines()) == sorted(r[2].splitlines())  # /dev
    assert p[3] == r[3]  # hostname, id, umask, cwd, env
    assert p[4] == r[4]  # limits
    assert p[5] == r[5]  # masked paths, oom score


@pytest.mark.parametrize("args,expected", [(["sh", "-c", "exit 7"], 7), (["true"], 0),
                                           (["false"], 1)])  # fmt: skip
def test_run_exit_codes(both: list[RuntimeCLI], runc_bundle: Any, args: list[str],
                        expected: int) -> None:  # fmt: skip
    for rt in both:
        b = runc_bundle(args)
        assert rt("run", "-b", str(b.path), "rc").code == expected, rt.name


def test_list_and_state_json_shape(both: list[RuntimeCLI], runc_bundle: Any) -> None:
    shapes = {}
    for rt in both:
        b = runc_bundle(["sleep", "100"])
        rt("create", "-b", str(b.path), "shape", check=True)
        listed = json.loads(rt("list", "--format", "json").out)
        shapes[rt.name] = (set(listed[0]), rt("list", "-q").out,
                           rt("list").out.splitlines()[0].split())  # fmt: skip
        rt("delete", "-f", "shape", check=True)
    assert shapes["pyoci"] == shapes["runc"]


def test_bind_mount_options_as_runc(both: list[RuntimeCLI], runc_bundle: Any,
                                    workdir: Path) -> None:  # fmt: skip
    """ro/nosuid/... on an rbind apply to the top mount only (runc's bind remount); the
    same per-mount options as runc for binds, tmpfs and atime flags."""
    src = workdir / "src"
    (src / "sub").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "sub", str(src / "sub")], check=True)
    try:

        def mutate(cfg: dict[str, Any]) -> None:
            def m(dest: str, typ: str, source: str, *opts: str) -> dict[str, Any]:
                return {"destination": dest, "type": typ, "source": source,
                        "options": list(opts)}  # fmt: skip

            cfg["mounts"] += [
                m("/b/ro", "bind", str(src), "rbind", "ro", "nosuid"),
                m("/b/plain", "bind", str(src), "bind", "nodev", "noexec"),
                m("/b/rel", "bind", str(src), "rbind", "relatime", "ro"),
                m("/t/strict", "tmpfs", "tmpfs", "strictatime", "nosuid"),
                m("/t/noatime", "tmpfs", "tmpfs", "noatime", "nodiratime", "ro"),
            ]

        tables = {}
        for rt in both:
            b = runc_bundle(["cat", "/proc/self/mountinfo"], mutate=mutate)
            res = rt("run", "-b", str(b.path), "binds")
            assert res.code == 0, res
            tables[rt.name] = parse_mountinfo(res.out)
        for point in ("/b/ro", "/b/ro/sub", "/b/plain", "/b/rel", "/b/rel/sub", "/t/strict",
                      "/t/noatime"):  # fmt: skip
            p, r = tables["pyoci"].get(point), tables["runc"].get(point)
            assert p is not None and r is not None, point
            assert p.options == r.options, (point, p, r)
        assert "/b/plain/sub" not in tables["pyoci"] and "/b/plain/sub" not in tables["runc"]
    finally:
        subprocess.run(["umount", str(src / "sub")], check=False)
