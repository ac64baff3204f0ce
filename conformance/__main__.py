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


def _is_test_path(arg: str) -> bool:
    """A file or directory of tests given on the command line (not an option value)."""
    if arg.startswith("-") or len(arg) > 1024:
        return False
    head = arg.split("::")[0]
    try:
        return (head.endswith(".py") and Path(head).is_file()) or Path(head).is_dir()
    except OSError:
        return False


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
    paths = [a for a in rest if _is_test_path(a)]
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
