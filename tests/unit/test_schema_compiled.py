"""The schema validator compiled at build time (pyoci/spec/schemac.py) against jsonschema.

The compiled module must give jsonschema's verdict (with our schema and
pyoci.spec.validate's integer rule) on every document: the spec's test
instances, our corpus, the default configs, a deterministic sweep of
mutations over every node of the valid corpus, and thousands of documents
generated from the schema by hypothesis.  Its patterns must behave as
``re.search``, it must import nothing heavy, and ``load.validate`` must still
reject with jsonschema's words.

The module is generated here from the source tree's schema/ (into tmp), so
these tests hold for the schema as it is now; the installed copy is checked
against the same digest.  No root needed.
"""

from __future__ import annotations

import copy
import functools
import glob
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance import refs
from pyoci.spec import schemac, validate
from pyoci.spec.validate import schema_dir

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC_DIR = str(refs.spec_dir())  # $PYOCI_SPEC_DIR or ../shared/reference/runtime-spec
SPEC_TESTS = os.path.join(SPEC_DIR, "schema", "test")
NO_SPEC = refs.spec_missing() or f"no spec files under {SPEC_DIR}/schema"
CORPUS = os.path.join(REPO, "tests", "data", "configs")
RUNC_SPEC = os.path.join(CORPUS, "valid", "runc-spec.json")

KINDS = {
    "config": validate.CONFIG_SCHEMA,
    "state": validate.STATE_SCHEMA,
    "features": validate.FEATURES_SCHEMA,
}
HEAVY = ("jsonschema", "referencing", "re", "json", "typing", "enum", "dataclasses")

# Deterministic by default (CI); PYOCI_SCHEMA_EXPLORE=N runs N times the examples at random.
EXPLORE = int(os.environ.get("PYOCI_SCHEMA_EXPLORE", "0") or 0)


def examples(n: int) -> Any:
    return settings(
        max_examples=n * max(EXPLORE, 1),
        derandomize=not EXPLORE,
        database=None,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )


def read_json(path: str) -> Any:
    with open(path) as f:
        return json.load(f)


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the two validators ---------------------------------------------------------


@pytest.fixture(scope="session")
def generated_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("schemac")
    schemac.write_module(schema_dir(), str(out / "_schema_compiled.py"))
    return out


@pytest.fixture(scope="session")
def compiled(generated_dir: Path) -> ModuleType:
    return load_module(generated_dir / "_schema_compiled.py", "pyoci_test_schema_compiled")


class Reference:
    """jsonschema with our schema: pyoci.spec.validate's own validators."""

    def __init__(self) -> None:
        validate.validate_config({})  # builds them
        self.validators = {kind: validate._validators[name] for kind, name in KINDS.items()}

    def valid(self, kind: str, doc: object) -> bool:
        return bool(self.validators[kind].is_valid(doc))


@pytest.fixture(scope="session")
def reference() -> Reference:
    return Reference()


class Checker:
    """Compares the verdicts and counts them (so a test can show it saw both)."""

    def __init__(self, compiled: ModuleType, reference: Reference) -> None:
        self.compiled = compiled
        self.reference = reference
        self.seen = {True: 0, False: 0}

    def same(self, kind: str, doc: object, what: str = "") -> bool:
        expected = self.reference.valid(kind, doc)
        got = getattr(self.compiled, f"{kind}_valid")(doc)
        assert got is expected, f"{what}: compiled {got}, jsonschema {expected}: {_short(doc)}"
        self.seen[expected] += 1
        return expected


def _short(doc: object) -> str:
    text = json.dumps(doc, default=repr)
    return text if len(text) < 2000 else text[:2000] + "..."


@pytest.fixture(scope="session")
def checker(compiled: ModuleType, reference: Reference) -> Checker:
    return Checker(compiled, reference)


# --- the generator ----------------------------------------------------------------


def test_generated_module_is_python_with_the_entry_points(compiled: ModuleType) -> None:
    for name in ("config_valid", "state_valid", "features_valid"):
        assert callable(getattr(compiled, name))
    assert schemac.schema_digest(schema_dir()) == compiled.SCHEMA_DIGEST
    assert compiled.PATTERN_ENGINE == "sre"


def test_generation_is_deterministic(generated_dir: Path) -> None:
    first = (generated_dir / "_schema_compiled.py").read_text()
    assert schemac.compile_schemas(schema_dir()) == first


def _patterns(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern":
                yield value
            elif key not in ("enum", "const", "examples"):
                yield from _patterns(value)
    elif isinstance(node, list):
        for value in node:
            yield from _patterns(value)


def schema_patterns() -> list[str]:
    """Every pattern in schema/, in file order."""
    found: dict[str, None] = {}
    for name in validate.SCHEMA_FILES:
        found.update(dict.fromkeys(_patterns(read_json(os.path.join(schema_dir(), name)))))
    return list(found)


def test_every_schema_pattern_is_compiled(compiled: ModuleType) -> None:
    assert len(schema_patterns()) >= 8
    assert sorted(compiled._PATTERNS) == sorted(schema_patterns())


def _schema_copy(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> str:
    """schema/ copied to tmp_path, config-schema.json changed by *edit*."""
    out = tmp_path / "schema"
    out.mkdir()
    for name in validate.SCHEMA_FILES:
        doc = read_json(os.path.join(schema_dir(), name))
        if name == validate.CONFIG_SCHEMA:
            edit(doc)
        (out / name).write_text(json.dumps(doc))
    return str(out)


def _args(doc: dict[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = doc["definitions"]["process"]["properties"]["args"]
    return args


@pytest.mark.parametrize(
    ("edit", "complaint"),
    [
        pytest.param(lambda d: _args(d).update(maxItems=3), "unsupported keyword maxItems",
                     id="unknown-keyword"),
        pytest.param(lambda d: _args(d).update(format="uri"), "unsupported keyword format",
                     id="format"),
        pytest.param(lambda d: d.update({"$id": "x"}), "unsupported keyword $id", id="id"),
        pytest.param(lambda d: d["properties"]["process"].update(type="object"),
                     "$ref with type", id="ref-with-siblings"),
        pytest.param(lambda d: d["properties"]["process"].update({"$ref": "#/definitions/nope"}),
                     "does not resolve", id="dangling-ref"),
        pytest.param(lambda d: d["properties"]["process"].update({"$ref": "nope.json#/x"}),
                     "no file nope.json", id="ref-to-missing-file"),
        pytest.param(lambda d: d["properties"]["hostname"].update(enum=["a", 1]),
                     "only lists of strings", id="enum-not-strings"),
        pytest.param(lambda d: d["properties"]["hostname"].update(const=1),
                     "const: only strings", id="const-not-string"),
        pytest.param(lambda d: d["properties"]["hostname"].update(type="number"),
                     "unsupported type 'number'", id="type-number"),
        pytest.param(lambda d: _args(d).update(items=[{"type": "string"}]),
                     "tuple form of items", id="items-tuple"),
        pytest.param(lambda d: d["properties"]["hostname"].update(pattern="("),
                     "missing ), unterminated subpattern", id="bad-pattern"),
    ],
)  # fmt: skip
def test_generator_fails_loudly(
    edit: Callable[[dict[str, Any]], None], complaint: str, tmp_path: Path
) -> None:
    directory = _schema_copy(tmp_path, edit)
    with pytest.raises((schemac.SchemaCompileError, re.error), match=re.escape(complaint)):
        schemac.compile_schemas(directory)


def test_generator_cli_reports_one_line(tmp_path: Path) -> None:
    directory = _schema_copy(tmp_path, lambda d: _args(d).update(maxItems=3))
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, "pyoci", "spec", "schemac.py"), directory,
         str(tmp_path / "out.py")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.startswith("schemac: config-schema.json#/definitions/process/properties/")
    assert not (tmp_path / "out.py").exists()


# Keyword forms our schema does not use today but the compiler implements.
SYNTHETIC = {
    "type": "object",
    "properties": {
        "closed": {"type": "object", "properties": {"a": {"type": "string"}},
                   "additionalProperties": False},
        "empty": {"type": "object", "additionalProperties": False},
        "never": False,
        "anything": True,
        "branch": {"if": {"type": "string"}, "then": {"minLength": 2},
                   "else": {"type": "integer", "minimum": 3}},
        "onlyElse": {"if": {"type": "string"}, "else": {"type": "null"}},
        "untypedRange": {"minimum": 1, "maximum": 5, "minLength": 2},
        "anyRef": {"anyOf": [{"$ref": "#/definitions/small"}, {"type": "boolean"}]},
    },
    "definitions": {"small": {"type": "integer", "maximum": 1}},
}  # fmt: skip
SYNTHETIC_CASES: list[tuple[str, object]] = [
    ("closed", {"a": "x"}), ("closed", {"a": "x", "b": 1}), ("closed", {}), ("closed", []),
    ("empty", {}), ("empty", {"a": 1}), ("never", 1), ("never", None), ("anything", [1]),
    ("branch", "ab"), ("branch", "a"), ("branch", 3), ("branch", 2), ("branch", 3.0),
    ("branch", None), ("onlyElse", "x"), ("onlyElse", None), ("onlyElse", 1),
    ("untypedRange", 0), ("untypedRange", 1), ("untypedRange", 5.5), ("untypedRange", 3.5),
    ("untypedRange", True), ("untypedRange", "a"), ("untypedRange", "ab"),
    ("untypedRange", float("nan")), ("untypedRange", [0]), ("anyRef", 1), ("anyRef", 2),
    ("anyRef", True), ("anyRef", 1.0), ("anyRef", "1"),
]  # fmt: skip


def test_keyword_forms_beyond_our_schema(tmp_path: Path) -> None:
    from jsonschema import Draft7Validator, validators

    directory = _schema_copy(tmp_path, lambda d: d.clear() or d.update(SYNTHETIC))
    out = tmp_path / "synthetic.py"
    schemac.write_module(directory, str(out))
    module = load_module(out, "pyoci_test_schema_synthetic")
    checker = Draft7Validator.TYPE_CHECKER.redefine("integer", validate._is_integer)
    reference = validators.extend(Draft7Validator, type_checker=checker)(SYNTHETIC)
    verdicts = set()
    for prop, value in SYNTHETIC_CASES:
        doc = {prop: value}
        expected = bool(reference.is_valid(doc))
        assert module.config_valid(doc) is expected, (prop, value)
        verdicts.add((prop, expected))
    # every property was seen both accepted and rejected, except the constant schemas
    assert {p for p, v in verdicts if v} == set(SYNTHETIC["properties"]) - {"never"}
    assert {p for p, v in verdicts if not v} == set(SYNTHETIC["properties"]) - {"anything"}


# --- patterns: the same engine as re.search ----------------------------------------


def test_patterns_fall_back_to_re_on_another_engine(tmp_path: Path, compiled: ModuleType) -> None:
    source = schemac.compile_schemas(schema_dir())
    key = repr(schemac.sre_key())
    assert f"_SRE_KEY = {key}" in source
    out = tmp_path / "other.py"
    out.write_text(source.replace(f"_SRE_KEY = {key}", "_SRE_KEY = ('cpython-0', 0, 0)"))
    other = load_module(out, "pyoci_test_schema_other_engine")
    assert other.PATTERN_ENGINE == "re"
    for i, pattern in enumerate(other._PATTERNS):
        assert getattr(other, f"_P{i}").__self__ == re.compile(pattern)
        assert getattr(compiled, f"_P{i}").__self__ == re.compile(pattern)
    doc = read_json(RUNC_SPEC)
    assert other.config_valid(doc)
    doc["ociVersion"] = "1.0"
    assert not other.config_valid(doc)


@functools.cache
def _matching(pattern: str) -> Any:
    return st.from_regex(pattern, fullmatch=True)


@functools.cache
def _pattern_strings(pattern: str) -> Any:
    matching = _matching(pattern)
    return st.one_of(
        matching,
        matching.map(lambda s: s + "\n"),
        matching.map(lambda s: "\n" + s),
        matching.map(lambda s: s + "x"),
        matching.map(lambda s: s[:-1]),
        matching.map(lambda s: s.replace(".", "..")),
        st.from_regex(pattern),  # re.search semantics: junk around a match
        st.text(max_size=12),
        st.text(alphabet="0123456789.-+,abzAZ_KMGB:\n", max_size=16),
    )


KEYS = ["extra", "", "net.ipv4.ip_forward", "mlx5_0", "realtime", "x y"]
JSON_SCALARS = (st.none() | st.booleans() | st.integers(-(2**65), 2**65)
                | st.floats(allow_nan=True) | st.text(max_size=4))  # fmt: skip
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.sampled_from(KEYS), inner,
                                                                max_size=2),
    max_leaves=4,
)  # fmt: skip


def _appender(first: list[str], second: list[str]) -> Callable[[str, str], None]:
    def append(one: str, two: str) -> None:
        first.append(one)
        second.append(two)

    return append


@pytest.fixture(scope="session")
def pools() -> dict[str, Any]:
    return draw_pools()


def draw_pools() -> dict[str, Any]:
    """Values drawn once by hypothesis: for each pattern, strings that match it, strings
    near it, and those of them that do not match; and arbitrary JSON values.  The
    generator picks from these."""
    found: dict[str, Any] = {"json": []}
    for pattern in schema_patterns():
        matching: list[str] = []
        near: list[str] = []
        collect = given(_matching(pattern), _pattern_strings(pattern))(_appender(matching, near))
        examples(120)(collect)()
        failing = [text for text in near if not re.search(pattern, text)]
        found[pattern] = (matching, near, failing)

    @examples(300)
    @given(JSON_VALUES)
    def collect_json(value: object) -> None:
        found["json"].append(value)

    collect_json()
    return found


@pytest.mark.parametrize("pattern", schema_patterns())
def test_pattern_matches_like_re_search(
    pattern: str, compiled: ModuleType, pools: dict[str, Any]
) -> None:
    """The rebuilt program against re.search on the strings hypothesis drew for it."""
    search = getattr(compiled, f"_P{compiled._PATTERNS.index(pattern)}")
    assert compiled.PATTERN_ENGINE == "sre"
    matching, near, _ = pools[pattern]
    seen = {True: 0, False: 0}
    for text in [*matching, *near, "", "\n", "\x00", "1.0.0\n", "\u0661", "\uff11KB"]:
        expected = re.search(pattern, text)
        got = search(text)
        assert (got is None) == (expected is None), (pattern, text)
        if got is not None and expected is not None:
            assert got.span() == expected.span()
        seen[expected is not None] += 1
    assert seen[True] > 100 and seen[False] >= 5, seen


# --- fixed documents -----------------------------------------------------------------


def spec_instances() -> list[Any]:
    found = sorted(glob.glob(os.path.join(SPEC_TESTS, "*", "*", "*.json")))
    if not found:
        return [pytest.param(None, id="no-spec", marks=pytest.mark.skip(reason=NO_SPEC))]
    return [pytest.param(path, id=os.path.relpath(path, SPEC_TESTS)) for path in found]


@pytest.mark.parametrize("path", spec_instances())
def test_spec_instance(path: str, checker: Checker) -> None:
    kind, expected = path.split(os.sep)[-3:-1]
    try:
        doc = read_json(path)
    except ValueError:  # invalid-json.json: no validator ever sees it
        assert expected == "bad"
        return
    valid = checker.same(kind, doc, path)
    if kind != "features":  # features' good/bad also judges the version order, beyond schema
        assert valid == (expected == "good")


def corpus() -> list[Any]:
    found = sorted(glob.glob(os.path.join(CORPUS, "*", "*.json")))
    return [pytest.param(path, id=os.path.relpath(path, CORPUS)) for path in found]


@pytest.mark.parametrize("path", corpus())
def test_corpus_config(path: str, compiled: ModuleType) -> None:
    doc = read_json(path)
    expected = os.path.basename(os.path.dirname(path)) == "valid"
    assert (not validate.validate_config(doc)) is expected
    assert compiled.config_valid(doc) is expected


@pytest.mark.parametrize("rootless", [False, True])
def test_default_config(rootless: bool, checker: Checker) -> None:
    from pyoci.spec.default import default_config

    assert checker.same("config", default_config(rootless=rootless), "default")


def test_state_documents(checker: Checker) -> None:
    """What ``pyoci state`` prints, and the if/then of the state schema."""
    from pyoci.state.model import STATUSES, ContainerState

    for status in STATUSES:
        state = ContainerState(id="c", status=status, pid=42, bundle="/b").to_oci()
        assert checker.same("state", state, status)
        del state["pid"]
        assert checker.same("state", state, status) == (status not in ("created", "running"))


# --- a deterministic sweep: every node of the valid corpus, mutated --------------------

DELETE = object()
ADVERSARIAL: list[object] = [
    None, True, False, 0, -1, 1, 1.0, 0.5, -0.0, 2**32, 2**63, 2**64, -(2**63) - 1,
    float("nan"), float("inf"), "", "x", "\n", "0-3", "1.2.3", "CAP_X", "RLIMIT_X", "2MB", "rwm",
    "MB:1", [], [""], [1], [None], {}, {"": ""}, {"x": 1},
]  # fmt: skip


def _type_preserving(value: object) -> list[object]:
    if isinstance(value, bool):
        return [not value, int(value)]
    if isinstance(value, int):
        return [value + 1, value - 1, -value - 1, value * 2**32, float(value), str(value)]
    if isinstance(value, str):
        out: list[object] = [value + "\n", "\n" + value, value + "x", value[:-1], value.lower(),
                             value.upper(), value.replace(".", ""), value + " "]  # fmt: skip
        return out
    if isinstance(value, list):
        return [[], [*value, *value[:1]], [*value, None], value[1:], value[:1]]
    if isinstance(value, dict):
        firsts = list(value)[:1]
        return [{}, {**value, "extra": 1}, {**value, "": "x"},
                {k: v for k, v in value.items() if k not in firsts}]  # fmt: skip
    return []


def _nodes(doc: object, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], object]]:
    yield path, doc
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _nodes(value, (*path, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from _nodes(value, (*path, i))


def _replaced(doc: Any, path: tuple[Any, ...], value: object) -> Any:
    if not path:
        return value
    out = copy.deepcopy(doc)
    node = out
    for part in path[:-1]:
        node = node[part]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


def _sweep_cases() -> Iterator[tuple[str, str, Any]]:
    """(what, kind, document): each distinct node of the valid configs and of the spec's
    good instances, deleted, and changed by a rotating share of the type-preserving changes
    and of the adversarial values (a node repeated across configs is swept once)."""
    sources = [(p, "config") for p in sorted(glob.glob(os.path.join(CORPUS, "valid", "*.json")))]
    for kind in ("state", "features"):
        sources += [(p, kind) for p in sorted(glob.glob(os.path.join(SPEC_TESTS, kind, "good",
                                                                     "*.json")))]  # fmt: skip
    seen: set[str] = set()
    turn = 0
    for path, kind in sources:
        doc = read_json(path)
        for where, value in _nodes(doc):
            shape = tuple("*" if isinstance(p, int) else p for p in where)
            # containers by their keys (their contents are swept on their own)
            what = (sorted(value) if isinstance(value, dict)
                    else len(value) if isinstance(value, list) else value)  # fmt: skip
            key = json.dumps([kind, shape, type(value).__name__, what])
            if key in seen:
                continue
            seen.add(key)
            changes: list[object] = [DELETE] if where else []
            similar = _type_preserving(value)
            for i in range(min(3, len(similar))):
                changes.append(similar[(turn + i) % len(similar)])
            for i in range(2):
                changes.append(ADVERSARIAL[(turn + i) % len(ADVERSARIAL)])
            turn += 2
            for change in changes:
                what = f"{kind} {os.path.basename(path)} {list(where)}"
                yield what, kind, _replaced(doc, where, change)


def test_sweep_of_mutations(checker: Checker) -> None:
    count = 0
    start = checker.seen.copy()
    for what, kind, doc in _sweep_cases():
        checker.same(kind, doc, what)
        count += 1
    accepted = checker.seen[True] - start[True]
    rejected = checker.seen[False] - start[False]
    print(f"\nsweep: {count} documents, {accepted} valid, {rejected} invalid")
    assert count > 3000
    assert accepted > 500 and rejected > 1000


# --- hypothesis: documents generated from the schema --------------------------------------

_SCHEMAS: dict[str, Any] = {}


def _schemas() -> dict[str, Any]:
    if not _SCHEMAS:
        for name in validate.SCHEMA_FILES:
            _SCHEMAS[name] = read_json(os.path.join(schema_dir(), name))
    return _SCHEMAS


ITEM, ENTRY = "[]", "{}"  # in a focus path: an array's item, a map's entry


class Generator:
    """Makes documents that follow the schema, except that each node breaks a rule
    with probability *rate* per mille (wrong type, out of range, not in the enum,
    not matching, too short, a required property left out).

    With a *focus* (a path of property names, ITEM and ENTRY), the document is
    small and valid but for the node at that path, which is broken (or not, with
    ``break_focus=False``).

    Driven by a seed that hypothesis draws (one draw per document: drawing every
    node through hypothesis costs ~0.1 s a document).
    """

    def __init__(
        self,
        seed: int,
        rate: int,
        pools: dict[str, Any],
        focus: tuple[str, ...] | None = None,
        break_focus: bool = True,
    ) -> None:
        import random

        self.schemas = _schemas()
        self.seed = seed
        self.turn = seed - seed // 3 - 1  # among the seeds that do not break by type
        self.random = random.Random(seed)
        self.rate = 0 if focus is not None else rate
        self.optional = (0, 0, 0, 0) if focus is not None else (400, 300, 200, 100)
        self.pools = pools
        self.focus = focus
        self.break_focus = break_focus

    def document(self, kind: str) -> Any:
        return self.value(self.schemas[KINDS[kind]], KINDS[kind], 0, self.focus)

    def chance(self, per_mille: int) -> bool:
        return self.random.randrange(1000) < per_mille

    def pick(self, values: Any) -> Any:
        return copy.deepcopy(self.random.choice(list(values)))

    def wrong_type(self, node: dict[str, Any]) -> Any:
        """A value of a JSON type the node does not allow (any value when it names none)."""
        allowed = node.get("type", [])
        allowed = [allowed] if isinstance(allowed, str) else allowed
        values = [v for v in ADVERSARIAL + self.pools["json"][:30] if _json_type(v) not in allowed]
        return self.pick(values)

    def text(self, low: int = 0) -> str:
        size = self.random.randint(low, max(low, 4))
        return "".join(self.random.choice("ab:-.\n\u00e9\U0001f600 ") for _ in range(size))

    def resolve(self, node: Any, file: str) -> tuple[Any, str]:
        while isinstance(node, dict) and "$ref" in node:
            target, _, pointer = node["$ref"].partition("#")
            file = target or file
            node = self.schemas[file]
            for part in pointer.split("/")[1:]:
                node = node[part]
        return node, file

    def properties(self, node: dict[str, Any], file: str) -> dict[str, tuple[Any, str]]:
        """Every property a node names, in its own properties or in its branches."""
        props = {name: (sub, file) for name, sub in node.get("properties", {}).items()}
        branches = [*node.get("oneOf", []), *node.get("anyOf", [])]
        if "if" in node:
            branches.append(node["if"])
        for branch in branches:
            branch, bfile = self.resolve(branch, file)
            for name, sub in branch.get("properties", {}).items():
                props.setdefault(name, (sub, bfile))
        return props

    def value(self, node: Any, file: str, depth: int = 0, focus: tuple[str, ...] | None = None
              ) -> Any:  # fmt: skip
        node, file = self.resolve(node, file)
        if node is True or node == {} or node is False:
            return self.pick(self.pools["json"])
        if focus == ():  # the place to break: every third seed by a wrong type
            broken = self.break_focus
            wrong = self.seed % 3 == 0
        else:
            broken = self.chance(self.rate)
            wrong = self.chance(400)
        if broken and wrong:
            return self.wrong_type(node)
        if "enum" in node:
            if broken:
                return self.pick([self.pick(node["enum"]).lower(), self.text(), ""])
            return self.pick(node["enum"])
        if "const" in node:
            return self.text() if broken else node["const"]
        types = node.get("type", "object")
        kind = self.pick(types if isinstance(types, list) else [types])
        if focus and kind not in ("object", "array"):
            kind = "object" if focus[0] != ITEM else "array"
        if kind == "object":
            return self.object(node, file, depth, focus, broken)
        if kind == "array":
            low = node.get("minItems", 0)
            if broken and low:
                size = low - 1
            else:
                size = self.random.randint(low, low + (2 if depth < 4 else 0))
            if focus:
                return [self.value(node.get("items", True), file, depth + 1, focus[1:])]
            return [self.value(node.get("items", True), file, depth + 1) for _ in range(size)]
        if kind == "integer":
            low, high = node.get("minimum", -(2**70)), node.get("maximum", 2**70)
            if broken:
                wrong = [low - 1, high + 1, float(low), True]
                return wrong[self.turn % 4] if focus == () else self.pick(wrong)
            edges = [n for n in (low, high, 0, 1) if low <= n <= high]
            return self.pick(edges) if self.chance(500) else self.random.randint(low, high)
        if kind == "string":
            if "pattern" in node:
                matching, _, failing = self.pools[node["pattern"]]
                return self.pick(failing if broken else matching)
            low = node.get("minLength", 0)
            return self.text(low - 1) if broken and low else self.text(low)
        if kind == "boolean":
            return self.chance(500)
        assert kind == "null", kind
        return None

    def object(
        self, node: dict[str, Any], file: str, depth: int, focus: tuple[str, ...] | None,
        broken: bool,
    ) -> dict[str, Any]:  # fmt: skip
        props = {name: (sub, file) for name, sub in node.get("properties", {}).items()}
        required = list(node.get("required", []))
        for combinator in ("oneOf", "anyOf"):
            if combinator in node:
                branch, bfile = self.resolve(self.pick(node[combinator]), file)
                props.update({n: (s, bfile) for n, s in branch.get("properties", {}).items()})
                required += branch.get("required", [])
        if "if" in node and (focus is not None or self.chance(500)):
            cond, cfile = self.resolve(node["if"], file)
            props.update({n: (s, cfile) for n, s in cond.get("properties", {}).items()})
            required += cond.get("required", [])
            then, _ = self.resolve(node.get("then", {}), file)
            required += then.get("required", [])
        if focus and focus[0] not in props and focus[0] != ENTRY:
            props[focus[0]] = self.properties(node, file)[focus[0]]
        dropped = None
        if broken and required:
            index = self.turn if focus == () else self.random.randrange(len(required))
            dropped = required[index % len(required)]
        optional = self.optional[min(depth, 3)]
        out: dict[str, Any] = {}
        for name, (sub, sfile) in props.items():
            if focus and name == focus[0]:
                out[name] = self.value(sub, sfile, depth + 1, focus[1:])
            elif name == dropped:
                continue
            elif name in required:
                if not self.chance(self.rate):
                    out[name] = self.value(sub, sfile, depth + 1)
            elif self.chance(optional):
                out[name] = self.value(sub, sfile, depth + 1)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            if broken:  # a key propertyNames may refuse
                out[""] = self.value(extra, file, depth + 1)
            if focus and focus[0] == ENTRY:
                out[self.pick(KEYS)] = self.value(extra, file, depth + 1, focus[1:])
            elif focus is None:
                for _ in range(self.random.randint(0, 2)):
                    out[self.pick(KEYS)] = self.value(extra, file, depth + 1)
        elif broken or (focus is None and self.chance(50)):
            out[self.pick(KEYS)] = self.pick(self.pools["json"])
        return out


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def schema_paths(kind: str) -> list[tuple[str, ...]]:
    """Every place in a *kind* document the schema describes, as a focus path."""
    gen = Generator(0, 0, {})
    found: list[tuple[str, ...]] = []

    def walk(node: Any, file: str, path: tuple[str, ...]) -> None:
        node, file = gen.resolve(node, file)
        found.append(path)
        if not isinstance(node, dict) or len(path) > 12:
            return
        for name, (sub, sfile) in gen.properties(node, file).items():
            walk(sub, sfile, (*path, name))
        if isinstance(node.get("items"), dict):
            walk(node["items"], file, (*path, ITEM))
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], file, (*path, ENTRY))

    walk(_schemas()[KINDS[kind]], KINDS[kind], ())
    return found


RATES = st.sampled_from([0, 1, 3, 10, 30, 100])


@pytest.mark.parametrize(("kind", "count"), [("config", 2000), ("state", 500), ("features", 1000)])
def test_generated_documents(
    kind: str, count: int, checker: Checker, pools: dict[str, Any]
) -> None:
    seen = {True: 0, False: 0}

    @examples(count)
    @given(st.integers(0, 2**64), RATES)
    def check(seed: int, rate: int) -> None:
        doc = Generator(seed, rate, pools).document(kind)
        seen[checker.same(kind, doc, f"generated {kind} (seed {seed}, rate {rate})")] += 1

    check()
    print(f"\n{kind}: {seen[True]} valid, {seen[False]} invalid")
    assert seen[True] > count // 10 and seen[False] > count // 10, seen


BREAKS_PER_PLACE = 12


def test_every_place_broken_and_every_rejection_reached(
    compiled: ModuleType, checker: Checker, pools: dict[str, Any]
) -> None:
    """Each place the schema describes, in a small document otherwise valid: whole,
    then broken BREAKS_PER_PLACE ways; and every ``return False`` of the compiled
    module must have been reached along the way (line tracing)."""
    source = compiled.__file__
    hit: set[int] = set()

    def local(frame: Any, event: str, arg: object) -> Any:
        if event == "line":
            hit.add(frame.f_lineno)
        return local

    def tracer(frame: Any, event: str, arg: object) -> Any:
        return local if frame.f_code.co_filename == source else None

    seen = {True: 0, False: 0}
    saved = sys.gettrace()
    sys.settrace(tracer)
    try:
        for kind in KINDS:
            for i, focus in enumerate(schema_paths(kind)):
                whole = Generator(i, 0, pools, focus, break_focus=False).document(kind)
                assert checker.same(kind, whole, f"{kind} {focus} whole"), "generator bug"
                for seed in range(BREAKS_PER_PLACE):
                    doc = Generator(i * 1000 + seed, 0, pools, focus).document(kind)
                    seen[checker.same(kind, doc, f"{kind} {focus} broken (seed {seed})")] += 1
    finally:
        sys.settrace(saved)
    print(f"\nbroken places: {seen[True]} still valid, {seen[False]} invalid")
    lines = Path(source).read_text().splitlines()
    missed = [f"{n}: {lines[n - 2].strip()}" for n, line in enumerate(lines, 1)
              if line.strip() == "return False" and n not in hit]  # fmt: skip
    assert not missed, missed
    assert seen[False] > seen[True]


def _valid_configs() -> list[Any]:
    from pyoci.spec.default import default_config

    docs = [read_json(p) for p in sorted(glob.glob(os.path.join(CORPUS, "valid", "*.json")))]
    return [*docs, default_config(), default_config(rootless=True)]


def test_mutated_configs(checker: Checker) -> None:
    """Real configs with 1-3 random changes, some drawn from the schema at that place."""
    seen = {True: 0, False: 0}
    configs = _valid_configs()

    @examples(1000)
    @given(st.data(), st.sampled_from(range(len(configs))))
    def check(data: Any, which: int) -> None:
        doc = configs[which]
        for _ in range(data.draw(st.integers(1, 3))):
            nodes = list(_nodes(doc))
            where, value = nodes[data.draw(st.integers(0, len(nodes) - 1))]
            choices: list[object] = [*ADVERSARIAL, *_type_preserving(value)]
            if where:
                choices.append(DELETE)
            doc = _replaced(doc, where, data.draw(st.sampled_from(choices) | JSON_VALUES))
        seen[checker.same("config", doc, "mutated config")] += 1

    check()
    print(f"\nmutated: {seen[True]} valid, {seen[False]} invalid")
    assert seen[True] > 20 and seen[False] > 700, seen


# --- what the module imports, and load.validate -------------------------------------------


def test_compiled_module_imports_nothing_heavy(generated_dir: Path) -> None:
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        f"sys.path.insert(0, {str(generated_dir)!r})\n"
        "import _schema_compiled\n"
        "assert _schema_compiled.PATTERN_ENGINE == 'sre'\n"
        "print(' '.join(sorted(set(sys.modules) - before)))\n"
    )
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", code],
                          capture_output=True, text=True, check=True)  # fmt: skip
    new = set(proc.stdout.split())
    assert new <= {"_schema_compiled", "_sre"}, new
    assert not new & set(HEAVY)


@pytest.fixture
def fast_path(compiled: ModuleType, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """load.validate as installed: with the compiled module."""
    monkeypatch.setitem(sys.modules, "pyoci.spec._schema_compiled", compiled)
    return compiled


def _bundle(tmp_path: Path) -> str:
    (tmp_path / "rootfs").mkdir(exist_ok=True)
    return str(tmp_path)


def test_load_validate_valid_config_skips_jsonschema(
    fast_path: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyoci.spec import load

    def forbidden(doc: object, source: str = "") -> list[str]:
        raise AssertionError("jsonschema used for a valid config")

    monkeypatch.setattr(validate, "validate_config", forbidden)
    load.validate(read_json(RUNC_SPEC), _bundle(tmp_path))


def test_load_validate_rejects_with_jsonschema_lines(fast_path: ModuleType, tmp_path: Path) -> None:
    from pyoci.errors import ConfigError
    from pyoci.spec import load

    doc = read_json(RUNC_SPEC)
    doc["process"]["args"] = []
    doc["mounts"][2]["destination"] = 3
    assert not fast_path.config_valid(doc)
    with pytest.raises(ConfigError) as info:
        load.validate(doc, _bundle(tmp_path))
    assert str(info.value).splitlines() == [
        "config.json: process.args: [] is too short (minItems 1)",
        "config.json: mounts[2].destination: 3 is not of type 'string' (type)",
    ]


def test_load_validate_trusts_jsonschema_on_disagreement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyoci.spec import load
    from pyoci.util import log

    wrong = ModuleType("pyoci.spec._schema_compiled")
    wrong.config_valid = lambda doc: False  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pyoci.spec._schema_compiled", wrong)
    lines: list[str] = []
    monkeypatch.setattr(log, "debug", lines.append)
    # problems_of: what load.validate raises from
    assert load.problems_of(read_json(RUNC_SPEC), _bundle(tmp_path)) == []
    assert lines == ["config.json: the compiled schema check rejected it, jsonschema accepts it"]

    def broken(doc: object) -> bool:
        raise KeyError("bug")

    wrong.config_valid = broken  # type: ignore[attr-defined]
    lines.clear()
    assert load.problems_of(read_json(RUNC_SPEC), _bundle(tmp_path)) == []
    assert lines == ["config.json: compiled schema check failed: KeyError: 'bug'"]
    doc = read_json(RUNC_SPEC)
    del doc["ociVersion"]
    assert load.schema_problems(doc) == [
        "config.json: 'ociVersion' is a required property (required)"
    ]


def test_load_validate_without_compiled_module_uses_jsonschema(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pyoci.spec import load

    # a plain source tree has no generated module: None in sys.modules makes its
    # import fail the same way
    monkeypatch.setitem(sys.modules, "pyoci.spec._schema_compiled", None)
    calls: list[object] = []
    real = validate.validate_config

    def spy(doc: object, source: str = "config.json") -> list[str]:
        calls.append(doc)
        return real(doc, source)

    monkeypatch.setattr(validate, "validate_config", spy)
    doc = read_json(RUNC_SPEC)
    assert load.schema_problems(doc) == []
    doc["ociVersion"] = 1
    assert load.schema_problems(doc) == [
        "config.json: ociVersion: 1 is not of type 'string' (type)"
    ]
    assert len(calls) == 2


def test_timing_of_one_compiled_validation(compiled: ModuleType, reference: Reference) -> None:
    """Printed, not asserted (targets are held by bench/)."""
    doc = read_json(RUNC_SPEC)
    runs = 2000
    start = time.perf_counter()
    for _ in range(runs):
        compiled.config_valid(doc)
    fast = (time.perf_counter() - start) / runs
    start = time.perf_counter()
    for _ in range(20):
        reference.valid("config", doc)
    slow = (time.perf_counter() - start) / 20
    print(f"\nruns spec config: compiled {fast * 1e6:.1f} us, jsonschema {slow * 1e6:.0f} us")
    assert compiled.config_valid(doc)


# --- the installed command -----------------------------------------------------------------


def _installed() -> tuple[str, str]:
    """(pyoci command, the python next to it); skips when pyoci is not installed."""
    sys.path.insert(0, os.path.join(REPO, "tests"))
    try:
        from helpers import pyoci_binary
    finally:
        sys.path.pop(0)
    try:
        binary = pyoci_binary()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    python = os.path.join(os.path.dirname(binary), "python3")
    if not os.path.exists(python):
        pytest.skip(f"no python3 beside {binary} (PYOCI_BINARY is not a venv's pyoci)")
    return binary, python


def test_installed_module_is_current() -> None:
    _, python = _installed()
    code = (
        "import pyoci.spec._schema_compiled as m, sys\n"
        "print(m.SCHEMA_DIGEST, m.PATTERN_ENGINE, m.__file__)\n"
    )
    proc = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, f"the installed pyoci has no compiled schema: {proc.stderr}"
    digest, engine, where = proc.stdout.split()
    assert digest == schemac.schema_digest(schema_dir()), (
        f"{where} was built from another schema/: reinstall (pip install .)"
    )
    assert engine == "sre"


def test_source_tree_has_no_stale_compiled_module() -> None:
    """A module generated by hand into pyoci/spec/ would shadow jsonschema in a source
    tree; it must at least be built from the schema/ beside it."""
    path = os.path.join(REPO, "pyoci", "spec", "_schema_compiled.py")
    if not os.path.exists(path):
        return
    module = load_module(Path(path), "pyoci_test_schema_in_tree")
    assert schemac.schema_digest(schema_dir()) == module.SCHEMA_DIGEST, f"stale: remove {path}"


def _create_modules(tmp_path: Path, doc: dict[str, Any]) -> tuple[int, str, set[str]]:
    binary, _ = _installed()
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps(doc))
    env = {**os.environ, "PYOCI_DEBUG_IMPORTS": "1"}
    proc = subprocess.run(
        [binary, "--root", str(tmp_path / "state"), "create", "-b", str(bundle), "c1"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    lines = proc.stderr.splitlines()
    found = [ln for ln in lines if ln.startswith("pyoci-imports: ")]
    assert len(found) == 1, proc.stderr
    rest = "\n".join(ln for ln in lines if not ln.startswith("pyoci-imports: "))
    return proc.returncode, rest, set(found[0].split()[1:])


def test_installed_create_of_a_valid_config_imports_no_jsonschema(tmp_path: Path) -> None:
    # schema-valid; the missing rootfs stops create right after validation, without root
    doc = read_json(RUNC_SPEC)
    code, err, modules = _create_modules(tmp_path, doc)
    assert code == 1
    assert "rootfs" in err and "does not exist" in err, err
    # the semantic checks ran: the compiled check accepted it (no jsonschema),
    # and the command unloaded it then (spec.load.DROP_VALIDATOR)
    assert {"pyoci.spec.load", "pyoci.spec.semantic"} <= modules
    assert "pyoci.spec._schema_compiled" not in modules
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_installed_create_of_an_invalid_config_words_it_with_jsonschema(tmp_path: Path) -> None:
    doc = read_json(RUNC_SPEC)
    doc["process"]["args"] = []
    code, err, modules = _create_modules(tmp_path, doc)
    assert code == 1
    assert err == "pyoci: config.json: process.args: [] is too short (minItems 1)"
    assert {"pyoci.spec._schema_compiled", "jsonschema"} <= modules


def test_a_command_drops_the_compiled_validator_after_use() -> None:
    """The CLI's create and run set DROP_VALIDATOR: once the compiled check
    accepted the config its module is unloaded (its memory reused by what
    create loads next); the next check imports it again.  In a child
    interpreter: unloading clears the module's namespace, which would break
    this process's other references to it."""
    code = """
import sys
from pyoci.spec import load

load.DROP_VALIDATOR = True
doc = {"ociVersion": "1.0.2", "root": {"path": "rootfs"}}
for _ in range(2):
    assert load.schema_problems(doc) == []
    assert "pyoci.spec._schema_compiled" not in sys.modules
assert load.schema_problems({"ociVersion": 1}) != []  # still checked, and rejected
load.DROP_VALIDATOR = False
assert load.schema_problems(doc) == []
assert "pyoci.spec._schema_compiled" in sys.modules  # an embedder keeps it
print("ok")
"""
    res = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout == "ok\n", res
