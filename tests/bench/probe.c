/* bench probe: the smallest service there is. Static, no libc on x86_64, so
 * what the benchmark measures is the supervisor and the kernel, not a dynamic
 * loader. Its first instruction reads CLOCK_MONOTONIC.
 *   probe              exit 0 at once
 *   probe FILE         append "START_NS PID\n" to FILE (O_APPEND), exit 0
 *   probe FILE sleep   the same, then pause until killed
 * With $PROBE_FILE set, FILE is $PROBE_FILE and "sleep" is $PROBE_SLEEP being
 * set, whatever the arguments: runit and daemontools run ./run with none, s6
 * with the service's name. */
#if defined(__x86_64__) && !defined(PROBE_LIBC)
#include <asm/unistd.h>
#include <fcntl.h>
#include <time.h>

static long probe_sys(long n, long a, long b, long c)
{
        long ret;

        __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c)
                         : "rcx", "r11", "memory");
        return ret;
}

static long long probe_now(void)
{
        struct timespec ts;

        (void)probe_sys(__NR_clock_gettime, CLOCK_MONOTONIC, (long)&ts, 0);
        return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The value of KEY ("NAME=") in envp, or 0. */
static const char *probe_env(char **envp, const char *key)
{
        for (; *envp; envp++) {
                const char *e = *envp, *k = key;

                while (*k && *e == *k)
                        e++, k++;
                if (!*k)
                        return e;
        }
        return 0;
}

static char *probe_fmt(char *end, unsigned long long v)
{
        do
                *--end = (char)('0' + v % 10);
        while (v /= 10);
        return end;
}

__attribute__((used, noreturn)) void probe_main(long *sp);
__attribute__((used, noreturn)) void probe_main(long *sp)
{
        long long t = probe_now();
        long argc = sp[0];
        char **argv = (char **)(sp + 1);
        const char *file = probe_env(argv + argc + 1, "PROBE_FILE=");
        int stay = file ? !!probe_env(argv + argc + 1, "PROBE_SLEEP=") : argc >= 3;
        char buf[64], *p = buf + sizeof buf;
        long fd;

        if (!file && argc >= 2)
                file = argv[1];
        if (file) {
                *--p = '\n';
                p = probe_fmt(p, (unsigned long long)probe_sys(__NR_getpid, 0, 0, 0));
                *--p = ' ';
                p = probe_fmt(p, (unsigned long long)t);
                fd = probe_sys(__NR_open, (long)file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
                               0644);
                if (fd < 0)
                        probe_sys(__NR_exit_group, 111, 0, 0);
                (void)probe_sys(__NR_write, fd, (long)p, buf + sizeof buf - p);
                (void)probe_sys(__NR_close, fd, 0, 0);
                if (stay)
                        for (;;)
                                (void)probe_sys(__NR_pause, 0, 0, 0);
        }
        for (;;)
                (void)probe_sys(__NR_exit_group, 0, 0, 0);
}

__asm__(".text\n"
        ".globl _start\n"
        "_start:\n"
        "        xorl %ebp, %ebp\n"
        "        movq %rsp, %rdi\n"
        "        andq $-16, %rsp\n"
        "        call probe_main\n"
        "        hlt\n");
#else
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
        struct timespec ts;
        const char *file;
        char buf[64];
        int fd, n, stay;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        file = getenv("PROBE_FILE");
        stay = file ? getenv("PROBE_SLEEP") != NULL : argc >= 3;
        if (!file && argc >= 2)
                file = argv[1];
        if (file) {
                n = snprintf(buf, sizeof buf, "%lld %d\n",
                             (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, (int)getpid());
                fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
                if (fd < 0)
                        return 111;
                (void)!write(fd, buf, (size_t)n);
                close(fd);
                if (stay)
                        for (;;)
                                pause();
        }
        return 0;
}
#endif
