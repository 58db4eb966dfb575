/* floor: the raw floors tend is compared with, the same work as each tendd
 * measurement without tendd.
 *   floor vfork|fork PROBE FILE N
 *     the raw spawn floor: a loop that only spawns the bench probe with clone3
 *     and reaps it with waitid(P_PIDFD), nothing else. vfork:
 *     clone3(CLONE_VM|CLONE_VFORK|CLONE_PIDFD) on a stack of its own, as tendd
 *     does on x86_64; fork: clone3(CLONE_PIDFD), fork-like. The probe appends
 *     its first-instruction CLOCK_MONOTONIC to FILE; each latency is that minus
 *     the time just before clone3. Prints "median_ns p95_ns per_second".
 *   floor respawn PROBE ARG...
 *     a supervisor of one service and nothing else: keeps one "PROBE ARG..."
 *     running, waits for its pidfd with epoll, reaps it with waitid(P_PIDFD)
 *     and spawns the next one at once. Runs until killed; the benchmark
 *     measures it exactly as it measures tendd (crash -> restart, throughput).
 *   floor start PROBE FILE N [CGROUP]
 *     N "PROBE FILE sleep" spawned back to back, their pidfds kept, then waits
 *     for SIGTERM and stops them as tendd does; measured as tendd's "start
 *     all" and "SIGTERM -> all gone". With CGROUP, each probe in a cgroup of
 *     its own below it, as tendd's cgroup mode (see floor_start).
 * respawn and start spawn vfork-style (fork-like off x86_64) with tendd's
 * fd-table trick: CLONE_FILES, and the child unshares only fds 0-2
 * (close_range(3, ~0, CLOSE_RANGE_UNSHARE)), so N kept pidfds are not copied
 * at each spawn. Their child then calls setsid() as tendd's services do: with
 * the kernel's autogroup (sched_autogroup_enabled, on by default), each new
 * session is a scheduler task group of its own, and the scheduler's periodic
 * walk over the task groups that ran recently (update_blocked_averages) grows
 * with the number of sessions started: a cost of the kernel that any
 * supervisor giving each service its own session pays, and part of why start
 * all grows faster than the number of services. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif

static const char *probe;
static char **probe_argv;
static bool service_child; /* unshare fds 3 and up, then setsid() */
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
        /* Raw system calls: the child shares our memory and must not touch errno. */
        long ret;

        if (service_child) {
                register long r10 __asm__("r10") = 0;

                __asm__ volatile("syscall"
                                 : "=a"(ret)
                                 : "a"((long)SYS_close_range), "D"(3L), "S"(~0UL),
                                   "d"((long)CLOSE_RANGE_UNSHARE), "r"(r10)
                                 : "rcx", "r11", "memory");
                if (ret < 0)
                        return 126;
                __asm__ volatile("syscall" : "=a"(ret) : "a"((long)SYS_setsid) : "rcx", "r11", "memory");
                if (ret < 0)
                        return 126;
        }
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


static char floor_stack[64 * 1024] __attribute__((aligned(16)));

#if defined(__x86_64__)
#define FLOOR_HAVE_VM true
#else
#define FLOOR_HAVE_VM false
#endif

/* clone3 with args, the child execs the probe: vfork-style on floor_stack
 * (vm, x86_64 only) or fork-like. The pid, or -1 with errno. */
static long floor_clone(struct clone_args *args, bool vm)
{
        long pid;

#if defined(__x86_64__)
        if (vm) {
                args->flags |= CLONE_VM | CLONE_VFORK;
                args->stack = (uint64_t)(uintptr_t)floor_stack;
                args->stack_size = sizeof floor_stack;
                pid = floor_clone3_vm(args, sizeof *args, floor_child, NULL);
                if (pid < 0) {
                        errno = (int)-pid;
                        return -1;
                }
                return pid;
        }
#endif
        if (vm) {
                errno = ENOSYS;
                return -1;
        }
        pid = syscall(SYS_clone3, args, sizeof *args);
        if (pid == 0) {
                if (service_child && (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_UNSHARE) < 0 ||
                                      setsid() < 0))
                        _exit(126);
                execve(probe, probe_argv, probe_envp);
                _exit(127);
        }
        return pid;
}

/* One child running probe_argv, vfork-style where possible, sharing our fd
 * table until it unshares fds 0-2, in a session of its own (see the top).
 * Returns its pidfd or -1. */
static int floor_spawn(void)
{
        struct clone_args args = { 0 };
        int pidfd = -1;
        long pid;

        args.flags = CLONE_PIDFD | CLONE_VFORK | CLONE_FILES;
        args.pidfd = (uint64_t)(uintptr_t)&pidfd;
        args.exit_signal = SIGCHLD;
        service_child = true;
        pid = floor_clone(&args, FLOOR_HAVE_VM);
        if (pid < 0) {
                perror("floor: clone3");
                return -1;
        }
        return pidfd;
}

/* floor respawn PROBE ARG...: one child, replaced as soon as it is gone. */
static int floor_respawn(void)
{
        struct epoll_event ev = { .events = EPOLLIN };
        int ep = epoll_create1(EPOLL_CLOEXEC);

        if (ep < 0)
                return 1;
        for (;;) {
                int pidfd = floor_spawn();
                siginfo_t si;

                if (pidfd < 0)
                        return 1;
                ev.data.fd = pidfd;
                if (epoll_ctl(ep, EPOLL_CTL_ADD, pidfd, &ev) < 0)
                        return 1;
                while (epoll_wait(ep, &ev, 1, -1) < 1)
                        if (errno != EINTR)
                                return 1;
                if (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0) {
                        perror("floor: waitid");
                        return 1;
                }
                (void)epoll_ctl(ep, EPOLL_CTL_DEL, pidfd, NULL);
                close(pidfd);
        }
}

/* Read a cgroup file at dfd/file into buf (NUL-terminated); its length or -1. */
static ssize_t floor_read(int dfd, const char *file, char *buf, size_t size)
{
        int fd = openat(dfd, file, O_RDONLY | O_CLOEXEC);
        ssize_t n, got = 0;

        if (fd < 0)
                return -1;
        while (got < (ssize_t)size - 1 && (n = read(fd, buf + got, size - 1 - (size_t)got)) > 0)
                got += n;
        close(fd);
        buf[got] = '\0';
        return got;
}

/* floor start PROBE FILE N [CGROUP]: N sleeping probes back to back, then
 * wait for SIGTERM and stop them all the way tendd does, with nothing else:
 * without CGROUP, the stop signal through each pidfd; with CGROUP (a cgroup2
 * directory of our own), each probe is spawned into a cgroup of its own
 * (CLONE_INTO_CGROUP) and the stop reads its cgroup.procs and signals every
 * process there, and each cgroup is removed once its probe is reaped. */
static int floor_start(int n, const char *cgroup)
{
        struct epoll_event ev = { .events = EPOLLIN };
        int *pidfd = calloc((size_t)n, sizeof *pidfd), *cgfd = calloc((size_t)n, sizeof *cgfd);
        pid_t *pid = calloc((size_t)n, sizeof *pid);
        int ep = epoll_create1(EPOLL_CLOEXEC), root = -1, sig, left = n;
        char name[32], buf[4096];
        sigset_t term;

        if (!pidfd || !cgfd || !pid || ep < 0)
                return 1;
        if (cgroup) {
                /* Ourselves into a leaf, the probes into cgroups beside it. */
                root = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (root < 0 || (mkdirat(root, "floor", 0755) < 0 && errno != EEXIST))
                        return 1;
                int fd = openat(root, "floor/cgroup.procs", O_WRONLY | O_CLOEXEC);
                if (fd < 0 || dprintf(fd, "%d\n", (int)getpid()) < 0)
                        return 1;
                close(fd);
        }
        for (int i = 0; i < n; i++) {
                struct clone_args args = { 0 };
                long p;

                args.flags = CLONE_PIDFD | CLONE_VFORK | CLONE_FILES;
                args.pidfd = (uint64_t)(uintptr_t)&pidfd[i];
                args.exit_signal = SIGCHLD;
                cgfd[i] = -1;
                if (cgroup) {
                        (void)snprintf(name, sizeof name, "p%d", i);
                        if (mkdirat(root, name, 0755) < 0)
                                return 1;
                        cgfd[i] = openat(root, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (cgfd[i] < 0)
                                return 1;
                        args.flags |= CLONE_INTO_CGROUP;
                        args.cgroup = (uint64_t)cgfd[i];
                }
                service_child = true;
                p = floor_clone(&args, FLOOR_HAVE_VM);
                if (p < 0) {
                        perror("floor: clone3");
                        return 1;
                }
                pid[i] = (pid_t)p;
                ev.data.u32 = (uint32_t)i;
                if (epoll_ctl(ep, EPOLL_CTL_ADD, pidfd[i], &ev) < 0)
                        return 1;
        }
        /* Blocked only now: the probes must not inherit the mask. */
        sigemptyset(&term);
        sigaddset(&term, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &term, NULL) < 0)
                return 1;
        while (sigwait(&term, &sig) != 0)
                ;
        for (int i = 0; i < n; i++) {
                (void)syscall(SYS_pidfd_send_signal, pidfd[i], SIGTERM, NULL, 0);
                if (!cgroup || floor_read(cgfd[i], "cgroup.procs", buf, sizeof buf) < 0)
                        continue;
                for (char *p = buf, *end; *p; p = end) {
                        long other = strtol(p, &end, 10);

                        if (end == p)
                                break;
                        while (*end == '\n')
                                end++;
                        if (other != pid[i])
                                (void)kill((pid_t)other, SIGTERM);
                }
        }
        while (left > 0) {
                siginfo_t si;
                int i;

                if (epoll_wait(ep, &ev, 1, -1) < 1)
                        continue;
                i = (int)ev.data.u32;
                if (waitid((idtype_t)P_PIDFD, (id_t)pidfd[i], &si, WEXITED) < 0)
                        return 1;
                (void)epoll_ctl(ep, EPOLL_CTL_DEL, pidfd[i], NULL);
                close(pidfd[i]);
                if (cgroup) {
                        (void)snprintf(name, sizeof name, "p%d", i);
                        if (unlinkat(root, name, AT_REMOVEDIR) < 0)
                                perror("floor: rmdir");
                        close(cgfd[i]);
                }
                left--;
        }
        return 0;
}

int main(int argc, char **argv)
{
        char **stack_argv;
        long long *t0, *lat, begin, end;
        bool vm;
        int n;
        FILE *f;

        if (argc >= 3 && strcmp(argv[1], "respawn") == 0) {
                probe = argv[2];
                probe_argv = argv + 2;
                return floor_respawn();
        }
        if ((argc == 5 || argc == 6) && strcmp(argv[1], "start") == 0) {
                static char *start_argv[4];

                probe = argv[2];
                start_argv[0] = argv[2];
                start_argv[1] = argv[3];
                start_argv[2] = (char *)"sleep";
                probe_argv = start_argv;
                n = atoi(argv[4]);
                return n > 0 ? floor_start(n, argc == 6 ? argv[5] : NULL) : 2;
        }
        if (argc != 5 || (strcmp(argv[1], "vfork") && strcmp(argv[1], "fork"))) {
                fprintf(stderr, "usage: floor vfork|fork PROBE FILE N\n"
                                "       floor respawn PROBE ARG...\n"
                                "       floor start PROBE FILE N\n");
                return 2;
        }
        vm = strcmp(argv[1], "vfork") == 0;
        if (vm && !FLOOR_HAVE_VM) {
                fprintf(stderr, "floor: vfork mode needs x86_64\n");
                return 1;
        }
        probe = argv[2];
        stack_argv = calloc(3, sizeof *stack_argv);
        if (!stack_argv)
                return 1;
        stack_argv[0] = argv[2];
        stack_argv[1] = argv[3];
        probe_argv = stack_argv;
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
                pid = floor_clone(&args, vm);
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
