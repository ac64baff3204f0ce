"""Our runtime-spec v1.3.0 schemas (schema/) against the spec's own test instances,
our config corpus (tests/data/configs) and the upstream schema, plus the shape of
the error lines of pyoci.spec.validate.

The upstream schema is read from the runtime-spec checkout next to the repo
(``../shared/reference/runtime-spec``, or ``$PYOCI_SPEC_DIR``); the tests that
need it skip, saying so, when it is absent.
"""

from __future__ import annotations

import copy
import glob
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from conformance import refs
from pyoci.spec import validate
from pyoci.spec.docpath import format_path
from pyoci.spec.semver import semver_key
from pyoci.spec.validate import (
    schema_dir,
    validate_config,
    validate_features,
    validate_state,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC_DIR = str(refs.spec_dir())  # $PYOCI_SPEC_DIR or ../shared/reference/runtime-spec
UPSTREAM_SCHEMA = os.path.join(SPEC_DIR, "schema")
NO_SPEC = refs.spec_missing() or f"no spec files under {SPEC_DIR}/schema"
CORPUS = os.path.join(REPO, "tests", "data", "configs")

# One line a problem: "<source>: [<path>: ]<message> (<rule>[ <value>])"
LINE = re.compile(r"^config\.json: (?:[A-Za-z0-9_\[\]\".:-]+: )?\S.* \([A-Za-z]+(?: [^()]+)?\)$")

Doc = dict[str, Any]


def read_json(path: str) -> object:
    with open(path) as f:
        return json.load(f)


# --- the upstream schema, loaded the same way as ours -------------------------


class Upstream:
    """The spec's draft-04 schemas, with the broken ``#definitions/uint32`` fixed."""

    def __init__(self, directory: str) -> None:
        from jsonschema import Draft4Validator
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT4

        contents: dict[str, Any] = {}
        for path in glob.glob(os.path.join(directory, "*.json")):
            with open(path) as f:
                text = f.read()
            # v1.3.0 defs.json: "ArrayOfUint32" refers to "#definitions/uint32".
            text = text.replace('"#definitions/', '"#/definitions/')
            contents[os.path.basename(path)] = json.loads(text)
        registry: Registry[Any] = Registry().with_resources(
            (name, Resource.from_contents(doc, default_specification=DRAFT4))
            for name, doc in contents.items()
        )
        self.contents = contents
        self.validators = {
            kind: Draft4Validator(contents[f"{kind}-schema.json"], registry=registry)
            for kind in ("config", "state", "features")
        }

    def is_valid(self, kind: str, doc: object) -> bool:
        return bool(self.validators[kind].is_valid(doc))


@pytest.fixture(scope="session")
def upstream() -> Upstream:
    if not os.path.isfile(os.path.join(UPSTREAM_SCHEMA, "config-schema.json")):
        pytest.skip(NO_SPEC)
    return Upstream(UPSTREAM_SCHEMA)


OURS: dict[str, Callable[[object], list[str]]] = {
    "config": validate_config,
    "state": validate_state,
    "features": validate_features,
}


def our_verdict(kind: str, path: str) -> tuple[bool, list[str]]:
    """(valid, lines) for a file; a file that is not JSON is invalid for everyone."""
    try:
        doc = read_json(path)
    except ValueError:
        return False, ["not JSON"]
    lines = OURS[kind](doc)
    return not lines, lines


def upstream_verdict(upstream: Upstream, kind: str, path: str) -> bool:
    try:
        doc = read_json(path)
    except ValueError:
        return False
    return upstream.is_valid(kind, doc)


# --- our schema files -----------------------------------------------------------


def our_schema_files() -> dict[str, Any]:
    return {name: read_json(os.path.join(schema_dir(), name)) for name in validate.SCHEMA_FILES}


def refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def test_schema_dir_holds_the_source_trees_schema() -> None:
    """The schema the runtime loads (installed copy or source tree) is schema/ here."""
    found = {name for name in os.listdir(schema_dir()) if name.endswith(".json")}
    assert found == set(validate.SCHEMA_FILES)
    for name in found:
        with (
            open(os.path.join(schema_dir(), name), "rb") as loaded,
            open(os.path.join(REPO, "schema", name), "rb") as source,
        ):
            assert loaded.read() == source.read(), name


def test_schema_files_are_draft7_schemas() -> None:
    from jsonschema import Draft7Validator

    for name, doc in our_schema_files().items():
        assert doc["$schema"] == "http://json-schema.org/draft-07/schema#", name
        Draft7Validator.check_schema(doc)


def test_every_ref_resolves() -> None:
    """Unlike upstream's "#definitions/uint32": every $ref points at something."""
    files = our_schema_files()
    for name, doc in files.items():
        for ref in refs(doc):
            target, _, pointer = ref.partition("#")
            assert pointer.startswith("/"), f"{name}: {ref}"
            node: Any = files[target] if target else doc
            for part in pointer.split("/")[1:]:
                assert part in node, f"{name}: {ref}"
                node = node[part]
            assert isinstance(node, dict), f"{name}: {ref}"


def test_schema_files_are_ours(upstream: Upstream) -> None:
    ours = [json.dumps(doc, sort_keys=True) for doc in our_schema_files().values()]
    for name, doc in upstream.contents.items():
        assert json.dumps(doc, sort_keys=True) not in ours, name


def test_validators_are_built_once() -> None:
    validate_config({"ociVersion": "1.0.0"})
    first = validate._validators[validate.CONFIG_SCHEMA]
    validate_config({"ociVersion": "1.0.0"})
    assert validate._validators[validate.CONFIG_SCHEMA] is first


def test_jsonschema_is_imported_on_first_use_only() -> None:
    code = (
        "import sys\n"
        "import pyoci.spec.validate, pyoci.spec.semantic\n"
        "assert 'jsonschema' not in sys.modules\n"
        "assert 'json' not in sys.modules\n"
        "assert 'typing' not in sys.modules, 'typing'\n"
        "pyoci.spec.validate.validate_state({})\n"
        "assert 'jsonschema' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-I", "-c", code], cwd=REPO, check=True)


# --- the spec's own test instances ---------------------------------------------


def spec_instances() -> list[Any]:
    found = sorted(glob.glob(os.path.join(UPSTREAM_SCHEMA, "test", "*", "*", "*.json")))
    if not found:
        return [pytest.param(None, id="no-spec", marks=pytest.mark.skip(reason=NO_SPEC))]
    return [pytest.param(path, id=os.path.relpath(path, UPSTREAM_SCHEMA)) for path in found]


@pytest.mark.parametrize("path", spec_instances())
def test_spec_instance_verdict(path: str, upstream: Upstream) -> None:
    kind, expected = path.split(os.sep)[-3:-1]
    assert kind in OURS, f"unknown test directory {kind}"
    valid, lines = our_verdict(kind, path)
    assert valid == (expected == "good"), lines
    assert valid == upstream_verdict(upstream, kind, path), lines


# --- our corpus ------------------------------------------------------------------


def corpus() -> list[Any]:
    found = sorted(glob.glob(os.path.join(CORPUS, "*", "*.json")))
    return [pytest.param(path, id=os.path.relpath(path, CORPUS)) for path in found]


def test_corpus_size() -> None:
    valid = glob.glob(os.path.join(CORPUS, "valid", "*.json"))
    invalid = glob.glob(os.path.join(CORPUS, "invalid", "*.json"))
    assert len(valid) >= 30
    assert len(invalid) >= 30
    names = {os.path.basename(p) for p in valid}
    assert {"runc-spec.json", "runc-spec-rootless.json"} <= names
    assert {"crun-spec.json", "crun-spec-rootless.json"} <= names


@pytest.mark.parametrize("path", corpus())
def test_corpus_verdict(path: str, upstream: Upstream) -> None:
    expected = os.path.basename(os.path.dirname(path))
    valid, lines = our_verdict("config", path)
    assert valid == (expected == "valid"), lines
    assert upstream_verdict(upstream, "config", path) == valid
    for line in lines:
        assert LINE.match(line), line


def test_runtime_spec_outputs_are_valid(upstream: Upstream) -> None:
    """Whatever pyoci's own ``spec`` prints passes both schemas."""
    default = pytest.importorskip("pyoci.spec.default")
    for rootless in (False, True):
        doc = default.default_config(rootless=rootless)
        assert validate_config(doc) == []
        assert upstream.is_valid("config", doc)


# --- where we differ from the upstream schema, on purpose ------------------------

BASE_PATH = os.path.join(CORPUS, "valid", "runc-spec.json")


def base() -> Doc:
    doc = read_json(BASE_PATH)
    assert isinstance(doc, dict)
    return doc


def setting(value: object, *path: str | int) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        node: Any = doc
        for part in path[:-1]:
            node = node.setdefault(part, {}) if isinstance(node, dict) else node[part]
        node[path[-1]] = value

    return change


# (change to runc's spec, upstream's verdict, ours, the spec text that decides)
DIVERGENCES: list[tuple[str, Callable[[Doc], None], bool, bool, str]] = [
    ("args-empty", setting([], "process", "args"), True, False,
     "config.md: at least one entry is REQUIRED (non-Windows)"),
    ("ociVersion-not-semver", setting("1.0", "ociVersion"), True, False,
     "config.md: ociVersion MUST be in SemVer v2.0.0 format"),
    ("device-without-major", setting([{"path": "/dev/x", "type": "c"}], "linux", "devices"),
     True, False, "config-linux.md: major, minor REQUIRED unless type is p"),
    ("io-priority-without-priority", setting({"class": "IOPRIO_CLASS_BE"}, "process", "ioPriority"),
     True, False, "config.md: ioPriority.priority (int, REQUIRED)"),
    ("memory-policy-without-mode", setting({"nodes": "0"}, "linux", "memoryPolicy"), True, False,
     "config-linux.md: memoryPolicy.mode (string, REQUIRED)"),
    ("personality-without-domain", setting({"flags": []}, "linux", "personality"), True, False,
     "config-linux.md: personality.domain (string, REQUIRED)"),
    ("throttle-without-rate",
     setting({"throttleReadBpsDevice": [{"major": 8, "minor": 0}]}, "linux", "resources",
             "blockIO"), True, False, "config-linux.md: rate (uint64, REQUIRED)"),
    ("weight-device-without-weights",
     setting({"weightDevice": [{"major": 8, "minor": 0}]}, "linux", "resources", "blockIO"),
     True, False, "config-linux.md: MUST specify at least one of weight or leafWeight"),
    ("rdma-entry-empty", setting({"mlx5_1": {}}, "linux", "resources", "rdma"), True, False,
     "config-linux.md: MUST specify at least one of hcaHandles or hcaObjects"),
    ("cgroup-device-type-x", setting([{"allow": True, "type": "x"}], "linux", "resources",
                                     "devices"), True, False,
     "config-linux.md: type of device: a (all), c (char), or b (block)"),
    ("cgroup-device-access-x", setting([{"allow": True, "access": "rwx"}], "linux", "resources",
                                       "devices"), True, False,
     "config-linux.md: access: a composition of r, w and m"),
    ("schemata-newline", setting({"schemata": ["L3:0=f\nMB:0=1"]}, "linux", "intelRdt"), True,
     False, "config-linux.md: schemata: the value MUST NOT contain newlines"),
    ("annotation-key-empty", setting({"": "x"}, "annotations"), True, False,
     "config.md: annotation keys MUST NOT be an empty string"),
    ("cpus-not-a-list", setting({"cpus": "all"}, "linux", "resources", "cpu"), True, False,
     "config-linux.md: cpus is a comma-separated list, with dashes for ranges"),
    ("oom-score-adj-huge", setting(1 << 40, "process", "oomScoreAdj"), True, False,
     "config.md: oomScoreAdj (int)"),
    ("pids-without-limit", setting({}, "linux", "resources", "pids"), False, True,
     "config-linux.md: pids.limit (int64, OPTIONAL)"),
    ("device-file-mode-with-type-bits",
     setting([{"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 8630}],
             "linux", "devices"), False, True, "config-linux.md: fileMode (uint32, OPTIONAL)"),
    ("freebsd-device-without-path", setting({"devices": [{"mode": 384}]}, "freebsd"), True, False,
     "config-freebsd.md: devices[].path (string, REQUIRED)"),
    ("windows-cpu-affinity-array",
     setting({"layerFolders": ["C:\\l"],
              "resources": {"cpu": {"affinity": [{"mask": 1, "group": 0}]}}}, "windows"),
     False, True,
     "config-windows.md: affinity (array of objects, OPTIONAL)"),
    ("time-offset-other-clock", setting({"realtime": 5}, "linux", "timeOffsets"), True, False,
     "config-linux.md: timeOffsets entry values are objects"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "upstream_valid", "ours_valid", "reason"),
    [pytest.param(*rest, id=name) for name, *rest in DIVERGENCES],
)
def test_divergence_from_upstream(
    change: Callable[[Doc], None],
    upstream_valid: bool,
    ours_valid: bool,
    reason: str,
    upstream: Upstream,
) -> None:
    doc = base()
    change(doc)
    assert upstream.is_valid("config", doc) == upstream_valid, reason
    lines = validate_config(doc)
    assert (not lines) == ours_valid, (reason, lines)
    for line in lines:
        assert LINE.match(line), line


# --- the shape of the lines --------------------------------------------------------


def test_line_for_empty_args() -> None:
    doc = base()
    doc["process"]["args"] = []
    assert validate_config(doc) == ["config.json: process.args: [] is too short (minItems 1)"]


def test_line_for_missing_root_property() -> None:
    doc = base()
    del doc["ociVersion"]
    assert validate_config(doc) == ["config.json: 'ociVersion' is a required property (required)"]


def test_line_for_nested_path() -> None:
    doc = base()
    doc["mounts"][2]["destination"] = 3
    doc["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0}]}],
    }
    assert validate_config(doc) == [
        "config.json: mounts[2].destination: 3 is not of type 'string' (type)",
        "config.json: linux.seccomp.syscalls[0].args[0]: 'value' is a required property (required)",
        "config.json: linux.seccomp.syscalls[0].args[0]: 'op' is a required property (required)",
    ]


def test_line_for_keys_that_are_not_names() -> None:
    doc = base()
    doc["linux"]["sysctl"] = {"net.ipv4.ip_forward": 1}
    doc["annotations"] = {"": "empty key"}
    assert validate_config(doc) == [
        "config.json: linux.sysctl[\"net.ipv4.ip_forward\"]: 1 is not of type 'string' (type)",
        "config.json: annotations: property name '' is too short (minLength 1)",
    ]


def test_line_for_one_of_picks_the_matching_alternative() -> None:
    doc = base()
    doc["linux"]["devices"] = [
        {"path": "/dev/fuse", "type": "c", "minor": 229},
        {"path": "/dev/fifo", "type": "p"},
        {"path": "/dev/what", "type": "x", "major": 1, "minor": 1},
        {"path": "/dev/none", "major": 1, "minor": 1},
    ]
    assert validate_config(doc) == [
        # type "c" selects the char/block alternative: its problem, not "type is not 'p'"
        "config.json: linux.devices[0]: 'major' is a required property (required)",
        # no alternative matches "x": their allowed values, merged
        "config.json: linux.devices[2].type: 'x' is not one of ['p', 'c', 'b', 'u'] (enum)",
        # a missing discriminator is reported once, not again by the oneOf
        "config.json: linux.devices[3]: 'type' is a required property (required)",
    ]


def test_line_for_any_of_lists_the_alternatives() -> None:
    doc = base()
    doc["linux"]["resources"]["rdma"] = {"mlx5_1": {}, "mlx4_0": {"hcaObjects": -1}}
    assert validate_config(doc) == [
        "config.json: linux.resources.rdma.mlx5_1: "
        "at least one of 'hcaHandles', 'hcaObjects' is required (anyOf)",
        "config.json: linux.resources.rdma.mlx4_0.hcaObjects: "
        "-1 is less than the minimum of 0 (minimum 0)",
    ]


def test_lines_come_in_document_order() -> None:
    doc = base()
    doc["hostname"] = 1
    doc["process"]["terminal"] = "no"
    doc["root"]["readonly"] = "no"
    lines = validate_config(doc)
    keys = list(doc)
    assert [line.split(":")[1].strip().split(".")[0] for line in lines] == sorted(
        ["process", "root", "hostname"], key=keys.index
    )


def test_other_rules() -> None:
    doc = base()
    doc["process"]["user"]["uid"] = 1.0
    doc["process"]["rlimits"][0]["hard"] = 1 << 64
    doc["linux"]["rootfsPropagation"] = "rshared"
    doc["linux"]["resources"]["hugepageLimits"] = [{"pageSize": "2mb", "limit": 1}]
    assert validate_config(doc) == [
        "config.json: process.user.uid: 1.0 is not of type 'integer' (type)",
        "config.json: process.rlimits[0].hard: 18446744073709551616 is greater than the maximum "
        "of 18446744073709551615 (maximum 18446744073709551615)",
        "config.json: linux.resources.hugepageLimits[0].pageSize: "
        "'2mb' does not match '^[1-9][0-9]*[KMG]B$' (pattern)",
        "config.json: linux.rootfsPropagation: 'rshared' is not one of "
        "['shared', 'slave', 'private', 'unbindable'] (enum)",
    ]


def test_source_names_the_file() -> None:
    assert validate_config({}, "/bundle/config.json") == [
        "/bundle/config.json: 'ociVersion' is a required property (required)"
    ]
    assert validate_config([]) == ["config.json: [] is not of type 'object' (type)"]


def test_long_values_are_shortened() -> None:
    doc = base()
    doc["mounts"] = {"destination": "/" * 200}
    shown = "{'destination': '" + "/" * 40 + "..."
    assert len(shown) == 60
    assert validate_config(doc) == [f"config.json: mounts: {shown} is not of type 'array' (type)"]


def test_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    assert validate_config(object())[0].startswith("config.json: <object object")
    monkeypatch.setattr(validate, "_validators", {})
    monkeypatch.setattr(validate, "schema_dir", lambda: "/nonexistent")
    (line,) = validate_config({"ociVersion": "1.0.0"})
    assert line.startswith("config.json: cannot validate against config-schema.json: ")


def test_format_path() -> None:
    assert format_path([]) == ""
    assert format_path(["mounts", 2, "destination"]) == "mounts[2].destination"
    assert format_path([0, "a"]) == "[0].a"
    assert format_path(["annotations", "com.example/key"]) == 'annotations["com.example/key"]'


# --- state and features ----------------------------------------------------------


def state_doc(**changes: object) -> Doc:
    doc: Doc = {
        "ociVersion": "1.0.2-dev",
        "id": "c1",
        "status": "created",
        "pid": 4422,
        "bundle": "/containers/c1",
        "rootfs": "/containers/c1/rootfs",
        "created": "2024-01-01T00:00:00Z",
        "owner": "",
    }
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not None}


def test_state() -> None:
    assert validate_state(state_doc()) == []
    assert validate_state(state_doc(status="stopped", pid=0)) == []
    assert validate_state(state_doc(status="stopped", pid=None)) == []
    # runtime.md: additional status values MAY be defined by the runtime (runc: paused)
    assert validate_state(state_doc(status="paused")) == []
    assert validate_state(state_doc(status="running", pid=None)) == [
        "state.json: 'pid' is a required property (required)"
    ]
    assert validate_state(state_doc(id=None, pid=-1)) == [
        "state.json: 'id' is a required property (required)",
        "state.json: pid: -1 is less than the minimum of 0 (minimum 0)",
    ]


def test_state_of_runc(upstream: Upstream) -> None:
    """A state document as runc prints it passes ours and upstream's."""
    doc = state_doc(annotations={"org.opencontainers.image.os": "linux"})
    assert validate_state(doc) == []
    assert upstream.is_valid("state", doc)


def features_doc() -> Doc:
    path = os.path.join(UPSTREAM_SCHEMA, "test", "features", "good", "runc.json")
    if not os.path.isfile(path):
        pytest.skip(NO_SPEC)
    doc = read_json(path)
    assert isinstance(doc, dict)
    return copy.deepcopy(doc)


def test_features() -> None:
    doc = features_doc()
    assert validate_features(doc) == []
    # features.md: everything but the versions MAY be null
    doc.update(hooks=None, annotations=None)
    doc["linux"]["cgroup"] = None
    doc["linux"]["seccomp"]["enabled"] = None
    assert validate_features(doc) == []
    doc["linux"]["namespaces"] = ["uts", "net"]
    doc["ociVersionMin"] = None
    doc["annotations"] = {"a": 1}
    assert validate_features(doc) == [
        "features.json: ociVersionMin: null is not of type 'string' (type)",
        "features.json: linux.namespaces[1]: 'net' is not one of "
        "['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time'] (enum)",
        "features.json: annotations.a: 1 is not of type 'string' (type)",
    ]


def test_features_versions_in_order() -> None:
    doc = {"ociVersionMin": "1.1.0", "ociVersionMax": "1.1.0-rc.1"}
    assert validate_features(doc) == [
        "features.json: ociVersionMax: '1.1.0-rc.1' is less than ociVersionMin '1.1.0' "
        "(ociVersionMax >= ociVersionMin)"
    ]
    assert validate_features({"ociVersionMin": "1.0.0", "ociVersionMax": "1.0.0"}) == []


def test_features_of_runc(upstream: Upstream) -> None:
    runc = "/usr/bin/runc"
    if not os.access(runc, os.X_OK):
        pytest.skip("runc is not installed at /usr/bin/runc")
    out = subprocess.run([runc, "features"], capture_output=True, text=True, check=True).stdout
    doc = json.loads(out)
    assert validate_features(doc) == []
    assert upstream.is_valid("features", doc)


@pytest.mark.parametrize(
    ("low", "high"),
    [
        ("1.0.0-alpha", "1.0.0-alpha.1"),
        ("1.0.0-alpha.1", "1.0.0-alpha.beta"),
        ("1.0.0-alpha.beta", "1.0.0-beta"),
        ("1.0.0-beta.2", "1.0.0-beta.11"),
        ("1.0.0-rc.1", "1.0.0"),
        ("1.0.2-dev", "1.0.2"),
        ("1.2.9", "1.10.0"),
    ],
)
def test_semver_precedence(low: str, high: str) -> None:
    assert semver_key(low) < semver_key(high)
    assert semver_key(high + "+build.5") == semver_key(high)
