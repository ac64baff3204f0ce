"""Run the official OCI validation suite (opencontainers/runtime-tools) from a built tree.

This runner does not build anything: it takes the path of a runtime-tools work
tree in which ``runtimetest`` and ``validation/*/*.t`` were already built
(``RTOOLS_DIR`` or ``--rtools-dir``), runs every validation executable with
``RUNTIME=<runtime>``, each under a timeout and inside a private mount and IPC
namespace (``unshare -m -i``: one test mounts into its bundle and never
unmounts), parses the TAP it prints and reports, per file,
``name: P passed, F failed, S skipped`` and a total.

Counting rules (the files do not all speak TAP):

* ``ok N`` counts as passed, ``ok N # SKIP`` as skipped, ``not ok N`` as
  failed (``not ok N # TODO`` as skipped: TODO is a known failure by TAP rules).
* A plan ``1..N`` with fewer results printed: the missing ones count as failed.
* A non-zero exit (``util.Fatal``) or a timeout adds one failure unless a
  ``not ok`` is already there to account for it.
* A YAML diagnostic block carrying an ``error`` key that follows no result line
  (the hook files print ``t.YAML({"error": ...})`` then ``1..0``) is one failure.
  One that follows a result line only explains that result (``ok`` lines carry
  the expected error of a negative test that way).
* ``1..0`` alone and exit 0 (the hook files when no error block was printed)
  is one pass; so is silence with exit 0 from the files that report only through
  their exit status (``EXIT_STATUS_ONLY``).
* Otherwise no TAP at all and exit 0 counts as one failure: ``default.t`` and
  the other ``RuntimeInsideValidate`` files print the output of ``runtimetest``
  verbatim, which is empty when the container process never ran: nothing was
  checked.

Exit status: 0 when every file passed (or the tree is absent: then the run is
skipped with its reason), 1 when some file had failures, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

_RESULT = re.compile(r"^(not ok|ok)\b\s*(\d+)?\s*(?:-\s*)?([^#]*)(?:#\s*(\w+)\s*(.*))?$")
_PLAN = re.compile(r"^1\.\.(\d+)")

# Files that print no TAP when they pass: they report a failure only by exiting 1.
EXIT_STATUS_ONLY = frozenset({"process_capabilities_fail", "process_rlimits_fail"})


@dataclasses.dataclass
class FileResult:
    """What one validation executable reported."""

    name: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    exit_code: int | None = None
    timed_out: bool = False
    seconds: float = 0.0
    failures: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    output: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def line(self) -> str:
        return f"{self.name}: {self.passed} passed, {self.failed} failed, {self.skipped} skipped"


def parse_tap(name: str, stdout: str, stderr: str, exit_code: int | None,
              timed_out: bool = False) -> FileResult:
    """Count the results of one file from its TAP output and exit status."""
    res = FileResult(name=name, exit_code=exit_code, timed_out=timed_out,
                     output=stdout, stderr=stderr)
    plan: int | None = None
    results = 0
    attached = False  # the previous non-YAML line was a result: a YAML block belongs to it
    in_yaml = False
    yaml_lines: list[str] = []
    for raw in stdout.splitlines():
        line = raw.rstrip()
        stripped = line.strip()
        if in_yaml:
            if stripped == "...":
                in_yaml = False
                err = _yaml_error(yaml_lines)
                if not attached and err is not None:
                    # A diagnostic of its own (``t.YAML`` then exit): the file's only report.
                    res.failed += 1
                    res.failures.append("YAML error: " + err)
                attached = False
                yaml_lines = []
            else:
                yaml_lines.append(line)
            continue
        if stripped == "---":
            in_yaml = True
            continue
        m = _PLAN.match(stripped)
        if m:
            plan = int(m.group(1))
            attached = False
            continue
        m = _RESULT.match(stripped)
        if not m:
            continue
        results += 1
        attached = True
        status, _num, _desc, directive, _reason = m.groups()
        directive = (directive or "").upper()
        if directive == "SKIP" or (status == "not ok" and directive == "TODO"):
            res.skipped += 1
        elif status == "ok":
            res.passed += 1
        else:
            res.failed += 1
            res.failures.append(stripped)
    if plan is not None and results < plan:
        missing = plan - results
        res.failed += missing
        res.notes.append(f"plan 1..{plan} but only {results} results")
    if timed_out:
        res.notes.append("timed out")
        if res.failed == 0:
            res.failed += 1
    elif exit_code not in (0, None):
        res.notes.append(f"exit status {exit_code}")
        if res.failed == 0:
            res.failed += 1
    elif results == 0 and res.failed == 0:
        if plan == 0:
            res.passed += 1  # reports only through an error block, and printed none
        elif name in EXIT_STATUS_ONLY:
            res.passed += 1
        else:
            res.notes.append("no TAP output: nothing was checked")
            res.failed += 1
    if stderr.strip() and res.failed and not res.failures:
        res.failures.append("stderr: " + stderr.strip().splitlines()[-1])
    return res


_YAML_ERROR = re.compile(r'^"?error"?\s*:\s*(.*?),?$')


def _yaml_error(lines: Iterable[str]) -> str | None:
    """The ``error`` value of a YAML (or JSON-in-YAML) diagnostic block, if any."""
    for y in lines:
        m = _YAML_ERROR.match(y.strip())
        if m:
            val = m.group(1).strip()
            if val.startswith('"'):
                try:
                    val = json.loads(val)
                except ValueError:
                    val = val.strip('"')
            return " ".join(val.split("\n")[:1])
    return None


def find_tests(rtools: Path, only: Sequence[str] = ()) -> list[Path]:
    """Every built ``validation/NAME/NAME.t`` (or ``validation/NAME.t``), sorted."""
    found = sorted(
        {*rtools.glob("validation/*/*.t"), *rtools.glob("validation/*.t")},
        key=lambda p: p.stem,
    )
    found = [p for p in found if os.access(p, os.X_OK)]
    if only:
        wanted = {o.removesuffix(".t") for o in only}
        found = [p for p in found if p.stem in wanted]
    return found


_WRAPPER = """#!/bin/sh
# Written by conformance/official.py --oci-version: rewrite the bundle's ociVersion
# (crun 1.8.1 refuses any config whose ociVersion is not 1.0.x) then run the runtime.
bundle=.
prev=
for a in "$@"; do
    case "$prev" in --bundle|-b|-bundle) bundle=$a;; esac
    case "$a" in --bundle=*|-bundle=*) bundle=${a#*=};; esac
    prev=$a
done
case " $* " in
    *" create "*|*" run "*)
        [ -f "$bundle/config.json" ] && sed -i 's/"ociVersion": *"[^"]*"/"ociVersion":"%s"/' \
            "$bundle/config.json";;
esac
exec %s "$@"
"""


def version_wrapper(runtime: str, version: str, tmpdir: Path) -> str:
    """A wrapper around ``runtime`` that sets the bundle's ociVersion before create/run."""
    path = tmpdir / f"{Path(runtime).name}-oci{version}"
    path.write_text(_WRAPPER % (version, _sh_quote(runtime)))
    path.chmod(0o755)
    return str(path)


def run_one(test: Path, rtools: Path, runtime: str, timeout: float,
            tmpfs: Sequence[str]) -> FileResult:
    """Run one validation executable in a private mount + IPC namespace."""
    # The validation files call the runtime without --root: an empty /run of the
    # namespace's own holds its default root (/run/pyoci, /run/runc...) and goes
    # away with it, so nothing is left on the host.
    mounts = "mount -t tmpfs none /run && "
    mounts += "".join(f"mount -t tmpfs none {_sh_quote(p)} && " for p in tmpfs)
    script = f"{mounts}exec {_sh_quote(str(test))}"
    env = dict(os.environ, RUNTIME=runtime)
    start = time.monotonic()
    proc = subprocess.Popen(
        ["unshare", "-m", "-i", "--propagation", "private", "sh", "-c", script],
        cwd=rtools, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, errors="replace", start_new_session=True,
    )
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        # The test runs in its own session: end the whole process group we started.
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
    res = parse_tap(test.stem, out, err, None if timed_out else proc.returncode, timed_out)
    res.seconds = time.monotonic() - start
    return res


def _sh_quote(s: str) -> str:
    return "'" + s.replace("'", "'\"'\"'") + "'"


# Files outside linux_cgroups_* that use the fixed cgroup paths too.
SHARED_CGROUP = frozenset({"delete_resources", "delete_only_create_resources"})


def run_all(rtools: Path, runtime: str, tests: Sequence[Path], timeout: float, jobs: int,
            tmpfs: Sequence[str], progress: bool = True) -> list[FileResult]:
    """Run the files, ``jobs`` at a time; the files that use the suite's fixed
    cgroup paths (``/cgrouptest``, ``pids/cgrouptest``) never overlap each other."""
    cgroup_lock = threading.Lock()

    def job(t: Path) -> FileResult:
        if "cgroups" in t.stem or t.stem in SHARED_CGROUP:
            with cgroup_lock:
                r = run_one(t, rtools, runtime, timeout, tmpfs)
        else:
            r = run_one(t, rtools, runtime, timeout, tmpfs)
        if progress:
            print(f"  {r.line()}  ({r.seconds:.1f}s)", file=sys.stderr, flush=True)
        return r

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(job, tests))


def summary(results: Sequence[FileResult]) -> str:
    lines = [r.line() for r in results]
    p = sum(r.passed for r in results)
    f = sum(r.failed for r in results)
    s = sum(r.skipped for r in results)
    bad = sum(1 for r in results if not r.ok)
    lines.append(f"TOTAL: {p} passed, {f} failed, {s} skipped; "
                 f"{bad} of {len(results)} files with failures")
    return "\n".join(lines)


def details(results: Sequence[FileResult]) -> str:
    out: list[str] = []
    for r in results:
        if r.ok:
            continue
        out.append(f"== {r.name} ({', '.join(r.notes) or 'failures'})")
        out.extend(f"   {x}" for x in r.failures[:20])
        if not r.failures and r.stderr.strip():
            out.extend(f"   stderr: {x}" for x in r.stderr.strip().splitlines()[-5:])
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m conformance.official",
        description="Run opencontainers/runtime-tools validation/*.t against a runtime.",
    )
    ap.add_argument("--rtools-dir", default=os.environ.get("RTOOLS_DIR"),
                    help="a runtime-tools tree with runtimetest and validation/*.t built "
                         "(default: $RTOOLS_DIR)")
    ap.add_argument("--runtime", default=os.environ.get("RUNTIME", "pyoci"),
                    help="the runtime binary (default: $RUNTIME or pyoci)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per file")
    ap.add_argument("--jobs", "-j", type=int, default=2, help="files run at once")
    ap.add_argument("--tmpfs", action="append", default=[], metavar="PATH",
                    help="mount an empty tmpfs on PATH in the private namespace first "
                         "(crun on a hybrid host: --tmpfs /sys/fs/cgroup/unified)")
    ap.add_argument("--oci-version", metavar="V",
                    help="rewrite config.json's ociVersion to V before create/run "
                         "(crun 1.8.1 refuses 1.3.0: --oci-version 1.0.2)")
    ap.add_argument("--details", action="store_true",
                    help="print the failing TAP lines of each failing file")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--quiet", "-q", action="store_true", help="no per-file progress")
    ap.add_argument("tests", nargs="*", help="only these files (names, e.g. kill or kill.t)")
    args = ap.parse_args(argv)

    if not args.rtools_dir:
        print("skipped: no runtime-tools tree given (set RTOOLS_DIR or --rtools-dir)")
        return 0
    rtools = Path(args.rtools_dir).resolve()
    if not (rtools / "runtimetest").is_file():
        print(f"skipped: {rtools} has no built runtimetest (build it first, "
              "see conformance/README.md)")
        return 0
    tests = find_tests(rtools, args.tests)
    if not tests:
        print(f"skipped: no built validation/*.t under {rtools}")
        return 0
    runtime = shutil.which(args.runtime) or args.runtime
    if not os.access(runtime, os.X_OK):
        print(f"error: runtime {args.runtime!r} not found", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("skipped: the validation suite needs root", file=sys.stderr)
        return 0
    print(f"runtime: {runtime}; {len(tests)} files from {rtools}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="official-") as tmp:
        run_as = version_wrapper(runtime, args.oci_version, Path(tmp)) if args.oci_version \
            else runtime
        results = run_all(rtools, run_as, tests, args.timeout, args.jobs, args.tmpfs,
                          progress=not args.quiet)
    print(summary(results))
    if args.details:
        print(details(results))
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"runtime": runtime, "files": [
                {k: v for k, v in dataclasses.asdict(r).items()} for r in results]},
            indent=1))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
