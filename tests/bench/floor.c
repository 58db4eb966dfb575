/* floor: the raw spawn floor tend is compared with. A loop that only spawns
 * the bench probe with clone3 and reaps it with waitid(P_PIDFD), nothing else:
 *   floor vfork|fork PROBE FILE N
 * vfork: clone3(CLONE_VM|CLONE_VFORK|CLONE_PIDFD) on a stack of its own, as
 * tendd does on x86_64; fork: clone3(CLONE_PIDFD), fork-like. The probe
 * appends its first-instruction CLOCK_MONOTONIC to FILE; each latency is that
 * minus the time just before clone3. Prints "median_ns p95_ns per_second". */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static const char *probe;
static char *probe_argv[3];
static char *probe_envp[] = { NULL };

static long long now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

#if defined(__x86_64__)
long floor_clone3_vm(struct clone_args *args, size_t size, int (*fn)(void *), void *arg);
__asm__(".text\n"
        ".globl floor_clone3_vm\n"
        "floor_clone3_vm:\n"
        "        movq %rdx, %r8\n"
        "        movq %rcx, %r9\n"
        "        movl $435, %eax\n"
        "        syscall\n"
        "        testq %rax, %rax\n"
        "        jz 1f\n"
        "        ret\n"
        "1:      xorl %ebp, %ebp\n"
        "        andq $-16, %rsp\n"
        "        movq %r9, %rdi\n"
        "        call *%r8\n"
        "        movl %eax, %edi\n"
        "        movl $231, %eax\n"
        "        syscall\n"
        "        hlt\n");

static int floor_child(void *arg __attribute__((unused)))
{
        /* Raw execve: the child shares our memory and must not touch errno. */
        long ret;

        __asm__ volatile("syscall"
                         : "=a"(ret)
                         : "a"((long)SYS_execve), "D"(probe), "S"(probe_argv), "d"(probe_envp)
                         : "rcx", "r11", "memory");
        return 127;
}
#endif

static int cmp_ll(const void *a, const void *b)
{
        long long x = *(const long long *)a, y = *(const long long *)b;
        return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
        static char stack[64 * 1024] __attribute__((aligned(16)));
        long long *t0, *lat, begin, end;
        bool vm;
        int n;
        FILE *f;

        if (argc != 5 || (strcmp(argv[1], "vfork") && strcmp(argv[1], "fork"))) {
                fprintf(stderr, "usage: floor vfork|fork PROBE FILE N\n");
                return 2;
        }
        vm = strcmp(argv[1], "vfork") == 0;
        probe = argv[2];
        probe_argv[0] = argv[2];
        probe_argv[1] = argv[3];
        n = atoi(argv[4]);
        t0 = calloc((size_t)n, sizeof *t0);
        lat = calloc((size_t)n, sizeof *lat);
        if (!t0 || !lat || n <= 0)
                return 1;
        (void)unlink(argv[3]);

        begin = now_ns();
        for (int i = 0; i < n; i++) {
                struct clone_args args = { 0 };
                int pidfd = -1;
                siginfo_t si;
                long pid;

                args.flags = CLONE_PIDFD;
                args.pidfd = (uint64_t)(uintptr_t)&pidfd;
                args.exit_signal = SIGCHLD;
                t0[i] = now_ns();
#if defined(__x86_64__)
                if (vm) {
                        args.flags |= CLONE_VM | CLONE_VFORK;
                        args.stack = (uint64_t)(uintptr_t)stack;
                        args.stack_size = sizeof stack;
                        pid = floor_clone3_vm(&args, sizeof args, floor_child, NULL);
                        if (pid < 0) {
                                errno = (int)-pid;
                                pid = -1;
                        }
                } else
#endif
                {
                        if (vm) {
                                fprintf(stderr, "floor: vfork mode needs x86_64\n");
                                return 1;
                        }
                        pid = syscall(SYS_clone3, &args, sizeof args);
                        if (pid == 0) {
                                execve(probe, probe_argv, probe_envp);
                                _exit(127);
                        }
                }
                if (pid < 0) {
                        perror("clone3");
                        return 1;
                }
                if (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0 ||
                    si.si_code != CLD_EXITED || si.si_status != 0) {
                        fprintf(stderr, "floor: probe failed\n");
                        return 1;
                }
                close(pidfd);
        }
        end = now_ns();

        f = fopen(argv[3], "r");
        if (!f)
                return 1;
        for (int i = 0; i < n; i++) {
                long long start;
                int pid;

                if (fscanf(f, "%lld %d", &start, &pid) != 2)
                        return 1;
                lat[i] = start - t0[i];
        }
        fclose(f);
        qsort(lat, (size_t)n, sizeof *lat, cmp_ll);
        printf("%lld %lld %.1f\n", lat[n / 2], lat[(n * 95) / 100 < n ? (n * 95) / 100 : n - 1],
               (double)n * 1e9 / (double)(end - begin));
        return 0;
}
