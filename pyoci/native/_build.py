"""cffi out-of-line build of the native layer (run at install time, never at run time).

Every raw syscall pyoci makes is declared here.  Calls without a glibc wrapper
go through small C shims named ``pyoci_*`` that call ``syscall(2)`` directly;
all of them return -1 and leave ``errno`` set on failure.
"""

from __future__ import annotations

from cffi import FFI

CDEF = """
int unshare(int flags);
int setns(int fd, int nstype);
int mount(const char *source, const char *target, const char *fstype,
          unsigned long flags, const void *data);
int umount2(const char *target, int flags);
int sethostname(const char *name, size_t len);
int setdomainname(const char *name, size_t len);
int prctl(int option, unsigned long arg2, unsigned long arg3,
          unsigned long arg4, unsigned long arg5);
int personality(unsigned long persona);
int chroot(const char *path);
int mknodat(int dirfd, const char *path, unsigned int mode, unsigned long dev);
int memfd_create(const char *name, unsigned int flags);
int inotify_init1(int flags);
int inotify_add_watch(int fd, const char *path, uint32_t mask);

int pyoci_pivot_root(const char *new_root, const char *put_old);
int pyoci_capget(int pid, uint32_t *data6);
int pyoci_capset(int pid, const uint32_t *data6);
int pyoci_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode,
                  uint64_t resolve);
int pyoci_close_range(unsigned int first, unsigned int last, unsigned int flags);
int pyoci_open_tree(int dirfd, const char *path, unsigned int flags);
int pyoci_move_mount(int from_dirfd, const char *from_path, int to_dirfd,
                     const char *to_path, unsigned int flags);
int pyoci_mount_setattr(int dirfd, const char *path, unsigned int flags,
                        uint64_t attr_set, uint64_t attr_clr,
                        uint64_t propagation, uint64_t userns_fd);
int pyoci_fsopen(const char *fsname, unsigned int flags);
int pyoci_fsconfig(int fd, unsigned int cmd, const char *key,
                   const char *value, int aux);
int pyoci_fsmount(int fd, unsigned int flags, unsigned int attr_flags);
long pyoci_keyctl(int op, unsigned long a2, unsigned long a3,
                  unsigned long a4, unsigned long a5);
int pyoci_join_session_keyring(const char *name);
int pyoci_pidfd_open(int pid, unsigned int flags);
int pyoci_pidfd_send_signal(int pidfd, int sig);
int pyoci_ifup(const char *ifname);
int pyoci_set_ctty(int fd);
int pyoci_set_winsize(int fd, unsigned short rows, unsigned short cols);
int pyoci_reset_signals(void);
int pyoci_setgroups(size_t n, const uint32_t *gids);
int pyoci_seccomp_set_filter(unsigned int flags, unsigned short len,
                             const void *filter);
long pyoci_bpf(int cmd, void *attr, unsigned int size);
long pyoci_fstatfs_type(int fd);
long pyoci_set_mempolicy(int mode, const unsigned long *nodemask,
                         unsigned long maxnode);
long pyoci_clone3_fork(int cgroup_fd);
"""

SOURCE = r"""
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <termios.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>

static int pyoci_pivot_root(const char *new_root, const char *put_old)
{
    return (int)syscall(SYS_pivot_root, new_root, put_old);
}

static int pyoci_capget(int pid, uint32_t *data6)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, pid};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capget, &hdr, data) < 0)
        return -1;
    data6[0] = data[0].effective;  data6[1] = data[1].effective;
    data6[2] = data[0].permitted;  data6[3] = data[1].permitted;
    data6[4] = data[0].inheritable; data6[5] = data[1].inheritable;
    return 0;
}

static int pyoci_capset(int pid, const uint32_t *data6)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, pid};
    struct __user_cap_data_struct data[2];
    data[0].effective = data6[0];  data[1].effective = data6[1];
    data[0].permitted = data6[2];  data[1].permitted = data6[3];
    data[0].inheritable = data6[4]; data[1].inheritable = data6[5];
    return (int)syscall(SYS_capset, &hdr, data);
}

static int pyoci_openat2(int dirfd, const char *path, uint64_t flags,
                         uint64_t mode, uint64_t resolve)
{
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = flags;
    how.mode = mode;
    how.resolve = resolve;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

static int pyoci_close_range(unsigned int first, unsigned int last,
                             unsigned int flags)
{
    return (int)syscall(SYS_close_range, first, last, flags);
}

static int pyoci_open_tree(int dirfd, const char *path, unsigned int flags)
{
    return (int)syscall(SYS_open_tree, dirfd, path, flags);
}

static int pyoci_move_mount(int from_dirfd, const char *from_path,
                            int to_dirfd, const char *to_path,
                            unsigned int flags)
{
    return (int)syscall(SYS_move_mount, from_dirfd, from_path, to_dirfd,
                        to_path, flags);
}

struct pyoci_mount_attr {
    uint64_t attr_set;
    uint64_t attr_clr;
    uint64_t propagation;
    uint64_t userns_fd;
};

static int pyoci_mount_setattr(int dirfd, const char *path, unsigned int flags,
                               uint64_t attr_set, uint64_t attr_clr,
                               uint64_t propagation, uint64_t userns_fd)
{
    struct pyoci_mount_attr attr = {attr_set, attr_clr, propagation, userns_fd};
    return (int)syscall(SYS_mount_setattr, dirfd, path, flags, &attr,
                        sizeof(attr));
}

static int pyoci_fsopen(const char *fsname, unsigned int flags)
{
    return (int)syscall(SYS_fsopen, fsname, flags);
}

static int pyoci_fsconfig(int fd, unsigned int cmd, const char *key,
                          const char *value, int aux)
{
    return (int)syscall(SYS_fsconfig, fd, cmd, key, value, aux);
}

static int pyoci_fsmount(int fd, unsigned int flags, unsigned int attr_flags)
{
    return (int)syscall(SYS_fsmount, fd, flags, attr_flags);
}

static long pyoci_keyctl(int op, unsigned long a2, unsigned long a3,
                         unsigned long a4, unsigned long a5)
{
    return syscall(SYS_keyctl, op, a2, a3, a4, a5);
}

static int pyoci_join_session_keyring(const char *name)
{
    /* KEYCTL_JOIN_SESSION_KEYRING == 1 */
    return (int)syscall(SYS_keyctl, 1, name, 0, 0, 0);
}

static int pyoci_pidfd_open(int pid, unsigned int flags)
{
    return (int)syscall(SYS_pidfd_open, pid, flags);
}

static int pyoci_pidfd_send_signal(int pidfd, int sig)
{
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

static int pyoci_ifup(const char *ifname)
{
    struct ifreq ifr;
    int fd, saved;
    if (strlen(ifname) >= IFNAMSIZ) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    memset(&ifr, 0, sizeof(ifr));
    strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        goto fail;
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
        goto fail;
    close(fd);
    return 0;
fail:
    saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

static int pyoci_set_ctty(int fd)
{
    return ioctl(fd, TIOCSCTTY, 0);
}

static int pyoci_set_winsize(int fd, unsigned short rows, unsigned short cols)
{
    struct winsize ws;
    memset(&ws, 0, sizeof(ws));
    ws.ws_row = rows;
    ws.ws_col = cols;
    return ioctl(fd, TIOCSWINSZ, &ws);
}

static int pyoci_reset_signals(void)
{
    /* Every signal back to SIG_DFL and an empty mask: CPython ignores
       SIGPIPE and SIGXFSZ, and an ignored disposition survives execve. */
    struct sigaction sa;
    sigset_t empty;
    int sig;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP)
            continue;
        (void)sigaction(sig, &sa, NULL);
    }
    sigemptyset(&empty);
    return sigprocmask(SIG_SETMASK, &empty, NULL);
}

static int pyoci_setgroups(size_t n, const uint32_t *gids)
{
    return (int)syscall(SYS_setgroups, n, gids);
}

static int pyoci_seccomp_set_filter(unsigned int flags, unsigned short len,
                                    const void *filter)
{
    struct sock_fprog prog;
    prog.len = len;
    prog.filter = (struct sock_filter *)filter;
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

static long pyoci_bpf(int cmd, void *attr, unsigned int size)
{
    return syscall(SYS_bpf, cmd, attr, size);
}

static long pyoci_set_mempolicy(int mode, const unsigned long *nodemask,
                                unsigned long maxnode)
{
    return syscall(SYS_set_mempolicy, mode, nodemask, maxnode);
}

/* clone3(2) as a fork CPython knows about (see pyoci/native/clone3.py for
   why this is safe).  cffi calls us without the GIL: take it back, since
   PyOS_BeforeFork and PyOS_AfterFork_* run Python code (the at-fork hooks)
   and PyOS_AfterFork_Child re-creates the GIL for the calling thread state
   (as os.fork, which holds the GIL across fork()).  cgroup_fd >= 0: the child
   is born in that cgroup2 directory (CLONE_INTO_CGROUP, Linux 5.7). */
struct pyoci_clone_args {
    uint64_t flags;
    uint64_t pidfd;
    uint64_t child_tid;
    uint64_t parent_tid;
    uint64_t exit_signal;
    uint64_t stack;
    uint64_t stack_size;
    uint64_t tls;
    uint64_t set_tid;
    uint64_t set_tid_size;
    uint64_t cgroup;
};
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#define PYOCI_CLONE_INTO_CGROUP 0x200000000ULL
#define PYOCI_CLONE_ARGS_SIZE_VER0 64
#define PYOCI_CLONE_ARGS_SIZE_VER2 88

static long pyoci_clone3_fork(int cgroup_fd)
{
    struct pyoci_clone_args args;
    size_t size = PYOCI_CLONE_ARGS_SIZE_VER0;
    PyGILState_STATE gil;
    long pid;
    int saved;

    memset(&args, 0, sizeof(args));
    args.exit_signal = SIGCHLD;
    if (cgroup_fd >= 0) {
        args.flags = PYOCI_CLONE_INTO_CGROUP;
        args.cgroup = (uint64_t)cgroup_fd;
        size = PYOCI_CLONE_ARGS_SIZE_VER2;
    }
    gil = PyGILState_Ensure();
    PyOS_BeforeFork();
    pid = syscall(SYS_clone3, &args, size);
    saved = errno;
    if (pid == 0)
        PyOS_AfterFork_Child();
    else
        PyOS_AfterFork_Parent();
    PyGILState_Release(gil);
    errno = saved;
    return pid;
}

static long pyoci_fstatfs_type(int fd)
{
    struct statfs st;
    if (fstatfs(fd, &st) < 0)
        return -1;
    return (long)st.f_type;
}
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source("pyoci.native._lib", SOURCE)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
