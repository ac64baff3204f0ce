"""``linux.seccomp`` (config-linux.md, runtime-spec v1.3.0) → ``SeccompProgram``.

Runs in the runtime parent, before fork.  libseccomp builds the filter and
exports it as classic BPF; we prepend runc's -ENOSYS prologue (see
``enosys.py``) and work out the seccomp(2) flags ourselves, because the init
loads the bytes with seccomp(2) directly and never calls ``seccomp_load``.
That is also why ``SCMP_FLTATR_CTL_NNP`` is off: the init sets no_new_privs
itself (or keeps CAP_SYS_ADMIN, see ``load.install``).

Semantics, as runc has them:

- Syscall names unknown to libseccomp on every architecture of the filter are
  skipped.  A rule whose action equals the default action is skipped.
- ``errnoRet`` (and ``defaultErrnoRet``) defaults to EPERM for SCMP_ACT_ERRNO
  and SCMP_ACT_TRACE and is an error with any other action.
- When one rule has several conditions on the same argument, libseccomp
  cannot AND them, so every condition of that rule becomes a rule of its own
  (they are ORed: the action applies when any one matches).
- SCMP_ACT_NOTIFY needs ``listenerPath``, cannot be the default action, and
  cannot apply to ``write`` or ``sendmsg``: right after installing the filter
  the init hands the listener fd to the parent with sendmsg(2), and a
  notification there would wait for an agent that does not have the fd yet.
- Flags go to seccomp(2) unchanged; one the kernel lacks is an error.
  TSYNC with a listener adds TSYNC_ESRCH (the kernel refuses the pair
  without it); WAIT_KILLABLE_RECV without a listener is dropped (it only
  changes how notifications wait, and the kernel refuses it alone).

Config mistakes raise ``ConfigError`` naming the JSON path; what the host
lacks (an architecture libseccomp does not know, a flag or action the kernel
does not know) raises ``NotSupported``.

libseccomp takes 20-30 ms for a docker-sized profile; ``cache.compile_cached``
keeps the result for the next container with the same profile.
"""

from __future__ import annotations

import os
from errno import EDOM, EEXIST, ENOSYS, EPERM

from pyoci.errors import ConfigError, NotSupported, SetupError
from pyoci.native._seccomp import ffi, lib
from pyoci.seccomp import enosys
from pyoci.seccomp.program import (
    FLAG_LOG,
    FLAG_NEW_LISTENER,
    FLAG_SPEC_ALLOW,
    FLAG_TSYNC,
    FLAG_TSYNC_ESRCH,
    FLAG_WAIT_KILLABLE_RECV,
    SeccompProgram,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "ACTIONS",
    "ARCHES",
    "FLAGS",
    "KERNEL_ACTIONS",
    "NOTIFY_FORBIDDEN",
    "OPERATORS",
    "SeccompProgram",
    "arch_token",
    "compile_profile",
    "kernel_has_action",
    "kernel_has_flags",
]

# Every action name config-linux.md lists.  ERRNO and TRACE carry errnoRet.
ACTIONS: dict[str, int] = {
    "SCMP_ACT_KILL": lib.SCMP_ACT_KILL,
    "SCMP_ACT_KILL_PROCESS": lib.SCMP_ACT_KILL_PROCESS,
    "SCMP_ACT_KILL_THREAD": lib.SCMP_ACT_KILL_THREAD,
    "SCMP_ACT_TRAP": lib.SCMP_ACT_TRAP,
    "SCMP_ACT_ERRNO": lib.pyoci_scmp_act_errno(0),
    "SCMP_ACT_TRACE": lib.pyoci_scmp_act_trace(0),
    "SCMP_ACT_ALLOW": lib.SCMP_ACT_ALLOW,
    "SCMP_ACT_LOG": lib.SCMP_ACT_LOG,
    "SCMP_ACT_NOTIFY": lib.SCMP_ACT_NOTIFY,
}
_WITH_ERRNO = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")
# Allow-like defaults get no -ENOSYS prologue (TRACE: a tracer handles new syscalls).
_PERMISSIVE = ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE")
# Actions younger than seccomp filters themselves: check that the kernel has them.
KERNEL_ACTIONS = {
    "SCMP_ACT_KILL_PROCESS": lib.SECCOMP_RET_KILL_PROCESS,
    "SCMP_ACT_LOG": lib.SECCOMP_RET_LOG,
    "SCMP_ACT_NOTIFY": lib.SECCOMP_RET_USER_NOTIF,
}
NOTIFY_FORBIDDEN = ("write", "sendmsg")

OPERATORS: dict[str, int] = {
    "SCMP_CMP_NE": lib.SCMP_CMP_NE,
    "SCMP_CMP_LT": lib.SCMP_CMP_LT,
    "SCMP_CMP_LE": lib.SCMP_CMP_LE,
    "SCMP_CMP_EQ": lib.SCMP_CMP_EQ,
    "SCMP_CMP_GE": lib.SCMP_CMP_GE,
    "SCMP_CMP_GT": lib.SCMP_CMP_GT,
    "SCMP_CMP_MASKED_EQ": lib.SCMP_CMP_MASKED_EQ,
}

# Every architecture config-linux.md lists; libseccomp's name for SCMP_ARCH_FOO is "foo".
ARCHES = (
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
)

FLAGS: dict[str, int] = {
    "SECCOMP_FILTER_FLAG_TSYNC": FLAG_TSYNC,
    "SECCOMP_FILTER_FLAG_LOG": FLAG_LOG,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": FLAG_SPEC_ALLOW,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": FLAG_WAIT_KILLABLE_RECV,
}

_MAX_ARGS = 6  # a syscall has at most six arguments
_UINT64 = 1 << 64
_MAX_ERRNO_RET = 0xFFFF  # SECCOMP_RET_DATA
_BPF_MAXINSNS = 4096
_OPTIMIZE_ABOVE = 32  # libseccomp <= 2.5.4 misbehaves with a binary tree and no rules
_NR_SCMP_ERROR = -1

_kernel_flags: dict[int, bool] = {}
_kernel_actions: dict[int, bool] = {}


def kernel_has_flags(flags: int) -> bool:
    """Whether seccomp(2) accepts these SECCOMP_FILTER_FLAG_* bits (cached probe)."""
    ok = _kernel_flags.get(flags)
    if ok is None:
        ok = _kernel_flags[flags] = lib.pyoci_seccomp_flags_probe(flags) == 0
    return ok


def kernel_has_action(ret: int) -> bool:
    """Whether the kernel knows this SECCOMP_RET_* action (cached probe)."""
    ok = _kernel_actions.get(ret)
    if ok is None:
        ok = _kernel_actions[ret] = lib.pyoci_seccomp_action_probe(ret) == 0
    return ok


def arch_token(name: str) -> int:
    """libseccomp's token for an SCMP_ARCH_* name; 0 when libseccomp lacks it."""
    return lib.seccomp_arch_resolve_name(name[len("SCMP_ARCH_") :].lower().encode())


class _Rule:
    __slots__ = ("action", "args", "name", "path")

    def __init__(
        self, path: str, name: str, action: int, args: list[tuple[int, int, int, int]]
    ) -> None:
        self.path = path
        self.name = name
        self.action = action
        self.args = args


def _uint(value: object, limit: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < limit


def _action(
    problems: list[str],
    path: str,
    name: object,
    errno_path: str,
    errno_ret: object,
) -> tuple[str, int]:
    """Validate an action name and its errnoRet; return (name, libseccomp action)."""
    if name is None:
        problems.append(f"{path}: is required")
        return "", 0
    if not isinstance(name, str) or name not in ACTIONS:
        problems.append(f"{path}: unknown seccomp action {_show(name)}")
        return "", 0
    if name in _WITH_ERRNO:
        if errno_ret is None:
            errno_ret = EPERM
        elif not _uint(errno_ret, _MAX_ERRNO_RET + 1):
            problems.append(f"{errno_path}: {_show(errno_ret)} is not an errno (0-65535)")
            return name, 0
        assert isinstance(errno_ret, int)
        errno_ret = int(errno_ret)
        if name == "SCMP_ACT_ERRNO":
            return name, lib.pyoci_scmp_act_errno(errno_ret)
        return name, lib.pyoci_scmp_act_trace(errno_ret)
    if errno_ret is not None:
        problems.append(
            f"{errno_path}: an errno return is only valid with SCMP_ACT_ERRNO or "
            f"SCMP_ACT_TRACE, not {name}"
        )
    return name, ACTIONS[name]


def _show(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def _list(problems: list[str], path: str, value: object) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(f"{path}: must be an array")
        return []
    return value


def _parse_args(problems: list[str], path: str, raw: object) -> list[tuple[int, int, int, int]]:
    args = []
    for j, arg in enumerate(_list(problems, path, raw)):
        apath = f"{path}[{j}]"
        if not isinstance(arg, dict):
            problems.append(f"{apath}: must be an object")
            continue
        index = arg.get("index")
        value = arg.get("value")
        value_two = arg.get("valueTwo", 0)
        op = arg.get("op")
        ok = True
        if not _uint(index, _MAX_ARGS):
            problems.append(f"{apath}.index: {_show(index)} is not a syscall argument (0-5)")
            ok = False
        if not _uint(value, _UINT64):
            problems.append(f"{apath}.value: {_show(value)} is not a uint64")
            ok = False
        if not _uint(value_two, _UINT64):
            problems.append(f"{apath}.valueTwo: {_show(value_two)} is not a uint64")
            ok = False
        if not isinstance(op, str) or op not in OPERATORS:
            problems.append(f"{apath}.op: unknown seccomp operator {_show(op)}")
            ok = False
        if ok:
            assert isinstance(index, int) and isinstance(op, str)
            assert isinstance(value, int) and isinstance(value_two, int)
            args.append((int(index), OPERATORS[op], int(value), int(value_two)))
    return args


class _Plan:
    """A validated profile, before libseccomp sees it."""

    __slots__ = (
        "default",
        "default_name",
        "default_path",
        "flags",
        "listener_metadata",
        "listener_path",
        "rules",
        "tokens",
    )

    def __init__(self) -> None:
        self.default = 0
        self.default_name = ""
        self.default_path = ""
        self.flags = 0
        self.tokens: list[tuple[str, int]] = []
        self.rules: list[_Rule] = []
        self.listener_path: str | None = None
        self.listener_metadata: str | None = None


def _parse(seccomp: object, where: str) -> _Plan:
    """Check the profile and translate names; raise ConfigError listing every problem."""
    if not isinstance(seccomp, dict):
        raise ConfigError(f"config.json: {where}: must be an object")
    problems: list[str] = []
    plan = _Plan()
    used: dict[str, str] = {}  # action name → JSON path of its first use

    plan.default_path = f"{where}.defaultAction"
    plan.default_name, plan.default = _action(
        problems,
        plan.default_path,
        seccomp.get("defaultAction"),
        f"{where}.defaultErrnoRet",
        seccomp.get("defaultErrnoRet"),
    )
    if plan.default_name:
        used[plan.default_name] = plan.default_path
    if plan.default_name == "SCMP_ACT_NOTIFY":
        problems.append(f"{plan.default_path}: SCMP_ACT_NOTIFY cannot be the default action")

    for i, arch in enumerate(
        _list(problems, f"{where}.architectures", seccomp.get("architectures"))
    ):
        if not isinstance(arch, str) or arch not in ARCHES:
            problems.append(
                f"{where}.architectures[{i}]: unknown seccomp architecture {_show(arch)}"
            )
        else:
            plan.tokens.append((f"{where}.architectures[{i}]: {arch}", arch_token(arch)))

    flag_paths: dict[int, str] = {}
    for i, flag in enumerate(_list(problems, f"{where}.flags", seccomp.get("flags"))):
        if not isinstance(flag, str) or flag not in FLAGS:
            problems.append(f"{where}.flags[{i}]: unknown seccomp flag {_show(flag)}")
        else:
            plan.flags |= FLAGS[flag]
            flag_paths[FLAGS[flag]] = f"{where}.flags[{i}]: {flag}"

    path = seccomp.get("listenerPath")
    if path is not None and (not isinstance(path, str) or not path):
        problems.append(f"{where}.listenerPath: must be a non-empty string")
        path = None
    metadata = seccomp.get("listenerMetadata")
    if metadata is not None:
        if not isinstance(metadata, str):
            problems.append(f"{where}.listenerMetadata: must be a string")
            metadata = None
        elif path is None:
            problems.append(f"{where}.listenerMetadata: must not be set without listenerPath")

    notify = False
    for i, entry in enumerate(_list(problems, f"{where}.syscalls", seccomp.get("syscalls"))):
        epath = f"{where}.syscalls[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"{epath}: must be an object")
            continue
        name, action = _action(
            problems,
            f"{epath}.action",
            entry.get("action"),
            f"{epath}.errnoRet",
            entry.get("errnoRet"),
        )
        args = _parse_args(problems, f"{epath}.args", entry.get("args"))
        names = entry.get("names")
        if not isinstance(names, list) or not names:
            problems.append(f"{epath}.names: must be a non-empty array of syscall names")
            continue
        if name:
            used.setdefault(name, f"{epath}.action")
        for j, sysname in enumerate(names):
            if not isinstance(sysname, str) or not sysname:
                problems.append(f"{epath}.names[{j}]: {_show(sysname)} is not a syscall name")
                continue
            if name == "SCMP_ACT_NOTIFY":
                notify = True
                if sysname in NOTIFY_FORBIDDEN:
                    problems.append(
                        f"{epath}.names[{j}]: SCMP_ACT_NOTIFY cannot be used for {sysname!r}: "
                        "the init needs it to hand the listener fd to the runtime"
                    )
            if name:
                plan.rules.append(_Rule(f"{epath}.names[{j}]", sysname, action, args))

    if notify:
        if path is None:
            problems.append(f"{where}.listenerPath: is required when SCMP_ACT_NOTIFY is used")
        plan.flags |= FLAG_NEW_LISTENER
        if plan.flags & FLAG_TSYNC:
            plan.flags |= FLAG_TSYNC_ESRCH
            flag_paths[FLAG_TSYNC_ESRCH] = (
                f"{where}.flags: SECCOMP_FILTER_FLAG_TSYNC with SCMP_ACT_NOTIFY "
                "(needs SECCOMP_FILTER_FLAG_TSYNC_ESRCH)"
            )
        plan.listener_path = path
        plan.listener_metadata = metadata
    else:
        plan.flags &= ~FLAG_WAIT_KILLABLE_RECV

    if problems:
        raise ConfigError([f"config.json: {p}" for p in problems])

    # What the host lacks: after the config itself is known to be right.
    for label, token in plan.tokens:
        if token == 0:
            v = lib.seccomp_version()
            raise NotSupported(
                f"config.json: {label} is not supported by libseccomp {v.major}.{v.minor}.{v.micro}"
            )
    for bit, fpath in flag_paths.items():
        probe = bit | FLAG_NEW_LISTENER if bit == FLAG_WAIT_KILLABLE_RECV else bit
        if not kernel_has_flags(probe):
            raise NotSupported(f"config.json: {fpath} is not supported by this kernel")
    for name, upath in used.items():
        ret = KERNEL_ACTIONS.get(name)
        if ret is not None and not kernel_has_action(ret):
            raise NotSupported(f"config.json: {upath}: {name} is not supported by this kernel")
    return plan


def _check(ret: int, what: str) -> None:
    if ret < 0:
        raise ConfigError(f"config.json: {what}: {os.strerror(-ret)}")


def _stub_arches(plan: _Plan, native: int) -> list[tuple[int, int, int]]:
    """(kernel AUDIT_ARCH, kind, largest syscall nr named) for every filter arch."""
    s390 = {lib.seccomp_arch_resolve_name(b"s390"), lib.seccomp_arch_resolve_name(b"s390x")}
    x86_64 = lib.seccomp_arch_resolve_name(b"x86_64")
    tokens = {native}
    tokens.update(token for _, token in plan.tokens)
    names = {rule.name.encode() for rule in plan.rules}
    out = []
    for token in tokens:
        top = 0
        for name in names:
            nr = lib.seccomp_syscall_resolve_name_arch(token, name)
            if nr > top:
                top = nr
        if token == lib.SCMP_ARCH_X32:
            out.append((lib.AUDIT_ARCH_X86_64, enosys.X32, top))
        elif token == x86_64:
            out.append((token, enosys.X86_64, top))
        else:
            out.append((token, enosys.S390 if token in s390 else enosys.PLAIN, top))
    return out


def compile_profile(seccomp: dict[str, Any], where: str = "linux.seccomp") -> SeccompProgram:
    """Compile the ``linux.seccomp`` object of a config into a loadable program.

    ``where`` is the JSON path of ``seccomp`` used in error messages.  Raises
    ``ConfigError`` for a malformed profile and ``NotSupported`` for one this
    host (libseccomp or kernel) cannot honour.
    """
    plan = _parse(seccomp, where)
    ctx = lib.seccomp_init(plan.default)
    if ctx == ffi.NULL:
        raise ConfigError(
            f"config.json: {plan.default_path}: libseccomp rejected the default action"
        )
    try:
        _check(
            lib.seccomp_attr_set(ctx, lib.SCMP_FLTATR_CTL_NNP, 0), "seccomp no_new_privs attribute"
        )
        for label, token in plan.tokens:
            ret = lib.seccomp_arch_add(ctx, token)
            if ret == -EDOM:
                raise NotSupported(
                    f"config.json: {label}: cannot share a filter with this host's "
                    "architecture (different byte order)"
                )
            if ret != -EEXIST:
                _check(ret, label)
        if len(plan.rules) > _OPTIMIZE_ABOVE:
            # A binary tree of syscall numbers instead of a linear scan; optional.
            lib.seccomp_attr_set(ctx, lib.SCMP_FLTATR_CTL_OPTIMIZE, 2)
        resolved: dict[str, int] = {}
        for rule in plan.rules:
            if rule.action == plan.default:
                continue
            nr = resolved.get(rule.name)
            if nr is None:
                nr = resolved[rule.name] = lib.seccomp_syscall_resolve_name(rule.name.encode())
            if nr == _NR_SCMP_ERROR:
                continue  # unknown here: skipped, as runc does
            _add_rule(ctx, rule, nr)
        bpf = _export(ctx)
    finally:
        lib.seccomp_release(ctx)

    if plan.default_name not in _PERMISSIVE and not (
        plan.default_name == "SCMP_ACT_ERRNO" and plan.default == lib.pyoci_scmp_act_errno(ENOSYS)
    ):
        bpf = enosys.enosys_stub(_stub_arches(plan, lib.seccomp_arch_native())) + bpf
    if len(bpf) // 8 > _BPF_MAXINSNS:
        raise ConfigError(
            f"config.json: {where}: the filter has {len(bpf) // 8} BPF instructions, "
            f"more than the kernel's limit of {_BPF_MAXINSNS}"
        )
    return SeccompProgram(bpf, plan.flags, plan.listener_path, plan.listener_metadata)


def _add_rule(ctx: Any, rule: _Rule, nr: int) -> None:
    args = rule.args
    what = f"{rule.path}: seccomp rule for {rule.name!r}"
    if not args:
        _check(lib.seccomp_rule_add_array(ctx, rule.action, nr, 0, ffi.NULL), what)
        return
    if len({index for index, _, _, _ in args}) == len(args):
        cmp = ffi.new("struct scmp_arg_cmp[]", args)
        _check(lib.seccomp_rule_add_array(ctx, rule.action, nr, len(args), cmp), what)
        return
    # Two conditions on one argument: libseccomp refuses them in one rule; like
    # runc, give every condition a rule of its own.
    for arg in args:
        cmp = ffi.new("struct scmp_arg_cmp[]", [arg])
        _check(lib.seccomp_rule_add_array(ctx, rule.action, nr, 1, cmp), what)


def _export(ctx: Any) -> bytes:
    fd = os.memfd_create("pyoci-seccomp", os.MFD_CLOEXEC)
    try:
        ret = lib.seccomp_export_bpf(ctx, fd)
        if ret < 0:
            raise SetupError(f"seccomp: exporting the filter: {os.strerror(-ret)}")
        size = os.lseek(fd, 0, os.SEEK_END)
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)
