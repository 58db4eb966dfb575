/* bench probe: the smallest service there is. Static, no libc on x86_64, so
 * what the benchmark measures is the supervisor and the kernel, not a dynamic
 * loader. Its first instruction reads CLOCK_MONOTONIC.
 *   probe              exit 0 at once
 *   probe FILE         append "START_NS PID\n" to FILE (O_APPEND), exit 0
 *   probe FILE sleep   the same, then pause until killed */
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
        char buf[64], *p = buf + sizeof buf;
        long fd;

        if (argc >= 2) {
                *--p = '\n';
                p = probe_fmt(p, (unsigned long long)probe_sys(__NR_getpid, 0, 0, 0));
                *--p = ' ';
                p = probe_fmt(p, (unsigned long long)t);
                fd = probe_sys(__NR_open, (long)argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
                               0644);
                if (fd < 0)
                        probe_sys(__NR_exit_group, 111, 0, 0);
                (void)probe_sys(__NR_write, fd, (long)p, buf + sizeof buf - p);
                (void)probe_sys(__NR_close, fd, 0, 0);
                if (argc >= 3)
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
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
        struct timespec ts;
        char buf[64];
        int fd, n;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        if (argc >= 2) {
                n = snprintf(buf, sizeof buf, "%lld %d\n",
                             (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, (int)getpid());
                fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
                if (fd < 0)
                        return 111;
                (void)!write(fd, buf, (size_t)n);
                close(fd);
                if (argc >= 3)
                        for (;;)
                                pause();
        }
        return 0;
}
#endif
