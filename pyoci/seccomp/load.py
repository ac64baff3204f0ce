"""Install a compiled seccomp program: the container init's side.

This module imports nothing but the native layer and the error tree, so the
init can import it before pivot_root (no imports may happen after it) without
pulling in libseccomp.

Order in the init (config-linux.md, and runc's standard_init): no_new_privs,
then the capability drop, then ``install`` as the very last step before execve,
so that a profile may deny syscalls the init itself needed until then.  After
``install`` every syscall the init makes is filtered: keep that path short
(hand over the listener fd, wait for the ACK or exec.fifo, execve).

Permission: seccomp(2) installs a filter only if the calling thread has
no_new_privs set or holds CAP_SYS_ADMIN in its user namespace.  When
``process.noNewPrivileges`` is false and the capability drop removes
CAP_SYS_ADMIN, the kernel would answer EACCES.  runc then installs the filter
before the capability drop (so the filter sees the drop's syscalls); pyoci
keeps it last instead: ``ProcessSetup`` holds CAP_SYS_ADMIN in the effective
and permitted sets until the filter is in, then one capset(2) sets the final
ones (``release_held_capabilities``), so such a profile must allow capset.
"""

from __future__ import annotations

import os
from errno import EACCES, EINVAL

from pyoci.errors import SetupError
from pyoci.native import seccomp_set_filter
from pyoci.seccomp.program import FLAG_NEW_LISTENER

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyoci.seccomp.program import SeccompProgram

__all__ = ["install"]


def install(program: SeccompProgram) -> int | None:
    """Load ``program`` into the kernel for the calling thread.

    Returns the seccomp listener fd (O_CLOEXEC, owned by the caller) when the
    program uses SCMP_ACT_NOTIFY, else None.  Raises ``SetupError``.
    """
    try:
        ret = seccomp_set_filter(program.flags, program.bpf)
    except OSError as exc:
        err = exc.errno
        reason = os.strerror(err) if err else str(exc)
        if err == EACCES:
            reason += " (needs no_new_privs or CAP_SYS_ADMIN)"
        elif err == EINVAL:
            reason += f" (flags {program.flags:#x}, {len(program)} instructions)"
        raise SetupError(f"seccomp: installing the filter: {reason}") from None
    except ValueError as exc:
        raise SetupError(f"seccomp: installing the filter: {exc}") from None
    if program.flags & FLAG_NEW_LISTENER:
        return ret
    return None
