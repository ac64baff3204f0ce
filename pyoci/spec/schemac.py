"""Build time only: compile schema/*.json into a Python module of straight-line checks.

``setup.py``'s ``build_py`` runs this and ships the result as
``pyoci/spec/_schema_compiled.py``; the CLI never imports this file.  The
generated module answers valid / invalid for config.json, the state and the
features documents exactly as ``jsonschema`` does with our schema and
pyoci.spec.validate's type rules (draft-07; ``1.0`` and ``true`` are not
integers), in a few tens of microseconds and without importing jsonschema,
re, json or typing.  The precise one-line-a-problem messages still come from
jsonschema (pyoci.spec.validate), only for documents found invalid.

Only the keywords our schema uses are supported; anything else (an unknown
keyword, ``$id``, a non-string enum, a ``$ref`` with sibling keywords, which
draft-07 ignores) fails the build, so the compiled checks can never silently
differ from jsonschema.

Patterns: each one is compiled here by CPython's own ``re`` and emitted as the
arguments of ``_sre.compile`` (the regex engine's program).  The module
rebuilds the patterns from them when the interpreter's ``_sre`` is the one
this ran under (cache tag, ``MAGIC``, ``CODESIZE``), and falls back to
``import re`` otherwise: either way it is the same engine as ``re.search``,
which is what jsonschema's ``pattern`` calls.

Usage: ``python pyoci/spec/schemac.py SCHEMA_DIR OUT.py``.  It imports nothing
from pyoci (setup.py loads it by path before the package is built).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from typing import Any

GENERATOR_VERSION = 1

# public function of the generated module -> the schema file it checks
ENTRY_POINTS = {
    "config_valid": "config-schema.json",
    "state_valid": "state-schema.json",
    "features_valid": "features-schema.json",
}

# Keywords that never affect the verdict (jsonschema ignores them when validating).
ANNOTATIONS = frozenset(
    {"$schema", "$comment", "title", "description", "examples", "default", "definitions"}
)
# The validation keywords this compiler implements: exactly those our schema uses
# (plus "else", the other half of if/then).
KEYWORDS = frozenset(
    {
        "type",
        "$ref",
        "properties",
        "required",
        "items",
        "enum",
        "const",
        "minimum",
        "maximum",
        "pattern",
        "additionalProperties",
        "minItems",
        "minLength",
        "anyOf",
        "oneOf",
        "propertyNames",
        "if",
        "then",
        "else",
    }
)

# JSON type -> (the Python test, the Python type it proves).  These are
# jsonschema's draft-07 checks with pyoci.spec.validate's integer rule (an int
# that is not a bool; 1.0 is not an integer).  "number" is not supported: our
# schema never uses it, and jsonschema's test (numbers.Number) is wider than
# int/float.
TYPE_TESTS = {
    "object": ("isinstance({v}, dict)", "dict"),
    "array": ("isinstance({v}, list)", "list"),
    "string": ("isinstance({v}, str)", "str"),
    "boolean": ("isinstance({v}, bool)", "bool"),
    "null": ("{v} is None", "None"),
    "integer": ("(isinstance({v}, int) and not isinstance({v}, bool))", "int"),
}

# keyword -> the Python type it applies to (it is ignored for any other instance)
KIND_OF = {
    "required": "dict",
    "properties": "dict",
    "additionalProperties": "dict",
    "propertyNames": "dict",
    "items": "list",
    "minItems": "list",
    "pattern": "str",
    "minLength": "str",
    "minimum": "number",
    "maximum": "number",
}
GUARDS = {
    "dict": "isinstance({v}, dict)",
    "list": "isinstance({v}, list)",
    "str": "isinstance({v}, str)",
    # jsonschema's "number" is numbers.Number minus bool; JSON gives int and float
    "number": "(isinstance({v}, (int, float)) and not isinstance({v}, bool))",
}
# Inline a $ref target with only these keywords (no subschemas) instead of calling it.
INLINE_KEYWORDS = frozenset(
    {"type", "enum", "const", "minimum", "maximum", "pattern", "minLength", "minItems"}
)

IND = "    "


class SchemaCompileError(Exception):
    """The schema uses something this compiler does not implement (or is malformed)."""


def load_schemas(schema_dir: str) -> dict[str, Any]:
    """Every ``*.json`` of *schema_dir*, by file name (our files have no ``$id``)."""
    schemas: dict[str, Any] = {}
    for name in sorted(os.listdir(schema_dir)):
        if name.endswith(".json"):
            with open(os.path.join(schema_dir, name), "rb") as f:
                schemas[name] = json.loads(f.read())
    missing = sorted(set(ENTRY_POINTS.values()) - set(schemas))
    if missing:
        raise SchemaCompileError(f"{schema_dir}: missing {', '.join(missing)}")
    return schemas


def schema_digest(schema_dir: str) -> str:
    """sha256 over the schema files and the generator version (recorded in the module)."""
    h = hashlib.sha256(f"pyoci-schemac {GENERATOR_VERSION}\n".encode())
    for name in sorted(os.listdir(schema_dir)):
        if name.endswith(".json"):
            with open(os.path.join(schema_dir, name), "rb") as f:
                data = f.read()
            h.update(f"{name} {len(data)}\n".encode())
            h.update(data)
    return h.hexdigest()


def sre_arguments(pattern: str) -> tuple[Any, ...]:
    """What ``re.compile(pattern)`` passes to ``_sre.compile``, as literal values.

    Captured from ``re._compiler`` itself rather than rebuilt from its private
    helpers, so the program is exactly the one ``re.search`` runs.
    """
    import importlib

    # private modules, without type stubs; build time only
    _sre: Any = importlib.import_module("_sre")
    compiler: Any = importlib.import_module("re._compiler")
    captured: list[tuple[Any, ...]] = []

    class Spy:
        def __getattr__(self, name: str) -> Any:
            return getattr(_sre, name)

        def compile(self, *args: Any) -> Any:
            captured.append(args)
            return _sre.compile(*args)

    saved = compiler._sre
    compiler._sre = Spy()
    try:
        compiler.compile(pattern, 0)
    finally:
        compiler._sre = saved
    if len(captured) != 1:
        raise SchemaCompileError(f"pattern {pattern!r}: re did not call _sre.compile once")
    # re's opcodes are int subclasses whose repr is their name: make them plain
    args: tuple[Any, ...] = _plain(captured[0])
    if args[0] != pattern or not _literal(args):
        raise SchemaCompileError(f"pattern {pattern!r}: unexpected _sre.compile arguments")
    if _sre.compile(*args) != re.compile(pattern):
        raise SchemaCompileError(f"pattern {pattern!r}: rebuilt program differs from re's")
    return args


def _plain(value: Any) -> Any:
    """*value* with every int subclass (but bool) made a plain int, containers kept."""
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value


def _literal(value: object) -> bool:
    """True if repr(value) evaluates back to an equal value (what we write into the module)."""
    if value is None or type(value) in (bool, int, str):
        return True
    if type(value) is list or type(value) is tuple:
        return all(_literal(v) for v in value)
    if type(value) is dict:
        return all(_literal(k) and _literal(v) for k, v in value.items())
    return False


def sre_key() -> tuple[str, int, int]:
    """What must match at run time for the recorded programs to be loadable."""
    import importlib

    _sre: Any = importlib.import_module("_sre")

    return (sys.implementation.cache_tag, _sre.MAGIC, _sre.CODESIZE)


def _unescape(token: str) -> str:
    from urllib.parse import unquote

    return unquote(token).replace("~1", "/").replace("~0", "~")


class _Compiler:
    def __init__(self, schemas: dict[str, Any]) -> None:
        self.schemas = schemas
        # (file, pointer, known type, known properties) -> function name
        self.functions: dict[tuple[str, str, str | None, frozenset[str]], str] = {}
        self.bodies: list[list[str]] = []
        self.pending: list[tuple[str, str, str, Any, str | None, frozenset[str]]] = []
        self.patterns: dict[str, str] = {}  # pattern -> variable
        self.constants: dict[tuple[str, ...], str] = {}  # frozenset literal -> name
        self.counter = 0

    # --- module-level names ---------------------------------------------------

    def pattern_var(self, pattern: str) -> str:
        if pattern not in self.patterns:
            self.patterns[pattern] = f"_P{len(self.patterns)}"
        return self.patterns[pattern]

    def set_var(self, values: tuple[str, ...], prefix: str) -> str:
        key = (prefix, *sorted(set(values)))
        if key not in self.constants:
            self.constants[key] = f"_{prefix}{len(self.constants)}"
        return self.constants[key]

    def function_for(
        self,
        file: str,
        pointer: str,
        node: Any,
        known: str | None = None,
        present: frozenset[str] = frozenset(),
    ) -> str:
        """The name of the function checking *node* (emitted once per schema location).

        *known*: the Python type every caller has already checked the instance for;
        *present*: the properties every caller has checked it has (a dict).
        """
        key = (file, pointer, known, present)
        if key not in self.functions:
            if known is None and pointer.startswith("/definitions/") and pointer.count("/") == 2:
                stem = file.removesuffix(".json").removesuffix("-schema")
                name = f"_{stem}_{pointer[13:]}"
                name = re.sub(r"[^0-9A-Za-z_]", "_", name)
            else:
                self.counter += 1
                name = f"_s{self.counter}"
            if name in self.functions.values():
                raise SchemaCompileError(f"{file}#{pointer}: function name {name} taken")
            self.functions[key] = name
            self.pending.append((name, file, pointer, node, known, present))
        return self.functions[key]

    def drain(self) -> None:
        while self.pending:
            name, file, pointer, node, known, present = self.pending.pop(0)
            body = [f"def {name}(v0):", f"{IND}# {file}#{pointer}"]
            if known is not None:
                having = f" having {', '.join(sorted(present))}" if present else ""
                body.append(f"{IND}# (only called with a {known}{having})")
            body += self.body(node, file, pointer, "v0", 0, IND, known, present)
            body.append(f"{IND}return True")
            self.bodies.append(body)

    # --- $ref ---------------------------------------------------------------

    def resolve(self, ref: object, file: str, pointer: str) -> tuple[str, str, Any]:
        if not isinstance(ref, str):
            raise SchemaCompileError(f"{file}#{pointer}: $ref is not a string")
        target, _, fragment = ref.partition("#")
        target_file = target or file
        if target_file not in self.schemas:
            raise SchemaCompileError(f"{file}#{pointer}: $ref {ref!r}: no file {target_file}")
        if fragment and not fragment.startswith("/"):
            raise SchemaCompileError(f"{file}#{pointer}: $ref {ref!r}: not a JSON pointer")
        node = self.schemas[target_file]
        for token in fragment.split("/")[1:] if fragment else []:
            part = _unescape(token)
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise SchemaCompileError(f"{file}#{pointer}: $ref {ref!r} does not resolve")
        return target_file, fragment, node

    # --- one schema node -> statements that return False when invalid -----------

    def body(
        self,
        node: Any,
        file: str,
        ptr: str,
        v: str,
        depth: int,
        ind: str,
        known: str | None,
        present: frozenset[str] = frozenset(),
    ) -> list[str]:
        """Statements (indented by *ind*) that ``return False`` if *v* fails *node*.

        *known*: the Python type *v* is already known to have, or None; *present*:
        the properties it is known to have (checked by the caller's ``required``).
        """
        if node is True:
            return []
        if node is False:
            return [f"{ind}return False"]
        if not isinstance(node, dict):
            raise SchemaCompileError(f"{file}#{ptr}: a schema must be an object or a boolean")
        unknown = sorted(set(node) - KEYWORDS - ANNOTATIONS)
        if unknown:
            raise SchemaCompileError(
                f"{file}#{ptr}: unsupported keyword {', '.join(unknown)}: "
                "teach pyoci/spec/schemac.py (and its tests) before using it"
            )
        if "$ref" in node:
            siblings = sorted(set(node) & (KEYWORDS - {"$ref"}))
            if siblings:
                raise SchemaCompileError(
                    f"{file}#{ptr}: $ref with {', '.join(siblings)}: draft-07 ignores "
                    "keywords beside $ref; wrap them in allOf or drop them"
                )
            tfile, tptr, target = self.resolve(node["$ref"], file, ptr)
            if isinstance(target, dict) and set(target) <= INLINE_KEYWORDS | ANNOTATIONS:
                return self.body(target, tfile, tptr, v, depth, ind, known)
            return [f"{ind}if not {self.function_for(tfile, tptr, target)}({v}):",
                    f"{ind}{IND}return False"]  # fmt: skip

        out: list[str] = []
        if "type" in node:
            known = self.type_check(node["type"], file, ptr, v, ind, known, out)
            if known == "never":
                return out
        if known != "dict":
            present = frozenset()
        if "enum" in node:
            self.enum_check(node["enum"], file, ptr, v, ind, known, out)
        if "const" in node:
            const = node["const"]
            if not isinstance(const, str):
                raise SchemaCompileError(f"{file}#{ptr}: const: only strings are supported")
            out += [f"{ind}if {v} != {const!r}:", f"{ind}{IND}return False"]

        # keywords of one instance type, grouped under one isinstance() guard
        for kind in ("number", "str", "list", "dict"):
            keywords = [k for k, of in KIND_OF.items() if of == kind and k in node]
            if not keywords:
                continue
            applies = known is None or known == kind or (kind == "number" and known == "int")
            if not applies:
                continue  # e.g. minLength on an instance already known to be an int
            inner = ind if known is not None else ind + IND
            lines: list[str] = []
            for keyword in keywords:
                lines += self.keyword(keyword, node, file, ptr, v, depth, inner, present)
            if not lines:
                continue
            if known is None:
                out.append(f"{ind}if {GUARDS[kind].format(v=v)}:")
            out += lines
        if known == "dict":  # the required check above passed
            present = present | frozenset(node.get("required", ()))

        for combinator in ("anyOf", "oneOf"):
            if combinator in node:
                branches = node[combinator]
                if not isinstance(branches, list) or not branches:
                    raise SchemaCompileError(f"{file}#{ptr}: {combinator} must be a list")
                calls = [
                    f"{self.function_for(file, f'{ptr}/{combinator}/{i}', sub, known, present)}"
                    f"({v})"
                    for i, sub in enumerate(branches)
                ]
                if combinator == "anyOf":
                    out.append(f"{ind}if not ({' or '.join(calls)}):")
                else:  # exactly one; jsonschema evaluates them all
                    out.append(f"{ind}if ({' + '.join(calls)}) != 1:")
                out.append(f"{ind}{IND}return False")
        if "if" in node:
            cond = self.function_for(file, f"{ptr}/if", node["if"], known, present)
            then = self.body(node.get("then", True), file, f"{ptr}/then", v, depth, ind + IND,
                             known, present)  # fmt: skip
            other = self.body(node.get("else", True), file, f"{ptr}/else", v, depth, ind + IND,
                              known, present)  # fmt: skip
            if then or other:
                out.append(f"{ind}if {cond}({v}):")
                out += then or [f"{ind}{IND}pass"]
                if other:
                    out.append(f"{ind}else:")
                    out += other
        return out

    def type_check(
        self,
        types: Any,
        file: str,
        ptr: str,
        v: str,
        ind: str,
        known: str | None,
        out: list[str],
    ) -> str | None:
        names = [types] if isinstance(types, str) else types
        if not isinstance(names, list) or not names:
            raise SchemaCompileError(f"{file}#{ptr}: type must be a name or a list of names")
        for name in names:
            if name not in TYPE_TESTS:
                raise SchemaCompileError(f"{file}#{ptr}: unsupported type {name!r}")
        proved = [TYPE_TESTS[name][1] for name in names]
        if known is not None:
            if known in proved:
                return known  # already checked by the caller
            out.append(f"{ind}return False")
            return "never"
        tests = " or ".join(TYPE_TESTS[name][0].format(v=v) for name in names)
        if len(names) > 1:
            tests = f"({tests})"
        out += [f"{ind}if not {tests}:", f"{ind}{IND}return False"]
        return proved[0] if len(proved) == 1 else None

    def enum_check(
        self, values: Any, file: str, ptr: str, v: str, ind: str, known: str | None,
        out: list[str],
    ) -> None:  # fmt: skip
        if not isinstance(values, list) or not all(isinstance(x, str) for x in values):
            # jsonschema's equal() has bool/int and container rules we do not replicate
            raise SchemaCompileError(f"{file}#{ptr}: enum: only lists of strings are supported")
        name = self.set_var(tuple(values), "E")
        if known == "str":
            out += [f"{ind}if {v} not in {name}:", f"{ind}{IND}return False"]
        elif known is None:
            out += [f"{ind}if not isinstance({v}, str) or {v} not in {name}:",
                    f"{ind}{IND}return False"]  # fmt: skip
        else:
            out.append(f"{ind}return False")

    def keyword(
        self,
        keyword: str,
        node: dict[str, Any],
        file: str,
        ptr: str,
        v: str,
        depth: int,
        ind: str,
        present: frozenset[str],
    ) -> list[str]:
        value = node[keyword]
        where = f"{file}#{ptr}/{keyword}"
        fail = f"{ind}{IND}return False"
        if keyword in ("minimum", "maximum"):
            if keyword == "maximum" and "minimum" in node:
                return []  # emitted with the minimum, as one test
            tests = []
            for name, op in (("minimum", "<"), ("maximum", ">")):
                if name not in node:
                    continue
                bound = node[name]
                if isinstance(bound, bool) or not isinstance(bound, int | float):
                    raise SchemaCompileError(f"{file}#{ptr}/{name}: not a number")
                tests.append(f"{v} {op} {bound!r}")
            return [f"{ind}if {' or '.join(tests)}:", fail] if tests else []
        if keyword in ("minLength", "minItems"):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise SchemaCompileError(f"{where}: not a non-negative integer")
            if value == 0:
                return []
            return [f"{ind}if len({v}) < {value}:", fail]
        if keyword == "pattern":
            if not isinstance(value, str):
                raise SchemaCompileError(f"{where}: not a string")
            sre_arguments(value)  # fails the build if re cannot compile it
            return [f"{ind}if {self.pattern_var(value)}({v}) is None:", fail]
        if keyword == "required":
            if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                raise SchemaCompileError(f"{where}: not a list of names")
            names = [x for x in dict.fromkeys(value) if x not in present]
            if not names:
                return []
            if len(names) == 1:
                return [f"{ind}if {names[0]!r} not in {v}:", fail]
            test = " and ".join(f"{x!r} in {v}" for x in names)
            return [f"{ind}if not ({test}):", fail]
        child = f"v{depth + 1}"
        if keyword == "properties":
            if not isinstance(value, dict):
                raise SchemaCompileError(f"{where}: not an object")
            # the required check comes first in the same block (KIND_OF's order)
            sure_of = present | frozenset(node.get("required", ()))
            lines: list[str] = []
            for prop, sub in value.items():
                sure = prop in sure_of
                inner = self.body(sub, file, f"{ptr}/properties/{prop}", child, depth + 1,
                                  ind if sure else ind + IND, None)  # fmt: skip
                if not inner:
                    continue
                if sure:
                    lines.append(f"{ind}{child} = {v}[{prop!r}]")
                else:
                    lines += [f"{ind}if {prop!r} in {v}:", f"{ind}{IND}{child} = {v}[{prop!r}]"]
                lines += inner
            return lines
        if keyword == "additionalProperties":
            known_props = node.get("properties", {})
            key = f"k{depth + 1}"
            if value is False:
                if not known_props:
                    return [f"{ind}if {v}:", fail]
                closed = self.set_var(tuple(known_props), "K")
                return [f"{ind}if not {closed}.issuperset({v}):", fail]
            inner_ind = ind + IND * (2 if known_props else 1)
            inner = self.body(value, file, f"{ptr}/additionalProperties", child, depth + 1,
                              inner_ind, None)  # fmt: skip
            if not inner:
                return []
            lines = [f"{ind}for {key}, {child} in {v}.items():"]
            if known_props:
                lines.append(f"{ind}{IND}if {key} not in {self.set_var(tuple(known_props), 'K')}:")
            return lines + inner
        if keyword == "propertyNames":
            key = f"k{depth + 1}"
            inner = self.body(value, file, f"{ptr}/propertyNames", key, depth + 1, ind + IND, None)
            return [f"{ind}for {key} in {v}:", *inner] if inner else []
        if keyword == "items":
            if isinstance(value, list):
                raise SchemaCompileError(f"{where}: the tuple form of items is not supported")
            inner = self.body(value, file, f"{ptr}/items", child, depth + 1, ind + IND, None)
            return [f"{ind}for {child} in {v}:", *inner] if inner else []
        raise AssertionError(keyword)

    # --- the module -------------------------------------------------------------

    def module(self, digest: str) -> str:
        entries: list[str] = []
        for public, file in ENTRY_POINTS.items():
            name = self.function_for(file, "", self.schemas[file])
            entries.append(f"{public} = {name}")
        self.drain()

        patterns = list(self.patterns)
        sre_args = [sre_arguments(p)[1:] for p in patterns]
        head = [
            f"# Generated by pyoci/spec/schemac.py (version {GENERATOR_VERSION}) from schema/.",
            "# Do not edit: setup.py's build_py writes it into the built package.",
            '"""Compiled schema checks: ``config_valid(doc)``, ``state_valid(doc)``,',
            "``features_valid(doc)`` return True exactly when jsonschema finds no error",
            "with pyoci's schema (the schema alone: validate_features' version order",
            'check is not part of it)."""',
            "",
            f"SCHEMA_DIGEST = {digest!r}",
            f"_SRE_KEY = {sre_key()!r}",
            f"_PATTERNS = {tuple(patterns)!r}",
            f"_SRE_ARGS = {tuple(sre_args)!r}",
            "",
            "",
            "def _build_patterns():",
            "    import sys",
            "",
            "    import _sre",
            "",
            "    if (sys.implementation.cache_tag, _sre.MAGIC, _sre.CODESIZE) == _SRE_KEY:",
            "        try:",
            '            return "sre", [_sre.compile(p, *a).search'
            " for p, a in zip(_PATTERNS, _SRE_ARGS)]",
            "        except (RuntimeError, TypeError, ValueError):  # not the same engine",
            "            pass",
            "    import re",
            "",
            '    return "re", [re.compile(p).search for p in _PATTERNS]',
            "",
            "",
            "PATTERN_ENGINE, _searches = _build_patterns()",
        ]
        if patterns:
            head.append(f"{', '.join(self.patterns.values())}, = _searches")
        head.append("del _searches")
        for key, name in self.constants.items():
            head.append(f"{name} = frozenset({sorted(key[1:])!r})")
        parts = ["\n".join(head)]
        parts += ["\n".join(body) for body in self.bodies]
        parts.append("\n".join(entries))
        return "\n\n\n".join(parts) + "\n"


def compile_schemas(schema_dir: str) -> str:
    """The source of the compiled module for the schema files in *schema_dir*."""
    compiler = _Compiler(load_schemas(schema_dir))
    source = compiler.module(schema_digest(schema_dir))
    compile(source, "_schema_compiled.py", "exec")  # a generator bug fails here, not at run time
    return source


def write_module(schema_dir: str, out_path: str) -> None:
    source = compile_schemas(schema_dir)
    tmp = f"{out_path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(source)
    os.replace(tmp, out_path)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: schemac.py SCHEMA_DIR OUT.py\n")
        return 2
    try:
        write_module(argv[0], argv[1])
    except SchemaCompileError as exc:
        sys.stderr.write(f"schemac: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
