"""CI entry: the conformance suite against pyoci and against the system's runc.

    python -m conformance.ci [--pyoci PATH] [--runc PATH] [--reports DIR]

Each run uses the runtime's expectations file (``expectations/<name>.json``):
pyoci must pass every clause or skip it with a reason; runc's known deviations
are strict xfails, so runc's run proves the suite can fail (an xfail that
starts passing fails the run too). Exits non-zero if either run has an
unexpected result. runc missing: its run is skipped with a message. The
runtime-spec text missing (a bare clone: no ``../shared``, no
``$PYOCI_SPEC_DIR``): the whole suite is skipped with one line saying so,
since every test is tied to a sentence of that text (conformance/refs.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from conformance import refs


def default_pyoci() -> str:
    here = Path(sys.executable).parent / "pyoci"
    return str(here) if here.exists() else (shutil.which("pyoci") or "pyoci")


def run_suite(runtime: str, report: Path | None, extra: Sequence[str]) -> int:
    cmd = [sys.executable, "-m", "conformance", "--runtime", runtime]
    if report is not None:
        cmd += ["--report", str(report)]
    cmd += list(extra)
    print(f"\n=== conformance: {runtime}", flush=True)
    return subprocess.run(cmd, cwd=Path(__file__).resolve().parent.parent, check=False).returncode


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m conformance.ci")
    ap.add_argument("--pyoci", default=default_pyoci(), help="the pyoci command")
    ap.add_argument("--runc", default=shutil.which("runc"), help="the runc command")
    ap.add_argument("--reports", metavar="DIR", help="write <runtime>.md reports into DIR")
    args, extra = ap.parse_known_args(argv)
    if os.geteuid() != 0:
        print("conformance.ci: needs root", file=sys.stderr)
        return 2
    missing = refs.spec_missing()
    if missing:
        print(f"\n=== conformance: SKIP (pyoci and runc): {missing}")
        return 0
    reports = Path(args.reports) if args.reports else None
    if reports:
        reports.mkdir(parents=True, exist_ok=True)
    failed: list[str] = []
    for runtime in (args.pyoci, args.runc):
        if runtime is None:
            print("\n=== conformance: runc is not installed; its run is skipped")
            continue
        report = reports / f"{Path(runtime).name}.md" if reports else None
        if run_suite(runtime, report, extra) != 0:
            failed.append(runtime)
    if failed:
        print(f"\nconformance.ci: unexpected results for {', '.join(failed)}", file=sys.stderr)
        return 1
    print("\nconformance.ci: every result as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
