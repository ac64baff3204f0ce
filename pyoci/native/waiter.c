/*
 * pyoci-waiter: what a created container's init becomes while it waits for
 * `start`.
 *
 * The Python init builds the container, drops privileges, resolves the
 * executable, then execs this tiny static program (from a sealed memfd, so
 * /proc/PID/exe can never be written through) instead of keeping a whole
 * interpreter resident.  It:
 *
 *   1. makes itself non-dumpable;
 *   2. exits with 128+SIG on the usual termination signals (as PID 1 of its
 *      namespace it would otherwise ignore them: runc's Go init handles them);
 *   3. reopens FIFO_FD (an O_PATH fd of exec.fifo) for writing through
 *      FD_DIR (an fd of its own /proc/PID/fd directory in a procfs the
 *      runtime verified: never the container's /proc), which blocks until
 *      `start` opens exec.fifo for reading, and writes "0";
 *   4. installs the seccomp filter read from SECCOMP_FD (if not -1): the last
 *      step before execve;
 *   5. execve(PATH, ARGV, envp).
 *
 * The fifo's write end stays open, close-on-exec: `start` reads until the
 * end of file, which comes when execve succeeds.  A failure after step 3
 * writes "!" and the reason into the fifo (so `start` fails with it), and
 * one line "pyoci: ..." on stderr (the container's: the engine's log).
 *
 * usage: pyoci-waiter FD_DIR FIFO_FD SECCOMP_FD SECCOMP_FLAGS PATH ARGV0 [ARGS...]
 *
 * No libc: after pivot_root there is no host dynamic loader, and every page
 * of this process is memory a waiting container holds.  Raw syscalls for
 * x86_64 and aarch64.
 */

typedef unsigned long ulong;
typedef long slong;

#if defined(__x86_64__)
#define NR_read 0
#define NR_write 1
#define NR_open 2
#define NR_close 3
#define NR_rt_sigaction 13
#define NR_execve 59
#define NR_exit_group 231
#define NR_prctl 157
#define NR_seccomp 317
#define NR_openat 257

static slong sys6(slong n, slong a, slong b, slong c, slong d, slong e, slong f)
{
    slong ret;
    register slong r10 __asm__("r10") = d;
    register slong r8 __asm__("r8") = e;
    register slong r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}
#elif defined(__aarch64__)
#define NR_read 63
#define NR_write 64
#define NR_close 57
#define NR_rt_sigaction 134
#define NR_execve 221
#define NR_exit_group 94
#define NR_prctl 167
#define NR_seccomp 277
#define NR_openat 56

static slong sys6(slong n, slong a, slong b, slong c, slong d, slong e, slong f)
{
    register slong x8 __asm__("x8") = n;
    register slong x0 __asm__("x0") = a;
    register slong x1 __asm__("x1") = b;
    register slong x2 __asm__("x2") = c;
    register slong x3 __asm__("x3") = d;
    register slong x4 __asm__("x4") = e;
    register slong x5 __asm__("x5") = f;
    __asm__ volatile("svc 0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory");
    return x0;
}
#else
#error "pyoci-waiter: unsupported architecture"
#endif

#define O_WRONLY 01
#define O_CLOEXEC 02000000
#define PR_SET_DUMPABLE 4
#define SECCOMP_SET_MODE_FILTER 1
#define SA_RESTORER 0x04000000
#define EINTR 4

struct ksigaction {
    void (*handler)(int);
    ulong flags;
    void (*restorer)(void);
    ulong mask;
};

struct sock_fprog {
    unsigned short len;
    void *filter;
};

static void die(int code) __attribute__((noreturn));
static void die(int code)
{
    for (;;)
        sys6(NR_exit_group, code, 0, 0, 0, 0, 0);
}

/* the write end of exec.fifo once `start` opened it; -1 before */
static slong report_fd = -1;

static ulong put(char *buf, ulong at, ulong cap, const char *s)
{
    while (*s && at < cap)
        buf[at++] = *s++;
    return at;
}

/* "pyoci: WHAT[ 'PATH'][: WHY]" on stderr (the Python init's wording), and "!" and the
   same to `start` if it is listening: stderr first (a fifo without a reader would end
   us with SIGPIPE) */
static void say(const char *what, const char *path, const char *why)
{
    static char line[1024];
    ulong n = put(line, 0, sizeof(line) - 1, "pyoci: ");
    ulong body = n;
    n = put(line, n, sizeof(line) - 1, what);
    if (path) {
        n = put(line, n, sizeof(line) - 1, " '");
        n = put(line, n, sizeof(line) - 1, path);
        n = put(line, n, sizeof(line) - 1, "'");
    }
    if (why) {
        n = put(line, n, sizeof(line) - 1, ": ");
        n = put(line, n, sizeof(line) - 1, why);
    }
    line[n] = '\n';
    sys6(NR_write, 2, (slong)line, (slong)(n + 1), 0, 0, 0);
    if (report_fd >= 0) {
        line[body - 1] = '!'; /* the space before the message */
        sys6(NR_write, report_fd, (slong)(line + body - 1), (slong)(n - body + 1), 0, 0, 0);
    }
}

static slong num(const char *s)
{
    slong v = 0, sign = 1;
    if (*s == '-') {
        sign = -1;
        s++;
    }
    while (*s >= '0' && *s <= '9')
        v = v * 10 + (*s++ - '0');
    return v * sign;
}

static void on_signal(int sig)
{
    die(128 + sig);
}

static void restorer(void)
{
    die(1); /* never used: the handler does not return */
}

static const char *errname(slong err)
{
    static char other[24];
    ulong n, i;
    slong v;
    switch (-err) {
    case 1: return "operation not permitted";
    case 2: return "no such file or directory";
    case 7: return "argument list too long";
    case 8: return "exec format error";
    case 12: return "cannot allocate memory";
    case 13: return "permission denied";
    case 14: return "bad address";
    case 20: return "not a directory";
    case 21: return "is a directory";
    case 22: return "invalid argument";
    case 26: return "text file busy";
    case 36: return "file name too long";
    case 40: return "too many levels of symbolic links";
    default:
        break;
    }
    n = put(other, 0, sizeof(other) - 1, "errno ");
    v = -err;
    for (i = 1; v / (slong)i >= 10; i *= 10)
        ;
    for (; i > 0 && n < sizeof(other) - 1; i /= 10)
        other[n++] = (char)('0' + (v / (slong)i) % 10);
    other[n] = 0;
    return other;
}

/* called from _start with the initial stack pointer */
__attribute__((used)) void waiter_main(slong *sp)
{
    int argc = (int)sp[0];
    char **argv = (char **)(sp + 1);
    char **envp = argv + argc + 1;
    static const int sigs[] = {1, 2, 3, 10, 12, 14, 15};
    struct ksigaction sa;
    slong fd, ret, seccomp_fd, flags, fd_dir;
    ulong i;

    sys6(NR_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0, 0);
    if (argc < 7) {
        say("usage: pyoci-waiter FD_DIR FIFO_FD SECCOMP_FD FLAGS PATH ARGV0 [ARGS...]", 0, 0);
        die(127);
    }
    sa.handler = on_signal;
    sa.flags = SA_RESTORER;
    sa.restorer = restorer;
    sa.mask = 0;
    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sys6(NR_rt_sigaction, sigs[i], (slong)&sa, 0, 8, 0, 0);

    /* FD_DIR/<FIFO_FD>: the magic link of our own fd, resolved by the kernel */
    fd_dir = num(argv[1]);
    do {
        fd = sys6(NR_openat, fd_dir, (slong)argv[2], O_WRONLY | O_CLOEXEC, 0, 0, 0);
    } while (fd == -EINTR);
    if (fd < 0) {
        say("open exec fifo", 0, errname(fd));
        die(127);
    }
    do {
        ret = sys6(NR_write, fd, (slong)"0", 1, 0, 0, 0);
    } while (ret == -EINTR);
    report_fd = fd; /* kept: close-on-exec, so `start` sees the end of file at execve */
    sys6(NR_close, num(argv[2]), 0, 0, 0, 0, 0);
    sys6(NR_close, fd_dir, 0, 0, 0, 0, 0);

    /* back to default dispositions before the user process (execve would
       reset caught signals anyway; be explicit) */
    sa.handler = 0; /* SIG_DFL */
    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sys6(NR_rt_sigaction, sigs[i], (slong)&sa, 0, 8, 0, 0);

    seccomp_fd = num(argv[3]);
    flags = num(argv[4]);
    if (seccomp_fd >= 0) {
        /* the program: 8-byte sock_filter instructions, at most 4096 */
        static unsigned char prog[4096 * 8];
        ulong got = 0;
        struct sock_fprog fprog;
        for (;;) {
            ret = sys6(NR_read, seccomp_fd, (slong)(prog + got), (slong)(sizeof(prog) - got), 0,
                       0, 0);
            if (ret == -EINTR)
                continue;
            if (ret <= 0)
                break;
            got += (ulong)ret;
        }
        sys6(NR_close, seccomp_fd, 0, 0, 0, 0, 0);
        if (ret < 0 || got == 0 || got % 8) {
            say("read seccomp program", 0, errname(ret < 0 ? ret : -22));
            die(127);
        }
        fprog.len = (unsigned short)(got / 8);
        fprog.filter = prog;
        ret = sys6(NR_seccomp, SECCOMP_SET_MODE_FILTER, flags, (slong)&fprog, 0, 0, 0);
        if (ret < 0) {
            say("install seccomp filter", 0, errname(ret));
            die(127);
        }
    }

    ret = sys6(NR_execve, (slong)argv[5], (slong)(argv + 6), (slong)envp, 0, 0, 0);
    say("exec", argv[5], errname(ret));
    die(127);
}

#if defined(__x86_64__)
__asm__(".text\n"
        ".global _start\n"
        "_start:\n"
        "  xor %rbp, %rbp\n"
        "  mov %rsp, %rdi\n"
        "  and $-16, %rsp\n"
        "  call waiter_main\n"
        "  hlt\n");
#elif defined(__aarch64__)
__asm__(".text\n"
        ".global _start\n"
        "_start:\n"
        "  mov x0, sp\n"
        "  bl waiter_main\n"
        "  brk #0\n");
#endif
