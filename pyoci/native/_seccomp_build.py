"""cffi out-of-line build of ``pyoci.native._seccomp``: libseccomp, for compiling
``linux.seccomp`` into a classic BPF program (run at install time, never at run time).

Only the runtime parent uses this module: it compiles the profile and exports the
program; the container init installs the exported bytes with
``pyoci.native.seccomp_set_filter`` and never touches libseccomp.

libseccomp functions return a negative errno on failure (``seccomp_init``
returns NULL).  The ``pyoci_*`` shims below stand in for the function-like
macros of ``<seccomp.h>`` and for the two read-only seccomp(2) probes, which
return 0 or a positive errno and never change the calling process.

Development build, in place: ``python pyoci/native/_seccomp_build.py``.
Needs Debian ``libseccomp-dev`` to build, ``libseccomp2`` at run time.
"""

from __future__ import annotations

from cffi import FFI

CDEF = """
typedef void *scmp_filter_ctx;
typedef uint64_t scmp_datum_t;

struct scmp_version {
    unsigned int major;
    unsigned int minor;
    unsigned int micro;
};

enum scmp_compare {
    SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE,
    SCMP_CMP_GT, SCMP_CMP_MASKED_EQ, ...
};

struct scmp_arg_cmp {
    unsigned int arg;
    enum scmp_compare op;
    scmp_datum_t datum_a;
    scmp_datum_t datum_b;
};

enum scmp_filter_attr {
    SCMP_FLTATR_ACT_DEFAULT, SCMP_FLTATR_ACT_BADARCH, SCMP_FLTATR_CTL_NNP,
    SCMP_FLTATR_CTL_TSYNC, SCMP_FLTATR_CTL_LOG, SCMP_FLTATR_CTL_SSB,
    SCMP_FLTATR_CTL_OPTIMIZE, ...
};

#define SCMP_ACT_KILL_PROCESS ...
#define SCMP_ACT_KILL_THREAD ...
#define SCMP_ACT_KILL ...
#define SCMP_ACT_TRAP ...
#define SCMP_ACT_NOTIFY ...
#define SCMP_ACT_LOG ...
#define SCMP_ACT_ALLOW ...

#define SCMP_ARCH_NATIVE ...
#define SCMP_ARCH_X32 ...
#define AUDIT_ARCH_X86_64 ...

#define SECCOMP_RET_KILL_PROCESS ...
#define SECCOMP_RET_TRAP ...
#define SECCOMP_RET_USER_NOTIF ...
#define SECCOMP_RET_TRACE ...
#define SECCOMP_RET_LOG ...

#define SECCOMP_FILTER_FLAG_TSYNC ...
#define SECCOMP_FILTER_FLAG_LOG ...
#define SECCOMP_FILTER_FLAG_SPEC_ALLOW ...
#define SECCOMP_FILTER_FLAG_NEW_LISTENER ...
#define SECCOMP_FILTER_FLAG_TSYNC_ESRCH ...
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV ...

const struct scmp_version *seccomp_version(void);
unsigned int seccomp_api_get(void);

scmp_filter_ctx seccomp_init(uint32_t def_action);
void seccomp_release(scmp_filter_ctx ctx);
int seccomp_attr_set(scmp_filter_ctx ctx, enum scmp_filter_attr attr,
                     uint32_t value);

uint32_t seccomp_arch_resolve_name(const char *arch_name);
uint32_t seccomp_arch_native(void);
int seccomp_arch_exist(const scmp_filter_ctx ctx, uint32_t arch_token);
int seccomp_arch_add(scmp_filter_ctx ctx, uint32_t arch_token);

int seccomp_syscall_resolve_name(const char *name);
int seccomp_syscall_resolve_name_arch(uint32_t arch_token, const char *name);

int seccomp_rule_add_array(scmp_filter_ctx ctx, uint32_t action, int syscall,
                           unsigned int arg_cnt,
                           const struct scmp_arg_cmp *arg_array);

int seccomp_export_bpf(const scmp_filter_ctx ctx, int fd);

uint32_t pyoci_scmp_act_errno(uint32_t errno_ret);
uint32_t pyoci_scmp_act_trace(uint32_t msg_num);
int pyoci_seccomp_flags_probe(unsigned int flags);
int pyoci_seccomp_action_probe(uint32_t action);
"""

SOURCE = r"""
#include <errno.h>
#include <stdint.h>
#include <stddef.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <seccomp.h>

#ifndef SECCOMP_FILTER_FLAG_TSYNC_ESRCH
#define SECCOMP_FILTER_FLAG_TSYNC_ESRCH (1UL << 4)
#endif
#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

static uint32_t pyoci_scmp_act_errno(uint32_t errno_ret)
{
    return SCMP_ACT_ERRNO(errno_ret);
}

static uint32_t pyoci_scmp_act_trace(uint32_t msg_num)
{
    return SCMP_ACT_TRACE(msg_num);
}

/* Does the kernel accept these SECCOMP_FILTER_FLAG_* bits?  The kernel checks
   the flags before it copies the program, so a NULL program fails with EFAULT
   when the flags are known and EINVAL when they are not; nothing is installed.
   Returns 0 when supported, else the errno. */
static int pyoci_seccomp_flags_probe(unsigned int flags)
{
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, NULL) == 0)
        return EINVAL;  /* impossible: a NULL program cannot be installed */
    return errno == EFAULT ? 0 : errno;
}

/* SECCOMP_GET_ACTION_AVAIL: 0 when the kernel knows this SECCOMP_RET_* action. */
static int pyoci_seccomp_action_probe(uint32_t action)
{
    if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) < 0)
        return errno;
    return 0;
}
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source("pyoci.native._seccomp", SOURCE, libraries=["seccomp"])

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
