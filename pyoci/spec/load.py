"""Loading a bundle: config.json → JSON → schema → semantic checks → the config dict.

The config stays a plain dict (the JSON as the spec defines it, camelCase
keys and all): building a dataclass model would cost more to import than the
rest of ``create``.  Every field is read where it is used.
"""

from __future__ import annotations

from pyoci.errors import ConfigError
from pyoci.util import jsonio, lean_os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# A command validates one config and exits: set (by the CLI's create and run),
# the compiled validator (~0.3 MB of code objects) is dropped once it accepted
# the config, so that what create loads next reuses that memory instead of
# touching new pages (peak RSS).  A long-lived embedder keeps it.
DROP_VALIDATOR = False
_COMPILED = "pyoci.spec._schema_compiled"


def read_config(bundle: str, name: str = "config.json") -> dict[str, Any]:
    path = lean_os.join(bundle, name)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ConfigError(f"{name}: not found in bundle {bundle}") from None
    except OSError as exc:
        raise ConfigError(f"{name}: {exc.strerror}") from None
    try:
        doc = jsonio.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}: invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{name}: the top level must be a JSON object")
    return doc


def validate(doc: dict[str, Any], bundle: str, name: str = "config.json") -> None:
    problems = problems_of(doc, bundle, name)
    if problems:
        raise ConfigError(problems)


def problems_of(doc: dict[str, Any], bundle: str, name: str = "config.json") -> list[str]:
    """Schema, then semantic checks: one line a problem, none when valid."""
    from pyoci.spec.semantic import check_config

    return schema_problems(doc, name) or check_config(doc, bundle, name)


def schema_problems(doc: object, name: str = "config.json") -> list[str]:
    """The config schema's verdict on *doc*: one line a problem, none when valid.

    The validator compiled from schema/ at build time (pyoci/spec/schemac.py)
    answers first, in microseconds; only a config it rejects goes through
    jsonschema (~70 ms to import), which words the problems.  Without the
    compiled module (a source tree), jsonschema decides alone.
    """
    from pyoci.util import log

    rejected = False
    try:
        from pyoci.spec._schema_compiled import config_valid
    except ModuleNotFoundError as exc:
        if exc.name != "pyoci.spec._schema_compiled":
            raise
    else:
        try:
            if config_valid(doc):
                if DROP_VALIDATOR:
                    del config_valid
                    _drop_compiled()
                return []
            rejected = True
        except Exception as exc:  # a bug there must not fail a create: jsonschema decides
            log.debug(f"{name}: compiled schema check failed: {type(exc).__name__}: {exc}")
    from pyoci.spec.validate import validate_config

    problems = validate_config(doc, name)
    if rejected and not problems:
        log.debug(f"{name}: the compiled schema check rejected it, jsonschema accepts it")
    return problems


def _drop_compiled() -> None:
    """Unload the compiled validator: its functions and the module's namespace
    reference each other, so clearing the namespace frees them at once (no
    garbage collection needed)."""
    import sys

    import pyoci.spec

    module = sys.modules.pop(_COMPILED, None)
    pyoci.spec.__dict__.pop("_schema_compiled", None)
    if module is not None:
        module.__dict__.clear()


def load_bundle(bundle: str) -> tuple[dict[str, Any], str, str]:
    """Return (config, absolute bundle path, absolute rootfs path)."""
    config, bundle_abs = read_bundle(bundle)
    validate(config, bundle_abs)
    return config, bundle_abs, rootfs_of(config, bundle_abs)


def read_bundle(bundle: str) -> tuple[dict[str, Any], str]:
    """The first half of ``load_bundle``: (the config, not validated yet; the
    absolute bundle path).  ``create`` forks stage 1 here, then validates."""
    bundle_abs = lean_os.abspath(bundle)
    if not lean_os.isdir(bundle_abs):
        raise ConfigError(f"bundle {bundle}: not a directory")
    return read_config(bundle_abs), bundle_abs


def rootfs_of(config: dict[str, Any], bundle_abs: str) -> str:
    """The absolute, resolved root.path (relative: to the bundle)."""
    root = (config.get("root") or {}).get("path", "")
    rootfs = root if root.startswith("/") else lean_os.join(bundle_abs, root)
    real = lean_os.realpath_existing(rootfs)
    if real is None or not lean_os.isdir(real):
        raise ConfigError(f"config.json: root.path: {root}: rootfs is not a directory")
    return real
