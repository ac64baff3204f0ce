"""features.md and features-linux.md: the document ``RUNTIME features`` prints,
and that the runtime accepts what it lists."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conformance.bundle import Bundle, Session
from conformance.plugin import clause
from conformance.runtime import Runtime

MakeBundle = Callable[..., Bundle]
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?"
                    r"(?:\+[0-9A-Za-z.-]+)?$")

# The properties features.md and features-linux.md of v1.3.0 define (None: a free map).
KNOWN: dict[str, Any] = {
    "ociVersionMin": None, "ociVersionMax": None, "hooks": None, "mountOptions": None,
    "annotations": None, "potentiallyUnsafeConfigAnnotations": None,
    "linux": {
        "namespaces": None, "capabilities": None,
        "cgroup": {"v1": None, "v2": None, "systemd": None, "systemdUser": None, "rdma": None},
        "seccomp": {"enabled": None, "actions": None, "operators": None, "archs": None,
                    "knownFlags": None, "supportedFlags": None},
        "apparmor": {"enabled": None}, "selinux": {"enabled": None},
        "intelRdt": {"enabled": None, "schemata": None, "monitoring": None},
        "mountExtensions": {"idmap": {"enabled": None}},
        "netDevices": {"enabled": None},
        "memoryPolicy": {"modes": None, "flags": None},
    },
}


@pytest.fixture
def features(rt: Runtime) -> dict[str, Any]:
    doc = rt.features()
    if doc is None:
        # a runtime without `features` fails these clauses (list it in its expectations
        # file), it does not skip them: a skip would hide a `features` that broke
        res = rt.run("features")
        pytest.fail(f"{rt.name} features did not print a JSON object\n{res.describe()}")
    return doc


def _semver_key(v: str) -> tuple[int, int, int, int, str]:
    m = SEMVER.match(v)
    assert m, f"{v!r} is not SemVer"
    pre = m.group(4)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)), 0 if pre else 1, pre or "")


@clause("features.md", "`ociVersionMin` (string, REQUIRED)")
@clause("features.md", "`ociVersionMax` (string, REQUIRED)")
@clause("features.md", "The value MUST NOT be less than the value of the `ociVersionMin` property.")
def test_features_versions(features: dict[str, Any]) -> None:
    vmin, vmax = features.get("ociVersionMin"), features.get("ociVersionMax")
    assert isinstance(vmin, str) and SEMVER.match(vmin), f"ociVersionMin: {vmin!r}"
    assert isinstance(vmax, str) and SEMVER.match(vmax), f"ociVersionMax: {vmax!r}"
    assert _semver_key(vmax) >= _semver_key(vmin), f"{vmax} < {vmin}"


@pytest.mark.parametrize("key", [
    pytest.param("ociVersionMin", marks=clause("features.md", "features:specification-version:2")),
    pytest.param("ociVersionMax", marks=clause("features.md", "features:specification-version:4")),
])
def test_features_version_accepted(features: dict[str, Any], bundle: MakeBundle,
                                   key: str) -> None:
    b = bundle("exit", "0")
    b.config["ociVersion"] = features[key]
    b.run()


def _unknown(doc: Any, known: Any, where: str) -> list[str]:
    if known is None or not isinstance(doc, dict):
        return []
    out = []
    for k, v in doc.items():
        if k not in known:
            out.append(f"{where}{k}")
        else:
            out += _unknown(v, known[k], f"{where}{k}.")
    return out


@clause("features.md", "The Features structure MUST NOT contain properties that are not defined")
def test_features_no_unknown_properties(features: dict[str, Any]) -> None:
    extra = _unknown(features, KNOWN, "")
    assert not extra, f"properties not in runtime-spec v1.3.0: {extra}"


@clause("features.md", "the content of the Features structure SHOULD be determined on the "
                       "compilation")
def test_features_stable(rt: Runtime, features: dict[str, Any]) -> None:
    again = rt.run("features")
    import json

    assert json.loads(again.stdout) == features, "features printed two different documents"


@clause("features.md", "Annotations MUST be a key-value map that follows the same convention")
def test_features_annotations(features: dict[str, Any]) -> None:
    ann = features.get("annotations")
    if ann is None:
        pytest.skip("no annotations in the features document")
    assert isinstance(ann, dict)
    for k, v in ann.items():
        assert isinstance(k, str) and k, f"annotation key {k!r}"
        assert isinstance(v, str), f"annotation {k}: value {v!r} is not a string"


def _hook_param(h: str) -> Any:
    return pytest.param(h, marks=clause("features.md", "The runtime MUST support the elements "
                                        "in this array as the `hooks` property"))


@pytest.mark.parametrize("hook", [_hook_param(h) for h in
                                  ("prestart", "createRuntime", "createContainer",
                                   "startContainer", "poststart", "poststop")])
def test_features_hooks_supported(features: dict[str, Any], bundle: MakeBundle,
                                  session: Session, hook: str) -> None:
    if hook not in (features.get("hooks") or []):
        pytest.skip(f"{hook} is not listed in features.hooks")
    b = bundle("exit", "0")
    log = b.rootfs / "hooks.log"
    inside = hook == "startContainer"
    b.config["hooks"] = {hook: [{"path": "/helper" if inside else str(session.helper),
                                 "args": ["helper", "hook", "/hooks.log" if inside else str(log),
                                          hook]}]}
    b.run()
    assert b.delete().ok
    assert log.exists() and f"== {hook}" in log.read_text(), f"{hook} hook did not run"


# Options that need something a plain bind mount of a directory cannot give.
NEEDS_MORE = {"idmap": "needs a user namespace or mappings",
              "ridmap": "needs a user namespace or mappings",
              "remount": "remounts an existing mount (tested in test_config)",
              "tmpcopyup": "applies to tmpfs mounts"}


@clause("features.md", "The runtime MUST recognize the elements in this array as the `options`")
def test_features_mount_options_recognized(features: dict[str, Any], bundle: MakeBundle) -> None:
    opts = [o for o in features.get("mountOptions") or [] if o not in NEEDS_MORE]
    if not opts:
        pytest.skip("no mountOptions in the features document")
    failed: dict[str, str] = {}
    b = bundle("exit", "0")
    src = b.dir / "src"
    src.mkdir()
    for opt in opts:
        b.config["mounts"] = [m for m in b.config["mounts"] if m["destination"] != "/mnt/o"]
        b.add_mount({"destination": "/mnt/o", "type": "none", "source": str(src),
                     "options": ["bind", opt]})
        res = b.create()
        if res.ok:
            b.delete(force=True)
        else:
            failed[opt] = (res.stderr.strip().splitlines() or ["?"])[-1][:200]
            b.delete(force=True)
        b.stdout_path.unlink(missing_ok=True)
        b.stderr_path.unlink(missing_ok=True)
    assert not failed, f"listed mount options refused on a bind mount: {failed}"


@clause("features.md", "this array SHOULD NOT contain filesystem-specific mount options")
def test_features_no_fs_specific_options(features: dict[str, Any]) -> None:
    opts = set(features.get("mountOptions") or [])
    fs_specific = {"size", "mode", "uid", "gid", "nr_inodes", "acl", "noacl", "user_xattr",
                   "errors", "data", "commit", "discard", "nodiscard", "barrier"}
    bad = sorted(o for o in opts if o.split("=")[0] in fs_specific)
    assert not bad, f"filesystem-specific options listed: {bad}"


@clause("features-linux.md", "The runtime MUST recognize the elements in this array as the `type`")
def test_features_namespaces_recognized(features: dict[str, Any], bundle: MakeBundle) -> None:
    types = (features.get("linux") or {}).get("namespaces")
    if not types:
        pytest.skip("no linux.namespaces in the features document")
    for t in types:
        if t == "time" and not Path("/proc/self/ns/time").exists():
            continue
        b = bundle("exit", "0")
        if t == "user":
            b.add_namespace("user")
            b.linux["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
            b.linux["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        else:
            b.add_namespace(t)
        res = b.create()
        assert res.ok, f"namespace {t!r} is listed but refused\n{res.describe()}"


def _bounding() -> set[int]:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapBnd:"):
            v = int(line.split()[1], 16)
            return {i for i in range(64) if v >> i & 1}
    return set()


CAP_NUMBERS = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
    "CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
    "CAP_LINUX_IMMUTABLE": 9, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11,
    "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19,
    "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27,
    "CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31,
    "CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33, "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35,
    "CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37, "CAP_PERFMON": 38, "CAP_BPF": 39,
    "CAP_CHECKPOINT_RESTORE": 40,
}


@clause("features-linux.md", "The runtime MUST recognize the elements in this array in the "
                             "`process.capabilities`")
def test_features_capabilities_recognized(features: dict[str, Any], bundle: MakeBundle) -> None:
    caps = (features.get("linux") or {}).get("capabilities")
    if not caps:
        pytest.skip("no linux.capabilities in the features document")
    bounding = _bounding()
    grantable = [c for c in caps if CAP_NUMBERS.get(c, -1) in bounding]
    b = bundle("status")
    b.process["capabilities"] = {k: grantable for k in ("bounding", "effective", "permitted")}
    out = b.run()
    eff = int(next(line.split("=", 1)[1] for line in out.splitlines()
                   if line.startswith("CapEff=")), 16)
    missing = [c for c in grantable if not eff >> CAP_NUMBERS[c] & 1]
    assert not missing, f"listed capabilities not granted: {missing}"


def _seccomp_bundle(bundle: MakeBundle, rule: dict[str, Any], **extra: Any) -> Bundle:
    b = bundle("exit", "0")
    b.linux["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule], **extra}
    return b


@clause("features-linux.md", "in the `syscalls[].action` property")
def test_features_seccomp_actions(features: dict[str, Any], bundle: MakeBundle) -> None:
    sec = (features.get("linux") or {}).get("seccomp") or {}
    if not sec.get("enabled") or not sec.get("actions"):
        pytest.skip("seccomp actions are not listed")
    refused = {}
    for action in sec["actions"]:
        if action == "SCMP_ACT_NOTIFY":
            continue  # needs a listener: tested in test_config_linux
        rule = {"names": ["getcpu"], "action": action}
        b = _seccomp_bundle(bundle, rule)
        res = b.create()
        if not res.ok:
            refused[action] = res.stderr.strip()[-200:]
    assert not refused, f"listed seccomp actions refused: {refused}"


@clause("features-linux.md", "in the `syscalls[].args[].op` property")
def test_features_seccomp_operators(features: dict[str, Any], bundle: MakeBundle) -> None:
    sec = (features.get("linux") or {}).get("seccomp") or {}
    if not sec.get("enabled") or not sec.get("operators"):
        pytest.skip("seccomp operators are not listed")
    refused = {}
    for op in sec["operators"]:
        rule = {"names": ["getcpu"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 0, "value": 1, "valueTwo": 1, "op": op}]}
        res = _seccomp_bundle(bundle, rule).create()
        if not res.ok:
            refused[op] = res.stderr.strip()[-200:]
    assert not refused, f"listed seccomp operators refused: {refused}"


# One seccomp filter holds architectures of one byte order (libseccomp answers EDOM).
BIG_ENDIAN = {"SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_PPC",
              "SCMP_ARCH_PPC64", "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC",
              "SCMP_ARCH_PARISC64", "SCMP_ARCH_M68K", "SCMP_ARCH_SHEB"}


@clause("features-linux.md", "in the `architectures` property of the `linux.seccomp` object")
def test_features_seccomp_archs(features: dict[str, Any], bundle: MakeBundle) -> None:
    sec = (features.get("linux") or {}).get("seccomp") or {}
    if not sec.get("enabled") or not sec.get("archs"):
        pytest.skip("seccomp archs are not listed")
    refused = {}
    native = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    for arch in sec["archs"]:
        if arch in BIG_ENDIAN:
            continue  # libseccomp cannot put them in one filter with a little-endian arch
        rule = {"names": ["getcpu"], "action": "SCMP_ACT_ERRNO"}
        archs = [arch] if arch in native else ["SCMP_ARCH_X86_64", arch]
        res = _seccomp_bundle(bundle, rule, architectures=archs).create()
        if not res.ok:
            refused[arch] = res.stderr.strip()[-200:]
    assert not refused, f"listed seccomp architectures refused: {refused}"


@clause("features-linux.md", "The runtime MUST recognize the elements in this array in the "
                             "`flags` property")
@clause("features-linux.md", "The runtime MUST recognize and support the elements in this array "
                             "in the `flags`")
def test_features_seccomp_flags(features: dict[str, Any], bundle: MakeBundle) -> None:
    sec = (features.get("linux") or {}).get("seccomp") or {}
    if not sec.get("enabled") or not sec.get("supportedFlags"):
        pytest.skip("seccomp flags are not listed")
    refused = {}
    for flag in sec["supportedFlags"]:
        rule = {"names": ["getcpu"], "action": "SCMP_ACT_ERRNO"}
        b = _seccomp_bundle(bundle, rule, flags=[flag])
        res = b.create()
        if res.ok:
            res = b.start()
        if not res.ok:
            refused[flag] = res.stderr.strip()[-200:]
    assert not refused, f"supported seccomp flags refused: {refused}"


MEMPOLICY_NODES = {"MPOL_DEFAULT": None, "MPOL_LOCAL": None}


@clause("features-linux.md", "The runtime MUST recognize the elements in this array as the `mode`")
@clause("features-linux.md", "The runtime MUST recognize the elements in this in the `flags` "
                             "property")
def test_features_memory_policy(features: dict[str, Any], bundle: MakeBundle) -> None:
    mp = (features.get("linux") or {}).get("memoryPolicy") or {}
    if not mp.get("modes"):
        pytest.skip("no linux.memoryPolicy in the features document")
    refused = {}
    for mode in mp["modes"]:
        b = bundle("exit", "0")
        pol: dict[str, Any] = {"mode": mode}
        if mode not in MEMPOLICY_NODES:
            pol["nodes"] = "0"
        b.linux["memoryPolicy"] = pol
        res = b.create()
        if not res.ok:
            refused[mode] = res.stderr.strip()[-200:]
    for flag in mp.get("flags") or []:
        b = bundle("exit", "0")
        b.linux["memoryPolicy"] = {"mode": "MPOL_BIND", "nodes": "0", "flags": [flag]}
        res = b.create()
        if not res.ok:
            refused[flag] = res.stderr.strip()[-200:]
    assert not refused, f"listed memory policy modes/flags refused: {refused}"


@clause("features-linux.md", "runtimes MUST still set this value to `true`")
def test_features_mount_extensions(features: dict[str, Any], bundle: MakeBundle) -> None:
    idmap = ((features.get("linux") or {}).get("mountExtensions") or {}).get("idmap")
    if idmap is None:
        pytest.skip("no linux.mountExtensions.idmap in the features document")
    if not idmap.get("enabled"):
        # Not enabled: the runtime must then not recognise mount uidMappings at all.
        pytest.skip("idmap mounts are not enabled")
    b = bundle("stat", "/mnt/id/f")
    b.add_namespace("user")
    b.linux["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    b.linux["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    src = b.dir / "idsrc"
    src.mkdir()
    (src / "f").write_text("x")
    (b.rootfs / "mnt" / "id").mkdir(parents=True)
    b.add_mount({"destination": "/mnt/id", "type": "bind", "source": str(src),
                 "options": ["bind", "idmap"],
                 "uidMappings": [{"containerID": 0, "hostID": 0, "size": 1}],
                 "gidMappings": [{"containerID": 0, "hostID": 0, "size": 1}]})
    res = b.create()
    assert res.ok, \
        f"mountExtensions.idmap.enabled is true but an idmap mount fails\n{res.describe()}"
