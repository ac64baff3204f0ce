"""linux.seccomp → BPF, checked by running the exported program in a small
classic-BPF interpreter on made-up ``seccomp_data`` (no root, nothing installed).
"""

from __future__ import annotations

import errno
import os
import struct
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import seccomp_rule as rule

from pyoci.errors import ConfigError, NotSupported
from pyoci.native._seccomp import lib
from pyoci.seccomp import compile as sc
from pyoci.seccomp import enosys
from pyoci.seccomp.compile import compile_profile
from pyoci.seccomp.program import (
    FLAG_LOG,
    FLAG_NEW_LISTENER,
    FLAG_SPEC_ALLOW,
    FLAG_TSYNC,
    FLAG_TSYNC_ESRCH,
    FLAG_WAIT_KILLABLE_RECV,
    SeccompProgram,
)
from pyoci.util.jsonio import loads

DATA = Path(__file__).resolve().parent.parent / "data" / "seccomp"

RET_KILL_PROCESS = 0x80000000
RET_KILL_THREAD = 0x00000000
RET_TRAP = 0x00030000
RET_ERRNO = 0x00050000
RET_USER_NOTIF = 0x7FC00000
RET_TRACE = 0x7FF00000
RET_LOG = 0x7FFC0000
RET_ALLOW = 0x7FFF0000

NATIVE = lib.seccomp_arch_native()
X86_64 = lib.seccomp_arch_resolve_name(b"x86_64")
X86 = lib.seccomp_arch_resolve_name(b"x86")
on_x86_64 = pytest.mark.skipif(NATIVE != X86_64, reason="syscall numbers of x86_64")


def nr(name: str, token: int = NATIVE) -> int:
    n = lib.seccomp_syscall_resolve_name_arch(token, name.encode())
    assert n >= 0, name
    return n


def audit(token: int) -> int:
    return lib.AUDIT_ARCH_X86_64 if token == lib.SCMP_ARCH_X32 else token


# --- a classic BPF interpreter, enough for what libseccomp and enosys.py emit ---


def _alu(op: int, a: int, src: int) -> int:
    if op == 0x00:
        a += src
    elif op == 0x10:
        a -= src
    elif op == 0x20:
        a *= src
    elif op == 0x40:
        a |= src
    elif op == 0x50:
        a &= src
    elif op == 0x60:
        a <<= src
    elif op == 0x70:
        a >>= src
    elif op == 0x80:
        a = -a
    elif op == 0xA0:
        a ^= src
    else:
        raise AssertionError(f"unhandled alu {op:#x}")
    return a & 0xFFFFFFFF


def run_bpf(prog: bytes, sysno: int, arch: int = NATIVE, args: tuple[int, ...] = ()) -> int:
    full = (list(args) + [0] * 6)[:6]
    data = struct.pack("=iIQ6Q", sysno, arch, 0x1000, *full)
    insns = [struct.unpack_from("=HBBI", prog, off) for off in range(0, len(prog), 8)]
    a = x = 0
    mem = [0] * 16
    pc = 0
    for _ in range(100000):
        code, jt, jf, k = insns[pc]
        pc += 1
        cls = code & 0x07
        if cls == 0x00:  # BPF_LD
            mode = code & 0xE0
            if mode == 0x20 and code & 0x18 == 0x00:  # ABS, W
                (a,) = struct.unpack_from("=I", data, k)
            elif mode == 0x00:
                a = k
            elif mode == 0x60:
                a = mem[k]
            else:
                raise AssertionError(f"unhandled ld {code:#x}")
        elif cls == 0x01:  # BPF_LDX
            x = k if code & 0xE0 == 0x00 else mem[k]
        elif cls == 0x02:  # BPF_ST
            mem[k] = a
        elif cls == 0x03:  # BPF_STX
            mem[k] = x
        elif cls == 0x04:  # BPF_ALU
            a = _alu(code & 0xF0, a, x if code & 0x08 else k)
        elif cls == 0x05:  # BPF_JMP
            op = code & 0xF0
            if op == 0x00:
                pc += k
                continue
            src = x if code & 0x08 else k
            cond = {0x10: a == src, 0x20: a > src, 0x30: a >= src, 0x40: bool(a & src)}[op]
            pc += jt if cond else jf
        elif cls == 0x06:  # BPF_RET
            return a if code & 0x18 == 0x10 else k
        else:  # BPF_MISC
            if code & 0xF8 == 0x00:
                x = a
            else:
                a = x
    raise AssertionError("BPF program did not return")


def profile(**kw: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"defaultAction": "SCMP_ACT_ALLOW"}
    doc.update(kw)
    return doc


def problems(seccomp: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        compile_profile(seccomp)
    return info.value.problems


# --- actions ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "extra", "ret"),
    [
        ("SCMP_ACT_KILL", {}, RET_KILL_THREAD),
        ("SCMP_ACT_KILL_THREAD", {}, RET_KILL_THREAD),
        ("SCMP_ACT_KILL_PROCESS", {}, RET_KILL_PROCESS),
        ("SCMP_ACT_TRAP", {}, RET_TRAP),
        ("SCMP_ACT_ERRNO", {}, RET_ERRNO | errno.EPERM),
        ("SCMP_ACT_ERRNO", {"errnoRet": errno.EROFS}, RET_ERRNO | errno.EROFS),
        ("SCMP_ACT_ERRNO", {"errnoRet": 0}, RET_ERRNO),
        ("SCMP_ACT_TRACE", {}, RET_TRACE | errno.EPERM),
        ("SCMP_ACT_TRACE", {"errnoRet": 42}, RET_TRACE | 42),
        ("SCMP_ACT_LOG", {}, RET_LOG),
    ],
)
def test_rule_actions(action: str, extra: dict[str, Any], ret: int) -> None:
    prog = compile_profile(profile(syscalls=[rule(["mkdir", "mkdirat"], action, **extra)]))
    assert run_bpf(prog.bpf, nr("mkdir")) == ret
    assert run_bpf(prog.bpf, nr("mkdirat")) == ret
    assert run_bpf(prog.bpf, nr("getpid")) == RET_ALLOW
    assert prog.flags == 0 and not prog.needs_listener


def test_notify_action_and_listener() -> None:
    prog = compile_profile(
        profile(
            listenerPath="/run/agent.sock",
            listenerMetadata="meta",
            syscalls=[rule(["mkdir"], "SCMP_ACT_NOTIFY")],
        )
    )
    assert run_bpf(prog.bpf, nr("mkdir")) == RET_USER_NOTIF
    assert prog.flags == FLAG_NEW_LISTENER and prog.needs_listener
    assert (prog.listener_path, prog.listener_metadata) == ("/run/agent.sock", "meta")


def test_listener_ignored_without_notify() -> None:
    prog = compile_profile(profile(listenerPath="/run/agent.sock", listenerMetadata="m"))
    assert prog.listener_path is None and prog.listener_metadata is None and prog.flags == 0


@pytest.mark.parametrize(
    ("default", "extra", "ret"),
    [
        ("SCMP_ACT_ALLOW", {}, RET_ALLOW),
        ("SCMP_ACT_LOG", {}, RET_LOG),
        ("SCMP_ACT_ERRNO", {}, RET_ERRNO | errno.EPERM),
        ("SCMP_ACT_ERRNO", {"defaultErrnoRet": errno.ENOSYS}, RET_ERRNO | errno.ENOSYS),
        ("SCMP_ACT_TRACE", {"defaultErrnoRet": 7}, RET_TRACE | 7),
        ("SCMP_ACT_KILL_PROCESS", {}, RET_KILL_PROCESS),
        ("SCMP_ACT_KILL", {}, RET_KILL_THREAD),
        ("SCMP_ACT_TRAP", {}, RET_TRAP),
    ],
)
def test_default_action(default: str, extra: dict[str, Any], ret: int) -> None:
    doc = {"defaultAction": default, **extra, "syscalls": [rule(["getpid"], "SCMP_ACT_LOG")]}
    if default == "SCMP_ACT_LOG":
        doc["syscalls"] = [rule(["getpid"], "SCMP_ACT_ALLOW")]
    prog = compile_profile(doc)
    assert nr("read") < nr("getpid")  # below the -ENOSYS threshold
    assert run_bpf(prog.bpf, nr("read")) == ret
    assert run_bpf(prog.bpf, nr("getpid")) in (RET_LOG, RET_ALLOW)


def test_rule_with_default_action_is_skipped() -> None:
    prog = compile_profile(
        {
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                rule(["mkdir"], "SCMP_ACT_ERRNO"),  # same as the default: libseccomp refuses it
                rule(["getpid"], "SCMP_ACT_ALLOW"),
            ],
        }
    )
    assert run_bpf(prog.bpf, nr("mkdir")) == RET_ERRNO | errno.EPERM
    assert run_bpf(prog.bpf, nr("getpid")) == RET_ALLOW


def test_unknown_syscall_names_are_skipped() -> None:
    prog = compile_profile(
        profile(syscalls=[rule(["no_such_syscall", "mkdir", "socketcall"], "SCMP_ACT_ERRNO")])
    )
    assert run_bpf(prog.bpf, nr("mkdir")) == RET_ERRNO | errno.EPERM


# --- argument conditions ---------------------------------------------------

OPS = [
    # op, value, valueTwo, arg → matches?
    ("SCMP_CMP_EQ", 5, None, 5, True),
    ("SCMP_CMP_EQ", 5, None, 6, False),
    ("SCMP_CMP_NE", 5, None, 6, True),
    ("SCMP_CMP_NE", 5, None, 5, False),
    ("SCMP_CMP_LT", 5, None, 4, True),
    ("SCMP_CMP_LT", 5, None, 5, False),
    ("SCMP_CMP_LE", 5, None, 5, True),
    ("SCMP_CMP_LE", 5, None, 6, False),
    ("SCMP_CMP_GT", 5, None, 6, True),
    ("SCMP_CMP_GT", 5, None, 5, False),
    ("SCMP_CMP_GE", 5, None, 5, True),
    ("SCMP_CMP_GE", 5, None, 4, False),
    ("SCMP_CMP_MASKED_EQ", 0o022, 0o022, 0o027, True),
    ("SCMP_CMP_MASKED_EQ", 0o022, 0o022, 0o002, False),
    ("SCMP_CMP_MASKED_EQ", 0x7E020000, None, 0x11, True),  # valueTwo defaults to 0
    ("SCMP_CMP_MASKED_EQ", 0x7E020000, None, 0x10000000, False),
    # 64-bit values: both halves are compared
    ("SCMP_CMP_EQ", 1 << 40, None, 1 << 40, True),
    ("SCMP_CMP_EQ", 1 << 40, None, 0, False),
    ("SCMP_CMP_GT", 0xFFFFFFFF, None, 1 << 32, True),
]


@pytest.mark.parametrize(("op", "value", "value_two", "arg", "match"), OPS)
def test_operators(op: str, value: int, value_two: int | None, arg: int, match: bool) -> None:
    cond: dict[str, Any] = {"index": 1, "value": value, "op": op}
    if value_two is not None:
        cond["valueTwo"] = value_two
    prog = compile_profile(
        profile(syscalls=[rule(["personality"], "SCMP_ACT_ERRNO", errnoRet=13, args=[cond])])
    )
    got = run_bpf(prog.bpf, nr("personality"), args=(0, arg))
    assert got == (RET_ERRNO | 13 if match else RET_ALLOW)


def test_conditions_on_different_args_are_anded() -> None:
    args = [
        {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
        {"index": 2, "value": 3, "op": "SCMP_CMP_EQ"},
    ]
    prog = compile_profile(profile(syscalls=[rule(["personality"], "SCMP_ACT_ERRNO", args=args)]))
    denied = RET_ERRNO | errno.EPERM
    assert run_bpf(prog.bpf, nr("personality"), args=(1, 0, 3)) == denied
    assert run_bpf(prog.bpf, nr("personality"), args=(1, 0, 4)) == RET_ALLOW
    assert run_bpf(prog.bpf, nr("personality"), args=(2, 0, 3)) == RET_ALLOW


def test_conditions_on_one_arg_become_separate_rules() -> None:
    # libseccomp refuses two conditions on one argument in a rule; like runc,
    # every condition of such a rule becomes a rule of its own (so they OR).
    args = [
        {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
        {"index": 0, "value": 9, "op": "SCMP_CMP_EQ"},
        {"index": 1, "value": 100, "op": "SCMP_CMP_GT"},
    ]
    prog = compile_profile(profile(syscalls=[rule(["personality"], "SCMP_ACT_ERRNO", args=args)]))
    denied = RET_ERRNO | errno.EPERM
    assert run_bpf(prog.bpf, nr("personality"), args=(8,)) == denied
    assert run_bpf(prog.bpf, nr("personality"), args=(9,)) == denied
    assert run_bpf(prog.bpf, nr("personality"), args=(1, 101)) == denied
    assert run_bpf(prog.bpf, nr("personality"), args=(1, 100)) == RET_ALLOW


def test_allow_list_with_conditions() -> None:
    doc = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            rule(
                ["personality"],
                "SCMP_ACT_ALLOW",
                args=[{"index": 0, "value": 0xFFFFFFFF, "op": "SCMP_CMP_EQ"}],
            ),
            rule(["getpid"], "SCMP_ACT_ALLOW"),
        ],
    }
    prog = compile_profile(doc)
    assert run_bpf(prog.bpf, nr("personality"), args=(0xFFFFFFFF,)) == RET_ALLOW
    assert run_bpf(prog.bpf, nr("personality"), args=(8,)) == RET_ERRNO | errno.EPERM


# --- architectures ---------------------------------------------------------


@on_x86_64
def test_extra_architectures() -> None:
    doc = profile(
        architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        syscalls=[rule(["mkdir", "socketcall"], "SCMP_ACT_ERRNO", errnoRet=5)],
    )
    prog = compile_profile(doc)
    denied = RET_ERRNO | 5
    assert run_bpf(prog.bpf, 83, arch=lib.AUDIT_ARCH_X86_64) == denied
    assert run_bpf(prog.bpf, 39, arch=audit(X86)) == denied  # mkdir on i386
    assert run_bpf(prog.bpf, 102, arch=audit(X86)) == denied  # socketcall on i386
    assert run_bpf(prog.bpf, 0x40000000 | 83, arch=lib.AUDIT_ARCH_X86_64) == denied  # x32
    assert run_bpf(prog.bpf, 20, arch=audit(X86)) == RET_ALLOW  # getpid on i386


@on_x86_64
def test_architecture_not_in_filter_is_killed() -> None:
    prog = compile_profile(profile(syscalls=[rule(["mkdir"], "SCMP_ACT_ERRNO")]))
    assert run_bpf(prog.bpf, 39, arch=audit(X86)) == RET_KILL_THREAD
    assert run_bpf(prog.bpf, 0x40000000 | 83, arch=lib.AUDIT_ARCH_X86_64) == RET_KILL_THREAD


def test_architecture_unknown_to_libseccomp_is_not_supported() -> None:
    missing = [name for name in sc.ARCHES if not sc.arch_token(name)]
    if not missing:
        pytest.skip("this libseccomp knows every architecture of config-linux.md")
    with pytest.raises(NotSupported, match=rf"architectures\[0\]: {missing[0]} is not supported"):
        compile_profile(profile(architectures=[missing[0]]))


@pytest.mark.skipif(sys.byteorder != "little", reason="a big-endian arch on a little-endian host")
def test_architecture_of_the_other_byte_order() -> None:
    with pytest.raises(NotSupported) as info:
        compile_profile(profile(architectures=["SCMP_ARCH_MIPS"]))
    assert str(info.value) == (
        "config.json: linux.seccomp.architectures[0]: SCMP_ARCH_MIPS: cannot share a filter "
        "with this host's architecture (different byte order)"
    )


# --- flags -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "notify", "flags"),
    [
        (["SECCOMP_FILTER_FLAG_TSYNC"], False, FLAG_TSYNC),
        (["SECCOMP_FILTER_FLAG_LOG"], False, FLAG_LOG),
        (["SECCOMP_FILTER_FLAG_SPEC_ALLOW"], False, FLAG_SPEC_ALLOW),
        (["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"], False, 6),
        (["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"], False, 0),
        (
            ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            True,
            FLAG_NEW_LISTENER | FLAG_WAIT_KILLABLE_RECV,
        ),
        (["SECCOMP_FILTER_FLAG_TSYNC"], True, FLAG_TSYNC | FLAG_NEW_LISTENER | FLAG_TSYNC_ESRCH),
        ([], True, FLAG_NEW_LISTENER),
    ],
)
def test_flags(names: list[str], notify: bool, flags: int) -> None:
    doc = profile(flags=names)
    if notify:
        doc["listenerPath"] = "/a"
        doc["syscalls"] = [rule(["mkdir"], "SCMP_ACT_NOTIFY")]
    assert compile_profile(doc).flags == flags


def test_flag_the_kernel_lacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sc, "kernel_has_flags", lambda flags: flags != FLAG_SPEC_ALLOW)
    with pytest.raises(NotSupported) as info:
        compile_profile(
            profile(flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"])
        )
    assert str(info.value) == (
        "config.json: linux.seccomp.flags[1]: SECCOMP_FILTER_FLAG_SPEC_ALLOW "
        "is not supported by this kernel"
    )


def test_action_the_kernel_lacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sc, "kernel_has_action", lambda ret: ret != RET_LOG)
    with pytest.raises(NotSupported) as info:
        compile_profile(
            profile(syscalls=[rule(["getpid"], "SCMP_ACT_ERRNO"), rule(["mkdir"], "SCMP_ACT_LOG")])
        )
    assert str(info.value) == (
        "config.json: linux.seccomp.syscalls[1].action: "
        "SCMP_ACT_LOG is not supported by this kernel"
    )


# --- errors ----------------------------------------------------------------


def test_unknown_action_names_the_json_path() -> None:
    doc = profile(syscalls=[rule(["a"], "SCMP_ACT_ALLOW")] * 3 + [rule(["b"], "SCMP_ACT_FOO")])
    assert problems(doc) == [
        'config.json: linux.seccomp.syscalls[3].action: unknown seccomp action "SCMP_ACT_FOO"'
    ]


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({}, ["config.json: linux.seccomp.defaultAction: is required"]),
        (
            {"defaultAction": "SCMP_ACT_DENY"},
            ['config.json: linux.seccomp.defaultAction: unknown seccomp action "SCMP_ACT_DENY"'],
        ),
        (
            {"defaultAction": "SCMP_ACT_KILL", "defaultErrnoRet": 1},
            [
                "config.json: linux.seccomp.defaultErrnoRet: an errno return is only valid "
                "with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not SCMP_ACT_KILL"
            ],
        ),
        (
            {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000},
            ["config.json: linux.seccomp.defaultErrnoRet: 70000 is not an errno (0-65535)"],
        ),
        (
            {"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/a"},
            [
                "config.json: linux.seccomp.defaultAction: "
                "SCMP_ACT_NOTIFY cannot be the default action"
            ],
        ),
        (
            profile(architectures=["SCMP_ARCH_Z80"]),
            [
                "config.json: linux.seccomp.architectures[0]: "
                'unknown seccomp architecture "SCMP_ARCH_Z80"'
            ],
        ),
        (
            profile(flags=["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_FAST"]),
            [
                "config.json: linux.seccomp.flags[1]: "
                'unknown seccomp flag "SECCOMP_FILTER_FLAG_FAST"'
            ],
        ),
        (
            profile(listenerMetadata="x"),
            ["config.json: linux.seccomp.listenerMetadata: must not be set without listenerPath"],
        ),
        (
            profile(syscalls=[rule(["mkdir"], "SCMP_ACT_NOTIFY")]),
            ["config.json: linux.seccomp.listenerPath: is required when SCMP_ACT_NOTIFY is used"],
        ),
        (
            profile(listenerPath="/a", syscalls=[rule(["read", "write"], "SCMP_ACT_NOTIFY")]),
            [
                "config.json: linux.seccomp.syscalls[0].names[1]: SCMP_ACT_NOTIFY cannot be "
                "used for 'write': the init needs it to hand the listener fd to the runtime"
            ],
        ),
        (
            profile(syscalls=[rule(["mkdir"], "SCMP_ACT_ALLOW", errnoRet=1)]),
            [
                "config.json: linux.seccomp.syscalls[0].errnoRet: an errno return is only "
                "valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not SCMP_ACT_ALLOW"
            ],
        ),
        (
            profile(syscalls=[rule([], "SCMP_ACT_ERRNO")]),
            [
                "config.json: linux.seccomp.syscalls[0].names: "
                "must be a non-empty array of syscall names"
            ],
        ),
        (
            profile(syscalls=[rule(["mkdir", ""], "SCMP_ACT_ERRNO")]),
            ['config.json: linux.seccomp.syscalls[0].names[1]: "" is not a syscall name'],
        ),
        (
            profile(syscalls=[{"names": ["mkdir"]}]),
            ["config.json: linux.seccomp.syscalls[0].action: is required"],
        ),
        (
            profile(
                syscalls=[
                    rule(
                        ["mkdir"],
                        "SCMP_ACT_ERRNO",
                        args=[
                            {"index": 6, "value": 1, "op": "SCMP_CMP_EQ"},
                            {"index": 0, "value": -1, "op": "SCMP_CMP_EQ"},
                            {"index": 0, "value": 1, "valueTwo": 1 << 64, "op": "SCMP_CMP_EQ"},
                            {"index": 0, "value": 1, "op": "SCMP_CMP_SIMILAR"},
                            {"index": True, "value": 1, "op": "SCMP_CMP_EQ"},
                        ],
                    )
                ]
            ),
            [
                "config.json: linux.seccomp.syscalls[0].args[0].index: "
                "6 is not a syscall argument (0-5)",
                "config.json: linux.seccomp.syscalls[0].args[1].value: -1 is not a uint64",
                "config.json: linux.seccomp.syscalls[0].args[2].valueTwo: "
                "18446744073709551616 is not a uint64",
                "config.json: linux.seccomp.syscalls[0].args[3].op: "
                'unknown seccomp operator "SCMP_CMP_SIMILAR"',
                "config.json: linux.seccomp.syscalls[0].args[4].index: "
                "True is not a syscall argument (0-5)",
            ],
        ),
        ([], ["config.json: linux.seccomp: must be an object"]),
    ],
)
def test_config_errors(doc: Any, expected: list[str]) -> None:
    assert problems(doc) == expected


def test_every_problem_is_reported_once() -> None:
    doc = {
        "defaultAction": "SCMP_ACT_FOO",
        "architectures": ["SCMP_ARCH_FOO"],
        "syscalls": [rule(["mkdir"], "SCMP_ACT_BAR")],
    }
    assert len(problems(doc)) == 3
    # One line per problem, so the CLI can print them as they are.
    assert all("\n" not in p for p in problems(doc))


def test_conflicting_rules_first_wins_or_config_error() -> None:
    """Two actions for one syscall: libseccomp either refuses the second rule (a config
    error naming it) or keeps the first one (2.5.x, as under runc): never the second."""
    doc = profile(syscalls=[rule(["mkdir"], "SCMP_ACT_ERRNO"), rule(["mkdir"], "SCMP_ACT_KILL")])
    try:
        prog = compile_profile(doc)
    except ConfigError as exc:
        assert exc.problems[0].startswith(
            "config.json: linux.seccomp.syscalls[1].names[0]: seccomp rule for 'mkdir': "
        )
    else:  # this libseccomp keeps the first rule
        assert run_bpf(prog.bpf, nr("mkdir")) == RET_ERRNO | errno.EPERM


def test_where_prefixes_paths() -> None:
    with pytest.raises(ConfigError, match=r"^config.json: x\.seccomp\.defaultAction: is required$"):
        compile_profile({}, where="x.seccomp")


def test_filter_too_big(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sc, "_BPF_MAXINSNS", 10)
    with pytest.raises(ConfigError, match="more than the kernel's limit of 10"):
        compile_profile(profile(syscalls=[rule(["mkdir", "rmdir", "getpid"], "SCMP_ACT_ERRNO")]))


# --- the -ENOSYS prologue --------------------------------------------------


def allow_list(default: str = "SCMP_ACT_ERRNO", **kw: Any) -> dict[str, Any]:
    return {
        "defaultAction": default,
        "syscalls": [rule(["read", "write", "getpid", "mkdir"], "SCMP_ACT_ALLOW")],
        **kw,
    }


def test_enosys_above_the_largest_named_syscall() -> None:
    prog = compile_profile(allow_list())
    top = max(nr(n) for n in ("read", "write", "getpid", "mkdir"))
    assert run_bpf(prog.bpf, nr("mkdir")) == RET_ALLOW
    assert run_bpf(prog.bpf, top + 1) == RET_ERRNO | errno.ENOSYS
    assert run_bpf(prog.bpf, 1000) == RET_ERRNO | errno.ENOSYS
    below = next(n for n in range(top) if n not in {nr("read"), nr("write"), nr("getpid")})
    assert run_bpf(prog.bpf, below) == RET_ERRNO | errno.EPERM


@pytest.mark.parametrize(
    ("default", "ret"),
    [
        ("SCMP_ACT_ALLOW", RET_ALLOW),
        ("SCMP_ACT_LOG", RET_LOG),
        ("SCMP_ACT_TRACE", RET_TRACE | errno.EPERM),
    ],
)
def test_no_enosys_prologue_for_permissive_defaults(default: str, ret: int) -> None:
    prog = compile_profile(allow_list(default))
    assert run_bpf(prog.bpf, 1000) == ret
    assert struct.pack("=HBBI", 0x06, 0, 0, RET_ERRNO | errno.ENOSYS) not in prog.bpf


def test_no_enosys_prologue_when_the_default_is_enosys() -> None:
    prog = compile_profile(allow_list(defaultErrnoRet=errno.ENOSYS))
    assert run_bpf(prog.bpf, 1000) == RET_ERRNO | errno.ENOSYS
    assert len(prog) < len(compile_profile(allow_list()))


def test_enosys_kill_default() -> None:
    prog = compile_profile(allow_list("SCMP_ACT_KILL_PROCESS"))
    named = {nr(n) for n in ("read", "write", "getpid", "mkdir")}
    unnamed = next(n for n in range(max(named)) if n not in named)
    assert run_bpf(prog.bpf, nr("read")) == RET_ALLOW
    assert run_bpf(prog.bpf, unnamed) == RET_KILL_PROCESS
    assert run_bpf(prog.bpf, 1000) == RET_ERRNO | errno.ENOSYS


@on_x86_64
def test_enosys_per_architecture() -> None:
    prog = compile_profile(
        allow_list(architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
    )
    i386 = audit(X86)
    enosys_ret = RET_ERRNO | errno.ENOSYS
    assert run_bpf(prog.bpf, 83, arch=lib.AUDIT_ARCH_X86_64) == RET_ALLOW
    assert run_bpf(prog.bpf, 84, arch=lib.AUDIT_ARCH_X86_64) == enosys_ret
    assert run_bpf(prog.bpf, 39, arch=i386) == RET_ALLOW  # mkdir on i386
    assert run_bpf(prog.bpf, 40, arch=i386) == enosys_ret
    assert run_bpf(prog.bpf, 38, arch=i386) == RET_ERRNO | errno.EPERM
    assert run_bpf(prog.bpf, 0x40000000 | 83, arch=lib.AUDIT_ARCH_X86_64) == RET_ALLOW
    assert run_bpf(prog.bpf, 0x40000000 | 84, arch=lib.AUDIT_ARCH_X86_64) == enosys_ret
    assert run_bpf(prog.bpf, 0x40000000 | 3, arch=lib.AUDIT_ARCH_X86_64) == RET_ERRNO | 1


def test_enosys_stub_alone() -> None:
    assert enosys.enosys_stub([]) == b""
    assert enosys.enosys_stub([(0xC000003E, enosys.X86_64, 0)]) == b""
    ret_filter = struct.pack("=HBBI", 0x06, 0, 0, 0x12345678)
    stub = enosys.enosys_stub(
        [
            (0xC000003E, enosys.X86_64, 100),
            (0xC000003E, enosys.X32, 0x40000000 | 50),
            (0x80000016, enosys.S390, 300),
            (0x40000003, enosys.PLAIN, 200),
        ]
    )
    prog = stub + ret_filter
    enosys_ret = RET_ERRNO | errno.ENOSYS
    assert run_bpf(prog, 100, arch=0xC000003E) == 0x12345678
    assert run_bpf(prog, 101, arch=0xC000003E) == enosys_ret
    assert run_bpf(prog, 0x40000000 | 50, arch=0xC000003E) == 0x12345678
    assert run_bpf(prog, 0x40000000 | 51, arch=0xC000003E) == enosys_ret
    assert run_bpf(prog, 0, arch=0x80000016) == enosys_ret  # s390 multiplexer
    assert run_bpf(prog, 300, arch=0x80000016) == 0x12345678
    assert run_bpf(prog, 301, arch=0x80000016) == enosys_ret
    assert run_bpf(prog, 201, arch=0x40000003) == enosys_ret
    assert run_bpf(prog, 5000, arch=0xDEAD) == 0x12345678  # other arches: the filter decides
    # x86_64 without x32 in the filter: x32 numbers go to the filter (bad arch there)
    only64 = enosys.enosys_stub([(0xC000003E, enosys.X86_64, 100)]) + ret_filter
    assert run_bpf(only64, 0x40000000 | 5000, arch=0xC000003E) == 0x12345678


# --- the default profile fixture -------------------------------------------


def default_profile() -> dict[str, Any]:
    doc: dict[str, Any] = loads((DATA / "default.json").read_text())
    return doc


def test_default_profile_compiles_quickly_enough() -> None:
    prog = compile_profile(default_profile())
    assert isinstance(prog, SeccompProgram)
    assert 100 < len(prog) < 4096 and prog.flags == 0


@on_x86_64
def test_default_profile_decisions() -> None:
    prog = compile_profile(default_profile()).bpf
    eperm = RET_ERRNO | errno.EPERM
    for name in ("read", "write", "execve", "openat", "mmap", "exit_group", "rt_sigaction"):
        assert run_bpf(prog, nr(name)) == RET_ALLOW, name
    for name in (
        "mount",
        "umount2",
        "pivot_root",
        "unshare",
        "setns",
        "kexec_load",
        "bpf",
        "init_module",
        "keyctl",
        "add_key",
        "reboot",
        "open_by_handle_at",
        "userfaultfd",
        "perf_event_open",
        "swapon",
        "iopl",
        "io_uring_setup",
        "process_vm_readv",
    ):
        assert run_bpf(prog, nr(name)) == eperm, name
    clone = nr("clone")
    assert run_bpf(prog, clone, args=(0x01200011,)) == RET_ALLOW  # fork-like
    assert run_bpf(prog, clone, args=(0x10000000 | 0x11,)) == eperm  # CLONE_NEWUSER
    assert run_bpf(prog, clone, args=(0x00020000,)) == eperm  # CLONE_NEWNS
    assert run_bpf(prog, nr("clone3")) == RET_ERRNO | errno.ENOSYS
    assert run_bpf(prog, nr("socket"), args=(2,)) == RET_ALLOW
    assert run_bpf(prog, nr("socket"), args=(40,)) == eperm  # AF_VSOCK
    assert run_bpf(prog, nr("personality"), args=(0xFFFFFFFF,)) == RET_ALLOW
    assert run_bpf(prog, nr("personality"), args=(0x0040000,)) == eperm  # ADDR_NO_RANDOMIZE
    assert run_bpf(prog, 1000) == RET_ERRNO | errno.ENOSYS  # newer than the profile
    assert run_bpf(prog, 4, arch=audit(X86)) == RET_ALLOW  # write on i386
    assert run_bpf(prog, 21, arch=audit(X86)) == eperm  # mount on i386


def test_program_object() -> None:
    prog = SeccompProgram(b"\x06\x00\x00\x00\x00\x00\xff\x7f", FLAG_NEW_LISTENER, "/p", "m")
    assert len(prog) == 1 and prog.needs_listener
    assert repr(prog) == "SeccompProgram(1 instructions, flags=0x8, listener_path='/p')"
    with pytest.raises(AttributeError):
        prog.other = 1  # type: ignore[attr-defined]


def test_compile_has_no_side_effects_on_fds() -> None:
    before = sorted(os.listdir("/proc/self/fd"))
    compile_profile(default_profile())
    assert sorted(os.listdir("/proc/self/fd")) == before
