"""pyoci.spec.semantic: the rules of config.md / config-linux.md beyond the schema.

Each case changes ``runc spec``'s config (tests/data/configs/valid/runc-spec.json:
namespaces pid, network, ipc, uts, mount, cgroup; hostname "runc") and lists
the exact lines expected.
"""

from __future__ import annotations

import glob
import json
import os
import re
from collections.abc import Callable
from typing import Any

import pytest

from pyoci.spec.semantic import check_config, config_warnings

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(REPO, "tests", "data", "configs")
LINE = re.compile(r'^config\.json: (?:[A-Za-z0-9_\[\]".:-]+: )?\S.*$')

Doc = dict[str, Any]
Change = Callable[[Doc], object]


def read(name: str) -> Doc:
    with open(os.path.join(CORPUS, name)) as f:
        doc: Doc = json.load(f)
    return doc


@pytest.fixture
def bundle(tmp_path: Any) -> str:
    os.mkdir(tmp_path / "rootfs")
    return str(tmp_path)


def problems(bundle: str, change: Change, name: str = "valid/runc-spec.json") -> list[str]:
    doc = read(name)
    change(doc)
    lines = check_config(doc, bundle)
    for line in lines:
        assert LINE.match(line), line
    return lines


def linux(**fields: object) -> Change:
    return lambda d: d["linux"].update(fields)


def process(**fields: object) -> Change:
    return lambda d: d["process"].update(fields)


def namespaces(*entries: object) -> Change:
    return linux(namespaces=[{"type": e} if isinstance(e, str) else e for e in entries])


def both(*changes: Change) -> Change:
    def change(d: Doc) -> None:
        for each in changes:
            each(d)

    return change


USER_MAPS = {
    "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
    "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
}
OK: list[str] = []
NO_HOSTNAME: Change = lambda d: d.pop("hostname")  # noqa: E731


def test_runc_spec_has_no_problems(bundle: str) -> None:
    assert problems(bundle, lambda d: None) == OK
    assert problems(bundle, lambda d: None, "valid/runc-spec-rootless.json") == OK


# Configs of the valid corpus that are not fit for a Linux container, and why.
NOT_FOR_LINUX = {
    # (minimal.json has no process: fine, config.md: only start needs it)
    "crun-spec-rootless.json": [
        # crun maps the calling user by itself; runc, like pyoci, wants the maps
        "config.json: linux.uidMappings: required with a new user namespace but missing",
        "config.json: linux.gidMappings: required with a new user namespace but missing",
    ],
    "windows.json": None,
}


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(p, id=os.path.basename(p))
        for p in sorted(glob.glob(os.path.join(CORPUS, "valid", "*.json")))
    ],
)
def test_valid_corpus(path: str, bundle: str) -> None:
    name = os.path.basename(path)
    lines = problems(bundle, lambda d: None, os.path.join("valid", name))
    expected = NOT_FOR_LINUX.get(name, OK)
    if expected is None:
        assert lines, "not a Linux config, yet no problem found"
    else:
        assert lines == expected


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(p, id=os.path.basename(p))
        for p in sorted(glob.glob(os.path.join(CORPUS, "invalid", "*.json")))
    ],
)
def test_never_raises_on_schema_invalid_configs(path: str, bundle: str) -> None:
    with open(path) as f:
        doc = json.load(f)
    if isinstance(doc, dict):
        assert isinstance(check_config(doc, bundle), list)
        assert isinstance(config_warnings(doc), list)


CASES: list[tuple[str, Change, list[str]]] = [
    # config.md Specification version: compatible within major version 1
    ("version-2", lambda d: d.update(ociVersion="2.0.0"),
     ['config.json: ociVersion: "2.0.0" is not supported: '
      "this runtime implements 1.x up to 1.3.0"]),
    ("version-1.4", lambda d: d.update(ociVersion="1.4.0-rc.1"), OK),
    # config.md Root: REQUIRED on every platform but Windows; path relative to the bundle
    ("root-missing", lambda d: d.pop("root"), ["config.json: root: required on Linux but missing"]),
    ("root-path-empty", lambda d: d["root"].update(path=""),
     ["config.json: root.path: must not be empty"]),
    ("root-path-escapes", lambda d: d["root"].update(path="../x"),
     ['config.json: root.path: "../x" escapes the bundle directory']),
    ("root-path-escapes-later", lambda d: d["root"].update(path="rootfs/../../x"),
     ['config.json: root.path: "rootfs/../../x" escapes the bundle directory']),
    ("root-path-dotdot", lambda d: d["root"].update(path=".."),
     ['config.json: root.path: ".." escapes the bundle directory']),
    ("root-path-inside", lambda d: d["root"].update(path="./rootfs/../rootfs"), OK),
    ("root-path-absent-dir", lambda d: d["root"].update(path="/nonexistent/rootfs"),
     ['config.json: root.path: directory "/nonexistent/rootfs" does not exist']),
    # config.md Process: REQUIRED to start; cwd absolute; args at least one (non-Windows)
    # config.md: process is REQUIRED only when start is called (start refuses it)
    ("process-missing", lambda d: d.pop("process"), OK),
    ("cwd-relative", process(cwd="home"),
     ['config.json: process.cwd: "home" is not an absolute path']),
    ("args-missing", lambda d: d["process"].pop("args"),
     ["config.json: process.args: required on Linux but missing"]),
    ("user-without-ids", process(user={"umask": 18}),
     ["config.json: process.user.uid: required on Linux but missing",
      "config.json: process.user.gid: required on Linux but missing"]),
    ("user-absent", lambda d: d["process"].pop("user"), OK),
    # config.md POSIX process: rlimits
    ("rlimit-twice", process(rlimits=[{"type": "RLIMIT_CORE", "soft": 0, "hard": 0}] * 2),
     ['config.json: process.rlimits: rlimit type "RLIMIT_CORE" listed twice']),
    ("rlimit-not-linux", process(rlimits=[{"type": "RLIMIT_VMEM", "soft": 1, "hard": 1}]),
     ['config.json: process.rlimits[0].type: "RLIMIT_VMEM" is not a Linux rlimit']),
    ("rlimit-soft-above-hard", process(rlimits=[{"type": "RLIMIT_NOFILE", "soft": 2, "hard": 1}]),
     ["config.json: process.rlimits[0]: soft limit 2 is greater than hard limit 1"]),
    # config.md Linux process: values the kernel refuses
    ("oom-score-adj", process(oomScoreAdj=1001),
     ["config.json: process.oomScoreAdj: 1001 is outside the range -1000 to 1000"]),
    ("oom-score-adj-edge", process(oomScoreAdj=-1000), OK),
    ("io-priority", process(ioPriority={"class": "IOPRIO_CLASS_BE", "priority": 8}),
     ["config.json: process.ioPriority.priority: 8 is outside the range 0 to 7"]),
    ("nice", process(scheduler={"policy": "SCHED_OTHER", "nice": -21}),
     ["config.json: process.scheduler.nice: -21 is outside the range -20 to 19"]),
    ("cpu-affinity-backwards", process(execCPUAffinity={"initial": "0,3-1"}),
     ['config.json: process.execCPUAffinity.initial: range "3-1" ends before it starts']),
    # config.md Hooks: path MUST be absolute
    ("hook-relative", lambda d: d.update(hooks={"poststop": [{"path": "/a"}, {"path": "b"}]}),
     ['config.json: hooks.poststop[1].path: "b" is not an absolute path']),
    # config.md POSIX mounts: uidMappings MUST come with gidMappings; idmap needs a mapping
    ("mount-uid-maps-only",
     lambda d: d["mounts"].append({"destination": "/m", "uidMappings": USER_MAPS["uidMappings"]}),
     ["config.json: mounts[7]: uidMappings given without gidMappings"]),
    ("mount-gid-maps-only",
     lambda d: d["mounts"].append({"destination": "/m", "gidMappings": USER_MAPS["gidMappings"]}),
     ["config.json: mounts[7]: gidMappings given without uidMappings"]),
    ("idmap-without-anything",
     lambda d: d["mounts"].append({"destination": "/m", "options": ["bind", "idmap"]}),
     ['config.json: mounts[7].options: "idmap" needs uidMappings and gidMappings '
      "or a user namespace"]),
    ("idmap-with-user-namespace",
     both(lambda d: d["mounts"].append({"destination": "/m", "options": ["rbind", "ridmap"]}),
          lambda d: d["linux"]["namespaces"].append({"type": "user"}), linux(**USER_MAPS)), OK),
    ("idmap-with-mappings",
     lambda d: d["mounts"].append({"destination": "/m", "options": ["idmap"], **USER_MAPS}), OK),
    ("mount-mapping-overlap",
     lambda d: d["mounts"].append({
         "destination": "/m", "options": ["idmap"],
         "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 10},
                         {"containerID": 5, "hostID": 5000, "size": 10}],
         "gidMappings": USER_MAPS["gidMappings"]}),
     ["config.json: mounts[7].uidMappings[1]: overlaps mounts[7].uidMappings[0]"]),
    # config-linux.md Namespaces: duplicates MUST be an error; path MUST be absolute
    ("namespace-twice", lambda d: d["linux"]["namespaces"].append({"type": "pid"}),
     ['config.json: linux.namespaces: namespace type "pid" listed twice']),
    ("namespace-twice-joined",
     lambda d: d["linux"]["namespaces"].append({"type": "network", "path": "/run/netns/x"}),
     ['config.json: linux.namespaces: namespace type "network" listed twice']),
    ("namespace-path-relative", namespaces("pid", "uts", {"type": "network", "path": "netns/x"}),
     ['config.json: linux.namespaces[2].path: "netns/x" is not an absolute path']),
    ("namespace-path-empty-is-new", namespaces("uts", {"type": "pid", "path": ""}), OK),
    # hostname/domainname without a UTS namespace would rename the host
    ("hostname-without-uts", namespaces("pid", "mount"),
     ["config.json: hostname: setting it needs a uts namespace"]),
    ("domainname-without-uts", both(namespaces("pid"), lambda d: d.update(domainname="x.test",
                                                                           hostname="")),
     ["config.json: domainname: setting it needs a uts namespace"]),
    # a joined uts namespace that is not the runtime's (any file but our own
    # /proc/self/ns/uts compares as another namespace here)
    ("hostname-joined-uts", namespaces({"type": "uts", "path": os.path.abspath(__file__)}), OK),
    # user namespace and its mappings
    ("user-namespace-without-maps", lambda d: d["linux"]["namespaces"].append({"type": "user"}),
     ["config.json: linux.uidMappings: required with a new user namespace but missing",
      "config.json: linux.gidMappings: required with a new user namespace but missing"]),
    ("user-namespace-empty-maps",
     both(lambda d: d["linux"]["namespaces"].append({"type": "user"}),
          linux(uidMappings=[], **{"gidMappings": USER_MAPS["gidMappings"]})),
     ["config.json: linux.uidMappings: required with a new user namespace but missing"]),
    ("maps-without-user-namespace", linux(**USER_MAPS),
     ["config.json: linux.uidMappings: given but the container has no user namespace",
      "config.json: linux.gidMappings: given but the container has no user namespace"]),
    ("user-namespace-joined", lambda d: d["linux"]["namespaces"].append(
        {"type": "user", "path": "/proc/1/ns/user"}), OK),
    ("user-namespace-joined-with-maps", both(lambda d: d["linux"]["namespaces"].append(
        {"type": "user", "path": "/proc/1/ns/user"}), linux(**USER_MAPS)), OK),
    ("map-size-zero", both(lambda d: d["linux"]["namespaces"].append({"type": "user"}),
                           linux(uidMappings=[{"containerID": 0, "hostID": 1, "size": 0}],
                                 gidMappings=USER_MAPS["gidMappings"])),
     ["config.json: linux.uidMappings[0].size: must be at least 1"]),
    ("map-past-last-id", both(lambda d: d["linux"]["namespaces"].append({"type": "user"}),
                              linux(uidMappings=USER_MAPS["uidMappings"],
                                    gidMappings=[{"containerID": 0, "hostID": 4294967295,
                                                  "size": 1}])),
     ["config.json: linux.gidMappings[0]: range goes past the last id 4294967294"]),
    ("map-host-overlap", both(lambda d: d["linux"]["namespaces"].append({"type": "user"}),
                              linux(uidMappings=[{"containerID": 0, "hostID": 100, "size": 10},
                                                 {"containerID": 10, "hostID": 109, "size": 1}],
                                    gidMappings=USER_MAPS["gidMappings"])),
     ["config.json: linux.uidMappings[1]: overlaps linux.uidMappings[0]"]),
    # time namespace offsets
    ("offsets-without-time-namespace", linux(timeOffsets={"monotonic": {"secs": 1}}),
     ["config.json: linux.timeOffsets: given but the container has no time namespace"]),
    ("offsets-joined-time-namespace",
     both(lambda d: d["linux"]["namespaces"].append({"type": "time", "path": "/proc/1/ns/time"}),
          linux(timeOffsets={"boottime": {"secs": 1}})),
     ["config.json: linux.timeOffsets: cannot be applied to a joined time namespace"]),
    ("offsets-other-clock",
     both(lambda d: d["linux"]["namespaces"].append({"type": "time"}),
          linux(timeOffsets={"realtime": {"secs": 1}, "boottime": {"nanosecs": 1000000000}})),
     ['config.json: linux.timeOffsets.realtime: clock "realtime" cannot be offset '
      "(only monotonic and boottime)",
      "config.json: linux.timeOffsets.boottime.nanosecs: 1000000000 is not less than 1000000000"]),
    # config-linux.md Devices: full path in the container; one device per path
    ("device-relative", linux(devices=[{"path": "dev/x", "type": "p"}]),
     ['config.json: linux.devices[0].path: "dev/x" is not an absolute path']),
    ("device-path-twice", linux(devices=[
        {"path": "/dev/x", "type": "c", "major": 1, "minor": 3},
        {"path": "/dev//x", "type": "c", "major": 1, "minor": 5}]),
     ['config.json: linux.devices[1].path: "/dev//x" is also linux.devices[0], another device']),
    ("device-path-twice-same", linux(devices=[{"path": "/dev/x", "type": "p"}] * 2), OK),
    # config-linux.md Masked and readonly paths MUST be absolute
    ("masked-relative", linux(maskedPaths=["/proc/kcore", "proc/keys"]),
     ['config.json: linux.maskedPaths[1]: "proc/keys" is not an absolute path']),
    ("readonly-relative", linux(readonlyPaths=["sys"]),
     ['config.json: linux.readonlyPaths[0]: "sys" is not an absolute path']),
    # config-linux.md Network devices
    ("net-devices-without-netns",
     both(namespaces("pid", "uts"), linux(netDevices={"eth0": {}})),
     ["config.json: linux.netDevices: moving devices needs a network namespace"]),
    ("net-devices-bad-names",
     linux(netDevices={"eth0": {"name": "a/b"}, "averyveryverylongname": {},
                       "eth1": {"name": "ctr%d"}}),
     ['config.json: linux.netDevices.eth0.name: "a/b" is not a valid interface name',
      'config.json: linux.netDevices.averyveryverylongname: host device name '
      '"averyveryverylongname" is longer than 15 bytes']),
    ("net-devices-same-name",
     linux(netDevices={"eth0": {"name": "ctr0"}, "eth1": {"name": "ctr0"}, "eth2": {}}),
     ['config.json: linux.netDevices.eth1: would be named "ctr0" in the container, like "eth0"']),
    ("net-devices-rename-onto-other",
     linux(netDevices={"eth0": {}, "eth1": {"name": "eth0"}}),
     ['config.json: linux.netDevices.eth1: would be named "eth0" in the container, like "eth0"']),
    # config-linux.md Control groups
    ("cpu-burst-above-quota",
     lambda d: d["linux"]["resources"].update(cpu={"quota": 1000, "burst": 2000}),
     ["config.json: linux.resources.cpu.burst: 2000 is larger than quota 1000"]),
    ("cpu-burst-unlimited-quota",
     lambda d: d["linux"]["resources"].update(cpu={"quota": -1, "burst": 2000}), OK),
    ("cpus-backwards", lambda d: d["linux"]["resources"].update(cpu={"cpus": "0,5-2"}),
     ['config.json: linux.resources.cpu.cpus: range "5-2" ends before it starts']),
    ("unified-escapes",
     lambda d: d["linux"]["resources"].update(unified={"../cpu.max": "1", "memory.max": "1"}),
     ['config.json: linux.resources.unified["../cpu.max"]: must name a file in the container\'s '
      "cgroup directory"]),
    # config-linux.md Seccomp
    ("seccomp-metadata-without-listener",
     linux(seccomp={"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "x"}),
     ["config.json: linux.seccomp.listenerMetadata: set without listenerPath"]),
    ("seccomp-notify-default", linux(seccomp={"defaultAction": "SCMP_ACT_NOTIFY",
                                              "listenerPath": "/run/agent.sock"}),
     ["config.json: linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"]),
    ("seccomp-notify-without-listener", linux(seccomp={
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
     ["config.json: linux.seccomp.listenerPath: required when SCMP_ACT_NOTIFY is used"]),
    ("seccomp-errno-for-allow", linux(seccomp={"defaultAction": "SCMP_ACT_ALLOW",
                                               "defaultErrnoRet": 1}),
     ["config.json: linux.seccomp.defaultErrnoRet: SCMP_ACT_ALLOW takes no errno"]),
    ("seccomp-errno-for-kill", linux(seccomp={
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
        "syscalls": [{"names": ["a"], "action": "SCMP_ACT_KILL", "errnoRet": 1},
                     {"names": ["b"], "action": "SCMP_ACT_TRACE", "errnoRet": 1}]}),
     ["config.json: linux.seccomp.syscalls[0].errnoRet: SCMP_ACT_KILL takes no errno"]),
    ("seccomp-arg-index", linux(seccomp={
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["a"], "action": "SCMP_ACT_LOG",
                      "args": [{"index": 5, "value": 0, "op": "SCMP_CMP_EQ"},
                               {"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]}),
     ["config.json: linux.seccomp.syscalls[0].args[1].index: 6 is past the last syscall "
      "argument (5)"]),
    # config-linux.md Memory policy (set_mempolicy(2))
    ("mempolicy-default-with-nodes", linux(memoryPolicy={"mode": "MPOL_DEFAULT", "nodes": "0"}),
     ["config.json: linux.memoryPolicy.nodes: MPOL_DEFAULT takes no nodes"]),
    ("mempolicy-bind-without-nodes", linux(memoryPolicy={"mode": "MPOL_BIND"}),
     ["config.json: linux.memoryPolicy.nodes: MPOL_BIND needs at least one node"]),
    ("mempolicy-preferred-local", linux(memoryPolicy={"mode": "MPOL_PREFERRED"}), OK),
    ("mempolicy-flags", linux(memoryPolicy={
        "mode": "MPOL_INTERLEAVE", "nodes": "0-3",
        "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]}),
     ["config.json: linux.memoryPolicy.flags: MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES "
      "exclude each other"]),
    # config-linux.md Personality: "Currently no flag values are supported."
    ("personality-flags", linux(personality={"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]}),
     ["config.json: linux.personality.flags: no personality flags are supported"]),
    # config-linux.md IntelRdt: closID names a directory of the resctrl filesystem
    ("clos-escapes", linux(intelRdt={"closID": "../x"}),
     ['config.json: linux.intelRdt.closID: "../x" is not a directory name in the resctrl '
      "filesystem"]),
    ("clos-default", linux(intelRdt={"closID": "/"}), OK),
    # linux.sysctl: only keys of a namespace the container owns (issue 12); in the
    # cases without a uts namespace, no hostname either
    ("sysctl-owned", linux(sysctl={"net.ipv4.ip_forward": "1", "net/core/somaxconn": "9",
                                   "kernel.shmmax": "1", "fs.mqueue.msg_max": "1",
                                   "kernel.domainname": "x"}), OK),
    ("sysctl-vm", linux(sysctl={"vm.swappiness": "1"}),
     ['config.json: linux.sysctl: sysctl "vm.swappiness" is not in a separate kernel '
      "namespace"]),
    ("sysctl-net-without-netns", both(NO_HOSTNAME, namespaces("pid", "mount"),
                                      linux(sysctl={"net.ipv4.ip_forward": "1"})),
     ['config.json: linux.sysctl: sysctl "net.ipv4.ip_forward" not allowed in host network '
      "namespace"]),
    ("sysctl-net-in-the-runtimes-netns", both(
        NO_HOSTNAME, namespaces("pid", "mount", {"type": "network", "path": "/proc/self/ns/net"}),
        linux(sysctl={"net.ipv4.ip_forward": "1"})),
     ['config.json: linux.sysctl: sysctl "net.ipv4.ip_forward" not allowed in host network '
      'namespace ("/proc/self/ns/net" is the runtime\'s own)']),
    ("sysctl-ipc-without-ipcns", both(NO_HOSTNAME, namespaces("pid", "mount", "network"),
                                      linux(sysctl={"kernel.msgmax": "1"})),
     ['config.json: linux.sysctl: sysctl "kernel.msgmax" is not allowed in the hosts ipc '
      "namespace"]),
    ("sysctl-uts-without-utsns", both(NO_HOSTNAME, namespaces("pid", "mount"),
                                      linux(sysctl={"kernel.domainname": "x"})),
     ['config.json: linux.sysctl: sysctl "kernel.domainname" is not allowed in the hosts uts '
      "namespace"]),
    ("sysctl-malformed", linux(sysctl={"net/../vm/swappiness": "1"}),
     ['config.json: linux.sysctl: sysctl "net/../vm/swappiness" is not a valid name: has an '
      "empty, '.' or '..' component (separators are '.' or '/')"]),
    # the same class: hostname and netDevices in a joined namespace that is the runtime's
    ("hostname-in-the-runtimes-uts", namespaces(
        "pid", "mount", {"type": "uts", "path": "/proc/self/ns/uts"}),
     ['config.json: hostname: the uts namespace "/proc/self/ns/uts" is the runtime\'s own: '
      "it would change the host"]),
    ("netdevices-in-the-runtimes-netns", both(
        namespaces("pid", "mount", "uts", {"type": "network", "path": "/proc/self/ns/net"}),
        linux(netDevices={"eth1": {}})),
     ['config.json: linux.netDevices: the network namespace "/proc/self/ns/net" is the '
      "runtime's own: it would change the host"]),
    # process.user: (uid_t)-1 is "unchanged" to setresuid; ids must be mapped
    ("uid-minus-one", process(user={"uid": 4294967295, "gid": 0}),
     ["config.json: process.user.uid: 4294967295 is not a valid id (0..4294967294)"]),
    ("gid-minus-one", process(user={"uid": 0, "gid": 4294967295}),
     ["config.json: process.user.gid: 4294967295 is not a valid id (0..4294967294)"]),
    ("additional-gid-minus-one", process(user={"uid": 0, "gid": 0,
                                               "additionalGids": [1, 4294967295]}),
     ["config.json: process.user.additionalGids[1]: 4294967295 is not a valid id "
      "(0..4294967294)"]),
    ("negative-uid", process(user={"uid": -1, "gid": 0}),
     ["config.json: process.user.uid: -1 is not a valid id (0..4294967294)"]),
    ("largest-id", process(user={"uid": 4294967294, "gid": 4294967294}), OK),
    ("uid-unmapped", both(lambda d: d["linux"]["namespaces"].append({"type": "user"}),
                          linux(**USER_MAPS), process(user={"uid": 1, "gid": 0,
                                                            "additionalGids": [0, 2]})),
     ["config.json: process.user.uid: 1 is not mapped in the user namespace "
      "(linux.uidMappings)",
      "config.json: process.user.additionalGids[1]: 2 is not mapped in the user namespace "
      "(linux.gidMappings)"]),
    ("gid-unmapped", both(lambda d: d["linux"]["namespaces"].append({"type": "user"}),
                          linux(**USER_MAPS), process(user={"uid": 0, "gid": 1000})),
     ["config.json: process.user.gid: 1000 is not mapped in the user namespace "
      "(linux.gidMappings)"]),
    ("ids-mapped", both(lambda d: d["linux"]["namespaces"].append({"type": "user"}),
                        linux(uidMappings=[{"containerID": 0, "hostID": 1000, "size": 1},
                                           {"containerID": 5, "hostID": 2000, "size": 10}],
                              gidMappings=USER_MAPS["gidMappings"]),
                        process(user={"uid": 14, "gid": 0, "additionalGids": [0]})), OK),
    ("ids-of-a-joined-userns", both(
        lambda d: d["linux"]["namespaces"].append({"type": "user", "path": "/proc/1/ns/user"}),
        process(user={"uid": 12345, "gid": 12345})), OK),
    # process.env: NAME=value, as runc
    ("env-without-equals", process(env=["PATH=/bin", "FOO"]),
     ['config.json: process.env[1]: "FOO" has no \'=\' (want NAME=value)']),
    ("env-empty-name", process(env=["=x"]),
     ['config.json: process.env[0]: "=x" has an empty name (want NAME=value)']),
    ("env-nul", process(env=["A=b\0c"]),
     ['config.json: process.env[0]: "A=b\0c" contains a NUL byte']),
    ("env-empty-value", process(env=["A=", "B==", "C=x=y"]), OK),
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "expected"), [pytest.param(change, lines, id=name) for name, change, lines in CASES]
)
def test_check(change: Change, expected: list[str], bundle: str) -> None:
    assert problems(bundle, change) == expected


def test_root_path_is_resolved_in_the_bundle(tmp_path: Any) -> None:
    doc = read("valid/runc-spec.json")
    assert check_config(doc, str(tmp_path)) == [
        f'config.json: root.path: directory "{tmp_path}/rootfs" does not exist'
    ]
    os.mkdir(tmp_path / "rootfs")
    assert check_config(doc, str(tmp_path)) == []
    doc["root"]["path"] = str(tmp_path / "rootfs")
    assert check_config(doc, "/nonexistent") == []


def test_source_names_the_file(bundle: str) -> None:
    doc = read("valid/runc-spec.json")
    doc["process"]["cwd"] = "x"
    assert check_config(doc, bundle, source="/b/config.json") == [
        '/b/config.json: process.cwd: "x" is not an absolute path'
    ]


def test_several_problems_one_line_each(bundle: str) -> None:
    doc = read("valid/runc-spec.json")
    doc["process"]["cwd"] = "x"
    doc["linux"]["namespaces"] += [{"type": "pid"}, {"type": "pid"}, {"type": "user"}]
    doc["linux"]["maskedPaths"] = ["a", "b"]
    assert check_config(doc, bundle) == [
        'config.json: linux.namespaces: namespace type "pid" listed twice',
        'config.json: process.cwd: "x" is not an absolute path',
        "config.json: linux.uidMappings: required with a new user namespace but missing",
        "config.json: linux.gidMappings: required with a new user namespace but missing",
        'config.json: linux.maskedPaths[0]: "a" is not an absolute path',
        'config.json: linux.maskedPaths[1]: "b" is not an absolute path',
    ]


def test_warnings() -> None:
    doc = read("valid/crun-spec.json")
    assert config_warnings(doc) == [
        f'config.json: process.capabilities.ambient[{i}]: "{cap}" is not in inheritable: '
        "the kernel will not raise it"
        for i, cap in enumerate(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"])
    ]
    doc = read("valid/runc-spec.json")
    assert config_warnings(doc) == []
    doc["mounts"].append({"destination": "data", "source": "/d", "options": ["bind"]})
    doc["mounts"].append({"destination": "/m", "options": ["bind"], **USER_MAPS})
    doc["process"]["capabilities"]["bounding"].append("CAP_FLY")
    # runc's spec gives no inheritable set: only sets the config gives are compared
    doc["process"]["capabilities"]["ambient"] = ["CAP_KILL", "CAP_SYS_ADMIN"]
    doc["linux"]["devices"] = [
        {"path": "/dev/a", "type": "c", "major": 1, "minor": 3},
        {"path": "/dev/b", "type": "c", "major": 1, "minor": 3},
        {"path": "/dev/f", "type": "p"},
        {"path": "/dev/g", "type": "p"},
    ]
    assert config_warnings(doc) == [
        'config.json: mounts[7].destination: "data" is relative: deprecated, '
        "taken as relative to /",
        'config.json: mounts[8].options: mappings given without "idmap" or "ridmap"',
        'config.json: process.capabilities.bounding[3]: unknown capability "CAP_FLY"',
        'config.json: process.capabilities.ambient[1]: "CAP_SYS_ADMIN" is not in permitted: '
        "the kernel will not raise it",
        "config.json: linux.devices[1]: same type, major and minor as linux.devices[0]",
    ]


def test_relative_mount_destination_is_accepted(bundle: str) -> None:
    """config.md (Linux): SHOULD be absolute; MAY be relative, deprecated: a warning only."""
    change = lambda d: d["mounts"].append({"destination": "tmp", "type": "tmpfs"})  # noqa: E731
    assert problems(bundle, change) == OK
