/* spawn.c: clone3(CLONE_PIDFD|CLONE_VFORK), child setup, exec. The parent
 * resolves everything that needs NSS or allocation (spawn_prepare); the child
 * only makes async-signal-safe system calls, then execs. A failing step in the
 * child is reported through a close-on-exec pipe as (errno, step) and the
 * child exits 127; CLONE_VFORK makes the parent wait until exec or exit, so
 * the result is known when spawn_child returns. */
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/sched.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "spawn.h"
#include "sys.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define SPAWN_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

enum spawn_step {
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
        [STEP_SIGNALS] = "signals",   [STEP_SETSID] = "setsid",
        [STEP_STDIO] = "stdio",       [STEP_RLIMIT] = "setrlimit",
        [STEP_SETGROUPS] = "setgroups", [STEP_SETGID] = "setgid",
        [STEP_SETUID] = "setuid",     [STEP_NO_NEW_PRIVS] = "no_new_privs",
        [STEP_CHDIR] = "chdir",       [STEP_EXEC] = "exec",
};

struct spawn_report {
        int err;
        int step;
};

static int env_set(char ***env, const char *key, const char *value)
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

        if (env_set(&env, "PATH", SPAWN_DEFAULT_PATH) < 0 || env_set(&env, "HOME", home) < 0 ||
            env_set(&env, "USER", user) < 0 || env_set(&env, "LOGNAME", user) < 0 ||
            env_set(&env, "SHELL", shell) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(env);
        return 0;
}

/* Replace or append "KEY=VALUE" in env. */
static int env_put(char ***env, const char *kv)
{
        size_t klen = strcspn(kv, "=");

        for (char **p = *env; p && *p; p++)
                if (strncmp(*p, kv, klen) == 0 && (*p)[klen] == '=') {
                        char *c = strdup(kv);
                        if (!c)
                                return -ENOMEM;
                        free(*p);
                        *p = c;
                        return 0;
                }
        return strv_extend(env, kv);
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

/* Build spawn parameters for sc in the parent. */
int spawn_prepare(const struct service_config *sc, struct spawn_params *ret, char **ret_reason)
{
        struct spawn_params p = { .stdout_fd = -1, .stderr_fd = -1, .cgroup_fd = -1 };
        struct passwd pw, *pwp = NULL;
        _cleanup_free_ char *buf = NULL;
        size_t bufsize = 16384;
        const char *user, *home, *shell;
        int r;

        buf = malloc(bufsize);
        if (!buf)
                return -ENOMEM;
        if (sc->user) {
                r = getpwnam_r(sc->user, &pw, buf, bufsize, &pwp);
                if (!pwp) {
                        (void)asprintf(ret_reason, "user %s: %s", sc->user,
                                       r ? strerror(r) : "no such user");
                        return r ? -r : -ESRCH;
                }
        } else {
                (void)getpwuid_r(geteuid(), &pw, buf, bufsize, &pwp);
        }
        user = pwp ? pwp->pw_name : "root";
        home = pwp && pwp->pw_dir ? pwp->pw_dir : "/";
        shell = pwp && pwp->pw_shell && *pwp->pw_shell ? pwp->pw_shell : "/bin/sh";

        if (sc->user) {
                int ng = 64;

                p.set_ids = true;
                p.uid = pwp->pw_uid;
                p.gid = pwp->pw_gid;
                if (sc->group) {
                        struct group gr, *grp = NULL;
                        char gbuf[16384];

                        r = getgrnam_r(sc->group, &gr, gbuf, sizeof gbuf, &grp);
                        if (!grp) {
                                (void)asprintf(ret_reason, "group %s: %s", sc->group,
                                               r ? strerror(r) : "no such group");
                                return r ? -r : -ESRCH;
                        }
                        p.gid = grp->gr_gid;
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
        } else if (sc->group) {
                struct group gr, *grp = NULL;
                char gbuf[16384];

                r = getgrnam_r(sc->group, &gr, gbuf, sizeof gbuf, &grp);
                if (!grp) {
                        (void)asprintf(ret_reason, "group %s: %s", sc->group,
                                       r ? strerror(r) : "no such group");
                        return r ? -r : -ESRCH;
                }
                p.set_ids = true;
                p.uid = geteuid();
                p.gid = grp->gr_gid;
        }

        r = spawn_base_environment(user, home, shell, &p.envp);
        if (r < 0)
                goto fail;
        for (char **e = sc->environment; e && *e; e++) {
                r = env_put(&p.envp, *e);
                if (r < 0)
                        goto fail;
        }
        p.argv = strv_copy(sc->argv);
        if (!p.argv) {
                r = -ENOMEM;
                goto fail;
        }
        p.path = spawn_find_program(sc->argv[0]);
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

static _Noreturn void spawn_child_fail(int errfd, int step)
{
        struct spawn_report rep = { .err = errno, .step = step };

        (void)!write(errfd, &rep, sizeof rep);
        _exit(127);
}

static int spawn_fd_onto(int src, int target)
{
        int flags;

        if (src == target) {
                flags = fcntl(target, F_GETFD);
                if (flags < 0 || fcntl(target, F_SETFD, flags & ~FD_CLOEXEC) < 0)
                        return -1;
        } else if (dup2(src, target) < 0) {
                return -1;
        }
        /* O_NONBLOCK lives on the open file description: a service expects blocking stdio. */
        flags = fcntl(target, F_GETFL);
        if (flags < 0)
                return -1;
        if ((flags & O_NONBLOCK) && fcntl(target, F_SETFL, flags & ~O_NONBLOCK) < 0)
                return -1;
        return 0;
}

/* Runs in the child, between clone3 and execve. */
static _Noreturn void spawn_child_exec(const struct spawn_params *p, int errfd, int nullfd)
{
        sigset_t none;
        int out = p->stdout_fd >= 0 ? p->stdout_fd : nullfd;
        int err = p->stderr_fd >= 0 ? p->stderr_fd : nullfd;

        /* CLONE_CLEAR_SIGHAND reset handled signals; ignored ones survive exec. */
        for (int sig = 1; sig < _NSIG; sig++) {
                struct sigaction sa;

                if (sig == SIGKILL || sig == SIGSTOP)
                        continue;
                if (syscall(SYS_rt_sigaction, sig, NULL, &sa, _NSIG / 8) == 0 &&
                    sa.sa_handler == SIG_IGN)
                        (void)signal(sig, SIG_DFL);
        }
        sigemptyset(&none);
        if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
                spawn_child_fail(errfd, STEP_SIGNALS);
        if (setsid() < 0)
                spawn_child_fail(errfd, STEP_SETSID);
        /* Move the sources out of 0-2 first so dup2 cannot clobber one with another. */
        if (out <= 2 && out != 1)
                out = fcntl(out, F_DUPFD_CLOEXEC, 3);
        if (err <= 2 && err != 2)
                err = fcntl(err, F_DUPFD_CLOEXEC, 3);
        if (out < 0 || err < 0 || spawn_fd_onto(nullfd, 0) < 0 || spawn_fd_onto(out, 1) < 0 ||
            spawn_fd_onto(err, 2) < 0)
                spawn_child_fail(errfd, STEP_STDIO);
        (void)close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
        if (p->umask_set)
                umask(p->umask);
        for (size_t i = 0; i < _LIMIT_MAX; i++)
                if (p->limits[i].set && setrlimit(p->limits[i].resource, &p->limits[i].value) < 0)
                        spawn_child_fail(errfd, STEP_RLIMIT);
        if (p->set_ids) {
                /* Order matters: setgroups and setgid need the privileges setuid drops. */
                if (geteuid() == 0 && setgroups(p->n_groups, p->groups) < 0)
                        spawn_child_fail(errfd, STEP_SETGROUPS);
                if (setresgid(p->gid, p->gid, p->gid) < 0)
                        spawn_child_fail(errfd, STEP_SETGID);
                if (setresuid(p->uid, p->uid, p->uid) < 0)
                        spawn_child_fail(errfd, STEP_SETUID);
        }
        if (p->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                spawn_child_fail(errfd, STEP_NO_NEW_PRIVS);
        if (chdir(p->workdir ? p->workdir : "/") < 0)
                spawn_child_fail(errfd, STEP_CHDIR);
        execve(p->path, p->argv, p->envp);
        spawn_child_fail(errfd, STEP_EXEC);
}

/* Clone and exec one child; see spawn.h. */
int spawn_child(const struct spawn_params *p, pid_t *ret_pid, int *ret_pidfd, const char **ret_step)
{
        _cleanup_close_ int nullfd = -1, pidfd = -1;
        int pipefd[2];
        struct clone_args args = { 0 };
        struct spawn_report rep;
        sigset_t all, saved;
        ssize_t n;
        long pid;

        *ret_step = "clone3";
        nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (nullfd < 0)
                return -errno;
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;

        args.flags = CLONE_PIDFD | CLONE_VFORK | CLONE_CLEAR_SIGHAND;
        args.pidfd = (uint64_t)(uintptr_t)&pidfd;
        args.exit_signal = SIGCHLD;
        if (p->cgroup_fd >= 0) {
                args.flags |= CLONE_INTO_CGROUP;
                args.cgroup = (uint64_t)p->cgroup_fd;
        }

        /* No handler of ours may run in the child before it resets dispositions. */
        sigfillset(&all);
        (void)sigprocmask(SIG_SETMASK, &all, &saved);
        pid = syscall(SYS_clone3, &args, sizeof args);
        if (pid == 0) {
                (void)close(pipefd[0]);
                spawn_child_exec(p, pipefd[1], nullfd);
        }
        (void)sigprocmask(SIG_SETMASK, &saved, NULL);
        (void)close(pipefd[1]);
        if (pid < 0) {
                int e = -errno;
                (void)close(pipefd[0]);
                return e;
        }

        /* The child has exec'd (pipe closed, EOF) or written a report and exited. */
        do
                n = read(pipefd[0], &rep, sizeof rep);
        while (n < 0 && errno == EINTR);
        (void)close(pipefd[0]);
        if (n == (ssize_t)sizeof rep) {
                siginfo_t si;

                /* vfork wakes us before the child is a zombie: wait, it is exiting. */
                while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0 && errno == EINTR)
                        ;
                *ret_step = spawn_step_names[rep.step];
                return rep.err > 0 ? -rep.err : -EIO;
        }

        *ret_pid = (pid_t)pid;
        *ret_pidfd = TAKE_FD(pidfd);
        *ret_step = NULL;
        return 0;
}
