"""Regenerate the config corpus: ``python tests/data/configs/generate.py``.

``valid/`` holds configs that the runtime-spec v1.3.0 schema accepts (ours and
upstream's): the outputs of ``runc spec`` and ``crun spec`` (plain and
``--rootless``, taken from the installed binaries when present, else kept as
committed), and variations such as a runtime's test bundles use.  ``invalid/``
holds hand-made broken configs that both schemas reject, each derived from
``runc spec`` by one change.  tests/unit/test_schema.py checks both verdicts.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
VALID = os.path.join(HERE, "valid")
INVALID = os.path.join(HERE, "invalid")

Doc = dict[str, Any]


def spec_output(binary: str, *args: str) -> Doc | None:
    path = shutil.which(binary)
    if path is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([path, "spec", *args], cwd=tmp, check=True, capture_output=True)
        with open(os.path.join(tmp, "config.json")) as f:
            doc: Doc = json.load(f)
            return doc


def write(directory: str, name: str, doc: object) -> None:
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name + ".json"), "w") as f:
        json.dump(doc, f, indent=4)
        f.write("\n")


def load(directory: str, name: str) -> Doc:
    with open(os.path.join(directory, name + ".json")) as f:
        doc: Doc = json.load(f)
        return doc


def variant(base: Doc, change: Callable[[Doc], object]) -> Doc:
    doc = copy.deepcopy(base)
    change(doc)
    return doc


def valid_variants(base: Doc, rootless: Doc) -> dict[str, Doc]:
    user_ns = {"type": "user"}
    mappings = {
        "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
        "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
    }
    hook = {"path": "/usr/bin/true", "args": ["true", "--flag"], "env": ["A=1"], "timeout": 5}
    out: dict[str, Doc] = {}

    def add(name: str, change: Callable[[Doc], object], start: Doc = base) -> None:
        out[name] = variant(start, change)

    add(
        "hooks-all-kinds",
        lambda d: d.update(
            hooks={
                "prestart": [hook, {"path": "/usr/local/bin/net-setup"}],
                "createRuntime": [hook],
                "createContainer": [{"path": "/usr/bin/mount-hook", "args": ["-m"]}],
                "startContainer": [{"path": "/sbin/ldconfig"}],
                "poststart": [{"path": "/usr/bin/notify", "timeout": 1}],
                "poststop": [{"path": "/usr/sbin/cleanup.sh", "args": ["cleanup.sh", "-f"]}],
            }
        ),
    )
    add(
        "devices",
        lambda d: (
            d["linux"].update(
                devices=[
                    {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438},
                    {"path": "/dev/sda", "type": "b", "major": 8, "minor": 0, "uid": 0, "gid": 6},
                    {"path": "/dev/raw0", "type": "u", "major": 162, "minor": 1},
                    {"path": "/dev/myfifo", "type": "p", "fileMode": 420},
                    {"path": "/srv/dev/null", "type": "c", "major": 1, "minor": 3},
                ]
            )
            or d["linux"]["resources"]["devices"].extend(
                [
                    {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"},
                    {"allow": True, "type": "b", "major": 8, "access": "r"},
                    {"allow": True, "type": "a"},
                ]
            )
        ),
    )
    add(
        "rlimits",
        lambda d: d["process"].update(
            rlimits=[
                {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096},
                {"type": "RLIMIT_CORE", "soft": 0, "hard": 18446744073709551615},
                {"type": "RLIMIT_NPROC", "soft": 512, "hard": 512},
                {"type": "RLIMIT_MEMLOCK", "soft": 65536, "hard": 65536},
                {"type": "RLIMIT_STACK", "soft": 8388608, "hard": 8388608},
            ]
        ),
    )
    add(
        "seccomp-profile",
        lambda d: d["linux"].update(
            seccomp={
                "defaultAction": "SCMP_ACT_ERRNO",
                "defaultErrnoRet": 1,
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                "flags": ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
                "syscalls": [
                    {
                        "names": ["accept", "read", "write", "exit_group", "futex", "mmap"],
                        "action": "SCMP_ACT_ALLOW",
                    },
                    {
                        "names": ["personality"],
                        "action": "SCMP_ACT_ALLOW",
                        "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}],
                    },
                    {
                        "names": ["clone"],
                        "action": "SCMP_ACT_ALLOW",
                        "args": [
                            {
                                "index": 0,
                                "value": 2114060288,
                                "valueTwo": 0,
                                "op": "SCMP_CMP_MASKED_EQ",
                            }
                        ],
                    },
                    {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                    {"names": ["kexec_load"], "action": "SCMP_ACT_KILL_PROCESS"},
                    {"names": ["mkdirat"], "action": "SCMP_ACT_NOTIFY"},
                    {"names": ["uname"], "action": "SCMP_ACT_LOG"},
                ],
                "listenerPath": "/run/seccomp-agent.sock",
                "listenerMetadata": "MKDIR=/tmp",
            }
        ),
    )
    add(
        "masked-readonly-paths",
        lambda d: d["linux"].update(
            maskedPaths=["/proc/acpi", "/proc/kcore", "/sys/firmware", "/proc/scsi"],
            readonlyPaths=["/proc/bus", "/proc/fs", "/proc/sys", "/proc/sysrq-trigger"],
        ),
    )
    add(
        "idmapped-mounts",
        lambda d: (
            d["linux"]["namespaces"].append(user_ns)
            or d["linux"].update(mappings)
            or d["mounts"].extend(
                [
                    {
                        "destination": "/data",
                        "type": "bind",
                        "source": "/srv/data",
                        "options": ["rbind", "ridmap"],
                        "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
                        "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
                    },
                    {
                        "destination": "/cache",
                        "type": "bind",
                        "source": "cache",
                        "options": ["bind", "idmap"],
                    },
                ]
            )
        ),
    )
    add(
        "net-devices",
        lambda d: d["linux"].update(
            netDevices={"eth1": {"name": "ctr0"}, "dummy0": {}, "veth9": {"name": "eth%d"}}
        ),
    )
    add(
        "intel-rdt",
        lambda d: d["linux"].update(
            intelRdt={
                "closID": "guaranteed_group",
                "l3CacheSchema": "L3:0=7f0;1=1f",
                "memBwSchema": "MB:0=20;1=70",
                "schemata": ["L2:0=f;1=f"],
                "enableMonitoring": True,
            }
        ),
    )
    add(
        "memory-limits",
        lambda d: d["linux"]["resources"].update(
            memory={
                "limit": 536870912,
                "reservation": 268435456,
                "swap": -1,
                "kernel": -1,
                "kernelTCP": -1,
                "swappiness": 60,
                "disableOOMKiller": False,
                "useHierarchy": True,
                "checkBeforeUpdate": True,
            }
        ),
    )
    add(
        "time-offsets",
        lambda d: (
            d["linux"]["namespaces"].append({"type": "time"})
            or d["linux"].update(
                timeOffsets={
                    "monotonic": {"secs": 86400, "nanosecs": 0},
                    "boottime": {"secs": -3600, "nanosecs": 500},
                }
            )
        ),
    )
    add(
        "cgroup-resources",
        lambda d: (
            d["linux"].update(cgroupsPath="/pyoci/test")
            or d["linux"]["resources"].update(
                cpu={
                    "shares": 1024,
                    "quota": 100000,
                    "burst": 50000,
                    "period": 100000,
                    "realtimeRuntime": 950000,
                    "realtimePeriod": 1000000,
                    "cpus": "0-1",
                    "mems": "0",
                    "idle": 0,
                },
                blockIO={
                    "weight": 500,
                    "leafWeight": 300,
                    "weightDevice": [
                        {"major": 8, "minor": 0, "weight": 600},
                        {"major": 8, "minor": 16, "leafWeight": 200},
                    ],
                    "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                    "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                    "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}],
                    "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}],
                },
                hugepageLimits=[{"pageSize": "2MB", "limit": 0}, {"pageSize": "1GB", "limit": 0}],
                network={"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
                pids={"limit": 100},
                rdma={"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}, "rxe0": {"hcaObjects": 1}},
            )
        ),
    )
    add(
        "cgroup-unified",
        lambda d: (
            d["linux"].update(cgroupsPath="system.slice:pyoci:test")
            or d["linux"]["resources"].update(
                unified={
                    "memory.high": "1073741824",
                    "io.max": "8:0 rbps=2097152",
                    "pids.max": "max",
                },
                pids={"limit": -1},
            )
        ),
    )
    add(
        "user-namespace",
        lambda d: (
            d["linux"]["namespaces"].append(user_ns)
            or d["linux"].update(
                uidMappings=[
                    {"containerID": 0, "hostID": 1000, "size": 1},
                    {"containerID": 1, "hostID": 100000, "size": 65535},
                ],
                gidMappings=[
                    {"containerID": 0, "hostID": 1000, "size": 1},
                    {"containerID": 1, "hostID": 100000, "size": 65535},
                ],
            )
        ),
    )
    add(
        "joined-namespaces",
        lambda d: d["linux"].update(
            namespaces=[
                {"type": "pid"},
                {"type": "network", "path": "/var/run/netns/blue"},
                {"type": "ipc", "path": "/proc/1234/ns/ipc"},
                {"type": "uts"},
                {"type": "mount"},
                {"type": "cgroup", "path": "/proc/1234/ns/cgroup"},
            ]
        ),
    )
    add(
        "scheduler-io-affinity",
        lambda d: d["process"].update(
            scheduler={
                "policy": "SCHED_DEADLINE",
                "nice": 0,
                "priority": 0,
                "flags": ["SCHED_FLAG_RESET_ON_FORK"],
                "runtime": 10000000,
                "deadline": 30000000,
                "period": 30000000,
            },
            ioPriority={"class": "IOPRIO_CLASS_BE", "priority": 4},
            execCPUAffinity={"initial": "7", "final": "0-3,7"},
        ),
    )
    add(
        "personality-memory-policy",
        lambda d: d["linux"].update(
            personality={"domain": "LINUX32", "flags": []},
            memoryPolicy={
                "mode": "MPOL_INTERLEAVE",
                "nodes": "0-1",
                "flags": ["MPOL_F_STATIC_NODES"],
            },
        ),
    )
    add(
        "terminal-console-size",
        lambda d: d["process"].update(terminal=True, consoleSize={"height": 25, "width": 80}),
    )
    add(
        "busybox-true",
        lambda d: (
            d["process"].update(
                terminal=False,
                args=["/bin/true"],
                env=["PATH=/bin"],
                user={"uid": 1000, "gid": 1000, "umask": 18, "additionalGids": [10, 100]},
            )
            or d.update(hostname="pyoci-test", domainname="example.test")
        ),
    )
    add(
        "annotations-sysctl",
        lambda d: (
            d.update(
                annotations={
                    "org.opencontainers.image.os": "linux",
                    "com.example.gpu-cores": "2",
                    "io.kubernetes.cri.sandbox-id": "",
                }
            )
            or d["linux"].update(sysctl={"net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1"})
        ),
    )
    add(
        "readonly-root-labels",
        lambda d: (
            d["root"].update(readonly=True)
            or d["linux"].update(
                rootfsPropagation="slave",
                mountLabel="system_u:object_r:container_file_t:s0:c1,c2",
            )
            or d["process"].update(
                apparmorProfile="docker-default",
                selinuxLabel="system_u:system_r:container_t:s0:c1,c2",
                noNewPrivileges=True,
                oomScoreAdj=-999,
            )
        ),
    )
    add(
        "mount-kinds",
        lambda d: d["mounts"].extend(
            [
                {
                    "destination": "/tmp",
                    "type": "tmpfs",
                    "source": "tmpfs",
                    "options": ["nosuid", "nodev", "mode=1777"],
                },
                {
                    "destination": "/data",
                    "type": "none",
                    "source": "/volumes/data",
                    "options": ["rbind", "rw", "rprivate"],
                },
                {
                    "destination": "/etc/resolv.conf",
                    "source": "resolv.conf",
                    "options": ["bind", "ro"],
                },
                {"destination": "relative/legacy", "type": "tmpfs", "source": "tmpfs"},
                {
                    "destination": "/mnt/shared",
                    "type": "bind",
                    "source": "/mnt",
                    "options": ["rbind", "rshared", "nosymfollow", "rro"],
                },
                {
                    "destination": "/sys/fs/cgroup",
                    "type": "cgroup2",
                    "source": "cgroup2",
                    "options": [],
                },
            ]
        ),
    )
    add("spec-1.3.0", lambda d: d.update(ociVersion="1.3.0"))
    add(
        "process-only-args",
        lambda d: d.update(process={"cwd": "/", "args": ["/bin/sh", "-c", "echo hi"]}),
    )
    add(
        "rootless-user-namespace-time",
        lambda d: (
            d["linux"]["namespaces"].append({"type": "time"})
            or d["linux"].update(timeOffsets={"boottime": {"secs": 1}})
        ),
        start=rootless,
    )
    out["minimal"] = {"ociVersion": "1.0.0", "root": {"path": "rootfs"}}
    out["windows"] = {
        "ociVersion": "1.0.2",
        "process": {
            "cwd": "C:\\",
            "commandLine": "cmd /c echo hi",
            "user": {"username": "ContainerUser"},
            "env": ["A=1"],
        },
        "root": {"path": "\\\\?\\Volume{ec84d99e-3f02-11e7-ac6c-00155d7682cf}\\"},
        "mounts": [{"destination": "C:\\data", "source": "C:\\host\\data", "options": ["ro"]}],
        "windows": {
            "layerFolders": ["C:\\Layers\\layer1", "C:\\scratch"],
            "devices": [{"id": "24E552D7-6523-47F7-A647-D3465BF1F5CA", "idType": "class"}],
            "resources": {
                "memory": {"limit": 2097152},
                "cpu": {"maximum": 5000, "count": 2},
                "storage": {"iops": 50, "bps": 1000, "sandboxSize": 1},
            },
            "network": {
                "endpointList": ["7a010682-17e0-4455-a838-02e5d9655fe6"],
                "allowUnqualifiedDNSQuery": True,
                "DNSSearchList": ["a.com"],
                "networkSharedContainerName": "c1",
            },
            "credentialSpec": {"ActiveDirectoryConfig": {}},
            "servicing": False,
            "ignoreFlushesDuringBoot": True,
            "hyperv": {"utilityVMPath": "C:\\uvm"},
        },
    }
    out["solaris"] = {
        "ociVersion": "1.0.0",
        "root": {"path": "rootfs"},
        "process": {"cwd": "/", "args": ["/usr/bin/bash"], "user": {"uid": 1, "gid": 1}},
        "mounts": [
            {"destination": "/opt/local", "type": "lofs", "source": "/usr/local", "options": ["ro"]}
        ],
        "solaris": {
            "milestone": "svc:/milestone/container:default",
            "limitpriv": "default",
            "maxShmMemory": "512m",
            "cappedCPU": {"ncpus": "8"},
            "cappedMemory": {"physical": "512m", "swap": "512m"},
            "anet": [{"linkname": "net0", "lowerLink": "net2", "macAddress": "02:42:f8:52:c7:16"}],
        },
    }
    out["vm"] = variant(
        base,
        lambda d: d.update(
            vm={
                "hypervisor": {"path": "/usr/bin/qemu-system-x86_64", "parameters": ["-m", "512"]},
                "kernel": {
                    "path": "/boot/vmlinuz",
                    "parameters": ["console=ttyS0"],
                    "initrd": "/boot/initrd.img",
                },
                "image": {"path": "/var/lib/vm/rootfs.img", "format": "qcow2"},
                "hwConfig": {
                    "deviceTree": "/boot/dt.dtb",
                    "vcpus": 2,
                    "memory": 4194304,
                    "dtdevs": ["/soc/uart"],
                    "iomems": [
                        {"firstMFN": 12288, "nrMFNs": 1},
                        {"firstGFN": 1, "firstMFN": 2, "nrMFNs": 2},
                    ],
                    "irqs": [11, 22],
                },
            }
        ),
    )
    return out


def invalid_variants(base: Doc) -> dict[str, object]:
    out: dict[str, object] = {}

    def add(name: str, change: Callable[[Doc], object]) -> None:
        out[name] = variant(base, change)

    def drop(*path: str | int) -> Callable[[Doc], object]:
        def change(d: Doc) -> None:
            node: Any = d
            for part in path[:-1]:
                node = node[part]
            del node[path[-1]]

        return change

    def put(value: object, *path: str | int) -> Callable[[Doc], object]:
        def change(d: Doc) -> None:
            node: Any = d
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = value

        return change

    lx = "linux"
    res = (lx, "resources")
    seccomp = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["chmod"], "action": "SCMP_ACT_ERRNO"}],
    }
    add("missing-ociVersion", drop("ociVersion"))
    add("ociVersion-number", put(1.0, "ociVersion"))
    add("root-without-path", put({"readonly": True}, "root"))
    add("root-readonly-string", put("yes", "root", "readonly"))
    add("process-without-cwd", drop("process", "cwd"))
    add("process-terminal-string", put("true", "process", "terminal"))
    add("process-args-not-strings", put(["sh", 1], "process", "args"))
    add("process-env-object", put({"PATH": "/bin"}, "process", "env"))
    add("user-uid-negative", put(-1, "process", "user", "uid"))
    add("user-gid-too-big", put(4294967296, "process", "user", "gid"))
    add("user-uid-float", put(0.0, "process", "user", "uid"))
    add("additional-gids-strings", put(["wheel"], "process", "user", "additionalGids"))
    add("rlimit-without-hard", put([{"type": "RLIMIT_NOFILE", "soft": 1024}], "process", "rlimits"))
    add(
        "rlimit-type-lowercase",
        put([{"type": "rlimit_nofile", "soft": 1, "hard": 1}], "process", "rlimits"),
    )
    add(
        "rlimit-soft-negative",
        put([{"type": "RLIMIT_CORE", "soft": -1, "hard": 1}], "process", "rlimits"),
    )
    add("capabilities-not-array", put("CAP_KILL", "process", "capabilities", "bounding"))
    add("console-size-without-width", put({"height": 25}, "process", "consoleSize"))
    add("cpu-affinity-letters", put({"initial": "a-b"}, "process", "execCPUAffinity"))
    add("scheduler-bad-policy", put({"policy": "SCHED_FAIR"}, "process", "scheduler"))
    add(
        "io-priority-bad-class",
        put({"class": "IOPRIO_CLASS_NONE", "priority": 0}, "process", "ioPriority"),
    )
    add("hook-timeout-zero", put({"prestart": [{"path": "/bin/true", "timeout": 0}]}, "hooks"))
    add("hook-without-path", put({"poststop": [{"args": ["true"]}]}, "hooks"))
    add("hooks-not-array", put({"createRuntime": {"path": "/bin/true"}}, "hooks"))
    add("mount-without-destination", put({"type": "tmpfs", "source": "tmpfs"}, "mounts", 0))
    add("mount-options-string", put("ro,nosuid", "mounts", 0, "options"))
    add(
        "mount-idmapping-without-size",
        put([{"containerID": 0, "hostID": 1000}], "mounts", 0, "uidMappings"),
    )
    add("annotations-value-number", put({"com.example.cores": 2}, "annotations"))
    add("hostname-number", put(42, "hostname"))
    add("namespace-type-net", put({"type": "net"}, lx, "namespaces", 0))
    add("namespace-without-type", put({"path": "/proc/1/ns/pid"}, lx, "namespaces", 0))
    add(
        "id-mapping-host-negative",
        put([{"containerID": 0, "hostID": -5, "size": 1}], lx, "uidMappings"),
    )
    add(
        "device-type-bad",
        put([{"path": "/dev/x", "type": "x", "major": 1, "minor": 1}], lx, "devices"),
    )
    add(
        "device-file-mode-negative",
        put(
            [{"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": -1}],
            lx,
            "devices",
        ),
    )
    add("device-without-path", put([{"type": "c", "major": 1, "minor": 3}], lx, "devices"))
    add("cgroup-device-without-allow", put([{"access": "rwm"}], *res, "devices"))
    add("memory-limit-string", put({"limit": "512M"}, *res, "memory"))
    add("memory-swappiness-negative", put({"swappiness": -1}, *res, "memory"))
    add("cpu-shares-negative", put({"shares": -1024}, *res, "cpu"))
    add("blkio-weight-too-big", put({"weight": 70000}, *res, "blockIO"))
    add("hugepage-size-lowercase", put([{"pageSize": "2mb", "limit": 1}], *res, "hugepageLimits"))
    add("hugepage-without-limit", put([{"pageSize": "2MB"}], *res, "hugepageLimits"))
    add("pids-limit-string", put({"limit": "max"}, *res, "pids"))
    add("network-class-id-negative", put({"classID": -1}, *res, "network"))
    add("network-priority-without-name", put({"priorities": [{"priority": 1}]}, *res, "network"))
    add("rdma-handles-string", put({"mlx5_1": {"hcaHandles": "3"}}, *res, "rdma"))
    add("unified-value-number", put({"memory.max": 1024}, *res, "unified"))
    add("seccomp-without-default-action", put({"syscalls": seccomp["syscalls"]}, lx, "seccomp"))
    add("seccomp-action-deny", put(dict(seccomp, defaultAction="SCMP_ACT_DENY"), lx, "seccomp"))
    add("seccomp-arch-bad", put(dict(seccomp, architectures=["SCMP_ARCH_X86_128"]), lx, "seccomp"))
    add("seccomp-flag-bad", put(dict(seccomp, flags=["SECCOMP_FILTER_FLAG_FAST"]), lx, "seccomp"))
    add(
        "seccomp-names-empty",
        put(dict(seccomp, syscalls=[{"names": [], "action": "SCMP_ACT_ALLOW"}]), lx, "seccomp"),
    )
    add(
        "seccomp-arg-without-op",
        put(
            dict(
                seccomp,
                syscalls=[
                    {
                        "names": ["clone"],
                        "action": "SCMP_ACT_ALLOW",
                        "args": [{"index": 0, "value": 1}],
                    }
                ],
            ),
            lx,
            "seccomp",
        ),
    )
    add("seccomp-errno-negative", put(dict(seccomp, defaultErrnoRet=-1), lx, "seccomp"))
    add("rootfs-propagation-rshared", put("rshared", lx, "rootfsPropagation"))
    add("personality-domain-bad", put({"domain": "LINUX64"}, lx, "personality"))
    add("memory-policy-mode-bad", put({"mode": "MPOL_RANDOM"}, lx, "memoryPolicy"))
    add("mem-bw-schema-without-prefix", put({"memBwSchema": "L3:0=ff"}, lx, "intelRdt"))
    add("time-offset-secs-string", put({"monotonic": {"secs": "10"}}, lx, "timeOffsets"))
    add("net-device-name-number", put({"eth0": {"name": 0}}, lx, "netDevices"))
    add("sysctl-value-number", put({"net.ipv4.ip_forward": 1}, lx, "sysctl"))
    add("masked-paths-string", put("/proc/kcore", lx, "maskedPaths"))
    add("linux-is-array", put([], lx))
    add("windows-layer-folders-empty", put({"layerFolders": []}, "windows"))
    add("vm-without-kernel", put({"image": {"path": "/vm.img", "format": "raw"}}, "vm"))
    add("freebsd-vnet-disable", put({"jail": {"vnet": "disable"}}, "freebsd"))
    out["config-is-array"] = [base]
    out["config-is-string"] = "config.json"
    return out


def main() -> None:
    for directory in (VALID, INVALID):
        os.makedirs(directory, exist_ok=True)
    for name, binary, args in (
        ("runc-spec", "runc", ()),
        ("runc-spec-rootless", "runc", ("--rootless",)),
        ("crun-spec", "crun", ()),
        ("crun-spec-rootless", "crun", ("--rootless",)),
    ):
        doc = spec_output(binary, *args)
        if doc is not None:
            write(VALID, name, doc)
    base = load(VALID, "runc-spec")
    rootless = load(VALID, "runc-spec-rootless")
    for name, doc in valid_variants(base, rootless).items():
        write(VALID, name, doc)
    for name, bad in invalid_variants(base).items():
        write(INVALID, name, bad)


if __name__ == "__main__":
    main()
