/* spawn.c: clone3 child setup and exec. The parent resolves everything that
 * needs NSS or allocation (spawn_prepare). On x86_64 the child is vfork-style:
 * clone3(CLONE_VM|CLONE_VFORK|CLONE_PIDFD) on a small stack of its own, so a
 * spawn costs the same whatever tendd's size; it makes only raw system calls,
 * then execs. Elsewhere, or where the kernel refuses CLONE_VM with clone3
 * (or TEND_SPAWN_NO_VM is set, for tests), it is fork-like with CLONE_VFORK.
 * A failing step is reported as (errno, step) in a shared page and the child
 * exits 127; CLONE_VFORK makes the parent wait until exec or exit, so the
 * result is known when spawn_child returns. */
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/sched.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "env.h"
#include "spawn.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define SPAWN_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

enum spawn_step {
        STEP_FILES,
        STEP_SIGNALS,
        STEP_SETSID,
        STEP_STDIO,
        STEP_RLIMIT,
        STEP_SETGROUPS,
        STEP_SETGID,
        STEP_SETUID,
        STEP_NO_NEW_PRIVS,
        STEP_CHDIR,
        STEP_EXEC,
};

static const char *const spawn_step_names[] = {
        [STEP_FILES] = "unshare fds", [STEP_SIGNALS] = "signals",   [STEP_SETSID] = "setsid",
        [STEP_STDIO] = "stdio",       [STEP_RLIMIT] = "setrlimit",
        [STEP_SETGROUPS] = "setgroups", [STEP_SETGID] = "setgid",
        [STEP_SETUID] = "setuid",     [STEP_NO_NEW_PRIVS] = "no_new_privs",
        [STEP_CHDIR] = "chdir",       [STEP_EXEC] = "exec",
};

struct spawn_report {
        int err;
        int step;
};

/* Append "key=value" to env. */
static int spawn_env_push(char ***env, const char *key, const char *value)
{
        char *s;

        if (asprintf(&s, "%s=%s", key, value) < 0)
                return -ENOMEM;
        return strv_push(env, s);
}

/* The base environment: PATH, HOME, USER, LOGNAME, SHELL of the target user. */
int spawn_base_environment(const char *user, const char *home, const char *shell, char ***ret)
{
        _cleanup_strv_free_ char **env = NULL;

        if (spawn_env_push(&env, "PATH", SPAWN_DEFAULT_PATH) < 0 ||
            spawn_env_push(&env, "HOME", home) < 0 || spawn_env_push(&env, "USER", user) < 0 ||
            spawn_env_push(&env, "LOGNAME", user) < 0 || spawn_env_push(&env, "SHELL", shell) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(env);
        return 0;
}

/* The base entries, each one's value replaced where the config sets its
 * key, then the config's other entries (env_merge), in time linear in the
 * environment's size: the config already holds one entry per key (merged
 * once, at load), so a spawn only copies and replaces. */
static int spawn_merge_environment(char **base, char *const *env, char ***ret)
{
        _cleanup_strv_free_ char **v = strv_copy(base);
        size_t n = strv_length(base), cap = n + 1;
        char **add = strv_copy(env);
        int r;

        if (!v || !add) {
                strv_free(add);
                return -ENOMEM;
        }
        r = env_merge(&v, &n, &cap, add);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(v);
        return 0;
}

/* Resolve a bare program name against PATH as the child would see it. */
static char *spawn_find_program(const char *name)
{
        const char *p = SPAWN_DEFAULT_PATH;

        if (strchr(name, '/'))
                return strdup(name);
        while (*p) {
                size_t n = strcspn(p, ":");
                char *cand;

                if (asprintf(&cand, "%.*s/%s", (int)n, p, name) < 0)
                        return NULL;
                if (access(cand, X_OK) == 0)
                        return cand;
                free(cand);
                p += n;
                if (*p == ':')
                        p++;
        }
        return strdup(name); /* exec reports ENOENT */
}

/* tendd's own passwd entry, for services without user=: looked up at the
 * first spawn and again after each reload (spawn_forget_self), not at every
 * spawn, where even a stat() of /etc/passwd is a cost on the restart path. */
static struct {
        bool valid;
        char *user, *home, *shell;
} spawn_self;

void spawn_forget_self(void)
{
        spawn_self.valid = false;
}

static void spawn_self_entry(const char **ret_user, const char **ret_home, const char **ret_shell)
{
        if (!spawn_self.valid) {
                struct passwd pw, *pwp = NULL;
                char buf[16384], *u, *h, *sh;

                (void)getpwuid_r(geteuid(), &pw, buf, sizeof buf, &pwp);
                u = strdup(pwp ? pwp->pw_name : "root");
                h = strdup(pwp && pwp->pw_dir ? pwp->pw_dir : "/");
                sh = strdup(pwp && pwp->pw_shell && *pwp->pw_shell ? pwp->pw_shell : "/bin/sh");
                if (u && h && sh) {
                        free(spawn_self.user);
                        free(spawn_self.home);
                        free(spawn_self.shell);
                        spawn_self.user = u;
                        spawn_self.home = h;
                        spawn_self.shell = sh;
                        spawn_self.valid = true;
                } else {
                        free(u);
                        free(h);
                        free(sh);
                }
        }
        *ret_user = spawn_self.user ? spawn_self.user : "root";
        *ret_home = spawn_self.home ? spawn_self.home : "/";
        *ret_shell = spawn_self.shell ? spawn_self.shell : "/bin/sh";
}

/* user= by name or number (the config accepts both), at spawn time: a user
 * removed since the config was loaded is a failed start with the reason. */
static int spawn_lookup_user(const char *name, struct passwd *pw, char *buf, size_t len,
                             struct passwd **ret, char **ret_reason)
{
        int r;

        if (string_is_digits(name))
                r = getpwuid_r((uid_t)strtoul(name, NULL, 10), pw, buf, len, ret);
        else
                r = getpwnam_r(name, pw, buf, len, ret);
        if (*ret)
                return 0;
        (void)asprintf(ret_reason, "user %s: %s", name, r ? strerror(r) : "no such user");
        return r ? -r : -ESRCH;
}

/* group= by name or number. */
static int spawn_lookup_group(const char *name, gid_t *ret, char **ret_reason)
{
        struct group gr, *grp = NULL;
        char buf[16384];
        int r;

        if (string_is_digits(name))
                r = getgrgid_r((gid_t)strtoul(name, NULL, 10), &gr, buf, sizeof buf, &grp);
        else
                r = getgrnam_r(name, &gr, buf, sizeof buf, &grp);
        if (!grp) {
                (void)asprintf(ret_reason, "group %s: %s", name, r ? strerror(r) : "no such group");
                return r ? -r : -ESRCH;
        }
        *ret = grp->gr_gid;
        return 0;
}

/* Build spawn parameters for sc in the parent. */
int spawn_prepare(const struct service_config *sc, struct spawn_params *ret, char **ret_reason)
{
        return spawn_prepare_argv(sc, sc->argv, ret, ret_reason);
}

/* See spawn.h. */
int spawn_prepare_argv(const struct service_config *sc, char *const *argv, struct spawn_params *ret,
                       char **ret_reason)
{
        struct spawn_params p = { .stdout_fd = -1, .stderr_fd = -1, .cgroup_fd = -1 };
        struct passwd pw, *pwp = NULL;
        _cleanup_free_ char *buf = NULL;
        size_t bufsize = 16384;
        const char *user, *home, *shell;
        char **base = NULL;
        int r;

        if (sc->user) {
                int ng = 64;

                buf = malloc(bufsize);
                if (!buf)
                        return -ENOMEM;
                r = spawn_lookup_user(sc->user, &pw, buf, bufsize, &pwp, ret_reason);
                if (r < 0)
                        return r;
                user = pwp->pw_name;
                home = pwp->pw_dir ? pwp->pw_dir : "/";
                shell = pwp->pw_shell && *pwp->pw_shell ? pwp->pw_shell : "/bin/sh";
                p.set_ids = true;
                p.uid = pwp->pw_uid;
                p.gid = pwp->pw_gid;
                if (sc->group) {
                        r = spawn_lookup_group(sc->group, &p.gid, ret_reason);
                        if (r < 0)
                                return r;
                }
                for (;;) {
                        int want = ng;

                        free(p.groups);
                        p.groups = calloc((size_t)ng, sizeof(gid_t));
                        if (!p.groups)
                                return -ENOMEM;
                        if (getgrouplist(pwp->pw_name, p.gid, p.groups, &ng) >= 0)
                                break;
                        if (ng <= want)
                                ng = want * 2;
                }
                p.n_groups = (size_t)ng;
        } else {
                spawn_self_entry(&user, &home, &shell);
                if (sc->group) {
                        r = spawn_lookup_group(sc->group, &p.gid, ret_reason);
                        if (r < 0)
                                return r;
                        p.set_ids = true;
                        p.uid = geteuid();
                }
        }

        r = spawn_base_environment(user, home, shell, &base);
        if (r >= 0)
                r = spawn_merge_environment(base, sc->environment, &p.envp);
        base = strv_free(base);
        if (r < 0)
                goto fail;
        p.argv = strv_copy(argv);
        if (!p.argv) {
                r = -ENOMEM;
                goto fail;
        }
        p.path = spawn_find_program(argv[0]);
        p.workdir = strdup(sc->workdir ? sc->workdir : "/");
        if (!p.path || !p.workdir) {
                r = -ENOMEM;
                goto fail;
        }
        p.umask_set = sc->umask_set;
        p.umask = sc->umask;
        memcpy(p.limits, sc->limits, sizeof p.limits);
        p.no_new_privs = sc->no_new_privs;
        *ret = p;
        return 0;
fail:
        spawn_params_done(&p);
        return r;
}

/* Free what spawn_prepare allocated; fds are the caller's. */
void spawn_params_done(struct spawn_params *p)
{
        p->argv = strv_free(p->argv);
        p->envp = strv_free(p->envp);
        free(p->path);
        p->path = NULL;
        free(p->workdir);
        p->workdir = NULL;
        free(p->groups);
        p->groups = NULL;
}

/* Everything below up to spawn_child() runs in the child, between clone3 and
 * execve. In the vfork-style path the child shares tendd's memory and runs on
 * spawn_area's stack while tendd is suspended: it makes raw system calls only
 * (no libc: no errno, no locks, no malloc, no interceptors of a sanitizer),
 * writes nothing but the report, and is not instrumented, because ASan's
 * bookkeeping is per thread and this is not a thread ASan knows of. */
#define SPAWN_CHILD_CODE __attribute__((no_sanitize("address", "undefined"), noinline))
#define SPAWN_CHILD_INLINE                                                                         \
        __attribute__((no_sanitize("address", "undefined"), always_inline)) inline

#if defined(__x86_64__)
/* A system call that never touches errno: -errno or the result. */
static SPAWN_CHILD_INLINE long spawn_sys(long n, long a, long b, long c, long d, long e)
{
        register long r10 __asm__("r10") = d;
        register long r8 __asm__("r8") = e;
        long ret;

        __asm__ volatile("syscall"
                         : "=a"(ret)
                         : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                         : "rcx", "r11", "memory");
        return ret;
}
#else
/* Only the fork-like path exists here: the child owns a copy of errno. */
static SPAWN_CHILD_INLINE long spawn_sys(long n, long a, long b, long c, long d, long e)
{
        long r = syscall(n, a, b, c, d, e);
        return r < 0 ? -errno : r;
}
#endif
#define spawn_sys0(n) spawn_sys((n), 0, 0, 0, 0, 0)
#define spawn_sys1(n, a) spawn_sys((n), (long)(a), 0, 0, 0, 0)
#define spawn_sys2(n, a, b) spawn_sys((n), (long)(a), (long)(b), 0, 0, 0)
#define spawn_sys3(n, a, b, c) spawn_sys((n), (long)(a), (long)(b), (long)(c), 0, 0)
#define spawn_sys4(n, a, b, c, d) spawn_sys((n), (long)(a), (long)(b), (long)(c), (long)(d), 0)

/* The kernel's struct sigaction (rt_sigaction), not libc's. */
struct spawn_ksigaction {
        unsigned long handler;
        unsigned long flags;
        unsigned long restorer;
        uint64_t mask;
};

/* What the child passes back and what it reads; lives in spawn_area. The fds
 * it places (in, out, err, pass) are all below keep, see spawn_area. */
struct spawn_child_args {
        const struct spawn_params *p;
        int fd_in, fd_out, fd_err, fd_pass;
        int keep;    /* > 0: the fd table is shared (CLONE_FILES); unshare fds below keep */
        int err;  /* written by the child on failure only */
        int step; /* idem */
};

static SPAWN_CHILD_INLINE int spawn_child_fail(struct spawn_child_args *a, long r, int step)
{
        *(volatile int *)&a->step = step;
        *(volatile int *)&a->err = r < 0 ? (int)-r : EIO;
        return 127;
}

/* fd at target, inheritable. O_NONBLOCK is not touched: it lives on the open
 * file description, which the caller made blocking (see spawn.h). */
static SPAWN_CHILD_INLINE long spawn_fd_onto(int src, int target)
{
        long flags;

        if (src != target)
                return spawn_sys3(SYS_dup3, src, target, 0);
        flags = spawn_sys2(SYS_fcntl, target, F_GETFD);
        if (flags < 0)
                return flags;
        return spawn_sys3(SYS_fcntl, target, F_SETFD, flags & ~FD_CLOEXEC);
}

/* The child: set up and exec; on failure fill the report and return the exit code. */
static SPAWN_CHILD_CODE int spawn_child_main(void *arg)
{
        struct spawn_child_args *a = arg;
        const struct spawn_params *p = a->p;
        uint64_t none = 0;
        long out = a->fd_out, err = a->fd_err;
        long r;

        /* First of all, before any fd changes: a table of our own holding only
         * the fds below keep, not a copy of tendd's thousands of pidfds that
         * exec would then close one by one. */
        if (a->keep > 0) {
                r = spawn_sys3(SYS_close_range, a->keep, ~0U, CLOSE_RANGE_UNSHARE);
                if (r < 0)
                        return spawn_child_fail(a, r, STEP_FILES);
        }
        /* CLONE_CLEAR_SIGHAND reset handled signals; ignored ones would
         * survive exec, so tendd ignores none (spawn_signals_setup). Only the
         * mask is left to reset. */
        r = spawn_sys4(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, 8);
        if (r < 0)
                return spawn_child_fail(a, r, STEP_SIGNALS);
        r = spawn_sys0(SYS_setsid);
        if (r < 0)
                return spawn_child_fail(a, r, STEP_SETSID);
        /* Move the sources out of 0-2 first so dup3 cannot clobber one with another. */
        if (out <= 2 && out != 1)
                out = spawn_sys3(SYS_fcntl, out, F_DUPFD_CLOEXEC, 3);
        if (out >= 0 && err <= 2 && err != 2)
                err = spawn_sys3(SYS_fcntl, err, F_DUPFD_CLOEXEC, 3);
        r = out < 0 ? out : err < 0 ? err : spawn_fd_onto(a->fd_in, 0);
        if (r >= 0)
                r = spawn_fd_onto((int)out, 1);
        if (r >= 0)
                r = spawn_fd_onto((int)err, 2);
        if (r < 0)
                return spawn_child_fail(a, r, STEP_STDIO);
        (void)spawn_sys3(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
        if (p->pass_fd_target >= 3) {
                r = spawn_fd_onto(a->fd_pass, p->pass_fd_target);
                if (r < 0)
                        return spawn_child_fail(a, r, STEP_STDIO);
        }
        if (p->pid_env_slot) {
                /* WATCHDOG_PID=: only the child knows its pid. The slot has room
                 * for any pid; left-aligned, padded with blanks' worth of NULs. */
                char digits[16];
                long pid = spawn_sys0(SYS_getpid);
                int n = 0;

                do {
                        digits[n++] = (char)('0' + pid % 10);
                        pid /= 10;
                } while (pid > 0 && n < 15);
                for (int i = 0; i < n; i++)
                        p->pid_env_slot[i] = digits[n - 1 - i];
                p->pid_env_slot[n] = '\0';
        }
        if (p->umask_set)
                (void)spawn_sys1(SYS_umask, p->umask);
        for (size_t i = 0; i < _LIMIT_MAX; i++) {
                if (!p->limits[i].set)
                        continue;
                r = spawn_sys4(SYS_prlimit64, 0, p->limits[i].resource, &p->limits[i].value,
                               NULL);
                if (r < 0)
                        return spawn_child_fail(a, r, STEP_RLIMIT);
        }
        if (p->set_ids) {
                /* Order matters: setgroups and setgid need the privileges setuid drops.
                 * Raw calls on purpose: libc's would signal tendd's threads. */
                if (spawn_sys0(SYS_geteuid) == 0) {
                        r = spawn_sys2(SYS_setgroups, p->n_groups, p->groups);
                        if (r < 0)
                                return spawn_child_fail(a, r, STEP_SETGROUPS);
                }
                r = spawn_sys3(SYS_setresgid, p->gid, p->gid, p->gid);
                if (r < 0)
                        return spawn_child_fail(a, r, STEP_SETGID);
                r = spawn_sys3(SYS_setresuid, p->uid, p->uid, p->uid);
                if (r < 0)
                        return spawn_child_fail(a, r, STEP_SETUID);
        }
        if (p->no_new_privs) {
                r = spawn_sys2(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1);
                if (r < 0)
                        return spawn_child_fail(a, r, STEP_NO_NEW_PRIVS);
        }
        r = spawn_sys1(SYS_chdir, p->workdir ? p->workdir : "/");
        if (r < 0)
                return spawn_child_fail(a, r, STEP_CHDIR);
        r = spawn_sys3(SYS_execve, p->path, p->argv, p->envp);
        return spawn_child_fail(a, r, STEP_EXEC);
}

/* See spawn.h. Raw rt_sigaction: libc refuses its own real-time signals. */
int spawn_signals_setup(void)
{
        const struct spawn_ksigaction dfl = { .handler = (unsigned long)SIG_DFL };
        uint64_t ignored = 0;
        sigset_t block;

        sigemptyset(&block);
        sigaddset(&block, SIGPIPE);
        sigaddset(&block, SIGXFSZ); /* a log past RLIMIT_FSIZE: EFBIG, not death */
        for (int sig = 1; sig <= 64; sig++) {
                struct spawn_ksigaction old;

                if (sig == SIGKILL || sig == SIGSTOP)
                        continue;
                if (spawn_sys4(SYS_rt_sigaction, sig, NULL, &old, 8) == 0 &&
                    old.handler == (unsigned long)SIG_IGN) {
                        ignored |= UINT64_C(1) << (sig - 1);
                        sigaddset(&block, sig);
                }
        }
        /* Blocked first: a default action must not hit tendd in between. */
        if (sigprocmask(SIG_BLOCK, &block, NULL) < 0)
                return -errno;
        for (int sig = 1; sig <= 64; sig++)
                if (ignored & (UINT64_C(1) << (sig - 1))) {
                        long r = spawn_sys4(SYS_rt_sigaction, sig, &dfl, NULL, 8);
                        if (r < 0)
                                return (int)r;
                }
        return 0;
}

static _Noreturn SPAWN_CHILD_CODE void spawn_child_exit(int code)
{
        for (;;)
                (void)spawn_sys1(SYS_exit_group, code);
}

#if defined(__x86_64__)
/* clone3 onto args->stack; the child calls fn(arg) there and exit_group()s
 * with its result, never returning into C code that expects the old stack.
 * Returns the child's pid or -errno in the parent. */
long spawn_clone3_vm(struct clone_args *args, size_t size, int (*fn)(void *), void *arg);
_Static_assert(SYS_clone3 == 435 && SYS_exit_group == 231, "x86_64 system call numbers");
__asm__(".text\n"
        ".globl spawn_clone3_vm\n"
        ".hidden spawn_clone3_vm\n"
        ".type spawn_clone3_vm, @function\n"
        ".p2align 4\n"
        "spawn_clone3_vm:\n"
        "        .cfi_startproc\n"
        "        movq %rdx, %r8\n" /* syscall keeps r8/r9: fn and arg survive into the child */
        "        movq %rcx, %r9\n"
        "        movl $435, %eax\n"
        "        syscall\n"
        "        testq %rax, %rax\n"
        "        jz 1f\n"
        "        ret\n"
        "1:\n"
        "        .cfi_undefined %rip\n"
        "        xorl %ebp, %ebp\n" /* outermost frame */
        "        andq $-16, %rsp\n"
        "        movq %r9, %rdi\n"
        "        call *%r8\n"
        "        movl %eax, %edi\n"
        "        movl $231, %eax\n"
        "        syscall\n"
        "        hlt\n"
        "        .cfi_endproc\n"
        ".size spawn_clone3_vm, .-spawn_clone3_vm\n");
#endif

/* One shared mapping, made once and reused (spawns are serialized: the parent
 * is suspended until the child execs or exits): a guard page, the child's
 * stack, then the report. MAP_SHARED so a fork-like child's report is seen
 * too.
 *
 * The child starts on tendd's fd table (CLONE_FILES: copying it would cost
 * one reference per open fd, and tendd holds one pidfd per service) and
 * unshares only the fds below keep. So every fd it places must be below
 * keep: four slots, opened on /dev/null at the first spawn (while fd numbers
 * are still low) and kept; before each spawn the caller's out, err and pass
 * fds are dup3()ed onto slots 1-3 and afterwards pointed back at /dev/null. */
#define SPAWN_STACK_SIZE (64 * 1024)
enum { SLOT_NULL, SLOT_OUT, SLOT_ERR, SLOT_PASS, _SLOT_MAX };

struct spawn_area {
        char *base;
        void *stack;
        struct spawn_child_args *args;
        int slots[_SLOT_MAX];
        int keep;      /* 1 + the highest slot */
        bool no_vm;    /* clone3 refused CLONE_VM: fork-like from now on */
        bool no_files; /* close_range cannot unshare: copy the fd table at clone */
};

static struct spawn_area spawn_area = { .slots = { -1, -1, -1, -1 } };

static int spawn_area_init(void)
{
        struct spawn_area *sa = &spawn_area;
        size_t page, size;
        char *base;

        if (sa->base)
                return 0;
        /* For tests and the benchmark: exercise the fork-like path on x86_64 too. */
        if (getenv("TEND_SPAWN_NO_VM"))
                sa->no_vm = true;
        page = (size_t)sysconf(_SC_PAGESIZE);
        size = page + SPAWN_STACK_SIZE + page;
        base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_STACK,
                    -1, 0);
        if (base == MAP_FAILED)
                return -errno;
        if (mprotect(base, page, PROT_NONE) < 0)
                goto fail;
        for (int i = 0; i < _SLOT_MAX; i++) {
                sa->slots[i] = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (sa->slots[i] < 0)
                        goto fail;
                if (sa->slots[i] >= sa->keep)
                        sa->keep = sa->slots[i] + 1;
        }
        sa->stack = base + page;
        sa->args = (struct spawn_child_args *)(base + page + SPAWN_STACK_SIZE);
        sa->base = base;
        return 0;
fail:;
        int e = -errno;
        for (int i = 0; i < _SLOT_MAX; i++)
                sa->slots[i] = safe_close(sa->slots[i]);
        sa->keep = 0;
        (void)munmap(base, size);
        return e;
}

/* The fd the child finds fd at: fd itself when below keep (0-2 always are),
 * else a copy in slot. -1 (none) means /dev/null. */
static int spawn_place(int fd, int slot, unsigned *used)
{
        if (fd < 0)
                return spawn_area.slots[SLOT_NULL];
        if (fd < spawn_area.keep)
                return fd;
        if (dup3(fd, spawn_area.slots[slot], O_CLOEXEC) < 0)
                return -errno;
        *used |= 1U << slot;
        return spawn_area.slots[slot];
}

/* clone3 and run the child; returns the pid, or -errno. */
static long spawn_clone(struct clone_args *args, struct spawn_child_args *ca)
{
        long pid;

#if defined(__x86_64__)
        if (!spawn_area.no_vm) {
                args->flags |= CLONE_VM;
                args->stack = (uint64_t)(uintptr_t)spawn_area.stack;
                args->stack_size = SPAWN_STACK_SIZE;
                pid = spawn_clone3_vm(args, sizeof *args, spawn_child_main, ca);
                if (pid != -EINVAL && pid != -ENOSYS)
                        return pid;
                spawn_area.no_vm = true;
                args->flags &= ~(uint64_t)CLONE_VM;
                args->stack = args->stack_size = 0;
        }
#endif
        pid = syscall(SYS_clone3, args, sizeof *args);
        if (pid == 0)
                spawn_child_exit(spawn_child_main(ca));
        return pid < 0 ? -errno : pid;
}

/* One clone3 and its outcome: 0 and the child's pid and pidfd, or -errno. */
static int spawn_once(const struct spawn_params *p, struct spawn_child_args *ca, pid_t *ret_pid,
                      int *ret_pidfd)
{
        _cleanup_close_ int pidfd = -1;
        struct clone_args args = { 0 };
        long pid;

        ca->err = 0;
        ca->step = 0;
        ca->keep = spawn_area.no_files ? 0 : spawn_area.keep;
        args.flags = CLONE_PIDFD | CLONE_VFORK | CLONE_CLEAR_SIGHAND;
        if (ca->keep > 0)
                args.flags |= CLONE_FILES;
        args.pidfd = (uint64_t)(uintptr_t)&pidfd;
        /* No SIGCHLD: the pidfd says when it exits, and waitid(P_ALL) without
         * __WALL, which reaps the orphans tendd adopts as a subreaper, never
         * sees (and never steals) a child tendd spawned. */
        args.exit_signal = 0;
        if (p->cgroup_fd >= 0) {
                args.flags |= CLONE_INTO_CGROUP;
                args.cgroup = (uint64_t)p->cgroup_fd;
        }

        /* No signal mask dance around clone3: no handler of ours can run in
         * the child (CLONE_CLEAR_SIGHAND resets them all at clone), and the
         * suspended parent runs none until the child execs or exits. */
        pid = spawn_clone(&args, ca);
        if (pid < 0) {
                ca->step = -1;
                return (int)pid;
        }

        /* CLONE_VFORK: the child has exec'd, or reported and exited, by now. */
        if (*(volatile int *)&ca->err != 0) {
                siginfo_t si;

                /* vfork wakes us before the child is a zombie: wait, it is exiting. */
                while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED | __WALL) < 0 &&
                       errno == EINTR)
                        ;
                return -ca->err;
        }
        *ret_pid = (pid_t)pid;
        *ret_pidfd = TAKE_FD(pidfd);
        return 0;
}

/* Clone and exec one child; see spawn.h. */
int spawn_child(const struct spawn_params *p, pid_t *ret_pid, int *ret_pidfd, const char **ret_step)
{
        struct spawn_child_args *ca;
        unsigned used = 0;
        int r;

        *ret_step = "clone3";
        r = spawn_area_init();
        if (r < 0)
                return r;
        ca = spawn_area.args;
        ca->p = p;
        ca->fd_in = spawn_area.slots[SLOT_NULL];
        ca->fd_out = spawn_place(p->stdout_fd, SLOT_OUT, &used);
        ca->fd_err = ca->fd_out;
        if (p->stderr_fd != p->stdout_fd)
                ca->fd_err = spawn_place(p->stderr_fd, SLOT_ERR, &used);
        ca->fd_pass = p->pass_fd_target >= 3 ? spawn_place(p->pass_fd, SLOT_PASS, &used) : -1;
        if (ca->fd_out < 0 || ca->fd_err < 0 || (p->pass_fd_target >= 3 && ca->fd_pass < 0)) {
                r = ca->fd_out < 0 ? ca->fd_out : ca->fd_err < 0 ? ca->fd_err : ca->fd_pass;
                *ret_step = "stdio";
                goto done;
        }

        r = spawn_once(p, ca, ret_pid, ret_pidfd);
        if (r == -EINVAL && ca->step == STEP_FILES) {
                /* A kernel without CLOSE_RANGE_UNSHARE (< 5.9): copy the table. */
                spawn_area.no_files = true;
                r = spawn_once(p, ca, ret_pid, ret_pidfd);
        }
        *ret_step = r == 0 ? NULL : ca->step >= 0 ? spawn_step_names[ca->step] : "clone3";
done:
        /* Let go of the caller's files: a rotated log must not stay open here.
         * Only the slots this spawn filled: the others still hold /dev/null. */
        for (int i = SLOT_OUT; i < _SLOT_MAX; i++)
                if (used & (1U << i))
                        (void)dup3(spawn_area.slots[SLOT_NULL], spawn_area.slots[i], O_CLOEXEC);
        return r;
}
