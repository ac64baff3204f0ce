"""Schema validation of config.json, the state document and the features document.

Each ``validate_*`` function returns one line per problem, naming the JSON path
and the rule that failed, e.g.::

    config.json: process.args: [] is too short (minItems 1)
    config.json: 'ociVersion' is a required property (required)

and never raises.  The schemas are ours (``schema/`` in the source tree,
``pyoci/schema`` once installed), written from the runtime-spec v1.3.0 text.

``jsonschema`` costs ~70 ms to import, so it is imported on first use only, and
the validators are built once per process.
"""

from __future__ import annotations

from pyoci.spec.docpath import format_path
from pyoci.spec.semver import semver_key
from pyoci.util import jsonio, lean_os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any

    from jsonschema.exceptions import ValidationError

    Path = Sequence[str | int]

CONFIG_SCHEMA = "config-schema.json"
STATE_SCHEMA = "state-schema.json"
FEATURES_SCHEMA = "features-schema.json"
SCHEMA_FILES = (
    "defs.json",
    CONFIG_SCHEMA,
    "config-linux.json",
    "config-platforms.json",
    STATE_SCHEMA,
    FEATURES_SCHEMA,
)

_COMBINATORS = ("oneOf", "anyOf")
_MAX_SHOWN = 60

_validators: dict[str, Any] = {}


def schema_dir() -> str:
    """The directory holding our schema files: installed copy first, then the source tree."""
    import pyoci

    package = lean_os.dirname(lean_os.abspath(pyoci.__file__))
    installed = lean_os.join(package, "schema")
    if lean_os.isfile(lean_os.join(installed, CONFIG_SCHEMA)):
        return installed
    return lean_os.join(lean_os.dirname(package), "schema")


def validate_config(doc: object, source: str = "config.json") -> list[str]:
    """Check *doc* (a parsed config.json) against the runtime-spec config schema."""
    return _validate(CONFIG_SCHEMA, doc, source)


def validate_state(doc: object, source: str = "state.json") -> list[str]:
    """Check *doc* against the runtime-spec state schema (what ``state`` prints)."""
    return _validate(STATE_SCHEMA, doc, source)


def validate_features(doc: object, source: str = "features.json") -> list[str]:
    """Check *doc* against the features schema, and that ociVersionMax >= ociVersionMin."""
    lines = _validate(FEATURES_SCHEMA, doc, source)
    if not lines and isinstance(doc, dict):
        low, high = doc["ociVersionMin"], doc["ociVersionMax"]
        if semver_key(high) < semver_key(low):
            lines.append(
                f"{source}: ociVersionMax: {_show(high)} is less than "
                f"ociVersionMin {_show(low)} (ociVersionMax >= ociVersionMin)"
            )
    return lines


# --- the validator ----------------------------------------------------------


def _load_schemas(directory: str) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for name in SCHEMA_FILES:
        with open(lean_os.join(directory, name), "rb") as f:
            schemas[name] = jsonio.loads(f.read())
    return schemas


def _is_integer(checker: object, instance: object) -> bool:
    # 1.0 is not an integer: Go's encoding/json (runc, containerd) rejects it
    # for an int field, and so does the draft-04 upstream schema.
    return isinstance(instance, int) and not isinstance(instance, bool)


def _build_validators() -> None:
    from jsonschema import Draft7Validator, validators
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT7

    schemas = _load_schemas(schema_dir())
    # Our files have no $id: each is known by its file name, and a
    # "defs.json#/definitions/..." reference resolves against that name.
    registry: Registry[Any] = Registry().with_resources(
        (name, Resource.from_contents(contents, default_specification=DRAFT7))
        for name, contents in schemas.items()
    )
    checker = Draft7Validator.TYPE_CHECKER.redefine("integer", _is_integer)
    cls = validators.extend(Draft7Validator, type_checker=checker)
    for name in (CONFIG_SCHEMA, STATE_SCHEMA, FEATURES_SCHEMA):
        _validators[name] = cls(schemas[name], registry=registry)


def _validate(name: str, doc: object, source: str) -> list[str]:
    try:
        if name not in _validators:
            _build_validators()
        errors = list(_validators[name].iter_errors(doc))
        return _format_all(errors, doc, source)
    except Exception as exc:  # the contract is a list of lines, never an exception
        return [f"{source}: cannot validate against {name}: {type(exc).__name__}: {exc}"]


# --- formatting -------------------------------------------------------------


def _format_all(errors: list[ValidationError], doc: object, source: str) -> list[str]:
    found: list[tuple[tuple[int, ...], bool, str, str]] = []
    for error in errors:
        path, message = _explain(error)
        combinator = error.validator in _COMBINATORS
        found.append((_position(doc, path), combinator, format_path(path), message))
    # A combinator's line is noise when the same place already has a direct error
    # (e.g. a device without "type": "required" and the oneOf over device kinds).
    direct = {where for _, combinator, where, _ in found if not combinator}
    lines: list[str] = []
    for _, combinator, where, message in sorted(found, key=lambda item: item[0]):
        if combinator and where in direct:
            continue
        line = f"{source}: {where}: {message}" if where else f"{source}: {message}"
        if line not in lines:
            lines.append(line)
    return lines


def _explain(error: ValidationError) -> tuple[list[str | int], str]:
    """The path and message of the line that reports *error*."""
    if error.validator in _COMBINATORS and error.context:
        return _explain_combinator(error)
    return list(error.absolute_path), _describe(error)


def _explain_combinator(error: ValidationError) -> tuple[list[str | int], str]:
    """Report a failed oneOf/anyOf by its most relevant alternative.

    Alternatives whose discriminator does not match (a ``const``/``enum`` on a
    direct property, or the wrong JSON type) are set aside, so a character
    device without ``major`` reports the missing ``major`` rather than
    "type is not 'p'".  When every alternative only lacks a property, the line
    lists them all ("at least one of ...").
    """
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context or ():
        index = sub.relative_schema_path[0] if sub.relative_schema_path else 0
        branches.setdefault(int(index), []).append(sub)
    here = list(error.absolute_path)
    matching = {i: errs for i, errs in branches.items() if not any(map(_mismatch, errs))}

    if not matching:
        # No alternative matches the discriminator: merge the allowed values.
        allowed: list[object] = []
        spot: list[str | int] | None = None
        for errs in branches.values():
            for sub in errs:
                if sub.validator == "const":
                    values: Iterable[object] = [sub.validator_value]
                elif sub.validator == "enum":
                    values = sub.validator_value
                else:
                    continue
                spot = list(sub.absolute_path)
                allowed.extend(v for v in values if v not in allowed)
        if spot is not None:
            shown = _show(_at(error.instance, spot[len(here) :]))
            return spot, f"{shown} is not one of {_render(allowed)} (enum)"
        matching = branches

    if len(matching) > 1 and all(
        sub.validator == "required" and len(sub.relative_path) == 0
        for errs in matching.values()
        for sub in errs
    ):
        names: list[str] = []
        for errs in matching.values():
            for sub in errs:
                names.extend(n for n in _missing(sub) if n not in names)
        listed = ", ".join(_render(n) for n in names)
        quantity = "at least one" if error.validator == "anyOf" else "one"
        return here, f"{quantity} of {listed} is required ({error.validator})"

    _, chosen = min(matching.items(), key=lambda item: (len(item[1]), item[0]))
    best = min(chosen, key=lambda sub: len(sub.relative_path))
    return _explain(best)


def _mismatch(error: ValidationError) -> bool:
    depth = len(error.relative_path)
    if error.validator in ("const", "enum"):
        return depth == 1
    return error.validator == "type" and depth == 0


def _missing(error: ValidationError) -> list[str]:
    instance = error.instance
    required = error.validator_value
    if not isinstance(instance, dict) or not isinstance(required, list):
        return []
    return [name for name in required if isinstance(name, str) and name not in instance]


def _describe(error: ValidationError) -> str:
    """One message for one failed keyword, worded by us (jsonschema's wording varies)."""
    rule = str(error.validator)
    value = error.validator_value
    shown = _show(error.instance)
    if "propertyNames" in error.relative_schema_path:
        shown = f"property name {shown}"
    if rule == "required":
        # jsonschema reports each missing property on its own, as "'name' is ..."
        return f"{error.message} (required)"
    if rule == "type":
        types = [value] if isinstance(value, str) else list(value)
        wanted = " or ".join(_render(t) for t in types)
        return f"{shown} is not of type {wanted} (type)"
    if rule == "enum":
        return f"{shown} is not one of {_render(value)} (enum)"
    if rule == "const":
        return f"{shown} is not {_render(value)} (const)"
    if rule in ("minItems", "minLength", "minProperties"):
        return f"{shown} is too short ({rule} {value})"
    if rule in ("maxItems", "maxLength", "maxProperties"):
        return f"{shown} is too long ({rule} {value})"
    if rule == "minimum":
        return f"{shown} is less than the minimum of {value} (minimum {value})"
    if rule == "maximum":
        return f"{shown} is greater than the maximum of {value} (maximum {value})"
    if rule == "pattern":
        return f"{shown} does not match {_render(value)} (pattern)"
    if rule == "uniqueItems":
        return f"{shown} has non-unique elements (uniqueItems)"
    if rule in _COMBINATORS:
        return f"{shown} matches more than one alternative ({rule})"
    return f"{error.message} ({rule})"


def _step(doc: object, part: str | int) -> tuple[int, object] | None:
    """The index of *part* in *doc* (document order) and the value there."""
    if isinstance(doc, dict) and part in doc:
        return list(doc).index(part), doc[part]
    if isinstance(doc, list) and isinstance(part, int) and 0 <= part < len(doc):
        return part, doc[part]
    return None


def _at(doc: object, path: Iterable[str | int]) -> object:
    for part in path:
        step = _step(doc, part)
        if step is None:
            return None
        doc = step[1]
    return doc


def _position(doc: object, path: Iterable[str | int]) -> tuple[int, ...]:
    """Where *path* is in the document, so lines come out in document order."""
    where: list[int] = []
    for part in path:
        step = _step(doc, part)
        if step is None:
            where.append(1 << 30)
            break
        where.append(step[0])
        doc = step[1]
    return tuple(where)


def _show(value: object) -> str:
    """The instance in a message: rendered by _render, cut to _MAX_SHOWN characters."""
    text = _render(value)
    if len(text) > _MAX_SHOWN:
        text = text[: _MAX_SHOWN - 3] + "..."
    return text


def _render(value: object) -> str:
    """A JSON value as Python would quote its strings ('x'), the rest as JSON (true, null)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_render(k)}: {_render(v)}" for k, v in value.items()) + "}"
    return repr(value)
