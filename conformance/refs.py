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

Plain standard library: tests/ imports it without pyoci's own modules.
tools/test.sh and tools/cgroup-guests.sh test ``../shared`` the same way in sh.
"""

from __future__ import annotations

import os
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


def cgvm_missing() -> str | None:
    """None when the guest tool is there, else the one skip reason (for tests that boot
    a qemu guest themselves)."""
    path = cgvm_script()
    if os.access(path, os.X_OK):
        return None
    return f"{SHARED_PREFIX} (or CGVM): no qemu guest tool at {path} (../shared/tools/cgvm)"
