"""``python -m conformance --runtime PATH [--report FILE] [pytest args...]``.

Runs the conformance suite (this package) under pytest against the runtime
binary; every other argument goes to pytest (``-k``, ``-x``, ``-v``...).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m conformance",
        description="Check an OCI runtime against the MUST/SHOULD clauses of runtime-spec v1.3.0.",
    )
    ap.add_argument("--runtime", help="the runtime binary (default: pyoci)")
    ap.add_argument("--report", metavar="FILE", help="per-clause report (.md or .json)")
    ap.add_argument("--expectations", metavar="FILE",
                    help="known failures (default: conformance/expectations/<runtime>.json)")
    args, rest = ap.parse_known_args(argv)
    here = Path(__file__).resolve().parent
    paths = [a for a in rest if not a.startswith("-") and Path(a.split("::")[0]).exists()]
    pytest_args = [*([] if paths else [str(here)]), "-p", "no:cacheprovider",
                   "--rootdir", str(here.parent)]
    if args.runtime:
        pytest_args += ["--runtime", args.runtime]
    if args.report:
        pytest_args += ["--report", args.report]
    if args.expectations:
        pytest_args += ["--expectations", args.expectations]
    if not any(a.startswith("-q") or a.startswith("-v") for a in rest):
        pytest_args.append("-q")
    return int(pytest.main([*pytest_args, *rest]))


if __name__ == "__main__":
    sys.exit(main())
