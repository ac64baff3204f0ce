/* A static helper the escape tests run inside containers (busybox lacks these).
 *
 *   probe ptrace PID      PTRACE_ATTACH PID, detach again: "ok" or the errno name
 *   probe openw PATH      open(PATH, O_WRONLY|O_APPEND), write nothing: "ok" or errno
 *   probe keyring         the session keyring: "<serial> <description>"
 *   probe fds             our open fds: "<fd> <target>" lines (not the listing's own)
 *
 * Built by the tests with `gcc -static -O1` (tests/integration/test_escapes.py).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *errname(int e)
{
    switch (e) {
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case ETXTBSY: return "ETXTBSY";
    case EINVAL: return "EINVAL";
    case ENOKEY: return "ENOKEY";
    default: return strerror(e);
    }
}

static int do_ptrace(const char *arg)
{
    pid_t pid = (pid_t)atoi(arg);
    if (ptrace(PTRACE_ATTACH, pid, 0, 0) < 0) {
        printf("%s\n", errname(errno));
        return 1;
    }
    waitpid(pid, NULL, __WALL);
    ptrace(PTRACE_DETACH, pid, 0, 0);
    printf("ok\n");
    return 0;
}

static int do_openw(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) {
        printf("%s\n", errname(errno));
        return 1;
    }
    close(fd);
    printf("ok\n");
    return 0;
}

static int do_keyring(void)
{
    char desc[512];
    long serial = syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* session */, 0);
    if (serial < 0) {
        printf("%s\n", errname(errno));
        return 1;
    }
    long n = syscall(SYS_keyctl, 6 /* DESCRIBE */, serial, desc, sizeof(desc) - 1);
    if (n < 0) {
        printf("%ld ?%s\n", serial, errname(errno));
        return 0;
    }
    desc[sizeof(desc) - 1] = 0;
    printf("%ld %s\n", serial, desc);
    return 0;
}

static int do_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        printf("%s\n", errname(errno));
        return 1;
    }
    struct dirent *e;
    char path[300], target[4096];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d))
            continue;
        snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        target[n < 0 ? 0 : n] = 0;
        printf("%s %s\n", e->d_name, target);
    }
    closedir(d);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc >= 3 && !strcmp(argv[1], "ptrace"))
        return do_ptrace(argv[2]);
    if (argc >= 3 && !strcmp(argv[1], "openw"))
        return do_openw(argv[2]);
    if (argc >= 2 && !strcmp(argv[1], "keyring"))
        return do_keyring();
    if (argc >= 2 && !strcmp(argv[1], "fds"))
        return do_fds();
    fprintf(stderr, "usage: probe ptrace PID | openw PATH | keyring | fds\n");
    return 2;
}
