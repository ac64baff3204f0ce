/*
 * The conformance suite's in-container helper: one static multi-call program.
 *
 *   helper CMD [ARGS...] [-- CMD [ARGS...]]...
 *
 * Each command prints plain "key=value" lines (or a file's raw content) on
 * stdout; errors are reported on stdout too, as "ERR <cmd> <arg> <ERRNO-NAME>",
 * so the test that reads the container's stdout sees everything in order.
 * The suite builds it with `gcc -static -O2` into a temporary directory; it
 * is never committed as a binary.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char *errname(int e)
{
    switch (e) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case ENXIO: return "ENXIO";
    case E2BIG: return "E2BIG";
    case ENOEXEC: return "ENOEXEC";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EXDEV: return "EXDEV";
    case ENODEV: return "ENODEV";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case ENFILE: return "ENFILE";
    case EMFILE: return "EMFILE";
    case ENOTTY: return "ENOTTY";
    case EFBIG: return "EFBIG";
    case ENOSPC: return "ENOSPC";
    case ESPIPE: return "ESPIPE";
    case EROFS: return "EROFS";
    case EMLINK: return "EMLINK";
    case EPIPE: return "EPIPE";
    case ERANGE: return "ERANGE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOSYS: return "ENOSYS";
    case ELOOP: return "ELOOP";
    case ENOTSUP: return "ENOTSUP";
    case ETIMEDOUT: return "ETIMEDOUT";
    default: {
        static char buf[32];
        snprintf(buf, sizeof buf, "E%d", e);
        return buf;
    }
    }
}

static int err(const char *cmd, const char *arg)
{
    printf("ERR %s %s %s\n", cmd, arg ? arg : "-", errname(errno));
    return 1;
}

/* ---- files --------------------------------------------------------------- */

static int cmd_cat(int argc, char **argv)
{
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            rc |= err("cat", argv[i]);
            continue;
        }
        char buf[8192];
        ssize_t n;
        while ((n = read(fd, buf, sizeof buf)) > 0)
            fwrite(buf, 1, (size_t)n, stdout);
        if (n < 0)
            rc |= err("cat", argv[i]);
        close(fd);
    }
    return rc;
}

static const char *ftype(mode_t m)
{
    if (S_ISREG(m)) return "reg";
    if (S_ISDIR(m)) return "dir";
    if (S_ISCHR(m)) return "chr";
    if (S_ISBLK(m)) return "blk";
    if (S_ISFIFO(m)) return "fifo";
    if (S_ISLNK(m)) return "lnk";
    if (S_ISSOCK(m)) return "sock";
    return "unknown";
}

static int do_stat(const char *cmd, const char *path, int follow)
{
    struct stat st;
    if ((follow ? stat(path, &st) : lstat(path, &st)) < 0)
        return err(cmd, path);
    printf("path=%s type=%s mode=%04o uid=%u gid=%u major=%u minor=%u size=%lld dev=%u:%u ino=%llu\n",
           path, ftype(st.st_mode), (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
           (unsigned)st.st_gid, major(st.st_rdev), minor(st.st_rdev), (long long)st.st_size,
           major(st.st_dev), minor(st.st_dev), (unsigned long long)st.st_ino);
    return 0;
}

static int cmd_stat(int argc, char **argv)
{
    int rc = 0;
    for (int i = 1; i < argc; i++)
        rc |= do_stat("stat", argv[i], 1);
    return rc;
}

static int cmd_lstat(int argc, char **argv)
{
    int rc = 0;
    for (int i = 1; i < argc; i++)
        rc |= do_stat("lstat", argv[i], 0);
    return rc;
}

static int cmd_readlink(int argc, char **argv)
{
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        char buf[PATH_MAX];
        ssize_t n = readlink(argv[i], buf, sizeof buf - 1);
        if (n < 0) {
            rc |= err("readlink", argv[i]);
            continue;
        }
        buf[n] = 0;
        printf("%s -> %s\n", argv[i], buf);
    }
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmd_ls(int argc, char **argv)
{
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        if (!d) {
            rc |= err("ls", argv[i]);
            continue;
        }
        char *names[4096];
        size_t n = 0;
        struct dirent *e;
        while ((e = readdir(d)) && n < 4096) {
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                names[n++] = strdup(e->d_name);
        }
        closedir(d);
        qsort(names, n, sizeof names[0], cmp_str);
        for (size_t j = 0; j < n; j++) {
            printf("%s\n", names[j]);
            free(names[j]);
        }
    }
    return rc;
}

static int cmd_write(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    const char *text = argc > 2 ? argv[2] : "x";
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return err("write", argv[1]);
    if (write(fd, text, strlen(text)) < 0) {
        int rc = err("write", argv[1]);
        close(fd);
        return rc;
    }
    close(fd);
    printf("write %s ok\n", argv[1]);
    return 0;
}

/* open PATH r|w|rw: open (and close) only, report ok or the errno. */
static int cmd_open(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    const char *m = argc > 2 ? argv[2] : "r";
    int flags = !strcmp(m, "rw") ? O_RDWR : !strcmp(m, "w") ? O_WRONLY : O_RDONLY;
    int fd = open(argv[1], flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return err("open", argv[1]);
    close(fd);
    printf("open %s ok\n", argv[1]);
    return 0;
}

static int cmd_mkdir(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (mkdir(argv[i], 0755) < 0)
            return err("mkdir", argv[i]);
        printf("mkdir %s ok\n", argv[i]);
    }
    return 0;
}

static int cmd_statvfs(int argc, char **argv)
{
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        struct statvfs s;
        if (statvfs(argv[i], &s) < 0) {
            rc |= err("statvfs", argv[i]);
            continue;
        }
        printf("path=%s flags=%s%s%s%s%s%s%s\n", argv[i],
               s.f_flag & ST_RDONLY ? "ro" : "rw", s.f_flag & ST_NOSUID ? ",nosuid" : "",
               s.f_flag & ST_NODEV ? ",nodev" : "", s.f_flag & ST_NOEXEC ? ",noexec" : "",
               s.f_flag & ST_NOATIME ? ",noatime" : "", s.f_flag & ST_NODIRATIME ? ",nodiratime" : "",
               s.f_flag & ST_RELATIME ? ",relatime" : "");
    }
    return rc;
}

/* Run PATH and report whether execve worked (exit status of the child). */
static int cmd_tryexec(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    pid_t pid = fork();
    if (pid < 0)
        return err("tryexec", argv[1]);
    if (pid == 0) {
        execv(argv[1], argv + 1);
        printf("ERR tryexec %s %s\n", argv[1], errname(errno));
        fflush(stdout);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) != 127)
        printf("tryexec %s exit=%d\n", argv[1], WEXITSTATUS(status));
    return 0;
}

/* ---- process ------------------------------------------------------------- */

static int cmd_ids(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    getresuid(&ru, &eu, &su);
    getresgid(&rg, &eg, &sg);
    printf("uid=%u euid=%u suid=%u gid=%u egid=%u sgid=%u\n", ru, eu, su, rg, eg, sg);
    gid_t groups[256];
    int n = getgroups(256, groups);
    printf("groups=");
    for (int i = 0; i < n; i++)
        printf("%s%u", i ? "," : "", groups[i]);
    printf("\n");
    return 0;
}

/* Selected lines of /proc/self/status: capabilities, no_new_privs, seccomp, umask. */
static int cmd_status(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    FILE *f = fopen("/proc/self/status", "re");
    if (!f)
        return err("status", "/proc/self/status");
    char line[1024];
    static const char *keep[] = {"Umask:", "Cap", "NoNewPrivs:", "Seccomp:", "Cpus_allowed_list:",
                                 "Mems_allowed_list:", "Groups:", "Uid:", "Gid:", "NSpid:", NULL};
    while (fgets(line, sizeof line, f)) {
        for (int i = 0; keep[i]; i++) {
            if (!strncmp(line, keep[i], strlen(keep[i]))) {
                char *colon = strchr(line, ':');
                *colon = 0;
                char *v = colon + 1;
                while (*v == ' ' || *v == '\t')
                    v++;
                printf("%s=%s", line, v);
                break;
            }
        }
    }
    fclose(f);
    printf("nnp=%d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    return 0;
}

static const struct {
    const char *name;
    int res;
} rlimits[] = {
    {"RLIMIT_CPU", RLIMIT_CPU},       {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_DATA", RLIMIT_DATA},     {"RLIMIT_STACK", RLIMIT_STACK},
    {"RLIMIT_CORE", RLIMIT_CORE},     {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_NPROC", RLIMIT_NPROC},   {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_AS", RLIMIT_AS},
    {"RLIMIT_LOCKS", RLIMIT_LOCKS},   {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO}, {"RLIMIT_RTTIME", RLIMIT_RTTIME},
    {NULL, 0},
};

static void print_lim(rlim_t v)
{
    if (v == RLIM_INFINITY)
        printf("unlimited");
    else
        printf("%llu", (unsigned long long)v);
}

static int cmd_rlimits(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    for (int i = 0; rlimits[i].name; i++) {
        struct rlimit r;
        if (getrlimit(rlimits[i].res, &r) < 0) {
            err("rlimits", rlimits[i].name);
            continue;
        }
        printf("%s=", rlimits[i].name);
        print_lim(r.rlim_cur);
        printf(",");
        print_lim(r.rlim_max);
        printf("\n");
    }
    return 0;
}

static int cmd_ns(int argc, char **argv)
{
    static const char *all[] = {"cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts", NULL};
    const char **names = all;
    if (argc > 1)
        names = (const char **)argv + 1;
    for (int i = 0; names[i]; i++) {
        char p[64], buf[128];
        snprintf(p, sizeof p, "/proc/self/ns/%s", names[i]);
        ssize_t n = readlink(p, buf, sizeof buf - 1);
        if (n < 0) {
            err("ns", names[i]);
            continue;
        }
        buf[n] = 0;
        printf("%s=%s\n", names[i], buf);
    }
    return 0;
}

static int cmd_uname(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    struct utsname u;
    if (uname(&u) < 0)
        return err("uname", NULL);
    printf("nodename=%s\ndomainname=%s\nmachine=%s\n", u.nodename, u.domainname, u.machine);
    return 0;
}

static int cmd_cwd(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    char buf[PATH_MAX];
    if (!getcwd(buf, sizeof buf))
        return err("cwd", NULL);
    printf("cwd=%s\n", buf);
    return 0;
}

static int cmd_env(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    for (char **e = environ; *e; e++)
        printf("%s\n", *e);
    return 0;
}

static int cmd_args(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        printf("arg%d=%s\n", i, argv[i]);
    return 0;
}

static int cmd_fds(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return err("fds", "/proc/self/fd");
    int self = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        if (fd == self)
            continue;
        char p[64], buf[PATH_MAX];
        snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(p, buf, sizeof buf - 1);
        buf[n < 0 ? 0 : n] = 0;
        printf("fd%d=%s\n", fd, buf);
    }
    closedir(d);
    return 0;
}

static int cmd_pid(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("pid=%d\nppid=%d\n", getpid(), getppid());
    return 0;
}

static int cmd_tty(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("tty0=%d\ntty1=%d\ntty2=%d\n", isatty(0), isatty(1), isatty(2));
    return 0;
}

static int cmd_sched(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    struct sched_param sp;
    int pol = sched_getscheduler(0);
    sched_getparam(0, &sp);
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, 0);
    printf("policy=%d\npriority=%d\nnice=%d\n", pol, sp.sched_priority, nice);
    long io = syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, 0);
    printf("ioprio_class=%ld\nioprio_data=%ld\n", io >> 13, io & 0x1fff);
    printf("personality=0x%x\n", (unsigned)personality(0xffffffff));
    return 0;
}

static int cmd_clock(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    struct timespec m, b;
    clock_gettime(CLOCK_MONOTONIC, &m);
    clock_gettime(CLOCK_BOOTTIME, &b);
    printf("monotonic=%lld\nboottime=%lld\n", (long long)m.tv_sec, (long long)b.tv_sec);
    return 0;
}

/* syscall NR [ARGS...]: call it raw, print the result or the errno. */
static int cmd_syscall(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    long a[6] = {0};
    for (int i = 2; i < argc && i < 8; i++)
        a[i - 2] = strtol(argv[i], NULL, 0);
    errno = 0;
    long r = syscall(strtol(argv[1], NULL, 0), a[0], a[1], a[2], a[3], a[4], a[5]);
    if (r < 0)
        printf("syscall %s ret=%ld errno=%s\n", argv[1], r, errname(errno));
    else
        printf("syscall %s ret=%ld\n", argv[1], r);
    return 0;
}

static int cmd_exit(int argc, char **argv)
{
    fflush(stdout);
    _exit(argc > 1 ? atoi(argv[1]) : 0);
}

static int cmd_sleep(int argc, char **argv)
{
    double s = argc > 1 ? atof(argv[1]) : 1;
    struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
    return 0;
}

static int cmd_pause(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fflush(stdout);
    for (;;)
        pause();
    return 0;
}

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    got_signal = sig;
}

/* sigwait: catch every catchable signal, say "ready", report the first one, exit 0. */
static int cmd_sigwait(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            sigaction(s, &sa, NULL);
    printf("ready\n");
    fflush(stdout);
    while (!got_signal)
        pause();
    printf("signal=%d\n", (int)got_signal);
    return 0;
}

/* hook FILE TAG: what a lifecycle hook sees, appended to FILE as one block. */
static int cmd_hook(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    char in[65536];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof in - 1 && (r = read(0, in + n, sizeof in - 1 - n)) > 0)
        n += (size_t)r;
    in[n] = 0;
    for (size_t i = 0; i < n; i++)
        if (in[i] == '\n')
            in[i] = ' ';
    FILE *f = fopen(argv[1], "ae");
    if (!f)
        return err("hook", argv[1]);
    struct timespec m;
    clock_gettime(CLOCK_MONOTONIC, &m);
    fprintf(f, "== %s\n", argv[2]);
    fprintf(f, "time=%lld%09ld\n", (long long)m.tv_sec, m.tv_nsec);
    fprintf(f, "pid=%d\n", getpid());
    static const char *ns[] = {"ipc", "mnt", "net", "pid", "uts", "user", "cgroup", NULL};
    for (int i = 0; ns[i]; i++) {
        char p[64], buf[128];
        snprintf(p, sizeof p, "/proc/self/ns/%s", ns[i]);
        ssize_t k = readlink(p, buf, sizeof buf - 1);
        buf[k < 0 ? 0 : k] = 0;
        fprintf(f, "ns_%s=%s\n", ns[i], buf);
    }
    struct stat st;
    if (stat("/", &st) == 0)
        fprintf(f, "root=%u:%u:%llu\n", major(st.st_dev), minor(st.st_dev),
                (unsigned long long)st.st_ino);
    /* What the hook can see of the container process named in the state. */
    const char *pp = strstr(in, "\"pid\"");
    int tpid = 0;
    if (pp && (pp = strchr(pp, ':')))
        tpid = atoi(pp + 1);
    fprintf(f, "target_pid=%d\n", tpid);
    if (tpid > 0) {
        char p[64], buf[PATH_MAX];
        snprintf(p, sizeof p, "/proc/%d/root", tpid);
        if (stat(p, &st) == 0)
            fprintf(f, "target_root=%u:%u:%llu\n", major(st.st_dev), minor(st.st_dev),
                    (unsigned long long)st.st_ino);
        for (int i = 0; ns[i]; i++) {
            snprintf(p, sizeof p, "/proc/%d/ns/%s", tpid, ns[i]);
            ssize_t k = readlink(p, buf, sizeof buf - 1);
            buf[k < 0 ? 0 : k] = 0;
            fprintf(f, "target_ns_%s=%s\n", ns[i], buf);
        }
        snprintf(p, sizeof p, "/proc/%d/cmdline", tpid);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t k = read(fd, buf, sizeof buf - 1);
            close(fd);
            for (ssize_t j = 0; j < k; j++)
                if (!buf[j])
                    buf[j] = ' ';
            buf[k < 0 ? 0 : k] = 0;
            fprintf(f, "target_cmdline=%s\n", buf);
        }
    }
    for (int i = 3; i < argc; i++)
        fprintf(f, "arg=%s\n", argv[i]);
    for (char **e = environ; *e; e++)
        fprintf(f, "env=%s\n", *e);
    fprintf(f, "stdin=%s\n", in);
    fclose(f);
    const char *code = getenv("HOOK_EXIT");
    return code ? atoi(code) : 0;
}

/* ---- dispatch ------------------------------------------------------------ */

static const struct {
    const char *name;
    int (*fn)(int, char **);
} cmds[] = {
    {"args", cmd_args},     {"cat", cmd_cat},       {"clock", cmd_clock},
    {"cwd", cmd_cwd},       {"env", cmd_env},       {"exit", cmd_exit},
    {"fds", cmd_fds},       {"hook", cmd_hook},     {"ids", cmd_ids},
    {"ls", cmd_ls},         {"lstat", cmd_lstat},   {"mkdir", cmd_mkdir},
    {"ns", cmd_ns},         {"open", cmd_open},     {"pause", cmd_pause},   {"pid", cmd_pid},
    {"readlink", cmd_readlink}, {"rlimits", cmd_rlimits}, {"sched", cmd_sched},
    {"sigwait", cmd_sigwait}, {"sleep", cmd_sleep}, {"stat", cmd_stat},
    {"status", cmd_status}, {"statvfs", cmd_statvfs}, {"syscall", cmd_syscall},
    {"true", NULL},         {"tryexec", cmd_tryexec}, {"tty", cmd_tty},
    {"uname", cmd_uname},   {"write", cmd_write},   {NULL, NULL},
};

static int run(int argc, char **argv)
{
    for (int i = 0; cmds[i].name; i++) {
        if (!strcmp(argv[0], cmds[i].name)) {
            int rc = cmds[i].fn ? cmds[i].fn(argc, argv) : 0;
            fflush(stdout);
            return rc;
        }
    }
    printf("ERR helper %s unknown-command\n", argv[0]);
    return 2;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    if (strcmp(base, "helper") && strcmp(base, "init"))
        return run(argc, argv); /* called through a link named after a command */
    if (argc < 2) {
        fprintf(stderr, "usage: helper CMD [ARGS...] [-- CMD [ARGS...]]...\n");
        return 2;
    }
    int rc = 0, start = 1;
    for (int i = 1; i <= argc; i++) {
        if (i == argc || !strcmp(argv[i], "--")) {
            if (i > start) {
                char *saved = argv[i];
                argv[i] = NULL;
                rc = run(i - start, argv + start);
                argv[i] = saved;
            }
            start = i + 1;
        }
    }
    return rc;
}
