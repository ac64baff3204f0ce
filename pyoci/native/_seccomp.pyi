# Types of the cffi module compiled from _seccomp_build.py (see CDEF there).
from typing import Any, Protocol

class _FFI(Protocol):
    NULL: Any
    errno: int
    def new(self, cdecl: str, init: Any = ...) -> Any: ...
    def string(self, cdata: Any, maxlen: int = ...) -> bytes: ...

class _Version(Protocol):
    major: int
    minor: int
    micro: int

class _Lib(Protocol):
    SCMP_CMP_NE: int
    SCMP_CMP_LT: int
    SCMP_CMP_LE: int
    SCMP_CMP_EQ: int
    SCMP_CMP_GE: int
    SCMP_CMP_GT: int
    SCMP_CMP_MASKED_EQ: int

    SCMP_FLTATR_ACT_DEFAULT: int
    SCMP_FLTATR_ACT_BADARCH: int
    SCMP_FLTATR_CTL_NNP: int
    SCMP_FLTATR_CTL_TSYNC: int
    SCMP_FLTATR_CTL_LOG: int
    SCMP_FLTATR_CTL_SSB: int
    SCMP_FLTATR_CTL_OPTIMIZE: int

    SCMP_ACT_KILL_PROCESS: int
    SCMP_ACT_KILL_THREAD: int
    SCMP_ACT_KILL: int
    SCMP_ACT_TRAP: int
    SCMP_ACT_NOTIFY: int
    SCMP_ACT_LOG: int
    SCMP_ACT_ALLOW: int

    SCMP_ARCH_NATIVE: int
    SCMP_ARCH_X32: int
    AUDIT_ARCH_X86_64: int

    SECCOMP_RET_KILL_PROCESS: int
    SECCOMP_RET_TRAP: int
    SECCOMP_RET_USER_NOTIF: int
    SECCOMP_RET_TRACE: int
    SECCOMP_RET_LOG: int

    SECCOMP_FILTER_FLAG_TSYNC: int
    SECCOMP_FILTER_FLAG_LOG: int
    SECCOMP_FILTER_FLAG_SPEC_ALLOW: int
    SECCOMP_FILTER_FLAG_NEW_LISTENER: int
    SECCOMP_FILTER_FLAG_TSYNC_ESRCH: int
    SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: int

    def seccomp_version(self) -> _Version: ...
    def seccomp_api_get(self) -> int: ...
    def seccomp_init(self, def_action: int) -> Any: ...
    def seccomp_release(self, ctx: Any) -> None: ...
    def seccomp_attr_set(self, ctx: Any, attr: int, value: int) -> int: ...
    def seccomp_arch_resolve_name(self, arch_name: bytes) -> int: ...
    def seccomp_arch_native(self) -> int: ...
    def seccomp_arch_exist(self, ctx: Any, arch_token: int) -> int: ...
    def seccomp_arch_add(self, ctx: Any, arch_token: int) -> int: ...
    def seccomp_syscall_resolve_name(self, name: bytes) -> int: ...
    def seccomp_syscall_resolve_name_arch(self, arch_token: int, name: bytes) -> int: ...
    def seccomp_rule_add_array(
        self, ctx: Any, action: int, syscall: int, arg_cnt: int, arg_array: Any
    ) -> int: ...
    def seccomp_export_bpf(self, ctx: Any, fd: int) -> int: ...
    def pyoci_scmp_act_errno(self, errno_ret: int) -> int: ...
    def pyoci_scmp_act_trace(self, msg_num: int) -> int: ...
    def pyoci_seccomp_flags_probe(self, flags: int) -> int: ...
    def pyoci_seccomp_action_probe(self, action: int) -> int: ...

ffi: _FFI
lib: _Lib
