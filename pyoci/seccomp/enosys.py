"""A -ENOSYS prologue for allow-list filters, as runc's ``patchbpf`` does.

libseccomp gives every syscall that no rule names the default action.  For an
allow-list profile (default ERRNO(EPERM), KILL, ...) that includes syscalls
newer than the profile: glibc and friends probe those (clone3, fchmodat2,
...) and fall back to an older call only on ENOSYS, so EPERM breaks them.

The prologue answers ENOSYS for every syscall number above the largest one the
profile names for that architecture, and lets everything else fall through to
libseccomp's program.  It is a handful of instructions per kernel architecture:

    ld  [4]                       ; seccomp_data.arch
    jeq AUDIT_ARCH_A, sec_A       ; one per architecture in the filter
    ja  filter
  sec_A:
    ld  [0]                       ; seccomp_data.nr
    jeq 0, enosys                 ; s390/s390x only: unknown numbers become 0
    jset X32_BIT, x32_A           ; x86_64 only: x32 numbers carry bit 30
    jgt MAX_A, enosys, filter
  x32_A:
    jgt MAX_X32, enosys, filter
  enosys:
    ret ERRNO(ENOSYS)
  filter:                         ; libseccomp's program
"""

from __future__ import annotations

import sys
from errno import ENOSYS

# Classic BPF opcodes (<linux/bpf_common.h>).
_LD_W_ABS = 0x20
_JMP_JA = 0x05
_JMP_JEQ_K = 0x15
_JMP_JGT_K = 0x25
_JMP_JSET_K = 0x45
_RET_K = 0x06

_SECCOMP_RET_ERRNO = 0x00050000
_OFF_NR = 0
_OFF_ARCH = 4
X32_SYSCALL_BIT = 0x40000000

# What an architecture entry means for the syscall numbers it carries.
PLAIN = 0  # numbers as they are
X86_64 = 1  # on AUDIT_ARCH_X86_64: numbers without X32_SYSCALL_BIT
X32 = 2  # on AUDIT_ARCH_X86_64: numbers with X32_SYSCALL_BIT (already included)
S390 = 3  # s390/s390x: also answer ENOSYS for the multiplexer number 0

_Label = str | int


def _encode(code: int, jt: int, jf: int, k: int) -> bytes:
    order = sys.byteorder
    return code.to_bytes(2, order) + bytes((jt, jf)) + k.to_bytes(4, order)


def enosys_stub(arches: list[tuple[int, int, int]]) -> bytes:
    """Return the prologue for ``arches``: (kernel AUDIT_ARCH, kind, largest nr).

    Entries with the same AUDIT_ARCH are merged (x86_64 and x32).  An empty list
    gives an empty prologue.
    """
    groups: dict[int, dict[int, int]] = {}
    for audit, kind, top in arches:
        if top <= 0:
            continue
        kinds = groups.setdefault(audit, {})
        kinds[kind] = max(top, kinds.get(kind, 0))
    if not groups:
        return b""

    # Instructions whose jump targets are labels, resolved once the length is known.
    prog: list[tuple[int, _Label, _Label, _Label]] = []
    labels: dict[str, int] = {}

    prog.append((_LD_W_ABS, 0, 0, _OFF_ARCH))
    for n, audit in enumerate(groups):
        prog.append((_JMP_JEQ_K, f"sec{n}", 0, audit))
    prog.append((_JMP_JA, 0, 0, "filter"))
    for n, kinds in enumerate(groups.values()):
        labels[f"sec{n}"] = len(prog)
        prog.append((_LD_W_ABS, 0, 0, _OFF_NR))
        if S390 in kinds:
            prog.append((_JMP_JEQ_K, "enosys", 0, 0))
        if X86_64 in kinds or X32 in kinds:
            prog.append((_JMP_JSET_K, f"x32_{n}", 0, X32_SYSCALL_BIT))
            if X86_64 in kinds:
                prog.append((_JMP_JGT_K, "enosys", "filter", kinds[X86_64]))
            else:
                prog.append((_JMP_JA, 0, 0, "filter"))
            labels[f"x32_{n}"] = len(prog)
            if X32 in kinds:
                prog.append((_JMP_JGT_K, "enosys", "filter", kinds[X32]))
            else:
                prog.append((_JMP_JA, 0, 0, "filter"))
        else:
            top = max(kinds.get(PLAIN, 0), kinds.get(S390, 0))
            prog.append((_JMP_JGT_K, "enosys", "filter", top))
    labels["enosys"] = len(prog)
    prog.append((_RET_K, 0, 0, _SECCOMP_RET_ERRNO | ENOSYS))
    labels["filter"] = len(prog)

    out = []
    for pc, (code, jt, jf, k) in enumerate(prog):
        if code == _JMP_JA:
            k = labels[k] - pc - 1 if isinstance(k, str) else k
        jt = labels[jt] - pc - 1 if isinstance(jt, str) else jt
        jf = labels[jf] - pc - 1 if isinstance(jf, str) else jf
        if not (0 <= jt <= 255 and 0 <= jf <= 255):  # pragma: no cover - tiny prologue
            raise ValueError("seccomp -ENOSYS prologue: jump out of range")
        assert isinstance(k, int)
        out.append(_encode(code, jt, jf, k))
    return b"".join(out)
