"""Where the references that live beside the repository are, for every test.

A contributor's clone has nothing beside it; CI here has ``../shared`` (the
runtime-spec v1.3.0 text and schemas, the qemu guest tool ``tools/cgvm``).
Every test, the conformance suite and the tools look the references up here
and nowhere else, so one knob moves them:

* ``PYOCI_SPEC_DIR``: a checkout of opencontainers/runtime-spec at v1.3.0
  (default ``../shared/reference/runtime-spec`` from the repository);
* ``CGVM``: the guest script (default ``../shared/tools/cgvm/run-in-cgv2.sh``),
  read by ``tools/cgroup-guests.sh``.

A part that needs a missing reference skips with one reason that starts with
``needs ../shared`` (``spec_missing()``); ``conformance/skips.py`` allows those
skips only when ``../shared`` is absent.

``python -m conformance.refs`` prints the paths (the shell tools use it).
Plain standard library: tests/ imports it without pyoci's own modules.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SPEC_VERSION = "v1.3.0"
# The spec files the clause registry reads, and the schema the tests compare with.
SPEC_FILES = (
    "runtime.md",
    "runtime-linux.md",
    "config.md",
    "config-linux.md",
    "features.md",
    "features-linux.md",
    "schema/config-schema.json",
    "schema/state-schema.json",
)
SHARED_PREFIX = "needs ../shared"


def repo_dir() -> Path:
    return Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    """``../shared`` beside the repository (it may not exist)."""
    return (repo_dir().parent / "shared").resolve()


def have_shared() -> bool:
    return shared_dir().is_dir()


def spec_dir() -> Path:
    """``$PYOCI_SPEC_DIR``, else ``../shared/reference/runtime-spec``."""
    env = os.environ.get("PYOCI_SPEC_DIR")
    if env:
        return Path(env).resolve()
    return shared_dir() / "reference" / "runtime-spec"


def spec_missing() -> str | None:
    """None when the runtime-spec text and schemas are there, else the one skip reason."""
    d = spec_dir()
    missing = [f for f in SPEC_FILES if not (d / f).is_file()]
    if not missing:
        return None
    return (f"{SHARED_PREFIX} (or PYOCI_SPEC_DIR): runtime-spec {SPEC_VERSION} not found at {d} "
            f"(missing {', '.join(missing[:3])}{'...' if len(missing) > 3 else ''}); "
            "set PYOCI_SPEC_DIR to a checkout of opencontainers/runtime-spec")


def cgvm_script() -> Path:
    """The qemu guest tool: ``$CGVM``, else ``../shared/tools/cgvm/run-in-cgv2.sh``."""
    env = os.environ.get("CGVM")
    if env:
        return Path(env)
    return shared_dir() / "tools" / "cgvm" / "run-in-cgv2.sh"


def main(argv: list[str]) -> int:
    what = argv[0] if argv else ""
    if what == "spec":
        print(spec_dir())
    elif what == "shared":
        print(shared_dir())
        return 0 if have_shared() else 1
    elif what == "spec-missing":
        reason = spec_missing()
        if reason:
            print(reason)
            return 1
    else:
        print("usage: python -m conformance.refs spec|shared|spec-missing", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
